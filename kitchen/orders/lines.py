"""What an order line carries besides its PLU: a note, modifiers and allergens, as the channel sent them.

Stored as JSON text in plain text columns (not a JSON column type): the PostgreSQL store's hot
statements run on asyncpg directly, past SQLAlchemy's type processing, so both databases hold
the same text and this module is the one place it is encoded and decoded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from kitchen.fields import FieldError

# Notes are read by a cook at the pass: line breaks and tabs are fine, other control characters
# (NUL above all, which PostgreSQL cannot store) are refused.
_NOTE_CHARACTERS = r"^[^\x00-\x08\x0b-\x1f\x7f]*(?![\s\S])"
_SHORT_TEXT = r"^[^\x00-\x1f\x7f]*(?![\s\S])"
NOTE_LENGTH = 500
MAX_MODIFIERS = 30
MAX_ALLERGENS = 20

Note = Annotated[
    str, Meta(max_length=NOTE_LENGTH, pattern=_NOTE_CHARACTERS, description="Free text for the cook, shown in full.")
]
Allergen = Annotated[str, Meta(min_length=1, max_length=40, pattern=_SHORT_TEXT, examples=["sesame"])]
Allergens = Annotated[list[Allergen], Meta(max_length=MAX_ALLERGENS)]


class Modifier(Struct, rename="camel", kw_only=True):
    """An option of an item ("no onions", "extra cheese"), in the order the channel sent them."""

    name: Annotated[str, Meta(min_length=1, max_length=200, pattern=_SHORT_TEXT)]
    plu: Annotated[str, Meta(min_length=1, max_length=64, pattern=_SHORT_TEXT)] | None = None
    quantity: Annotated[int, Meta(ge=1, le=999)] = 1


Modifiers = Annotated[list[Modifier], Meta(max_length=MAX_MODIFIERS)]


def short_text(field: str, value: str, max_length: int) -> str:
    """`value` without the spaces around it, when that is 1 to `max_length` characters on one line
    with no control characters (the rule of modifiers and allergens); else a FieldError."""
    text = value.strip()
    if not 0 < len(text) <= max_length:
        raise FieldError(field, f"{field}: give 1 to {max_length} characters (got {len(text)})")
    if re.match(_SHORT_TEXT, text) is None:
        raise FieldError(field, f"{field}: one line of text, without control characters")
    return text


_encoder = msgspec.json.Encoder()
_modifiers = msgspec.json.Decoder(list[Modifier])
_strings = msgspec.json.Decoder(list[str])


def encode_list(values: Sequence[Any]) -> str | None:
    """A list as the text a column stores; an empty list is stored as NULL."""
    return _encoder.encode(list(values)).decode() if values else None


def decode_modifiers(stored: str | None) -> list[Modifier]:
    return _modifiers.decode(stored) if stored else []


def decode_strings(stored: str | None) -> list[str]:
    return _strings.decode(stored) if stored else []


# Fields added after orders were first stored: left out of the payload hash when empty, so an
# order stored before they existed, retried unchanged, still hashes to what was stored.
_NEW_ORDER_FIELDS = ("note", "allergens")
_NEW_ITEM_FIELDS = ("note", "modifiers", "allergens")


def payload_hash_text(payload: dict[str, Any]) -> bytes:
    """The bytes a create payload (as `msgspec.to_builtins` gives it) is hashed from."""
    for key in _NEW_ORDER_FIELDS:
        if not payload.get(key):
            payload.pop(key, None)
    for item in payload.get("items", ()):
        for key in _NEW_ITEM_FIELDS:
            if not item.get(key):
                item.pop(key, None)
    return _encoder.encode(payload)
