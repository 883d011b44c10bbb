"""Two boards in a real Chromium: orders appear live, taps travel between tablets, undo, and
a dropped connection is announced, survived and resynced."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from kitchen.auth.service import Credentials
from kitchen.settings import PROJECT_ROOT
from tests.helpers import live_order_payload, pickup_in
from tests.live_server import LiveServer, paired_tablet_cookies, run_with_database

pytestmark = pytest.mark.browser

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def open_board(
    browser: Browser, server: LiveServer, width: int = 1280, height: int = 800, board: str = "/board"
) -> Page:
    """A paired tablet's browser on the board (`board`: its address, e.g. `/board?station=grill`)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    cookies = paired_tablet_cookies(server.database_url, f"tablet {width}x{height}")
    context.add_cookies([{"name": name, "value": value, "url": server.url} for name, value in cookies.items()])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # What the page did, for the failure message should the stream never start.
    seen: list[str] = []
    page.on("console", lambda message: seen.append(f"{time.monotonic():.1f} console {message.type}: {message.text}"))
    page.on("request", lambda request: seen.append(f"{time.monotonic():.1f} request {request.url}"))
    page.on(
        "requestfailed", lambda request: seen.append(f"{time.monotonic():.1f} failed {request.url} {request.failure}")
    )
    page.on(
        "response", lambda response: seen.append(f"{time.monotonic():.1f} response {response.status} {response.url}")
    )
    page.goto(server.url + board)
    # The first event of the stream (the whole board) turns "Connecting…" into "Live": well under a
    # second. (Boards once stayed "Connecting…" under load: htmx initialised before its SSE
    # extension had loaded and never opened the stream; see templates/base.html.)
    try:
        expect(page.locator("#connection")).to_have_text("Live", timeout=10000)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nwhat the page did:\n" + "\n".join(seen)) from exc
    page.errors = errors  # type: ignore[attr-defined]  # inspected at the end of each test
    return page


def post_order(server: LiveServer, **overrides: Any) -> dict[str, Any]:
    response = httpx.post(
        server.url + "/api/orders", json=live_order_payload(**overrides), headers=server.api, timeout=5
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def ticket(page: Page, order_id: str) -> Any:
    return page.locator(f'article[data-order-id="{order_id}"]')


def item_row(page: Page, order_id: str, plu: str) -> Any:
    return ticket(page, order_id).locator("li.item", has=page.locator(".plu", has_text=re.compile(f"^{plu}$")))


def test_two_boards_cook_an_order_through_to_pickup(browser: Browser, live_server: LiveServer) -> None:
    first, second = open_board(browser, live_server), open_board(browser, live_server)
    order = post_order(live_server, pickupTime=pickup_in(24 * 60))  # tomorrow: sorts last
    oid = order["id"]

    # The new order appears on both boards within 2 s, without a reload.
    started = time.monotonic()
    expect(ticket(first, oid)).to_be_visible(timeout=2000)
    expect(ticket(second, oid)).to_be_visible(timeout=2000)
    assert time.monotonic() - started < 2.5

    # A tap on one tablet shows on the other.
    item_row(first, oid, "BB-1").locator("button").click()
    expect(item_row(second, oid, "BB-1")).to_have_class(re.compile("status-PREPARING"), timeout=2000)

    # Undo on the first takes it back everywhere.
    ticket(first, oid).locator("button.undo").click()
    expect(item_row(second, oid, "BB-1")).to_have_class(re.compile("status-ORDERED"), timeout=2000)
    expect(item_row(first, oid, "BB-1")).to_have_class(re.compile("status-ORDERED"), timeout=2000)

    # Cook every item: two taps each.
    for plu in ("BB-1", "BB-2", "BB-3"):
        for status in ("PREPARING", "READY"):
            item_row(first, oid, plu).locator("button").click()
            expect(item_row(first, oid, plu)).to_have_class(re.compile(f"status-{status}"), timeout=2000)
    # All items ready: the ticket waits in the ready section on both boards.
    expect(second.locator(f'#tickets-ready article[data-order-id="{oid}"]')).to_be_visible(timeout=2000)

    # "Picked up" needs two taps: the first only arms it.
    pickup = ticket(second, oid).locator("button.pickup")
    pickup.click()
    expect(pickup).to_have_text("Tap again: picked up")
    assert httpx.get(f"{live_server.url}/api/orders/{oid}", headers=live_server.api).json()["status"] == "READY"
    pickup.click()
    expect(ticket(second, oid)).to_have_count(0, timeout=2000)
    # The first board was touched a moment ago: the ticket goes invisible at once and leaves its
    # place once the cook lets the board go, so nothing moves under a finger.
    expect(ticket(first, oid)).to_be_hidden(timeout=2000)
    expect(ticket(first, oid)).to_have_count(0, timeout=5000)

    history = httpx.get(f"{live_server.url}/api/orders/{oid}", headers=live_server.api).json()
    assert [e["status"] for e in history["statusHistory"]] == [
        "RECEIVED",
        "PREPARING",
        "RECEIVED",
        "PREPARING",
        "READY",
        "PICKED_UP",
    ]
    assert {e["source"] for e in history["statusHistory"][1:]} == {"board"}
    assert first.errors == second.errors == []  # type: ignore[attr-defined]


def test_board_screenshot_at_tablet_size(browser: Browser, live_server: LiveServer) -> None:
    brands = {"brand-burgers": ("Burger Bros", "#e4572e"), "brand-sushi": ("Sushi Society", "#17bebb")}
    for brand_id, (name, colour) in brands.items():
        httpx.put(
            f"{live_server.url}/api/brands/{brand_id}", json={"name": name, "colour": colour}, headers=live_server.api
        )
    for minutes, brand in ((4, "brand-burgers"), (12, "brand-sushi"), (25, "brand-burgers"), (-3, "brand-sushi")):
        pickup = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + minutes * 60))
        post_order(live_server, brandId=brand, pickupTime=pickup)
    ready = post_order(live_server, brandId="brand-sushi")
    httpx.patch(f"{live_server.url}/api/orders/{ready['id']}/status", json={"status": "READY"}, headers=live_server.api)
    page = open_board(browser, live_server)
    expect(page.locator("#board-content .ticket")).to_have_count(5)
    # Tablet-first: nothing scrolls sideways, every button is at least 48 px tall, and a ticket's
    # lines (a column wide) 44 px, so that twelve tickets fit a tablet at a rush.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    visible_heights = "els => els.filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect().height)"
    heights = page.eval_on_selector_all("button:not(.item-tap), .chip", visible_heights)
    assert min(heights) >= 48, heights
    lines = page.eval_on_selector_all("button.item-tap", visible_heights)
    assert min(lines) >= 44, lines
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board-1280x800.png"))
    tv = open_board(browser, live_server, 1920, 1080)
    assert tv.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tv.screenshot(path=str(ARTIFACTS / "board-1920x1080.png"))


