"""Every mapped table, imported in one place for migrations and metadata."""

from kitchen.brands.models import Brand
from kitchen.orders.models import EventSource, ItemStatusEvent, Order, OrderItem, OrderStatusEvent

__all__ = ["Brand", "EventSource", "ItemStatusEvent", "Order", "OrderItem", "OrderStatusEvent"]
