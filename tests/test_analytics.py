"""GET /api/analytics/*: figures from the server-stamped status history, on known timelines.

Every timeline is driven through the orders API with the fake clock, so each duration is exact.
The clock starts at 2026-03-02 10:00 UTC (12:00 in Helsinki, UTC+2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import FakeClock
from tests.helpers import create_order, set_item, set_order

pytestmark = pytest.mark.anyio

ONE_ITEM = [{"plu": "SOUP", "name": "Salmon Soup", "quantity": 1}]
RANGE = {"from": "2026-03-02T09:00:00Z", "to": "2026-03-02T12:00:00Z"}


async def figures(client: httpx.AsyncClient, figure: str, **params: Any) -> Any:
    response = await client.get(f"/api/analytics/{figure}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def order_steps(client: httpx.AsyncClient, clock: FakeClock, order_id: str, *steps: tuple[float, str]) -> None:
    """Move the whole order through `steps`: (seconds to wait first, status to ask for)."""
    for wait, status in steps:
        clock.advance(wait)
        response = await set_order(client, order_id, status)
        assert response.status_code == 200, response.text


async def item_steps(
    client: httpx.AsyncClient, clock: FakeClock, order_id: str, *steps: tuple[float, str, str]
) -> None:
    """Move items through `steps`: (seconds to wait first, PLU, status to ask for)."""
    for wait, plu, status in steps:
        clock.advance(wait)
        response = await set_item(client, order_id, plu, status)
        assert response.status_code == 200, response.text


def by_status(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["status"]: row for row in rows}


def stats(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["count"], row["avgSeconds"], row["p50Seconds"], row["p90Seconds"])


# --- time in status -----------------------------------------------------------------------------


async def test_order_status_durations_follow_a_known_timeline(client: httpx.AsyncClient, clock: FakeClock) -> None:
    start = clock.now
    for received, preparing, ready in ((60, 300, 120), (120, 600, 60)):
        clock.now = start
        order = await create_order(client)
        await order_steps(
            client, clock, order["id"], (received, "PREPARING"), (preparing, "READY"), (ready, "PICKED_UP")
        )
    clock.now = start
    still_ready = await create_order(client)  # its READY is current: left out
    await order_steps(client, clock, still_ready["id"], (30, "PREPARING"), (900, "READY"))

    orders = by_status((await figures(client, "status-durations", **RANGE))["orders"])

    assert list(orders) == ["RECEIVED", "PREPARING", "READY"]
    # Sorted 30, 60, 120: p90 sits at position 1.8, between 60 and 120.
    assert stats(orders["RECEIVED"]) == (3, 70.0, 60.0, 108.0)
    assert stats(orders["PREPARING"]) == (3, 600.0, 600.0, 840.0)
    assert stats(orders["READY"]) == (2, 90.0, 90.0, 114.0)


async def test_item_status_durations_follow_a_known_timeline(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    await item_steps(client, clock, order["id"], (10, "BB-1", "PREPARING"), (10, "BB-2", "PREPARING"))
    await item_steps(client, clock, order["id"], (80, "BB-1", "READY"))
    await order_steps(client, clock, order["id"], (100, "READY"))  # the bump ends BB-2 and BB-3 at +200

    items = by_status((await figures(client, "status-durations", **RANGE))["items"])

    assert list(items) == ["ORDERED", "PREPARING", "READY"]
    assert stats(items["ORDERED"]) == (3, 76.667, 20.0, 164.0)  # 10, 20, 200
    assert stats(items["PREPARING"]) == (2, 135.0, 135.0, 171.0)  # 90, 180
    assert stats(items["READY"]) == (0, None, None, None)  # every item is still READY


async def test_a_status_still_current_is_left_out(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create_order(client)
    clock.advance(3600)

    orders = by_status((await figures(client, "status-durations"))["orders"])

    assert stats(orders["RECEIVED"]) == (0, None, None, None)


async def test_undo_ends_a_stay_and_starts_a_new_one(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client, items=ONE_ITEM)
    await item_steps(
        client,
        clock,
        order["id"],
        (10, "SOUP", "PREPARING"),
        (30, "SOUP", "READY"),
        (10, "SOUP", "PREPARING"),  # undo: the order goes back from READY to PREPARING too
        (30, "SOUP", "READY"),
    )

    body = await figures(client, "status-durations", **RANGE)

    items, orders = by_status(body["items"]), by_status(body["orders"])
    assert stats(items["PREPARING"]) == (2, 30.0, 30.0, 30.0)
    assert stats(items["READY"]) == (1, 10.0, 10.0, 10.0)
    assert stats(orders["PREPARING"]) == (2, 30.0, 30.0, 30.0)
    assert stats(orders["READY"]) == (1, 10.0, 10.0, 10.0)


async def test_a_repeated_status_adds_no_stay(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    await order_steps(client, clock, order["id"], (10, "PREPARING"), (10, "PREPARING"), (20, "READY"))

    orders = by_status((await figures(client, "status-durations", **RANGE))["orders"])

    assert stats(orders["PREPARING"]) == (1, 30.0, 30.0, 30.0)


async def test_channel_reported_history_never_counts(
    client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
) -> None:
    reported = [
        {"status": 1, "timestamp": "2026-03-02T09:40:00Z"},
        {"status": 2, "timestamp": "2026-03-02T09:45:00Z"},
        {"status": 3, "timestamp": "2026-03-02T09:50:00Z"},
    ]
    order = await create_order(client, statusHistory=reported)
    # Even if channel rows carried an end, they would not be read.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE order_status_events SET ended_at = at WHERE source = 'channel'"))
    await order_steps(client, clock, order["id"], (60, "PREPARING"))

    durations = by_status((await figures(client, "status-durations", **RANGE))["orders"])
    on_time = await figures(client, "on-time", **RANGE)
    hours = await figures(client, "throughput", **RANGE)

    assert stats(durations["RECEIVED"]) == (1, 60.0, 60.0, 60.0)
    assert [durations[s]["count"] for s in ("PREPARING", "READY")] == [0, 0]
    assert on_time["orders"] == 0
    assert sum(hour["ready"] for hour in hours) == 0


async def test_durations_cover_the_orders_created_in_the_range(client: httpx.AsyncClient, clock: FakeClock) -> None:
    early = await create_order(client)  # 10:00, before the range
    clock.advance(3600)
    late = await create_order(client)  # 11:00, in it
    await order_steps(client, clock, early["id"], (60, "PREPARING"))
    await order_steps(client, clock, late["id"], (60, "PREPARING"))

    orders = by_status(
        (await figures(client, "status-durations", **{"from": "2026-03-02T10:30:00Z", "to": "2026-03-02T12:00:00Z"}))[
            "orders"
        ]
    )

    assert stats(orders["RECEIVED"]) == (1, 120.0, 120.0, 120.0)


# --- throughput ---------------------------------------------------------------------------------


async def test_throughput_counts_orders_received_and_ready_per_clock_hour(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    clock.advance(5 * 60)
    first = await create_order(client)  # 10:05
    await order_steps(client, clock, first["id"], (45 * 60, "READY"))  # 10:50
    clock.advance(5 * 60)
    second = await create_order(client)  # 10:55
    await order_steps(client, clock, second["id"], (15 * 60, "READY"))  # 11:10
    clock.advance(20 * 60)
    await create_order(client)  # 11:30, not ready

    hours = await figures(client, "throughput", **{"from": "2026-03-02T10:00:00Z", "to": "2026-03-02T12:00:00Z"})

    assert hours == [
        {"hour": "2026-03-02T12:00:00+02:00", "received": 2, "ready": 1},
        {"hour": "2026-03-02T13:00:00+02:00", "received": 1, "ready": 1},
    ]


async def test_throughput_shows_hours_without_orders_as_zero(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(90 * 60)
    await create_order(client)  # 11:30

    hours = await figures(client, "throughput", **{"from": "2026-03-02T10:00:00Z", "to": "2026-03-02T13:00:00Z"})

    assert [(h["received"], h["ready"]) for h in hours] == [(0, 0), (1, 0), (0, 0)]


async def test_throughput_widens_the_range_to_whole_clock_hours(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(10 * 60)
    await create_order(client)  # 10:10, before `from` but in its hour

    hours = await figures(client, "throughput", **{"from": "2026-03-02T10:30:00Z", "to": "2026-03-02T10:45:00Z"})

    assert hours == [{"hour": "2026-03-02T12:00:00+02:00", "received": 1, "ready": 0}]


async def test_throughput_hours_skip_the_hour_lost_in_spring(client: httpx.AsyncClient, clock: FakeClock) -> None:
    # 2026-03-29 01:00 UTC: Helsinki's clocks go from 03:00 (UTC+2) to 04:00 (UTC+3).
    clock.now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    await create_order(client, pickupTime="2026-03-29T01:00:00Z")  # 02:30+02:00
    clock.now = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    await create_order(client, pickupTime="2026-03-29T02:00:00Z")  # 04:30+03:00

    hours = await figures(client, "throughput", **{"from": "2026-03-28T23:00:00Z", "to": "2026-03-29T03:00:00Z"})

    assert [(h["hour"], h["received"]) for h in hours] == [
        ("2026-03-29T01:00:00+02:00", 0),
        ("2026-03-29T02:00:00+02:00", 1),
        ("2026-03-29T04:00:00+03:00", 1),
        ("2026-03-29T05:00:00+03:00", 0),
    ]


async def test_throughput_hours_repeat_the_hour_gained_in_autumn(client: httpx.AsyncClient, clock: FakeClock) -> None:
    # 2026-10-25 01:00 UTC: Helsinki's clocks go back from 04:00 (UTC+3) to 03:00 (UTC+2).
    clock.now = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    await create_order(client, pickupTime="2026-10-25T01:00:00Z")  # 03:30+03:00
    clock.now = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    await create_order(client, pickupTime="2026-10-25T02:00:00Z")  # 03:30+02:00

    hours = await figures(client, "throughput", **{"from": "2026-10-24T23:00:00Z", "to": "2026-10-25T02:00:00Z"})

    assert [(h["hour"], h["received"]) for h in hours] == [
        ("2026-10-25T02:00:00+03:00", 0),
        ("2026-10-25T03:00:00+03:00", 1),
        ("2026-10-25T03:00:00+02:00", 1),
    ]


async def test_a_recalled_order_is_ready_once_in_the_hour_of_its_first_bump(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await create_order(client)
    await order_steps(client, clock, order["id"], (50 * 60, "READY"), (15 * 60, "PREPARING"), (5 * 60, "READY"))

    hours = await figures(client, "throughput", **{"from": "2026-03-02T10:00:00Z", "to": "2026-03-02T12:00:00Z"})

    assert [h["ready"] for h in hours] == [1, 0]


async def test_throughput_defaults_to_the_last_24_hours(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(-3600)
    await create_order(client)  # 09:00, the oldest hour shown
    clock.advance(3600)

    hours = await figures(client, "throughput")

    assert len(hours) == 24
    assert hours[-1] == {"hour": "2026-03-02T11:00:00+02:00", "received": 1, "ready": 0}


# --- customers ----------------------------------------------------------------------------------


async def test_customers_are_counted_in_order_count_buckets(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for account, orders in (("one", 1), ("two", 2), ("four", 4), ("six", 6), ("eleven", 11)):
        for _ in range(orders):
            await create_order(client, account=account)
            clock.advance(60)

    body = await figures(client, "customers")

    assert body["distribution"] == [
        {"bucket": "1", "customers": 1},
        {"bucket": "2", "customers": 1},
        {"bucket": "3-5", "customers": 1},
        {"bucket": "6-10", "customers": 1},
        {"bucket": "11+", "customers": 1},
    ]
    assert [(c["account"], c["orderCount"]) for c in body["top"]] == [
        ("eleven", 11),
        ("six", 6),
        ("four", 4),
        ("two", 2),
        ("one", 1),
    ]


async def test_customers_count_earlier_orders_of_those_who_ordered_in_the_range(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await create_order(client, account="regular")  # 2026-03-02 10:00
    await create_order(client, account="lapsed")
    clock.advance(7 * 86400)
    # 2026-03-09 10:00, in the range, under the name the customer now goes by
    await create_order(client, account="regular", customer={"name": "Aino V."})
    clock.advance(7 * 86400)
    await create_order(client, account="regular", customer={"name": "Later Name"})  # after the range: not counted

    body = await figures(client, "customers", **{"from": "2026-03-09T00:00:00Z", "to": "2026-03-10T00:00:00Z"})

    assert body["top"] == [
        {
            "account": "regular",
            "name": "Aino V.",
            "orderCount": 2,
            "firstOrderAt": "2026-03-02T10:00:00Z",
            "lastOrderAt": "2026-03-09T10:00:00Z",
        }
    ]
    assert [b["customers"] for b in body["distribution"]] == [0, 1, 0, 0, 0]


async def test_top_customers_are_the_ten_with_most_orders(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for n in range(12):
        await create_order(client, account=f"customer-{n:02}")
        clock.advance(60)
    await create_order(client, account="customer-00")
    clock.advance(60)

    top = (await figures(client, "customers"))["top"]

    assert len(top) == 10
    # customer-00 has two orders; ties go to the most recent order first.
    assert [c["account"] for c in top[:3]] == ["customer-00", "customer-11", "customer-10"]


# --- on time ------------------------------------------------------------------------------------


async def test_on_time_rate_and_lateness_of_ready_orders(client: httpx.AsyncClient, clock: FakeClock) -> None:
    start = clock.now  # every pickupTime is 10:30
    for ready_after in (600, 1800, 1860, 2100):  # early, exactly on time, 60 s late, 300 s late
        clock.now = start
        order = await create_order(client)
        await order_steps(client, clock, order["id"], (ready_after, "READY"))
    clock.now = start
    await create_order(client)  # never ready: not counted
    cancelled = await create_order(client)
    await order_steps(client, clock, cancelled["id"], (60, "CANCELLED"))

    body = await figures(client, "on-time", **RANGE)

    assert body == {
        "orders": 4,
        "onTime": 2,
        "openLate": 0,
        "due": 4,
        "rate": 0.5,
        "lateP50Seconds": 180.0,
        "lateP90Seconds": 276.0,
        "abandoned": 0,
    }


async def test_orders_still_open_after_their_pickup_time_are_late_too(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ready = await create_order(client)  # every pickupTime is 10:30
    await order_steps(client, clock, ready["id"], (600, "READY"))  # on time
    forgotten = await create_order(client)
    await order_steps(client, clock, forgotten["id"], (60, "PREPARING"))
    await create_order(client)  # never started
    not_due_yet = await create_order(client, pickupTime="2026-03-02T11:30:00Z")
    cancelled = await create_order(client)
    await order_steps(client, clock, cancelled["id"], (60, "CANCELLED"))
    clock.now = clock.now.replace(hour=10, minute=45)  # the manager looks at 10:45

    body = await figures(client, "on-time", **RANGE)

    assert (body["orders"], body["onTime"], body["openLate"], body["due"]) == (1, 1, 2, 3)
    assert body["rate"] == round(1 / 3, 4)
    assert body["abandoned"] == 0
    assert not_due_yet["id"]


async def test_orders_open_or_ready_six_hours_after_pickup_count_as_abandoned(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock
) -> None:
    ready = await create_order(client)  # every pickupTime is 10:30
    await order_steps(client, clock, ready["id"], (600, "READY"))  # never picked up
    forgotten = await create_order(client)
    await order_steps(client, clock, forgotten["id"], (60, "PREPARING"))
    picked_up = await create_order(client)
    await order_steps(client, clock, picked_up["id"], (60, "READY"), (60, "PICKED_UP"))
    clock.now = clock.now.replace(hour=16, minute=29)

    assert (await figures(client, "on-time", **RANGE))["abandoned"] == 0
    still = (await tablet.get("/board/tickets")).text
    assert ready["channelOrderId"] in still
    assert forgotten["channelOrderId"] in still
    assert "Nothing waiting." not in still  # the forgotten order's items are in the all-day totals
    clock.now = clock.now.replace(minute=30)  # six hours after the pickup time: off the boards
    body = await figures(client, "on-time", **RANGE)
    assert (body["abandoned"], body["openLate"]) == (2, 1)
    board = await tablet.get("/board/tickets")
    assert board.status_code == 200
    assert ready["channelOrderId"] not in board.text
    assert forgotten["channelOrderId"] not in board.text
    assert "Nothing waiting." in board.text  # and out of them


async def test_on_time_counts_the_first_ready_of_a_recalled_order(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)  # pickup at +1800
    await order_steps(client, clock, order["id"], (600, "READY"), (600, "PREPARING"), (1200, "READY"))

    body = await figures(client, "on-time", **RANGE)

    assert (body["orders"], body["onTime"], body["rate"]) == (1, 1, 1.0)


# --- slowest items ------------------------------------------------------------------------------


async def test_slowest_items_rank_plus_by_median_time_to_ready(client: httpx.AsyncClient, clock: FakeClock) -> None:
    items = [{"plu": "FAST", "name": "Fries", "quantity": 1}, {"plu": "SLOW", "name": "Brisket", "quantity": 1}]
    start = clock.now
    for fast, slow in ((100, 300), (200, 300), (600, 300)):
        clock.now = start
        order = await create_order(client, items=items)
        # Both cooked side by side: each order's changes in the order they happened.
        await item_steps(client, clock, order["id"], (0, "FAST", "PREPARING"), (0, "SLOW", "PREPARING"))
        first, second = sorted([(fast, "FAST"), (slow, "SLOW")])
        await item_steps(client, clock, order["id"], (first[0], first[1], "READY"))
        await item_steps(client, clock, order["id"], (second[0] - first[0], second[1], "READY"))
    clock.now = start
    never = await create_order(client, items=items)
    await order_steps(client, clock, never["id"], (60, "CANCELLED"))

    body = await figures(client, "items", **RANGE)

    unrouted = {"station": "unassigned", "targetSeconds": None}  # no menu names them
    assert body == [
        {"plu": "SLOW", "name": "Brisket", "count": 3, "bumped": 0, "p50Seconds": 300.0, "p90Seconds": 300.0}
        | unrouted,
        {"plu": "FAST", "name": "Fries", "count": 3, "bumped": 0, "p50Seconds": 200.0, "p90Seconds": 520.0} | unrouted,
    ]


async def test_an_item_undone_after_ready_keeps_its_first_ready(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client, items=ONE_ITEM)
    await item_steps(
        client, clock, order["id"], (40, "SOUP", "PREPARING"), (60, "SOUP", "READY"), (50, "SOUP", "PREPARING")
    )
    await item_steps(client, clock, order["id"], (50, "SOUP", "READY"))

    body = await figures(client, "items", **RANGE)

    assert [(i["plu"], i["count"], i["p50Seconds"]) for i in body] == [("SOUP", 1, 100.0)]


# --- filters, empty ranges and bad parameters ---------------------------------------------------


def _orders_counted(figure: str, body: Any) -> int:
    """How many orders a figure's body covers, for the brand-filter test."""
    if figure == "status-durations":
        return int(by_status(body["orders"])["RECEIVED"]["count"])
    if figure == "throughput":
        return sum(hour["received"] for hour in body)
    if figure == "customers":
        return sum(customer["orderCount"] for customer in body["top"])
    if figure == "on-time":
        return int(body["orders"])
    return sum(item["count"] + item["bumped"] for item in body if item["plu"] == "BB-1")


