"""Writing a status change or a new order: one statement on PostgreSQL, a few on SQLite.

The service decides what a change writes (`StatusWrites`, `NewOrderWrites`: plain values, the
same for both databases); this module only stores it, inside the caller's transaction.

On PostgreSQL every write of a change (statuses, history rows, ended stays, analytics summaries
and the NOTIFY for the boards) goes out as one prepared statement of data-modifying CTEs fed
with arrays: one round trip instead of ten, and the same statement text every time, so asyncpg
prepares it once per connection. This is what lets one worker serve the API's write targets.
SQLite cannot modify data in a CTE; it is in-process, so there the same rows are written
statement by statement with SQLAlchemy Core.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kitchen.analytics.summaries import (
    CUSTOMERS,
    HISTOGRAMS,
    QUARTER_HOURS,
    SUMMARY_SHARDS,
    SummaryRows,
    SummaryWriter,
)
from kitchen.db import DriverStatement
from kitchen.orders.models import ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.read import OrderRecord

# A NOTIFY to send inside the transaction: (channel, payload). PostgreSQL delivers it on commit.
Notice = tuple[str, str]


@dataclass(slots=True)
class StatusWrites:
    """Everything one status change of an order writes."""

    order_id: str
    now: datetime
    source: str
    actor: str | None
    order_status: str  # the order's status after the change
    order_entered: bool  # the order's status changed: one new order history row
    items: list[tuple[int, str]] = field(default_factory=list)  # (item id, new status), each with a history row
    ended_order_events: list[int] = field(default_factory=list)  # stays that end now
    ended_item_events: list[int] = field(default_factory=list)


@dataclass(slots=True)
class NewOrderWrites:
    """A new order: its row and items (ids not yet known) and its first history rows."""

    order: OrderRecord
    # (status, at, source, actor) of the order's history: the channel's reports, then RECEIVED.
    order_events: list[tuple[str, datetime, str, str | None]]
    item_status: str
    source: str
    actor: str | None


# --- PostgreSQL: one statement each ---------------------------------------------------------------

_SUMMARIES_SQL = f"""
samples AS (
    INSERT INTO analytics_samples (measure, key, label, brand_id, created_at, seconds, bucket)
    SELECT * FROM unnest(CAST(:s_measure AS VARCHAR[]), CAST(:s_key AS VARCHAR[]), CAST(:s_label AS VARCHAR[]),
                         CAST(:s_brand_id AS VARCHAR[]), CAST(:s_created_at AS TIMESTAMPTZ[]),
                         CAST(:s_seconds AS FLOAT8[]), CAST(:s_bucket AS INTEGER[]))
), histograms AS (
    INSERT INTO analytics_histograms (span, measure, period, brand_id, key, label, bucket, count, total, low, high,
                                      shard)
    SELECT *, CAST(:shard AS SMALLINT)
    FROM unnest(CAST(:h_span AS VARCHAR[]), CAST(:h_measure AS VARCHAR[]), CAST(:h_period AS INTEGER[]),
                CAST(:h_brand_id AS VARCHAR[]), CAST(:h_key AS VARCHAR[]), CAST(:h_label AS VARCHAR[]),
                CAST(:h_bucket AS INTEGER[]), CAST(:h_count AS INTEGER[]), CAST(:h_total AS FLOAT8[]),
                CAST(:h_low AS FLOAT8[]), CAST(:h_high AS FLOAT8[]))
    {HISTOGRAMS.on_conflict()}
), quarters AS (
    INSERT INTO analytics_quarter_hours (quarter, brand_id, received, ready, shard)
    SELECT *, CAST(:shard AS SMALLINT)
    FROM unnest(CAST(:q_quarter AS INTEGER[]), CAST(:q_brand_id AS VARCHAR[]),
                CAST(:q_received AS INTEGER[]), CAST(:q_ready AS INTEGER[]))
    {QUARTER_HOURS.on_conflict()}
), customers AS (
    INSERT INTO analytics_customers (account, brand_id, orders, first_order_at, last_order_at, shard)
    SELECT *, CAST(:shard AS SMALLINT)
    FROM unnest(CAST(:c_account AS VARCHAR[]), CAST(:c_brand_id AS VARCHAR[]), CAST(:c_orders AS INTEGER[]),
                CAST(:c_first_order_at AS TIMESTAMPTZ[]), CAST(:c_last_order_at AS TIMESTAMPTZ[]))
    {CUSTOMERS.on_conflict()}
)"""

# The NOTIFY is called once (an uncorrelated subquery) and only when asked for.
_NOTIFY_SQL = "(SELECT pg_notify(:channel, :message) WHERE CAST(:notify AS BOOLEAN))"

# The database allows one open server stay per stream (a partial unique index), so a stream's
# open stay is ended before its new one is inserted: each INSERT reads a count of the UPDATE that
# ends the stays, which makes PostgreSQL run that UPDATE to completion first (data-modifying CTEs
# otherwise run in no promised order).
_PG_STATUS_CHANGE = DriverStatement(
    text(
        f"""
