"""The summary rows of one change: which samples it measures and which counters it adds to.

Pure: `SummaryWriter` (fed by the planner, `kitchen.orders.changes`) and `rebuild` (the
backfill) state the rule once; the stores write the rows it gives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kitchen.orders.models import (
    EventSource,
)
from kitchen.orders.records import EventRecord, ItemRecord, OrderRecord
from kitchen.orders.summaries.buckets import (
    bucket_of_micros,
)
from kitchen.orders.summaries.tables import (
    BUMPED,
    COOKED,
    HISTOGRAMS,
    ITEM_BUMPED,
    ITEM_READY,
    ITEM_STATUS,
    LATE,
    ON_TIME,
    ORDER_READY,
    ORDER_STATUS,
    READY,
    TICKET,
    day_number,
    month_number,
    quarter_number,
)


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
