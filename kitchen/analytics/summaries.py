"""Summary tables of the status history, kept current in the status change's own transaction.

Every figure of `queries.py` reads these instead of the history tables:
- `analytics_samples`: one narrow row per measured thing, with the brand and the createdAt of
  its order: every ended server-stamped stay of an order or item status (`order_status`,
  `item_status`, key = the status); every item's first server READY, seconds from the order's
  createdAt (key = PLU, label = item name), as `item_ready` when the item was completed on its
  own and as `item_bumped` when it became READY together with other items of its order (a bump);
  every order's first server READY, as `order_ready` (key = `on_time` or `late`, seconds from
  its pickupTime) and as `ticket` (key = `cooked` or `bumped` as above, seconds from createdAt);
- `analytics_histograms`: the same samples counted per UTC day and per UTC month of the
  order's createdAt, per duration bucket (`buckets.py`: 100 ms wide below 5 s, 0.9 % wide
  beyond), with the exact sum, the smallest and the largest of their seconds, so a long range
  reads whole months and days of buckets, not millions of stays;
- `analytics_quarter_hours`: orders received and orders first READY per brand and quarter of
  an hour (UTC), from which any zone's clock hours add up exactly;
- `analytics_customers`: per account and brand, how many orders and the first and last one.

`SummaryWriter` collects the rows of one change; they are written in the change's own transaction
(on PostgreSQL as part of its one statement), so a change that is rolled back leaves no summary
behind.
`backfill_statements` computes the same rows from the history with set-based SQL (migration
`analytics summaries`, bench/analytics_fill.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from advanced_alchemy.base import DefaultBase, IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Executable,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Select,
    SmallInteger,
    SQLColumnExpression,
    String,
    Table,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, aliased, mapped_column

from kitchen.analytics.buckets import (
    LINEAR_BUCKETS,
    LINEAR_LIMIT_MICROS,
    LINEAR_WIDTH_MICROS,
    LN_GROWTH,
    bucket_of_micros,
)
from kitchen.orders.models import (
    ID_LENGTH,
    EventSource,
    ItemStatusEvent,
    Order,
    OrderItem,
    OrderStatusEvent,
)
from kitchen.orders.read import EventRecord, ItemRecord, OrderRecord

DAY = 86400
# Counter rows (histogram buckets, quarter hours, customers) have this many shards each on
# PostgreSQL, so concurrent changes seldom wait for each other's row locks; readers sum them,
# and fold.py folds them back into shard 0 every few minutes.
SUMMARY_SHARDS = 16
QUARTER_HOUR = 900
MEASURE_LENGTH = 16
LABEL_LENGTH = 200

ORDER_STATUS = "order_status"
ITEM_STATUS = "item_status"
ITEM_READY = "item_ready"
ITEM_BUMPED = "item_bumped"
ORDER_READY = "order_ready"
TICKET = "ticket"
MEASURES = (ORDER_STATUS, ITEM_STATUS, ITEM_READY, ITEM_BUMPED, ORDER_READY, TICKET)
ON_TIME, LATE = "on_time", "late"
COOKED, BUMPED = "cooked", "bumped"
READY = "READY"


class AnalyticsSample(IdentityBase):
    """One measured duration, with what the figures filter and group it by."""

    __tablename__ = "analytics_samples"
    __table_args__ = (
        # The loose ends of a range, read from the index alone on PostgreSQL (INCLUDE).
        Index(
            "ix_analytics_samples_measure_created_at",
            "measure",
            "created_at",
            "brand_id",
            "key",
            "bucket",
            postgresql_include=["label", "seconds"],
        ),
    )

    measure: Mapped[str] = mapped_column(String(MEASURE_LENGTH))
    key: Mapped[str] = mapped_column(String(ID_LENGTH))
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), default="", server_default="")
    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))  # the order's
    seconds: Mapped[float] = mapped_column(Double)
    bucket: Mapped[int] = mapped_column(Integer)  # buckets.bucket_of_micros


class AnalyticsHistogram(DefaultBase):
    """How many samples of one measure, key and brand fell in one duration bucket, per day or month."""

    __tablename__ = "analytics_histograms"
    __table_args__ = (
        # The counts ride along in the primary key's index: PostgreSQL reads the buckets of a range
        # from the index alone (ten times faster than through the heap on a large history), and a
        # change adding to a bucket maintains this one index.
        PrimaryKeyConstraint(
            "span",
            "measure",
            "period",
            "brand_id",
            "key",
            "label",
            "bucket",
            "shard",
            name="pk_analytics_histograms",
            postgresql_include=["count", "total", "low", "high"],
        ),
    )

    span: Mapped[str] = mapped_column(String(5), primary_key=True)  # 'day' or 'month'
    measure: Mapped[str] = mapped_column(String(MEASURE_LENGTH), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)  # days or months since 1970-01 (UTC)
    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("0"))
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Double)  # exact sum of the samples' seconds
    low: Mapped[float] = mapped_column(Double)  # the smallest of them
    high: Mapped[float] = mapped_column(Double)  # the largest


class AnalyticsQuarterHour(DefaultBase):
    """Orders received and orders first READY in one quarter of an hour (UTC), per brand."""

    __tablename__ = "analytics_quarter_hours"

    quarter: Mapped[int] = mapped_column(Integer, primary_key=True)  # epoch seconds // 900
    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("0"))
    received: Mapped[int] = mapped_column(Integer)
    ready: Mapped[int] = mapped_column(Integer)


class AnalyticsCustomer(DefaultBase):
    """How many orders one account has placed with one brand, and when the first and the last."""

    __tablename__ = "analytics_customers"
    __table_args__ = (
        # The accounts whose last order is at or after a moment: the candidates of a period.
        Index("ix_analytics_customers_last_order_at", "last_order_at", "brand_id", "account"),
    )

    account: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("0"))
    orders: Mapped[int] = mapped_column(Integer)
    first_order_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_order_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


_customers: Table = AnalyticsCustomer.__table__  # type: ignore[assignment]  # a mapped class's __table__ is a Table
_samples: Table = AnalyticsSample.__table__  # type: ignore[assignment]  # a mapped class's __table__ is a Table
_histograms: Table = AnalyticsHistogram.__table__  # type: ignore[assignment]  # as above
_quarters: Table = AnalyticsQuarterHour.__table__  # type: ignore[assignment]  # as above


def day_number(moment: datetime) -> int:
    return math.floor(moment.timestamp()) // DAY


def month_number(moment: datetime) -> int:
    utc = moment.astimezone(UTC)
    return (utc.year - 1970) * 12 + utc.month - 1


def quarter_number(moment: datetime) -> int:
    return math.floor(moment.timestamp()) // QUARTER_HOUR


@dataclass(frozen=True, slots=True)
class Sample:
    measure: str
    key: str
    brand_id: str
    created_at: datetime
    elapsed: timedelta
    label: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "key": self.key,
            "label": self.label,
            "brand_id": self.brand_id,
            "created_at": self.created_at,
            "seconds": self.elapsed / timedelta(seconds=1),
            "bucket": bucket_of_micros(self.elapsed // timedelta(microseconds=1)),
        }


@dataclass(frozen=True, slots=True)
class CounterTable:
    """A summary table of counters: how two rows of one key (two shards, or a row and its
    increment) add up. Every writer and the shard fold (fold.py) merge by this one rule."""

    table: Table
    key: tuple[str, ...]  # without the shard
    sums: tuple[str, ...]
    earliest: tuple[str, ...] = ()
    latest: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def values(self) -> tuple[str, ...]:
        return (*self.sums, *self.earliest, *self.latest)

    def aggregates(self) -> str:
        """SQL: the values of many rows of one key as one row's (sum, min, max)."""
        parts = [f"sum({c})" for c in self.sums] + [f"min({c})" for c in self.earliest]
        return ", ".join(parts + [f"max({c})" for c in self.latest])

    def on_conflict(self) -> str:
        """SQL (PostgreSQL): where the row exists, add to it."""
        t = self.name
        updates = [f"{c} = {t}.{c} + excluded.{c}" for c in self.sums]
        updates += [f"{c} = LEAST({t}.{c}, excluded.{c})" for c in self.earliest]
        updates += [f"{c} = GREATEST({t}.{c}, excluded.{c})" for c in self.latest]
        return f"ON CONFLICT ({', '.join(self.key)}, shard) DO UPDATE SET {', '.join(updates)}"

    def upsert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> Executable:
        """INSERT the rows (shard 0); where one exists, add to it (the portable writer's way)."""
        postgres = conn.dialect.name == "postgresql"
        statement = (postgresql.insert if postgres else sqlite.insert)(self.table).values(rows)
        least, greatest = (func.least, func.greatest) if postgres else (func.min, func.max)  # SQLite's 2-argument forms
        updates: dict[str, Any] = {c: self.table.c[c] + statement.excluded[c] for c in self.sums}
        updates |= {c: least(self.table.c[c], statement.excluded[c]) for c in self.earliest}
        updates |= {c: greatest(self.table.c[c], statement.excluded[c]) for c in self.latest}
        return statement.on_conflict_do_update(index_elements=list(self.table.primary_key.columns), set_=updates)


