"""The boards' Recent list: orders picked up or cancelled lately, and bringing one back.

A courier returns an order, or a cancellation was a mistake: a manager or a kitchen tablet
brings the order back with a reason, through the order service like every tap (same lock,
history, undo stack and live update of every board). Plain forms, so it works without script.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_404_NOT_FOUND, HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.guards import board_user
from kitchen.board import queries
from kitchen.board.queries import FinishedOrder
from kitchen.board.render import brand_class, order_dom_id
from kitchen.brands.models import Brand
from kitchen.fields import FieldError
from kitchen.orders.bring_back import BRING_BACK_WINDOW
from kitchen.orders.models import EventSource
from kitchen.orders.service import OrderNotFound, OrderService
from kitchen.orders.status import OrderStatus, TransitionNotAllowed
from kitchen.pages import page
from kitchen.settings import Settings

_FINISHED_WORDS = {OrderStatus.PICKED_UP: "picked up", OrderStatus.CANCELLED: "cancelled"}


@dataclass(frozen=True, slots=True)
class RecentRow:
    """One finished order as the Recent list shows it."""

    dom_id: str
    channel_order_id: str
    brand_name: str
    brand_class: str
    status: str
    when: str  # "picked up 12:41, 7 min ago", in the kitchen's time
    actor: str  # who made it final
    bring_back_url: str


def ago(elapsed_seconds: float) -> str:
    minutes = int(elapsed_seconds // 60)
    return "just now" if minutes < 1 else f"{minutes} min ago"


def recent_rows(
    finished: Sequence[FinishedOrder], brands: dict[str, Brand], now: datetime, zone: tzinfo
) -> list[RecentRow]:
    """The rows of the Recent list, in the order given (newest first)."""
    rows = []
    for entry in finished:
        order, brand = entry.order, brands.get(entry.order.brand_id)
        local = entry.at.astimezone(zone).strftime("%H:%M")
        rows.append(
            RecentRow(
                dom_id=order_dom_id("recent", order.id),
                channel_order_id=order.channel_order_id,
                brand_name=brand.name if brand else order.brand_id,
                brand_class=brand_class(order.brand_id) if brand else "brand-unknown",
                status=order.status,
                when=f"{_FINISHED_WORDS[OrderStatus(order.status)]} {local}, {ago((now - entry.at).total_seconds())}",
                actor=entry.actor or "unknown",
                bring_back_url=f"/board/orders/{quote(order.id, safe='')}/bring-back",
            )
        )
    return rows


class BringBackForm(msgspec.Struct, kw_only=True):
    reason: str = ""


class RecentController(Controller):
    """GET /board/recent and the bring-back its forms post: the boards' guard (tablets and managers)."""

    path = "/board"
    include_in_schema = False
    guards = [board_user]

    async def _page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        settings: Settings,
        orders: OrderService,
        status_code: int = 200,
        **shown: object,
    ) -> Template:
        now = orders.clock()
        finished = await queries.recently_finished(session, now - BRING_BACK_WINDOW)
        rows = recent_rows(finished, await queries.brands(session), now, settings.zone)
        minutes = int(BRING_BACK_WINDOW.total_seconds() // 60)
        return page(request, "board/recent.html", {"rows": rows, "minutes": minutes, **shown}, status_code=status_code)

    @get("/recent")
    async def recent_page(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        orders: NamedDependency[OrderService],
        back: FromQuery[str | None] = None,
    ) -> Template:
        """Orders picked up or cancelled in the last 30 minutes, newest first, each with a form to bring it back."""
        confirmed = None
        if back is not None:
            with contextlib.suppress(OrderNotFound):
                order = await orders.get_order(back)
                confirmed = f"{order.channel_order_id} is back on the boards: {order.status}."
        return await self._page(request, db_session, settings, orders, confirmed=confirmed)

    @post("/orders/{order_id:str}/bring-back")
    async def bring_back(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        orders: NamedDependency[OrderService],
        order_id: FromPath[str],
        data: URLEncodedBody[BringBackForm],
    ) -> Redirect | Template:
        """Bring a finished order back, with the reason given: then back to the list, which says so.

        A refusal (too old, not finished, no reason) shows why on the list, with a 4xx; nothing is written.
        """
        try:
            order = await orders.bring_back(order_id, data.reason, EventSource.BOARD)
        except FieldError as refused:
            return await self._page(
                request, db_session, settings, orders, HTTP_422_UNPROCESSABLE_ENTITY, error=f"Not possible: {refused}"
            )
        except OrderNotFound as missing:
            return await self._page(request, db_session, settings, orders, HTTP_404_NOT_FOUND, error=str(missing))
        except TransitionNotAllowed as refused:
            return await self._page(
                request, db_session, settings, orders, HTTP_409_CONFLICT, error=f"Not possible: {refused}"
            )
        return Redirect(f"/board/recent?back={quote(order.id, safe='')}", status_code=303)
