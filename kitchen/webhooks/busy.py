"""A brand turning busy (or normal again) is told to the channels once, by one process.

The load watch of every process (kitchen/load) sees the flip; `brand_busy` keeps the flag as last
told, and only the process whose conditional write changes it writes the events. The quiet-channel
alarm (webhooks/quiet.py) is told the same way, through `flip_brand_flag`.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from kitchen.clock import Clock
from kitchen.webhooks.models import BrandBusy, BrandQuiet
from kitchen.webhooks.outbox import Outbox


async def flip_brand_flag(
    conn: AsyncConnection, flag: InstrumentedAttribute[bool], brand_id: str, value: bool, now: datetime
) -> bool:
    """Set a brand's told flag (`BrandBusy.busy`, `BrandQuiet.quiet`) to `value`; whether the channels
    are to be told: False when it was `value` already (told here, or by another process), or when a
    brand not seen before starts off False (a brand is normal until it is not).

    Raises IntegrityError when another process inserted the brand's row first: it tells.
    """
    table = cast("type[BrandBusy] | type[BrandQuiet]", flag.class_)
    changed = await conn.execute(
        update(table).where(table.brand_id == brand_id, flag.is_not(value)).values({flag.key: value, "at": now})
    )
    if changed.rowcount:
        return True
    if await conn.scalar(select(flag).where(table.brand_id == brand_id)) is not None:
        return False
    await conn.execute(insert(table).values({"brand_id": brand_id, flag.key: value, "at": now}))
    return value


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
                if not await flip_brand_flag(conn, BrandBusy.busy, brand_id, busy, now):
                    return False
                told = await self.outbox.kitchen_event(conn, brand_id, busy, quote_minutes, now)
        except IntegrityError:
            return False  # another process inserted the brand's flag first
        if told:
            self.outbox.wake()
        return True
