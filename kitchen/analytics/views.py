"""The manager dashboard: the analytics figures as a page, panels swapped by htmx, CSV downloads.

The same figures as /api/analytics (same query functions), for a date range picked in the
kitchen's own time zone: today, yesterday, the last 7 days or custom dates.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.plugins.htmx import HTMXTemplate
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template

from kitchen.analytics import charts
from kitchen.analytics.figures import AnalyticsQueries
from kitchen.analytics.periods import EARLIEST, LATEST, Period
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
from kitchen.analytics.stations import ITEM_STATUSES as STATION_STATUSES
from kitchen.auth.guards import manager_only
from kitchen.board.live import BoardHub
from kitchen.brands.service import BrandService
from kitchen.fields import FieldError
from kitchen.http import html
from kitchen.load.service import LoadService
from kitchen.pages import page
from kitchen.settings import Settings

Preset = Literal["today", "yesterday", "7d", "custom"]
PRESETS: dict[str, str] = {"today": "Today", "yesterday": "Yesterday", "7d": "Last 7 days", "custom": "Custom"}
# A busy kitchen changes orders every few seconds; the panels refresh at most this often.
REFRESH_AT_MOST_EVERY = 10.0


RangeParam = Annotated[str | None, QueryParameter(name="range")]
FirstDayParam = Annotated[str | None, QueryParameter(name="from")]
LastDayParam = Annotated[str | None, QueryParameter(name="to")]


@dataclass(frozen=True, slots=True)
class DashboardFilter:
    """What the manager picked: a preset or custom dates (kitchen-local), and brands."""

    preset: Preset
    first_day: date
    last_day: date
    brand_ids: tuple[str, ...]

    def query(self) -> str:
        pairs: list[tuple[str, str]] = [("range", self.preset)]
        if self.preset == "custom":
            pairs += [("from", self.first_day.isoformat()), ("to", self.last_day.isoformat())]
        pairs += [("brand", b) for b in self.brand_ids]
        return urlencode(pairs)


def read_filter(
    preset: str | None, first: str | None, last: str | None, brands: Sequence[str], settings: Settings, now: datetime
) -> DashboardFilter:
    """Turn the query string into a filter; unknown presets and unreadable dates are refused by name."""
    today = now.astimezone(settings.zone).date()
    chosen = preset or "today"
    if chosen not in PRESETS:
        raise FieldError("range", f"range must be one of {', '.join(PRESETS)}", parameter=True)
    if chosen == "today":
        return DashboardFilter("today", today, today, tuple(brands))
    if chosen == "yesterday":
        return DashboardFilter("yesterday", today - timedelta(days=1), today - timedelta(days=1), tuple(brands))
    if chosen == "7d":
        return DashboardFilter("7d", today - timedelta(days=6), today, tuple(brands))
    first_day = _day("from", first) or today - timedelta(days=6)
    last_day = _day("to", last) or today
    if first_day > last_day:
        raise FieldError("from", "the first day must not be after the last day", parameter=True)
    return DashboardFilter("custom", first_day, last_day, tuple(brands))


def _day(field: str, value: str | None) -> date | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError as exc:
        raise FieldError(field, f"{field}: {value!r} is not a date written YYYY-MM-DD", parameter=True) from exc
    if day is not None and not EARLIEST.date() <= day < LATEST.date():
        raise FieldError(
            field, f"{field}: the figures cover the years {EARLIEST.year} to {LATEST.year - 1}", parameter=True
        )
    return day


def period_of(analytics: AnalyticsQueries, chosen: DashboardFilter, settings: Settings) -> Period:
    """Kitchen-local days to a UTC range: from the first day's midnight to the midnight after the last."""
    zone = settings.zone
    start = datetime.combine(chosen.first_day, time(0), zone)
    end = datetime.combine(chosen.last_day + timedelta(days=1), time(0), zone)
    return analytics.period(start, end, chosen.brand_ids)


