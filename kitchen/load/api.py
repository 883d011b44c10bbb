"""GET /api/kitchen/load: the load on each station and each brand's quote, computed now."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from kitchen.auth.guards import api_client
from kitchen.errors import ERROR_RESPONSES
from kitchen.load.schemas import KitchenLoadView, load_view
from kitchen.load.service import LoadService


class LoadController(Controller):
    path = "/api/kitchen"
    guards = [api_client]
    tags = ["kitchen load"]

    @get(
        "/load",
        summary="The load on each station, and a prep-time quote per brand",
        description="Per station: its open lines, the work they represent and how far behind start-by the"
        " waiting ones are. Per brand with a typical order: the minutes a new typical order would take to be"
        " ready now (measured prep times of the last hour, the work ahead on each station it uses, packing),"
        " and `busy` when that is over KITCHEN_BUSY_QUOTE_MINUTES. Computed at the request; see the README.",
        responses=ERROR_RESPONSES(),
    )
    async def kitchen_load(self, load: NamedDependency[LoadService]) -> KitchenLoadView:
        return load_view(await load.now(), load.rules.busy_quote_minutes)
