"""On PostgreSQL, boards on one app process hear changes made through another (LISTEN/NOTIFY)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from kitchen.auth.guards import SESSION_COOKIE
from tests.helpers import live_order_payload
from tests.live_server import LiveServer, new_api_key, paired_tablet_cookie, wipe_database


@pytest.fixture
def two_servers(server_url: str | None, database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    if server_url is None:
        pytest.skip("the embedded SQLite default has one process; cross-process delivery is PostgreSQL's")
    wipe_database(database_url)
    first = LiveServer(database_url, name="first").start()
    second = LiveServer(database_url, name="second").start()
    first.api_key = new_api_key(database_url)
    yield first, second
    first.stop()
    second.stop()


def test_a_change_through_one_process_reaches_a_board_on_another(two_servers: tuple[LiveServer, LiveServer]) -> None:
    taking_orders, showing_board = two_servers
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "GET",
            showing_board.url + "/board/stream",
            cookies={SESSION_COOKIE: paired_tablet_cookie(showing_board.database_url, "far tablet")},
        ) as stream,
    ):
        lines = stream.iter_lines()
        assert next(lines) == "event: resync"
        # Give the second process's LISTEN connection a moment after its startup.
        time.sleep(0.5)
        sent = time.monotonic()
        order = http.post(
            taking_orders.url + "/api/orders", json=live_order_payload(), headers=taking_orders.api
        ).json()
        event = None
        for line in lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            if event == "ticket" and order["id"] in line:
                break
            assert time.monotonic() - sent < 2, "the board heard nothing within 2 s"
        assert time.monotonic() - sent < 2
