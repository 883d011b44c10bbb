"""Two hosts behind a load balancer: a board on a host that is stopped (SIGTERM) is told to go,
reconnects through the balancer to the other host and is Live again within 5 s, missing nothing."""

from __future__ import annotations

import signal
import time

import pytest
from playwright.sync_api import Browser, expect

from tests.balancer import Balancer
from tests.browser.test_board_in_chromium import open_board, post_order, ticket
from tests.live_server import LiveServer, new_api_key, wipe_database

pytestmark = pytest.mark.browser


def test_a_board_on_a_stopping_host_is_live_on_the_other_within_five_seconds(
    browser: Browser, database_url: str
) -> None:
    wipe_database(database_url)
    # The stopping host would wait its whole shutdown time for open streams: 5 s, as in production.
    first = LiveServer(database_url, name="host-a", env={"KITCHEN_SHUTDOWN_SECONDS": "5"}).start()
    second = LiveServer(database_url, name="host-b").start()
    first.api_key = second.api_key = new_api_key(database_url)
    try:
        with Balancer([first.port, second.port], database_url) as balancer:
            page = open_board(browser, balancer)  # type: ignore[arg-type]  # a balancer serves like a host
            before = post_order(first)
            expect(ticket(page, before["id"])).to_be_visible(timeout=2000)

            assert first.process is not None
            stopping = first.process
            stopped_at = time.monotonic()
            stopping.send_signal(signal.SIGTERM)
            expect(page.locator("#connection")).to_contain_text("restarting", timeout=2000)
            missed = post_order(second)  # while the board is between hosts
            expect(page.locator("#connection")).to_have_text("Live", timeout=5000)
            assert time.monotonic() - stopped_at < 5
            expect(ticket(page, missed["id"])).to_be_visible()
            expect(ticket(page, before["id"])).to_be_visible()
            # The stopped host did not wait out its shutdown time for the stream: it ended it.
            assert stopping.wait(timeout=10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
            assert time.monotonic() - stopped_at < 4
            first.process = None
            assert page.errors == []  # type: ignore[attr-defined]
    finally:
        first.stop()
        second.stop()
