"""One rule for what is on a board, in what order and how urgent (kitchen/board/rules.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.board import queries
from kitchen.board.rules import CANCELLED_SHOWN_FOR, belongs_on_board, position, start_by, start_by_now, urgency
from kitchen.board.station import Station
from kitchen.orders.models import Order
from kitchen.orders.records import OrderRecord
from tests.conftest import FakeClock
from tests.helpers import create_order, set_order

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def an_order(**fields: object) -> OrderRecord:
    values: dict[str, object] = {
        "id": "order-1",
        "account": "acct",
        "brand_id": "brand-burgers",
        "channel_order_id": "WOLT-1",
        "customer_name": "Aino",
        "customer_phone": None,
        "delivery_street": None,
        "delivery_city": None,
        "delivery_postal_code": None,
        "pickup_time": NOW + timedelta(minutes=30),
        "channel_created_at": None,
        "status": "RECEIVED",
        "version": 1,
        "payload_hash": "",
        "last_change_source": None,
        "cancel_acknowledged_at": None,
        "created_at": NOW,
        "updated_at": NOW,
        "note": None,
        "allergens": [],
    }
    values.update(fields)
    return OrderRecord(**values)  # type: ignore[arg-type]  # test data, checked by the dataclass


@pytest.mark.parametrize("status", ["RECEIVED", "PREPARING", "READY"])
def test_open_and_ready_orders_are_on_the_board(status: str) -> None:
    assert belongs_on_board(an_order(status=status), NOW)


@pytest.mark.parametrize("status", ["RECEIVED", "PREPARING", "READY"])
def test_an_order_long_past_its_pickup_time_was_abandoned_and_leaves_the_board(status: str) -> None:
    stale = timedelta(hours=6)
    assert belongs_on_board(an_order(status=status, pickup_time=NOW - stale + timedelta(seconds=1)), NOW, stale)
    assert not belongs_on_board(an_order(status=status, pickup_time=NOW - stale), NOW, stale)


def test_pickups_at_the_ends_of_time_stay_on_the_board_or_leave_it_without_error() -> None:
    assert belongs_on_board(an_order(pickup_time=datetime(9999, 12, 31, 23, 59, tzinfo=UTC)), NOW)
    assert not belongs_on_board(an_order(pickup_time=datetime(1, 1, 1, tzinfo=UTC)), NOW)
    early = datetime(1, 1, 1, 3, tzinfo=UTC)  # less than the stale window after the first moment
    assert belongs_on_board(an_order(pickup_time=datetime(1, 1, 1, 4, tzinfo=UTC)), early)


@pytest.mark.parametrize("status", ["PICKED_UP"])
def test_finished_orders_leave_the_board(status: str) -> None:
    assert not belongs_on_board(an_order(status=status), NOW)


def test_a_cancellation_stays_until_seen_or_twelve_hours_old() -> None:
    cancelled = an_order(status="CANCELLED", updated_at=NOW - timedelta(hours=1))
    assert belongs_on_board(cancelled, NOW)
    assert not belongs_on_board(replace(cancelled, cancel_acknowledged_at=NOW), NOW)
    assert not belongs_on_board(replace(cancelled, updated_at=NOW - CANCELLED_SHOWN_FOR), NOW)


def test_tickets_sort_cancellations_first_then_soonest_pickup_then_id() -> None:
    soon = an_order(id="b", pickup_time=NOW)
    same_time = an_order(id="a", pickup_time=NOW)
    later = an_order(id="c", pickup_time=NOW + timedelta(hours=1))
    cancelled_late = an_order(id="z", status="CANCELLED", pickup_time=NOW + timedelta(days=3))
    far = an_order(id="y", pickup_time=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    ancient = an_order(id="x", pickup_time=datetime(1, 1, 1, tzinfo=UTC))
    ordered = sorted([far, later, soon, cancelled_late, same_time, ancient], key=position)
    assert [o.id for o in ordered] == ["z", "x", "a", "b", "c", "y"]


def test_urgency_turns_soon_at_the_amber_moment_and_late_after_pickup() -> None:
    order = an_order(pickup_time=NOW + timedelta(minutes=5))
    assert urgency(order, NOW - timedelta(seconds=1), 300).now == "ok"
    assert urgency(order, NOW, 300).now == "soon"
    assert urgency(order, NOW + timedelta(minutes=5), 300).now == "soon"
    race = urgency(order, NOW + timedelta(minutes=5, seconds=1), 300)
    assert (race.now, race.soon_at, race.late_at) == ("late", NOW, NOW + timedelta(minutes=5))


def test_only_open_tickets_race_the_pickup_time() -> None:
    for status in ("READY", "CANCELLED"):
        race = urgency(an_order(status=status, pickup_time=NOW - timedelta(hours=1)), NOW, 300)
        assert (race.now, race.soon_at, race.late_at) == ("ok", None, None)


def test_start_by_is_the_pickup_less_prep_and_packing() -> None:
    pickup = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    assert start_by(pickup, 480, 120) == datetime(2026, 3, 2, 10, 20, tzinfo=UTC)
    assert start_by(pickup, 0, 120) == datetime(2026, 3, 2, 10, 28, tzinfo=UTC)
    assert start_by(pickup, 480, 0) == datetime(2026, 3, 2, 10, 22, tzinfo=UTC)


def test_a_line_nobody_has_timed_starts_by_its_pickup() -> None:
    assert start_by(NOW, None, 120) == NOW


def test_a_start_by_before_year_one_is_the_earliest_moment() -> None:
    assert start_by(datetime(1, 1, 1, 0, 1, tzinfo=UTC), 86400, 120) == datetime(1, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "text", "behind"),
    [
        (NOW - timedelta(minutes=19), "start 12:00", False),
        (NOW - timedelta(seconds=61), "start 12:00", False),
        (NOW - timedelta(seconds=60), "start now", False),
        (NOW + timedelta(seconds=59), "start now", False),
        (NOW + timedelta(seconds=60), "1 min behind", True),
        (NOW + timedelta(minutes=3, seconds=59), "3 min behind", True),
        (NOW + timedelta(hours=2), "120 min behind", True),
    ],
)
def test_a_start_by_reads_as_the_cook_says_it(now: datetime, text: str, behind: bool) -> None:
    said = start_by_now(NOW, now, ZoneInfo("Europe/Helsinki"))
    assert (said.text, said.behind, said.local) == (text, behind, "12:00")


def test_a_station_card_sorts_by_the_start_by_it_is_given() -> None:
    order = an_order(pickup_time=NOW)
    assert position(order, NOW - timedelta(minutes=10)) < position(order) < position(order, NOW + timedelta(1))


def test_a_pickup_at_the_start_of_year_one_has_an_urgency() -> None:
    race = urgency(an_order(pickup_time=datetime(1, 1, 1, tzinfo=UTC)), NOW, 300)
    assert race.now == "late"


@pytest.mark.anyio
async def test_the_board_query_and_the_rule_agree(
    app: Litestar, client: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Every kind of order the rule decides on, read back by the board's one statement."""
    ids = {}
    for name in ("open", "preparing", "ready", "picked_up", "cancelled", "seen", "old_cancelled"):
        ids[name] = (await create_order(client))["id"]
    for name in ("abandoned", "abandoned_ready"):
        ids[name] = (await create_order(client, pickupTime=(clock.now - timedelta(hours=7)).isoformat()))["id"]
    await set_order(client, ids["abandoned_ready"], "READY")
    await set_order(client, ids["preparing"], "PREPARING")
    await set_order(client, ids["ready"], "READY")
    await set_order(client, ids["picked_up"], "READY")
    await set_order(client, ids["picked_up"], "PICKED_UP")
    for name in ("cancelled", "seen", "old_cancelled"):
        await set_order(client, ids[name], "CANCELLED")
    async with engine.begin() as conn:
        await conn.execute(update(Order).where(Order.id == ids["seen"]).values(cancel_acknowledged_at=clock.now))
        stale = clock.now - CANCELLED_SHOWN_FOR - timedelta(seconds=1)
        await conn.execute(update(Order).where(Order.id == ids["old_cancelled"]).values(updated_at=stale))

    async with app.state.sessions() as session:
        on_board = await queries.board_orders(session, Station(), clock.now)
        store = app.state.board_hub.store
        everything = [await store.read_order(await session.connection(), order_id) for order_id in ids.values()]
    by_rule = sorted((o for o in everything if o is not None and belongs_on_board(o, clock.now)), key=position)
    assert [o.id for o in on_board] == [o.id for o in by_rule]
    assert {o.id for o in on_board} == {ids[n] for n in ("open", "preparing", "ready", "cancelled")}
    assert on_board[0].id == ids["cancelled"]  # a cancellation needs a look first
