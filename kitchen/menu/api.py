"""The menu API: which station cooks each of a brand's PLUs, and how long it takes."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from msgspec import Meta

from kitchen.auth.guards import api_client
from kitchen.errors import ERROR_RESPONSES
from kitchen.menu.models import MenuItem
from kitchen.menu.schemas import MAX_MENU_ITEMS, MenuEntry, StationView
from kitchen.menu.service import MenuService
from kitchen.orders.models import ID_LENGTH

BrandId = Annotated[str, PathParameter(max_length=ID_LENGTH, min_length=1)]


def menu_entry(item: MenuItem) -> MenuEntry:
    return MenuEntry(plu=item.plu, name=item.name, station=item.station, prep_seconds=item.prep_seconds)


class MenuController(Controller):
    guards = [api_client]
    tags = ["menu"]

    @get("/api/brands/{brand_id:str}/menu", summary="A brand's menu, by PLU", responses=ERROR_RESPONSES(400))
    async def get_menu(self, menu: NamedDependency[MenuService], brand_id: BrandId) -> list[MenuEntry]:
        return [menu_entry(item) for item in await menu.menu(brand_id)]

    @put(
        "/api/brands/{brand_id:str}/menu",
        summary="Replace a brand's whole menu",
        description=(
            "Each PLU goes to its station's board, started `prepSeconds` before its pickup (less the"
            " packing time). A PLU no menu names goes to the `unassigned` station, which every station"
            f" board shows. At most {MAX_MENU_ITEMS} entries; `expo` and `unassigned` are not stations a"
            " menu can name."
        ),
        status_code=200,
        responses=ERROR_RESPONSES(400, 422),
    )
    async def put_menu(
        self,
        menu: NamedDependency[MenuService],
        brand_id: BrandId,
        data: JSONBody[Annotated[list[MenuEntry], Meta(max_length=MAX_MENU_ITEMS)]],
    ) -> list[MenuEntry]:
        return [menu_entry(item) for item in await menu.replace_menu(brand_id, data)]

    @get("/api/stations", summary="Every station a menu names, then `unassigned`", responses=ERROR_RESPONSES())
    async def list_stations(self, menu: NamedDependency[MenuService]) -> list[StationView]:
        return await menu.stations()
