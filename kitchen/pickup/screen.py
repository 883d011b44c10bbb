"""What the couriers' screen by the door shows: each order's channel id, in its brand's colour, in
"Preparing" or "Ready", soonest pickup first. No customer, no items: a courier needs neither.

It reads the boards' own query and rule (kitchen/board/queries.py, rules.py), so an order is on
this screen exactly while it is on the boards (less the cancellations the cooks still see).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.board import queries
from kitchen.board.render import brand_class, order_dom_id
from kitchen.board.rules import STALE_AFTER, pickup_column, position
from kitchen.board.station import Station
from kitchen.brands.models import Brand
from kitchen.clock import Clock
from kitchen.orders.records import OrderRecord

EVERY_BRAND = Station()


@dataclass(frozen=True, slots=True)
class PickupEntry:
    order_id: str
    dom_id: str
    channel_order_id: str
    brand_name: str
    brand_class: str
    column: str  # "preparing" or "ready"
    position: str  # the boards' sort text: soonest pickup first
    version: int  # the order's: the screen never replaces an entry with an older one


class PickupRenderer:
    """Renders the screen's columns and its entries, from the one Jinja environment."""

    def __init__(self, environment: Environment, clock: Clock, stale_after: timedelta = STALE_AFTER) -> None:
        self.environment = environment
        self.clock = clock
        self.stale_after = stale_after  # the boards' KITCHEN_STALE_HOURS: abandoned orders leave both

    def entry_view(self, order: OrderRecord, brands: dict[str, Brand]) -> PickupEntry | None:
        """The order's entry on the screen, or None when it is not (or no longer) on it."""
        column = pickup_column(order, self.clock(), self.stale_after)
        if column is None:
            return None
        brand = brands.get(order.brand_id)
        return PickupEntry(
            order_id=order.id,
            dom_id=order_dom_id("pickup", order.id),
            channel_order_id=order.channel_order_id,
            brand_name=brand.name if brand else order.brand_id,
            brand_class=brand_class(order.brand_id) if brand else "brand-unknown",
            column=column,
            position=position(order),
            version=order.version,
        )

    def entry(self, order: OrderRecord, brands: dict[str, Brand]) -> str | None:
        """The order's entry as the screen's markup (None: it leaves the screen)."""
        view = self.entry_view(order, brands)
        return None if view is None else self.environment.get_template("pickup/_entry.html").render(entry=view)

    def columns_context(self, orders: Iterable[OrderRecord], brands: dict[str, Brand]) -> dict[str, object]:
        entries = [entry for entry in (self.entry_view(order, brands) for order in orders) if entry is not None]
        entries.sort(key=lambda entry: entry.position)
        return {
            "preparing": [entry for entry in entries if entry.column == "preparing"],
            "ready": [entry for entry in entries if entry.column == "ready"],
        }

    async def screen_context(self, session: AsyncSession) -> dict[str, object]:
        """Both columns, from the query the expo board reads (every brand)."""
        brands = await queries.brands(session)
        orders = await queries.board_orders(session, EVERY_BRAND, self.clock(), self.stale_after)
        return self.columns_context(orders, brands)

    def columns_fragment(self, context: dict[str, object]) -> str:
        """Both columns as one fragment: the stream's resync, and what a screen polls without it."""
        return self.environment.get_template("pickup/_columns.html").render(**context)

    async def columns(self, session: AsyncSession) -> str:
        return self.columns_fragment(await self.screen_context(session))

    def page(self, template: str, **context: object) -> str:
        return self.environment.get_template(template).render(**context)
