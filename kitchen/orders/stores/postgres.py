"""The PostgreSQL store: every write of a change is one prepared statement.

Every write of a change (statuses, history rows, ended stays, analytics summaries and the
NOTIFY for the boards) goes out as one statement of data-modifying CTEs fed with arrays: one
round trip instead of ten, and the same statement text every time, so asyncpg prepares it once
per connection. An order is read, and locked and read, in one statement too. This is what lets
one worker serve the API's write targets.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select, text, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from kitchen.db import DriverStatement
from kitchen.orders.changes import NewOrderChange, StatusChange
from kitchen.orders.models import Order
from kitchen.orders.read import (
    ORDER_COLUMNS,
    ORDER_PARTS,
    PARTS,
    SAME_ORDER,
    add_parts,
    item_values,
    new_order_values,
    order_record,
)
from kitchen.orders.records import OrderRecord
from kitchen.orders.stores import Notice
from kitchen.orders.summaries.rows import SummaryRows
from kitchen.orders.summaries.tables import CUSTOMERS, HISTOGRAMS, QUARTER_HOURS, SUMMARY_SHARDS
from kitchen.webhooks.outbox import PendingEvent

# PostgreSQL plans a prepared statement anew for each execution while it estimates that a plan
# for any parameters would cost more, and its estimate of `unnest` over an array parameter always
# says so: the one write statement of a change or a new order (writes.py) was planned every
# time, which cost as much CPU as running it (0.38 ms of PostgreSQL CPU per change, measured).
# The statement that opens such a transaction selects this too; it lasts until the transaction ends.
GENERIC_PLANS = func.set_config("plan_cache_mode", "force_generic_plan", true())

# On PostgreSQL an order is read whole in one statement: its row, and its parts as one array per
# column (one row to send and decode, the order's columns once; a join repeated them per part).
_ordering = (PARTS.c.kind, PARTS.c.id)
_part_arrays = select(*(func.array_agg(aggregate_order_by(column, *_ordering)) for column in PARTS.c)).subquery()
_row = select(*ORDER_COLUMNS).where(Order.id == bindparam("order_id")).cte("order_row")
READ_ORDER_POSTGRES = DriverStatement(select(*_row.c, *_part_arrays.c).select_from(_row.join(_part_arrays, true())))

# A change locks the order's row (FOR UPDATE) in the same statement. The parts come from the
# statement's snapshot, taken before the lock was granted: if a change of this order committed
# in between, the locked row's version (the newest) differs from the snapshot's, and the parts
# are read again (every change bumps the version). It also switches this transaction to
# generic plans (GENERIC_PLANS).
_locked = select(*ORDER_COLUMNS).where(Order.id == bindparam("order_id")).with_for_update().cte("locked")
_seen_version = select(Order.version).where(Order.id == bindparam("order_id")).scalar_subquery()
LOCK_AND_READ_POSTGRES = DriverStatement(
    select(*_locked.c, _seen_version.label("seen_version"), GENERIC_PLANS.label("plans"), *_part_arrays.c).select_from(
        _locked.join(_part_arrays, true())
    )
)
_ORDER_WIDTH = len(ORDER_COLUMNS)

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
    INSERT INTO order_status_events (order_id, status, at, source, actor, reason)
    SELECT :order_id, :order_status, :now, :source, :actor, CAST(:reason AS VARCHAR)
    WHERE CAST(:order_entered AS BOOLEAN) AND (SELECT count(*) FROM ended_order_events) >= 0
), changed_order AS (
    UPDATE orders SET status = :order_status, updated_at = :now, last_change_source = :source, version = version + 1,
                      cancel_acknowledged_at = CASE WHEN :order_status = 'CANCELLED' THEN cancel_acknowledged_at END
    WHERE id = :order_id
), outbox AS (
    INSERT INTO outbox_events (webhook_id, event_id, type, stream, body, created_at, next_attempt_at, attempts)
    SELECT event.webhook_id, event.event_id, event.type, event.stream, event.body, :now, :now, 0
    FROM unnest(CAST(:e_webhook_id AS BIGINT[]), CAST(:e_event_id AS VARCHAR[]), CAST(:e_type AS VARCHAR[]),
                CAST(:e_stream AS VARCHAR[]), CAST(:e_body AS TEXT[]))
         WITH ORDINALITY AS event(webhook_id, event_id, type, stream, body, n)
    ORDER BY event.n
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
                        payload_hash, created_at, updated_at, note, allergens)
    VALUES (:order_id, :account, :brand_id, :channel_order_id, :customer_name, :customer_phone, :delivery_street,
            :delivery_city, :delivery_postal_code, :pickup_time, :channel_created_at, :status, :version,
            :payload_hash, :created_at, :updated_at, :note, :allergens)
), items AS (
    INSERT INTO order_items (order_id, plu, name, quantity, status, note, modifiers, allergens)
    SELECT :order_id, new.plu, new.name, new.quantity, :item_status, new.note, new.modifiers, new.allergens
    FROM unnest(CAST(:plus AS VARCHAR[]), CAST(:names AS VARCHAR[]), CAST(:quantities AS INTEGER[]),
                CAST(:notes AS TEXT[]), CAST(:modifiers AS TEXT[]), CAST(:allergens_lists AS TEXT[]))
         WITH ORDINALITY AS new(plu, name, quantity, note, modifiers, allergens, n)
    ORDER BY new.n
    RETURNING id
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
SELECT items.id, {_NOTIFY_SQL} FROM items
"""
    )
)


