"""The status rules of orders and their items, as plain Python with no I/O.

Every caller (JSON API, board tap, demo data) asks these functions what a change means;
the service then writes exactly the changes they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar


class OrderStatus(StrEnum):
    RECEIVED = "RECEIVED"
    PREPARING = "PREPARING"
    READY = "READY"
    PICKED_UP = "PICKED_UP"
    CANCELLED = "CANCELLED"


class ItemStatus(StrEnum):
    ORDERED = "ORDERED"
    PREPARING = "PREPARING"
    READY = "READY"
    CANCELLED = "CANCELLED"


# The integer codes delivery channels send instead of names.
ORDER_STATUS_CODES: Mapping[int, OrderStatus] = {
    1: OrderStatus.RECEIVED,
    2: OrderStatus.PREPARING,
    3: OrderStatus.READY,
    4: OrderStatus.PICKED_UP,
    5: OrderStatus.CANCELLED,
}
ITEM_STATUS_CODES: Mapping[int, ItemStatus] = {
    1: ItemStatus.ORDERED,
    2: ItemStatus.PREPARING,
    3: ItemStatus.READY,
    5: ItemStatus.CANCELLED,
}

# What one tap on an item does on a board: the next step; a ready item stays (undo takes it back).
NEXT_ITEM_STATUS: Mapping[ItemStatus, ItemStatus] = {
    ItemStatus.ORDERED: ItemStatus.PREPARING,
    ItemStatus.PREPARING: ItemStatus.READY,
}

FINAL_ORDER_STATUSES = frozenset({OrderStatus.PICKED_UP, OrderStatus.CANCELLED})
OPEN_ITEM_STATUSES = frozenset({ItemStatus.ORDERED, ItemStatus.PREPARING})

# One step forward, or one step back as an undo.
_ITEM_STEPS: frozenset[tuple[ItemStatus, ItemStatus]] = frozenset(
    {
        (ItemStatus.ORDERED, ItemStatus.PREPARING),
        (ItemStatus.PREPARING, ItemStatus.READY),
        (ItemStatus.READY, ItemStatus.PREPARING),
        (ItemStatus.PREPARING, ItemStatus.ORDERED),
    }
)


_Status = TypeVar("_Status", OrderStatus, ItemStatus)


class UnknownStatus(ValueError):
    """A status name or code that the order or item status list does not have."""

    def __init__(self, value: object, kind: str, allowed: list[str]) -> None:
        super().__init__(f"unknown {kind} status {value!r}; use one of {', '.join(allowed)} or its code")
        self.value = value
        self.allowed = allowed


class TransitionNotAllowed(Exception):
    """The rules forbid moving from the current status to the requested one."""

    def __init__(self, current: str, requested: str, reason: str, line: int | None = None) -> None:
        what = f"the item on line {line}" if line is not None else "the order"
        super().__init__(f"{what} cannot go from {current} to {requested}: {reason}")
        self.current = current
        self.requested = requested
        self.line = line


def parse_order_status(value: int | str) -> OrderStatus:
    """Read an order status given by name (any case) or by the channel's integer code."""
    return _parse(value, OrderStatus, ORDER_STATUS_CODES, "order")


def parse_item_status(value: int | str) -> ItemStatus:
    """Read an item status given by name (any case) or by the channel's integer code."""
    return _parse(value, ItemStatus, ITEM_STATUS_CODES, "item")


def _parse(value: int | str, enum: type[_Status], codes: Mapping[int, _Status], kind: str) -> _Status:
    # bool is an int in Python; `true` is never a status code.
    if isinstance(value, int) and not isinstance(value, bool):
        if value in codes:
            return codes[value]
    elif isinstance(value, str):
        # Any case, or a code in digits (a query string has no integers), but nothing around
        # it: " RECEIVED" is a bug in the caller that must not pass unnoticed.
        name = value.upper()
        if name in enum.__members__:
            return enum[name]
        if name.isdigit() and name.isascii() and int(name) in codes:
            return codes[int(name)]
    raise UnknownStatus(value, kind, [m.value for m in enum])


@dataclass(frozen=True, slots=True)
class Ticket:
    """What the rules need to know of an order: its status and each item's status by line.

    By line, not by PLU: one order may have the same burger on two lines, one without onions.
    """

    status: OrderStatus
    items: Mapping[int, ItemStatus]


@dataclass(frozen=True, slots=True)
class Plan:
    """The changes one request makes: new item statuses and, when it moves, the order's new status."""

    items: Mapping[int, ItemStatus] = field(default_factory=dict)
    order: OrderStatus | None = None

    @property
    def is_noop(self) -> bool:
        return not self.items and self.order is None


