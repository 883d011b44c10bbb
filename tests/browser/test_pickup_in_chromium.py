"""The couriers' pickup screen in a real Chromium on a 1920x1080 TV: an expo board bumps an order
and the screen shows it in Ready within a second, flashing once; "Picked up" takes it off; more
orders than fit are counted, never scrolled; a lost stream is announced and resynced."""

from __future__ import annotations

import re
import shutil
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from kitchen.auth.models import PICKUP_ROLE
from tests.browser.test_board_in_chromium import ARTIFACTS, open_board, post_order, ticket
from tests.helpers import pickup_in
from tests.live_server import LiveServer, paired_tablet_cookies

pytestmark = pytest.mark.browser

TV = {"width": 1920, "height": 1080}
BRANDS = {
    "brand-burgers": ("Burger Bros", "#e4572e"),
    "brand-sushi": ("Sushi Society", "#17bebb"),
    "brand-pizza": ("Pizza Piazza", "#f3c623"),
}
PRIVATE = ("Aino Virtanen", "+358401234567", "Huuvatie", "Hawaii Burger", "Fries", "Lemonade")


def open_pickup(browser: Browser, server: LiveServer) -> Page:
    """A pickup screen's browser on /pickup, at TV size, once its stream is live."""
    context = browser.new_context(viewport=TV)
    cookies = paired_tablet_cookies(server.database_url, "Door", role=PICKUP_ROLE)
    context.add_cookies([{"name": name, "value": value, "url": server.url} for name, value in cookies.items()])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/pickup")
    expect(page.locator("#connection")).to_have_text("Live", timeout=10000)
    page.errors = errors  # type: ignore[attr-defined]  # inspected at the end of each test
    return page


def catalog(server: LiveServer) -> None:
    for brand_id, (name, colour) in BRANDS.items():
        response = httpx.put(
            f"{server.url}/api/brands/{brand_id}", json={"name": name, "colour": colour}, headers=server.api, timeout=5
        )
        assert response.status_code in (200, 201), response.text


def set_status(server: LiveServer, order_id: str, status: str) -> None:
    response = httpx.patch(
        f"{server.url}/api/orders/{order_id}/status", json={"status": status}, headers=server.api, timeout=5
    )
    assert response.status_code == 200, response.text


def entry(page: Page, column: str, order_id: str) -> Any:
    return page.locator(f'#pickup-{column} .pickup-entry[data-order-id="{order_id}"]')


def shown_ids(page: Page, column: str) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        f"#pickup-{column} .pickup-entry:not([hidden]) .pickup-id", "els => els.map(e => e.textContent)"
    )
    return ids


def assert_no_scrolling(page: Page) -> None:
    assert page.evaluate(
        "document.documentElement.scrollWidth <= innerWidth && document.documentElement.scrollHeight <= innerHeight"
    )


