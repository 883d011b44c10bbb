"""SIGTERM with 100 boards connected: each board is told to reconnect elsewhere, and `kitchen run`
exits within seconds instead of waiting out every open stream."""

from __future__ import annotations

import asyncio
import signal
import time

from kitchen.auth.guards import SESSION_COOKIE
from tests.live_server import LiveServer, paired_tablet_cookie, wipe_database

BOARDS = 100


async def open_stream(port: int, cookie: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /board/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        f"Cookie: {SESSION_COOKIE}={cookie}\r\n\r\n".encode()
    )
    await writer.drain()
    return reader, writer


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        chunk = await reader.read(65536)
        if not chunk:
            break
        seen += chunk
    return seen


async def boards_through_a_stop(server: LiveServer, cookie: str) -> tuple[float, list[bytes]]:
    streams = [await open_stream(server.port, cookie) for _ in range(BOARDS)]
    async with asyncio.timeout(60):
        await asyncio.gather(*(read_until(reader, b"event: resync") for reader, _ in streams))
    assert server.process is not None
    stopped_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(15):
        endings = await asyncio.gather(*(read_until(reader, b"\r\n0\r\n\r\n") for reader, _ in streams))
    await asyncio.to_thread(server.process.wait, 15)
    took = time.monotonic() - stopped_at
    for _, writer in streams:
        writer.close()
    return took, endings


def test_kitchen_run_stops_within_seconds_with_a_hundred_boards_and_tells_each(database_url: str) -> None:
    wipe_database(database_url)
    server = LiveServer(database_url, name="stopping", env={"KITCHEN_SHUTDOWN_SECONDS": "5"}).start()
    try:
        took, endings = asyncio.run(boards_through_a_stop(server, paired_tablet_cookie(database_url, "tablet")))
        assert server.process is not None
        # uvicorn stops cleanly, then raises the signal again so the parent sees why it ended.
        assert server.process.returncode in (0, -signal.SIGTERM)
    finally:
        server.stop()
    assert took < 10
    # Not the shutdown timeout (5 s) that a stream nobody ends would wait for.
    assert took < 4, took
    assert all(b"event: reconnect" in ending for ending in endings)
