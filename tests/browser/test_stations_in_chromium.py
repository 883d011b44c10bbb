"""A grill board, a fryer board and an expo board in a real Chromium: each shows its part of a
ticket, a tap at the grill shows on expo and on the fryer, and the allergy is on every board."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_board_in_chromium import ARTIFACTS, open_board, post_order, ticket
from tests.helpers import pickup_in
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

MENU = [
    {"plu": "BB-1", "name": "Hawaii Burger", "station": "grill", "prepSeconds": 480},
    {"plu": "BB-2", "name": "Fries", "station": "fryer", "prepSeconds": 240},
    {"plu": "BB-3", "name": "Lemonade", "station": "drinks", "prepSeconds": 60},
]
ITEMS = [
    {"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1, "note": "no bun: allergy to sesame"},
    {"plu": "BB-2", "name": "Fries", "quantity": 2, "modifiers": [{"name": "Extra salt"}]},
    {"plu": "BB-3", "name": "Lemonade", "quantity": 1},
]


def test_a_tap_at_the_grill_shows_on_expo_and_the_allergy_is_on_every_board(
    browser: Browser, live_server: LiveServer
) -> None:
    api = live_server.api
    menu = httpx.put(f"{live_server.url}/api/brands/brand-burgers/menu", json=MENU, headers=api, timeout=5)
    assert menu.status_code == 200, menu.text
    httpx.put(
        f"{live_server.url}/api/brands/brand-burgers",
        json={"name": "Burger Bros", "colour": "#e4572e"},
        headers=api,
        timeout=5,
    )
    grill = open_board(browser, live_server, board="/board?station=grill")
    fryer = open_board(browser, live_server, board="/board?station=fryer")
    expo = open_board(browser, live_server, board="/board")
    later = post_order(live_server, pickupTime=pickup_in(40), items=ITEMS[1:2])
    order = post_order(live_server, pickupTime=pickup_in(30), items=ITEMS, allergens=["sesame"], note="Ring twice")
    oid = order["id"]

    # Each station sees only its lines; expo the whole ticket with each station's progress.
    for page in (grill, fryer, expo):
        expect(ticket(page, oid)).to_be_visible(timeout=2000)
    expect(ticket(grill, oid).locator(".name")).to_have_text(["Hawaii Burger"])
    expect(ticket(fryer, oid).locator(".name")).to_have_text(["Fries"])
    expect(ticket(expo, oid).locator(".name")).to_have_text(["Hawaii Burger", "Fries", "Lemonade"])
    expect(ticket(expo, oid).locator(".station-progress li")).to_have_text(["drinks 0/1", "fryer 0/1", "grill 0/1"])
    expect(ticket(grill, later["id"])).to_have_count(0)

    # The allergy is on every board, as words; on the grill it is on the line too.
    for page in (grill, fryer, expo):
        expect(ticket(page, oid).locator(".ticket-head ~ .allergy-band")).to_have_text("ALLERGY: sesame")
    expect(ticket(grill, oid).locator(".item .allergy-band")).to_have_text("ALLERGY: see note")

    # The fryer starts by the pickup less 4 min of frying and 2 of packing, on the kitchen's clock.
    expect(ticket(fryer, oid).locator(".start-by")).to_have_text(re.compile(r"^start \d\d:\d\d$"))
    shown = fryer.eval_on_selector_all("#tickets-open article", "els => els.map(e => e.dataset.orderId)")
    assert shown == [oid, later["id"]]  # start-by order
    assert "/bump" not in (ticket(grill, oid).inner_html())  # bumping is expo's

    ARTIFACTS.mkdir(exist_ok=True)
    for name, page in (("grill", grill), ("fryer", fryer), ("expo", expo)):
        page.screenshot(path=str(ARTIFACTS / f"station-{name}-1280x800.png"))

    # Two taps at the grill: the burger is ready; expo and the fryer hear it.
    for status in ("PREPARING", "READY"):
        ticket(grill, oid).locator("li.item button").click()
        expect(ticket(expo, oid).locator("li.item").first).to_have_class(re.compile(f"status-{status}"), timeout=2000)
    expect(ticket(expo, oid).locator(".station-progress li.is-done")).to_have_text(["grill 1/1 ✓"], timeout=2000)
    expect(ticket(fryer, oid).locator(".elsewhere")).to_have_text("1 of 2 items ready elsewhere", timeout=2000)
    # The grill's part is done: its card waits aside, with Undo, until expo sends the order out.
    # It moves once the cook has let the board go for 2 s: nothing moves under a finger.
    expect(grill.locator(f'#tickets-ready article[data-order-id="{oid}"]')).to_be_visible(timeout=4000)
    expect(ticket(grill, oid).locator("button.undo")).to_be_visible()
    grill.screenshot(path=str(ARTIFACTS / "station-grill-done-1280x800.png"))

    stored = httpx.get(f"{live_server.url}/api/orders/{oid}", headers=api, timeout=5).json()
    burger = stored["items"][0]
    assert [(e["status"], e["source"]) for e in burger["statusHistory"]] == [
        ("ORDERED", "api"),
        ("PREPARING", "board"),
        ("READY", "board"),
    ]
    assert [i["status"] for i in stored["items"][1:]] == ["ORDERED", "ORDERED"]
    assert grill.errors == fryer.errors == expo.errors == []  # type: ignore[attr-defined]
