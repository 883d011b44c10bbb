"""Summary tables of the status history, kept current in the status change's own transaction.

Every figure of `kitchen.analytics` reads these instead of the history tables:
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

Which rows a change adds is decided in `rows.py`; `kitchen.orders.stores` writes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.base import DefaultBase, IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Double,
    Executable,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped, mapped_column

from kitchen.orders.models import (
    ID_LENGTH,
)

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


CUSTOMERS_TABLE: Table = AnalyticsCustomer.__table__  # type: ignore[assignment]  # a mapped class's __table__ is a Table
SAMPLES: Table = AnalyticsSample.__table__  # type: ignore[assignment]  # a mapped class's __table__ is a Table
HISTOGRAMS_TABLE: Table = AnalyticsHistogram.__table__  # type: ignore[assignment]  # as above
QUARTERS_TABLE: Table = AnalyticsQuarterHour.__table__  # type: ignore[assignment]  # as above


def day_number(moment: datetime) -> int:
    return math.floor(moment.timestamp()) // DAY


def month_number(moment: datetime) -> int:
    utc = moment.astimezone(UTC)
    return (utc.year - 1970) * 12 + utc.month - 1


def month_start(number: int) -> datetime:
    return datetime(1970 + number // 12, number % 12 + 1, 1, tzinfo=UTC)


def quarter_number(moment: datetime) -> int:
    return math.floor(moment.timestamp()) // QUARTER_HOUR


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

    def upsert(self, rows: list[dict[str, Any]]) -> Executable:
        """SQLite: INSERT the rows; where one exists, add to it (the statement-by-statement writer's way)."""
        statement = sqlite.insert(self.table).values(rows)
        updates: dict[str, Any] = {c: self.table.c[c] + statement.excluded[c] for c in self.sums}
        # SQLite's two-argument min and max are LEAST and GREATEST.
        updates |= {c: func.min(self.table.c[c], statement.excluded[c]) for c in self.earliest}
        updates |= {c: func.max(self.table.c[c], statement.excluded[c]) for c in self.latest}
        return statement.on_conflict_do_update(index_elements=list(self.table.primary_key.columns), set_=updates)


HISTOGRAMS = CounterTable(
    HISTOGRAMS_TABLE,
    ("span", "measure", "period", "brand_id", "key", "label", "bucket"),
    ("count", "total"),
    ("low",),
    ("high",),
)
QUARTER_HOURS = CounterTable(QUARTERS_TABLE, ("quarter", "brand_id"), ("received", "ready"))
CUSTOMERS = CounterTable(CUSTOMERS_TABLE, ("account", "brand_id"), ("orders",), ("first_order_at",), ("last_order_at",))