HISTOGRAMS = CounterTable(
    _histograms,
    ("span", "measure", "period", "brand_id", "key", "label", "bucket"),
    ("count", "total"),
    ("low",),
    ("high",),
)
QUARTER_HOURS = CounterTable(_quarters, ("quarter", "brand_id"), ("received", "ready"))
CUSTOMERS = CounterTable(_customers, ("account", "brand_id"), ("orders",), ("first_order_at",), ("last_order_at",))


@dataclass(frozen=True, slots=True)
class SummaryRows:
    """The summary rows of one change, ready to insert (samples) or to add to (the rest)."""

    samples: list[dict[str, Any]]
    histograms: list[dict[str, Any]]
    quarters: list[dict[str, Any]]
    customers: list[dict[str, Any]]


class SummaryWriter:
    """Collects the summary rows of one change, to be written in its transaction."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.received: Counter[tuple[int, str]] = Counter()
        self.ready: Counter[tuple[int, str]] = Counter()
        self.customers: list[OrderRecord] = []

    def status_entered(
        self,
        order: OrderRecord,
        item: ItemRecord | None,
        ended: EventRecord | None,
        history: Sequence[EventRecord],
        now: datetime,
        readied: int,
    ) -> None:
        """The order (`item` None) or one of its items enters its new status at `now`.

        `ended` is the server-stamped stay this change ended, if any; `history` is the stream
        before the new event, which tells whether this is the first server READY; `readied` is
        how many of the order's items this change makes READY (two or more: a bump).
        """
        if ended is not None:
            measure = ORDER_STATUS if item is None else ITEM_STATUS
            self.samples.append(Sample(measure, ended.status, order.brand_id, order.created_at, now - ended.at))
        status = order.status if item is None else item.status
        if status != READY or any(e.status == READY and e.source != EventSource.CHANNEL for e in history):
            return
        bumped = readied >= 2
        cooking = now - order.created_at
        if item is not None:
            measure = ITEM_BUMPED if bumped else ITEM_READY
            self.samples.append(Sample(measure, item.plu, order.brand_id, order.created_at, cooking, item.name))
            return
        lateness = now - order.pickup_time
        verdict = LATE if lateness > timedelta(0) else ON_TIME
        self.samples.append(Sample(ORDER_READY, verdict, order.brand_id, order.created_at, lateness))
        self.samples.append(Sample(TICKET, BUMPED if bumped else COOKED, order.brand_id, order.created_at, cooking))
        self.ready[quarter_number(now), order.brand_id] += 1

    def order_received(self, order: OrderRecord) -> None:
        self.received[quarter_number(order.created_at), order.brand_id] += 1
        self.customers.append(order)

    def rows(self) -> SummaryRows:
        samples = [sample.row() for sample in self.samples]
        buckets: dict[tuple[Any, ...], list[float]] = {}
        for row in samples:
            seconds = row["seconds"]
            for span, period in (("day", day_number(row["created_at"])), ("month", month_number(row["created_at"]))):
                bucket = (span, row["measure"], period, row["brand_id"], row["key"], row["label"], row["bucket"])
                counted = buckets.setdefault(bucket, [0, 0.0, seconds, seconds])
                counted[0] += 1
                counted[1] += seconds
                counted[2], counted[3] = min(counted[2], seconds), max(counted[3], seconds)
        # In key order, so concurrent changes lock shared buckets in the same order (no deadlock).
        histograms = [
            {
                **dict(zip(HISTOGRAMS.key, bucket, strict=True)),
                "count": int(count),
                "total": total,
                "low": low,
                "high": high,
            }
            for bucket, (count, total, low, high) in sorted(buckets.items())
        ]
        quarters = [
            {"quarter": q, "brand_id": b, "received": self.received[q, b], "ready": self.ready[q, b]}
            for q, b in sorted(self.received.keys() | self.ready.keys())
        ]
        customers = [
            {
                "account": order.account,
                "brand_id": order.brand_id,
                "orders": 1,
                "first_order_at": order.created_at,
                "last_order_at": order.created_at,
            }
            for order in self.customers
        ]
        return SummaryRows(samples, histograms, quarters, customers)

    async def write(self, conn: AsyncConnection) -> None:
        """Write the rows statement by statement (the portable way; PostgreSQL folds them into
        the change's one statement, see `kitchen.orders.writes`)."""
        rows = self.rows()
        if rows.samples:
            await conn.execute(insert(_samples), rows.samples)
            await conn.execute(HISTOGRAMS.upsert(conn, rows.histograms))
        if rows.quarters:
            await conn.execute(QUARTER_HOURS.upsert(conn, rows.quarters))
        for customer in rows.customers:
            await conn.execute(CUSTOMERS.upsert(conn, [customer]))


# --- backfill from the history, set-based, on SQLite and PostgreSQL -------------------------------


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


def month_start(number: int) -> datetime:
    return datetime(1970 + number // 12, number % 12 + 1, 1, tzinfo=UTC)


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
    statements: list[Executable] = [delete(_samples), delete(_histograms), delete(_quarters), delete(_customers)]
    statements.append(
        insert(_customers).from_select(
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
            statements.append(insert(_samples).from_select(sample_columns, stays))
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
            insert(_samples).from_select(sample_columns, query) for query in (items_ready, orders_ready, tickets)
        ]

        s = _samples.c
        for span, period in (
            ("day", whole_epoch_seconds(dialect, s.created_at) // literal_column(str(DAY), Integer)),
            ("month", _month(dialect, s.created_at)),
        ):
            statements.append(
                insert(_histograms).from_select(
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
        insert(_quarters).from_select(
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