@pytest.mark.parametrize("figure", ["status-durations", "throughput", "customers", "on-time", "items"])
async def test_brand_filter_keeps_only_orders_of_those_brands(
    client: httpx.AsyncClient, clock: FakeClock, figure: str
) -> None:
    start = clock.now
    for brand in ("brand-a", "brand-b", "brand-b", "brand-c"):
        clock.now = start
        order = await create_order(client, brandId=brand, account=f"account-of-{brand}")
        await order_steps(client, clock, order["id"], (60, "PREPARING"), (60, "READY"))

    only_a = await figures(client, figure, brandId="brand-a", **RANGE)
    a_and_b = await figures(client, figure, brandId=["brand-a", "brand-b"], **RANGE)
    every = await figures(client, figure, **RANGE)

    assert [_orders_counted(figure, body) for body in (only_a, a_and_b, every)] == [1, 3, 4]


EMPTY = {
    "status-durations": {
        "orders": [
            {"status": s, "count": 0, "avgSeconds": None, "p50Seconds": None, "p90Seconds": None}
            for s in ("RECEIVED", "PREPARING", "READY")
        ],
        "items": [
            {"status": s, "count": 0, "avgSeconds": None, "p50Seconds": None, "p90Seconds": None}
            for s in ("ORDERED", "PREPARING", "READY")
        ],
    },
    "customers": {
        "distribution": [{"bucket": b, "customers": 0} for b in ("1", "2", "3-5", "6-10", "11+")],
        "top": [],
    },
    "on-time": {
        "orders": 0,
        "onTime": 0,
        "openLate": 0,
        "due": 0,
        "rate": None,
        "lateP50Seconds": None,
        "lateP90Seconds": None,
        "abandoned": 0,
    },
    "items": [],
}


