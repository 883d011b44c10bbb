"""The only way orders come in and change status.

Each change locks the order, asks the pure rules in `status.py` what it means, writes the
new statuses with their history rows, commits, and only then tells the listeners.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import msgspec
import uuid_utils
from advanced_alchemy.extensions.litestar import repository, service
from advanced_alchemy.filters import CollectionFilter, LimitOffset, OrderBy, StatementFilter
from sqlalchemy import ColumnElement, and_, bindparam, literal_column, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from kitchen.analytics.summaries import SummaryWriter
from kitchen.clock import Clock, system_clock
from kitchen.db import DriverStatement
from kitchen.orders import read
from kitchen.orders.models import EventSource, Order, OrderItem
from kitchen.orders.read import EventRecord, ItemRecord, OrderRecord
from kitchen.orders.schemas import NewOrder, OrderView
from kitchen.orders.status import (
    ItemStatus,
    OrderStatus,
    Plan,
    Ticket,
    TransitionNotAllowed,
    parse_item_status,
    parse_order_status,
    plan_item_advance,
    plan_item_change,
    plan_order_change,
    plan_recall,
    plan_undo,
)
from kitchen.orders.writes import NewOrderWrites, Notice, StatusWrites, notify, write_new_order, write_status_change


class OrderNotFound(Exception):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} not found")
        self.order_id = order_id


class ItemNotFound(Exception):
    def __init__(self, order_id: str, plu: str) -> None:
        super().__init__(f"order {order_id!r} has no item with PLU {plu!r}")
        self.order_id = order_id
        self.plu = plu


class DuplicateOrderConflict(Exception):
    """The order's id or (brandId, channelOrderId) is taken by an order with other content."""

    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"order {order_id!r} already exists with different content; a retry must resend the same payload"
        )
        self.order_id = order_id


class InvalidNewOrder(ValueError):
    """A create payload that parses but breaks a rule, with the field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """What listeners hear after a commit: which order, of which brand, and what happened."""

    order_id: str
    brand_id: str
    kind: Literal["created", "status", "acknowledged"]
    status: str


class ChangeFeed(Protocol):
    """Tells the boards about committed changes: either from inside the transaction, with a
    NOTIFY that PostgreSQL delivers only on commit, or by publishing after the commit."""

    def notice(self, change: OrderChanged) -> Notice | None:
        """The NOTIFY to send inside the change's transaction, if this feed works that way."""
        ...

    async def after_commit(self, change: OrderChanged) -> None: ...


def _full_order() -> Sequence[LoaderOption]:
    return (
        selectinload(Order.items).selectinload(OrderItem.history),
        selectinload(Order.history),
    )


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """Filters of the order list; times bound `createdAt` as [created_from, created_to)."""

    statuses: Sequence[OrderStatus] = ()
    brand_ids: Sequence[str] = ()
    account: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = 50
    offset: int = 0


