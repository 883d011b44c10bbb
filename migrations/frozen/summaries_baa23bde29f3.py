"""The analytics summaries' backfill as revision baa23bde29f3 (analytics summaries) made it.

Samples with whole-second buckets (`second` = floor(seconds)), histograms per UTC day and month,
quarter hours and customers, computed from the server-stamped history. Used by that revision's
upgrade and by the downgrade of the revision that replaced these buckets (d1a7c3e5b9f2).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.engine import Connection

DAY = 86400
QUARTER_HOUR = 900

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
_event_columns = (
    sa.column("id", sa.Integer),
    sa.column("order_id", sa.String),
    sa.column("status", sa.String),
    sa.column("at", _TIME),
    sa.column("ended_at", _TIME),
    sa.column("source", sa.String),
)
order_events = sa.table("order_status_events", *_event_columns)
item_events = sa.table(
    "item_status_events", *(sa.column(c.name, c.type) for c in _event_columns), sa.column("item_id", sa.Integer)
)
samples = sa.table(
    "analytics_samples",
    *(sa.column(name, sa.String) for name in ("measure", "key", "label", "brand_id")),
    sa.column("created_at", _TIME),
    sa.column("seconds", sa.Double),
    sa.column("second", sa.Integer),
)
histograms = sa.table(
    "analytics_histograms",
    *(sa.column(name, sa.String) for name in ("span", "measure", "brand_id", "key", "label")),
    *(sa.column(name, sa.Integer) for name in ("period", "second", "count")),
    sa.column("total", sa.Double),
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


def _seconds_between(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", end - start), sa.Double)
    whole = sa.cast(sa.func.strftime("%s", end), sa.Float) - sa.cast(sa.func.strftime("%s", start), sa.Float)
    return whole + (sa.cast(sa.func.substr(end, 20), sa.Float) - sa.cast(sa.func.substr(start, 20), sa.Float))


def _floor(dialect: str, value: Any) -> Any:
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(value), sa.Integer)
    truncated = sa.cast(value, sa.Integer)
    return sa.case((value < truncated, truncated - 1), else_=truncated)


def _epoch(dialect: str, moment: Any) -> Any:
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", moment)), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", moment), sa.Integer)


def _month(dialect: str, moment: Any) -> Any:
    if dialect == "postgresql":
        utc = sa.func.timezone("UTC", moment)
        return sa.cast((sa.extract("year", utc) - 1970) * 12 + sa.extract("month", utc) - 1, sa.Integer)
    year = sa.cast(sa.func.strftime("%Y", moment), sa.Integer)
    return (year - 1970) * 12 + sa.cast(sa.func.strftime("%m", moment), sa.Integer) - 1


def _statements(dialect: str, months: Sequence[tuple[datetime, datetime]]) -> list[Any]:
    ready = sa.literal_column("'READY'")
    channel = sa.literal_column("'channel'")
    o = orders.c
    sample_columns = ["measure", "key", "label", "brand_id", "created_at", "seconds", "second"]
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

    for low, high in months:
        window = [o.created_at >= low, o.created_at < high]
        for event, measure in ((order_events, "order_status"), (item_events, "item_status")):
            seconds = _seconds_between(dialect, event.c.at, event.c.ended_at)
            stays = (
                sa.select(
                    sa.literal(measure),
                    event.c.status,
                    sa.literal(""),
                    o.brand_id,
                    o.created_at,
                    seconds,
                    _floor(dialect, seconds),
                )
                .join_from(event, orders, o.id == event.c.order_id)
                .where(event.c.source != channel, event.c.ended_at.is_not(None), *window)
            )
            statements.append(sa.insert(samples).from_select(sample_columns, stays))
        items = first_ready(item_events, window)
        cooking = _seconds_between(dialect, o.created_at, items.c.ready_at)
        items_ready = (
            sa.select(
                sa.literal("item_ready"),
                order_items.c.plu,
                order_items.c.name,
                o.brand_id,
                o.created_at,
                cooking,
                _floor(dialect, cooking),
            )
            .join_from(items, order_items, order_items.c.id == items.c.owner)
            .join(orders, o.id == order_items.c.order_id)
        )
        ready_orders = first_ready(order_events, window)
        lateness = _seconds_between(dialect, o.pickup_time, ready_orders.c.ready_at)
        orders_ready = sa.select(
            sa.literal("order_ready"),
            sa.case((lateness > 0, "late"), else_="on_time"),
            sa.literal(""),
            o.brand_id,
            o.created_at,
            lateness,
            _floor(dialect, lateness),
        ).join_from(ready_orders, orders, o.id == ready_orders.c.owner)
        statements += [sa.insert(samples).from_select(sample_columns, q) for q in (items_ready, orders_ready)]

        s = samples.c
        for span, period in (
            ("day", _epoch(dialect, s.created_at) // sa.literal_column(str(DAY), sa.Integer)),
            ("month", _month(dialect, s.created_at)),
        ):
            statements.append(
                sa.insert(histograms).from_select(
                    ["span", "measure", "period", "brand_id", "key", "label", "second", "count", "total"],
                    sa.select(
                        sa.literal(span),
                        s.measure,
                        period,
                        s.brand_id,
                        s.key,
                        s.label,
                        s.second,
                        sa.func.count(),
                        sa.func.sum(s.seconds),
                    )
                    .where(s.created_at >= low, s.created_at < high)
                    .group_by(s.measure, period, s.brand_id, s.key, s.label, s.second),
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


def backfill(connection: Connection) -> None:
    """Compute the summary tables from the history on `connection`, in its transaction."""
    first, last = connection.execute(
        sa.select(sa.func.min(orders.c.created_at), sa.func.max(orders.c.created_at))
    ).one()
    for statement in _statements(connection.dialect.name, _months(first, last)):
        connection.execute(statement)
