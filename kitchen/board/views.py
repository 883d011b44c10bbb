"""The cook boards: the page, its fragments, the live stream and every tap a cook makes.

Every tap goes through the order service, exactly like the JSON API: same rules, same
history (stamped `board`), same errors, shown on the ticket instead of as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, ServerSentEvent
from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.guards import board_user, screen_user, stream_session
from kitchen.board import queries
from kitchen.board.live import BoardHub
from kitchen.board.render import BoardRenderer
from kitchen.board.rules import belongs_on_board
from kitchen.board.station import Station
from kitchen.fields import FieldError
from kitchen.http import csrf_token, html
from kitchen.orders.models import EventSource
from kitchen.orders.records import OrderRecord
from kitchen.orders.service import OrderService
from kitchen.orders.status import ItemStatus, OrderStatus, TransitionNotAllowed
from kitchen.settings import Settings


@get("/", include_in_schema=False)
async def home() -> Redirect:
    return Redirect("/board")


@get("/board/brands.css", guards=[screen_user], cache=60, include_in_schema=False)
async def brands_css(
    db_session: NamedDependency[AsyncSession], board_renderer: NamedDependency[BoardRenderer]
) -> Response[str]:
    """Brand colours as classes, so screens need no inline styles (a strict CSP forbids them):
    the boards' and the pickup screen's."""
    css = board_renderer.brands_css(await queries.brands(db_session))
    return Response(css, media_type="text/css")


class BoardController(Controller):
    path = "/board"
    include_in_schema = False
    guards = [board_user]

    @get("/")
    async def board_page(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        board_renderer: NamedDependency[BoardRenderer],
        settings: NamedDependency[Settings],
        brand: FromQuery[list[str] | None] = None,
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """A board: expo (whole tickets) by default, or one station's lines (`?station=grill`)."""
        board = Station.of(brand, station)
        context = await board_renderer.board_context(db_session, board)
        page = board_renderer.page("board/page.html", settings=settings, csrf_token=csrf_token(request), **context)
        return html(page)

    @get("/tickets")
    async def board_tickets(
        self,
        db_session: NamedDependency[AsyncSession],
        board_renderer: NamedDependency[BoardRenderer],
        brand: FromQuery[list[str] | None] = None,
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """The whole board as one fragment: what a board polls when it cannot hold the stream."""
        return html(await board_renderer.board_content(db_session, Station.of(brand, station)))

    @get("/stream")
    async def board_stream(
        self,
        request: Request[Any, Any, Any],
        board_hub: NamedDependency[BoardHub],
        brand: FromQuery[list[str] | None] = None,
        station: FromQuery[str | None] = None,
    ) -> ServerSentEvent:
        session_id, signed_in = stream_session(request)
        board = Station.of(brand, station)  # before the stream opens, so a bad name is a 400
        stream = board_hub.stream(board, session_id, signed_in)
        return ServerSentEvent(stream, headers={"Cache-Control": "no-store"})

    @post("/orders/{order_id:str}/lines/{line:int}/advance")
    async def advance_line(
        self,
        orders: NamedDependency[OrderService],
        db_session: NamedDependency[AsyncSession],
        board_renderer: NamedDependency[BoardRenderer],
        order_id: FromPath[str],
        line: FromPath[int],
        seen: Annotated[str | None, QueryParameter(name="from")] = None,
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """One tap on an item: ORDERED → PREPARING → READY, from the status the cook saw."""
        seen_status = _item_status(seen)
        return await _tap(
            db_session,
            board_renderer,
            orders,
            Station.of(None, station),
            order_id,
            lambda: orders.advance_line(order_id, line, EventSource.BOARD, seen_status),
        )

    @post("/orders/{order_id:str}/{action:str}")
    async def order_tap(
        self,
        orders: NamedDependency[OrderService],
        db_session: NamedDependency[AsyncSession],
        board_renderer: NamedDependency[BoardRenderer],
        settings: NamedDependency[Settings],
        order_id: FromPath[str],
        action: FromPath[str],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """A tap on a ticket's button: bump, recall, pickup, undo (of `version`) or acknowledge."""
        if action not in ORDER_TAPS:
            raise NotFoundException(f"no ticket action {action!r}")
        return await _tap(
            db_session,
            board_renderer,
            orders,
            Station.of(None, station),
            order_id,
            lambda: ORDER_TAPS[action](orders, order_id, settings, version),
        )


async def _bump(orders: OrderService, order_id: str, _: Settings, __: int | None) -> OrderRecord:
    """All ready: every open item of the order is done."""
    return await orders.set_order_status(order_id, OrderStatus.READY, EventSource.BOARD)


async def _recall(orders: OrderService, order_id: str, _: Settings, __: int | None) -> OrderRecord:
    """A bumped order goes back to the line."""
    return await orders.recall(order_id, EventSource.BOARD)


async def _pickup(orders: OrderService, order_id: str, _: Settings, __: int | None) -> OrderRecord:
    """The courier has it: the ticket leaves every board."""
    return await orders.set_order_status(order_id, OrderStatus.PICKED_UP, EventSource.BOARD)


async def _undo(orders: OrderService, order_id: str, settings: Settings, version: int | None) -> OrderRecord:
    """Take back this board's last change on the ticket, within the undo window."""
    window = timedelta(seconds=settings.undo_seconds)
    return await orders.undo_last_change(order_id, window, EventSource.BOARD, version)


async def _acknowledge(orders: OrderService, order_id: str, _: Settings, __: int | None) -> OrderRecord:
    """The cook has seen the cancellation: the struck-through ticket leaves the boards."""
    return await orders.acknowledge_cancellation(order_id)


def _item_status(value: str | None) -> ItemStatus | None:
    try:
        return None if value is None else ItemStatus(value)
    except ValueError as exc:
        raise FieldError("from", f"from: {value!r} is not an item status", parameter=True) from exc


ORDER_TAPS: dict[str, Callable[[OrderService, str, Settings, int | None], Awaitable[OrderRecord]]] = {
    "bump": _bump,
    "recall": _recall,
    "pickup": _pickup,
    "undo": _undo,
    "acknowledge": _acknowledge,
}


async def _tap(
    session: AsyncSession,
    renderer: BoardRenderer,
    orders: OrderService,
    station: Station,
    order_id: str,
    change: Callable[[], Awaitable[OrderRecord]],
) -> Response[str]:
    """Run a tap and answer with the ticket as `station`'s board now shows it (empty when it left).

    A refused tap answers 409 with the unchanged ticket and the reason on it, so the cook sees
    why; nothing was written.
    """
    try:
        order = await change()
    except TransitionNotAllowed as refused:
        current = await orders.get_order(order_id)
        message = f"Not possible: {refused}"
        card = await _card(session, renderer, current, station, message)
        return html(card, HTTP_409_CONFLICT)
    if not belongs_on_board(order, renderer.clock()):
        return html("")
    return html(await _card(session, renderer, order, station))


async def _card(
    session: AsyncSession, renderer: BoardRenderer, order: OrderRecord, station: Station, message: str | None = None
) -> str:
    routes = await queries.routes(session, [order])
    return renderer.ticket(order, await queries.brands(session), routes, station, message) or ""