class OrderService(service.SQLAlchemyAsyncRepositoryService[Order]):
    class Repo(repository.SQLAlchemyAsyncRepository[Order]):
        model_type = Order

    repository_type = Repo

    def __init__(
        self,
        session: AsyncSession,
        clock: Clock = system_clock,
        feed: ChangeFeed | None = None,
        actor: str | None = None,
    ) -> None:
        super().__init__(session=session)
        self.session = session
        self.clock = clock
        self.feed = feed
        # Who is asking (an API key, a tablet, a manager): every history row it writes names them.
        self.actor = actor

    async def _connection(self) -> AsyncConnection:
        # Orders are read and written with prebuilt Core statements on the session's connection
        # (see read.py and writes.py); the session only holds the transaction.
        return await self.session.connection()

    async def get_order(self, order_id: str) -> OrderRecord:
        """The order with its items and both history streams, or OrderNotFound."""
        order = await read.read_order(await self._connection(), order_id)
        if order is None:
            raise OrderNotFound(order_id)
        return order

    async def read_order(self, order_id: str) -> OrderView:
        """The order as the API shows it, or OrderNotFound."""
        return read.order_view(await self.get_order(order_id))

    async def list_orders(self, query: OrderQuery) -> tuple[Sequence[Order], int]:
        """A page of orders, newest first, and how many match in all."""
        filters: list[StatementFilter | ColumnElement[bool]] = []
        if query.statuses:
            filters.append(CollectionFilter(field_name="status", values=[s.value for s in query.statuses]))
        if query.brand_ids:
            filters.append(CollectionFilter(field_name="brand_id", values=list(query.brand_ids)))
        if query.account is not None:
            filters.append(CollectionFilter(field_name="account", values=[query.account]))
        # [from, to): consecutive ranges neither miss nor double-count an order.
        if query.created_from is not None:
            filters.append(Order.created_at >= query.created_from)
        if query.created_to is not None:
            filters.append(Order.created_at < query.created_to)
        page = [
            OrderBy(field_name="created_at", sort_order="desc"),
            OrderBy(field_name="id", sort_order="desc"),
            LimitOffset(limit=query.limit, offset=query.offset),
        ]
        orders, total = await self.repository.get_many_and_count(*page, *filters, load=list(_full_order()))
        if not orders and query.offset > 0:
            # The count rides on the page's rows (a window function): past the last page there are
            # none to carry it, and `total` is still every matching order, for a client paging by it.
            total = await self.repository.count(*filters)
        return orders, total

    async def ingest(self, new: NewOrder, source: EventSource = EventSource.API) -> tuple[OrderRecord, bool]:
        """Store an order from a channel, or return the one a retry of it already stored.

        Returns the order and whether it was created. The same id or (brandId, channelOrderId)
        with other content raises DuplicateOrderConflict; nothing is written then.
        """
        payload_hash = hashlib.sha256(msgspec.json.encode(new)).hexdigest()
        existing = await self._find_same(new, payload_hash)
        if existing is not None:
            return existing, False

        writes = self._new_order_writes(new, payload_hash, source)
        order = writes.order
        summaries = SummaryWriter()
        summaries.order_received(order)
        change = OrderChanged(order.id, order.brand_id, "created", order.status)
        try:
            item_ids = await write_new_order(await self._connection(), writes, summaries, self._notice(change))
            await self._commit(change)
        except IntegrityError:
            # Another request stored the same order between our look-up and our insert.
            await self.session.rollback()
            existing = await self._find_same(new, payload_hash)
            if existing is None:
                raise
            return existing, False
        for item in order.items:
            item.id = item_ids[item.plu]
        return order, True

    async def set_order_status(
        self, order_id: str, requested: int | str, source: EventSource = EventSource.API
    ) -> OrderRecord:
        """Move a whole order (start, bump, pick up, cancel, recall) as the status rules allow."""
        target = parse_order_status(requested)
        return await self._change(order_id, source, lambda ticket, _order, _now: plan_order_change(ticket, target))

    async def set_item_status(
        self, order_id: str, plu: str, requested: int | str, source: EventSource = EventSource.API
    ) -> OrderRecord:
        """Move one item one step (or one step back); the order's status follows its items."""
        target = parse_item_status(requested)

        def plan(ticket: Ticket, _order: OrderRecord, _now: datetime) -> Plan:
            if plu not in ticket.items:
                raise ItemNotFound(order_id, plu)
            return plan_item_change(ticket, plu, target)

        return await self._change(order_id, source, plan)

    async def advance_item(
        self, order_id: str, plu: str, source: EventSource = EventSource.BOARD, seen: ItemStatus | None = None
    ) -> OrderRecord:
        """A tap on an item: the next step from `seen`, the status the cook saw (see plan_item_advance)."""

        def plan(ticket: Ticket, _order: OrderRecord, _now: datetime) -> Plan:
            if plu not in ticket.items:
                raise ItemNotFound(order_id, plu)
            return plan_item_advance(ticket, plu, seen)

        return await self._change(order_id, source, plan)

    async def recall(self, order_id: str, source: EventSource = EventSource.BOARD) -> OrderRecord:
        """A bumped (READY) order goes back to the line: its items return to PREPARING."""
        return await self._change(order_id, source, lambda ticket, _order, _now: plan_recall(ticket))

    async def undo_last_change(
        self,
        order_id: str,
        window: timedelta,
        source: EventSource = EventSource.BOARD,
        version: int | None = None,
    ) -> OrderRecord:
        """Put the items the last change moved back where they were, if that change was made
        from `source` less than `window` ago. Recorded as a new change, like any other.

        `version` is the order's version the cook saw: an undo sent again (after a lost answer)
        finds the order changed by the first one and undoes nothing more.
        """

        def plan(ticket: Ticket, order: OrderRecord, now: datetime) -> Plan:
            if version is not None and order.version != version:
                raise TransitionNotAllowed(order.status, "undo", "the ticket changed since; nothing more to undo")
            if order.version == 1 or order.last_change_source != source:
                raise TransitionNotAllowed(order.status, "undo", f"the last change was not made on the {source}")
            if now - order.updated_at > window:
                raise TransitionNotAllowed(order.status, "undo", "the last change is too old to undo")
            # Every change of an order has a stamp of its own (`change_stamp`): the items whose
            # latest event carries the order's last stamp are exactly the ones that change moved.
            last_at = order.updated_at
            previous: dict[str, ItemStatus] = {}
            for item in order.items:
                server_events = [e for e in item.history if e.source != EventSource.CHANNEL]
                if len(server_events) >= 2 and server_events[-1].at == last_at:
                    previous[item.plu] = ItemStatus(server_events[-2].status)
            return plan_undo(ticket, previous)

        return await self._change(order_id, source, plan)

    async def acknowledge_cancellation(self, order_id: str) -> OrderRecord:
        """A cook has seen that the order was cancelled: it may leave the boards."""
        conn = await self._connection()
        order = await self._lock(conn, order_id)
        if order.status != OrderStatus.CANCELLED:
            await self.session.rollback()
            raise TransitionNotAllowed(order.status, "acknowledged", "only a cancelled order is acknowledged")
        if order.cancel_acknowledged_at is not None:
            await self.session.rollback()  # a repeated acknowledgement (a retry): nothing to write
            return order
        order.cancel_acknowledged_at = order.updated_at = change_stamp(order, self.clock())
        await conn.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(cancel_acknowledged_at=order.cancel_acknowledged_at, updated_at=order.updated_at)
        )
        change = OrderChanged(order.id, order.brand_id, "acknowledged", order.status)
        notice = self._notice(change)
        if notice is not None:
            await notify(conn, notice)
        await self._commit(change)
        return order

    async def _lock(self, conn: AsyncConnection, order_id: str) -> OrderRecord:
        """Lock the order for a change and read it as the change before committed it."""
        order = await read.lock_order(conn, order_id)
        if order is None:
            await self.session.rollback()
            raise OrderNotFound(order_id)
        return order

    async def _change(
        self, order_id: str, source: EventSource, plan_for: Callable[[Ticket, OrderRecord, datetime], Plan]
    ) -> OrderRecord:
        conn = await self._connection()
        # Lock and read: concurrent changes of one order run one after another, each planned on
        # what the one before it committed.
        order = await self._lock(conn, order_id)
        # Stamped only now, holding the lock: a change that waited for the one before it is
        # stamped after it, so each stream's history runs forward in the order it was written.
        now = change_stamp(order, self.clock())
        ticket = Ticket(
            status=OrderStatus(order.status),
            items={item.plu: ItemStatus(item.status) for item in order.items},
        )
        try:
            plan = plan_for(ticket, order, now)
        except Exception:
            await self.session.rollback()
            raise
        if plan.is_noop:
            # A repeat of a status the order already has: write nothing, not even the version.
            await self.session.rollback()
            return order

        writes = StatusWrites(
            order_id=order.id,
            now=now,
            source=source,
            actor=self.actor,
            order_status=plan.order or order.status,
            order_entered=plan.order is not None,
        )
        summaries = SummaryWriter()  # analytics rows of this change, committed with it
        readied = sum(status == ItemStatus.READY for status in plan.items.values())
        for item in order.items:
            if item.plu in plan.items:
                item.status = plan.items[item.plu]
                ended = _end_stay(item.history, now)
                if ended is not None and ended.id is not None:
                    writes.ended_item_events.append(ended.id)
                summaries.status_entered(order, item, ended, item.history, now, readied)
                item.history.append(EventRecord(None, item.status, now, None, source, self.actor))
                writes.items.append((item.id, item.status))
        if plan.order is not None:
            order.status = plan.order
            ended = _end_stay(order.history, now)
            if ended is not None and ended.id is not None:
                writes.ended_order_events.append(ended.id)
            summaries.status_entered(order, None, ended, order.history, now, readied)
            order.history.append(EventRecord(None, order.status, now, None, source, self.actor))
        # Stamped after planning: undo reads when and where the previous change was made.
        order.updated_at = now
        order.last_change_source = source
        order.version += 1  # every change bumps it (see read.lock_order)
        change = OrderChanged(order.id, order.brand_id, "status", order.status)
        await write_status_change(conn, writes, summaries, self._notice(change))
        await self._commit(change)
        return order

    def _notice(self, change: OrderChanged) -> Notice | None:
        return self.feed.notice(change) if self.feed is not None else None

    async def _commit(self, change: OrderChanged) -> None:
        """Commit, then tell the feed (a NOTIFY sent in the transaction is delivered by the commit)."""
        await self.session.commit()
        if self.feed is not None:
            await self.feed.after_commit(change)

    async def _find_same(self, new: NewOrder, payload_hash: str) -> OrderRecord | None:
        """The order a retry of `new` stored before, or None; other content is a conflict."""
        conn = await self._connection()
        statement = _SAME_ORDER_POSTGRES if conn.dialect.name == "postgresql" else _SAME_ORDER
        found = [
            (order_id, stored_hash)
            for order_id, stored_hash, *_ in await statement.rows(
                conn, {"id": new.id, "brand_id": new.brand_id, "channel_order_id": new.channel_order_id}
            )
            if order_id is not None
        ]
        if len(found) > 1:
            # The id names one order and the channel's order id another.
            raise DuplicateOrderConflict(new.id or new.channel_order_id)
        if not found:
            return None
        order_id, stored_hash = found[0]
        if stored_hash != payload_hash:
            raise DuplicateOrderConflict(order_id)
        return await self.get_order(order_id)

    def _new_order_writes(self, new: NewOrder, payload_hash: str, source: EventSource) -> NewOrderWrites:
        if new.status is not None and parse_order_status(new.status) is not OrderStatus.RECEIVED:
            raise InvalidNewOrder("status", "a new order must start RECEIVED (1)")
        for index, new_item in enumerate(new.items):
            if new_item.status is not None and parse_item_status(new_item.status) is not ItemStatus.ORDERED:
                raise InvalidNewOrder(f"items[{index}].status", "a new item must start ORDERED (1)")
        # Channel history is parsed before anything is written, so an unknown code writes nothing.
        reported = [(parse_order_status(entry.status), entry.timestamp) for entry in new.status_history]

        now = self.clock()
        _within("pickupTime", new.pickup_time, now - PICKUP_WINDOW, now + PICKUP_WINDOW)
        if new.created is not None:
            _within("created", new.created, now - CHANNEL_PAST, now + CHANNEL_FUTURE)
        for index, entry in enumerate(new.status_history):
            _within(f"statusHistory[{index}].timestamp", entry.timestamp, now - CHANNEL_PAST, now + CHANNEL_FUTURE)
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
        )
        # History is kept in the order it was written: the channel's reports first, oldest first
        # as the channel timed them, then our RECEIVED, the stream's first server-stamped stay.
        events: list[tuple[str, datetime, str, str | None]] = [
            (status, at, EventSource.CHANNEL, None) for status, at in sorted(reported, key=lambda report: report[1])
        ]
        events.append((OrderStatus.RECEIVED, now, source, self.actor))
        order.history = [
            EventRecord(None, status, at, None, event_source, actor) for status, at, event_source, actor in events
        ]
        for new_item in new.items:
            item = ItemRecord(0, new_item.plu, new_item.name, new_item.quantity, ItemStatus.ORDERED)
            item.history.append(EventRecord(None, ItemStatus.ORDERED, now, None, source, self.actor))
            order.items.append(item)
        return NewOrderWrites(order, events, ItemStatus.ORDERED, source, self.actor)


