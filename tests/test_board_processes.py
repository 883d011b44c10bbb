"""On PostgreSQL, boards on one app process hear changes made through another (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import text

from kitchen.app import create_app
from kitchen.auth.guards import SESSION_COOKIE
from kitchen.board.live import BoardHub
from kitchen.settings import Settings
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


def _until_ticket(lines: Iterator[str], order_id: str, sent: float) -> None:
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        if event == "ticket" and order_id in line:
            return
        assert time.monotonic() - sent < 2, "the board heard nothing within 2 s"


def test_a_change_through_one_process_reaches_the_boards_on_both(two_servers: tuple[LiveServer, LiveServer]) -> None:
    first, second = two_servers
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "GET",
            first.url + "/board/stream",
            cookies={SESSION_COOKIE: paired_tablet_cookie(first.database_url, "near tablet")},
        ) as near,
        http.stream(
            "GET",
            second.url + "/board/stream",
            cookies={SESSION_COOKIE: paired_tablet_cookie(second.database_url, "far tablet")},
        ) as far,
    ):
        boards = [near.iter_lines(), far.iter_lines()]
        for lines in boards:
            assert next(lines) == "event: resync"
        # Give the processes' LISTEN connections a moment after their startup.
        time.sleep(0.5)
        sent = time.monotonic()
        order = http.post(first.url + "/api/orders", json=live_order_payload(), headers=first.api).json()
        for lines in boards:  # the process that took the order, and the other one
            _until_ticket(lines, order["id"], sent)
        assert time.monotonic() - sent < 2


@pytest.mark.anyio
async def test_the_change_feed_listens_where_the_listen_url_points(settings: Settings) -> None:
    """Behind PgBouncer in transaction mode the pool cannot LISTEN: KITCHEN_LISTEN_DATABASE_URL
    sends that one connection elsewhere. Marked here by its application_name, seen by the server."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the embedded SQLite default has no LISTEN")
    name = f"kitchen-listen-{uuid.uuid4().hex[:8]}"
    app = create_app(replace(settings, listen_database_url=f"{settings.database_url}?application_name={name}"))
    async with app.lifespan():
        hub: BoardHub = app.state.board_hub
        async with asyncio.timeout(10):
            await hub.wait_listening()
        async with app.state.engine.connect() as conn:
            queries = (
                await conn.scalars(
                    text("SELECT query FROM pg_stat_activity WHERE application_name = :name"), {"name": name}
                )
            ).all()
    assert queries, "no connection of that name"
    assert all(query.startswith("LISTEN") for query in queries), queries
