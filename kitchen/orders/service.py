"""The only way orders come in and change status.

Each change locks the order, asks the pure rules in `status.py` what it means, writes the
new statuses with their history rows, commits, and only then tells the listeners.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import msgspec
from advanced_alchemy.extensions.litestar import repository
from advanced_alchemy.filters import CollectionFilter, LimitOffset, OrderBy, StatementFilter
from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from kitchen.clock import Clock, system_clock
from kitchen.metrics import CHANGES_PUBLISHED, ORDERS_CREATED, STATUS_CHANGES
from kitchen.orders import read
from kitchen.orders.bring_back import bring_back_reason, brought_back_already, finish_of, plan_bring_back
from kitchen.orders.changes import acknowledged, change_stamp, plan_new_order, plan_writes
from kitchen.orders.lines import payload_hash_text
from kitchen.orders.models import EventSource, Order, OrderItem
from kitchen.orders.records import OrderRecord
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
)
from kitchen.orders.stores import Notice, OrderStore
from kitchen.orders.taps import BoardTap, OpenTap, decode_ticket, encode_ticket, plan_take_back
from kitchen.webhooks.outbox import Outbox, PendingEvent

log = logging.getLogger("kitchen.orders")


class OrderNotFound(Exception):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} not found")
        self.order_id = order_id


class ItemNotFound(Exception):
    def __init__(self, order_id: str, plu: str) -> None:
        super().__init__(f"order {order_id!r} has no item with PLU {plu!r}")
        self.order_id = order_id
        self.plu = plu


class LineNotFound(Exception):
    def __init__(self, order_id: str, line: int, lines: int) -> None:
        super().__init__(f"order {order_id!r} has no line {line}; its lines are 1 to {lines}")
        self.order_id = order_id
        self.line = line


class AmbiguousPlu(Exception):
    """A change named an item by its PLU, and the order has that PLU on more than one line."""

    def __init__(self, order_id: str, plu: str, lines: list[int]) -> None:
        super().__init__(
            f"order {order_id!r} has PLU {plu!r} on lines {', '.join(map(str, lines))};"
            " change one with PATCH /api/orders/{id}/lines/{line}/status"
        )
        self.order_id = order_id
        self.plu = plu
        self.lines = lines


class TapNotFound(Exception):
    """No change of this board has that id (another board's, or none at all)."""

    def __init__(self, tap_id: int) -> None:
        super().__init__(f"this board made no change {tap_id}")
        self.tap_id = tap_id


class DuplicateOrderConflict(Exception):
    """The order's id or (brandId, channelOrderId) is taken by an order with other content."""

    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"order {order_id!r} already exists with different content; a retry must resend the same payload"
        )
        self.order_id = order_id


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


def _check_line(order_id: str, ticket: Ticket, line: int) -> None:
    if line not in ticket.items:
        raise LineNotFound(order_id, line, len(ticket.items))


def _line_of(order: OrderRecord, plu: str) -> int:
    """The one line of `order` that has `plu`; ItemNotFound, or AmbiguousPlu when several do."""
    lines = [item.line for item in order.items if item.plu == plu]
    if not lines:
        raise ItemNotFound(order.id, plu)
    if len(lines) > 1:
        raise AmbiguousPlu(order.id, plu, lines)
    return lines[0]


class OrderRepository(repository.SQLAlchemyAsyncRepository[Order]):
    """The ORM's view of orders, for the list endpoint's filters and paging."""

    model_type = Order


