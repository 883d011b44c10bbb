"""The boards' Recent list and bringing a finished order back, through HTTP as a board uses it.

Plain form posts (they must work without script), the history and the analytics checked after,
the live boards listening, and the same bring-back sent at once from eight connections.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.auth.guards import CSRF_COOKIE
from kitchen.board.live import BoardHub
from kitchen.board.station import Station
from tests.conftest import FakeClock, browser_client
from tests.helpers import create_order, item, live_order_payload, row_counts, set_item, set_order, statuses
from tests.history import history_faults, summaries_and_recomputation
from tests.live_server import LiveServer, new_api_key, paired_tablet_cookies, wipe_database
from tests.test_board import next_event
from tests.test_pickup import pair_pickup_screen
from tests.test_undo import run_sql

pytestmark = pytest.mark.anyio

REASON = "Courier came back: wrong bag"


def bring_back_url(order_id: str) -> str:
    return f"/board/orders/{order_id}/bring-back"


async def bring_back(board: httpx.AsyncClient, order_id: str, reason: str = REASON) -> httpx.Response:
    """The Recent page's form, posted as a browser without script posts it."""
    return await board.post(bring_back_url(order_id), data={"reason": reason})


async def order_of(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/orders/{order_id}")).json()
    return body


async def picked_up(client: httpx.AsyncClient, tablet: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """An order bumped and handed to a courier on the board."""
    order = await create_order(client, **overrides)
    for action in ("bump", "pickup"):
        assert (await tablet.post(f"/board/orders/{order['id']}/{action}")).status_code == 200
    return order


def listed(page: str) -> list[str]:
    """The channel order ids on the Recent page, in order."""
    return re.findall(r'class="channel-id">([^<]+)<', page)


async def test_recent_lists_orders_finished_in_the_last_30_minutes_newest_first(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.put("/api/brands/brand-burgers", json={"name": "Burger Bros", "colour": "#e4572e"})
    too_old = await picked_up(client, tablet, channelOrderId="OLD-1")
    clock.advance(60)
    await picked_up(client, tablet, channelOrderId="PICKED-1")
    clock.advance(1)
    cancelled = await create_order(client, channelOrderId="CANCELLED-1")
    await set_order(client, cancelled["id"], "CANCELLED")
    await create_order(client, channelOrderId="OPEN-1")
    # A channel may report the order picked up already; here it starts RECEIVED, and is open.
    reported = [{"status": "PICKED_UP", "timestamp": "2026-03-02T09:59:00Z"}]
    await create_order(client, channelOrderId="REPORTED-1", statusHistory=reported)
    await set_order(client, (await create_order(client, channelOrderId="READY-1"))["id"], "READY")
    clock.advance(29 * 60 + 1)  # OLD-1 was picked up 30 min 2 s ago, PICKED-1 29 min 2 s ago

    page = await tablet.get("/board/recent")
    assert page.status_code == 200
    assert listed(page.text) == ["CANCELLED-1", "PICKED-1"]
    assert "OLD-1" not in page.text
    assert too_old["id"] not in page.text
    text = html.unescape(page.text)
    assert "picked up 12:01, 29 min ago" in text  # 10:01 UTC is 12:01 in Helsinki
    assert "cancelled 12:01, 29 min ago" in text
    assert "by tablet:Grill tablet" in text
    assert "by api-key:test-channel" in text
    assert "Burger Bros" in text
    assert text.count('name="reason"') == 2
    assert text.count(">Bring back</button>") == 2


async def test_the_list_is_by_when_an_order_became_final_not_its_last_change(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock
) -> None:
    cancelled = await create_order(client, channelOrderId="SEEN-1")
    await set_order(client, cancelled["id"], "CANCELLED")
    clock.advance(31 * 60)
    await tablet.post(f"/board/orders/{cancelled['id']}/acknowledge")  # moves updated_at, not the cancellation
    assert listed((await tablet.get("/board/recent")).text) == []


async def test_the_expo_board_links_to_recent(tablet: httpx.AsyncClient) -> None:
    assert 'href="/board/recent">Recent</a>' in (await tablet.get("/board")).text


async def test_a_picked_up_order_comes_back_ready_with_the_reason_in_its_history(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await picked_up(client, tablet)
    clock.advance(7 * 60)
    answer = await bring_back(tablet, order["id"], f"  {REASON}  ")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/board/recent?back={order['id']}"
    page = await tablet.get(answer.headers["location"])
    assert f"{order['channelOrderId']} is back on the boards: READY." in page.text
    assert order["channelOrderId"] not in listed(page.text)

    back = await order_of(client, order["id"])
    assert back["status"] == "READY"
    assert [line["status"] for line in back["items"]] == ["READY"] * 3
    assert statuses(back["statusHistory"]) == ["RECEIVED", "READY", "PICKED_UP", "READY"]
    last = back["statusHistory"][-1]
    assert (last["source"], last["actor"], last["reason"]) == ("board", "tablet:Grill tablet", REASON)
    assert [entry["reason"] for entry in back["statusHistory"][:-1]] == [None, None, None]
    assert all(entry["reason"] is None for line in back["items"] for entry in line["statusHistory"])
    assert order["id"] in (await tablet.get("/board")).text, "it is on the board again, ready for pickup"


async def test_a_cancelled_order_comes_back_with_each_item_as_it_was_before_the_cancellation(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await create_order(client)
    await set_item(client, order["id"], "BB-1", "PREPARING")
    await set_item(client, order["id"], "BB-1", "READY")
    await set_item(client, order["id"], "BB-2", "PREPARING")
    clock.advance(60)
    await set_order(client, order["id"], "CANCELLED")  # BB-1 stays READY; BB-2 and BB-3 are cancelled
    clock.advance(60)
    assert (await bring_back(manager, order["id"])).status_code == 303

    back = await order_of(client, order["id"])
    assert back["status"] == "PREPARING"
    assert [line["status"] for line in back["items"]] == ["READY", "PREPARING", "ORDERED"]
    assert statuses(item(back, "BB-2")["statusHistory"]) == ["ORDERED", "PREPARING", "CANCELLED", "PREPARING"]
    assert statuses(item(back, "BB-1")["statusHistory"]) == ["ORDERED", "PREPARING", "READY"]
    last = back["statusHistory"][-1]
    assert (last["status"], last["actor"], last["reason"]) == ("PREPARING", "manager:manager", REASON)


async def test_a_cancellation_seen_and_brought_back_shows_again_when_cancelled_again(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    order = await create_order(client)
    await set_order(client, order["id"], "CANCELLED")
    await tablet.post(f"/board/orders/{order['id']}/acknowledge")
    assert (await bring_back(tablet, order["id"])).status_code == 303
    await set_order(client, order["id"], "CANCELLED")
    assert "Cancelled: do not cook" in (await tablet.get("/board")).text


async def test_a_bring_back_sent_twice_brings_back_once(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    order = await picked_up(client, tablet)
    assert (await bring_back(tablet, order["id"])).status_code == 303
    again = await bring_back(tablet, order["id"])
    assert again.status_code == 303, "a retry after a lost answer finds it back already"
    assert statuses((await order_of(client, order["id"]))["statusHistory"]) == [
        "RECEIVED",
        "READY",
        "PICKED_UP",
        "READY",
    ]


async def test_a_bring_back_goes_on_the_boards_undo_stack_and_its_undo_takes_it_back(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    order = await picked_up(client, tablet)
    await bring_back(tablet, order["id"])
    stack = re.search(r"data-undo-stack='([^']*)'", (await tablet.get("/board")).text)
    assert stack is not None
    newest = json.loads(html.unescape(stack[1]))[0]
    assert newest["order"] == order["id"]
    assert (await tablet.post(f"/board/taps/{newest['id']}/undo")).status_code == 200
    assert (await order_of(client, order["id"]))["status"] == "PICKED_UP", "the board's Undo took the bring-back back"


async def test_a_plain_form_with_its_csrf_field_brings_back(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    order = await picked_up(client, tablet)
    page = (await tablet.get("/board/recent")).text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert token is not None
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", cookies=tablet.cookies
    ) as browser:  # no x-csrftoken header: the form's field alone
        answer = await browser.post(bring_back_url(order["id"]), data={"reason": REASON, "_csrf_token": token[1]})
        assert answer.status_code == 303
        assert (await browser.post(bring_back_url(order["id"]), data={"reason": REASON})).status_code == 403


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("", "reason: give 1 to 200 characters"),
        ("   ", "reason: give 1 to 200 characters"),
        ("x" * 201, "reason: give 1 to 200 characters"),
        ("two\nlines", "reason: one line of text"),
        ("bell\x07", "reason: one line of text"),
    ],
)
async def test_a_bring_back_without_a_fit_reason_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine, reason: str, shown: str
) -> None:
    order = await picked_up(client, tablet)
    before = await row_counts(engine)
    answer = await bring_back(tablet, order["id"], reason)
    assert answer.status_code == 422
    assert shown in html.unescape(answer.text)
    assert 'class="form-error"' in answer.text
    assert await row_counts(engine) == before
    assert (await order_of(client, order["id"]))["status"] == "PICKED_UP"


async def test_an_order_finished_more_than_30_minutes_ago_is_not_brought_back(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    order = await picked_up(client, tablet)
    clock.advance(30 * 60 + 1)
    before = await row_counts(engine)
    answer = await bring_back(tablet, order["id"])
    assert answer.status_code == 409
    assert "it became PICKED_UP more than 30 min ago" in html.unescape(answer.text)
    assert await row_counts(engine) == before


@pytest.mark.parametrize("status", ["RECEIVED", "READY"])
async def test_an_open_order_is_not_brought_back(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine, status: str
) -> None:
    order = await create_order(client)
    await set_order(client, order["id"], status)
    before = await row_counts(engine)
    answer = await bring_back(tablet, order["id"])
    assert answer.status_code == 409
    assert "only an order picked up or cancelled is brought back" in html.unescape(answer.text)
    assert await row_counts(engine) == before


async def test_an_order_the_channel_reported_picked_up_is_open_here_and_not_brought_back(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    reported = [{"status": "PICKED_UP", "timestamp": "2026-03-02T09:59:00Z"}]
    order = await create_order(client, statusHistory=reported)
    before = await row_counts(engine)
    assert (await bring_back(tablet, order["id"])).status_code == 409
    assert await row_counts(engine) == before


async def test_an_unknown_order_is_a_404_and_writes_nothing(tablet: httpx.AsyncClient, engine: AsyncEngine) -> None:
    before = await row_counts(engine)
    answer = await bring_back(tablet, "no-such-order")
    assert answer.status_code == 404
    assert "order 'no-such-order' not found" in html.unescape(answer.text)
    assert await row_counts(engine) == before


async def test_a_pickup_screen_may_not_bring_back_or_see_the_list(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await picked_up(client, tablet)
    screen = await browser_client(app, await pair_pickup_screen(app), "/pickup")
    try:
        before = await row_counts(engine)
        assert (await bring_back(screen, order["id"])).status_code == 403
        assert await row_counts(engine) == before
        assert (await screen.get("/board/recent", headers={"Accept": "text/html"})).headers["location"] == "/pickup"
    finally:
        await screen.aclose()


async def test_the_summaries_equal_a_recomputation_after_bringing_orders_back(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    first = await picked_up(client, tablet)
    cancelled = await create_order(client)
    await set_item(client, cancelled["id"], "BB-1", "PREPARING")
    clock.advance(90)
    await set_order(client, cancelled["id"], "CANCELLED")
    clock.advance(120)
    await bring_back(tablet, first["id"])
    await bring_back(tablet, cancelled["id"])
    clock.advance(60)
    # Back on the line: bumped and picked up again, as a returned order would be.
    for action in ("bump", "pickup"):
        await tablet.post(f"/board/orders/{cancelled['id']}/{action}")
    await tablet.post(f"/board/orders/{first['id']}/pickup")
    written, recomputed = await summaries_and_recomputation(engine)
    assert written == recomputed
    assert await history_faults(engine) == []


async def test_a_brought_back_order_reappears_on_every_board(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    order = await picked_up(client, tablet)
    first, second = hub.stream(Station()), hub.stream(Station())
    try:
        for board in (first, second):
            assert (await next_event(board)).event == "resync"
        await bring_back(tablet, order["id"])
        for board in (first, second):
            ticket = await next_event(board)
            while ticket.event != "ticket":
                ticket = await next_event(board)
            assert order["id"] in str(ticket.data)
            assert "status-READY" in str(ticket.data)
    finally:
        await first.aclose()
        await second.aclose()


# --- a race, on the real clock against a live server -------------------------------------------------


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    wipe_database(database_url)
    server = LiveServer(database_url, name="recent").start()
    server.api_key = new_api_key(database_url)
    yield server
    server.stop()


def test_the_same_bring_back_sent_at_once_from_eight_connections_brings_back_once(
    live_server: LiveServer, database_url: str
) -> None:
    cookies = paired_tablet_cookies(database_url, "Expo")
    headers = {"x-csrftoken": cookies[CSRF_COOKIE]}
    with httpx.Client(base_url=live_server.url, headers=live_server.api, timeout=30) as api:
        order = api.post("/api/orders", json=live_order_payload()).json()
    with httpx.Client(base_url=live_server.url, cookies=cookies, headers=headers, timeout=30) as board:
        board.get("/board")
        for action in ("bump", "pickup"):
            assert board.post(f"/board/orders/{order['id']}/{action}").status_code == 200

    barrier = threading.Barrier(8)
    answers: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=live_server.url, cookies=cookies, headers=headers, timeout=30) as http:
            http.get("/health")
            barrier.wait()
            answers.append(http.post(bring_back_url(order["id"]), data={"reason": REASON}).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [303] * 8, answers
    counts = run_sql(
        database_url,
        "SELECT (SELECT count(*) FROM order_status_events WHERE order_id = :o AND reason = :r),"
        " (SELECT count(*) FROM order_status_events WHERE order_id = :o),"
        " (SELECT count(*) FROM board_taps WHERE order_id = :o),"
        " (SELECT status FROM orders WHERE id = :o)",
        o=order["id"],
        r=REASON,
    )
    assert counts == (1, 4, 3, "READY"), "RECEIVED, READY, PICKED_UP, then one bring-back (and one tap for it)"
