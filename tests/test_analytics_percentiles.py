"""The percentile arithmetic of the analytics queries, and the kitchen's clock hours, without HTTP.

Percentiles must be percentile_cont's (linear interpolation) on both databases: the window
form SQLite uses is checked against a plain-Python percentile_cont, and on PostgreSQL also
against PostgreSQL's own percentile_cont.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Float, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.analytics.queries import PercentileMethod, local_hour_start, local_hours, summarize

pytestmark = pytest.mark.anyio

HELSINKI = ZoneInfo("Europe/Helsinki")

_metadata = MetaData()
samples = Table("analytics_samples", _metadata, Column("grp", String(10)), Column("v", Float), prefixes=["TEMPORARY"])


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
    }


async def summarized(engine: AsyncEngine, groups: dict[str, list[float]], method: PercentileMethod) -> dict[str, tuple]:
    async with engine.connect() as conn:
        await conn.run_sync(_metadata.create_all)
        try:
            await conn.execute(samples.insert(), [{"grp": g, "v": v} for g, values in groups.items() for v in values])
            rows = await conn.execute(summarize(select(samples).subquery(), ["grp"], "v", method))
            return {row.grp: (int(row.n), float(row.mean), float(row.p50), float(row.p90)) for row in rows}
        finally:
            await conn.rollback()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_window_percentiles_interpolate_like_percentile_cont(engine: AsyncEngine, seed: int) -> None:
    groups = sample_groups(seed)

    found = await summarized(engine, groups, "window")

    for name, values in groups.items():
        expected = (len(values), sum(values) / len(values), percentile_cont(values, 0.5), percentile_cont(values, 0.9))
        assert found[name] == pytest.approx(expected, rel=1e-9), name


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_window_percentiles_equal_postgresql_percentile_cont(
    engine: AsyncEngine, server_url: str | None, seed: int
) -> None:
    if server_url is None:
        pytest.skip("PostgreSQL's percentile_cont is compared on the PostgreSQL leg")
    groups = sample_groups(seed)

    window = await summarized(engine, groups, "window")
    native = await summarized(engine, groups, "percentile_cont")

    assert window.keys() == native.keys()
    for name in groups:
        assert window[name] == pytest.approx(native[name], rel=1e-12), name


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
