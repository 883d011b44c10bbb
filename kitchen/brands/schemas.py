"""The brand catalog on the wire."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

# `(?![\s\S])` is the end of the string: `$` would let "#e4572e\n" through.
Colour = Annotated[str, Meta(pattern=r"^#[0-9a-fA-F]{6}(?![\s\S])", description="Badge colour, `#rrggbb`.")]


class BrandIn(Struct, rename="camel", kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=80)]
    colour: Colour


class BrandView(Struct, rename="camel", kw_only=True):
    id: str
    name: str
    colour: str
