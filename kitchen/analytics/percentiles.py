"""Duration figures read from the buckets the order service counts them in.

Whole UTC months and days come from `analytics_histograms`, the loose ends of a range from
`analytics_samples`. Counts and means are exact; a percentile is percentile_cont's (linear
interpolation between the two nearest values) over the durations each taken at its bucket's
representative (`kitchen/orders/summaries/buckets.py`): within 0.9 % or 50 ms of percentile_cont
over the exact durations, whichever is larger, and exact where a bucket holds one value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import BigInteger, ColumnElement, Select, Subquery, case, cast, func, select, union_all

from kitchen.analytics.periods import Period, Spans
from kitchen.orders.summaries.buckets import estimate
from kitchen.orders.summaries.tables import AnalyticsHistogram, AnalyticsSample

Group = Literal["key", "brand_id"]
PERCENTILES = (50, 90)


@dataclass(frozen=True, slots=True)
class Summary:
    """One group's figures of a measure: how many samples, their mean, median and 90th percentile."""

    key: str
    label: str
    n: int
    mean: float
    p50: float
    p90: float


def rounded(seconds: Any) -> float | None:
    """Seconds as the figures give them: to the millisecond (None stays None)."""
    return None if seconds is None else round(float(seconds), 3)


def histogram_summary(period: Period, measure: str, keys: Sequence[str] = (), group: Group = "key") -> Select[Any]:
    """Per `group` (the samples' key, or their brand) of `measure` over the orders of `period`:
    the buckets where its median and 90th percentile lie (`bucket_summary`).

    Reads whole months and whole days from `analytics_histograms` and the loose ends from
    `analytics_samples`.
    """
    h, s = AnalyticsHistogram, AnalyticsSample
    spans = Spans.of(period.start, period.end)
    parts: list[Any] = []

    def histogram(span: str, low: int, high: int) -> Any:
        conditions = [h.span == span, h.measure == measure, h.period >= low, h.period < high]
        if period.brand_ids:
            conditions.append(h.brand_id.in_(period.brand_ids))
        if keys:
            conditions.append(h.key.in_(keys))
        return select(
            getattr(h, group).label("key"), h.label, h.bucket, h.count.label("n"), h.total, h.low, h.high
        ).where(*conditions)

    if spans.months is not None:
        parts.append(histogram("month", *spans.months))
    parts.extend(histogram("day", low, high) for low, high in spans.days)
    for low, high in spans.loose:
        conditions = [s.measure == measure, s.created_at >= low, s.created_at < high]
        if period.brand_ids:
            conditions.append(s.brand_id.in_(period.brand_ids))
        if keys:
            conditions.append(s.key.in_(keys))
        parts.append(
            select(
                getattr(s, group).label("key"),
                func.max(s.label).label("label"),
                s.bucket,
                func.count().label("n"),
                func.sum(s.seconds).label("total"),
                func.min(s.seconds).label("low"),
                func.max(s.seconds).label("high"),
            )
            .where(*conditions)
            .group_by(getattr(s, group), s.bucket)
        )
    if not parts:
        parts.append(histogram("day", 0, 0))
    return bucket_summary(parts[0].subquery("buckets") if len(parts) == 1 else union_all(*parts).subquery("buckets"))


def bucket_summary(rows: Subquery) -> Select[Any]:
    """Per `key` of duration buckets (key, label, bucket, n, total, low, high): n, the mean, and
    for each percentile the buckets it lies between.

    With the N samples of a key in order, the p-th percentile lies at 0-based position
    h = (N - 1) * p, between the samples at floor(h) and floor(h) + 1, linearly interpolated
    (percentile_cont). The statement finds the buckets holding those two samples (`p50_0`,
    `p50_1`: each with its count, the smallest and largest duration it counted, and where in it
    the sample lies, `_rank`) and h's fraction, in integer arithmetic, so both databases agree
    exactly; `summaries` turns them into seconds. The mean is sum(total) / N, exact.
    """
    merged = (
        select(
            rows.c.key,
            rows.c.bucket,
            func.max(rows.c.label).label("label"),
            cast(func.sum(rows.c.n), BigInteger).label("n"),
            func.sum(rows.c.total).label("total"),
            func.min(rows.c.low).label("low"),
            func.max(rows.c.high).label("high"),
        )
        .group_by(rows.c.key, rows.c.bucket)
        .subquery("merged")
    )
    running = select(
        merged,
        cast(func.sum(merged.c.n).over(partition_by=merged.c.key, order_by=merged.c.bucket), BigInteger).label("upto"),
        cast(func.sum(merged.c.n).over(partition_by=merged.c.key), BigInteger).label("n_all"),
    ).subquery("running")
    r = running.c

    def at_rank(i: ColumnElement[int], column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.max(case(((r.upto - r.n <= i) & (i < r.upto), column)))

    columns: list[ColumnElement[Any]] = []
    for percent in PERCENTILES:
        position = (r.n_all - 1) * percent  # h * 100, an integer
        for neighbour in (0, 1):
            index = position // 100 + neighbour
            columns += [
                at_rank(index, r.bucket).label(f"p{percent}_{neighbour}"),
                at_rank(index, r.n).label(f"p{percent}_{neighbour}_n"),
                at_rank(index, index - (r.upto - r.n)).label(f"p{percent}_{neighbour}_rank"),
                at_rank(index, r.low).label(f"p{percent}_{neighbour}_low"),
                at_rank(index, r.high).label(f"p{percent}_{neighbour}_high"),
            ]
        columns.append(func.max(position % 100).label(f"p{percent}_fraction"))
    return select(
        r.key,
        func.max(r.label).label("label"),
        func.max(r.n_all).label("n"),
        (func.sum(r.total) / func.max(r.n_all)).label("mean"),
        *columns,
    ).group_by(r.key)


def _percentile(row: Any, percent: int) -> float:
    """The percentile from the buckets `bucket_summary` found (see `buckets.py` for its error)."""

    def sample(neighbour: int) -> float | None:
        name = f"p{percent}_{neighbour}"
        if getattr(row, name) is None:
            return None
        parts = ("", "_n", "_rank", "_low", "_high")
        return estimate(*(getattr(row, name + part) for part in parts))

    below, above = sample(0), sample(1)
    assert below is not None  # a key has at least one sample
    if above is None:
        return below
    return below + (above - below) * int(getattr(row, f"p{percent}_fraction")) / 100


def summaries(rows: Iterable[Any]) -> dict[str, Summary]:
    """The rows of `bucket_summary` as figures in seconds, by key."""
    return {
        row.key: Summary(row.key, row.label, int(row.n), float(row.mean), _percentile(row, 50), _percentile(row, 90))
        for row in rows
    }