_ACKNOWLEDGE = DriverStatement(
    text(
        f"""
WITH acknowledged AS (
    UPDATE orders SET cancel_acknowledged_at = :acknowledged_at, updated_at = :updated_at WHERE id = :order_id
)
SELECT {_NOTIFY_SQL}
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


# The same look-up as SQLite's, which also switches the transaction to generic plans for the new
# order's write statement (GENERIC_PLANS); it answers one row even when nothing matches (with
# NULLs), so that set_config always runs.
_same = SAME_ORDER.subquery("same")
_one = select(literal_column("1").label("one")).subquery("one")
_SAME_ORDER = DriverStatement(
    select(_same.c.id, _same.c.payload_hash, GENERIC_PLANS).select_from(_one.outerjoin(_same, true()))
)


def _part_rows(arrays: Sequence[Any]) -> Iterable[Sequence[Any]]:
    """The rows of `ORDER_PARTS` from its columns as arrays (None: no parts at all)."""
    return zip(*arrays, strict=True) if arrays[0] is not None else ()


def _item_arrays(order: OrderRecord) -> dict[str, list[Any]]:
    """The new order's items as one array per column, named as in `_PG_NEW_ORDER`."""
    items = [item_values(item) for item in order.items]
    names = {"plus": "plu", "names": "name", "quantities": "quantity", "notes": "note", "modifiers": "modifiers"}
    arrays = {array: [item[column] for item in items] for array, column in names.items()}
    return arrays | {"allergens_lists": [item["allergens"] for item in items]}


def _event_arrays(events: Sequence[PendingEvent]) -> dict[str, list[Any]]:
    """The change's webhook events as one array per column, named as in `_PG_STATUS_CHANGE`."""
    columns = ("webhook_id", "event_id", "type", "stream", "body")
    return {f"e_{column}": [getattr(event, column) for event in events] for column in columns}


def _notice_params(notice: Notice | None) -> dict[str, Any]:
    channel, message = notice or ("", "")
    return {"channel": channel, "message": message, "notify": notice is not None}


class PostgresStore:
    """Orders on PostgreSQL: one statement per read, per lock, per change (see the module's docstring)."""

    async def read_order(self, conn: AsyncConnection, order_id: str) -> OrderRecord | None:
        rows = await READ_ORDER_POSTGRES.rows(conn, {"order_id": order_id})
        if not rows:
            return None
        return add_parts(order_record(rows[0][:_ORDER_WIDTH]), _part_rows(rows[0][_ORDER_WIDTH:]))

    async def lock_order(self, conn: AsyncConnection, order_id: str) -> OrderRecord | None:
        rows = await LOCK_AND_READ_POSTGRES.rows(conn, {"order_id": order_id})
        if not rows:
            return None
        order = order_record(rows[0][:_ORDER_WIDTH])
        if rows[0][_ORDER_WIDTH] != order.version:
            # Another change committed while we waited for the lock: its parts are newer than our snapshot.
            return add_parts(order, await ORDER_PARTS.rows(conn, {"order_id": order.id}))
        return add_parts(order, _part_rows(rows[0][_ORDER_WIDTH + 2 :]))  # after seen_version and plans

    async def find_same(
        self, conn: AsyncConnection, order_id: str | None, brand_id: str, channel_order_id: str
    ) -> list[tuple[str, str]]:
        rows = await _SAME_ORDER.rows(
            conn, {"id": order_id, "brand_id": brand_id, "channel_order_id": channel_order_id}
        )
        return [(found, stored_hash) for found, stored_hash, _ in rows if found is not None]

    async def write_new_order(self, conn: AsyncConnection, new: NewOrderChange, notice: Notice | None) -> list[int]:
        order = new.order
        result = await _PG_NEW_ORDER.rows(
            conn,
            {
                "order_id": order.id,
                **new_order_values(order),
                "item_status": new.item_status,
                "source": new.source,
                "actor": new.actor,
                **_item_arrays(order),
                "event_statuses": [status for status, _, _, _ in new.order_events],
                "event_ats": [at for _, at, _, _ in new.order_events],
                "event_sources": [source for _, _, source, _ in new.order_events],
                "event_actors": [actor for _, _, _, actor in new.order_events],
                **_summary_arrays(new.summaries),
                **_notice_params(notice),
            },
        )
        # The items were inserted in line order, so their ids rise with their lines.
        return sorted(item_id for item_id, _ in result)

    async def write_status_change(
        self, conn: AsyncConnection, change: StatusChange, notice: Notice | None, events: Sequence[PendingEvent] = ()
    ) -> None:
        writes = change.writes
        await _PG_STATUS_CHANGE.rows(
            conn,
            {
                "order_id": writes.order_id,
                "now": writes.now,
                "source": writes.source,
                "actor": writes.actor,
                "order_status": writes.order_status,
                "order_entered": writes.order_entered,
                "reason": writes.reason,
                "item_ids": [item_id for item_id, _ in writes.items],
                "item_statuses": [status for _, status in writes.items],
                "ended_item_events": writes.ended_item_events,
                "ended_order_events": writes.ended_order_events,
                **_summary_arrays(change.summaries),
                **_event_arrays(events),
                **_notice_params(notice),
            },
        )

    async def write_acknowledgement(self, conn: AsyncConnection, order: OrderRecord, notice: Notice | None) -> None:
        await _ACKNOWLEDGE.rows(
            conn,
            {
                "order_id": order.id,
                "acknowledged_at": order.cancel_acknowledged_at,
                "updated_at": order.updated_at,
                **_notice_params(notice),
            },
        )
