"""Bringing a finished order back, as plain Python with no I/O.

A courier returns an order (it was picked up by the wrong courier, or the customer cancelled at
the door), or a cancellation turns out to be a mistake: a manager or expo brings the order back,
with a reason. What comes back is the state the order was really in before it became final,
read from its history, so the boards, the undo stack and the analytics see an ordinary change.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kitchen.orders.lines import short_text
from kitchen.orders.models import REASON_LENGTH, EventSource
from kitchen.orders.records import EventRecord, OrderRecord
from kitchen.orders.status import (
    FINAL_ORDER_STATUSES,
    ItemStatus,
    OrderStatus,
    Plan,
    Ticket,
    TransitionNotAllowed,
    derive_order_status,
)

# A courier who turns back does so within minutes. After half an hour the food is not fit to
# hand out again, and the day's figures a manager may have read should stand.
BRING_BACK_WINDOW = timedelta(minutes=30)

BRING_BACK = "bring back"  # the "requested status" of a refusal: a bring-back names none of its own


@dataclass(frozen=True, slots=True)
class Finish:
    """How an order became final: the status, when, from where, and what the change did to its items."""

    status: OrderStatus
    at: datetime
    source: str
    # The lines the finishing change cancelled, with the status each had just before it.
    items_before: Mapping[int, ItemStatus] = field(default_factory=dict)


def finish_of(order: OrderRecord) -> Finish | None:
    """How `order` became what it is now, from its history; None when it is not final."""
    if order.status not in FINAL_ORDER_STATUSES or not order.history:
        return None
    entered = next((e for e in reversed(order.history) if e.status == order.status), None)
    if entered is None:
        return None
    items_before: dict[int, ItemStatus] = {}
    for item in order.items:
        before = _status_before(item.history, ItemStatus.CANCELLED, entered.at)
        if before is not None:
            items_before[item.line] = before
    return Finish(OrderStatus(order.status), entered.at, entered.source, items_before)


def _status_before(history: list[EventRecord], status: str, at: datetime) -> ItemStatus | None:
    """The status a stream had just before it entered `status` at `at` (one change's stamp), if it did."""
    server = [event for event in history if event.source != EventSource.CHANNEL]
    for before, after in itertools.pairwise(server):
        if after.status == status and after.at == at:
            return ItemStatus(before.status)
    return None


def brought_back_already(order: OrderRecord) -> bool:
    """The order is in the stay a bring-back began, nothing having moved it since (a retry, or two at once)."""
    if order.status in FINAL_ORDER_STATUSES or not order.history:
        return False
    last = order.history[-1]
    return last.reason is not None and last.at == order.updated_at


def bring_back_reason(value: str) -> str:
    """The reason as stored: trimmed, 1 to 200 characters on one line; else a FieldError."""
    return short_text("reason", value, REASON_LENGTH)


def plan_bring_back(ticket: Ticket, before_final: Finish | None, now: datetime, back_already: bool = False) -> Plan:
    """Plan bringing a finished order back as it was before it became final (`before_final`).

    Picked up: it is READY again (its items stayed READY), and expo can recall it to the line.
    Cancelled: each line the cancellation cancelled goes back to where it was, and the order
    follows its items. Only an order that became final here, within BRING_BACK_WINDOW of `now`.
    `back_already`: the order is in the stay a bring-back began; nothing is left to do.
    """
    if ticket.status not in FINAL_ORDER_STATUSES:
        if back_already:
            return Plan()
        raise TransitionNotAllowed(ticket.status, BRING_BACK, "only an order picked up or cancelled is brought back")
    if before_final is None or before_final.status is not ticket.status:
        raise TransitionNotAllowed(ticket.status, BRING_BACK, "its history does not say how it became final")
    if before_final.source == EventSource.CHANNEL:
        raise TransitionNotAllowed(ticket.status, BRING_BACK, "the channel reported it final; it never was here")
    if now - before_final.at > BRING_BACK_WINDOW:
        minutes = int(BRING_BACK_WINDOW.total_seconds() // 60)
        raise TransitionNotAllowed(ticket.status, BRING_BACK, f"it became {ticket.status} more than {minutes} min ago")
    if ticket.status is OrderStatus.PICKED_UP:
        return Plan(order=OrderStatus.READY)
    items = {
        line: status
        for line, status in before_final.items_before.items()
        if ticket.items.get(line) is ItemStatus.CANCELLED
    }
    # Derived as for an open order (RECEIVED stands for "not final"): the order follows its items.
    order = derive_order_status(OrderStatus.RECEIVED, {**ticket.items, **items})
    if order is OrderStatus.CANCELLED:
        raise TransitionNotAllowed(ticket.status, BRING_BACK, "every item was cancelled before the order was")
    return Plan(items=items, order=order)
