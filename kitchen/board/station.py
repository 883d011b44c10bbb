"""A station: the set of brands one tablet shows (empty means every brand)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_BRANDS = 50


@dataclass(frozen=True, slots=True)
class Station:
    brand_ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, brand_ids: Iterable[str] | None) -> Station:
        # A station is a handful of brands; the cap keeps a crafted URL from costing unbounded work.
        return cls(frozenset(b for b in list(brand_ids or ())[:MAX_BRANDS] if b))

    def shows(self, brand_id: str) -> bool:
        return not self.brand_ids or brand_id in self.brand_ids
