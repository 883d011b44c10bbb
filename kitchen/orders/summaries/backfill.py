"""The summary tables computed again from the server-stamped history, by replaying it.

Each change an order's history records is fed, in time order, through the same `SummaryWriter`
the planner feeds with a live change, so the rule of which rows a change writes is stated once
(`rows.py`). A change is found by its stamp: every row one change writes shares a stamp that no
other change of the order has (`changes.change_stamp`). The order's first stamp is its creation.

The migrations that filled the tables carry frozen copies of the backfill they ran
(`migrations/frozen/`); this one is for the tests, which check that what the changes wrote
equals what their history replays to, and for repairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from kitchen.orders.models import EventSource, ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.read import ORDER_COLUMNS, order_record
from kitchen.orders.records import EventRecord, ItemRecord, OrderRecord
from kitchen.orders.status import ItemStatus
from kitchen.orders.summaries.rows import SummaryWriter
from kitchen.orders.summaries.tables import (
    CUSTOMERS_TABLE,
    HISTOGRAMS_TABLE,
    QUARTERS_TABLE,
    SAMPLES,
    month_number,
    month_start,
)


def backfill_months(first: datetime | None, last: datetime | None) -> list[tuple[datetime, datetime]]:
    """The UTC calendar months from the one of `first` to the one of `last`, as [start, end)."""
    if first is None or last is None:
        return []
    return [(month_start(n), month_start(n + 1)) for n in range(month_number(first), month_number(last) + 1)]


def _orders_created(connection: Connection, low: datetime, high: datetime) -> list[OrderRecord]:
    """The whole orders created in [low, high): rows, items, both histories in the order written."""
    window = (Order.created_at >= low, Order.created_at < high)
    orders = {
        row[0]: order_record(row)
        for row in connection.execute(select(*ORDER_COLUMNS).where(*window).order_by(Order.created_at, Order.id))
    }
    items: dict[int, ItemRecord] = {}
    item_rows = select(OrderItem.order_id, OrderItem.id, OrderItem.plu, OrderItem.name, OrderItem.quantity)
    for order_id, item_id, plu, name, quantity in connection.execute(
        item_rows.join(Order, Order.id == OrderItem.order_id).where(*window).order_by(OrderItem.id)
    ):
        items[item_id] = ItemRecord(item_id, plu, name, quantity, ItemStatus.ORDERED)
        orders[order_id].items.append(items[item_id])
    histories: list[tuple[Any, dict[Any, list[EventRecord]]]] = [
        (OrderStatusEvent, {key: order.history for key, order in orders.items()}),
        (ItemStatusEvent, {key: item.history for key, item in items.items()}),
    ]
    for event, owners in histories:
        owner = event.order_id if event is OrderStatusEvent else event.item_id
        columns = (owner, event.id, event.status, event.at, event.ended_at, event.source, event.actor)
        statement = select(*columns).join(Order, Order.id == event.order_id).where(*window).order_by(event.id)
        for key, *fields in connection.execute(statement):
            owners[key].append(EventRecord(*fields))
    return list(orders.values())


@dataclass(frozen=True, slots=True)
class _Entry:
    """One server-stamped event of a stream, with what the planner knew when it was written."""

    item: ItemRecord | None  # None: the order's own stream
    event: EventRecord
    before: Sequence[EventRecord]  # the stream's history before it


def _changes(order: OrderRecord) -> Iterator[tuple[datetime, list[_Entry]]]:
    """The order's changes after its creation: each stamp with the events written at it."""
    at_stamp: dict[datetime, list[_Entry]] = defaultdict(list)
    for item, history in ((None, order.history), *((item, item.history) for item in order.items)):
        for index, event in enumerate(history):
            if event.source != EventSource.CHANNEL and event.at != order.created_at:
                at_stamp[event.at].append(_Entry(item, event, history[:index]))
    yield from sorted(at_stamp.items(), key=lambda change: change[0])


def _ended(before: Sequence[EventRecord], now: datetime) -> EventRecord | None:
    """The stay the change at `now` ended: the stream's last server-stamped row before, if it ended then."""
    for event in reversed(before):
        if event.source != EventSource.CHANNEL:
            return event if event.ended_at == now else None
    return None


def _replay(writer: SummaryWriter, order: OrderRecord, now: datetime, entries: list[_Entry]) -> None:
    """Feed one change to the writer as the planner (`changes.plan_writes`) did: items, then the order."""
    readied = sum(entry.item is not None and entry.event.status == ItemStatus.READY for entry in entries)
    for entry in sorted(entries, key=lambda entry: entry.item is None):
        if entry.item is None:
            changed = replace(order, status=entry.event.status)
            writer.status_entered(changed, None, _ended(entry.before, now), entry.before, now, readied)
        else:
            item = replace(entry.item, status=entry.event.status)
            writer.status_entered(order, item, _ended(entry.before, now), entry.before, now, readied)


def _month_rows(connection: Connection, low: datetime, high: datetime, counters: SummaryWriter) -> None:
    """Replay the orders created in [low, high): their samples and histograms are written here
    (both are keyed by the order's creation, so months never share a row); their quarter hours
    and customers are counted into `counters`, which span months."""
    writer = SummaryWriter()
    orders = _orders_created(connection, low, high)
    changes = [(now, index, entries) for index, order in enumerate(orders) for now, entries in _changes(order)]
    for order in orders:
        counters.order_received(order)
    # In time order over every order, as the changes came: the histogram totals add up alike.
    for now, index, entries in sorted(changes, key=lambda change: (change[0], change[1])):
        _replay(writer, orders[index], now, entries)
    rows = writer.rows()
    counters.ready.update(writer.ready)
    for table, values in ((SAMPLES, rows.samples), (HISTOGRAMS_TABLE, rows.histograms)):
        if values:
            connection.execute(insert(table), values)


def _customers(orders: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per account and brand from one per order: orders counted, first and last kept."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in orders:
        key = (row["account"], row["brand_id"])
        if key not in merged:
            merged[key] = dict(row)
            continue
        seen = merged[key]
        seen["orders"] += row["orders"]
        seen["first_order_at"] = min(seen["first_order_at"], row["first_order_at"])
        seen["last_order_at"] = max(seen["last_order_at"], row["last_order_at"])
    return list(merged.values())


def backfill(connection: Connection) -> None:
    """Empty the summary tables and compute them again from the history, in `connection`'s
    transaction, one month of orders at a time (a large history never sits in memory whole)."""
    for table in (SAMPLES, HISTOGRAMS_TABLE, QUARTERS_TABLE, CUSTOMERS_TABLE):
        connection.execute(delete(table))
    first, last = connection.execute(select(func.min(Order.created_at), func.max(Order.created_at))).one()
    counters = SummaryWriter()
    for low, high in backfill_months(first, last):
        _month_rows(connection, low, high, counters)
    rows = counters.rows()
    for table, values in ((QUARTERS_TABLE, rows.quarters), (CUSTOMERS_TABLE, _customers(rows.customers))):
        if values:
            connection.execute(insert(table), values)
