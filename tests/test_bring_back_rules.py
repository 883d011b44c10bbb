"""The pure rule of bringing a finished order back, and what it reads from the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kitchen.fields import FieldError
from kitchen.orders.bring_back import (
    BRING_BACK_WINDOW,
    Finish,
    bring_back_reason,
    brought_back_already,
    finish_of,
    plan_bring_back,
)
from kitchen.orders.records import EventRecord, ItemRecord, OrderRecord
from kitchen.orders.status import ItemStatus, OrderStatus, Plan, Ticket, TransitionNotAllowed

O, P, R, C = ItemStatus.ORDERED, ItemStatus.PREPARING, ItemStatus.READY, ItemStatus.CANCELLED
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FINISHED = NOW - timedelta(minutes=7)


def ticket(status: OrderStatus, *items: ItemStatus) -> Ticket:
    return Ticket(status=status, items=dict(enumerate(items, start=1)))


def finish(status: OrderStatus, at: datetime = FINISHED, source: str = "board", **before: ItemStatus) -> Finish:
    return Finish(status, at, source, {int(line.removeprefix("line")): s for line, s in before.items()})


def test_a_picked_up_order_comes_back_ready_with_its_items_as_they_are() -> None:
    plan = plan_bring_back(ticket(OrderStatus.PICKED_UP, R, R), finish(OrderStatus.PICKED_UP), NOW)
    assert plan == Plan(order=OrderStatus.READY)


def test_a_cancelled_order_comes_back_with_each_item_as_it_was_before_the_cancellation() -> None:
    cancelled = ticket(OrderStatus.CANCELLED, R, C, C)
    plan = plan_bring_back(cancelled, finish(OrderStatus.CANCELLED, line2=P, line3=O), NOW)
    assert plan == Plan(items={2: P, 3: O}, order=OrderStatus.PREPARING)


def test_a_line_cancelled_before_the_order_stays_cancelled() -> None:
    cancelled = ticket(OrderStatus.CANCELLED, C, C)
    plan = plan_bring_back(cancelled, finish(OrderStatus.CANCELLED, line2=O), NOW)
    assert plan == Plan(items={2: O}, order=OrderStatus.RECEIVED)


def test_an_order_cancelled_when_every_item_was_ready_comes_back_ready() -> None:
    plan = plan_bring_back(ticket(OrderStatus.CANCELLED, R, R), finish(OrderStatus.CANCELLED), NOW)
    assert plan == Plan(order=OrderStatus.READY)


def test_an_order_whose_items_were_all_cancelled_before_cannot_come_back() -> None:
    with pytest.raises(TransitionNotAllowed, match="every item was cancelled before"):
        plan_bring_back(ticket(OrderStatus.CANCELLED, C), finish(OrderStatus.CANCELLED), NOW)


@pytest.mark.parametrize("status", [OrderStatus.RECEIVED, OrderStatus.PREPARING, OrderStatus.READY])
def test_an_open_order_is_not_brought_back(status: OrderStatus) -> None:
    with pytest.raises(TransitionNotAllowed, match="only an order picked up or cancelled"):
        plan_bring_back(ticket(status, P), None, NOW)


def test_an_order_back_already_is_left_as_it_is() -> None:
    assert plan_bring_back(ticket(OrderStatus.READY, R), None, NOW, back_already=True).is_noop


def test_within_the_window_it_comes_back_and_past_it_it_does_not() -> None:
    picked_up = ticket(OrderStatus.PICKED_UP, R)
    assert not plan_bring_back(picked_up, finish(OrderStatus.PICKED_UP, NOW - BRING_BACK_WINDOW), NOW).is_noop
    too_old = finish(OrderStatus.PICKED_UP, NOW - BRING_BACK_WINDOW - timedelta(microseconds=1))
    with pytest.raises(TransitionNotAllowed, match="more than 30 min ago"):
        plan_bring_back(picked_up, too_old, NOW)


def test_an_order_the_channel_reported_final_is_not_brought_back() -> None:
    with pytest.raises(TransitionNotAllowed, match="the channel reported it final"):
        plan_bring_back(ticket(OrderStatus.PICKED_UP, R), finish(OrderStatus.PICKED_UP, source="channel"), NOW)


def test_a_finish_of_another_status_is_refused() -> None:
    with pytest.raises(TransitionNotAllowed, match="history does not say"):
        plan_bring_back(ticket(OrderStatus.PICKED_UP, R), finish(OrderStatus.CANCELLED), NOW)


def _event(status: str, at: datetime, source: str = "board", reason: str | None = None) -> EventRecord:
    return EventRecord(None, status, at, None, source, "tablet:Expo", reason)


def _order(status: str, history: list[EventRecord], *items: ItemRecord) -> OrderRecord:
    return OrderRecord(
        "o-1", "acct", "brand", "W-1", "Aino", None, None, None, None, NOW, None, status, 3, "h", "board", None,
        NOW - timedelta(hours=1), history[-1].at, None, [], list(items), history,
    )  # fmt: skip


def test_the_finish_is_read_from_the_history_with_the_lines_that_change_cancelled() -> None:
    start, earlier, cancel = NOW - timedelta(minutes=20), NOW - timedelta(minutes=15), FINISHED
    burger = ItemRecord(1, "BB-1", "Burger", 1, C, 1, history=[_event(O, start), _event(P, earlier), _event(C, cancel)])
    fries = ItemRecord(2, "BB-2", "Fries", 1, C, 2, history=[_event(O, start), _event(C, earlier)])
    drink = ItemRecord(3, "BB-3", "Cola", 1, R, 3, history=[_event(O, start), _event(R, earlier)])
    history = [_event("PICKED_UP", start - timedelta(days=1), "channel"), _event("RECEIVED", start)]
    history += [_event("PREPARING", earlier), _event("CANCELLED", cancel, "api")]
    order = _order("CANCELLED", history, burger, fries, drink)
    assert finish_of(order) == Finish(OrderStatus.CANCELLED, cancel, "api", {1: P})


def test_an_open_order_has_no_finish() -> None:
    assert finish_of(_order("READY", [_event("RECEIVED", FINISHED), _event("READY", NOW)])) is None


def test_an_order_is_back_already_while_the_bring_back_was_its_last_change() -> None:
    back = _order("READY", [_event("PICKED_UP", FINISHED), _event("READY", NOW, reason="courier returned it")])
    assert brought_back_already(back)
    back.updated_at = NOW + timedelta(seconds=5)  # something changed it since
    assert not brought_back_already(back)
    assert not brought_back_already(_order("READY", [_event("READY", NOW)]))


@pytest.mark.parametrize(
    ("given", "stored"), [("  wrong courier ", "wrong courier"), ("x", "x"), ("y" * 200, "y" * 200)]
)
def test_a_reason_is_kept_trimmed(given: str, stored: str) -> None:
    assert bring_back_reason(given) == stored


@pytest.mark.parametrize("given", ["", "   ", "y" * 201, "two\nlines", "tab\there", "nul\x00"])
def test_a_reason_must_be_one_line_of_1_to_200_characters(given: str) -> None:
    with pytest.raises(FieldError) as refused:
        bring_back_reason(given)
    assert refused.value.field == "reason"
