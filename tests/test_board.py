"""The cook board through HTTP: page, station filter, every tap, refusals, undo, all-day, live fan-out."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.response import ServerSentEventMessage
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.board.live import BoardHub
from kitchen.board.station import Station
from tests.conftest import FakeClock
from tests.helpers import create_order, item, row_counts, set_order, statuses

pytestmark = pytest.mark.anyio


async def tap(client: httpx.AsyncClient, order_id: str, action: str) -> httpx.Response:
    return await client.post(f"/board/orders/{order_id}/{action}", headers={"HX-Request": "true"})


async def tap_item(client: httpx.AsyncClient, order_id: str, line: int) -> httpx.Response:
    return await tap(client, order_id, f"lines/{line}/advance")


async def get_order(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/orders/{order_id}")).json()
    return body


def ticket_ids(page: str) -> list[str]:
    return re.findall(r'data-order-id="([^"]+)"', page)


async def test_root_leads_to_the_board(client: httpx.AsyncClient) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code in (301, 302, 303, 307, 308)
    assert response.headers["location"] == "/board"


async def test_board_shows_open_tickets_soonest_pickup_first(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    late = await create_order(client, pickupTime="2026-03-02T11:00:00Z")
    soon = await create_order(client, pickupTime="2026-03-02T10:20:00Z")
    done = await create_order(client)
    await set_order(client, done["id"], "READY")
    await set_order(client, done["id"], "PICKED_UP")
    page = (await tablet.get("/board")).text
    assert ticket_ids(page) == [soon["id"], late["id"]]
    assert soon["channelOrderId"] in page
    assert "Aino Virtanen" in page
    assert 'title="Pickup time">12:20<' in page  # Europe/Helsinki, the kitchen's time zone


async def test_ticket_shows_the_brand_name_and_colour_from_the_catalog(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    assert (
        await client.put("/api/brands/brand-burgers", json={"name": "Burger Bros", "colour": "#E4572E"})
    ).status_code == 201
    await create_order(client)
    page = (await tablet.get("/board")).text
    badge = re.search(r'class="brand-badge (brand-[0-9a-f]+)">Burger Bros<', page)
    assert badge is not None
    css = (await tablet.get("/board/brands.css")).text
    assert f".{badge.group(1)} {{ background-color: #e4572e;" in css


async def test_station_shows_only_its_brands(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    burgers = await create_order(client, brandId="brand-burgers")
    sushi = await create_order(client, brandId="brand-sushi")
    pizza = await create_order(client, brandId="brand-pizza")
    one = (await tablet.get("/board", params={"brand": "brand-sushi"})).text
    two = (await tablet.get("/board", params={"brand": ["brand-sushi", "brand-pizza"]})).text
    assert ticket_ids(one) == [sushi["id"]]
    assert sorted(ticket_ids(two)) == sorted([sushi["id"], pizza["id"]])
    assert burgers["id"] not in two
    # The station is in the stream and poll URLs, so a bookmarked tablet keeps it.
    assert 'hx-sse:connect="/board/stream?brand=brand-pizza&amp;brand=brand-sushi"' in two


async def test_tapping_an_item_moves_it_one_step(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await create_order(client)
    first = await tap_item(tablet, order["id"], 1)
    assert first.status_code == 200
    assert "status-PREPARING" in first.text
    clock.advance(30)
    second = await tap_item(tablet, order["id"], 1)
    assert "status-READY" in second.text
    burger = item(await get_order(client, order["id"]), "BB-1")
    assert statuses(burger["statusHistory"]) == ["ORDERED", "PREPARING", "READY"]
    assert [e["source"] for e in burger["statusHistory"]] == ["api", "board", "board"]
    # Every change names who made it: the integration, then the tablet.
    assert [e["actor"] for e in burger["statusHistory"]] == [
        "api-key:test-channel",
        "tablet:Grill tablet",
        "tablet:Grill tablet",
    ]


async def test_tapping_a_ready_item_is_refused_on_the_ticket(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    await tap_item(tablet, order["id"], 1)
    await tap_item(tablet, order["id"], 1)
    before = await row_counts(engine)
    refused = await tap_item(tablet, order["id"], 1)
    assert refused.status_code == 409
    assert 'class="ticket-message" role="alert"' in refused.text
    assert "already ready" in refused.text
    assert await row_counts(engine) == before


async def test_bump_moves_the_ticket_to_ready(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    order = await create_order(client)
    response = await tap(tablet, order["id"], "bump")
    assert response.status_code == 200
    assert 'data-section="ready"' in response.text
    assert (await get_order(client, order["id"]))["status"] == "READY"
    page = (await tablet.get("/board")).text
    ready_part = page.split('id="tickets-ready"', 1)[1]
    assert order["id"] in ready_part


async def test_picked_up_clears_the_ticket(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    order = await create_order(client)
    await tap(tablet, order["id"], "bump")
    response = await tap(tablet, order["id"], "pickup")
    assert (response.status_code, response.text) == (200, "")
    assert order["id"] not in ticket_ids((await tablet.get("/board")).text)
    assert (await get_order(client, order["id"]))["status"] == "PICKED_UP"


async def test_pickup_before_ready_is_refused(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    before = await row_counts(engine)
    response = await tap(tablet, order["id"], "pickup")
    assert response.status_code == 409
    assert "only a READY order can be picked up" in response.text
    assert await row_counts(engine) == before


async def test_bumped_order_can_be_recalled(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    order = await create_order(client)
    await tap(tablet, order["id"], "bump")
    response = await tap(tablet, order["id"], "recall")
    assert response.status_code == 200
    assert 'data-section="open"' in response.text
    assert (await get_order(client, order["id"]))["status"] == "PREPARING"


async def test_cancelled_order_stays_struck_through_until_acknowledged(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    order = await create_order(client)
    await set_order(client, order["id"], "CANCELLED")
    page = (await tablet.get("/board")).text
    assert 'data-section="cancelled"' in page
    assert "Cancelled: do not cook" in page
    response = await tap(tablet, order["id"], "acknowledge")
    assert (response.status_code, response.text) == (200, "")
    assert order["id"] not in (await tablet.get("/board")).text


async def test_all_day_sums_what_is_not_ready_for_the_station(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    first = await create_order(client)  # BB-1 x1, BB-2 x2, BB-3 x1
    await create_order(client, items=[{"plu": "BB-2", "name": "Fries", "quantity": 3}])
    await create_order(client, brandId="brand-other", items=[{"plu": "BB-2", "name": "Fries", "quantity": 5}])
    await tap_item(tablet, first["id"], 3)
    await tap_item(tablet, first["id"], 3)  # ready: no longer counted
    page = (await tablet.get("/board", params={"brand": "brand-burgers"})).text
    all_day = page.split('id="all-day"', 1)[1]
    rows = re.findall(r'<td class="qty">(\d+)</td><td class="name">([^<]+)</td><td class="plu">([^<]+)</td>', all_day)
    assert rows == [("5", "Fries", "BB-2"), ("1", "Hawaii Burger", "BB-1")]


async def test_poll_fallback_returns_the_whole_board(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    order = await create_order(client)
    fragment = (await tablet.get("/board/tickets")).text
    assert order["id"] in fragment
    assert "<html" not in fragment


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "colour": "#ffffff"}, "name"),
        ({"name": "X", "colour": "red"}, "colour"),
        ({"name": "X"}, "colour"),
    ],
)
async def test_bad_brand_is_rejected(client: httpx.AsyncClient, body: dict[str, str], field: str) -> None:
    response = await client.put("/api/brands/b1", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert (await client.get("/api/brands")).json() == []


async def test_brand_catalog_is_replaced_by_put(client: httpx.AsyncClient) -> None:
    await client.put("/api/brands/b2", json={"name": "Sushi", "colour": "#17bebb"})
    again = await client.put("/api/brands/b2", json={"name": "Sushi Society", "colour": "#17BEBB"})
    await client.put("/api/brands/b1", json={"name": "Burger Bros", "colour": "#e4572e"})
    assert again.status_code == 200
    assert (await client.get("/api/brands")).json() == [
        {"id": "b1", "name": "Burger Bros", "colour": "#e4572e"},
        {"id": "b2", "name": "Sushi Society", "colour": "#17bebb"},
    ]


# ---- live fan-out through Litestar's channels (memory on SQLite, LISTEN/NOTIFY on PostgreSQL) ----


async def next_event(stream: Any) -> ServerSentEventMessage:
    async with asyncio.timeout(5):
        message: ServerSentEventMessage = await anext(stream)
        while message.event == "ping":
            message = await anext(stream)
    return message


async def test_two_boards_both_hear_one_change(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    first, second = hub.stream(Station()), hub.stream(Station())
    try:
        assert (await next_event(first)).event == "resync"
        assert (await next_event(second)).event == "resync"
        order = await create_order(client)
        for board in (first, second):
            ticket = await next_event(board)
            assert ticket.event == "ticket"
            assert order["id"] in str(ticket.data)
            assert (await next_event(board)).event == "all-day"
        await tap_item(tablet, order["id"], 1)
        for board in (first, second):
            ticket = await next_event(board)
            assert "status-PREPARING" in str(ticket.data)
            await next_event(board)
    finally:
        await first.aclose()
        await second.aclose()
    assert hub.boards == set()


async def test_a_station_does_not_hear_other_brands(app: Litestar, client: httpx.AsyncClient) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    sushi = hub.stream(Station.of(["brand-sushi"]))
    try:
        await next_event(sushi)
        await create_order(client, brandId="brand-burgers")
        mine = await create_order(client, brandId="brand-sushi")
        ticket = await next_event(sushi)
        assert mine["id"] in str(ticket.data)
    finally:
        await sushi.aclose()


async def test_a_finished_ticket_is_removed_from_every_board(app: Litestar, client: httpx.AsyncClient) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    order = await create_order(client)
    await set_order(client, order["id"], "READY")
    board = hub.stream(Station())
    try:
        assert order["id"] in str((await next_event(board)).data)
        await set_order(client, order["id"], "PICKED_UP")
        # The READY change may still be on its way to this board; the pickup follows it.
        gone = await next_event(board)
        while gone.event != "ticket-gone":
            gone = await next_event(board)
        assert gone.data == order["id"]
    finally:
        await board.aclose()


async def test_a_tap_sent_twice_advances_once(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    """A tablet that lost the answer sends its tap again: the item moves one step, not two."""
    order = await create_order(client)
    tap = f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED"
    assert (await tablet.post(tap)).status_code == 200
    again = await tablet.post(tap)
    assert again.status_code == 200
    fetched = (await client.get(f"/api/orders/{order['id']}")).json()
    assert [e["status"] for e in fetched["items"][0]["statusHistory"]] == ["ORDERED", "PREPARING"]
    assert "/lines/1/advance?from=PREPARING" in again.text, "the ticket offers the next step"


async def test_a_bump_or_a_recall_sent_twice_does_no_harm(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    order = await create_order(client)
    for _ in range(2):
        assert (await tablet.post(f"/board/orders/{order['id']}/bump")).status_code == 200
    assert (await tablet.post(f"/board/orders/{order['id']}/recall")).status_code == 200
    assert (await tablet.post(f"/board/orders/{order['id']}/recall")).status_code == 409
    fetched = (await client.get(f"/api/orders/{order['id']}")).json()
    assert [e["status"] for e in fetched["statusHistory"]] == ["RECEIVED", "READY", "PREPARING"]
