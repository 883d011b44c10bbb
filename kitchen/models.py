"""Every mapped table, imported in one place for migrations and metadata."""

from kitchen.auth.models import ApiKey, BrowserSession, FailedAttempt, Manager, PairingCode, Tablet
from kitchen.brands.models import Brand
from kitchen.load.models import KitchenQuote
from kitchen.menu.models import MenuItem
from kitchen.orders.models import EventSource, ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.summaries.tables import AnalyticsCustomer, AnalyticsHistogram, AnalyticsQuarterHour, AnalyticsSample
from kitchen.orders.taps import BoardTap
from kitchen.quiet import QuietMute
from kitchen.webhooks.models import BrandBusy, LateOrder, OutboxEvent, Webhook

__all__ = [
    "AnalyticsCustomer",
    "AnalyticsHistogram",
    "AnalyticsQuarterHour",
    "AnalyticsSample",
    "ApiKey",
    "BoardTap",
    "Brand",
    "BrandBusy",
    "BrowserSession",
    "EventSource",
    "FailedAttempt",
    "ItemStatusEvent",
    "KitchenQuote",
    "LateOrder",
    "Manager",
    "MenuItem",
    "Order",
    "OrderItem",
    "OrderStatusEvent",
    "OutboxEvent",
    "PairingCode",
    "QuietMute",
    "Tablet",
    "Webhook",
]
