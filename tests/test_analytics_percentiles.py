"""The percentile arithmetic of the analytics queries, and the kitchen's clock hours, without HTTP.

Percentiles are percentile_cont's (linear interpolation) over durations taken at their whole
second: `bucket_summary` over 1-second buckets is checked against a plain-Python
percentile_cont of the floored values on both databases, and on PostgreSQL also against
PostgreSQL's own percentile_cont of them.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.analytics.queries import Spans, bucket_summary, local_hour_start, local_hours

pytestmark = pytest.mark.anyio

HELSINKI = ZoneInfo("Europe/Helsinki")

_metadata = MetaData()
buckets = Table(
    "percentile_buckets",
    _metadata,
    Column("key", String(10)),
    Column("label", String(10)),
    Column("second", Integer),
    Column("n", Integer),
    Column("total", Float),
    prefixes=["TEMPORARY"],
)


def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def sample_groups(seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    return {
        "one": [rng.uniform(0, 600)],
        "two": [rng.uniform(0, 600) for _ in range(2)],
        "ties": [float(rng.choice((60, 120, 180))) for _ in range(17)],
        "long-tail": [rng.lognormvariate(5, 1) for _ in range(1001)],
        "whole": [float(rng.randint(0, 3600)) for _ in range(99)],
        "negative": [rng.uniform(-900, 300) for _ in range(50)],
    }


async def summarized(engine: AsyncEngine, groups: dict[str, list[float]]) -> dict[str, tuple[float, ...]]:
    """bucket_summary over the groups' values, bucketed by whole second as the summaries are."""
    rows = []
    for key, values in groups.items():
        counts = Counter(math.floor(v) for v in values)
        totals: defaultdict[int, float] = defaultdict(float)
        for v in values:
            totals[math.floor(v)] += v
        rows += [{"key": key, "label": "", "second": s, "n": n, "total": totals[s]} for s, n in counts.items()]
    async with engine.connect() as conn:
        await conn.run_sync(_metadata.create_all)
        try:
            await conn.execute(buckets.insert(), rows)
            found = await conn.execute(bucket_summary(select(buckets).subquery()))
            return {row.key: (int(row.n), float(row.mean), float(row.p50), float(row.p90)) for row in found}
        finally:
            await conn.rollback()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_bucket_percentiles_are_percentile_cont_of_whole_seconds(engine: AsyncEngine, seed: int) -> None:
    groups = sample_groups(seed)

    found = await summarized(engine, groups)

    for name, values in groups.items():
        whole = [float(math.floor(v)) for v in values]
        expected = (len(values), sum(values) / len(values), percentile_cont(whole, 0.5), percentile_cont(whole, 0.9))
        assert found[name] == pytest.approx(expected, rel=1e-9), name


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_bucket_percentiles_equal_postgresql_percentile_cont(
    engine: AsyncEngine, server_url: str | None, seed: int
) -> None:
    if server_url is None:
        pytest.skip("PostgreSQL's percentile_cont is compared on the PostgreSQL leg")
    groups = sample_groups(seed)

    found = await summarized(engine, groups)

    async with engine.connect() as conn:
        for name, values in groups.items():
            native = (
                await conn.execute(
                    text(
                        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY floor(v)),"
                        " percentile_cont(0.9) WITHIN GROUP (ORDER BY floor(v))"
                        " FROM unnest(CAST(:values AS double precision[])) AS v"
                    ),
                    {"values": values},
                )
            ).one()
            assert found[name][2:] == pytest.approx((native[0], native[1]), rel=1e-12), name


def test_a_range_is_cut_into_whole_months_whole_days_and_loose_ends() -> None:
    spans = Spans.of(datetime(2026, 1, 30, 12, 0, tzinfo=UTC), datetime(2026, 4, 2, 6, 0, tzinfo=UTC))

    day = 86400
    assert spans.months == ((2026 - 1970) * 12 + 1, (2026 - 1970) * 12 + 3)  # February and March
    assert spans.days == (
        (
            int(datetime(2026, 1, 31, tzinfo=UTC).timestamp()) // day,
            int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()) // day,
        ),
        (
            int(datetime(2026, 4, 1, tzinfo=UTC).timestamp()) // day,
            int(datetime(2026, 4, 2, tzinfo=UTC).timestamp()) // day,
        ),
    )
    assert spans.loose == (
        (datetime(2026, 1, 30, 12, 0, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC)),
        (datetime(2026, 4, 2, tzinfo=UTC), datetime(2026, 4, 2, 6, 0, tzinfo=UTC)),
    )


def test_a_range_within_one_day_is_all_loose() -> None:
    start, end = datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    assert Spans.of(start, end) == Spans(None, (), ((start, end),))


def test_clock_hours_across_spring_forward_skip_the_missing_hour() -> None:
    hours = local_hours(datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, 0, tzinfo=UTC), HELSINKI)

    assert [h.astimezone(HELSINKI).isoformat() for h in hours] == [
        "2026-03-29T02:00:00+02:00",
        "2026-03-29T04:00:00+03:00",
    ]


def test_clock_hours_across_fall_back_repeat_the_doubled_hour() -> None:
    hours = local_hours(datetime(2026, 10, 25, 0, 0, tzinfo=UTC), datetime(2026, 10, 25, 2, 0, tzinfo=UTC), HELSINKI)

    assert [h.astimezone(HELSINKI).isoformat() for h in hours] == [
        "2026-10-25T03:00:00+03:00",
        "2026-10-25T03:00:00+02:00",
    ]


def test_clock_hours_follow_a_half_hour_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: clock hours start at half past the UTC hour

    start = local_hour_start(datetime(2026, 3, 2, 10, 10, tzinfo=UTC), kolkata)

    assert start.astimezone(kolkata).isoformat() == "2026-03-02T15:00:00+05:30"
