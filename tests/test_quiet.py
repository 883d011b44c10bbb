"""A channel gone quiet, on scripted histories and a known clock (kitchen/quiet.py).

The kitchen is in Europe/Helsinki (UTC+2 in March). Burger Bros usually takes 12 orders an hour
on Friday evenings: a silence alarms once 4.6 orders were expected, after 23 minutes.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from kitchen.board.live import BoardHub
from kitchen.board.station import Station
from kitchen.quiet import (
    EXPECTED_LIMIT,
    QuietBrand,
    QuietWatch,
    expected_orders,
    hours_between,
    is_quiet,
    weeks_before,
)
from kitchen.webhooks.quiet import QuietTeller
from kitchen.webhooks.service import WebhookService
from tests.conftest import FakeClock
from tests.helpers import create_order
from tests.test_board import next_event
from tests.test_metrics import scrape, value
from tests.test_metrics import settings as settings  # the token-bearing settings fixture

pytestmark = pytest.mark.anyio

KITCHEN = ZoneInfo("Europe/Helsinki")


def local(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=KITCHEN).astimezone(UTC)


async def orders_every(
    client: httpx.AsyncClient, clock: FakeClock, start: datetime, minutes: int, count: int, brand: str
) -> None:
    """`count` orders of `brand`, one every `minutes` from `start`, each picked up 30 min after."""
    for n in range(count):
        clock.now = start + timedelta(minutes=minutes * n)
        pickup = (clock.now + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        await create_order(client, brandId=brand, pickupTime=pickup)


async def busy_fridays(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Four past Fridays of 12 orders an hour from 17:00 to 19:00; today, orders until 18:05."""
    await client.put("/api/brands/brand-burgers", json={"name": "Burger Bros", "colour": "#e4572e"})
    for weeks in (4, 3, 2, 1):
        await orders_every(client, clock, local(2026, 3, 6, 17) - timedelta(weeks=weeks), 5, 24, "brand-burgers")
    await orders_every(client, clock, local(2026, 3, 6, 17), 5, 14, "brand-burgers")  # the last at 18:05


def watch(app: Litestar) -> QuietWatch:
    quiet: QuietWatch = app.state.quiet_watch
    return quiet


def test_a_silence_is_weighed_by_the_hours_it_spans() -> None:
    start, end = local(2026, 3, 6, 17, 40), local(2026, 3, 6, 18, 10)
    pieces = hours_between(start, end, KITCHEN)
    assert [(hour.hour, round(share, 3)) for hour, share in pieces] == [(17, 0.333), (18, 0.167)]
    rates = {17: 6.0, 18: 12.0}
    assert expected_orders(pieces, lambda hour: rates[hour.hour]) == pytest.approx(4.0)


def test_silence_is_chance_until_the_poisson_chance_of_it_drops_below_one_percent() -> None:
    assert pytest.approx(math.log(100)) == EXPECTED_LIMIT
    assert not is_quiet(4.6)
    assert is_quiet(4.61)


def test_the_same_hour_of_past_weeks_keeps_its_clock_time_across_daylight_saving() -> None:
    # Finland moved its clocks forward on 2026-03-29: a week before 18:00 is still 18:00.
    hour = datetime(2026, 4, 3, 18, tzinfo=KITCHEN)
    assert [(h.month, h.day, h.hour) for h in weeks_before(hour)] == [(3, 27, 18), (3, 20, 18), (3, 13, 18), (3, 6, 18)]


