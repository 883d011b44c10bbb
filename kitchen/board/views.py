"""The cook boards: the page, its fragments, the live stream and every tap a cook makes.

Every tap goes through the order service, exactly like the JSON API: same rules, same
history (stamped `board`), same errors, shown on the ticket instead of as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
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
from kitchen.orders.service import OrderService, TapNotFound
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
        orders: NamedDependency[OrderService],
        brand: FromQuery[list[str] | None] = None,
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """A board: expo (whole tickets) by default, or one station's lines (`?station=grill`)."""
        board = Station.of(brand, station)
        context = await board_renderer.board_context(db_session, board)
        # A reloaded board keeps its undo stack: the server has it.
        stack = [{"id": t.id, "order": t.order_id, "until": t.until.isoformat()} for t in await orders.open_taps()]
        page = board_renderer.page(
            "board/page.html",
            settings=settings,
            csrf_token=csrf_token(request),
            undo_stack=msgspec.json.encode(stack).decode(),
            **context,
        )
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

    @post("/orders/{order_id:str}/lines/{line:int}/back")
    async def set_line_back(
        self,
        orders: NamedDependency[OrderService],
        db_session: NamedDependency[AsyncSession],
        board_renderer: NamedDependency[BoardRenderer],
        order_id: FromPath[str],
        line: FromPath[int],
        seen: Annotated[str | None, QueryParameter(name="from")] = None,
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """A line marked READY by mistake, found after its undo window: one step back, to PREPARING.

        Only from the READY the cook saw: sent twice, the second finds it moved and does nothing.
        """
        if _item_status(seen) is not ItemStatus.READY:
            raise FieldError("from", "from: only a READY line is set back", parameter=True)
        return await _tap(
            db_session,
            board_renderer,
            orders,
            Station.of(None, station),
            order_id,
            lambda: orders.set_line_back(order_id, line, EventSource.BOARD),
        )

    @post("/taps/{tap_id:int}/undo")
    async def undo_tap(
        self,
        orders: NamedDependency[OrderService],
        db_session: NamedDependency[AsyncSession],
        board_renderer: NamedDependency[BoardRenderer],
        tap_id: FromPath[int],
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """Take back one of this board's own changes (its undo stack names them), within the window.

        Answers with the ticket as it is now; an undo sent twice takes back once.
        """
        try:
            order_id = await orders.order_of_tap(tap_id)
        except TapNotFound as missing:
            raise NotFoundException(str(missing)) from missing
        board = Station.of(None, station)
        return await _tap(db_session, board_renderer, orders, board, order_id, lambda: orders.undo_tap(tap_id))

    @post("/orders/{order_id:str}/{action:str}")
    async def order_tap(
        self,
        orders: NamedDependency[OrderService],
        db_session: NamedDependency[AsyncSession],
        board_renderer: NamedDependency[BoardRenderer],
        order_id: FromPath[str],
        action: FromPath[str],
        station: FromQuery[str | None] = None,
    ) -> Response[str]:
        """A tap on a ticket's button: bump, recall, pickup or acknowledge."""
        if action not in ORDER_TAPS:
            raise NotFoundException(f"no ticket action {action!r}")
        return await _tap(
            db_session,
            board_renderer,
            orders,
            Station.of(None, station),
            order_id,
            lambda: ORDER_TAPS[action](orders, order_id),
        )


async def _bump(orders: OrderService, order_id: str) -> OrderRecord:
    """All ready: every open item of the order is done."""
    return await orders.set_order_status(order_id, OrderStatus.READY, EventSource.BOARD)


async def _recall(orders: OrderService, order_id: str) -> OrderRecord:
    """A bumped order goes back to the line."""
    return await orders.recall(order_id, EventSource.BOARD)


async def _pickup(orders: OrderService, order_id: str) -> OrderRecord:
    """The courier has it: the ticket leaves every board."""
    return await orders.set_order_status(order_id, OrderStatus.PICKED_UP, EventSource.BOARD)


async def _acknowledge(orders: OrderService, order_id: str) -> OrderRecord:
    """The cook has seen the cancellation: the struck-through ticket leaves the boards."""
    return await orders.acknowledge_cancellation(order_id)


def _item_status(value: str | None) -> ItemStatus | None:
    try:
        return None if value is None else ItemStatus(value)
    except ValueError as exc:
        raise FieldError("from", f"from: {value!r} is not an item status", parameter=True) from exc


ORDER_TAPS: dict[str, Callable[[OrderService, str], Awaitable[OrderRecord]]] = {
    "bump": _bump,
    "recall": _recall,
    "pickup": _pickup,
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
    answer = await _answer(session, renderer, order, station)
    if orders.last_tap is not None:
        # The change is on this board's undo stack: the board's script keeps the stack.
        answer.headers[TAP_HEADER] = f"{orders.last_tap.id} {orders.last_tap.until.isoformat()}"
    return answer


# "<tap id> <undo until>" of the change a tap made, for the board's undo stack.
TAP_HEADER = "Kitchen-Tap"


async def _answer(
    session: AsyncSession, renderer: BoardRenderer, order: OrderRecord, station: Station
) -> Response[str]:
    """The ticket as `station`'s board now shows it; empty when it has left the boards."""
    if not belongs_on_board(order, renderer.clock(), renderer.settings.stale_after):
        return html("")
    return html(await _card(session, renderer, order, station))


async def _card(
    session: AsyncSession, renderer: BoardRenderer, order: OrderRecord, station: Station, message: str | None = None
) -> str:
    routes = await queries.routes(session, [order])
    return renderer.ticket(order, await queries.brands(session), routes, station, message) or ""
