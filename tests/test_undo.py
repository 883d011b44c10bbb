"""Undo is per tablet and multi-step: each board takes back its own changes, newest first.

Through HTTP as the boards use it: a tap answers with `Kitchen-Tap: <id> <until>`, the board's
script keeps the stack, its Undo posts `/board/taps/{id}/undo`. Races run on the real clock
against a live server, with the rows checked in SQL.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kitchen.auth.guards import CSRF_COOKIE
from kitchen.auth.service import Credentials, Principal
from kitchen.orders.status import ItemStatus, OrderStatus, Plan, Ticket, TransitionNotAllowed
from kitchen.orders.taps import plan_take_back
from tests.conftest import FakeClock, browser_client
from tests.helpers import create_order, item, live_order_payload, row_counts, set_item, statuses
from tests.live_server import LiveServer, new_api_key, paired_tablet_cookies, wipe_database

pytestmark = pytest.mark.anyio


async def pair(app: Litestar, name: str) -> httpx.AsyncClient:
    """Another paired tablet's browser; names need not be unique."""
    async with app.state.sessions() as session:
        credentials = Credentials(session)
        manager = await credentials.create_manager(f"pairing-{name}-{id(session)}", "a long enough password")
        code, _ = await credentials.create_pairing_code(Principal("manager", manager.id, manager.username))
        principal = await credentials.pair_tablet(code, name)
    assert principal is not None
    return await browser_client(app, principal, "/board")