def test_the_pickup_screen_follows_a_bump_within_a_second_and_a_pickup_clears_it(
    browser: Browser, live_server: LiveServer
) -> None:
    catalog(live_server)
    waiting = []
    for n, (minutes, brand) in enumerate(
        ((6, "brand-burgers"), (9, "brand-sushi"), (14, "brand-pizza"), (18, "brand-burgers"), (25, "brand-sushi"))
    ):
        waiting.append(
            post_order(live_server, brandId=brand, pickupTime=pickup_in(minutes), channelOrderId=f"W-48{n}7")
        )
    for n, brand in enumerate(("brand-pizza", "brand-sushi")):
        done = post_order(live_server, brandId=brand, pickupTime=pickup_in(3 + n), channelOrderId=f"FD-31{n}2")
        set_status(live_server, done["id"], "READY")
    order = post_order(live_server, brandId="brand-burgers", pickupTime=pickup_in(8), channelOrderId="UE-7741")
    oid = order["id"]

    screen = open_pickup(browser, live_server)
    expo = open_board(browser, live_server)
    expect(entry(screen, "preparing", oid)).to_be_visible()
    assert shown_ids(screen, "preparing") == ["W-4807", "UE-7741", "W-4817", "W-4827", "W-4837", "W-4847"]
    assert shown_ids(screen, "ready") == ["FD-3102", "FD-3112"]

    # The bump: two taps on expo ("All ready", then "Tap again: all ready").
    bump = ticket(expo, oid).locator("button.bump")
    bump.click()
    bump.click()
    bumped = time.monotonic()
    expect(entry(screen, "ready", oid)).to_be_visible(timeout=1000)
    took = time.monotonic() - bumped
    assert took < 1.0, f"the pickup screen followed the bump after {took:.2f} s"
    expect(entry(screen, "ready", oid)).to_have_class(re.compile(r"\bis-flashing\b"))
    expect(entry(screen, "preparing", oid)).to_have_count(0)
    assert shown_ids(screen, "ready") == ["FD-3102", "FD-3112", "UE-7741"]  # soonest pickup first
    # It flashes once (2 s), then stays, calm, until the courier takes it.
    expect(entry(screen, "ready", oid)).not_to_have_class(re.compile(r"\bis-flashing\b"), timeout=3000)

    # Readable from 5 m: ids of at least 64 px, in their brand's colour; nothing scrolls.
    sizes = screen.eval_on_selector_all(".pickup-id", "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert min(sizes) >= 64, sizes
    tile = screen.evaluate(
        "(oid) => getComputedStyle(document.querySelector(`#pickup-ready [data-order-id='${oid}']`)).backgroundColor",
        oid,
    )
    assert tile == "rgb(228, 87, 46)"  # Burger Bros' #e4572e
    assert_no_scrolling(screen)
    text = screen.locator("body").inner_text()
    for private in PRIVATE:
        assert private not in text, private
    ARTIFACTS.mkdir(exist_ok=True)
    screen.screenshot(path=str(ARTIFACTS / "pickup-1920x1080.png"))
    shutil.copy(ARTIFACTS / "pickup-1920x1080.png", "/tmp/pickup-1920.png")

    # An older event (a poll that crossed the stream) never takes a newer entry back.
    screen.evaluate(
        """(oid) => {
          const shown = document.querySelector(`#pickup-ready [data-order-id='${oid}']`);
          const older = shown.outerHTML.replace('data-column="ready"', 'data-column="preparing"')
            .replace(/data-version="(\\d+)"/, (_, v) => `data-version="${Number(v) - 1}"`);
          document.getElementById("pickup").dispatchEvent(new CustomEvent("pickup", {detail: {data: older}}));
        }""",
        oid,
    )
    expect(entry(screen, "ready", oid)).to_be_visible()
    expect(entry(screen, "preparing", oid)).to_have_count(0)

    # "Picked up" on expo (two taps): the order leaves the screen.
    pickup = ticket(expo, oid).locator("button.pickup")
    pickup.click()
    pickup.click()
    picked = time.monotonic()
    expect(screen.locator(f'.pickup-entry[data-order-id="{oid}"]')).to_have_count(0, timeout=1000)
    assert time.monotonic() - picked < 1.0
    assert shown_ids(screen, "ready") == ["FD-3102", "FD-3112"]
    assert screen.errors == expo.errors == []  # type: ignore[attr-defined]


def test_more_orders_than_fit_show_the_soonest_and_count_the_rest(browser: Browser, live_server: LiveServer) -> None:
    catalog(live_server)
    brands = list(BRANDS)
    ids = [f"WOLT-{1000 + n}" for n in range(40)]
    for n, channel_id in enumerate(ids):
        post_order(live_server, brandId=brands[n % 3], pickupTime=pickup_in(5 + n), channelOrderId=channel_id)
    screen = open_pickup(browser, live_server)
    shown = shown_ids(screen, "preparing")
    assert 6 <= len(shown) < len(ids)
    assert shown == ids[: len(shown)]  # the soonest pickups, in order
    more = screen.locator(".column-preparing [data-more]")
    expect(more).to_have_text(f"+{len(ids) - len(shown)} more")
    expect(screen.locator(".column-ready [data-more]")).to_have_text("")
    assert_no_scrolling(screen)
    # Every shown entry lies wholly on the screen.
    bottoms = screen.eval_on_selector_all(
        ".pickup-entry:not([hidden])", "els => els.map(e => e.getBoundingClientRect().bottom)"
    )
    assert max(bottoms) <= TV["height"]
    screen.screenshot(path=str(ARTIFACTS / "pickup-full-1920x1080.png"))

    # A live arrival that sorts first takes a place; the count grows by the one pushed out.
    post_order(live_server, pickupTime=pickup_in(1), channelOrderId="WOLT-0999")
    expect(screen.locator("#pickup-preparing .pickup-entry:not([hidden])").first).to_have_text(
        re.compile("WOLT-0999"), timeout=2000
    )
    expect(more).to_have_text(f"+{len(ids) - len(shown) + 1} more")
    assert screen.errors == []  # type: ignore[attr-defined]


def test_a_lost_stream_is_shown_and_the_screen_resyncs(
    browser: Browser, live_server: LiveServer, database_url: str
) -> None:
    order = post_order(live_server, channelOrderId="W-5150")
    screen = open_pickup(browser, live_server)
    expect(entry(screen, "preparing", order["id"])).to_be_visible()

    live_server.kill()  # a crash: no goodbye to the screens
    expect(screen.locator("#connection")).to_have_class(re.compile("is-lost"), timeout=5000)
    expect(screen.locator("#connection")).to_contain_text("Connection lost")

    # Meanwhile another server on the same database bumps the order.
    other = LiveServer(database_url, name="other").start()
    other.api_key = live_server.api_key
    try:
        set_status(other, order["id"], "READY")
    finally:
        other.stop()

    live_server.start()  # same port: the screen reconnects by itself, and its resync shows the bump
    expect(screen.locator("#connection")).to_have_text("Live", timeout=10000)
    expect(entry(screen, "ready", order["id"])).to_be_visible()
    expect(entry(screen, "ready", order["id"])).to_have_class(re.compile(r"\bis-flashing\b"))
    assert screen.errors == []  # type: ignore[attr-defined]