@dataclass(frozen=True, slots=True)
class Figures:
    durations: StatusDurations
    throughput: list[ThroughputHour]
    customers: Customers
    on_time: OnTime
    items: list[SlowItem]
    tickets: TicketTimes
    brands: list[BrandFigures]
    # Read from the item history itself (stations.py), so slower than the rest: the dashboard loads
    # it as a panel of its own after the page (`/dashboard/stations`); None until then.
    stations: list[StationFigures] | None = None


async def gather_figures(analytics: AnalyticsQueries, period: Period) -> Figures:
    return Figures(
        durations=await analytics.status_durations(period),
        throughput=await analytics.throughput(period),
        customers=await analytics.customers(period),
        on_time=await analytics.on_time(period),
        items=await analytics.slowest_items(period),
        tickets=await analytics.ticket_times(period),
        brands=await analytics.brands(period),
    )


def _median(figures: StatusDurations, status: str) -> float | None:
    for row in figures.orders:
        if row.status == status:
            return row.p50_seconds
    return None


def panels_context(figures: Figures, settings: Settings) -> dict[str, object]:
    """Everything the panels show, computed here so the templates only lay it out."""
    zone = settings.zone
    hours = [h.hour.astimezone(zone) for h in figures.throughput]
    many_days = len(hours) > 48
    hour_labels = [h.strftime("%a %H" if many_days else "%H") for h in hours]
    durations = figures.durations
    stays = [("order", r) for r in durations.orders] + [("item", r) for r in durations.items]
    return {
        "figures": figures,
        "stale_hours": f"{settings.stale_hours:g}",
        "headline": {
            "received": sum(h.received for h in figures.throughput),
            "ready": sum(h.ready for h in figures.throughput),
            "on_time_rate": figures.on_time.rate,
            "waiting": _median(durations, "RECEIVED"),
            "cooking": _median(durations, "PREPARING"),
            "courier": _median(durations, "READY"),
        },
        "throughput_chart": charts.grouped_bars(
            hour_labels,
            [
                ("received", "received", [h.received for h in figures.throughput]),
                ("ready", "ready", [h.ready for h in figures.throughput]),
            ],
            label_every=max(1, len(hours) // 12),
        ),
        "durations_chart": charts.grouped_bars(
            [f"{subject} {r.status.lower()}" for subject, r in stays],
            [
                ("p50", "median", [charts.minutes(r.p50_seconds) for _, r in stays]),
                ("p90", "90th percentile", [charts.minutes(r.p90_seconds) for _, r in stays]),
            ],
            unit=" min",
            least_top=1.0,
        ),
        "customers_chart": charts.grouped_bars(
            [b.bucket for b in figures.customers.distribution],
            [("customers", "customers", [b.customers for b in figures.customers.distribution])],
        ),
        "zone": zone,
    }


def csv_tables(figures: Figures, settings: Settings) -> dict[str, tuple[list[str], list[list[object]]]]:
    """Each table of the dashboard as CSV header and rows, by the name in its download link."""
    zone = settings.zone
    durations: list[list[object]] = [
        [subject, r.status, r.count, r.avg_seconds, r.p50_seconds, r.p90_seconds]
        for subject, rows in (("order", figures.durations.orders), ("item", figures.durations.items))
        for r in rows
    ]
    return {
        "status-durations": (["subject", "status", "count", "avg_seconds", "p50_seconds", "p90_seconds"], durations),
        "throughput": (
            ["hour", "received", "ready"],
            [[h.hour.astimezone(zone).isoformat(), h.received, h.ready] for h in figures.throughput],
        ),
        "customers": (["bucket", "customers"], [[b.bucket, b.customers] for b in figures.customers.distribution]),
        "top-customers": (
            ["account", "name", "order_count", "first_order_at", "last_order_at"],
            [
                [c.account, c.name, c.order_count, c.first_order_at.isoformat(), c.last_order_at.isoformat()]
                for c in figures.customers.top
            ],
        ),
        "on-time": (
            ["orders", "on_time", "open_late", "due", "rate", "late_p50_seconds", "late_p90_seconds", "abandoned"],
            [
                [
                    figures.on_time.orders,
                    figures.on_time.on_time,
                    figures.on_time.open_late,
                    figures.on_time.due,
                    figures.on_time.rate,
                    figures.on_time.late_p50_seconds,
                    figures.on_time.late_p90_seconds,
                    figures.on_time.abandoned,
                ]
            ],
        ),
        "items": (
            ["plu", "name", "station", "timed", "bumped", "p50_seconds", "p90_seconds", "target_seconds"],
            [
                [i.plu, i.name, i.station, i.count, i.bumped, i.p50_seconds, i.p90_seconds, i.target_seconds]
                for i in figures.items
            ],
        ),
        "stations": (
            [
                "station",
                "lines",
                *(f"{status.lower()}_p50_seconds" for status in STATION_STATUSES),
                "started",
                "started_by_start_by",
                "started_by_start_by_rate",
                "start_late_p50_seconds",
                "timed",
                "within_target",
                "within_target_rate",
                "due",
                "on_time",
                "open_late",
                "on_time_rate",
            ],
            [
                [
                    s.station,
                    s.lines,
                    *(r.p50_seconds for r in s.statuses),
                    s.started,
                    s.started_by_start_by,
                    s.started_by_start_by_rate,
                    s.start_late_p50_seconds,
                    s.timed,
                    s.within_target,
                    s.within_target_rate,
                    s.due,
                    s.on_time,
                    s.open_late,
                    s.on_time_rate,
                ]
                for s in figures.stations or []
            ],
        ),
        "ticket-times": (
            ["orders", "count", "avg_seconds", "p50_seconds", "p90_seconds"],
            [
                [kind, t.count, t.avg_seconds, t.p50_seconds, t.p90_seconds]
                for kind, t in (("cooked", figures.tickets.cooked), ("bumped", figures.tickets.bumped))
            ],
        ),
        "brands": (
            ["brand_id", "name", "orders", "due", "on_time", "open_late", "on_time_rate", "ticket_p50_seconds"],
            [
                [b.brand_id, b.name, b.orders, b.due, b.on_time, b.open_late, b.on_time_rate, b.ticket_p50_seconds]
                for b in figures.brands
            ],
        ),
    }


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "|", "\t", "\r")


