"""A brand turning busy (or normal again) is told to the channels once, by one process.

The load watch of every process (kitchen/load) sees the flip; `brand_busy` keeps the flag as last
told, and only the process whose conditional write changes it writes the events.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.clock import Clock
from kitchen.webhooks.models import BrandBusy
from kitchen.webhooks.outbox import Outbox


class BusyTeller:
    def __init__(self, engine: AsyncEngine, clock: Clock, outbox: Outbox) -> None:
        self.engine = engine
        self.clock = clock
        self.outbox = outbox

    async def __call__(self, brand_id: str, busy: bool, quote_minutes: float) -> None:
        await self.tell(brand_id, busy, quote_minutes)

    async def tell(self, brand_id: str, busy: bool, quote_minutes: float) -> bool:
        """Write kitchen.busy / kitchen.normal if the channels were not told this yet; whether it was."""
        now = self.clock()
        try:
            async with self.engine.begin() as conn:
                flipped = await conn.execute(
                    update(BrandBusy)
                    .where(BrandBusy.brand_id == brand_id, BrandBusy.busy.is_not(busy))
                    .values(busy=busy, at=now)
                )
                if not flipped.rowcount:
                    if await conn.scalar(select(BrandBusy.busy).where(BrandBusy.brand_id == brand_id)) is not None:
                        return False  # told already (by this process, or another)
                    await conn.execute(insert(BrandBusy).values(brand_id=brand_id, busy=busy, at=now))
                    if not busy:
                        return False  # a brand is normal until it is busy: nothing to tell
                told = await self.outbox.kitchen_event(conn, brand_id, busy, quote_minutes, now)
        except IntegrityError:
            return False  # another process inserted the brand's flag first
        if told:
            self.outbox.wake()
        return True
