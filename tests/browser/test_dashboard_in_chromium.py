"""The dashboard in a real Chromium: filters swap the panels without a reload and stay in the URL."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from kitchen.auth.service import Credentials
from kitchen.settings import PROJECT_ROOT
from tests.helpers import live_order_payload
from tests.live_server import LiveServer, run_with_database

pytestmark = pytest.mark.browser


def test_filters_swap_panels_and_stay_in_the_url(browser: Browser, live_server: LiveServer) -> None:
    api = live_server.api
    httpx.put(
        f"{live_server.url}/api/brands/brand-burgers", json={"name": "Burger Bros", "colour": "#e4572e"}, headers=api
    )
    order = httpx.post(f"{live_server.url}/api/orders", json=live_order_payload(), headers=api).json()
    httpx.patch(f"{live_server.url}/api/orders/{order['id']}/status", json={"status": "READY"}, headers=api)

    run_with_database(live_server.database_url, lambda s: Credentials(s).create_manager("boss", "a long password 2"))
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(live_server.url + "/login")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill("a long password 2")
    page.get_by_role("button", name="Sign in").click()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/dashboard")
    received = page.locator(".headline .figure").first.locator(".value")
    expect(received).to_have_text("1")
    page.evaluate("window.notReloaded = true")

    page.get_by_label("Yesterday").check()
    expect(received).to_have_text("0")
    expect(page).to_have_url(f"{live_server.url}/dashboard?range=yesterday")
    page.get_by_label("Today").check()
    page.get_by_label("Burger Bros").check()
    expect(received).to_have_text("1")
    expect(page).to_have_url(f"{live_server.url}/dashboard?range=today&brand=brand-burgers")
    assert page.evaluate("window.notReloaded") is True, "the panels were swapped, not the page reloaded"
    # The stations' panel follows the panels, for the same filter: the order's lines are unassigned.
    stations = page.locator("#stations-panel table.figures tbody tr")
    expect(stations).to_have_count(1)
    expect(stations.first.locator("td").first).to_have_text("unassigned")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    (PROJECT_ROOT / "test-artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(PROJECT_ROOT / "test-artifacts" / "dashboard-1440x900.png"), full_page=True)
    assert errors == []
