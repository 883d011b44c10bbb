"""The couriers' pickup screen: its own role, paired like a tablet, that may look at /pickup and
change nothing; its two columns (channel ids in brand colours, never a customer or an item),
which follow the boards' own rule; and its live stream from the boards' hub."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from litestar import Litestar
from litestar.response import ServerSentEventMessage
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.auth.models import PICKUP_ROLE
from kitchen.auth.service import PICKUP_SCREEN, Credentials, Principal
from kitchen.board.live import GOING_AWAY, BoardHub
from kitchen.board.render import brand_class
from kitchen.board.rules import belongs_on_board, pickup_column
from kitchen.board.station import Station
from kitchen.orders.status import OrderStatus
from tests.conftest import browser_client
from tests.helpers import create_order, row_counts, set_order
from tests.test_auth import anonymous, csrf
from tests.test_board import next_event, tap, tap_item
from tests.test_board_rules import NOW, an_order

pytestmark = pytest.mark.anyio

CUSTOMER = "Aino Virtanen"  # helpers.order_payload's customer
ITEM_NAMES = ("Hawaii Burger", "Fries", "Lemonade")


async def pair_pickup_screen(app: Litestar, name: str = "Door") -> Principal:
    """A device paired with a manager's pickup-screen code, with a session open."""
    async with app.state.sessions() as session:
        credentials = Credentials(session)
        manager = await credentials.create_manager(f"manager-{name}", "a long enough password")
        code, _ = await credentials.create_pairing_code(Principal("manager", manager.id, manager.username), PICKUP_ROLE)
        device = await credentials.pair_tablet(code, name)
    assert device is not None
    return device


