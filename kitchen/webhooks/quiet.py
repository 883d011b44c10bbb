"""A brand's channel gone quiet (kitchen/quiet.py) is told to the channels once, by one process.

Every process's quiet watch looks every 30 s; `brand_quiet` keeps what the channels were last told,
flipped the way the busy flag is (busy.py), so a brand.quiet goes out once when the silence
becomes an alarm and a brand.normal once when it ends (an order came, or the day ended). A
manager's acknowledgement or mute takes the alarm off the boards, not off the channels' events:
the silence is still there, and the channel may be the one who can mend it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitchen.clock import Clock
from kitchen.orders.models import Order
from kitchen.quiet import QuietBrand
from kitchen.webhooks.busy import flip_brand_flag
from kitchen.webhooks.models import BrandQuiet
from kitchen.webhooks.outbox import Outbox


class QuietTeller:
    def __init__(self, engine: AsyncEngine, clock: Clock, outbox: Outbox) -> None:
        self.engine = engine
        self.clock = clock
        self.outbox = outbox

    async def __call__(self, quiet: Sequence[QuietBrand]) -> None:
        await self.tell(quiet)

    async def tell(self, quiet: Sequence[QuietBrand]) -> int:
        """`quiet` are the brands quiet now (muted or not): write brand.quiet for those the
        channels were not told of, brand.normal for those told that are no longer; how many events."""
        async with self.engine.connect() as conn:
            told_quiet = set(await conn.scalars(select(BrandQuiet.brand_id).where(BrandQuiet.quiet.is_(True))))
        told = 0
        for brand in quiet:
            if brand.brand_id not in told_quiet:
                told += await self._flip(
                    brand.brand_id, brand.last_order_at, (brand.silent_minutes, brand.usual_orders)
                )
        for brand_id in told_quiet - {brand.brand_id for brand in quiet}:
            told += await self._flip(brand_id, None, None)
        if told:
            self.outbox.wake()
        return told

    async def _flip(self, brand_id: str, last_order_at: datetime | None, silence: tuple[int, int] | None) -> int:
        """Flip the brand's told flag and write its event in one transaction, unless another
        process did it first; how many events."""
        now = self.clock()
        try:
            async with self.engine.begin() as conn:
                if not await flip_brand_flag(conn, BrandQuiet.quiet, brand_id, silence is not None, now):
                    return 0
                if last_order_at is None:
                    last_order_at = await _last_order_at(conn, brand_id) or now
                return await self.outbox.quiet_event(conn, brand_id, last_order_at, now, silence)
        except IntegrityError:
            return 0  # another process inserted the brand's flag first


async def _last_order_at(conn: AsyncConnection, brand_id: str) -> datetime | None:
    last: datetime | None = await conn.scalar(select(func.max(Order.created_at)).where(Order.brand_id == brand_id))
    return last
