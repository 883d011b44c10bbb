"""Response shapes of the kitchen-load API (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from kitchen.load.quote import Accuracy
from kitchen.load.service import KitchenLoad

Minutes = Annotated[float | None, Meta(description="Minutes, to a tenth; null when there is nothing to measure.")]


class StationLoadView(Struct, rename="camel", kw_only=True):
    station: str
    open_lines: Annotated[int, Meta(description="Lines ORDERED or PREPARING of the open orders on the boards.")]
    work_seconds: Annotated[
        float, Meta(description="Their prep times (measured, else the menu's, else 300 s), less what has cooked.")
    ]
    cooks: Annotated[int, Meta(description="The most lines PREPARING here at once in the last hour, at least 1.")]
    behind_median_minutes: Annotated[
        Minutes, Meta(description="Median of now less start-by over the lines not started; negative: ahead.")
    ]


class TypicalLineView(Struct, rename="camel", kw_only=True):
    plu: str
    name: str
    station: str
    prep_seconds: float
    prep_source: Literal["measured", "menu", "default"]
    prep_samples: Annotated[int, Meta(description="How many of the last hour's times the measured median is of.")]


class BrandQuoteView(Struct, rename="camel", kw_only=True):
    brand_id: str
    name: str
    quote_minutes: Annotated[float, Meta(description="Minutes a new typical order would take to be ready, now.")]
    busy: Annotated[bool, Meta(description="The quote is over KITCHEN_BUSY_QUOTE_MINUTES.")]
    typical_order: list[TypicalLineView]


class KitchenLoadView(Struct, rename="camel", kw_only=True):
    at: datetime
    busy_quote_minutes: float
    stations: list[StationLoadView]
    brands: list[BrandQuoteView]


class QuoteAccuracyView(Struct, rename="camel", kw_only=True):
    """Quoted against actual: error = (first READY - createdAt) - the quote in force, in minutes."""

    orders: Annotated[int, Meta(description="Orders READY that had a quote in force when they came in.")]
    median_abs_error_minutes: Minutes
    p90_abs_error_minutes: Minutes
    median_error_minutes: Annotated[Minutes, Meta(description="Signed: above 0, orders took longer than quoted.")]


def load_view(load: KitchenLoad, busy_quote_minutes: float) -> KitchenLoadView:
    return KitchenLoadView(
        at=load.at,
        busy_quote_minutes=busy_quote_minutes,
        stations=[
            StationLoadView(
                station=s.station,
                open_lines=s.open_lines,
                work_seconds=round(s.work_seconds, 1),
                cooks=load.cooks.get(s.station, 1),
                behind_median_minutes=s.behind_median_minutes,
            )
            for s in load.stations
        ],
        brands=[
            BrandQuoteView(
                brand_id=b.brand_id,
                name=b.name,
                quote_minutes=b.minutes,
                busy=b.busy,
                typical_order=[
                    TypicalLineView(
                        plu=line.plu,
                        name=line.name,
                        station=line.station,
                        prep_seconds=round(line.prep.seconds, 1),
                        prep_source=line.prep.source.value,
                        prep_samples=line.prep.samples,
                    )
                    for line in b.typical_order
                ],
            )
            for b in load.brands
        ],
    )


def accuracy_view(found: Accuracy) -> QuoteAccuracyView:
    return QuoteAccuracyView(
        orders=found.orders,
        median_abs_error_minutes=found.median_abs_error,
        p90_abs_error_minutes=found.p90_abs_error,
        median_error_minutes=found.median_error,
    )
