"""Analytics per station, on a known timeline (the clock is frozen for exact times, not for races).

The menu routes the burger to the grill (8 min) and the fries to the fryer (4 min); the
lemonade is on no menu. Packing takes the default 2 minutes. The clock starts at 10:00 UTC.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import Double, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.orders.summaries.buckets import bucket_in_sql, bucket_of_seconds
from tests.conftest import FakeClock
from tests.helpers import create_order
from tests.test_analytics import RANGE, figures
from tests.test_stations import MENU

pytestmark = pytest.mark.anyio


async def line_steps(
    client: httpx.AsyncClient, clock: FakeClock, order_id: str, *steps: tuple[float, int, str]
) -> None:
    """(seconds to wait first, line, status to ask for)."""
    for wait, line, status in steps:
        clock.advance(wait)
        response = await client.patch(f"/api/orders/{order_id}/lines/{line}/status", json={"status": status})
        assert response.status_code == 200, response.text


async def cook_the_timeline(client: httpx.AsyncClient, clock: FakeClock) -> None:
    assert (await client.put("/api/brands/brand-burgers/menu", json=MENU)).status_code == 200
    # A: pickup 10:30. The burger starts by 10:20 and the fries by 10:24; the lemonade by 10:30.
    first = await create_order(client, pickupTime="2026-03-02T10:30:00Z")
    # B: pickup 11:00, a burger alone: it starts by 10:50.
    second = await create_order(
        client, pickupTime="2026-03-02T11:00:00Z", items=[{"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1}]
    )
    await line_steps(
        client,
        clock,
        first["id"],
        (300, 1, "PREPARING"),  # 10:05, 15 min early
        (420, 1, "READY"),  # 10:12, 7 min on the grill: within 8
        (840, 2, "PREPARING"),  # 10:26, 2 min behind its start-by
        (300, 2, "READY"),  # 10:31, 5 min in the fryer: over 4; and after 10:28, its ready-by
    )
    await line_steps(
        client,
        clock,
        second["id"],
        (540, 1, "PREPARING"),  # 10:40, 10 min early
        (420, 1, "READY"),  # 10:47, within target, ready by 10:58
    )
    # A different brand with no menu: every line unassigned, left out by a brand filter.
    await create_order(client, brandId="brand-sushi", items=[{"plu": "SU-1", "name": "Maki", "quantity": 1}])


def by_station(body: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["station"]: row for row in body}


def stays(row: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {s["status"]: (s["count"], s["avgSeconds"], s["p50Seconds"], s["p90Seconds"]) for s in row["statuses"]}


async def test_each_station_has_its_time_in_status(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await cook_the_timeline(client, clock)
    stations = by_station(await figures(client, "stations", brandId="brand-burgers", **RANGE))
    assert list(stations) == ["fryer", "grill", "unassigned"]
    assert stays(stations["grill"]) == {
        "ORDERED": (2, 1350.0, 1350.0, 2190.0),  # 300 s and 2,400 s
        "PREPARING": (2, 420.0, 420.0, 420.0),
        "READY": (0, None, None, None),  # not ended yet
    }
    assert stays(stations["fryer"])["ORDERED"] == (1, 1560.0, 1560.0, 1560.0)
    assert stays(stations["fryer"])["PREPARING"] == (1, 300.0, 300.0, 300.0)
    assert stations["unassigned"]["lines"] == 1
    assert stays(stations["unassigned"])["ORDERED"] == (0, None, None, None)


async def test_each_station_is_measured_against_start_by_and_prep_targets(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_the_timeline(client, clock)
    stations = by_station(await figures(client, "stations", brandId="brand-burgers", **RANGE))

    def kept(row: dict[str, Any]) -> tuple[Any, ...]:
        return (
            row["lines"],
            row["started"],
            row["startedByStartBy"],
            row["startedByStartByRate"],
            row["startLateP50Seconds"],
            row["timed"],
            row["withinTarget"],
            row["withinTargetRate"],
        )

    assert kept(stations["grill"]) == (2, 2, 2, 1.0, -750.0, 2, 2, 1.0)
    assert kept(stations["fryer"]) == (1, 1, 0, 0.0, 120.0, 1, 0, 0.0)
    assert kept(stations["unassigned"]) == (1, 0, 0, None, None, 0, 0, None)


async def test_on_time_per_station_is_ready_by_the_pickup_less_packing(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_the_timeline(client, clock)
    stations = by_station(await figures(client, "stations", brandId="brand-burgers", **RANGE))

    def on_time(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["due"], row["onTime"], row["openLate"], row["onTimeRate"])

    assert on_time(stations["grill"]) == (2, 2, 0, 1.0)
    assert on_time(stations["fryer"]) == (1, 0, 0, 0.0)  # ready 10:31, due by 10:28
    assert on_time(stations["unassigned"]) == (1, 0, 1, 0.0)  # the lemonade, still open at 10:47


async def test_the_brand_filter_applies_to_the_stations(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await cook_the_timeline(client, clock)
    every = by_station(await figures(client, "stations", **RANGE))
    assert every["unassigned"]["lines"] == 2  # the lemonade and the sushi brand's maki
    sushi = await figures(client, "stations", brandId="brand-sushi", **RANGE)
    assert [(row["station"], row["lines"]) for row in sushi] == [("unassigned", 1)]


async def test_the_slowest_items_show_their_station_and_target(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await cook_the_timeline(client, clock)
    items = await figures(client, "items", brandId="brand-burgers", **RANGE)
    assert [(i["plu"], i["station"], i["targetSeconds"]) for i in items] == [
        ("BB-2", "fryer", 240),  # ready 31 min after it came in
        ("BB-1", "grill", 480),  # 12 and 47 min: median 29.5
    ]


async def test_the_dashboard_shows_stations_side_by_side(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_the_timeline(client, clock)
    params = {"range": "today", "brand": "brand-burgers"}
    panels = (await manager.get("/dashboard/panels", params=params)).text
    # The panels load the stations' panel after them, for the same filter.
    assert 'hx-get="/dashboard/stations?range=today&amp;brand=brand-burgers" hx-trigger="load"' in panels
    table = (await manager.get("/dashboard/stations", params=params)).text
    assert "<td>grill</td><td>2</td>" in table
    assert "100% <small>of 2</small>" in table
    assert "2 min packing" in table
    rows = list(csv.DictReader(io.StringIO((await manager.get("/dashboard/csv/stations", params=params)).text)))
    fryer = next(row for row in rows if row["station"] == "fryer")
    assert (fryer["lines"], fryer["start_late_p50_seconds"], fryer["on_time_rate"]) == ("1", "120.0", "0.0")
    slowest = panels.split('aria-label="Slowest items"', 1)[1]
    assert "<td>grill</td>" in slowest
    assert "<td>8.0 min</td>" in slowest  # the burger's target beside its measure


@pytest.mark.parametrize("seconds", [0.0, 0.05, 4.99, 5.0, 5.1, 61.5, 480.0, 3599.9, 86400.0, -0.05, -5.0, -750.0])
async def test_the_database_buckets_a_duration_as_python_does(engine: AsyncEngine, seconds: float) -> None:
    async with engine.connect() as conn:
        bucket = await conn.scalar(select(bucket_in_sql(literal(seconds, Double))))
    assert bucket == bucket_of_seconds(seconds)
