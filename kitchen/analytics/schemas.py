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
    name: Annotated[str, Meta(description="The customer name on the account's latest order.")]
    order_count: int
    first_order_at: datetime
    last_order_at: datetime


class Customers(Struct, rename="camel", kw_only=True):
    distribution: list[CustomerBucket]
    top: list[TopCustomer]


class OnTime(Struct, rename="camel", kw_only=True):
    """Orders that are due (reached READY, or still open after their pickup time), how many were
    ready by their pickup time, and how late the others were."""

    orders: Annotated[int, Meta(description="Orders that reached READY (their first READY counts).")]
    on_time: Annotated[int, Meta(description="Of those, ready at or before their pickupTime.")]
    open_late: Annotated[int, Meta(description="Orders not READY (nor cancelled) whose pickupTime has passed.")]
    due: Annotated[int, Meta(description="orders + openLate: every order that should be ready by now.")]
    rate: Annotated[float, Meta(ge=0, le=1, description="onTime / due; null when due is 0.")] | None
    late_p50_seconds: Seconds
    late_p90_seconds: Seconds
    abandoned: Annotated[
        int,
        Meta(
            description="Orders still open or READY more than KITCHEN_STALE_HOURS after their pickupTime:"
            " they left the boards. The open ones count in openLate too."
        ),
    ] = 0


class SlowItem(Struct, rename="camel", kw_only=True):
    """A PLU and how long its items took from ORDERED to READY, when completed on their own."""

    plu: str
    name: str
    count: Annotated[int, Meta(description="Items of this PLU completed on their own: the ones timed.")]
    bumped: Annotated[
        int, Meta(description="Items of this PLU made READY with other items of their order (a bump): not timed.")
    ]
    p50_seconds: Seconds
    p90_seconds: Seconds
    station: Annotated[str, Meta(description="Where the menu routes this PLU now; `unassigned` if no menu does.")]
    target_seconds: Annotated[
        int | None, Meta(description="The menu's prepSeconds for this PLU (the longest, should brands differ).")
    ]


class TicketTime(Struct, rename="camel", kw_only=True):
    """Orders from createdAt to their first READY."""

    count: int
    avg_seconds: Seconds
    p50_seconds: Seconds
    p90_seconds: Seconds


class TicketTimes(Struct, rename="camel", kw_only=True):
    """Ticket times apart: orders whose items were completed one by one, and bumped orders."""

    cooked: Annotated[TicketTime, Meta(description="The last item was completed on its own.")]
    bumped: Annotated[TicketTime, Meta(description="Two or more items were made READY at once (a bump).")]


class BrandFigures(Struct, rename="camel", kw_only=True):
    """One brand's figures over a range, for comparing brands side by side."""

    brand_id: str
    name: Annotated[str | None, Meta(description="From the brand catalog; null for a brand not in it.")]
    orders: Annotated[int, Meta(description="Orders received in the range.")]
    due: int
    on_time: int
    open_late: int
    on_time_rate: Annotated[float, Meta(ge=0, le=1)] | None
    ticket_p50_seconds: Seconds


Rate = Annotated[float, Meta(ge=0, le=1, description="A share from 0 to 1; null when there is nothing to count.")]


class StationFigures(Struct, rename="camel", kw_only=True):
    """One station's lines over a range: their stays, and how they kept to start-by and prep targets."""

    station: str
    lines: Annotated[int, Meta(description="Lines of the range's orders the menus route to this station.")]
    statuses: Annotated[list[StatusDuration], Meta(description="Time in each item status, stays that have ended.")]
    started: Annotated[int, Meta(description="Lines started: a first PREPARING.")]
    started_by_start_by: Annotated[int, Meta(description="Of those, started at or before their start-by.")]
    started_by_start_by_rate: Rate | None
    start_late_p50_seconds: Annotated[
        float | None, Meta(description="Median of start minus start-by, seconds; negative is early.")
    ]
    timed: Annotated[int, Meta(description="Lines with a prep target, started and READY.")]
    within_target: Annotated[int, Meta(description="Of those, first PREPARING to first READY within prepSeconds.")]
    within_target_rate: Rate | None
    due: Annotated[int, Meta(description="Lines READY, or open with their ready-by (pickup less packing) passed.")]
    on_time: Annotated[int, Meta(description="Of the due lines, READY by their ready-by.")]
    open_late: int
    on_time_rate: Rate | None