class OrderService:
    """Every way an order comes in or changes: the rules, the history, the summaries, the feed.

    It composes what it needs (a store for the database, a repository for the filtered list)
    rather than inheriting CRUD methods: an update, upsert or delete that skipped the rules and
    the history would be a second way to change an order.
    """

    def __init__(
        self,
        session: AsyncSession,
        store: OrderStore,
        clock: Clock = system_clock,
        feed: ChangeFeed | None = None,
        actor: str | None = None,
        device: str | None = None,
        undo_window: timedelta = timedelta(seconds=60),
        outbox: Outbox | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.repository = OrderRepository(session=session)
        self.clock = clock
        self.feed = feed
        # Who is asking (an API key, a tablet, a manager): every history row it writes names them.
        self.actor = actor
        # The board's device ("tablet:12"): its changes go on its own undo stack (orders/taps.py).
        self.device = device
        self.undo_window = undo_window
        self.last_tap: OpenTap | None = None  # the undo stack entry the last change made, if any
        # The integrations' webhooks: each status change writes their events in its own transaction.
        self.outbox = outbox

    async def _connection(self) -> AsyncConnection:
        # Orders are read and written with prebuilt Core statements on the session's connection
        # (see read.py and writes.py); the session only holds the transaction.
        return await self.session.connection()

    async def get_order(self, order_id: str) -> OrderRecord:
        """The order with its items and both history streams, or OrderNotFound."""
        order = await self.store.read_order(await self._connection(), order_id)
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
        payload_hash = hashlib.sha256(payload_hash_text(msgspec.to_builtins(new))).hexdigest()
        existing = await self._find_same(new, payload_hash)
        if existing is not None:
            return existing, False

        new_order = plan_new_order(new, payload_hash, self.clock(), source, self.actor)
        order = new_order.order
        change = OrderChanged(order.id, order.brand_id, "created", order.status)
        try:
            conn = await self._connection()
            item_ids = await self.store.write_new_order(conn, new_order, self._notice(change))
            told = 0
            if self.outbox is not None:
                told = await self.outbox.order_event(conn, order, self.actor, order.created_at)
            await self._commit(change)
            if told and self.outbox is not None:
                self.outbox.wake()
            ORDERS_CREATED.inc()
            log.info("order received", extra={"order_id": order.id, "brand": order.brand_id, "by": self.actor})
        except IntegrityError:
            # Another request stored the same order between our look-up and our insert.
            await self.session.rollback()
            existing = await self._find_same(new, payload_hash)
            if existing is None:
                raise
            return existing, False
        for item, item_id in zip(order.items, item_ids, strict=True):
            item.id = item_id
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
        """Move the item with PLU `plu`, when the order has it on one line only (see set_line_status)."""
        target = parse_item_status(requested)

        def plan(ticket: Ticket, order: OrderRecord, _now: datetime) -> Plan:
            return plan_item_change(ticket, _line_of(order, plu), target)

        return await self._change(order_id, source, plan)

    async def set_line_status(
        self, order_id: str, line: int, requested: int | str, source: EventSource = EventSource.API
    ) -> OrderRecord:
        """Move one line's item one step (or one step back); the order's status follows its items."""
        target = parse_item_status(requested)

        def plan(ticket: Ticket, _order: OrderRecord, _now: datetime) -> Plan:
            _check_line(order_id, ticket, line)
            return plan_item_change(ticket, line, target)

        return await self._change(order_id, source, plan)

    async def advance_line(
        self, order_id: str, line: int, source: EventSource = EventSource.BOARD, seen: ItemStatus | None = None
    ) -> OrderRecord:
        """A tap on a line: the next step from `seen`, the status the cook saw (see plan_item_advance)."""

        def plan(ticket: Ticket, _order: OrderRecord, _now: datetime) -> Plan:
            _check_line(order_id, ticket, line)
            return plan_item_advance(ticket, line, seen)

        return await self._change(order_id, source, plan)

    async def set_line_back(self, order_id: str, line: int, source: EventSource = EventSource.BOARD) -> OrderRecord:
        """A READY line goes back to PREPARING (marked ready by mistake); one no longer READY stays."""

        def plan(ticket: Ticket, _order: OrderRecord, _now: datetime) -> Plan:
            _check_line(order_id, ticket, line)
            if ticket.items[line] is not ItemStatus.READY:
                return Plan()  # the same request sent twice: it is back already
            return plan_item_change(ticket, line, ItemStatus.PREPARING)

        return await self._change(order_id, source, plan)

    async def recall(self, order_id: str, source: EventSource = EventSource.BOARD) -> OrderRecord:
        """A bumped (READY) order goes back to the line: its items return to PREPARING."""
        return await self._change(order_id, source, lambda ticket, _order, _now: plan_recall(ticket))

    async def bring_back(self, order_id: str, reason: str, source: EventSource = EventSource.BOARD) -> OrderRecord:
        """Bring back an order picked up or cancelled in the last 30 minutes (a courier returned it),
        as it was before it became final; `reason` is recorded on the order's history row.

        Refused (TransitionNotAllowed) for an open order, one finished too long ago, or one the
        channel reported final; a reason that is empty, too long or not one line is a FieldError.
        Sent twice, the second finds the order back already and changes nothing.
        """
        why = bring_back_reason(reason)

        def plan(ticket: Ticket, order: OrderRecord, now: datetime) -> Plan:
            return plan_bring_back(ticket, finish_of(order), now, brought_back_already(order))

        return await self._change(order_id, source, plan, reason=why)

    async def open_taps(self) -> list[OpenTap]:
        """This board's changes it may still take back, newest first: its undo stack."""
        if self.device is None:
            return []
        since = self.clock() - self.undo_window
        rows = await self.session.execute(
            select(BoardTap.id, BoardTap.order_id, BoardTap.at)
            .where(BoardTap.device == self.device, BoardTap.closed_at.is_(None), BoardTap.at > since)
            .order_by(BoardTap.id.desc())
        )
        taps = [OpenTap(tap_id, order_id, at + self.undo_window) for tap_id, order_id, at in rows]
        await self.session.rollback()
        return taps

    async def undo_tap(self, tap_id: int) -> OrderRecord:
        """Take back one of this board's changes, within the undo window: recorded as a new change.

        Only while the lines it moved are as it left them; a change another board (or the channel)
        has overtaken leaves the stack with a refusal, so the next undo reaches the one before.
        Sent twice (a lost answer), the second finds it taken back already and changes nothing.
        """
        tap = await self._tap(tap_id)
        if tap.closed_at is not None:
            return await self._unchanged(tap.order_id)
        if self.clock() - tap.at > self.undo_window:
            order = await self._unchanged(tap.order_id)
            raise TransitionNotAllowed(order.status, "undo", "the change is too old to undo")
        after, before = decode_ticket(tap.after), decode_ticket(tap.before)

        async def close_tap(conn: AsyncConnection, now: datetime) -> None:
            await conn.execute(update(BoardTap).where(BoardTap.id == tap_id).values(closed_at=now))

        try:
            return await self._change(
                tap.order_id,
                EventSource.BOARD,
                lambda ticket, _order, _now: plan_take_back(ticket, after, before),
                then=close_tap,
                undoable=False,
            )
        except TransitionNotAllowed:
            tap = await self._tap(tap_id)
            if tap.closed_at is not None:
                return await self._unchanged(tap.order_id)  # taken back by this same undo, sent twice
            conn = await self._connection()
            await close_tap(conn, self.clock())
            await self.session.commit()
            raise

    async def order_of_tap(self, tap_id: int) -> str:
        """The order one of this board's changes changed, or TapNotFound."""
        tap = await self._tap(tap_id)
        await self.session.rollback()
        return tap.order_id

    async def _tap(self, tap_id: int) -> BoardTap:
        if not 0 < tap_id < 2**63:  # no row has it, and the database could not even compare it
            raise TapNotFound(tap_id)
        found = await self.session.scalar(
            select(BoardTap).where(BoardTap.id == tap_id, BoardTap.device == (self.device or ""))
        )
        if found is None:
            await self.session.rollback()
            raise TapNotFound(tap_id)
        self.session.expunge(found)
        return found

    async def _unchanged(self, order_id: str) -> OrderRecord:
        order = await self.get_order(order_id)
        await self.session.rollback()
        return order

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
        order = acknowledged(order, change_stamp(order, self.clock()))
        change = OrderChanged(order.id, order.brand_id, "acknowledged", order.status)
        await self.store.write_acknowledgement(conn, order, self._notice(change))
        await self._commit(change)
        return order

    async def _lock(self, conn: AsyncConnection, order_id: str) -> OrderRecord:
        """Lock the order for a change and read it as the change before committed it."""
        order = await self.store.lock_order(conn, order_id)
        if order is None:
            await self.session.rollback()
            raise OrderNotFound(order_id)
        return order

    async def _change(
        self,
        order_id: str,
        source: EventSource,
        plan_for: Callable[[Ticket, OrderRecord, datetime], Plan],
        then: Callable[[AsyncConnection, datetime], Awaitable[None]] | None = None,
        undoable: bool = True,
        reason: str | None = None,
    ) -> OrderRecord:
        """Lock, plan, write the change and its history (and `then`, in the same transaction), commit.

        A change made on a board goes on that board's undo stack (`undoable`), in the same transaction.
        `reason` (a bring-back's) is written on the order's new history row.
        """
        started = time.perf_counter()
        self.last_tap = None
        conn = await self._connection()
        # Lock and read: concurrent changes of one order run one after another, each planned on
        # what the one before it committed.
        order = await self._lock(conn, order_id)
        # Stamped only now, holding the lock: a change that waited for the one before it is
        # stamped after it, so each stream's history runs forward in the order it was written.
        now = change_stamp(order, self.clock())
        ticket = Ticket(
            status=OrderStatus(order.status),
            items={item.line: ItemStatus(item.status) for item in order.items},
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

        planned = plan_writes(order, plan, now, source, self.actor, reason)
        change = OrderChanged(order.id, order.brand_id, "status", planned.order.status)
        events: list[PendingEvent] = []
        if self.outbox is not None and planned.order.status != order.status:
            creator = next((e.actor for e in order.history if e.source != EventSource.CHANNEL), None)
            events = await self.outbox.order_events(conn, planned.order, creator, now)
        await self.store.write_status_change(conn, planned, self._notice(change), events)
        if then is not None:
            await then(conn, now)
        tap_id = None
        if undoable and source == EventSource.BOARD and self.device is not None:
            after = Ticket(
                OrderStatus(planned.order.status), {i.line: ItemStatus(i.status) for i in planned.order.items}
            )
            tap_id = await conn.scalar(
                insert(BoardTap)
                .values(
                    device=self.device,
                    order_id=order.id,
                    at=now,
                    before=encode_ticket(ticket),
                    after=encode_ticket(after),
                )
                .returning(BoardTap.id)
            )
        await self._commit(change)
        if events and self.outbox is not None:
            self.outbox.wake()
        if tap_id is not None:
            self.last_tap = OpenTap(tap_id, order.id, now + self.undo_window)
        STATUS_CHANGES.labels(source).inc()
        took_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(
            "status change",
            extra={"order_id": order.id, "status": planned.order.status, "by": self.actor, "took_ms": took_ms},
        )
        return planned.order

    def _notice(self, change: OrderChanged) -> Notice | None:
        return self.feed.notice(change) if self.feed is not None else None

    async def _commit(self, change: OrderChanged) -> None:
        """Commit, then tell the feed (a NOTIFY sent in the transaction is delivered by the commit)."""
        await self.session.commit()
        if self.feed is not None:
            await self.feed.after_commit(change)
            CHANGES_PUBLISHED.inc()

    async def _find_same(self, new: NewOrder, payload_hash: str) -> OrderRecord | None:
        """The order a retry of `new` stored before, or None; other content is a conflict."""
        found = await self.store.find_same(await self._connection(), new.id, new.brand_id, new.channel_order_id)
        if len(found) > 1:
            # The id names one order and the channel's order id another.
            raise DuplicateOrderConflict(new.id or new.channel_order_id)
        if not found:
            return None
        order_id, stored_hash = found[0]
        if stored_hash != payload_hash:
            raise DuplicateOrderConflict(order_id)
        return await self.get_order(order_id)
