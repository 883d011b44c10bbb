"""What a change writes, planned in plain Python: the new record and every row, analytics included.

`status.py` decides what a change means (a `Plan`: which statuses move); this module turns a
plan into the order as it will be and a description of every row to write (`StatusChange`,
`NewOrderChange`). It does no I/O: the two stores (`kitchen.orders.stores`) only translate the
description into SQL, one statement on PostgreSQL, statement by statement on SQLite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import uuid_utils

from kitchen.fields import FieldError
from kitchen.orders.models import EventSource
from kitchen.orders.records import EventRecord, ItemRecord, OrderRecord
from kitchen.orders.schemas import NewOrder
from kitchen.orders.status import ItemStatus, OrderStatus, Plan, parse_item_status, parse_order_status
from kitchen.orders.summaries.rows import SummaryRows, SummaryWriter


@dataclass(slots=True)
class StatusWrites:
    """The history and status rows one status change of an order writes."""

    order_id: str
    now: datetime
    source: str
    actor: str | None
    order_status: str  # the order's status after the change
    order_entered: bool  # the order's status changed: one new order history row
    reason: str | None = None  # why, on that row: only a bring-back gives one
    items: list[tuple[int, str]] = field(default_factory=list)  # (item id, new status), each with a history row
    ended_order_events: list[int] = field(default_factory=list)  # stays that end now
    ended_item_events: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A planned status change: the order as it will be, and everything to write for it."""

    order: OrderRecord
    writes: StatusWrites
    summaries: SummaryRows


@dataclass(frozen=True, slots=True)
class NewOrderChange:
    """A new order: its record (item ids not yet known), its first history rows and summaries."""

    order: OrderRecord
    # (status, at, source, actor) of the order's history: the channel's reports, then RECEIVED.
    order_events: list[tuple[str, datetime, str, str | None]]
    item_status: str
    source: str
    actor: str | None
    summaries: SummaryRows


# A change is stamped at least this much after the order's latest event.
STAMP_STEP = timedelta(microseconds=1)


def change_stamp(order: OrderRecord, clock_now: datetime) -> datetime:
    """The time of a change of `order`, read while the change holds the order's lock.

    Never at or before the order's latest event: should the server clock step back (an NTP
    correction) or another host's clock run behind, a stay would otherwise end before it began
    and its duration be negative. Strictly later, so the rows of one change share a stamp that
    no other change of the order has (undo finds what the last change moved by it).
    """
    latest = order.updated_at
    for event in _server_events(order):
        latest = max(latest, event.at)
    return max(clock_now, latest + STAMP_STEP)


def _server_events(order: OrderRecord) -> Iterator[EventRecord]:
    for history in (order.history, *(item.history for item in order.items)):
        yield from (event for event in history if event.source != EventSource.CHANNEL)


def _enter(
    history: list[EventRecord], status: str, now: datetime, source: str, actor: str | None, reason: str | None = None
) -> tuple[list[EventRecord], EventRecord | None]:
    """A stream's history with its open stay ended at `now` and `status` entered; and the stay ended.

    `history` is in the order it was written, so the stream's open stay is its last server row.
    """
    entered = [*history, EventRecord(None, status, now, None, source, actor, reason)]
    for index in range(len(history) - 1, -1, -1):
        event = history[index]
        if event.source == EventSource.CHANNEL:
            continue
        if event.ended_at is not None:
            break
        ended = dataclasses.replace(event, ended_at=now)
        entered[index] = ended
        return entered, ended
    return entered, None


def plan_writes(
    order: OrderRecord, plan: Plan, now: datetime, source: str, actor: str | None, reason: str | None = None
) -> StatusChange:
    """The order after `plan` is applied at `now`, and every row the change writes.

    `order` is as the change locked it; it is not modified. `reason` goes on the order's new
    history row (a bring-back's; no other change gives one).
    """
    writes = StatusWrites(
        order_id=order.id,
        now=now,
        source=source,
        actor=actor,
        order_status=plan.order or order.status,
        order_entered=plan.order is not None,
        reason=reason if plan.order is not None else None,
    )
    summaries = SummaryWriter()
    readied = sum(status == ItemStatus.READY for status in plan.items.values())
    items: list[ItemRecord] = []
    for item in order.items:
        if item.line not in plan.items:
            items.append(item)
            continue
        history, ended = _enter(item.history, plan.items[item.line], now, source, actor)
        changed = dataclasses.replace(item, status=plan.items[item.line], history=history)
        if ended is not None and ended.id is not None:
            writes.ended_item_events.append(ended.id)
        summaries.status_entered(order, changed, ended, item.history, now, readied)
        writes.items.append((item.id, changed.status))
        items.append(changed)
    history = order.history
    changed_order = dataclasses.replace(
        order,
        status=writes.order_status,
        items=items,
        updated_at=now,  # undo reads when and where the previous change was made
        last_change_source=source,
        version=order.version + 1,  # every change bumps it (the PostgreSQL store's lock_order relies on it)
        # A cook's "seen" is of a cancellation: an order brought back from one has none (the
        # stores write the same rule), so a later cancellation shows struck through again.
        cancel_acknowledged_at=order.cancel_acknowledged_at if writes.order_status == OrderStatus.CANCELLED else None,
    )
    if plan.order is not None:
        changed_order.history, ended = _enter(order.history, plan.order, now, source, actor, writes.reason)
        if ended is not None and ended.id is not None:
            writes.ended_order_events.append(ended.id)
        summaries.status_entered(changed_order, None, ended, history, now, readied)
    return StatusChange(changed_order, writes, summaries.rows())


