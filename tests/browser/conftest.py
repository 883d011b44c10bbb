"""A real headless Chromium (Debian's package) driven by Playwright, against real server processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.live_server import LiveServer, new_api_key, wipe_database

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Module scope: Playwright's sync API runs an event loop in this thread until it is closed,
# and the async tests that follow need the thread's loop slot free again.
@pytest.fixture(scope="module")
def browser(database_url: str) -> Iterator[Browser]:
    # Depends on the database so that it is migrated before Playwright's event loop starts.
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get install chromium")
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    wipe_database(database_url)
    server = LiveServer(database_url, name="board").start()
    server.api_key = new_api_key(database_url)
    yield server
    server.stop()