def test_the_board_places_and_colours_tickets_as_the_server_decided(browser: Browser, live_server: LiveServer) -> None:
    later = post_order(live_server, pickupTime=pickup_in(40))
    page = open_board(browser, live_server)
    # These arrive live, and belong above the ticket already shown: the server's position says so.
    sooner = post_order(live_server, pickupTime=pickup_in(20))
    due = post_order(live_server, pickupTime=pickup_in(4 / 60))  # picked up in 4 s: amber now
    expect(ticket(page, due["id"])).to_have_class(re.compile("urgency-soon"), timeout=2000)
    shown = page.eval_on_selector_all("#tickets-open article", "els => els.map(e => e.dataset.orderId)")
    assert shown == [due["id"], sooner["id"], later["id"]]
    # No new render comes when the pickup time passes: the script follows the time the server wrote.
    expect(ticket(page, due["id"])).to_have_class(re.compile("urgency-late"), timeout=10000)
    expect(ticket(page, later["id"])).to_have_class(re.compile("urgency-ok"))
    assert page.errors == []  # type: ignore[attr-defined]


def test_lost_connection_is_shown_and_the_board_resyncs(
    browser: Browser, live_server: LiveServer, database_url: str
) -> None:
    page = open_board(browser, live_server)
    before = post_order(live_server)
    expect(ticket(page, before["id"])).to_be_visible(timeout=2000)

    live_server.kill()  # a crash: a stopping server would say goodbye (test_restart_in_chromium.py)
    expect(page.locator("#connection")).to_have_class(re.compile("is-lost"), timeout=5000)
    expect(page.locator("#connection")).to_contain_text("Connection lost")

    # Meanwhile another server on the same database takes an order and a change.
    other = LiveServer(database_url, name="other").start()
    other.api_key = live_server.api_key
    try:
        missed = post_order(other)
        httpx.patch(
            f"{other.url}/api/orders/{before['id']}/items/BB-2/status", json={"status": "PREPARING"}, headers=other.api
        )
    finally:
        other.stop()

    live_server.start()  # same port: the board reconnects by itself
    expect(page.locator("#connection")).to_have_text("Live", timeout=10000)
    expect(ticket(page, missed["id"])).to_be_visible()
    expect(item_row(page, before["id"], "BB-2")).to_have_class(re.compile("status-PREPARING"))


def test_a_manager_pairs_a_tablet_by_code(browser: Browser, live_server: LiveServer) -> None:
    run_with_database(live_server.database_url, lambda s: Credentials(s).create_manager("chef", "a long password 1"))
    manager = browser.new_page()
    manager.goto(live_server.url + "/dashboard")
    expect(manager).to_have_url(re.compile(r"/login\?next=/dashboard$"))
    manager.get_by_label("Username").fill("chef")
    manager.get_by_label("Password").fill("a long password 1")
    manager.get_by_role("button", name="Sign in").click()
    expect(manager).to_have_url(live_server.url + "/dashboard")
    manager.goto(live_server.url + "/manage/")
    manager.get_by_role("button", name="Pair a tablet").click()
    code = manager.locator("b.code").inner_text()

    tablet = browser.new_page()
    tablet.goto(live_server.url + "/board")
    expect(tablet).to_have_url(live_server.url + "/pair")
    tablet.get_by_label("Pairing code").fill(code)
    tablet.get_by_label("Tablet name").fill("Pass tablet")
    tablet.get_by_role("button", name="Pair").click()
    expect(tablet).to_have_url(live_server.url + "/board")
    expect(tablet.locator("#connection")).to_have_text("Live", timeout=10000)
    # A tap from the newly paired tablet carries its CSRF token and is recorded as its own.
    order = post_order(live_server)
    item_row(tablet, order["id"], "BB-1").locator("button").click()
    expect(item_row(tablet, order["id"], "BB-1")).to_have_class(re.compile("status-PREPARING"), timeout=2000)
    manager.reload()
    expect(manager.get_by_text("Pass tablet")).to_be_visible()
