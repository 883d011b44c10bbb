"""The brand catalog: what a brand id is called on a ticket, and its colour."""

from __future__ import annotations

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.mixins import AuditColumns
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from kitchen.orders.models import ID_LENGTH


class Brand(DefaultBase, AuditColumns):
    __tablename__ = "brands"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # "#rrggbb": the badge colour on tickets, chosen to tell brands apart at a glance.
    colour: Mapped[str] = mapped_column(String(7))