WITH ended_item_events AS (
    UPDATE item_status_events SET ended_at = :now WHERE id = ANY(CAST(:ended_item_events AS BIGINT[])) RETURNING id
), ended_order_events AS (
    UPDATE order_status_events SET ended_at = :now WHERE id = ANY(CAST(:ended_order_events AS BIGINT[])) RETURNING id
), changed_items AS (
    UPDATE order_items SET status = changed.status
    FROM unnest(CAST(:item_ids AS BIGINT[]), CAST(:item_statuses AS VARCHAR[])) AS changed(id, status)
    WHERE order_items.id = changed.id
), item_events AS (
    INSERT INTO item_status_events (item_id, order_id, status, at, source, actor)
    SELECT changed.id, :order_id, changed.status, :now, :source, :actor
    FROM unnest(CAST(:item_ids AS BIGINT[]), CAST(:item_statuses AS VARCHAR[]))
         WITH ORDINALITY AS changed(id, status, n)
    WHERE (SELECT count(*) FROM ended_item_events) >= 0
    ORDER BY changed.n
), order_event AS (
    INSERT INTO order_status_events (order_id, status, at, source, actor)
    SELECT :order_id, :order_status, :now, :source, :actor
    WHERE CAST(:order_entered AS BOOLEAN) AND (SELECT count(*) FROM ended_order_events) >= 0
), changed_order AS (
    UPDATE orders SET status = :order_status, updated_at = :now, last_change_source = :source, version = version + 1
    WHERE id = :order_id
), {_SUMMARIES_SQL}
SELECT {_NOTIFY_SQL}
"""
    )
)

_PG_NEW_ORDER = DriverStatement(
    text(
        f"""
