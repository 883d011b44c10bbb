"""Every mapped table, imported in one place for migrations and metadata."""

from kitchen.orders.models import EventSource, ItemStatusEvent, Order, OrderItem, OrderStatusEvent

__all__ = ["EventSource", "ItemStatusEvent", "Order", "OrderItem", "OrderStatusEvent"]
