"""The couriers' screen by the door: the page, its columns fragment and its live stream.

It only shows: there is nothing to tap, and a pickup screen's device may change nothing anywhere
(the boards' guard refuses it). Pickup screens, cooks' tablets and managers may open it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.guards import screen_user, stream_session
from kitchen.board.live import BoardHub
from kitchen.http import html
from kitchen.pickup.screen import PickupRenderer
from kitchen.settings import Settings


class PickupController(Controller):
    path = "/pickup"
    include_in_schema = False
    guards = [screen_user]

    @get("/")
    async def pickup_page(
        self,
        db_session: NamedDependency[AsyncSession],
        pickup_renderer: NamedDependency[PickupRenderer],
        settings: NamedDependency[Settings],
    ) -> Response[str]:
        """Two big columns, "Preparing" and "Ready", of channel order ids in their brands' colours."""
        context = await pickup_renderer.screen_context(db_session)
        return html(pickup_renderer.page("pickup/page.html", settings=settings, **context))

    @get("/columns")
    async def pickup_columns(
        self, db_session: NamedDependency[AsyncSession], pickup_renderer: NamedDependency[PickupRenderer]
    ) -> Response[str]:
        """Both columns as one fragment: what the screen polls when it cannot hold the stream."""
        return html(await pickup_renderer.columns(db_session))

    @get("/stream")
    async def pickup_stream(
        self, request: Request[Any, Any, Any], board_hub: NamedDependency[BoardHub]
    ) -> ServerSentEvent:
        """Both columns, then every changed order's entry; it ends when the device is unpaired."""
        session_id, signed_in = stream_session(request)
        return ServerSentEvent(board_hub.pickup_stream(session_id, signed_in), headers={"Cache-Control": "no-store"})
