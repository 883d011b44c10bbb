"""Reading and replacing brands' menus, and the stations they name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.clock import Clock, system_clock
from kitchen.fields import FieldError
from kitchen.menu.models import MenuItem
from kitchen.menu.schemas import MenuEntry, StationView
from kitchen.orders.models import Order, OrderItem

# Where an item goes when no menu names its PLU; every station board shows it until it is mapped.
UNASSIGNED = "unassigned"
# The board of whole tickets: not a station a menu can route to.
EXPO = "expo"
RESERVED_STATIONS = (UNASSIGNED, EXPO)
MAX_UNMAPPED_SHOWN = 200


class MenuService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def menu(self, brand_id: str) -> Sequence[MenuItem]:
        """The brand's menu, by PLU (empty for a brand with none)."""
        statement = select(MenuItem).where(MenuItem.brand_id == brand_id).order_by(MenuItem.plu)
        return (await self.session.scalars(statement)).all()

    async def replace_menu(self, brand_id: str, entries: Sequence[MenuEntry]) -> Sequence[MenuItem]:
        """The brand's whole menu becomes `entries`, in one transaction."""
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            if entry.plu in seen:
                raise FieldError(f"[{index}].plu", f"[{index}].plu: PLU {entry.plu!r} is on the menu twice")
            if entry.station in RESERVED_STATIONS:
                raise FieldError(
                    f"[{index}].station", f"[{index}].station: {entry.station!r} is not a station a menu can name"
                )
            seen.add(entry.plu)
        now = self.clock()
        await self.session.execute(delete(MenuItem).where(MenuItem.brand_id == brand_id))
        if entries:
            await self.session.execute(
                insert(MenuItem),
                [
                    {
                        "brand_id": brand_id,
                        "plu": entry.plu,
                        "name": entry.name,
                        "station": entry.station,
                        "prep_seconds": entry.prep_seconds,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for entry in entries
                ],
            )
        await self.session.commit()
        return await self.menu(brand_id)

    async def stations(self) -> list[StationView]:
        """Every station a menu names, by name, then `unassigned`."""
        rows = await self.session.execute(
            select(MenuItem.station, func.count()).group_by(MenuItem.station).order_by(MenuItem.station)
        )
        return [StationView(name=name, menu_items=count) for name, count in rows] + [
            StationView(name=UNASSIGNED, menu_items=0)
        ]

    async def unmapped(self, since: datetime) -> list[UnmappedPlu]:
        """PLUs ordered since `since` that no menu names: they wait on the `unassigned` station."""
        statement = (
            select(Order.brand_id, OrderItem.plu, func.min(OrderItem.name), func.count())
            .join(Order, Order.id == OrderItem.order_id)
            .outerjoin(MenuItem, (MenuItem.brand_id == Order.brand_id) & (MenuItem.plu == OrderItem.plu))
            .where(Order.created_at >= since, MenuItem.plu.is_(None))
            .group_by(Order.brand_id, OrderItem.plu)
            .order_by(func.count().desc(), Order.brand_id, OrderItem.plu)
            .limit(MAX_UNMAPPED_SHOWN)
        )
        return [UnmappedPlu(*row) for row in await self.session.execute(statement)]


@dataclass(frozen=True, slots=True)
class UnmappedPlu:
    brand_id: str
    plu: str
    name: str
    lines: int  # order lines that carried it