@pytest.fixture
async def pickup_screen(app: Litestar, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A paired pickup screen's browser (after `client`, so the tables are fresh)."""
    http = await browser_client(app, await pair_pickup_screen(app), "/pickup")
    yield http
    await http.aclose()


def column(page: str, name: str) -> list[str]:
    """The channel order ids in one column of the screen, in the order shown."""
    found = re.search(rf'<ol id="pickup-{name}" class="pickup-list">(.*?)</ol>', page, flags=re.S)
    assert found is not None, page[:500]
    return re.findall(r'<span class="pickup-id">([^<]+)</span>', found.group(1))


async def stored_version(engine: AsyncEngine, order_id: str) -> int:
    """The order's version as stored (the API does not show it)."""
    async with engine.connect() as conn:
        version = await conn.scalar(text("SELECT version FROM orders WHERE id = :id"), {"id": order_id})
    return int(version)


async def next_event_where(
    stream: AsyncIterator[ServerSentEventMessage], wanted: Callable[[ServerSentEventMessage], bool]
) -> ServerSentEventMessage:
    """The next event that is `wanted`: a change made just before the stream opened may still be
    on its way to it (the stream's resync already showed it)."""
    event = await next_event(stream)
    while not wanted(event):
        event = await next_event(stream)
    return event


def entry(page: str, order_id: str) -> str:
    found = re.search(rf'<li id="pickup-[0-9a-f]+" [^>]*data-order-id="{re.escape(order_id)}"[^>]*>', page)
    assert found is not None, f"{order_id} is not on the screen"
    return found.group(0)


# ---- the role ----


async def test_a_manager_pairs_a_pickup_screen_with_its_own_code(app: Litestar, manager: httpx.AsyncClient) -> None:
    page = await manager.post("/manage/pairing-codes", data={"role": "pickup"})
    assert "for a pickup screen" in page.text
    code = re.search(r'<b class="code">(\d{6})</b>', page.text)
    assert code is not None
    async with anonymous(app) as screen:
        token = await csrf(screen, "/pair")
        paired = await screen.post("/pair", data={"code": code.group(1), "name": "Door", "_csrf_token": token})
        assert (paired.status_code, paired.headers["location"]) == (302, "/pickup")
        assert (await screen.get("/pickup")).status_code == 200
    devices = re.search(
        r'<table class="figures" id="devices">(.*?)</table>', (await manager.get("/manage/")).text, re.S
    )
    assert devices is not None
    assert re.search(r"<td>Door</td><td>pickup screen</td>", devices.group(1))


async def test_a_code_made_without_a_role_pairs_a_cooks_tablet(app: Litestar, manager: httpx.AsyncClient) -> None:
    code = re.search(r'<b class="code">(\d{6})</b>', (await manager.post("/manage/pairing-codes")).text)
    assert code is not None
    async with anonymous(app) as tablet:
        token = await csrf(tablet, "/pair")
        paired = await tablet.post("/pair", data={"code": code.group(1), "name": "Grill", "_csrf_token": token})
        assert paired.headers["location"] == "/board"
    assert "<td>Grill</td><td>cook's tablet</td>" in (await manager.get("/manage/")).text


async def test_a_pairing_code_for_an_unknown_role_is_refused(manager: httpx.AsyncClient, engine: AsyncEngine) -> None:
    page = await manager.post("/manage/pairing-codes", data={"role": "admin"})
    assert page.status_code == 400
    assert 'class="code"' not in page.text
    assert "role:" in page.text
    assert (await row_counts(engine))["pairing_codes"] == 0


async def test_a_pickup_screens_principal_says_what_it_is(app: Litestar, client: httpx.AsyncClient) -> None:
    device = await pair_pickup_screen(app, "Door")
    assert (device.kind, device.actor) == (PICKUP_SCREEN, "pickup-screen:Door")
    async with app.state.sessions() as session:
        token, opened = await Credentials(session).open_session(device)
        assert await Credentials(session).session_principal(token) == opened
    assert opened.kind == PICKUP_SCREEN


async def test_a_pickup_screen_opening_a_board_is_sent_to_its_own_page(pickup_screen: httpx.AsyncClient) -> None:
    page = await pickup_screen.get("/board", headers={"Accept": "text/html"})
    assert (page.status_code, page.headers["location"]) == (303, "/pickup")
    assert (await pickup_screen.get("/board/tickets", headers={"HX-Request": "true"})).status_code == 403
    assert (await pickup_screen.get("/board/stream", headers={"Accept": "text/event-stream"})).status_code == 403


async def test_a_pickup_screen_can_change_nothing_on_the_boards(
    pickup_screen: httpx.AsyncClient, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    ready = await create_order(client)
    await set_order(client, ready["id"], "READY")
    before = await row_counts(engine)
    for order_id, action in (
        (order["id"], "lines/1/advance"),
        (order["id"], "bump"),
        (ready["id"], "recall"),
        (ready["id"], "pickup"),
        (ready["id"], "undo?version=2"),
        (order["id"], "acknowledge"),
    ):
        assert (await tap(pickup_screen, order_id, action)).status_code == 403, action
    assert await row_counts(engine) == before
    assert (await client.get(f"/api/orders/{order['id']}")).json()["status"] == "RECEIVED"
    assert (await client.get(f"/api/orders/{ready['id']}")).json()["status"] == "READY"


async def test_a_pickup_screen_may_not_use_the_api_manage_or_the_dashboard(pickup_screen: httpx.AsyncClient) -> None:
    assert (await pickup_screen.get("/api/orders")).status_code == 401
    assert (await pickup_screen.post("/manage/api-keys", data={"name": "sneaky"})).status_code == 403
    assert (await pickup_screen.post("/manage/pairing-codes", data={"role": "board"})).status_code == 403
    assert (await pickup_screen.get("/dashboard/panels")).json()["code"] == "forbidden"
    for path in ("/manage/", "/dashboard"):
        page = await pickup_screen.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 403, path
        assert "paired as a pickup screen (<b>Door</b>)" in page.text
        assert 'href="/pickup"' in page.text


async def test_tablets_and_managers_may_look_at_the_pickup_screen(
    tablet: httpx.AsyncClient, manager: httpx.AsyncClient
) -> None:
    for browser in (tablet, manager):
        assert (await browser.get("/pickup")).status_code == 200
        assert (await browser.get("/pickup/columns")).status_code == 200
        assert (await browser.get("/board/brands.css")).status_code == 200


async def test_the_pickup_screen_sends_a_stranger_to_pairing(app: Litestar, client: httpx.AsyncClient) -> None:
    async with anonymous(app) as http:
        page = await http.get("/pickup", headers={"Accept": "text/html"})
        assert (page.status_code, page.headers["location"]) == (303, "/pair")
        assert (await http.get("/pickup/stream", headers={"Accept": "text/event-stream"})).status_code == 401
        assert (await http.get("/pickup/columns", headers={"HX-Request": "true"})).status_code == 401


# ---- what it shows ----


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (OrderStatus.RECEIVED, "preparing"),
        (OrderStatus.PREPARING, "preparing"),
        (OrderStatus.READY, "ready"),
        (OrderStatus.PICKED_UP, None),
        (OrderStatus.CANCELLED, None),
    ],
)
def test_an_order_stands_in_preparing_or_ready_while_it_is_on_the_boards(
    status: OrderStatus, shown: str | None
) -> None:
    assert pickup_column(an_order(status=status), NOW) == shown


