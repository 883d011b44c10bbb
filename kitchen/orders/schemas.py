"""Request and response shapes of the orders API (camelCase on the wire)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from kitchen.orders.lines import Allergens, Modifier, Modifiers, Note
from kitchen.orders.models import ID_LENGTH
from kitchen.orders.status import UnknownStatus, parse_item_status, parse_order_status

# Identifiers end up in paths, logs, CSV files and board markup: no control characters in them.
# (`(?![\s\S])` is the end of the string: `$` would let a trailing newline through.)
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*(?![\s\S])"
Id = Annotated[
    str,
    Meta(min_length=1, max_length=ID_LENGTH, pattern=NO_CONTROL_CHARACTERS, description="No control characters."),
]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Quantity = Annotated[int, Meta(ge=1, le=999, description="How many of this item; 1 to 999.")]
_STATUS_HELP = (
    "A status name in any case, or the channel's integer code. Orders: RECEIVED 1, PREPARING 2, READY 3,"
    " PICKED_UP 4, CANCELLED 5. Items: ORDERED 1, PREPARING 2, READY 3, CANCELLED 5."
)
StatusValue = Annotated[int | str, Meta(description=_STATUS_HELP, examples=["PREPARING"])]
# What a new order and its items must start as (and what a channel's history reports, by code).
FirstStatus = Annotated[int | str, Meta(description=_STATUS_HELP + " A new order starts at 1.", examples=[1])]

MAX_ITEMS = 100
MAX_HISTORY = 100


class Customer(Struct, rename="camel", kw_only=True):
    name: Name
    phone_number: Annotated[str, Meta(max_length=40)] | None = None


class DeliveryAddress(Struct, rename="camel", kw_only=True):
    street: Annotated[str, Meta(max_length=200)] | None = None
    city: Annotated[str, Meta(max_length=100)] | None = None
    postal_code: Annotated[str, Meta(max_length=20)] | None = None


class NewItem(Struct, rename="camel", kw_only=True):
    plu: Id
    name: Name
    quantity: Quantity
    status: FirstStatus | None = None
    note: Note | None = None
    modifiers: Modifiers = msgspec.field(default_factory=list)
    allergens: Allergens = msgspec.field(default_factory=list)


class ReportedStatus(Struct, rename="camel", kw_only=True):
    """A status change as the delivery channel reported it."""

    status: FirstStatus
    timestamp: datetime


class NewOrder(Struct, rename="camel", kw_only=True):
    """An order as a delivery channel sends it. Unknown keys are ignored; `_id` is read as `id`."""

    id: Id | None = None
    account: Id
    brand_id: Id
    channel_order_id: Id
    customer: Customer
    delivery_address: DeliveryAddress | None = None
    pickup_time: datetime
    created: datetime | None = None
    items: Annotated[list[NewItem], Meta(min_length=1, max_length=MAX_ITEMS)]
    status: FirstStatus | None = None
    status_history: Annotated[list[ReportedStatus], Meta(max_length=MAX_HISTORY)] = msgspec.field(default_factory=list)
    note: Note | None = None
    allergens: Allergens = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # Each message starts with the field it concerns; errors.py turns that into `field`.
        _check_status(self.status, parse_order_status, "status")
        # A PLU may repeat: each item is a line of its own (the same burger, one without onions).
        for index, item in enumerate(self.items):
            _check_status(item.status, parse_item_status, f"items[{index}].status")
        for index, entry in enumerate(self.status_history):
            _check_status(entry.status, parse_order_status, f"statusHistory[{index}].status")
        # A naive time is read as UTC; everything is stored and compared in UTC.
        self.pickup_time = as_utc(self.pickup_time, "pickupTime")
        if self.created is not None:
            self.created = as_utc(self.created, "created")
        for index, entry in enumerate(self.status_history):
            entry.timestamp = as_utc(entry.timestamp, f"statusHistory[{index}].timestamp")


class StatusChange(Struct, kw_only=True):
    status: StatusValue


class HistoryEntry(Struct, rename="camel", kw_only=True):
    status: str
    timestamp: datetime
    source: str
    # Who made the change ("api-key:wolt", "tablet:Grill", "manager:anna"); null for channel history.
    actor: str | None
    # Why: given when a finished order was brought back (a courier returned it); null for every other change.
    reason: str | None = None


class ItemView(Struct, rename="camel", kw_only=True):
    line: int  # 1-based position in the payload, stable for the order's life
    plu: str
    name: str
    quantity: int
    status: str
    status_history: list[HistoryEntry]
    note: str | None
    modifiers: list[Modifier]
    allergens: list[str]


class OrderView(Struct, rename="camel", kw_only=True):
    id: str
    account: str
    brand_id: str
    channel_order_id: str
    customer: Customer
    delivery_address: DeliveryAddress | None
    pickup_time: datetime
    created: datetime | None
    status: str
    items: list[ItemView]
    status_history: list[HistoryEntry]
    note: str | None
    allergens: list[str]
    created_at: datetime
    updated_at: datetime


class OrderPage(Struct, kw_only=True):
    items: list[OrderView]
    total: int
    limit: int
    offset: int


def _check_status(value: int | str | None, parse: Callable[[int | str], object], field: str) -> None:
    if value is None:
        return
    try:
        parse(value)
    except UnknownStatus as exc:
        raise ValueError(f"{field}: {exc}") from exc


def as_utc(moment: datetime, field: str = "time") -> datetime:
    """Read a naive datetime as UTC and convert an aware one to UTC.

    A time whose UTC is outside the years 1 to 9999 (0001-01-01T00:00:00+14:00) cannot be
    represented: a ValueError naming `field`.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{field}: {moment.isoformat()} is outside the years 1 to 9999 in UTC") from exc
