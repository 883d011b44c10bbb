"""The summary tables computed again from the server-stamped history, set-based, on both databases."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Executable,
    Float,
    Integer,
    Select,
    SQLColumnExpression,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from kitchen.orders.models import (
    ItemStatusEvent,
    Order,
    OrderItem,
    OrderStatusEvent,
)
from kitchen.orders.summaries.buckets import (
    LINEAR_BUCKETS,
    LINEAR_LIMIT_MICROS,
    LINEAR_WIDTH_MICROS,
    LN_GROWTH,
)
from kitchen.orders.summaries.tables import (
    BUMPED,
    COOKED,
    CUSTOMERS_TABLE,
    DAY,
    HISTOGRAMS,
    HISTOGRAMS_TABLE,
    ITEM_BUMPED,
    ITEM_READY,
    ITEM_STATUS,
    LATE,
    ON_TIME,
    ORDER_READY,
    ORDER_STATUS,
    QUARTER_HOUR,
    QUARTERS_TABLE,
    SAMPLES,
    TICKET,
    month_number,
    month_start,
)


def _epoch_text(moment: Any) -> Any:
    """SQLite: whole seconds since 1970 of a stored time, from its text cut at the second.

    (strftime('%s') of the whole text rounds the fraction to milliseconds first, so 15.9998 s
    would count as second 16.)
    """
    return func.strftime("%s", func.substr(moment, 1, 19))


def seconds_between(
    dialect: str, start: SQLColumnExpression[Any], end: SQLColumnExpression[Any]
) -> ColumnElement[float]:
    """`end - start` in seconds, to the microsecond.

    SQLite stores DateTimeUTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text: whole seconds come from
    strftime, the fraction from the text itself (julianday would round to milliseconds).
    """
    if dialect == "postgresql":
        return cast(extract("epoch", end - start), Double)
    whole = cast(_epoch_text(end), Float) - cast(_epoch_text(start), Float)
    return whole + (cast(func.substr(end, 20), Float) - cast(func.substr(start, 20), Float))


def bucket_of(value: ColumnElement[float]) -> ColumnElement[int]:
    """SQL: `buckets.bucket_of_micros` of a duration in seconds, the bucket Python gives it too
    (from whole microseconds, with the same floating-point logarithm)."""
    micros = cast(func.round(value * literal_column("1000000")), BigInteger)
    magnitude = func.abs(micros)
    logarithmic = literal(LINEAR_BUCKETS, Integer) + cast(
        func.floor(
            func.ln(cast(magnitude, Double) / literal(float(LINEAR_LIMIT_MICROS), Double)) / literal(LN_GROWTH, Double)
        ),
        Integer,
    )
    index = case(
        (magnitude < LINEAR_LIMIT_MICROS, cast(magnitude // literal(LINEAR_WIDTH_MICROS, BigInteger), Integer)),
        else_=logarithmic,
    )
    return case((micros >= 0, index), else_=-index - 1)


def whole_epoch_seconds(dialect: str, moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """Whole seconds since 1970 of a DateTimeUTC column."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", moment)), BigInteger)
    return cast(_epoch_text(moment), Integer)