def csv_cell(value: object) -> object:
    """A value as a spreadsheet should show it: text that would start a formula gets a leading
    apostrophe (shown as text, never run); numbers, negative ones too, stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    # RFC 4180 line ends: a value holding a CR or LF is quoted, so it cannot split its row.
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def on_bad_filter(_: Request[Any, Any, Any], exc: FieldError) -> Response[str]:
    # htmx swaps error responses too, so the refusal is a readable fragment, not JSON.
    body = f'<p class="filter-error" role="alert">Cannot show that: {escape(str(exc))}</p>'
    return html(body, 400)


@dataclass(frozen=True, slots=True)
class Dashboard:
    chosen: DashboardFilter
    figures: Figures


def provide_chosen(
    analytics: NamedDependency[AnalyticsQueries],
    settings: NamedDependency[Settings],
    preset: RangeParam = None,
    first: FirstDayParam = None,
    last: LastDayParam = None,
    brand: FromQuery[list[str] | None] = None,
) -> DashboardFilter:
    """The filter in the query string: the range and brands every dashboard view shows."""
    return read_filter(preset, first, last, brand or [], settings, analytics.clock())


async def provide_dashboard(
    analytics: NamedDependency[AnalyticsQueries],
    settings: NamedDependency[Settings],
    chosen: NamedDependency[DashboardFilter],
) -> Dashboard:
    """The filter, and the figures for it (all but the stations')."""
    return Dashboard(chosen, await gather_figures(analytics, period_of(analytics, chosen, settings)))


class DashboardController(Controller):
    path = "/dashboard"
    include_in_schema = False
    exception_handlers = {FieldError: on_bad_filter}
    guards = [manager_only]
    dependencies = {
        "chosen": Provide(provide_chosen, sync_to_thread=False),
        "dashboard": Provide(provide_dashboard),
    }

    @get("/")
    async def dashboard_page(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        brand_service: NamedDependency[BrandService],
        dashboard: NamedDependency[Dashboard],
    ) -> Template:
        context = {
            "chosen": dashboard.chosen,
            "presets": PRESETS,
            "brands": list(await brand_service.catalog()),
            "settings": settings,
            "quiet": request.app.state.quiet_watch.current,
            **panels_context(dashboard.figures, settings),
        }
        return page(request, "dashboard/page.html", context)

    @get("/panels")
    async def dashboard_panels(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        dashboard: NamedDependency[Dashboard],
    ) -> Template:
        """Only the panels, for htmx; the address bar follows the filters (htmx's push URL)."""
        quiet = request.app.state.quiet_watch.current
        return HTMXTemplate(
            template_name="dashboard/_panels.html",
            context={"chosen": dashboard.chosen, "quiet": quiet, **panels_context(dashboard.figures, settings)},
            push_url=f"/dashboard?{dashboard.chosen.query()}",
        )

    @get("/stations")
    async def dashboard_stations(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        settings: NamedDependency[Settings],
        chosen: NamedDependency[DashboardFilter],
    ) -> Template:
        """The stations panel, which the panels load after they are shown."""
        stations = await analytics.stations(period_of(analytics, chosen, settings))
        return HTMXTemplate(
            template_name="dashboard/_stations.html",
            context={"chosen": chosen, "stations": stations, "pack_minutes": f"{settings.pack_seconds / 60:g}"},
        )

    @get("/load")
    async def dashboard_load(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        load: NamedDependency[LoadService],
        settings: NamedDependency[Settings],
        chosen: NamedDependency[DashboardFilter],
    ) -> Template:
        """The kitchen-load panel: the load now, and the quotes' accuracy over the range."""
        now = await load.now()
        brands = [b for b in now.brands if not chosen.brand_ids or b.brand_id in chosen.brand_ids]
        return HTMXTemplate(
            template_name="dashboard/_load.html",
            context={
                "chosen": chosen,
                "load": now,
                "brands": brands,
                "accuracy": await load.accuracy(period_of(analytics, chosen, settings)),
                "busy_minutes": f"{settings.busy_quote_minutes:g}",
                "pack_minutes": f"{settings.pack_seconds / 60:g}",
                "zone": settings.zone,
            },
        )

    @get("/csv/{table:str}")
    async def dashboard_csv(
        self,
        analytics: NamedDependency[AnalyticsQueries],
        settings: NamedDependency[Settings],
        table: FromPath[str],
        dashboard: NamedDependency[Dashboard],
    ) -> Response[str]:
        chosen = dashboard.chosen
        figures = dashboard.figures
        if table == "stations":
            figures = replace(figures, stations=await analytics.stations(period_of(analytics, chosen, settings)))
        tables = csv_tables(figures, settings)
        if table not in tables:
            raise FieldError("table", f"no table {table!r}; there are {', '.join(tables)}", parameter=True)
        header, rows = tables[table]
        filename = f"kitchen-{table}-{chosen.first_day}-{chosen.last_day}.csv"
        return Response(
            to_csv(header, rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get("/stream")
    async def dashboard_stream(self, board_hub: NamedDependency[BoardHub]) -> ServerSentEvent:
        """`changed` whenever orders change (at most every 10 s), so the open dashboard refreshes."""
        return ServerSentEvent(_changes(board_hub), headers={"Cache-Control": "no-store"})


async def _changes(hub: BoardHub) -> AsyncIterator[ServerSentEventMessage]:
    async for _ in hub.changes():
        yield ServerSentEventMessage(event="changed", data="")
        await asyncio.sleep(REFRESH_AT_MOST_EVERY)
