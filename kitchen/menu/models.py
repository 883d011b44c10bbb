"""A brand's menu: which station cooks each PLU, and how long it takes."""

from __future__ import annotations

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.mixins import AuditColumns
from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kitchen.orders.models import ID_LENGTH

STATION_LENGTH = 40


class MenuItem(DefaultBase, AuditColumns):
    __tablename__ = "menu_items"
    __table_args__ = (
        CheckConstraint("prep_seconds IS NULL OR prep_seconds BETWEEN 0 AND 86400", name="prep_within_a_day"),
        CheckConstraint("station <> ''", name="station_named"),
    )

    # No foreign key to brands: channels send brand ids the catalog may not name yet.
    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    plu: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    station: Mapped[str] = mapped_column(String(STATION_LENGTH), index=True)
    # How long the station takes to make one; NULL when nobody has measured it (start by the pickup).
    prep_seconds: Mapped[int | None] = mapped_column(Integer)
