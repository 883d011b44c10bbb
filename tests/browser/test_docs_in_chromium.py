"""Swagger UI in a real Chromium: it loads under the strict Content-Security-Policy with a clean
console, shows the key placeholder, and its example order is one the API accepts."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_swagger_ui_loads_with_a_clean_console(browser: Browser, live_server: LiveServer) -> None:
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.goto(live_server.url + "/api/docs")
    expect(page.locator(".swagger-ui .information-container")).to_be_visible(timeout=15000)
    page.locator("button.authorize").first.click()
    expect(page.locator(".auth-container")).to_contain_text("Bearer <key>")
    page.locator(".auth-container input").fill(live_server.api_key)
    page.locator(".auth-container button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()

    # "Try it out" on POST /api/orders sends the schema's example as it is: a real order.
    create = page.locator(".opblock-post", has=page.locator(".opblock-summary-path", has_text="/api/orders")).first
    create.locator(".opblock-summary").click()
    create.locator("button.try-out__btn").click()
    create.locator("button.execute").click()
    expect(create.locator(".live-responses-table tbody .response-col_status").first).to_have_text("201", timeout=10000)
    page.wait_for_timeout(500)
    problems = [line for line in console if line.startswith(("error", "pageerror", "warning"))]
    assert problems == []
    page.close()
