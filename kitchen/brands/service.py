"""Reading and writing the brand catalog."""

from __future__ import annotations

from collections.abc import Sequence

from advanced_alchemy.extensions.litestar import repository, service
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.brands.models import Brand
from kitchen.clock import Clock, system_clock


class BrandService(service.SQLAlchemyAsyncRepositoryService[Brand]):
    class Repo(repository.SQLAlchemyAsyncRepository[Brand]):
        model_type = Brand

    repository_type = Repo

    def __init__(self, clock: Clock = system_clock, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # session= is passed through
        self.clock = clock

    async def catalog(self) -> Sequence[Brand]:
        """Every brand, by name."""
        session: AsyncSession = self.repository.session
        return (await session.scalars(select(Brand).order_by(Brand.name, Brand.id))).all()

    async def put(self, brand_id: str, name: str, colour: str) -> tuple[Brand, bool]:
        """Create or replace a brand; returns it and whether it was new."""
        session: AsyncSession = self.repository.session
        now = self.clock()
        brand = await session.get(Brand, brand_id)
        created = brand is None
        if brand is None:
            brand = Brand(id=brand_id, name=name, colour=colour.lower(), created_at=now, updated_at=now)
            session.add(brand)
        else:
            brand.name, brand.colour, brand.updated_at = name, colour.lower(), now
        try:
            await session.commit()
        except IntegrityError:
            # Two PUTs of a new brand at once: the other one created it; this one replaces it.
            await session.rollback()
            return await self.put(brand_id, name, colour)
        return brand, created
