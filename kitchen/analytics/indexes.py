"""The indexes the analytics queries read through, declared on the order tables' metadata.

They live here, next to the queries that need them, rather than in `orders/models.py`;
`kitchen.analytics.figures` imports this module, so the app and `kitchen database
make-migrations` see them (migration `analytics indexes`).
"""

from __future__ import annotations

from sqlalchemy import Index, Table, text

from kitchen.orders.models import ItemStatusEvent, Order, OrderStatusEvent

_orders: Table = Order.__table__  # type: ignore[assignment]  # a mapped class's __table__ is a Table
_order_events: Table = OrderStatusEvent.__table__  # type: ignore[assignment]  # as above
_item_events: Table = ItemStatusEvent.__table__  # type: ignore[assignment]  # as above

SERVER_STAMPED = "source <> 'channel'"
SERVER_READY = "status = 'READY' AND source <> 'channel'"

# Orders of a period by brand: the range filter of every figure but throughput.
orders_by_created_at_and_brand = Index(
    "ix_orders_created_at_brand_id", _orders.c.created_at, _orders.c.brand_id, _orders.c.pickup_time
)
# A customer's lifetime up to a moment, without touching the table.
orders_by_account = Index("ix_orders_account_created_at", _orders.c.account, _orders.c.created_at, _orders.c.brand_id)
# Time in status and first READY of an order, read from the index alone.
order_events_by_order = Index(
    "ix_order_status_events_server_order",
    _order_events.c.order_id,
    _order_events.c.status,
    _order_events.c.at,
    _order_events.c.ended_at,
    postgresql_where=text(SERVER_STAMPED),
    sqlite_where=text(SERVER_STAMPED),
)
# Orders that became READY in an hour.
order_ready_events_by_time = Index(
    "ix_order_status_events_server_ready_at",
    _order_events.c.at,
    _order_events.c.order_id,
    postgresql_where=text(SERVER_READY),
    sqlite_where=text(SERVER_READY),
)
# Time in status and first READY of the items of a period's orders.
item_events_by_order = Index(
    "ix_item_status_events_server_order",
    _item_events.c.order_id,
    _item_events.c.status,
    _item_events.c.at,
    _item_events.c.ended_at,
    _item_events.c.item_id,
    postgresql_where=text(SERVER_STAMPED),
    sqlite_where=text(SERVER_STAMPED),
)
