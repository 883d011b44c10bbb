"""Each board's own undo stack: the changes a tablet made, which that tablet alone may take back.

A row is written with its change, in the change's transaction, and names the device (not the
tablet's name: two tablets may both be called "Grill"), the ticket as it was before and after.
An undo takes back the device's change only while the lines it moved are still as it left them,
so a stack of changes unwinds one by one and an undo never re-applies what another undid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from advanced_alchemy.base import IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kitchen.orders.models import ID_LENGTH
from kitchen.orders.status import (
    FINAL_ORDER_STATUSES,
    ItemStatus,
    OrderStatus,
    Plan,
    Ticket,
    TransitionNotAllowed,
    derive_order_status,
)

DEVICE_LENGTH = 40


class BoardTap(IdentityBase):
    """A change made on a board, as its board's undo stack keeps it."""

    __tablename__ = "board_taps"
    __table_args__ = (Index("ix_board_taps_device_at", "device", "at"),)

    device: Mapped[str] = mapped_column(String(DEVICE_LENGTH))  # "tablet:12", "manager:3"
    order_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    before: Mapped[str] = mapped_column(Text)  # the ticket (encode_ticket) before the change
    after: Mapped[str] = mapped_column(Text)  # and after it
    # Taken back, or found overtaken by another board's change: it is off the stack.
    closed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class _TicketState(msgspec.Struct, frozen=True):
    status: str
    items: dict[str, str]  # line (JSON keys are text) → status


def encode_ticket(ticket: Ticket) -> str:
    return msgspec.json.encode(_TicketState(ticket.status, {str(k): v for k, v in ticket.items.items()})).decode()


def decode_ticket(text: str) -> Ticket:
    state = msgspec.json.decode(text, type=_TicketState)
    return Ticket(OrderStatus(state.status), {int(k): ItemStatus(v) for k, v in state.items.items()})


@dataclass(frozen=True, slots=True)
class OpenTap:
    """A change still on its board's stack: the board's Undo takes back the newest first."""

    id: int
    order_id: str
    until: datetime  # when its undo window closes


def plan_take_back(now: Ticket, after: Ticket, before: Ticket) -> Plan:
    """Put back what a change moved (`before` → `after`), if nobody has moved it since.

    Only the lines that change moved must still be as it left them: the grill's undo takes back
    the grill's line even after the fryer tapped another line of the same ticket. The order's status
    follows its lines, except across a final status: an undone pickup brings the order back from
    PICKED_UP, an undone bring-back (board/recent.py) returns it there.
    Unlike a status request, this may move lines more than one step (an undone bump).
    """
    moved = {line: status for line, status in before.items.items() if after.items.get(line) is not status}
    overtaken = any(now.items.get(line) is not after.items[line] for line in moved)
    across_final = after.status in FINAL_ORDER_STATUSES or before.status in FINAL_ORDER_STATUSES
    if overtaken or (now.status is not after.status and (across_final or now.status in FINAL_ORDER_STATUSES)):
        raise TransitionNotAllowed(now.status, "undo", "the ticket was changed since, by another board or the channel")
    # Across a final status the order's own move (the pickup, the bring-back) is what is undone.
    order = before.status if across_final else derive_order_status(now.status, {**now.items, **moved})
    items = {line: status for line, status in moved.items() if now.items[line] is not status}
    return Plan(items=items, order=order if order is not now.status else None)