# The times a new order may carry, around the server's clock. A pickup time weeks away is a
# channel's bug (a wrong year, seconds read as milliseconds), and years 1 or 9999 would break
# every board that shows the ticket; scheduled orders and a channel's backlog fit well inside.
PICKUP_WINDOW = timedelta(days=30)
CHANNEL_PAST = timedelta(days=5 * 365)  # `created` and statusHistory: the channel's own clock
CHANNEL_FUTURE = timedelta(days=1)


def _within(field: str, moment: datetime, earliest: datetime, latest: datetime) -> None:
    if not earliest <= moment <= latest:
        raise FieldError(
            field,
            f"{field} must lie between {earliest:%Y-%m-%dT%H:%M:%SZ} and {latest:%Y-%m-%dT%H:%M:%SZ}"
            f" (around the server's time); got {moment:%Y-%m-%dT%H:%M:%SZ}",
        )


def _check_new_order(new: NewOrder, now: datetime) -> list[tuple[OrderStatus, datetime]]:
    """Refuse a new order that breaks a rule (a FieldError); the channel's reports, parsed."""
    if new.status is not None and parse_order_status(new.status) is not OrderStatus.RECEIVED:
        raise FieldError("status", "a new order must start RECEIVED (1)")
    for index, new_item in enumerate(new.items):
        if new_item.status is not None and parse_item_status(new_item.status) is not ItemStatus.ORDERED:
            raise FieldError(f"items[{index}].status", "a new item must start ORDERED (1)")
    # Channel history is parsed before anything is written, so an unknown code writes nothing.
    reported = [(parse_order_status(entry.status), entry.timestamp) for entry in new.status_history]
    _within("pickupTime", new.pickup_time, now - PICKUP_WINDOW, now + PICKUP_WINDOW)
    if new.created is not None:
        _within("created", new.created, now - CHANNEL_PAST, now + CHANNEL_FUTURE)
    for index, entry in enumerate(new.status_history):
        _within(f"statusHistory[{index}].timestamp", entry.timestamp, now - CHANNEL_PAST, now + CHANNEL_FUTURE)
    return reported


def plan_new_order(new: NewOrder, payload_hash: str, now: datetime, source: str, actor: str | None) -> NewOrderChange:
    """The order a channel's payload makes at `now`, and its first rows; a FieldError if it breaks a rule."""
    reported = _check_new_order(new, now)
    address = new.delivery_address
    order = OrderRecord(
        id=new.id or str(uuid_utils.uuid7()),
        account=new.account,
        brand_id=new.brand_id,
        channel_order_id=new.channel_order_id,
        customer_name=new.customer.name,
        customer_phone=new.customer.phone_number,
        delivery_street=address.street if address else None,
        delivery_city=address.city if address else None,
        delivery_postal_code=address.postal_code if address else None,
        pickup_time=new.pickup_time,
        channel_created_at=new.created,
        status=OrderStatus.RECEIVED,
        version=1,
        payload_hash=payload_hash,
        last_change_source=None,
        cancel_acknowledged_at=None,
        created_at=now,
        updated_at=now,
        note=new.note,
        allergens=list(new.allergens),
    )
    # History is kept in the order it was written: the channel's reports first, oldest first
    # as the channel timed them, then our RECEIVED, the stream's first server-stamped stay.
    events: list[tuple[str, datetime, str, str | None]] = [
        (status, at, EventSource.CHANNEL, None) for status, at in sorted(reported, key=lambda report: report[1])
    ]
    events.append((OrderStatus.RECEIVED, now, source, actor))
    order.history = [EventRecord(None, status, at, None, by, who) for status, at, by, who in events]
    for line, new_item in enumerate(new.items, start=1):
        item = ItemRecord(
            0,
            new_item.plu,
            new_item.name,
            new_item.quantity,
            ItemStatus.ORDERED,
            line,
            new_item.note,
            list(new_item.modifiers),
            list(new_item.allergens),
        )
        item.history.append(EventRecord(None, ItemStatus.ORDERED, now, None, source, actor))
        order.items.append(item)
    summaries = SummaryWriter()
    summaries.order_received(order)
    return NewOrderChange(order, events, ItemStatus.ORDERED, source, actor, summaries.rows())


def acknowledged(order: OrderRecord, now: datetime) -> OrderRecord:
    """The cancelled order once a cook has seen it cancelled (it may leave the boards)."""
    return dataclasses.replace(order, cancel_acknowledged_at=now, updated_at=now)
