"""The pure status rules: every allowed and forbidden move, without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kitchen.orders.status import (
    FINAL_ORDER_STATUSES,
    ItemStatus,
    OrderStatus,
    Ticket,
    TransitionNotAllowed,
    UnknownStatus,
    derive_order_status,
    parse_item_status,
    parse_order_status,
    plan_item_advance,
    plan_item_change,
    plan_order_change,
    plan_recall,
)

O, P, R, C = ItemStatus.ORDERED, ItemStatus.PREPARING, ItemStatus.READY, ItemStatus.CANCELLED


def ticket(status: OrderStatus, *items: ItemStatus) -> Ticket:
    return Ticket(status=status, items=dict(enumerate(items, start=1)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, OrderStatus.RECEIVED), (4, OrderStatus.PICKED_UP), ("ready", OrderStatus.READY), ("5", OrderStatus.CANCELLED)],
)
def test_order_status_is_read_by_name_or_code(value: int | str, expected: OrderStatus) -> None:
    assert parse_order_status(value) is expected


@pytest.mark.parametrize("value", [0, 6, 4.0, True, "SHIPPED", "", None])
def test_unknown_order_status_is_refused(value: object) -> None:
    with pytest.raises(UnknownStatus):
        parse_order_status(value)  # type: ignore[arg-type]


def test_item_status_code_4_does_not_exist() -> None:
    assert parse_item_status(5) is ItemStatus.CANCELLED
    with pytest.raises(UnknownStatus):
        parse_item_status(4)


@pytest.mark.parametrize(
    ("current", "requested"),
    [(O, P), (P, R), (R, P), (P, O), (O, C), (P, C), (R, C)],
)
def test_item_moves_one_step_or_is_cancelled(current: ItemStatus, requested: ItemStatus) -> None:
    plan = plan_item_change(ticket(OrderStatus.PREPARING, current, P), 1, requested)
    assert plan.items == {1: requested}


@pytest.mark.parametrize(("current", "requested"), [(O, R), (R, O), (C, O), (C, P), (C, R)])
def test_item_cannot_skip_a_step_or_leave_cancelled(current: ItemStatus, requested: ItemStatus) -> None:
    with pytest.raises(TransitionNotAllowed) as refused:
        plan_item_change(ticket(OrderStatus.PREPARING, current, P), 1, requested)
    assert (refused.value.current, refused.value.requested) == (current, requested)


@pytest.mark.parametrize("final", sorted(FINAL_ORDER_STATUSES))
def test_items_of_a_final_order_do_not_move(final: OrderStatus) -> None:
    with pytest.raises(TransitionNotAllowed):
        plan_item_change(ticket(final, R, R), 1, P)


def test_repeating_an_item_status_is_a_noop() -> None:
    assert plan_item_change(ticket(OrderStatus.PREPARING, P, O), 1, P).is_noop


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((O, O), OrderStatus.RECEIVED),
        ((P, O), OrderStatus.PREPARING),
        ((R, O), OrderStatus.PREPARING),
        ((R, R), OrderStatus.READY),
        ((R, C), OrderStatus.READY),
        ((C, C), OrderStatus.CANCELLED),
    ],
)
def test_order_status_follows_items(items: tuple[ItemStatus, ...], expected: OrderStatus) -> None:
    assert derive_order_status(OrderStatus.RECEIVED, {str(i): s for i, s in enumerate(items)}) is expected


def test_start_moves_every_ordered_item_to_preparing() -> None:
    plan = plan_order_change(ticket(OrderStatus.RECEIVED, O, O), OrderStatus.PREPARING)
    assert plan.items == {1: P, 2: P}
    assert plan.order is OrderStatus.PREPARING


def test_bump_completes_every_open_item() -> None:
    plan = plan_order_change(ticket(OrderStatus.PREPARING, O, P, R), OrderStatus.READY)
    assert plan.items == {1: R, 2: R}
    assert plan.order is OrderStatus.READY


def test_recall_of_a_bumped_order_reopens_its_items() -> None:
    plan = plan_order_change(ticket(OrderStatus.READY, R, R), OrderStatus.PREPARING)
    assert plan.items == {1: P, 2: P}
    assert plan.order is OrderStatus.PREPARING


@pytest.mark.parametrize("current", [OrderStatus.RECEIVED, OrderStatus.PREPARING])
def test_pick_up_only_from_ready(current: OrderStatus) -> None:
    with pytest.raises(TransitionNotAllowed):
        plan_order_change(ticket(current, P, O), OrderStatus.PICKED_UP)
    assert plan_order_change(ticket(OrderStatus.READY, R), OrderStatus.PICKED_UP).order is OrderStatus.PICKED_UP


def test_cancel_cancels_open_items_and_keeps_ready_ones() -> None:
    plan = plan_order_change(ticket(OrderStatus.PREPARING, O, P, R), OrderStatus.CANCELLED)
    assert plan.items == {1: C, 2: C}
    assert plan.order is OrderStatus.CANCELLED


@pytest.mark.parametrize("final", sorted(FINAL_ORDER_STATUSES))
@pytest.mark.parametrize("requested", list(OrderStatus))
def test_final_statuses_are_final(final: OrderStatus, requested: OrderStatus) -> None:
    if requested is final:
        assert plan_order_change(ticket(final, R), requested).is_noop
        return
    with pytest.raises(TransitionNotAllowed):
        plan_order_change(ticket(final, R), requested)


def test_back_to_received_only_while_nothing_is_ready() -> None:
    plan = plan_order_change(ticket(OrderStatus.PREPARING, P, O), OrderStatus.RECEIVED)
    assert plan.items == {1: O}
    with pytest.raises(TransitionNotAllowed):
        plan_order_change(ticket(OrderStatus.PREPARING, R, O), OrderStatus.RECEIVED)


order_statuses = st.sampled_from(list(OrderStatus))
item_statuses = st.lists(st.sampled_from(list(ItemStatus)), min_size=1, max_size=6)


@given(final=st.sampled_from([None, *FINAL_ORDER_STATUSES]), items=item_statuses, requested=order_statuses)
def test_any_planned_order_change_leaves_a_consistent_ticket(
    final: OrderStatus | None, items: list[ItemStatus], requested: OrderStatus
) -> None:
    by_line = dict(enumerate(items, start=1))
    # Start from a ticket the service could hold: a final status, or the one its items imply.
    current = final or derive_order_status(OrderStatus.RECEIVED, by_line)
    start = Ticket(status=current, items=by_line)
    try:
        plan = plan_order_change(start, requested)
    except TransitionNotAllowed:
        return
    after_items = {**start.items, **plan.items}
    after = plan.order or current
    if after not in FINAL_ORDER_STATUSES:
        # A live order's status is always the one its items imply.
        assert after is derive_order_status(after, after_items)
    if requested in (OrderStatus.CANCELLED, OrderStatus.PICKED_UP):
        assert after is requested
    # No item is ever moved onto the status it already has.
    assert all(start.items[line] is not status for line, status in plan.items.items())


def test_a_tap_moves_an_item_to_its_next_step_and_stops_at_ready() -> None:
    assert plan_item_advance(ticket(OrderStatus.RECEIVED, O), 1).items == {1: P}
    assert plan_item_advance(ticket(OrderStatus.PREPARING, P), 1).items == {1: R}
    with pytest.raises(TransitionNotAllowed, match="already ready"):
        plan_item_advance(ticket(OrderStatus.READY, R), 1)


def test_only_a_ready_order_is_recalled() -> None:
    assert plan_recall(ticket(OrderStatus.READY, R)).order is OrderStatus.PREPARING
    with pytest.raises(TransitionNotAllowed, match="only a ready order"):
        plan_recall(ticket(OrderStatus.PREPARING, P))
