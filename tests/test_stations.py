"""Station boards: each station sees only its lines, in start-by order; expo sees whole tickets.

The clock stands at 10:00 UTC (12:00 in the kitchen, Europe/Helsinki); the orders are picked up
at 10:30 UTC unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.app import create_app
from kitchen.auth.service import Credentials, Principal
from kitchen.board.live import BoardHub
from kitchen.board.station import Station
from kitchen.settings import Settings
from tests.conftest import FakeClock, browser_client
from tests.helpers import create_order, row_counts
from tests.test_board import next_event, tap, tap_item, ticket_ids

pytestmark = pytest.mark.anyio

# BB-3 (Lemonade) is on no menu: it goes to `unassigned`, on every station board.
MENU = [
    {"plu": "BB-1", "name": "Hawaii Burger", "station": "grill", "prepSeconds": 480},
    {"plu": "BB-2", "name": "Fries", "station": "fryer", "prepSeconds": 240},
]


@pytest.fixture
async def menu(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/brands/brand-burgers/menu", json=MENU)
    assert response.status_code == 200, response.text


async def board(tablet: httpx.AsyncClient, **params: Any) -> str:
    response = await tablet.get("/board", params=params)
    assert response.status_code == 200, response.text
    return response.text


def items_of(page: str) -> list[str]:
    """The item names on a page, in the order shown."""
    return re.findall(r'<span class="name">([^<]+)<', page.split('id="all-day"', 1)[0])


def open_part(page: str) -> str:
    return page.split('id="tickets-open"', 1)[1].split('id="tickets-ready"', 1)[0]


async def set_line(client: httpx.AsyncClient, order_id: str, line: int, status: str) -> None:
    """The line is taken to `status` one step at a time, as the rules ask."""
    for step in ("PREPARING", "READY")[: ("PREPARING", "READY").index(status) + 1]:
        response = await client.patch(f"/api/orders/{order_id}/lines/{line}/status", json={"status": step})
        assert response.status_code == 200, response.text


async def test_a_station_board_shows_only_its_lines_and_the_unassigned_ones(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    await create_order(client)
    grill = await board(tablet, station="grill")
    fryer = await board(tablet, station="fryer")
    assert items_of(grill) == ["Hawaii Burger", "Lemonade"]
    assert items_of(fryer) == ["Fries", "Lemonade"]
    # The unassigned line says so, so a cook knows to ask for it to be mapped.
    assert grill.count('class="station-tag">unassigned<') == 1
    assert 'aria-current="page">Grill<' in grill


async def test_a_station_nobody_routes_to_shows_only_unassigned_lines(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    await create_order(client)
    assert items_of(await board(tablet, station="pastry")) == ["Lemonade"]


async def test_a_ticket_with_nothing_for_a_station_is_not_on_its_board(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    fries_only = await create_order(client, items=[{"plu": "BB-2", "name": "Fries", "quantity": 1}])
    burger = await create_order(client, items=[{"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1}])
    assert ticket_ids(await board(tablet, station="grill")) == [burger["id"]]
    assert ticket_ids(await board(tablet, station="fryer")) == [fries_only["id"]]


async def test_a_station_card_carries_its_tickets_context(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    await client.put("/api/brands/brand-burgers", json={"name": "Burger Bros", "colour": "#E4572E"})
    order = await create_order(client)
    grill = await board(tablet, station="grill")
    assert ">Burger Bros<" in grill
    assert order["channelOrderId"] in grill
    assert 'title="Pickup time">12:30<' in grill
    assert "0 of 1 item ready elsewhere" in grill
    await set_line(client, order["id"], 2, "READY")
    assert "1 of 1 item ready elsewhere" in await board(tablet, station="grill")
    # Fryer's card: the burger elsewhere is not ready; the lemonade is on this board too.
    assert "0 of 1 item ready elsewhere" in await board(tablet, station="fryer")


async def test_a_station_board_sorts_its_cards_by_start_by_not_by_pickup(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    # Picked up first, but a drink with no prep time: it starts by its pickup, 10:30.
    drink = await create_order(
        client, pickupTime="2026-03-02T10:30:00Z", items=[{"plu": "BB-3", "name": "Lemonade", "quantity": 1}]
    )
    # Picked up later, but 8 min on the grill and 2 to pack: it starts by 10:25.
    burger = await create_order(
        client, pickupTime="2026-03-02T10:35:00Z", items=[{"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1}]
    )
    assert ticket_ids(await board(tablet, station="grill")) == [burger["id"], drink["id"]]
    assert ticket_ids(await board(tablet)) == [drink["id"], burger["id"]]  # expo: by pickup


async def test_start_by_is_pickup_minus_prep_minus_packing_and_reads_as_the_cook_says_it(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock, menu: None
) -> None:
    await create_order(client)  # pickup 10:30 UTC, 12:30 in the kitchen
    grill = await board(tablet, station="grill")
    # The burger: 10:30 - 480 s - 120 s = 10:20 UTC. The lemonade has no prep time: its pickup.
    assert re.findall(r'data-start-label data-start-local="([^"]+)">([^<]+)<', grill) == [
        ("12:20", "start 12:20"),
        ("12:30", "start 12:30"),
    ]
    assert 'data-start-by="2026-03-02T10:20:00+00:00"' in grill
    clock.advance(20 * 60 + 30)  # 10:20:30
    assert "start now" in await board(tablet, station="grill")
    clock.advance(2 * 60 + 40)  # 10:23:10
    grill = await board(tablet, station="grill")
    assert ">3 min behind<" in grill
    assert grill.count("is-behind") == 1  # the burger should have started; the lemonade not yet


async def test_the_packing_time_is_a_setting(
    database_url: str, clock: FakeClock, client: httpx.AsyncClient, menu: None
) -> None:
    await create_order(client)
    settings = Settings(database_url=database_url, secret_key="test-secret-" + "k" * 40, pack_seconds=0)
    app = create_app(settings, clock=clock)
    async with app.lifespan():
        async with app.state.sessions() as session:
            record = await Credentials(session).create_manager("pack-manager", "a long enough password")
        http = await browser_client(app, Principal("manager", record.id, record.username), "/board")
        try:
            grill = (await http.get("/board", params={"station": "grill"})).text
        finally:
            await http.aclose()
    assert 'data-start-local="12:22">start 12:22<' in grill


async def test_a_started_line_shows_no_start_by(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    order = await create_order(client, items=[{"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1}])
    await set_line(client, order["id"], 1, "PREPARING")
    assert "data-start-by" not in await board(tablet, station="grill")


async def test_a_tap_on_a_station_board_changes_that_line_and_answers_with_the_stations_card(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine, menu: None
) -> None:
    order = await create_order(client)
    grill = await board(tablet, station="grill")
    tap_url = re.search(r'hx-post="(/board/orders/[^"]+/lines/1/advance[^"]*)"', grill)
    assert tap_url is not None
    assert tap_url.group(1).endswith("?from=ORDERED&amp;station=grill")
    answer = await tablet.post(tap_url.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert answer.status_code == 200, answer.text
    assert 'data-station="grill"' in answer.text
    assert items_of(answer.text) == ["Hawaii Burger", "Lemonade"]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT i.plu, i.status, e.status, e.source FROM order_items i"
                " JOIN item_status_events e ON e.item_id = i.id WHERE i.order_id = :id ORDER BY i.id, e.id"
            ),
            {"id": order["id"]},
        )
        history = [tuple(row) for row in rows]
    assert history == [
        ("BB-1", "PREPARING", "ORDERED", "api"),
        ("BB-1", "PREPARING", "PREPARING", "board"),
        ("BB-2", "ORDERED", "ORDERED", "api"),
        ("BB-3", "ORDERED", "ORDERED", "api"),
    ]


async def test_a_station_card_has_no_expo_actions(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    order = await create_order(client)
    assert "/bump" not in await board(tablet, station="grill")
    assert f"/board/orders/{order['id']}/bump" in await board(tablet)


async def test_a_station_card_waits_aside_once_its_lines_are_ready(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    order = await create_order(client, items=MENU_ITEMS_FOR_TWO_STATIONS)
    await set_line(client, order["id"], 1, "READY")
    grill = await board(tablet, station="grill")
    assert order["id"] not in open_part(grill)
    assert order["id"] in grill.split('id="tickets-ready"', 1)[1]
    assert ">Done here<" in grill
    # Expo still has the ticket open: the fries are not ready.
    assert order["id"] in open_part(await board(tablet))


MENU_ITEMS_FOR_TWO_STATIONS = [
    {"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1},
    {"plu": "BB-2", "name": "Fries", "quantity": 1},
]


async def test_expo_shows_the_whole_ticket_with_each_stations_progress(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    order = await create_order(client)
    await set_line(client, order["id"], 2, "READY")
    expo = await board(tablet)
    assert items_of(expo) == ["Hawaii Burger", "Fries", "Lemonade"]
    progress = re.findall(r'<li class="(is-done|)">([^<]+)</li>', expo)
    assert progress == [("is-done", "fryer 1/1 ✓"), ("", "grill 0/1"), ("", "unassigned 0/1")]  # by name
    # Expo tags each routed line with its station; an unrouted line carries none (its chip says it).
    assert re.findall(r'class="station-tag">([^<]+)<', expo) == ["grill", "fryer"]
    assert expo == await board(tablet, station="expo")


async def test_brand_filters_combine_with_stations(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    burgers = await create_order(client)
    sushi = await create_order(client, brandId="brand-sushi")  # no menu: every line unassigned
    assert ticket_ids(await board(tablet, station="grill", brand="brand-sushi")) == [sushi["id"]]
    assert sorted(ticket_ids(await board(tablet, station="grill"))) == sorted([burgers["id"], sushi["id"]])
    page = await board(tablet, station="grill", brand="brand-sushi")
    # Bookmarkable: the stream, the poll and the links all keep both.
    assert 'hx-sse:connect="/board/stream?brand=brand-sushi&amp;station=grill"' in page
    assert 'data-tickets-url="/board/tickets?brand=brand-sushi&amp;station=grill"' in page


async def test_a_menu_change_reroutes_the_open_lines(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    await create_order(client)
    moved = [MENU[0], {**MENU[1], "station": "grill"}, {"plu": "BB-3", "name": "Lemonade", "station": "drinks"}]
    assert (await client.put("/api/brands/brand-burgers/menu", json=moved)).status_code == 200
    assert items_of(await board(tablet, station="grill")) == ["Hawaii Burger", "Fries"]
    assert items_of(await board(tablet, station="drinks")) == ["Lemonade"]


async def test_all_day_counts_only_the_stations_lines(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    await create_order(client)
    await create_order(client)
    all_day = (await board(tablet, station="fryer")).split('id="all-day"', 1)[1]
    rows = re.findall(r'<td class="qty">(\d+)</td><td class="name">([^<]+)</td>', all_day)
    assert rows == [("4", "Fries"), ("2", "Lemonade")]


@pytest.mark.parametrize("station", ["Grill", "grill!", "g" * 41, "-grill", "grill\n"])
async def test_a_board_for_a_name_no_station_could_have_is_refused(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine, station: str
) -> None:
    order = await create_order(client)
    before = await row_counts(engine)
    for response in (
        await tablet.get("/board", params={"station": station}),
        await tablet.get("/board/tickets", params={"station": station}),
        await tablet.get("/board/stream", params={"station": station}),
        await tablet.post(
            f"/board/orders/{order['id']}/lines/1/advance",
            params={"station": station},
            headers={"HX-Request": "true"},
        ),
    ):
        assert response.status_code == 400, response.text
        assert "station" in response.text
        assert "Traceback" not in response.text
    assert await row_counts(engine) == before


async def test_a_change_reaches_each_station_board_as_that_stations_card(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    boards = {name: hub.stream(Station.of(None, name)) for name in ("grill", "fryer", "expo")}
    try:
        for stream in boards.values():
            assert (await next_event(stream)).event == "resync"
        order = await create_order(client, items=MENU_ITEMS_FOR_TWO_STATIONS)
        cards = {name: await next_event(stream) for name, stream in boards.items()}
        assert items_of(str(cards["grill"].data)) == ["Hawaii Burger"]
        assert items_of(str(cards["fryer"].data)) == ["Fries"]
        assert items_of(str(cards["expo"].data)) == ["Hawaii Burger", "Fries"]
        for name, stream in boards.items():
            assert (await next_event(stream)).event == "all-day", name
        await tap_item(tablet, order["id"], 1)
        await tap_item(tablet, order["id"], 1)
        # Both taps reach every board; after the second the fryer knows its burger is ready.
        cards = {name: await last_ticket(stream, changes=2) for name, stream in boards.items()}
        assert "1 of 1 item ready elsewhere" in str(cards["fryer"].data)
        assert "grill 1/1" in str(cards["expo"].data)
        # A fries-only order is nothing for the grill: its board is told it is not there.
        fries = await create_order(client, items=[{"plu": "BB-2", "name": "Fries", "quantity": 1}])
        gone = await last_ticket(boards["grill"], changes=1)
        assert (gone.event, gone.data) == ("ticket-gone", fries["id"])
        assert fries["id"] in str((await last_ticket(boards["fryer"], changes=1)).data)
    finally:
        for stream in boards.values():
            await stream.aclose()


async def last_ticket(stream: Any, changes: int) -> Any:
    """The ticket event of the last of `changes` changes (each sends a ticket, then the all-day)."""
    ticket = None
    for _ in range(changes):
        ticket = await next_event(stream)
        assert ticket.event in ("ticket", "ticket-gone"), ticket
        assert (await next_event(stream)).event == "all-day"
    return ticket


async def test_a_station_tap_that_is_refused_answers_with_the_stations_card(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, menu: None
) -> None:
    order = await create_order(client)
    await set_line(client, order["id"], 1, "READY")
    refused = await tap(tablet, order["id"], "lines/1/advance?station=grill")
    assert refused.status_code == 409
    assert 'data-station="grill"' in refused.text
    assert "Fries" not in refused.text