def test_a_cancellation_the_boards_still_show_is_not_on_the_pickup_screen() -> None:
    cancelled = an_order(status=OrderStatus.CANCELLED, updated_at=NOW - timedelta(minutes=1))
    assert belongs_on_board(cancelled, NOW)
    assert pickup_column(cancelled, NOW) is None


async def test_columns_show_channel_ids_in_brand_colour_soonest_pickup_first(
    client: httpx.AsyncClient, pickup_screen: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    await client.put("/api/brands/brand-burgers", json={"name": "Burger Bros", "colour": "#e4572e"})
    later = await create_order(client, pickupTime="2026-03-02T10:40:00Z")
    sooner = await create_order(client, pickupTime="2026-03-02T10:20:00Z")
    started = await create_order(client, pickupTime="2026-03-02T10:30:00Z")
    await tap_item(tablet, started["id"], 1)
    ready = await create_order(client, pickupTime="2026-03-02T10:25:00Z")
    await set_order(client, ready["id"], "READY")
    gone = await create_order(client)
    await set_order(client, gone["id"], "READY")
    await set_order(client, gone["id"], "PICKED_UP")
    cancelled = await create_order(client)
    await set_order(client, cancelled["id"], "CANCELLED")

    page = (await pickup_screen.get("/pickup/columns")).text
    assert column(page, "preparing") == [sooner["channelOrderId"], started["channelOrderId"], later["channelOrderId"]]
    assert column(page, "ready") == [ready["channelOrderId"]]
    assert brand_class("brand-burgers") in entry(page, ready["id"])
    assert "Burger Bros" in page
    # The boards still strike the cancellation through for the cooks; couriers never see it.
    assert cancelled["id"] in (await tablet.get("/board/tickets")).text
    assert cancelled["channelOrderId"] not in page
    assert gone["channelOrderId"] not in page


async def test_the_screen_shows_no_customer_name_and_no_items(
    client: httpx.AsyncClient, pickup_screen: httpx.AsyncClient
) -> None:
    order = await create_order(client, note="Ring twice, Aino", allergens=["sesame"])
    await create_order(client)
    ready = await create_order(client)
    await set_order(client, ready["id"], "READY")
    for path in ("/pickup", "/pickup/columns"):
        page = (await pickup_screen.get(path)).text
        assert order["channelOrderId"] in page
        for private in (CUSTOMER, "Aino", "+358401234567", "Huuvatie", "Ring twice", "sesame", "BB-1", *ITEM_NAMES):
            assert private not in page, (path, private)


async def test_every_entry_carries_its_orders_version(
    client: httpx.AsyncClient, pickup_screen: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    await set_order(client, order["id"], "READY")
    shown = entry((await pickup_screen.get("/pickup/columns")).text, order["id"])
    assert f'data-version="{await stored_version(engine, order["id"])}"' in shown
    assert 'data-column="ready"' in shown


async def test_the_page_loads_its_script_and_brand_colours_and_nothing_inline(pickup_screen: httpx.AsyncClient) -> None:
    page = (await pickup_screen.get("/pickup")).text
    assert '<script src="/static/js/pickup.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/board/brands.css">' in page
    assert 'hx-sse:connect="/pickup/stream"' in page
    assert "style=" not in page
    assert not re.search(r"\son[a-z]+=", page)
    assert (await pickup_screen.get("/static/js/pickup.js")).status_code == 200
    assert (await pickup_screen.get("/board/brands.css")).status_code == 200


# ---- live, from the boards' hub ----


async def listening_hub(app: Litestar) -> BoardHub:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    return hub


async def test_a_bump_reaches_the_pickup_screen_and_a_pickup_takes_the_order_off(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    hub = await listening_hub(app)
    order = await create_order(client)
    screen, board = hub.pickup_stream(), hub.stream(Station())
    try:
        resync = await next_event(screen)
        assert resync.event == "resync"
        assert column(str(resync.data), "preparing") == [order["channelOrderId"]]
        await next_event(board)

        assert (await tap(tablet, order["id"], "bump")).status_code == 200
        ready = await next_event_where(screen, lambda event: 'data-column="preparing"' not in str(event.data))
        assert ready.event == "pickup"
        assert 'data-column="ready"' in str(ready.data)
        bumped = await stored_version(engine, order["id"])
        assert f'data-version="{bumped}"' in str(ready.data)
        # The board hears the same change.
        assert "section-ready" in str((await next_event_where(board, lambda e: e.event == "ticket")).data)

        assert (await tap(tablet, order["id"], "pickup")).status_code == 200
        gone = await next_event(screen)
        assert gone.event == "pickup-gone"
        assert json.loads(str(gone.data)) == {"orderId": order["id"], "version": bumped + 1}
    finally:
        await screen.aclose()
        await board.aclose()
    assert hub.pickup_screens == set()
    assert hub.boards == set()


async def test_each_event_is_newer_than_the_last(app: Litestar, client: httpx.AsyncClient) -> None:
    """The script keeps whichever entry has the higher version; the hub's events climb."""
    hub = await listening_hub(app)
    screen = hub.pickup_stream()
    try:
        await next_event(screen)
        order = await create_order(client)
        await next_event(screen)
        versions = []
        for status in ("PREPARING", "READY", "PREPARING", "READY"):
            await set_order(client, order["id"], status)
            event = await next_event(screen)
            found = re.search(r'data-version="(\d+)"', str(event.data))
            assert found is not None
            versions.append(int(found.group(1)))
    finally:
        await screen.aclose()
    assert versions == sorted(set(versions))


async def test_a_cancellation_takes_the_order_off_the_screen(app: Litestar, client: httpx.AsyncClient) -> None:
    hub = await listening_hub(app)
    order = await create_order(client)
    screen = hub.pickup_stream()
    try:
        await next_event(screen)
        await set_order(client, order["id"], "CANCELLED")
        gone = await next_event_where(screen, lambda event: event.event != "pickup")
        assert (gone.event, json.loads(str(gone.data))["orderId"]) == ("pickup-gone", order["id"])
    finally:
        await screen.aclose()


async def test_an_unpaired_pickup_screens_stream_ends(
    app: Litestar, client: httpx.AsyncClient, manager: httpx.AsyncClient
) -> None:
    hub = await listening_hub(app)
    device = await pair_pickup_screen(app, "Door")
    async with app.state.sessions() as session:
        _, opened = await Credentials(session).open_session(device)
    screen = hub.pickup_stream(opened.session_id)
    try:
        assert (await next_event(screen)).event == "resync"
        unpaired = await manager.post(f"/manage/tablets/{device.id}/unpair")
        assert unpaired.status_code in (302, 303)
        assert (await next_event(screen)).event == "signed-out"
        with pytest.raises(StopAsyncIteration):
            await next_event(screen)
    finally:
        await screen.aclose()
    assert hub.pickup_screens == set()


async def test_a_pickup_screens_stream_checks_its_session_at_each_ping(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """Should the unpairing's notice be lost, the ping finds the session over."""
    hub = await listening_hub(app)
    asked: list[bool] = []

    async def signed_in() -> bool:
        asked.append(True)
        return False

    screen = hub.pickup_stream(None, signed_in)
    try:
        await next_event(screen)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("kitchen.board.live.PING_SECONDS", 0.05)
            assert (await next_event(screen)).event == "signed-out"
    finally:
        await screen.aclose()
    assert asked == [True]


async def test_a_stopping_server_tells_pickup_screens_to_reconnect(app: Litestar, client: httpx.AsyncClient) -> None:
    hub = await listening_hub(app)
    screen = hub.pickup_stream()
    try:
        await next_event(screen)
        hub.server_stopping()
        assert (await next_event(screen)) is GOING_AWAY
        with pytest.raises(StopAsyncIteration):
            await next_event(screen)
        # One that connects now hears it at once.
        assert await anext(hub.pickup_stream()) is GOING_AWAY
    finally:
        await screen.aclose()


async def test_pickup_screens_share_one_render_per_change(app: Litestar, client: httpx.AsyncClient) -> None:
    hub = await listening_hub(app)
    screens = [hub.pickup_stream() for _ in range(3)]
    try:
        for screen in screens:
            await next_event(screen)
        order = await create_order(client)
        events = [await next_event(screen) for screen in screens]
        assert {event.event for event in events} == {"pickup"}
        assert events[0] is events[1] is events[2]  # one message object, rendered once
        assert order["channelOrderId"] in str(events[0].data)
    finally:
        for screen in screens:
            await screen.aclose()


async def test_a_pickup_screen_that_cannot_keep_up_is_cut_off(app: Litestar, client: httpx.AsyncClient) -> None:
    """As a board is: it reconnects and resyncs rather than falling ever further behind."""
    hub = await listening_hub(app)
    screen = hub.pickup_stream()
    try:
        await next_event(screen)
        (connection,) = hub.pickup_screens
        for _ in range(connection.queue.maxsize + 1):
            connection.send([ServerSentEventMessage(event="pickup", data="")])
        with pytest.raises(StopAsyncIteration):
            await next_event(screen)
    finally:
        await screen.aclose()