def _month(dialect: str, moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
    if dialect == "postgresql":
        utc = func.timezone("UTC", moment)
        return cast((extract("year", utc) - 1970) * 12 + extract("month", utc) - 1, Integer)
    year = cast(func.strftime("%Y", moment), Integer)
    return (year - 1970) * 12 + cast(func.strftime("%m", moment), Integer) - 1


def backfill_months(first: datetime | None, last: datetime | None) -> list[tuple[datetime, datetime]]:
    """The UTC calendar months from the one of `first` to the one of `last`, as [start, end)."""
    if first is None or last is None:
        return []
    months = []
    number = month_number(first)
    while number <= month_number(last):
        months.append((month_start(number), month_start(number + 1)))
        number += 1
    return months


def backfill_statements(dialect: str, months: Sequence[tuple[datetime, datetime]]) -> list[Executable]:
    """Empty the summary tables and compute them again from the server-stamped history.

    Samples and histograms are computed one month of orders (`backfill_months`) at a time, so
    no statement runs for long on a large history; the quarter hours in one statement.
    An item or an order counts as bumped when its first READY came with the READY of another
    item of the order at the same instant: one change readied both (every change of an order
    has a stamp of its own).
    """
    ready: ColumnElement[str] = literal_column("'READY'")
    channel: ColumnElement[str] = literal_column("'channel'")
    sample_columns = ["measure", "key", "label", "brand_id", "created_at", "seconds", "bucket"]
    statements: list[Executable] = [
        delete(SAMPLES),
        delete(HISTOGRAMS_TABLE),
        delete(QUARTERS_TABLE),
        delete(CUSTOMERS_TABLE),
    ]
    statements.append(
        insert(CUSTOMERS_TABLE).from_select(
            ["account", "brand_id", "orders", "first_order_at", "last_order_at"],
            select(
                Order.account, Order.brand_id, func.count(), func.min(Order.created_at), func.max(Order.created_at)
            ).group_by(Order.account, Order.brand_id),
        )
    )

    def first_ready(event: type[OrderStatusEvent | ItemStatusEvent], window: Sequence[Any]) -> Any:
        owner = event.order_id if event is OrderStatusEvent else ItemStatusEvent.item_id
        return (
            select(owner.label("owner"), func.min(event.at).label("ready_at"))
            .join_from(event, Order, Order.id == event.order_id)
            .where(event.status == ready, event.source != channel, *window)
            .group_by(owner)
            .subquery("first_ready")
        )

    def bumped(order_id: SQLColumnExpression[str], at: SQLColumnExpression[datetime]) -> ColumnElement[bool]:
        readied = aliased(ItemStatusEvent)
        together = select(func.count()).where(
            readied.order_id == order_id, readied.status == ready, readied.source != channel, readied.at == at
        )
        return together.scalar_subquery() >= 2

    def sample(measure: Any, key: Any, label: Any, seconds: ColumnElement[float]) -> Select[Any]:
        return select(measure, key, label, Order.brand_id, Order.created_at, seconds, bucket_of(seconds))

    for low, high in months:
        window = [Order.created_at >= low, Order.created_at < high]
        for event, measure in ((OrderStatusEvent, ORDER_STATUS), (ItemStatusEvent, ITEM_STATUS)):
            stays = (
                sample(literal(measure), event.status, literal(""), seconds_between(dialect, event.at, event.ended_at))
                .join_from(event, Order, Order.id == event.order_id)
                .where(event.source != channel, event.ended_at.is_not(None), *window)
            )
            statements.append(insert(SAMPLES).from_select(sample_columns, stays))
        items = first_ready(ItemStatusEvent, window)
        items_ready = (
            sample(
                case((bumped(OrderItem.order_id, items.c.ready_at), ITEM_BUMPED), else_=ITEM_READY),
                OrderItem.plu,
                OrderItem.name,
                seconds_between(dialect, Order.created_at, items.c.ready_at),
            )
            .join_from(items, OrderItem, OrderItem.id == items.c.owner)
            .join(Order, Order.id == OrderItem.order_id)
        )
        orders = first_ready(OrderStatusEvent, window)
        lateness = seconds_between(dialect, Order.pickup_time, orders.c.ready_at)
        orders_ready = sample(
            literal(ORDER_READY), case((lateness > 0, LATE), else_=ON_TIME), literal(""), lateness
        ).join_from(orders, Order, Order.id == orders.c.owner)
        tickets = sample(
            literal(TICKET),
            case((bumped(Order.id, orders.c.ready_at), BUMPED), else_=COOKED),
            literal(""),
            seconds_between(dialect, Order.created_at, orders.c.ready_at),
        ).join_from(orders, Order, Order.id == orders.c.owner)
        statements += [
            insert(SAMPLES).from_select(sample_columns, query) for query in (items_ready, orders_ready, tickets)
        ]

        s = SAMPLES.c
        for span, period in (
            ("day", whole_epoch_seconds(dialect, s.created_at) // literal_column(str(DAY), Integer)),
            ("month", _month(dialect, s.created_at)),
        ):
            statements.append(
                insert(HISTOGRAMS_TABLE).from_select(
                    [*HISTOGRAMS.key, *HISTOGRAMS.values],
                    select(
                        literal(span),
                        s.measure,
                        period,
                        s.brand_id,
                        s.key,
                        s.label,
                        s.bucket,
                        func.count(),
                        func.sum(s.seconds),
                        func.min(s.seconds),
                        func.max(s.seconds),
                    )
                    .where(s.created_at >= low, s.created_at < high)
                    .group_by(s.measure, period, s.brand_id, s.key, s.label, s.bucket),
                )
            )

    def quarter(moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
        return whole_epoch_seconds(dialect, moment) // literal_column(str(QUARTER_HOUR), Integer)

    received = select(
        quarter(Order.created_at).label("quarter"),
        Order.brand_id.label("brand_id"),
        literal(1).label("received"),
        literal(0).label("ready"),
    )
    orders = first_ready(OrderStatusEvent, [])
    readied = select(
        quarter(orders.c.ready_at).label("quarter"),
        Order.brand_id.label("brand_id"),
        literal(0).label("received"),
        literal(1).label("ready"),
    ).join_from(orders, Order, Order.id == orders.c.owner)
    both = union_all(received, readied).subquery("counted")
    statements.append(
        insert(QUARTERS_TABLE).from_select(
            ["quarter", "brand_id", "received", "ready"],
            select(both.c.quarter, both.c.brand_id, func.sum(both.c.received), func.sum(both.c.ready)).group_by(
                both.c.quarter, both.c.brand_id
            ),
        )
    )
    return statements


def backfill(connection: Connection) -> None:
    """Compute the summary tables from the history on `connection`, in its transaction."""
    ensure_sqlite_math(connection)
    first, last = connection.execute(select(func.min(Order.created_at), func.max(Order.created_at))).one()
    for statement in backfill_statements(connection.dialect.name, backfill_months(first, last)):
        connection.execute(statement)


def ensure_sqlite_math(connection: Connection) -> None:
    """Give SQLite `ln` and `floor` where it was built without its math functions (the backfill's buckets)."""
    if connection.dialect.name != "sqlite":
        return
    try:
        connection.exec_driver_sql("SELECT ln(1), floor(1.5)")
    except DBAPIError:
        driver = connection.connection.dbapi_connection
        assert driver is not None
        driver.create_function("ln", 1, math.log, deterministic=True)
        driver.create_function("floor", 1, math.floor, deterministic=True)
