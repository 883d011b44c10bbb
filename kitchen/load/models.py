"""The quotes the load watch gave, one per brand and turn: what quote accuracy is measured against."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.base import IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kitchen.orders.models import ID_LENGTH


class KitchenQuote(IdentityBase):
    """A brand's quote at a moment: the minutes a new typical order would take, and whether that is busy."""

    __tablename__ = "kitchen_quotes"
    # The quote in force for an order: the brand's latest at or before the order came in.
    __table_args__ = (Index("ix_kitchen_quotes_brand_at", "brand_id", "at"),)

    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    minutes: Mapped[float] = mapped_column(Float)
    busy: Mapped[bool] = mapped_column(Boolean)
