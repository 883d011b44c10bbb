"""The analytics summaries' backfill as revision d1a7c3e5b9f2 (history integrity) made it.

Samples in duration buckets of bounded error (100 ms wide below 5 s, 0.9 % wide beyond), items
and orders that were bumped apart from those completed on their own, ticket times; histograms
per UTC day and month with count, sum, smallest and largest; quarter hours and customers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

DAY = 86400
QUARTER_HOUR = 900
LINEAR_LIMIT_MICROS = 5_000_000
LINEAR_WIDTH_MICROS = 100_000
LINEAR_BUCKETS = LINEAR_LIMIT_MICROS // LINEAR_WIDTH_MICROS
LN_GROWTH = math.log((1 + 0.009) / (1 - 0.009))

_TIME = DateTimeUTC(timezone=True)
orders = sa.table(
    "orders",
    sa.column("id", sa.String),
    sa.column("account", sa.String),
    sa.column("brand_id", sa.String),
    sa.column("pickup_time", _TIME),
    sa.column("created_at", _TIME),
)
order_items = sa.table(
    "order_items",
    sa.column("id", sa.Integer),
    sa.column("order_id", sa.String),
    sa.column("plu", sa.String),
    sa.column("name", sa.String),
)


def _events(name: str, *extra: Any) -> Any:
    return sa.table(
        name,
        sa.column("id", sa.Integer),
        sa.column("order_id", sa.String),
        sa.column("status", sa.String),
        sa.column("at", _TIME),
        sa.column("ended_at", _TIME),
        sa.column("source", sa.String),
        *extra,
    )


order_events = _events("order_status_events")
item_events = _events("item_status_events", sa.column("item_id", sa.Integer))
samples = sa.table(
    "analytics_samples",
    *(sa.column(name, sa.String) for name in ("measure", "key", "label", "brand_id")),
    sa.column("created_at", _TIME),
    sa.column("seconds", sa.Double),
    sa.column("bucket", sa.Integer),
)
HISTOGRAM_COLUMNS = ["span", "measure", "period", "brand_id", "key", "label", "bucket", "count", "total", "low", "high"]
histograms = sa.table(
    "analytics_histograms",
    *(sa.column(name, sa.String) for name in ("span", "measure", "brand_id", "key", "label")),
    *(sa.column(name, sa.Integer) for name in ("period", "bucket", "count")),
    *(sa.column(name, sa.Double) for name in ("total", "low", "high")),
)
quarters = sa.table(
    "analytics_quarter_hours",
    sa.column("quarter", sa.Integer),
    sa.column("brand_id", sa.String),
    sa.column("received", sa.Integer),
    sa.column("ready", sa.Integer),
)
customers = sa.table(
    "analytics_customers",
    sa.column("account", sa.String),
    sa.column("brand_id", sa.String),
    sa.column("orders", sa.Integer),
    sa.column("first_order_at", _TIME),
    sa.column("last_order_at", _TIME),
)


def _month_number(moment: datetime) -> int:
    utc = moment.astimezone(UTC)
    return (utc.year - 1970) * 12 + utc.month - 1


def _month_start(number: int) -> datetime:
    return datetime(1970 + number // 12, number % 12 + 1, 1, tzinfo=UTC)


def _months(first: datetime | None, last: datetime | None) -> list[tuple[datetime, datetime]]:
    if first is None or last is None:
        return []
    return [(_month_start(n), _month_start(n + 1)) for n in range(_month_number(first), _month_number(last) + 1)]


def _epoch_text(moment: Any) -> Any:
    """SQLite: whole seconds since 1970 of a stored time, from its text cut at the second.

    (strftime('%s') of the whole text rounds the fraction to milliseconds first, so 15.9998 s
    would count as second 16.)
    """
    return sa.func.strftime("%s", sa.func.substr(moment, 1, 19))


def _seconds_between(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", end - start), sa.Double)
    whole = sa.cast(_epoch_text(end), sa.Float) - sa.cast(_epoch_text(start), sa.Float)
    return whole + (sa.cast(sa.func.substr(end, 20), sa.Float) - sa.cast(sa.func.substr(start, 20), sa.Float))


def _epoch(dialect: str, moment: Any) -> Any:
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", moment)), sa.BigInteger)
    return sa.cast(_epoch_text(moment), sa.Integer)


def _month(dialect: str, moment: Any) -> Any:
    if dialect == "postgresql":
        utc = sa.func.timezone("UTC", moment)
        return sa.cast((sa.extract("year", utc) - 1970) * 12 + sa.extract("month", utc) - 1, sa.Integer)
    year = sa.cast(sa.func.strftime("%Y", moment), sa.Integer)
    return (year - 1970) * 12 + sa.cast(sa.func.strftime("%m", moment), sa.Integer) - 1


def _bucket(value: Any) -> Any:
    micros = sa.cast(sa.func.round(value * sa.literal_column("1000000")), sa.BigInteger)
    magnitude = sa.func.abs(micros)
    logarithmic = sa.literal(LINEAR_BUCKETS, sa.Integer) + sa.cast(
        sa.func.floor(
            sa.func.ln(sa.cast(magnitude, sa.Double) / sa.literal(float(LINEAR_LIMIT_MICROS), sa.Double))
            / sa.literal(LN_GROWTH, sa.Double)
        ),
        sa.Integer,
    )
    index = sa.case(
        (
            magnitude < LINEAR_LIMIT_MICROS,
            sa.cast(magnitude // sa.literal(LINEAR_WIDTH_MICROS, sa.BigInteger), sa.Integer),
        ),
        else_=logarithmic,
    )
    return sa.case((micros >= 0, index), else_=-index - 1)


def _statements(dialect: str, months: Sequence[tuple[datetime, datetime]]) -> list[Any]:
    ready = sa.literal_column("'READY'")
    channel = sa.literal_column("'channel'")
    o = orders.c
    sample_columns = ["measure", "key", "label", "brand_id", "created_at", "seconds", "bucket"]
    statements: list[Any] = [sa.delete(t) for t in (samples, histograms, quarters, customers)]
    statements.append(
        sa.insert(customers).from_select(
            ["account", "brand_id", "orders", "first_order_at", "last_order_at"],
            sa.select(
                o.account, o.brand_id, sa.func.count(), sa.func.min(o.created_at), sa.func.max(o.created_at)
            ).group_by(o.account, o.brand_id),
        )
    )

    def first_ready(event: Any, window: Sequence[Any]) -> Any:
        owner = event.c.order_id if event is order_events else event.c.item_id
        return (
            sa.select(owner.label("owner"), sa.func.min(event.c.at).label("ready_at"))
            .join_from(event, orders, o.id == event.c.order_id)
            .where(event.c.status == ready, event.c.source != channel, *window)
            .group_by(owner)
            .subquery("first_ready")
        )

    def bumped(order_id: Any, at: Any) -> Any:
        readied = item_events.alias("readied")
        together = sa.select(sa.func.count()).where(
            readied.c.order_id == order_id, readied.c.status == ready, readied.c.source != channel, readied.c.at == at
        )
        return together.scalar_subquery() >= 2

    def sample(measure: Any, key: Any, label: Any, seconds: Any) -> Any:
        return sa.select(measure, key, label, o.brand_id, o.created_at, seconds, _bucket(seconds))

    for low, high in months:
        window = [o.created_at >= low, o.created_at < high]
        for event, measure in ((order_events, "order_status"), (item_events, "item_status")):
            stays = (
                sample(
                    sa.literal(measure),
                    event.c.status,
                    sa.literal(""),
                    _seconds_between(dialect, event.c.at, event.c.ended_at),
                )
                .join_from(event, orders, o.id == event.c.order_id)
                .where(event.c.source != channel, event.c.ended_at.is_not(None), *window)
            )
            statements.append(sa.insert(samples).from_select(sample_columns, stays))
        items = first_ready(item_events, window)
        items_ready = (
            sample(
                sa.case((bumped(order_items.c.order_id, items.c.ready_at), "item_bumped"), else_="item_ready"),
                order_items.c.plu,
                order_items.c.name,
                _seconds_between(dialect, o.created_at, items.c.ready_at),
            )
            .join_from(items, order_items, order_items.c.id == items.c.owner)
            .join(orders, o.id == order_items.c.order_id)
        )
        ready_orders = first_ready(order_events, window)
        lateness = _seconds_between(dialect, o.pickup_time, ready_orders.c.ready_at)
        orders_ready = sample(
            sa.literal("order_ready"), sa.case((lateness > 0, "late"), else_="on_time"), sa.literal(""), lateness
        ).join_from(ready_orders, orders, o.id == ready_orders.c.owner)
        tickets = sample(
            sa.literal("ticket"),
            sa.case((bumped(o.id, ready_orders.c.ready_at), "bumped"), else_="cooked"),
            sa.literal(""),
            _seconds_between(dialect, o.created_at, ready_orders.c.ready_at),
        ).join_from(ready_orders, orders, o.id == ready_orders.c.owner)
        statements += [sa.insert(samples).from_select(sample_columns, q) for q in (items_ready, orders_ready, tickets)]

        s = samples.c
        for span, period in (
            ("day", _epoch(dialect, s.created_at) // sa.literal_column(str(DAY), sa.Integer)),
            ("month", _month(dialect, s.created_at)),
        ):
            statements.append(
                sa.insert(histograms).from_select(
                    HISTOGRAM_COLUMNS,
                    sa.select(
                        sa.literal(span),
                        s.measure,
                        period,
                        s.brand_id,
                        s.key,
                        s.label,
                        s.bucket,
                        sa.func.count(),
                        sa.func.sum(s.seconds),
                        sa.func.min(s.seconds),
                        sa.func.max(s.seconds),
                    )
                    .where(s.created_at >= low, s.created_at < high)
                    .group_by(s.measure, period, s.brand_id, s.key, s.label, s.bucket),
                )
            )

    def quarter(moment: Any) -> Any:
        return _epoch(dialect, moment) // sa.literal_column(str(QUARTER_HOUR), sa.Integer)

    received = sa.select(
        quarter(o.created_at).label("quarter"),
        o.brand_id.label("brand_id"),
        sa.literal(1).label("received"),
        sa.literal(0).label("ready"),
    )
    ready_orders = first_ready(order_events, [])
    readied = sa.select(
        quarter(ready_orders.c.ready_at).label("quarter"),
        o.brand_id.label("brand_id"),
        sa.literal(0).label("received"),
        sa.literal(1).label("ready"),
    ).join_from(ready_orders, orders, o.id == ready_orders.c.owner)
    both = sa.union_all(received, readied).subquery("counted")
    statements.append(
        sa.insert(quarters).from_select(
            ["quarter", "brand_id", "received", "ready"],
            sa.select(
                both.c.quarter, both.c.brand_id, sa.func.sum(both.c.received), sa.func.sum(both.c.ready)
            ).group_by(both.c.quarter, both.c.brand_id),
        )
    )
    return statements


def _ensure_sqlite_math(connection: Connection) -> None:
    """Give SQLite `ln` and `floor` where it was built without its math functions."""
    if connection.dialect.name != "sqlite":
        return
    try:
        connection.exec_driver_sql("SELECT ln(1), floor(1.5)")
    except DBAPIError:
        driver = connection.connection.dbapi_connection
        assert driver is not None
        driver.create_function("ln", 1, math.log, deterministic=True)
        driver.create_function("floor", 1, math.floor, deterministic=True)


def backfill(connection: Connection) -> None:
    """Compute the summary tables from the history on `connection`, in its transaction."""
    _ensure_sqlite_math(connection)
    first, last = connection.execute(
        sa.select(sa.func.min(orders.c.created_at), sa.func.max(orders.c.created_at))
    ).one()
    for statement in _statements(connection.dialect.name, _months(first, last)):
        connection.execute(statement)