@pytest.mark.parametrize("figure", sorted(EMPTY))
async def test_a_range_without_orders_gives_zeros(client: httpx.AsyncClient, figure: str) -> None:
    await create_order(client)  # 10:00, outside the range

    body = await figures(client, figure, **{"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"})

    assert body == EMPTY[figure]


async def test_throughput_of_a_range_without_orders_is_all_zero_hours(client: httpx.AsyncClient) -> None:
    hours = await figures(client, "throughput", **{"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T03:00:00Z"})

    assert [(h["hour"], h["received"], h["ready"]) for h in hours] == [
        ("2026-03-01T02:00:00+02:00", 0, 0),
        ("2026-03-01T03:00:00+02:00", 0, 0),
        ("2026-03-01T04:00:00+02:00", 0, 0),
    ]


async def test_a_range_of_no_time_is_empty(client: httpx.AsyncClient) -> None:
    same = "2026-03-02T10:00:00Z"

    assert await figures(client, "throughput", **{"from": same, "to": same}) == []
    assert (await figures(client, "on-time", **{"from": same, "to": same}))["orders"] == 0


async def test_naive_times_are_read_as_utc(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    await order_steps(client, clock, order["id"], (60, "PREPARING"))

    naive = await figures(client, "status-durations", **{"from": "2026-03-02T10:00:00", "to": "2026-03-02T10:00:01"})
    helsinki = await figures(
        client, "status-durations", **{"from": "2026-03-02T12:00:01+02:00", "to": "2026-03-02T13:00:00+02:00"}
    )

    assert by_status(naive["orders"])["RECEIVED"]["count"] == 1
    assert by_status(helsinki["orders"])["RECEIVED"]["count"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "from"),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "0001-01-01T00:00:00Z"}, "from"),
        ({"from": "9999-12-31T23:00:00Z", "to": "9999-12-31T23:59:59Z"}, "from"),
        ({"brandId": "b" * 65}, "brandId"),
    ],
    ids=["unparseable", "impossible-date", "from-after-to", "six-years", "year-1", "year-9999", "long-brand"],
)
@pytest.mark.parametrize("figure", ["status-durations", "throughput", "customers", "on-time", "items"])
async def test_bad_parameters_are_400_with_the_error_shape(
    client: httpx.AsyncClient, figure: str, params: dict[str, str], field: str
) -> None:
    response = await client.get(f"/api/analytics/{figure}", params=params)

    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["status"], body["code"], body["field"]) == (400, "invalid_parameter", field)
    assert body["detail"]


