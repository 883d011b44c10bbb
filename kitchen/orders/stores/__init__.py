"""Where orders are stored: one store per database, chosen once, in `create_app`.

A store reads an order whole, locks it for a change, finds the order a retried create stored,
and writes what the planner (`kitchen.orders.changes`) described, inside the caller's
transaction. Two exist because the databases differ where it counts: PostgreSQL writes a change
as one prepared statement of data-modifying CTEs (one round trip, prepared once per connection),
which SQLite cannot run; SQLite is in-process, so there the same rows go statement by statement.
Both are held to the same behaviour by the whole test suite, run on each database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from kitchen.orders.changes import NewOrderChange, StatusChange
from kitchen.orders.records import OrderRecord
from kitchen.webhooks.outbox import PendingEvent

# A NOTIFY to send inside the transaction: (channel, payload). PostgreSQL delivers it on commit.
Notice = tuple[str, str]


class OrderStore(Protocol):
    async def read_order(self, conn: AsyncConnection, order_id: str) -> OrderRecord | None:
        """The whole order, or None when there is no such order."""
        ...

    async def lock_order(self, conn: AsyncConnection, order_id: str) -> OrderRecord | None:
        """Lock the order for a change and read it whole, as the last change left it; None if unknown.

        Until the transaction ends, no other change of this order can lock it.
        """
        ...

    async def find_same(
        self, conn: AsyncConnection, order_id: str | None, brand_id: str, channel_order_id: str
    ) -> list[tuple[str, str]]:
        """(id, payload hash) of the orders a create payload names by its id or its channel's id."""
        ...

    async def write_new_order(self, conn: AsyncConnection, new: NewOrderChange, notice: Notice | None) -> list[int]:
        """Store a new order (and send `notice`, if any, inside the transaction); its items' ids, line by line."""
        ...

    async def write_status_change(
        self, conn: AsyncConnection, change: StatusChange, notice: Notice | None, events: Sequence[PendingEvent] = ()
    ) -> None:
        """Store one status change and the webhook events it makes (and send `notice`, if any,
        inside the transaction)."""
        ...

    async def write_acknowledgement(self, conn: AsyncConnection, order: OrderRecord, notice: Notice | None) -> None:
        """Store that a cook has seen the order cancelled."""
        ...


def store_for(dialect: str) -> OrderStore:
    """The store for a database of SQLAlchemy dialect `dialect`."""
    if dialect == "postgresql":
        from kitchen.orders.stores.postgres import PostgresStore

        return PostgresStore()
    from kitchen.orders.stores.sqlite import SQLiteStore

    return SQLiteStore()