@pytest.fixture
async def other_grill(app: Litestar, tablet: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A second tablet, called "Grill tablet" like the first."""
    http = await pair(app, "Grill tablet")
    yield http
    await http.aclose()


async def tap(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, int | None]:
    """A board tap, and the id of the change it put on this board's undo stack (None: none)."""
    response = await client.post(path)
    header = response.headers.get("kitchen-tap")
    return response, int(header.split()[0]) if header else None


async def undo(client: httpx.AsyncClient, tap_id: int | None) -> httpx.Response:
    assert tap_id is not None, "the tap went on the undo stack"
    return await client.post(f"/board/taps/{tap_id}/undo")


async def order_of(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/orders/{order_id}")).json()
    return body


def item_statuses(order: dict[str, Any]) -> list[str]:
    return [line["status"] for line in order["items"]]


async def test_a_tap_answers_with_its_place_on_the_undo_stack(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await create_order(client)
    response = await tablet.post(f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED")
    tap_id, until = response.headers["kitchen-tap"].split()
    assert int(tap_id) > 0
    # The undo window (KITCHEN_UNDO_SECONDS = 60) from the change's own stamp.
    assert until.startswith("2026-03-02T10:01:00")


async def test_undo_puts_a_bump_back_exactly(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await create_order(client)
    await tap(tablet, f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED")
    clock.advance(20)
    _, bump = await tap(tablet, f"/board/orders/{order['id']}/bump")
    clock.advance(25)
    response = await undo(tablet, bump)
    assert response.status_code == 200, response.text
    after = await order_of(client, order["id"])
    assert item_statuses(after) == ["PREPARING", "ORDERED", "ORDERED"]
    assert after["status"] == "PREPARING"
    # The undo is recorded like any change, at its own time, and names the tablet.
    assert statuses(item(after, "BB-2")["statusHistory"]) == ["ORDERED", "READY", "ORDERED"]
    assert item(after, "BB-2")["statusHistory"][-1]["timestamp"] == "2026-03-02T10:00:45Z"
    assert item(after, "BB-2")["statusHistory"][-1]["actor"] == "tablet:Grill tablet"
    assert "kitchen-tap" not in response.headers, "an undo is not itself put on the stack"


async def test_undo_twice_takes_back_two_changes_newest_first(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await create_order(client)
    second = await create_order(client)
    _, a = await tap(tablet, f"/board/orders/{first['id']}/lines/1/advance?from=ORDERED")
    _, b = await tap(tablet, f"/board/orders/{second['id']}/lines/2/advance?from=ORDERED")
    _, c = await tap(tablet, f"/board/orders/{first['id']}/lines/1/advance?from=PREPARING")

    assert (await undo(tablet, c)).status_code == 200
    assert item_statuses(await order_of(client, first["id"])) == ["PREPARING", "ORDERED", "ORDERED"]
    assert (await undo(tablet, b)).status_code == 200
    assert item_statuses(await order_of(client, second["id"])) == ["ORDERED", "ORDERED", "ORDERED"]
    assert (await undo(tablet, a)).status_code == 200
    assert item_statuses(await order_of(client, first["id"])) == ["ORDERED", "ORDERED", "ORDERED"]
    # Nothing undone was re-applied: the history of line 1 of the first order, in SQL.
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT e.status FROM item_status_events e WHERE e.source <> 'channel'"
                " AND e.item_id = (SELECT min(id) FROM order_items WHERE order_id = :order) ORDER BY e.id"
            ),
            {"order": first["id"]},
        )
        history = [row[0] for row in rows]
        open_taps = await conn.scalar(text("SELECT count(*) FROM board_taps WHERE closed_at IS NULL"))
    assert history == ["ORDERED", "PREPARING", "READY", "PREPARING", "ORDERED"]
    assert open_taps == 0


async def test_a_tablet_cannot_take_back_another_tablets_change_even_with_the_same_name(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, other_grill: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    _, mine = await tap(tablet, f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED")
    before = await row_counts(engine)

    refused = await undo(other_grill, mine)

    assert refused.status_code == 404
    assert await row_counts(engine) == before
    assert (await undo(tablet, mine)).status_code == 200
    assert item_statuses(await order_of(client, order["id"])) == ["ORDERED", "ORDERED", "ORDERED"]


async def test_each_board_page_carries_only_its_own_undo_stack(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, other_grill: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await create_order(client)
    _, a = await tap(tablet, f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED")
    clock.advance(5)
    _, b = await tap(tablet, f"/board/orders/{order['id']}/lines/2/advance?from=ORDERED")

    def stack(page: str) -> list[dict[str, Any]]:
        found = re.search(r"data-undo-stack='([^']*)'", page)
        assert found is not None, page[:2000]
        taps: list[dict[str, Any]] = json.loads(html.unescape(found.group(1)))
        return taps

    taps = stack((await tablet.get("/board")).text)
    assert [(t["id"], t["order"]) for t in taps] == [(b, order["id"]), (a, order["id"])]
    assert [t["until"][:19] for t in taps] == ["2026-03-02T10:01:05", "2026-03-02T10:01:00"]
    assert stack((await other_grill.get("/board")).text) == []
    clock.advance(56)  # a's window has closed, b's has not
    assert [t["id"] for t in stack((await tablet.get("/board")).text)] == [b]


async def test_an_undo_sent_twice_takes_back_once(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    _, first = await tap(tablet, f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED")
    _, bump = await tap(tablet, f"/board/orders/{order['id']}/bump")
    assert (await undo(tablet, bump)).status_code == 200
    written = await row_counts(engine)

    again = await undo(tablet, bump)  # the answer was lost; the board sends it again

    assert again.status_code == 200
    assert await row_counts(engine) == written
    assert item_statuses(await order_of(client, order["id"])) == ["PREPARING", "ORDERED", "ORDERED"]
    assert first is not None


async def test_undo_is_offered_for_the_window_only(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    _, early = await tap(tablet, f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED")
    clock.advance(30)
    _, late = await tap(tablet, f"/board/orders/{order['id']}/lines/2/advance?from=ORDERED")
    clock.advance(31)  # early's 60 s are over, late's are not
    written = await row_counts(engine)

    too_old = await undo(tablet, early)

    assert too_old.status_code == 409
    assert "too old to undo" in too_old.text
    assert await row_counts(engine) == written
    assert (await undo(tablet, late)).status_code == 200
    assert item_statuses(await order_of(client, order["id"])) == ["PREPARING", "ORDERED", "ORDERED"]


async def test_a_change_overtaken_by_another_board_leaves_the_stack_for_the_one_before(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, other_grill: httpx.AsyncClient
) -> None:
    mine = await create_order(client)
    shared = await create_order(client)
    _, earlier = await tap(tablet, f"/board/orders/{mine['id']}/lines/1/advance?from=ORDERED")
    _, later = await tap(tablet, f"/board/orders/{shared['id']}/lines/1/advance?from=ORDERED")
    await tap(other_grill, f"/board/orders/{shared['id']}/lines/1/advance?from=PREPARING")

    refused = await undo(tablet, later)

    assert refused.status_code == 409
    assert "changed since" in refused.text
    assert item_statuses(await order_of(client, shared["id"])) == ["READY", "ORDERED", "ORDERED"]
    stack = re.search(r"data-undo-stack='([^']*)'", (await tablet.get("/board")).text)
    assert stack is not None
    assert [t["id"] for t in json.loads(html.unescape(stack.group(1)))] == [earlier]
    assert (await undo(tablet, earlier)).status_code == 200


async def test_undo_takes_back_a_channel_free_change_only(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    """The channel's changes go on no board's stack; a board's change the channel then overtook is refused."""
    order = await create_order(client)
    _, mine = await tap(tablet, f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED")
    patched = await set_item(client, order["id"], "BB-1", "READY")
    assert "kitchen-tap" not in patched.headers
    assert (await undo(tablet, mine)).status_code == 409
    assert item(await order_of(client, order["id"]), "BB-1")["status"] == "READY"


async def test_undo_brings_back_an_order_picked_up_by_mistake(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    order = await create_order(client)
    await tap(tablet, f"/board/orders/{order['id']}/bump")
    picked_up, pickup = await tap(tablet, f"/board/orders/{order['id']}/pickup")
    assert picked_up.text == ""  # the ticket left the board; the tap is still on the stack

    back = await undo(tablet, pickup)

    assert back.status_code == 200
    assert 'data-section="ready"' in back.text
    after = await order_of(client, order["id"])
    assert after["status"] == "READY"
    assert statuses(after["statusHistory"]) == ["RECEIVED", "READY", "PICKED_UP", "READY"]


async def test_an_unknown_tap_is_a_404_and_writes_nothing(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    before = await row_counts(engine)
    for tap_id in ("0", "-1", "99999999", "123456789012345678901234567890"):
        response = await tablet.post(f"/board/taps/{tap_id}/undo")
        assert response.status_code == 404, (tap_id, response.text)
    assert (await tablet.post("/board/taps/abc/undo")).status_code == 404
    assert await row_counts(engine) == before


async def test_a_line_ready_by_mistake_is_set_back_after_the_undo_window(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    await tap(tablet, f"/board/orders/{order['id']}/bump")
    clock.advance(600)
    page = (await tablet.get("/board")).text
    assert f"/board/orders/{order['id']}/lines/2/back?from=READY" in page

    back, tap_id = await tap(tablet, f"/board/orders/{order['id']}/lines/2/back?from=READY")

    assert back.status_code == 200
    assert 'data-section="open"' in back.text  # one line is cooking again: the ticket is back on the line
    after = await order_of(client, order["id"])
    assert item_statuses(after) == ["READY", "PREPARING", "READY"]
    assert after["status"] == "PREPARING"
    assert tap_id is not None, "setting a line back can itself be undone"
    written = await row_counts(engine)
    again, _ = await tap(tablet, f"/board/orders/{order['id']}/lines/2/back?from=READY")
    assert again.status_code == 200
    assert await row_counts(engine) == written, "sent twice, it sets the line back once"


async def test_only_a_ready_line_is_set_back(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    before = await row_counts(engine)
    for seen in ("PREPARING", "ORDERED", "nonsense", ""):
        response = await tablet.post(f"/board/orders/{order['id']}/lines/1/back?from={seen}")
        assert response.status_code == 400, (seen, response.text)
    assert (await tablet.post(f"/board/orders/{order['id']}/lines/9/back?from=READY")).status_code == 404
    assert await row_counts(engine) == before


# --- races, on the real clock against a live server -------------------------------------------------


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    wipe_database(database_url)
    server = LiveServer(database_url, name="undo").start()
    server.api_key = new_api_key(database_url)
    yield server
    server.stop()


def test_the_same_undo_sent_at_once_from_eight_connections_takes_back_once(
    live_server: LiveServer, database_url: str
) -> None:
    cookies = paired_tablet_cookies(database_url, "Grill")
    headers = {"x-csrftoken": cookies[CSRF_COOKIE]}
    with httpx.Client(base_url=live_server.url, headers=live_server.api, timeout=30) as api:
        order = api.post("/api/orders", json=live_order_payload()).json()
    with httpx.Client(base_url=live_server.url, cookies=cookies, headers=headers, timeout=30) as board:
        board.get("/board")
        tapped = board.post(f"/board/orders/{order['id']}/bump")
        assert tapped.status_code == 200, tapped.text
        tap_id = int(tapped.headers["kitchen-tap"].split()[0])

    barrier = threading.Barrier(8)
    answers: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=live_server.url, cookies=cookies, headers=headers, timeout=30) as http:
            http.get("/health")
            barrier.wait()
            answers.append(http.post(f"/board/taps/{tap_id}/undo").status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * 8, answers
    counts = run_sql(
        database_url,
        "SELECT (SELECT count(*) FROM order_status_events WHERE order_id = :o AND source = 'board'),"
        " (SELECT count(*) FROM board_taps WHERE order_id = :o AND closed_at IS NOT NULL),"
        " (SELECT status FROM orders WHERE id = :o)",
        o=order["id"],
    )
    assert counts == (2, 1, "RECEIVED"), "one bump, one undo of it: READY then RECEIVED"


def run_sql(url: str, sql: str, **params: Any) -> tuple[Any, ...]:
    async def read() -> tuple[Any, ...]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return tuple((await conn.execute(text(sql), params)).one())
        finally:
            await engine.dispose()

    return asyncio.run(read())


# --- the rule, in plain Python ---------------------------------------------------------------------


def ticket_of(status: str, *lines: str) -> Ticket:
    return Ticket(OrderStatus(status), {n: ItemStatus(s) for n, s in enumerate(lines, 1)})


def test_taking_back_a_line_leaves_another_boards_line_alone() -> None:
    before = ticket_of("RECEIVED", "ORDERED", "ORDERED")
    after = ticket_of("PREPARING", "ORDERED", "PREPARING")  # the fryer started line 2
    now = ticket_of("PREPARING", "READY", "PREPARING")  # then the grill finished line 1
    assert plan_take_back(now, after, before) == Plan(items={2: ItemStatus.ORDERED})


def test_taking_back_the_only_started_line_derives_the_order_back() -> None:
    before = ticket_of("RECEIVED", "ORDERED", "ORDERED")
    after = ticket_of("PREPARING", "PREPARING", "ORDERED")
    assert plan_take_back(after, after, before) == Plan(items={1: ItemStatus.ORDERED}, order=OrderStatus.RECEIVED)


def test_a_line_moved_again_since_cannot_be_taken_back() -> None:
    before = ticket_of("RECEIVED", "ORDERED")
    after = ticket_of("PREPARING", "PREPARING")
    with pytest.raises(TransitionNotAllowed, match="changed since"):
        plan_take_back(ticket_of("READY", "READY"), after, before)


def test_an_undone_pickup_brings_the_order_back_and_a_cancellation_since_blocks_any_undo() -> None:
    ready = ticket_of("READY", "READY", "READY")
    picked_up = ticket_of("PICKED_UP", "READY", "READY")
    assert plan_take_back(picked_up, picked_up, ready) == Plan(order=OrderStatus.READY)
    with pytest.raises(TransitionNotAllowed):
        plan_take_back(
            ticket_of("CANCELLED", "PREPARING", "CANCELLED"),
            ticket_of("PREPARING", "PREPARING", "ORDERED"),
            ticket_of("RECEIVED", "ORDERED", "ORDERED"),
        )


def test_an_undone_bring_back_returns_the_order_to_picked_up_unless_it_moved_since() -> None:
    picked_up = ticket_of("PICKED_UP", "READY")
    back = ticket_of("READY", "READY")
    assert plan_take_back(back, back, picked_up) == Plan(order=OrderStatus.PICKED_UP)
    with pytest.raises(TransitionNotAllowed):
        plan_take_back(ticket_of("PREPARING", "PREPARING"), back, picked_up)  # recalled since
