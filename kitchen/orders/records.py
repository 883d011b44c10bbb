"""An order as plain records: the one shape the service, the planner, the stores and the board share.

Plain dataclasses, no ORM: GET, PATCH and POST each answer with a whole order, a full board
shows hundreds of them, and building ORM objects (identity map, relationship bookkeeping) cost
more than the queries themselves. The ORM models (`models.py`) stay for the schema, the list
endpoint's filters, migrations and the admin CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kitchen.orders.lines import Modifier


@dataclass(slots=True)
class EventRecord:
    """One history row of an order or of an item (`id` is None for a row written but not read back)."""

    id: int | None
    status: str
    at: datetime
    ended_at: datetime | None
    source: str
    actor: str | None
    reason: str | None = None  # an order's row of a bring-back says why; every other row has none


@dataclass(slots=True)
class ItemRecord:
    id: int
    plu: str
    name: str
    quantity: int
    status: str
    line: int = 0  # 1-based position in the payload (items are stored, and read, in that order)
    note: str | None = None
    modifiers: list[Modifier] = field(default_factory=list)
    allergens: list[str] = field(default_factory=list)
    history: list[EventRecord] = field(default_factory=list)  # in the order written


@dataclass(slots=True)
class OrderRecord:
    """The whole order: its row, its items in the order they were sent, and both history streams."""

    id: str
    account: str
    brand_id: str
    channel_order_id: str
    customer_name: str
    customer_phone: str | None
    delivery_street: str | None
    delivery_city: str | None
    delivery_postal_code: str | None
    pickup_time: datetime
    channel_created_at: datetime | None
    status: str
    version: int
    payload_hash: str
    last_change_source: str | None
    cancel_acknowledged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    note: str | None
    allergens: list[str]
    items: list[ItemRecord] = field(default_factory=list)
    history: list[EventRecord] = field(default_factory=list)  # in the order written