async def test_analytics_endpoints_are_described_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()

    paths = [p for p in schema["paths"] if p.startswith("/api/analytics/")]
    assert sorted(paths) == [
        f"/api/analytics/{f}"
        for f in (
            "brands",
            "customers",
            "items",
            "on-time",
            "quote-accuracy",
            "stations",
            "status-durations",
            "throughput",
            "ticket-times",
        )
    ]
    parameters = {p["name"] for p in schema["paths"]["/api/analytics/on-time"]["get"]["parameters"]}
    assert parameters == {"from", "to", "brandId"}
    assert "lateP90Seconds" in schema["components"]["schemas"]["OnTime"]["properties"]


async def test_every_analytics_endpoint_documents_its_range_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()

    for path, operations in schema["paths"].items():
        if not path.startswith("/api/analytics/"):
            continue
        parameters = {p["name"]: p for p in operations["get"]["parameters"]}
        assert sorted(parameters) == ["brandId", "from", "to"], path
        assert all(p["in"] == "query" and not p["required"] and p["description"] for p in parameters.values()), path
        assert parameters["from"]["schema"]["format"] == parameters["to"]["schema"]["format"] == "date-time", path
        assert "at most 731 days" in parameters["from"]["description"], path
        assert {"items": {"type": "string"}, "type": "array"} in parameters["brandId"]["schema"]["oneOf"], path
