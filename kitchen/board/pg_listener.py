"""A LISTEN/NOTIFY channels backend for PostgreSQL that survives the database going away.

Litestar's own asyncpg backend connects once at startup: if PostgreSQL is down then, the app
cannot start, and if PostgreSQL restarts later, the boards silently stop hearing changes.
This one keeps reconnecting in the background. When the connection drops it emits an `offline`
message on each channel, and after every reconnect a `resync` message, because NOTIFYs sent
while it was away are lost for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import asyncpg
from litestar.channels import ChannelsBackend

log = logging.getLogger("kitchen.board")

RESYNC = b'{"kind":"resync"}'
OFFLINE = b'{"kind":"offline"}'
RETRY_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 3.0


class ReconnectingPgChannelsBackend(ChannelsBackend):
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def on_startup(self) -> None:
        self._queue = asyncio.Queue()
        self._lost = asyncio.Event()
        self.connected = asyncio.Event()
        self._supervisor = asyncio.create_task(self._supervise(), name="pg-listener")

    async def on_shutdown(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        await self._close()

    async def _supervise(self) -> None:
        first = True
        while True:
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("LISTEN connection to PostgreSQL failed (%s); retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if not first:
                for channel in self._channels:
                    self._queue.put_nowait((channel, RESYNC))
            first = False
            await self._lost.wait()
            log.warning("LISTEN connection to PostgreSQL lost; reconnecting")
            # The database is gone: the boards say so instead of looking live.
            for channel in self._channels:
                self._queue.put_nowait((channel, OFFLINE))
            await self._close()
            await asyncio.sleep(RETRY_SECONDS)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        self._lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        for channel in self._channels:
            await conn.add_listener(channel, self._listener)
        self._conn = conn
        self.connected.set()

    async def _close(self) -> None:
        self.connected.clear()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)

    def _listener(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        if isinstance(payload, str):
            self._queue.put_nowait((channel, payload.encode()))

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            for channel in channels:
                await conn.execute("SELECT pg_notify($1, $2)", channel, data.decode())
        finally:
            await conn.close()

    async def subscribe(self, channels: Iterable[str]) -> None:
        for channel in set(channels) - self._channels:
            self._channels.add(channel)
            if self._conn is not None:
                await self._conn.add_listener(channel, self._listener)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        for channel in set(channels) & self._channels:
            self._channels.discard(channel)
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.remove_listener(channel, self._listener)

    async def stream_events(self) -> AsyncGenerator[tuple[str, bytes], None]:
        while True:
            channel, message = await self._queue.get()
            if channel in self._channels:
                yield channel, message

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("LISTEN/NOTIFY keeps no history")
