"""The brand catalog on the wire."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

Colour = Annotated[str, Meta(pattern=r"^#[0-9a-fA-F]{6}$", description="Badge colour, `#rrggbb`.")]


class BrandIn(Struct, rename="camel", kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=80)]
    colour: Colour


class BrandView(Struct, rename="camel", kw_only=True):
    id: str
    name: str
    colour: str
