"""Response shapes of the analytics API (camelCase on the wire).

Times in seconds are floats rounded to the millisecond. A statistic of nothing (the mean of
no durations, the on-time rate of no orders) is null, while counts are 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

Seconds = Annotated[
    float | None, Meta(description="Seconds, to the millisecond; null when there is nothing to measure.")
]
CustomerBucketName = Literal["1", "2", "3-5", "6-10", "11+"]


class StatusDuration(Struct, rename="camel", kw_only=True):
    """How long orders or items stayed in one status, over the stays that have ended."""

    status: str
    count: int
    avg_seconds: Seconds
    p50_seconds: Seconds
    p90_seconds: Seconds


class StatusDurations(Struct, rename="camel", kw_only=True):
    orders: list[StatusDuration]
    items: list[StatusDuration]


class ThroughputHour(Struct, rename="camel", kw_only=True):
    """One clock hour of the kitchen's time zone; `hour` is its start, with the offset then in force."""

    hour: datetime
    received: int
    ready: int


class CustomerBucket(Struct, rename="camel", kw_only=True):
    bucket: CustomerBucketName
    customers: int


class TopCustomer(Struct, rename="camel", kw_only=True):
    account: str
    order_count: int
    first_order_at: datetime
    last_order_at: datetime


class Customers(Struct, rename="camel", kw_only=True):
    distribution: list[CustomerBucket]
    top: list[TopCustomer]


class OnTime(Struct, rename="camel", kw_only=True):
    """Orders that reached READY, how many by their pickup time, and how late the others were."""

    orders: int
    on_time: int
    rate: Annotated[float, Meta(ge=0, le=1, description="onTime / orders; null when orders is 0.")] | None
    late_p50_seconds: Seconds
    late_p90_seconds: Seconds


class SlowItem(Struct, rename="camel", kw_only=True):
    """A PLU and how long its items took from ORDERED to READY."""

    plu: str
    name: str
    count: int
    p50_seconds: float
    p90_seconds: float
