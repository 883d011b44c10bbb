"""A board's station: which kitchen station it cooks for (expo sees whole tickets) and which brands.

A station board shows only the lines its station cooks, routed by the brands' menus when the
board is read (a menu change re-routes every open line at once); a PLU no menu names goes to
`unassigned`, which every station board shows until a manager maps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from kitchen.fields import FieldError
from kitchen.menu.models import STATION_LENGTH
from kitchen.menu.service import EXPO, UNASSIGNED

MAX_BRANDS = 50
# The same names a menu may give a station (menu/schemas.py StationName).
_STATION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class Route:
    """Where a line is cooked, and how long one takes there (None: nobody has measured it)."""

    station: str = UNASSIGNED
    prep_seconds: int | None = None


# Each brand's menu, by (brand id, PLU).
Routes = dict[tuple[str, str], Route]
NOT_ROUTED = Route()


@dataclass(frozen=True, slots=True)
class Station:
    brand_ids: frozenset[str] = frozenset()  # empty: every brand
    name: str = EXPO

    @classmethod
    def of(cls, brand_ids: Iterable[str] | None, name: str | None = None) -> Station:
        """The station a board's URL names (`?station=grill&brand=a`); no station is expo."""
        name = name or EXPO
        if len(name) > STATION_LENGTH or not _STATION_NAME.fullmatch(name):
            raise FieldError(
                "station", f"station: {name[:STATION_LENGTH]!r} is not a station name, such as grill", parameter=True
            )
        # A station is a handful of brands; the cap keeps a crafted URL from costing unbounded work.
        return cls(frozenset(b for b in list(brand_ids or ())[:MAX_BRANDS] if b), name)

    @property
    def is_expo(self) -> bool:
        return self.name == EXPO

    def shows(self, brand_id: str) -> bool:
        return not self.brand_ids or brand_id in self.brand_ids

    def cooks(self, route: Route) -> bool:
        """Whether a line routed this way is on this board: expo sees all, `unassigned` is on every board."""
        return self.is_expo or route.station in (self.name, UNASSIGNED)

    def query(self) -> str:
        """The query string that bookmarks this board, e.g. `?brand=a&station=grill` ('' for expo, all brands)."""
        pairs = [("brand", b) for b in sorted(self.brand_ids)]
        if not self.is_expo:
            pairs.append(("station", self.name))
        return "?" + urlencode(pairs) if pairs else ""

    def tap_query(self) -> str:
        """What a tap carries so its answer is this board's card: `&station=grill`, '' on expo."""
        return "" if self.is_expo else "&" + urlencode([("station", self.name)])
