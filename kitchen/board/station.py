"""A station: the set of brands one tablet shows (empty means every brand)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Station:
    brand_ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, brand_ids: Iterable[str] | None) -> Station:
        return cls(frozenset(b for b in brand_ids or () if b))

    def shows(self, brand_id: str) -> bool:
        return not self.brand_ids or brand_id in self.brand_ids