# The order a create payload names: by its id, or by the channel's (brandId, channelOrderId).
_same_order = select(Order.id, Order.payload_hash).where(
    or_(
        Order.id == bindparam("id"),
        and_(Order.brand_id == bindparam("brand_id"), Order.channel_order_id == bindparam("channel_order_id")),
    )
)
_SAME_ORDER = DriverStatement(_same_order)
# On PostgreSQL the same look-up also switches the transaction to generic plans for the new
# order's write statement (see read.GENERIC_PLANS); it answers one row even when nothing matches
# (with NULLs), so that set_config always runs.
_same = _same_order.subquery("same")
_one = select(literal_column("1").label("one")).subquery("one")
_SAME_ORDER_POSTGRES = DriverStatement(
    select(_same.c.id, _same.c.payload_hash, read.GENERIC_PLANS).select_from(_one.outerjoin(_same, true()))
)


# The times a new order may carry, around the server's clock. A pickup time weeks away is a
# channel's bug (a wrong year, seconds read as milliseconds), and years 1 or 9999 would break
# every board that shows the ticket; scheduled orders and a channel's backlog fit well inside.
PICKUP_WINDOW = timedelta(days=30)
CHANNEL_PAST = timedelta(days=5 * 365)  # `created` and statusHistory: the channel's own clock
CHANNEL_FUTURE = timedelta(days=1)


def _within(field: str, moment: datetime, earliest: datetime, latest: datetime) -> None:
    if not earliest <= moment <= latest:
        raise InvalidNewOrder(
            field,
            f"{field} must lie between {earliest:%Y-%m-%dT%H:%M:%SZ} and {latest:%Y-%m-%dT%H:%M:%SZ}"
            f" (around the server's time); got {moment:%Y-%m-%dT%H:%M:%SZ}",
        )


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


def _end_stay(history: list[EventRecord], now: datetime) -> EventRecord | None:
    """End the status the stream is in, so its duration is `ended_at - at`; return the event ended.

    `history` is in the order it was written, so the stream's open stay is its last server row.
    """
    for event in reversed(history):
        if event.source != EventSource.CHANNEL:
            if event.ended_at is None:
                event.ended_at = now
                return event
            return None
    return None