WITH new_order AS (
    INSERT INTO orders (id, account, brand_id, channel_order_id, customer_name, customer_phone, delivery_street,
                        delivery_city, delivery_postal_code, pickup_time, channel_created_at, status, version,
                        payload_hash, created_at, updated_at)
    VALUES (:order_id, :account, :brand_id, :channel_order_id, :customer_name, :customer_phone, :delivery_street,
            :delivery_city, :delivery_postal_code, :pickup_time, :channel_created_at, :status, :version,
            :payload_hash, :created_at, :updated_at)
), items AS (
    INSERT INTO order_items (order_id, plu, name, quantity, status)
    SELECT :order_id, new.plu, new.name, new.quantity, :item_status
    FROM unnest(CAST(:plus AS VARCHAR[]), CAST(:names AS VARCHAR[]), CAST(:quantities AS INTEGER[]))
         WITH ORDINALITY AS new(plu, name, quantity, n)
    ORDER BY new.n
    RETURNING id, plu
), item_events AS (
    INSERT INTO item_status_events (item_id, order_id, status, at, source, actor)
    SELECT items.id, :order_id, :item_status, :created_at, :source, :actor FROM items ORDER BY items.id
), order_events AS (
    INSERT INTO order_status_events (order_id, status, at, source, actor)
    SELECT :order_id, event.status, event.at, event.source, event.actor
    FROM unnest(CAST(:event_statuses AS VARCHAR[]), CAST(:event_ats AS TIMESTAMPTZ[]),
                CAST(:event_sources AS VARCHAR[]), CAST(:event_actors AS VARCHAR[]))
         WITH ORDINALITY AS event(status, at, source, actor, n)
    ORDER BY event.n
), {_SUMMARIES_SQL}
SELECT items.id, items.plu, {_NOTIFY_SQL} FROM items
"""
    )
)


def _summary_arrays(rows: SummaryRows) -> dict[str, Any]:
    """The summary rows as one array per column, named as in `_SUMMARIES_SQL`, and a shard.

    Concurrent changes often add to the same counters (this quarter hour of a brand, a popular
    duration's bucket); each would wait for the row lock of the one before it until that one has
    committed. A random shard per change spreads them over `SUMMARY_SHARDS` rows per counter.
    """
    columns = {
        "s": (rows.samples, ("measure", "key", "label", "brand_id", "created_at", "seconds", "bucket")),
        "h": (rows.histograms, (*HISTOGRAMS.key, *HISTOGRAMS.values)),
        "q": (rows.quarters, (*QUARTER_HOURS.key, *QUARTER_HOURS.values)),
        "c": (rows.customers, (*CUSTOMERS.key, *CUSTOMERS.values)),
    }
    arrays: dict[str, Any] = {
        f"{prefix}_{name}": [row[name] for row in table_rows]
        for prefix, (table_rows, names) in columns.items()
        for name in names
    }
    return arrays | {"shard": random.randrange(SUMMARY_SHARDS)}


def _notice_params(notice: Notice | None) -> dict[str, Any]:
    channel, message = notice or ("", "")
    return {"channel": channel, "message": message, "notify": notice is not None}


async def _pg_status_change(
    conn: AsyncConnection, writes: StatusWrites, summaries: SummaryRows, notice: Notice | None
) -> None:
    await _PG_STATUS_CHANGE.rows(
        conn,
        {
            "order_id": writes.order_id,
            "now": writes.now,
            "source": writes.source,
            "actor": writes.actor,
            "order_status": writes.order_status,
            "order_entered": writes.order_entered,
            "item_ids": [item_id for item_id, _ in writes.items],
            "item_statuses": [status for _, status in writes.items],
            "ended_item_events": writes.ended_item_events,
            "ended_order_events": writes.ended_order_events,
            **_summary_arrays(summaries),
            **_notice_params(notice),
        },
    )


async def _pg_new_order(
    conn: AsyncConnection, new: NewOrderWrites, summaries: SummaryRows, notice: Notice | None
) -> dict[str, int]:
    order = new.order
    result = await _PG_NEW_ORDER.rows(
        conn,
        {
            "order_id": order.id,
            "account": order.account,
            "brand_id": order.brand_id,
            "channel_order_id": order.channel_order_id,
            "customer_name": order.customer_name,
            "customer_phone": order.customer_phone,
            "delivery_street": order.delivery_street,
            "delivery_city": order.delivery_city,
            "delivery_postal_code": order.delivery_postal_code,
            "pickup_time": order.pickup_time,
            "channel_created_at": order.channel_created_at,
            "status": order.status,
            "version": order.version,
            "payload_hash": order.payload_hash,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
            "item_status": new.item_status,
            "source": new.source,
            "actor": new.actor,
            "plus": [item.plu for item in order.items],
            "names": [item.name for item in order.items],
            "quantities": [item.quantity for item in order.items],
            "event_statuses": [status for status, _, _, _ in new.order_events],
            "event_ats": [at for _, at, _, _ in new.order_events],
            "event_sources": [source for _, _, source, _ in new.order_events],
            "event_actors": [actor for _, _, _, actor in new.order_events],
            **_summary_arrays(summaries),
            **_notice_params(notice),
        },
    )
    return {plu: item_id for item_id, plu, _ in result}


# --- SQLite (and any other database): statement by statement ----------------------------------------

_SET_ITEM_STATUS = update(OrderItem).where(OrderItem.id == bindparam("item_id")).values(status=bindparam("new_status"))
_ITEM_EVENT = insert(ItemStatusEvent)
_ORDER_EVENT = insert(OrderStatusEvent)


async def _portable_status_change(conn: AsyncConnection, writes: StatusWrites, summaries: SummaryWriter) -> None:
    now, source, actor = writes.now, writes.source, writes.actor
    # The stays end before the new ones begin: the database allows one open stay per stream.
    if writes.ended_item_events:
        await conn.execute(
            update(ItemStatusEvent).where(ItemStatusEvent.id.in_(writes.ended_item_events)).values(ended_at=now)
        )
    if writes.ended_order_events:
        await conn.execute(
            update(OrderStatusEvent).where(OrderStatusEvent.id.in_(writes.ended_order_events)).values(ended_at=now)
        )
    if writes.items:
        await conn.execute(_SET_ITEM_STATUS, [{"item_id": i, "new_status": s} for i, s in writes.items])
        await conn.execute(
            _ITEM_EVENT,
            [
                {"item_id": i, "order_id": writes.order_id, "status": s, "at": now, "source": source, "actor": actor}
                for i, s in writes.items
            ],
        )
    if writes.order_entered:
        await conn.execute(
            _ORDER_EVENT,
            {"order_id": writes.order_id, "status": writes.order_status, "at": now, "source": source, "actor": actor},
        )
    await conn.execute(
        update(Order)
        .where(Order.id == writes.order_id)
        .values(status=writes.order_status, updated_at=now, last_change_source=source, version=Order.version + 1)
    )
    await summaries.write(conn)


async def _portable_new_order(conn: AsyncConnection, new: NewOrderWrites, summaries: SummaryWriter) -> dict[str, int]:
    order = new.order
    await conn.execute(
        insert(Order).values(
            id=order.id,
            account=order.account,
            brand_id=order.brand_id,
            channel_order_id=order.channel_order_id,
            customer_name=order.customer_name,
            customer_phone=order.customer_phone,
            delivery_street=order.delivery_street,
            delivery_city=order.delivery_city,
            delivery_postal_code=order.delivery_postal_code,
            pickup_time=order.pickup_time,
            channel_created_at=order.channel_created_at,
            status=order.status,
            version=order.version,
            payload_hash=order.payload_hash,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )
    )
    item_ids: dict[str, int] = {}
    for item in order.items:  # one by one: the ids follow the order the channel sent the items in
        item_ids[item.plu] = (
            await conn.execute(
                insert(OrderItem)
                .values(order_id=order.id, plu=item.plu, name=item.name, quantity=item.quantity, status=new.item_status)
                .returning(OrderItem.id)
            )
        ).scalar_one()
    await conn.execute(
        _ITEM_EVENT,
        [
            {
                "item_id": item_ids[item.plu],
                "order_id": order.id,
                "status": new.item_status,
                "at": order.created_at,
                "source": new.source,
                "actor": new.actor,
            }
            for item in order.items
        ],
    )
    await conn.execute(
        _ORDER_EVENT,
        [
            {"order_id": order.id, "status": status, "at": at, "source": source, "actor": actor}
            for status, at, source, actor in new.order_events
        ],
    )
    await summaries.write(conn)
    return item_ids


# --- the two entry points ------------------------------------------------------------------------------


async def write_status_change(
    conn: AsyncConnection, writes: StatusWrites, summaries: SummaryWriter, notice: Notice | None
) -> None:
    """Store one status change (and send `notice`, if any, inside the transaction)."""
    if conn.dialect.name == "postgresql":
        await _pg_status_change(conn, writes, summaries.rows(), notice)
        return
    await _portable_status_change(conn, writes, summaries)
    if notice is not None:
        await notify(conn, notice)


async def write_new_order(
    conn: AsyncConnection, new: NewOrderWrites, summaries: SummaryWriter, notice: Notice | None
) -> dict[str, int]:
    """Store a new order; returns its items' ids by PLU."""
    if conn.dialect.name == "postgresql":
        return await _pg_new_order(conn, new, summaries.rows(), notice)
    item_ids = await _portable_new_order(conn, new, summaries)
    if notice is not None:
        await notify(conn, notice)
    return item_ids


async def notify(conn: AsyncConnection, notice: Notice) -> None:
    """NOTIFY on its own, for a change that writes no status."""
    channel, message = notice
    await conn.execute(text("SELECT pg_notify(:channel, :message)"), {"channel": channel, "message": message})
