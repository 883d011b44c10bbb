"""The percentile arithmetic of the analytics queries, and the kitchen's clock hours, without HTTP.

Durations are counted in buckets of bounded error (`kitchen/analytics/buckets.py`); the
percentiles read back from them (`bucket_summary`) are checked against percentile_cont over the
exact durations, in plain Python on both databases and with PostgreSQL's own percentile_cont on
the PostgreSQL leg: within 0.9 % or 50 ms, whichever is larger, for sub-second, second, minute
and hour durations.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.analytics.hours import local_hour_start, local_hours
from kitchen.analytics.percentiles import bucket_summary, summaries
from kitchen.analytics.periods import Spans
from kitchen.orders.summaries.buckets import RELATIVE_ERROR, bucket_of_seconds, representative

pytestmark = pytest.mark.anyio

HELSINKI = ZoneInfo("Europe/Helsinki")
ABSOLUTE_ERROR = 0.05

_metadata = MetaData()
buckets = Table(
    "percentile_buckets",
    _metadata,
    Column("key", String(20)),
    Column("label", String(10)),
    Column("bucket", Integer),
    Column("n", Integer),
    Column("total", Float),
    Column("low", Float),
    Column("high", Float),
    prefixes=["TEMPORARY"],
)


def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def close_enough(found: float, exact: float) -> bool:
    return abs(found - exact) <= max(RELATIVE_ERROR * abs(exact), ABSOLUTE_ERROR) + 1e-9


def micro(value: float) -> float:
    """A duration as the history stores it: whole microseconds."""
    return round(value * 1_000_000) / 1_000_000


def sample_groups(seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    groups = {
        "one": [rng.uniform(0, 600)],
        "two": [rng.uniform(0, 600) for _ in range(2)],
        "ties": [float(rng.choice((60, 120, 180))) for _ in range(17)],
        "sub-second": [rng.uniform(0, 1) for _ in range(300)],
        "seconds": [rng.uniform(1, 60) for _ in range(300)],
        "minutes": [rng.uniform(60, 3600) for _ in range(300)],
        "hours": [rng.uniform(3600, 6 * 3600) for _ in range(300)],
        "long-tail": [rng.lognormvariate(5, 1) for _ in range(1001)],
        "negative": [rng.uniform(-900, 300) for _ in range(50)],
        "cluster-and-gap": [rng.uniform(1, 1.09) for _ in range(9)] + [rng.uniform(3000, 3100)],
    }
    return {name: [micro(v) for v in values] for name, values in groups.items()}


def bucket_rows(groups: dict[str, list[float]]) -> list[dict[str, object]]:
    """The groups' durations counted the way the summaries count them."""
    counted: dict[tuple[str, int], list[float]] = {}
    for key, values in groups.items():
        for value in values:
            counted.setdefault((key, bucket_of_seconds(value)), []).append(value)
    return [
        {"key": key, "label": "", "bucket": b, "n": len(v), "total": sum(v), "low": min(v), "high": max(v)}
        for (key, b), v in counted.items()
    ]


async def summarized(engine: AsyncEngine, groups: dict[str, list[float]]) -> dict[str, tuple[float, ...]]:
    """bucket_summary over the groups' durations."""
    async with engine.connect() as conn:
        await conn.run_sync(_metadata.create_all)
        try:
            await conn.execute(buckets.insert(), bucket_rows(groups))
            found = summaries(await conn.execute(bucket_summary(select(buckets).subquery())))
            return {key: (row.n, row.mean, row.p50, row.p90) for key, row in found.items()}
        finally:
            await conn.rollback()


@given(st.integers(min_value=-(10**11), max_value=10**11))
@settings(max_examples=500)
def test_every_duration_is_within_the_error_of_its_bucket(micros: int) -> None:
    seconds = micros / 1_000_000
    assert close_enough(representative(bucket_of_seconds(seconds)), seconds)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_bucket_percentiles_are_within_the_error_of_percentile_cont(engine: AsyncEngine, seed: int) -> None:
    groups = sample_groups(seed)

    found = await summarized(engine, groups)

    for name, values in groups.items():
        n, mean, p50, p90 = found[name]
        assert n == len(values), name
        assert mean == pytest.approx(sum(values) / len(values), rel=1e-9), name
        assert close_enough(p50, percentile_cont(values, 0.5)), (name, p50, percentile_cont(values, 0.5))
        assert close_enough(p90, percentile_cont(values, 0.9)), (name, p90, percentile_cont(values, 0.9))
    # Where the two samples nearest a rank lie in different buckets, the percentile is exact.
    assert found["cluster-and-gap"][3] == pytest.approx(percentile_cont(groups["cluster-and-gap"], 0.9), abs=1e-9)
    assert found["one"][2:] == pytest.approx((groups["one"][0],) * 2, abs=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_bucket_percentiles_are_within_the_error_of_postgresql_percentile_cont(
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
                        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v),"
                        " percentile_cont(0.9) WITHIN GROUP (ORDER BY v)"
                        " FROM unnest(CAST(:values AS double precision[])) AS v"
                    ),
                    {"values": values},
                )
            ).one()
            assert close_enough(found[name][2], native[0]), name
            assert close_enough(found[name][3], native[1]), name


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
