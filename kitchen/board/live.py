"""Live updates for the boards: committed changes go out over Litestar's channels to every board.

On PostgreSQL the change is announced with NOTIFY inside the status-change transaction, so it is
delivered exactly when (and only if) the change commits, to every worker process and host that
LISTENs. On the embedded SQLite default the in-memory backend is published to after the commit.

Each process runs one `BoardHub`: it hears a change once, loads and renders the ticket once, and
hands the fragments to the boards connected to this process whose station shows that brand, and
the order's entry (rendered once too, from the same record) to every pickup screen by the door.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, TypeVar

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.response import ServerSentEventMessage
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kitchen.auth.keys import ApiKeyCache
from kitchen.board import queries
from kitchen.board.pg_listener import OFFLINE, RESYNC, ReconnectingPgChannelsBackend
from kitchen.board.render import BoardRenderer
from kitchen.board.rules import belongs_on_board
from kitchen.board.station import Station
from kitchen.brands.models import Brand
from kitchen.feed import FEED_CHANNEL, EndedSessions, RevokedKeys, decode_notice, is_notice
from kitchen.lifecycle import when_stopping
from kitchen.metrics import BOARD_EVENTS_SENT, BOARD_STREAMS, CHANGES_HEARD
from kitchen.orders.records import OrderRecord
from kitchen.orders.service import OrderChanged
from kitchen.orders.stores import Notice, OrderStore
from kitchen.quiet import QuietBrand
from kitchen.settings import Settings

log = logging.getLogger("kitchen.board")

ORDERS_CHANNEL = FEED_CHANNEL
# A board this far behind is cut off; its browser reconnects and resyncs from scratch.
BOARD_BACKLOG = 200
PING_SECONDS = 15.0
# What a board hears when this process stops: reconnect now (`retry`: soon), to whoever answers.
GOING_AWAY = ServerSentEventMessage(event="reconnect", data="this server is stopping", retry=250)
# Whole-board renders for reconnecting boards use at most this many database connections at once.
RESYNC_CONNECTIONS = 3
# What the pickup screens' streams are known by: their whole-screen cache key (the boards' are their
# stations) and their metrics label (a station name never has a space, so it is never a station's).
PICKUP_STREAMS: Final = "pickup screen"
ScreenKey = Station | Literal["pickup screen"]
Context = TypeVar("Context")


class PickupScreens(Protocol):
    """What the hub needs of the pickup screen (kitchen/pickup/screen.py), which builds on the
    boards: the boards do not import it."""

    def entry(self, order: OrderRecord, brands: dict[str, Brand]) -> str | None: ...

    async def screen_context(self, session: AsyncSession) -> dict[str, object]: ...

    def columns_fragment(self, context: dict[str, object]) -> str: ...


def encode_change(change: OrderChanged) -> str:
    return msgspec.json.encode(change).decode()


def decode_change(raw: bytes) -> OrderChanged:
    return msgspec.json.decode(raw, type=OrderChanged)


class NotifyInTransaction:
    """PostgreSQL: NOTIFY is queued in the transaction and sent by the server at commit."""

    def notice(self, change: OrderChanged) -> Notice | None:
        return ORDERS_CHANNEL, encode_change(change)

    async def after_commit(self, change: OrderChanged) -> None:
        return None


@dataclass
class PublishAfterCommit:
    """Any other database: publish to the channels backend once the commit has returned."""

    channels: ChannelsPlugin

    def notice(self, change: OrderChanged) -> Notice | None:
        return None

    async def after_commit(self, change: OrderChanged) -> None:
        self.channels.publish(encode_change(change), ORDERS_CHANNEL)


def create_channels(settings: Settings) -> ChannelsPlugin:
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        url = make_url(settings.listen_database_url or settings.database_url)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        backend: ReconnectingPgChannelsBackend | MemoryChannelsBackend = ReconnectingPgChannelsBackend(dsn)
    else:
        backend = MemoryChannelsBackend()
    return ChannelsPlugin(backend=backend, channels=[ORDERS_CHANNEL])


def create_api_key_cache(channels: ChannelsPlugin) -> ApiKeyCache | None:
    """A key cache where every process hears revocations (PostgreSQL's LISTEN); None elsewhere."""
    backend = channels._backend  # the plugin exposes no accessor for its backend
    if isinstance(backend, ReconnectingPgChannelsBackend):
        # A lambda: the backend makes a new `connected` event each time it starts.
        return ApiKeyCache(listening=lambda: backend.connected.is_set())
    return None


def create_feed(settings: Settings, channels: ChannelsPlugin) -> NotifyInTransaction | PublishAfterCommit:
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        return NotifyInTransaction()
    return PublishAfterCommit(channels)


@dataclass(eq=False)
class BoardConnection:
    """One open board (a tablet's event stream), or a pickup screen's, and the messages waiting for it."""

    station: Station  # a pickup screen's shows every brand
    session_id: int | None = None  # the browser session it belongs to
    queue: asyncio.Queue[list[ServerSentEventMessage] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=BOARD_BACKLOG)
    )

    def send(self, messages: list[ServerSentEventMessage]) -> None:
        try:
            self.queue.put_nowait(messages)
        except asyncio.QueueFull:
            # Too slow to keep up: end its stream so it reconnects and resyncs.
            self.close()

    def close(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    def send_end(self) -> None:
        """End the stream after what is queued (close() drops it)."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.close()


class BoardHub:
    def __init__(
        self,
        channels: ChannelsPlugin,
        sessions: async_sessionmaker[AsyncSession],
        renderer: BoardRenderer,
        store: OrderStore,
        api_keys: ApiKeyCache | None = None,
        *,
        pickup: PickupScreens,
    ) -> None:
        self.channels = channels
        self.store = store
        self.api_keys = api_keys
        self.sessions = sessions
        self.renderer = renderer
        self.pickup = pickup
        self.boards: set[BoardConnection] = set()
        self.pickup_screens: set[BoardConnection] = set()
        self._watchers: set[asyncio.Queue[None]] = set()
        self._resync_cache: dict[ScreenKey, str] = {}
        self._resync_locks: defaultdict[ScreenKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._resync_slots = asyncio.Semaphore(RESYNC_CONNECTIONS)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._forget_stopping: Callable[[], None] | None = None

    async def wait_listening(self) -> None:
        """Until changes can reach this hub (the PostgreSQL LISTEN connection is up)."""
        backend = self.channels._backend  # the plugin exposes no accessor for its backend
        if isinstance(backend, ReconnectingPgChannelsBackend):
            await backend.connected.wait()

    async def start(self) -> None:
        subscriber = await self.channels.subscribe([ORDERS_CHANNEL])
        self._task = asyncio.create_task(self._listen(subscriber.iter_events()), name="board-hub")
        self._stopping = False
        self._forget_stopping = when_stopping(self.server_stopping)

    def server_stopping(self) -> None:
        """This process is stopping: every board is told to reconnect, to another worker or host
        behind the same address, and its stream ends at once; a board that connects now is told too."""
        if self._stopping:
            return
        self._stopping = True
        for board in self.streams():
            board.send([GOING_AWAY])
            board.send_end()

    async def stop(self) -> None:
        if self._forget_stopping is not None:
            self._forget_stopping()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for board in self.streams():
            board.close()

    async def _listen(self, events: AsyncIterator[bytes]) -> None:
        async for raw in events:
            # Any change makes every cached whole-board render stale.
            self._resync_cache.clear()
            for watcher in self._watchers:
                if watcher.empty():
                    watcher.put_nowait(None)
            if raw == RESYNC:
                # Notices may have been lost while the LISTEN connection was away.
                if self.api_keys is not None:
                    self.api_keys.clear()
                self.resync_all()
                continue
            if is_notice(raw):
                notice = decode_notice(raw)
                if isinstance(notice, EndedSessions):
                    self._end_streams(set(notice.ids))
                elif isinstance(notice, RevokedKeys) and self.api_keys is not None:
                    self.api_keys.clear()
                continue
            if raw == OFFLINE:
                offline = ServerSentEventMessage(event="offline", data="the server has lost its database")
                for board in self.streams():
                    board.send([offline])
                continue
            CHANGES_HEARD.inc()
            try:
                await self.broadcast(decode_change(raw))
            except Exception:
                # One bad event must not stop the boards; they resync on their next reconnect.
                log.exception("could not send a change to the boards")

    def streams(self) -> list[BoardConnection]:
        """Every open stream of this process: the boards and the pickup screens."""
        return [*self.boards, *self.pickup_screens]

    async def broadcast(self, change: OrderChanged) -> None:
        """Render the changed ticket once per station shown, and its all-day panel, and send them;
        and its pickup entry once, for every pickup screen.

        Boards of the same station with different brand filters share the ticket's render.
        """
        watching = [board for board in self.boards if board.station.shows(change.brand_id)]
        if not watching and not self.pickup_screens:
            return
        stations = {board.station for board in watching}
        async with self.sessions() as session:
            # The same record the API answers with, read by the same store.
            order = await self.store.read_order(await session.connection(), change.order_id)
            brands = await queries.brands(session)
            routes = await queries.routes(session, [order] if order is not None and watching else [])
            abandoned_before = self.renderer.abandoned_before()
            all_day = {station: await queries.all_day(session, station, abandoned_before) for station in stations}
        if self.pickup_screens:
            self._send_pickup(change.order_id, order, brands)
        if not watching:
            return
        gone = ServerSentEventMessage(event="ticket-gone", data=change.order_id)
        tickets: dict[str, ServerSentEventMessage] = {}
        for station in stations:
            if station.name in tickets:
                continue
            card = None
            if order is not None and belongs_on_board(order, self.renderer.clock(), self.renderer.settings.stale_after):
                card = self.renderer.ticket(order, brands, routes, station)
            tickets[station.name] = gone if card is None else ServerSentEventMessage(event="ticket", data=card)
        panels = {
            station: ServerSentEventMessage(event="all-day", data=self.renderer.all_day(rows))
            for station, rows in all_day.items()
        }
        for board in watching:
            board.send([tickets[board.station.name], panels[board.station]])
        BOARD_EVENTS_SENT.labels("change").inc(len(watching))

    def _send_pickup(self, order_id: str, order: OrderRecord | None, brands: dict[str, Brand]) -> None:
        """The order's entry to every pickup screen, or word that it has left, each with the order's
        version: a screen never lets an older event undo a newer one."""
        entry = self.pickup.entry(order, brands) if order is not None else None
        if entry is None:
            left = {"orderId": order_id, "version": order.version if order is not None else 0}
            message = ServerSentEventMessage(event="pickup-gone", data=msgspec.json.encode(left).decode())
        else:
            message = ServerSentEventMessage(event="pickup", data=entry)
        for screen in self.pickup_screens:
            screen.send([message])
        BOARD_EVENTS_SENT.labels("change").inc(len(self.pickup_screens))

    async def board_content(self, station: Station) -> str:
        """The whole board of a station, for a (re)connecting board."""
        return await self._whole_screen(
            station, lambda session: self.renderer.board_context(session, station), self.renderer.content
        )

    async def pickup_content(self) -> str:
        """Both columns of the pickup screen, for a (re)connecting pickup screen."""
        return await self._whole_screen(PICKUP_STREAMS, self.pickup.screen_context, self.pickup.columns_fragment)

    async def _whole_screen(
        self,
        key: ScreenKey,
        read: Callable[[AsyncSession], Awaitable[Context]],
        render: Callable[[Context], str],
    ) -> str:
        """A whole screen's render for a (re)connecting stream.

        After a restart every screen reconnects at once: they share one render per station (kept
        until the next change) and take turns for database connections, so the pool is not drained.
        """
        async with self._resync_locks[key]:
            cached = self._resync_cache.get(key)
            if cached is not None:
                return cached
            async with self._resync_slots, self.sessions() as session:
                context = await read(session)
            content = render(context)
            self._resync_cache[key] = content
            return content

    async def changes(self) -> AsyncIterator[None]:
        """Yields after orders change; changes that come while the caller is busy count as one."""
        watcher: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._watchers.add(watcher)
        try:
            while True:
                await watcher.get()
                yield None
        finally:
            self._watchers.discard(watcher)

    def _end_streams(self, ended: set[int]) -> None:
        signed_out = ServerSentEventMessage(event="signed-out", data="this device is no longer signed in")
        for board in self.streams():
            if board.session_id in ended:
                board.send([signed_out])
                board.send_end()

    async def alarms_changed(self, quiet: Sequence[QuietBrand]) -> None:
        """The alarm banners changed: every board gets them now, and a reconnecting board with its resync.

        Pickup screens show none: a quiet channel is for the kitchen to act on, not its couriers.
        """
        self._resync_cache.clear()
        banners = ServerSentEventMessage(event="alarms", data=self.renderer.alarms())
        for board in self.boards:
            board.send([banners])

    def resync_all(self) -> None:
        """Changes may have been missed: end every stream, so each board reconnects and resyncs."""
        for board in self.streams():
            board.close()

    def connect(self, station: Station, session_id: int | None = None) -> BoardConnection:
        board = BoardConnection(station, session_id)
        self.boards.add(board)
        BOARD_STREAMS.labels(station.name).inc()
        return board

    def connect_pickup(self, session_id: int | None = None) -> BoardConnection:
        screen = BoardConnection(Station(), session_id)
        self.pickup_screens.add(screen)
        BOARD_STREAMS.labels(PICKUP_STREAMS).inc()
        return screen

    def disconnect(self, board: BoardConnection) -> None:
        if board in self.boards:
            self.boards.discard(board)
            BOARD_STREAMS.labels(board.station.name).dec()
        elif board in self.pickup_screens:
            self.pickup_screens.discard(board)
            BOARD_STREAMS.labels(PICKUP_STREAMS).dec()

    def stream(
        self,
        station: Station,
        session_id: int | None = None,
        signed_in: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncGenerator[ServerSentEventMessage, None]:
        """A board's event stream: the whole board first (so a reconnect resyncs), then changes.

        It ends when its session ends: at once when the feed says so (`feed.end_sessions`), and at
        the latest at the next ping, which asks `signed_in` (should a notice have been lost).
        """
        return self._stream(lambda: self.connect(station, session_id), lambda: self.board_content(station), signed_in)

    def pickup_stream(
        self,
        session_id: int | None = None,
        signed_in: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncGenerator[ServerSentEventMessage, None]:
        """A pickup screen's event stream: both columns first, then each changed order's entry (or
        its leaving); it ends as a board's does (a session ended, a stop, a backlog too long)."""
        return self._stream(lambda: self.connect_pickup(session_id), self.pickup_content, signed_in)

    async def _stream(
        self,
        connect: Callable[[], BoardConnection],
        whole_screen: Callable[[], Awaitable[str]],
        signed_in: Callable[[], Awaitable[bool]] | None,
    ) -> AsyncGenerator[ServerSentEventMessage, None]:
        if self._stopping:
            yield GOING_AWAY
            return
        board = connect()
        try:
            try:
                content = await whole_screen()
            except Exception:
                # The stream's headers are out already: an error now would cut it off mid-answer.
                # Say the server is offline and end it; the board reconnects and resyncs.
                log.warning("could not render a board for its stream", exc_info=True)
                yield ServerSentEventMessage(event="offline", data="the server could not read the board", retry=2000)
                return
            # retry: how soon a browser that lost the stream tries again.
            yield ServerSentEventMessage(event="resync", data=content, retry=2000)
            while True:
                try:
                    messages = await asyncio.wait_for(board.queue.get(), timeout=PING_SECONDS)
                except TimeoutError:
                    if signed_in is not None and not await signed_in():
                        yield ServerSentEventMessage(event="signed-out", data="this device is no longer signed in")
                        return
                    # Lets the board tell a quiet kitchen from a dead connection.
                    yield ServerSentEventMessage(event="ping", data="")
                    continue
                if messages is None:
                    return
                for message in messages:
                    yield message
        finally:
            self.disconnect(board)