async def test_a_busy_friday_hour_without_orders_alarms_within_the_computed_window(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await busy_fridays(client, clock)
    clock.now = local(2026, 3, 6, 18, 25)  # 20 min of silence: 4 expected, e^-4 = 1.8 %, chance
    assert await watch(app).look() == []
    clock.now = local(2026, 3, 6, 18, 28, 30)  # past 23 min: 4.7 expected
    [alarm] = await watch(app).look()
    assert alarm.text == "No orders for Burger Bros in 23 min; usually 5 in that time"
    # An order comes: the alarm clears.
    await orders_every(client, clock, local(2026, 3, 6, 18, 29), 1, 1, "brand-burgers")
    assert await watch(app).look() == []


async def test_a_quiet_tuesday_afternoon_does_not_alarm(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for weeks in (4, 3, 2, 1):
        await orders_every(client, clock, local(2026, 3, 3, 14, 30) - timedelta(weeks=weeks), 60, 2, "brand-sushi")
    await orders_every(client, clock, local(2026, 3, 3, 14, 10), 60, 1, "brand-sushi")
    clock.now = local(2026, 3, 3, 16, 10)  # two hours without orders: 2 expected
    assert await watch(app).look() == []


async def test_a_brand_closed_for_the_day_does_not_alarm(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for weeks in (4, 3, 2, 1):
        await orders_every(client, clock, local(2026, 3, 8, 12) - timedelta(weeks=weeks), 5, 24, "brand-burgers")
    clock.now = local(2026, 3, 8, 13, 30)  # a busy Sunday lunch usually; no order at all today
    assert await watch(app).look() == []


async def test_the_alarm_is_on_every_board_the_dashboard_and_the_metrics(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await busy_fridays(client, clock)
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    grill = hub.stream(Station.of(None, "grill"))
    try:
        await next_event(grill)
        clock.now = local(2026, 3, 6, 18, 35)
        await watch(app).look()
        banner = await next_event(grill)
        while banner.event != "alarms":  # the history's own tickets may still be on their way
            banner = await next_event(grill)
        assert "No orders for Burger Bros in 30 min; usually 6 in that time" in str(banner.data)
    finally:
        await grill.aclose()
    for page in (await tablet.get("/board"), await tablet.get("/board", params={"station": "fryer"})):
        assert 'class="quiet-alarm" role="alert"' in page.text
        assert "No orders for Burger Bros in 30 min" in page.text
    panels = (await manager.get("/dashboard/panels", params={"range": "today"})).text
    assert "No orders for Burger Bros in 30 min" in panels
    assert value(await scrape(client), "kitchen_quiet_brands", brand="brand-burgers") == 1


async def test_a_manager_acknowledges_until_orders_come_again(
    app: Litestar, client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await busy_fridays(client, clock)
    clock.now = local(2026, 3, 6, 18, 35)
    await watch(app).look()
    assert "No orders for Burger Bros" in (await manager.get("/manage/")).text
    answered = await manager.post("/manage/quiet/brand-burgers/seen", follow_redirects=False)
    assert answered.status_code in (302, 303), answered.text
    assert await watch(app).look() == []
    assert value(await scrape(client), "kitchen_quiet_brands", brand="brand-burgers") == 0
    # An order comes, then none again: a new silence alarms again (23 min at 12 an hour).
    await orders_every(client, clock, local(2026, 3, 6, 18, 36), 1, 1, "brand-burgers")
    clock.now = local(2026, 3, 6, 18, 59, 50)
    assert [alarm.brand_id for alarm in await watch(app).look()] == ["brand-burgers"]


async def test_a_manager_mutes_a_brand_for_an_hour(
    app: Litestar, client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await busy_fridays(client, clock)
    clock.now = local(2026, 3, 6, 18, 35)
    await manager.post("/manage/quiet/brand-burgers/mute", data={"minutes": "60"})
    assert await watch(app).look() == []
    clock.now = local(2026, 3, 6, 19, 36)
    assert [alarm.brand_id for alarm in await watch(app).look()] == ["brand-burgers"]


@pytest.mark.parametrize("minutes", ["0", "-5", "100000", "soon", ""])
async def test_a_mute_for_no_sensible_time_is_refused(manager: httpx.AsyncClient, minutes: str) -> None:
    response = await manager.post("/manage/quiet/brand-burgers/mute", data={"minutes": minutes})
    assert response.status_code == 400, response.text


async def test_an_answer_for_a_brand_id_no_brand_could_have_is_refused(manager: httpx.AsyncClient) -> None:
    for action in ("seen", "mute"):
        response = await manager.post(f"/manage/quiet/{'b' * 65}/{action}", data={"minutes": "30"})
        assert response.status_code == 404, response.text


async def test_the_channels_hear_of_an_alarm_once_muted_or_not_and_once_of_its_end(
    app: Litestar, client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await busy_fridays(client, clock)
    async with app.state.sessions() as session:
        # Nothing listens there: the events stay in the outbox, where this test reads them.
        await WebhookService(session).set("test-channel", "http://127.0.0.1:9/hooks")
    app.state.outbox.forget()

    async def unseen(alarms: list[QuietBrand]) -> None:
        pass

    # A second process's watch, looking at the same database: between them, each event once.
    other = QuietWatch(
        app.state.sessions,
        clock,
        KITCHEN,
        announce=unseen,
        tell=QuietTeller(app.state.engine, clock, app.state.outbox),
    )
    clock.now = local(2026, 3, 6, 18, 35)
    assert [alarm.brand_id for alarm in await watch(app).look()] == ["brand-burgers"]
    assert [alarm.brand_id for alarm in await other.look()] == ["brand-burgers"]
    # The manager mutes it: off the boards, but the silence goes on, and the channels were told.
    await manager.post("/manage/quiet/brand-burgers/mute", data={"minutes": "60"})
    clock.now = local(2026, 3, 6, 18, 40)
    assert await watch(app).look() == []
    assert await other.look() == []
    # An order comes: the alarm is over, and the channels hear that once too.
    await orders_every(client, clock, local(2026, 3, 6, 18, 41), 1, 1, "brand-burgers")
    await other.look()
    await watch(app).look()

    async with app.state.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT type, stream, body FROM outbox_events WHERE type LIKE 'brand.%' ORDER BY id")
            )
        ).all()
        told = (await conn.execute(text("SELECT brand_id, quiet FROM brand_quiet"))).all()
    assert [(row[0], row[1]) for row in rows] == [
        ("brand.quiet", "quiet:brand-burgers"),
        ("brand.normal", "quiet:brand-burgers"),
    ]
    quiet, normal = (json.loads(row[2]) for row in rows)
    assert quiet["quiet"] == {
        "brandId": "brand-burgers",
        "quiet": True,
        "lastOrderAt": "2026-03-06T16:05:00Z",  # 18:05 in Helsinki
        "silentMinutes": 30,
        "usualOrders": 6,
    }
    assert normal["quiet"] == {"brandId": "brand-burgers", "quiet": False, "lastOrderAt": "2026-03-06T16:41:00Z"}
    assert normal["occurredAt"] == "2026-03-06T16:41:00Z"
    assert [(brand_id, bool(flag)) for brand_id, flag in told] == [("brand-burgers", False)]
