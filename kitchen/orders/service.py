"""The only way orders come in and change status.

Each change locks the order, asks the pure rules in `status.py` what it means, writes the
new statuses with their history rows, commits, and only then tells the listeners.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, TypeVar

import msgspec
import uuid_utils
from advanced_alchemy.extensions.litestar import repository, service
from advanced_alchemy.filters import CollectionFilter, LimitOffset, OrderBy, StatementFilter
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.interfaces import LoaderOption

from kitchen.analytics.summaries import SummaryWriter
from kitchen.orders import read
from kitchen.orders.models import (
    EventSource,
    ItemStatusEvent,
    Order,
    OrderItem,
    OrderStatusEvent,
    StatusEventColumns,
)
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

Clock = Callable[[], datetime]
EventT = TypeVar("EventT", bound=StatusEventColumns)


def system_clock() -> datetime:
    return datetime.now(UTC)


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

    async def before_commit(self, session: AsyncSession, change: OrderChanged) -> None: ...

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

    async def get_order(self, order_id: str) -> Order:
        """The order with its items and both history streams, or OrderNotFound."""
        order = await self.session.scalar(
            select(Order).where(Order.id == order_id).options(*_full_order()).execution_options(populate_existing=True)
        )
        if order is None:
            raise OrderNotFound(order_id)
        return order

    async def read_order(self, order_id: str) -> OrderView:
        """The order as the API shows it (read straight from rows), or OrderNotFound."""
        view = await read.order_view(self.session, order_id)
        if view is None:
            raise OrderNotFound(order_id)
        return view

    async def list_orders(self, query: OrderQuery) -> tuple[Sequence[Order], int]:
        """A page of orders, newest first, and how many match in all."""
        filters: list[StatementFilter | ColumnElement[bool]] = [
            OrderBy(field_name="created_at", sort_order="desc"),
            OrderBy(field_name="id", sort_order="desc"),
            LimitOffset(limit=query.limit, offset=query.offset),
        ]
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
        orders, total = await self.repository.get_many_and_count(*filters, load=list(_full_order()))
        return orders, total

    async def ingest(self, new: NewOrder, source: EventSource = EventSource.API) -> tuple[Order, bool]:
        """Store an order from a channel, or return the one a retry of it already stored.

        Returns the order and whether it was created. The same id or (brandId, channelOrderId)
        with other content raises DuplicateOrderConflict; nothing is written then.
        """
        payload_hash = hashlib.sha256(msgspec.json.encode(new)).hexdigest()
        existing = await self._find_same(new)
        if existing is not None:
            return self._check_retry(existing, payload_hash), False

        order = self._build_order(new, payload_hash, source)
        self.session.add(order)
        summaries = SummaryWriter()
        summaries.order_received(order)
        try:
            await summaries.write(self.session)  # in the same transaction as the order
            await self._commit(OrderChanged(order.id, order.brand_id, "created", order.status))
        except IntegrityError:
            # Another request stored the same order between our look-up and our insert.
            await self.session.rollback()
            existing = await self._find_same(new)
            if existing is None:
                raise
            return self._check_retry(existing, payload_hash), False
        return order, True

    async def set_order_status(
        self, order_id: str, requested: int | str, source: EventSource = EventSource.API
    ) -> Order:
        """Move a whole order (start, bump, pick up, cancel, recall) as the status rules allow."""
        target = parse_order_status(requested)
        return await self._change(order_id, source, lambda ticket, _: plan_order_change(ticket, target))

    async def set_item_status(
        self, order_id: str, plu: str, requested: int | str, source: EventSource = EventSource.API
    ) -> Order:
        """Move one item one step (or one step back); the order's status follows its items."""
        target = parse_item_status(requested)

        def plan(ticket: Ticket, _: Order) -> Plan:
            if plu not in ticket.items:
                raise ItemNotFound(order_id, plu)
            return plan_item_change(ticket, plu, target)

        return await self._change(order_id, source, plan)

    async def advance_item(self, order_id: str, plu: str, source: EventSource = EventSource.BOARD) -> Order:
        """A tap on an item: the next step from the status it has when the lock is taken."""

        def plan(ticket: Ticket, _: Order) -> Plan:
            if plu not in ticket.items:
                raise ItemNotFound(order_id, plu)
            return plan_item_advance(ticket, plu)

        return await self._change(order_id, source, plan)

    async def recall(self, order_id: str, source: EventSource = EventSource.BOARD) -> Order:
        """A bumped (READY) order goes back to the line: its items return to PREPARING."""
        return await self._change(order_id, source, lambda ticket, _: plan_recall(ticket))

    async def undo_last_change(
        self, order_id: str, window: timedelta, source: EventSource = EventSource.BOARD
    ) -> Order:
        """Put the items the last change moved back where they were, if that change was made
        from `source` less than `window` ago. Recorded as a new change, like any other."""
        now = self.clock()

        def plan(ticket: Ticket, order: Order) -> Plan:
            if order.version == 1 or order.last_change_source != source:
                raise TransitionNotAllowed(order.status, "undo", f"the last change was not made on the {source}")
            if now - order.updated_at > window:
                raise TransitionNotAllowed(order.status, "undo", "the last change is too old to undo")
            last_at = order.updated_at
            previous: dict[str, ItemStatus] = {}
            for item in order.items:
                server_events = [e for e in item.history if e.source != EventSource.CHANNEL]
                if len(server_events) >= 2 and server_events[-1].at == last_at:
                    previous[item.plu] = ItemStatus(server_events[-2].status)
            return plan_undo(ticket, previous)

        return await self._change(order_id, source, plan)

    async def acknowledge_cancellation(self, order_id: str) -> Order:
        """A cook has seen that the order was cancelled: it may leave the boards."""
        order = await self.get_order(order_id)
        if order.status != OrderStatus.CANCELLED:
            raise TransitionNotAllowed(order.status, "acknowledged", "only a cancelled order is acknowledged")
        if order.cancel_acknowledged_at is None:
            order.cancel_acknowledged_at = order.updated_at = self.clock()
            flag_modified(order, "updated_at")
            await self._commit(OrderChanged(order.id, order.brand_id, "acknowledged", order.status))
        return order

    async def _change(self, order_id: str, source: EventSource, plan_for: Callable[[Ticket, Order], Plan]) -> Order:
        now = self.clock()
        # Lock first: the version bump takes the row lock (PostgreSQL) or the database write lock
        # (SQLite), so concurrent changes of one order run one after another on fresh data.
        locked = await self.session.execute(
            update(Order)
            .where(Order.id == order_id)
            # updated_at keeps its value: without it, the column's onupdate would stamp the wall clock.
            .values(version=Order.version + 1, updated_at=Order.updated_at)
        )
        if locked.rowcount == 0:  # type: ignore[attr-defined]  # CursorResult has rowcount
            await self.session.rollback()
            raise OrderNotFound(order_id)
        order = await self.get_order(order_id)
        ticket = Ticket(
            status=OrderStatus(order.status),
            items={item.plu: ItemStatus(item.status) for item in order.items},
        )
        try:
            plan = plan_for(ticket, order)
        except Exception:
            await self.session.rollback()
            raise
        if plan.is_noop:
            # A repeat of a status the order already has: write nothing, not even the version.
            await self.session.rollback()
            return await self.get_order(order_id)

        summaries = SummaryWriter()  # analytics rows of this change, committed with it
        for item in order.items:
            if item.plu in plan.items:
                item.status = plan.items[item.plu]
                summaries.status_entered(order, item, _close_open_event(item.history, now), item.history, now)
                item.history.append(_item_event(item, item.status, now, source, self.actor))
        # Stamped here, after planning: undo reads when and where the previous change was made.
        # (Set explicitly, too, so the column's onupdate default does not stamp the wall clock.)
        order.updated_at = now
        flag_modified(order, "updated_at")  # even when equal to the old value, or onupdate would fire
        order.last_change_source = source
        if plan.order is not None:
            order.status = plan.order
            summaries.status_entered(order, None, _close_open_event(order.history, now), order.history, now)
            order.history.append(OrderStatusEvent(status=order.status, at=now, source=source, actor=self.actor))
        await summaries.write(self.session)
        await self._commit(OrderChanged(order.id, order.brand_id, "status", order.status))
        return order

    async def _commit(self, change: OrderChanged) -> None:
        """Commit, telling the feed inside the transaction (NOTIFY) or after it (publish)."""
        if self.feed is not None:
            await self.feed.before_commit(self.session, change)
        await self.session.commit()
        if self.feed is not None:
            await self.feed.after_commit(change)

    async def _find_same(self, new: NewOrder) -> Order | None:
        match = and_(Order.brand_id == new.brand_id, Order.channel_order_id == new.channel_order_id)
        if new.id is not None:
            match = or_(Order.id == new.id, match)
        found = (await self.session.scalars(select(Order).where(match).options(*_full_order()))).all()
        if len(found) > 1:
            # The id names one order and the channel's order id another.
            raise DuplicateOrderConflict(new.id or new.channel_order_id)
        return found[0] if found else None

    @staticmethod
    def _check_retry(existing: Order, payload_hash: str) -> Order:
        if existing.payload_hash != payload_hash:
            raise DuplicateOrderConflict(existing.id)
        return existing

    def _build_order(self, new: NewOrder, payload_hash: str, source: EventSource) -> Order:
        if new.status is not None and parse_order_status(new.status) is not OrderStatus.RECEIVED:
            raise InvalidNewOrder("status", "a new order must start RECEIVED (1)")
        for index, new_item in enumerate(new.items):
            if new_item.status is not None and parse_item_status(new_item.status) is not ItemStatus.ORDERED:
                raise InvalidNewOrder(f"items[{index}].status", "a new item must start ORDERED (1)")
        # Channel history is parsed before anything is built, so an unknown code writes nothing.
        reported = [(parse_order_status(entry.status), entry.timestamp) for entry in new.status_history]

        now = self.clock()
        address = new.delivery_address
        order = Order(
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
            created_at=now,
            updated_at=now,
            items=[],
            history=[],
        )
        order.history.extend(
            OrderStatusEvent(status=status, at=at, source=EventSource.CHANNEL) for status, at in reported
        )
        order.history.append(OrderStatusEvent(status=OrderStatus.RECEIVED, at=now, source=source, actor=self.actor))
        for new_item in new.items:
            item = OrderItem(
                plu=new_item.plu,
                name=new_item.name,
                quantity=new_item.quantity,
                status=ItemStatus.ORDERED,
                history=[],
            )
            item.history.append(_item_event(item, ItemStatus.ORDERED, now, source, self.actor, order_id=order.id))
            order.items.append(item)
        return order


def _item_event(
    item: OrderItem,
    status: str,
    at: datetime,
    source: EventSource,
    actor: str | None,
    order_id: str | None = None,
) -> ItemStatusEvent:
    return ItemStatusEvent(order_id=order_id or item.order_id, status=status, at=at, source=source, actor=actor)


def _close_open_event(history: Sequence[EventT], now: datetime) -> EventT | None:
    """End the status the stream is in, so its duration is `ended_at - at`; return the event ended."""
    for event in reversed(history):
        if event.source != EventSource.CHANNEL:
            if event.ended_at is None:
                event.ended_at = now
                return event
            return None
    return None
