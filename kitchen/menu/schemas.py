"""The menu and the stations on the wire."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from kitchen.menu.models import STATION_LENGTH
from kitchen.orders.schemas import Id, Name

MAX_MENU_ITEMS = 2000
# The kitchen's own names: lowercase words such as grill, fryer, cold, drinks (also used in URLs).
StationName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=STATION_LENGTH,
        pattern=r"^[a-z0-9][a-z0-9_-]*(?![\s\S])",
        description="Lowercase letters, digits, `-` and `_`, e.g. `grill`.",
        examples=["grill"],
    ),
]
PrepSeconds = Annotated[int, Meta(ge=0, le=86400, description="Seconds the station needs for one; 0 to 86400.")]


class MenuEntry(Struct, rename="camel", kw_only=True):
    plu: Id
    name: Name
    station: StationName
    prep_seconds: PrepSeconds | None = None


class StationView(Struct, rename="camel", kw_only=True):
    name: str
    menu_items: int  # how many PLUs, over every brand's menu, it cooks