def derive_order_status(current: OrderStatus, items: Mapping[int, ItemStatus]) -> OrderStatus:
    """The order status that its items imply; a final status never changes by derivation."""
    if current in FINAL_ORDER_STATUSES:
        return current
    live = [s for s in items.values() if s is not ItemStatus.CANCELLED]
    if not live:
        # Every item was cancelled: nothing is left to cook.
        return OrderStatus.CANCELLED
    if all(s is ItemStatus.READY for s in live):
        return OrderStatus.READY
    if any(s in (ItemStatus.PREPARING, ItemStatus.READY) for s in live):
        return OrderStatus.PREPARING
    return OrderStatus.RECEIVED


def _finish(ticket: Ticket, item_changes: dict[int, ItemStatus]) -> Plan:
    after = {**ticket.items, **item_changes}
    derived = derive_order_status(ticket.status, after)
    return Plan(items=item_changes, order=derived if derived is not ticket.status else None)


def plan_item_change(ticket: Ticket, line: int, requested: ItemStatus) -> Plan:
    """Plan moving one item; the caller has checked that `line` is on the ticket."""
    current = ticket.items[line]
    if requested is current:
        return Plan()
    if ticket.status in FINAL_ORDER_STATUSES:
        raise TransitionNotAllowed(current, requested, f"the order is {ticket.status}", line)
    if current is ItemStatus.CANCELLED:
        raise TransitionNotAllowed(current, requested, "a cancelled item is final", line)
    if requested is not ItemStatus.CANCELLED and (current, requested) not in _ITEM_STEPS:
        raise TransitionNotAllowed(current, requested, "items move one step at a time: ORDERED, PREPARING, READY", line)
    return _finish(ticket, {line: requested})


def plan_order_change(ticket: Ticket, requested: OrderStatus) -> Plan:
    """Plan moving a whole order, with what that does to its items."""
    current = ticket.status
    if requested is current:
        return Plan()
    if current in FINAL_ORDER_STATUSES:
        raise TransitionNotAllowed(current, requested, f"{current} is final")

    def moved(frm: frozenset[ItemStatus], to: ItemStatus) -> dict[int, ItemStatus]:
        return {line: to for line, s in ticket.items.items() if s in frm}

    if requested is OrderStatus.CANCELLED:
        return Plan(items=moved(OPEN_ITEM_STATUSES, ItemStatus.CANCELLED), order=OrderStatus.CANCELLED)
    if requested is OrderStatus.PICKED_UP:
        if current is not OrderStatus.READY:
            raise TransitionNotAllowed(current, requested, "only a READY order can be picked up")
        return Plan(order=OrderStatus.PICKED_UP)
    if requested is OrderStatus.READY:
        # The bump: everything still open is done.
        return _finish(ticket, moved(OPEN_ITEM_STATUSES, ItemStatus.READY))
    if requested is OrderStatus.PREPARING:
        if current is OrderStatus.RECEIVED:
            return _finish(ticket, moved(frozenset({ItemStatus.ORDERED}), ItemStatus.PREPARING))
        # A recall of a bumped order: its ready items go back one step.
        return _finish(ticket, moved(frozenset({ItemStatus.READY}), ItemStatus.PREPARING))
    # requested is RECEIVED: an undo of "start", allowed while nothing is ready yet.
    if any(s is ItemStatus.READY for s in ticket.items.values()):
        raise TransitionNotAllowed(current, requested, "some items are already READY")
    return _finish(ticket, moved(frozenset({ItemStatus.PREPARING}), ItemStatus.ORDERED))


def plan_item_advance(ticket: Ticket, line: int, seen: ItemStatus | None = None) -> Plan:
    """Plan a tap on an item: one step forward from the status the cook saw (`seen`).

    When the item is no longer where the cook saw it (the same tap sent twice, after a lost
    answer, or two cooks tapping at once), the tap has happened already: nothing changes.
    Without `seen`, one step forward from wherever it is.
    """
    current = ticket.items[line]
    if seen is not None and current is not seen:
        return Plan()
    if current not in NEXT_ITEM_STATUS:
        raise TransitionNotAllowed(current, current, "already ready; use undo to take it back", line)
    return plan_item_change(ticket, line, NEXT_ITEM_STATUS[current])


def plan_recall(ticket: Ticket) -> Plan:
    """Plan sending a bumped order back to the line."""
    if ticket.status is not OrderStatus.READY:
        raise TransitionNotAllowed(ticket.status, OrderStatus.PREPARING, "only a ready order is recalled")
    return plan_order_change(ticket, OrderStatus.PREPARING)
