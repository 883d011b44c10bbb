"""The analytics JSON API under /api/analytics: figures for managers, read-only."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency, Provide

from kitchen.analytics.figures import AnalyticsQueries
from kitchen.analytics.periods import Period
from kitchen.analytics.schemas import (
    BrandFigures,
    Customers,
    OnTime,
    SlowItem,
    StationFigures,
    StatusDurations,
    ThroughputHour,
    TicketTimes,
)
from kitchen.auth.guards import api_client
from kitchen.errors import ERROR_RESPONSES
from kitchen.load.schemas import QuoteAccuracyView, accuracy_view
from kitchen.load.service import LoadService
from kitchen.params import BrandIds, moment
from kitchen.params import FigureFrom as From
from kitchen.params import FigureTo as To


def provide_period(
    analytics: NamedDependency[AnalyticsQueries], start: From = None, end: To = None, brand_ids: BrandIds = None
) -> Period:
    """The range and brands a request asks for, the same query parameters for every figure; any
    fault is a 400 naming the parameter."""
    return analytics.period(moment("from", start), moment("to", end), brand_ids or [])


class AnalyticsController(Controller):
    path = "/api/analytics"
    guards = [api_client]
    tags = ["analytics"]
    dependencies = {"period": Provide(provide_period, sync_to_thread=False)}

    @get(
        "/status-durations",
        summary="Time orders and items spend in each status",
        description="Over the orders created in the range and their items: count, mean, median and 90th"
        " percentile of the stays in each status that have ended. Server-stamped history only.",
        responses=ERROR_RESPONSES(400),
    )
    async def status_durations(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> StatusDurations:
        return await analytics.status_durations(period)

    @get(
        "/throughput",
        summary="Orders received and ready per clock hour",
        description="One entry per clock hour of the kitchen's time zone (KITCHEN_TIMEZONE) overlapping the"
        " range, oldest first, hours without orders included as 0. Ready counts an order once, in the hour"
        " of its first READY.",
        responses=ERROR_RESPONSES(400),
    )
    async def throughput(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> list[ThroughputHour]:
        return await analytics.throughput(period)

    @get(
        "/customers",
        summary="Orders per customer",
        description="The customers who ordered in the range, by how many orders they have placed up to its"
        " end (1, 2, 3-5, 6-10, 11+), and the ten with the most.",
        responses=ERROR_RESPONSES(400),
    )
    async def customers(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> Customers:
        return await analytics.customers(period)

    @get(
        "/on-time",
        summary="Share of orders ready by their pickup time",
        description="Over the orders created in the range that are due: those that reached READY (their first"
        " READY counts) and those still open after their pickupTime (late already, `openLate`). How many were"
        " READY by pickupTime, the rate over the due ones, and how late the late READY ones were.",
        responses=ERROR_RESPONSES(400),
    )
    async def on_time(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> OnTime:
        return await analytics.on_time(period)

    @get(
        "/items",
        summary="Slowest items",
        description="PLUs of the orders created in the range, by median time from ORDERED to first READY,"
        " slowest first. Only items completed on their own are timed; items made READY together with other"
        " items of their order (a bump) are counted in `bumped`.",
        responses=ERROR_RESPONSES(400),
    )
    async def slowest_items(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> list[SlowItem]:
        return await analytics.slowest_items(period)

    @get(
        "/stations",
        summary="Stations side by side",
        description="Per station the menus route lines to (`unassigned` last), over the lines of the orders"
        " created in the range: time in each item status, the share started by their start-by (pickup time"
        " less prepSeconds less KITCHEN_PACK_SECONDS) and the median start lateness, the share cooked within"
        " prepSeconds, and the share READY by the pickup time less packing.",
        responses=ERROR_RESPONSES(400),
    )
    async def stations(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> list[StationFigures]:
        return await analytics.stations(period)

    @get(
        "/ticket-times",
        summary="Ticket times, cooked and bumped orders apart",
        description="Time from createdAt to the first READY of the orders created in the range: orders whose"
        " last item was completed on its own (`cooked`) apart from orders made READY several items at once"
        " (`bumped`).",
        responses=ERROR_RESPONSES(400),
    )
    async def ticket_times(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> TicketTimes:
        return await analytics.ticket_times(period)

    @get(
        "/brands",
        summary="Brands side by side",
        description="Per brand with orders in the range: orders received, the on-time figures and the median"
        " ticket time, most orders first.",
        responses=ERROR_RESPONSES(400),
    )
    async def brands(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        period: NamedDependency[Period],
    ) -> list[BrandFigures]:
        return await analytics.brands(period)

    @get(
        "/quote-accuracy",
        summary="How far the prep-time quotes were from the actual ready times",
        description="Over the orders created in the range that reached READY and had a quote of their brand"
        " in force when they came in (the latest recorded at or before createdAt, at most 5 minutes old):"
        " error = (first READY - createdAt) - the quoted minutes. The median and 90th percentile of the"
        " absolute error, the signed median, and how many orders.",
        responses=ERROR_RESPONSES(400),
    )
    async def quote_accuracy(
        self,
        load: NamedDependency[LoadService],
        period: NamedDependency[Period],
    ) -> QuoteAccuracyView:
        return accuracy_view(await load.accuracy(period))
