"""Turns orders into what a cook sees: ticket, board and all-day fragments, rendered once each.

The same Jinja templates render the full page and each fragment, so every piece of markup has
one source; everything a template shows is decided here, not computed in the template.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.board import queries
from kitchen.board.queries import AllDayLine
from kitchen.board.rules import StartBy, position, section_of, stale_before, start_by, start_by_now, urgency
from kitchen.board.station import NOT_ROUTED, Route, Routes, Station
from kitchen.brands.models import Brand
from kitchen.clock import Clock
from kitchen.menu.service import EXPO, UNASSIGNED
from kitchen.orders.lines import Modifier
from kitchen.orders.records import ItemRecord, OrderRecord
from kitchen.orders.status import NEXT_ITEM_STATUS, ItemStatus, OrderStatus
from kitchen.pages import create_environment
from kitchen.quiet import QuietBrand
from kitchen.settings import Settings


def brand_class(brand_id: str) -> str:
    """A CSS class for a brand id (ids are opaque strings, not safe class names)."""
    return "brand-" + hashlib.sha1(brand_id.encode(), usedforsecurity=False).hexdigest()[:10]


def order_dom_id(prefix: str, order_id: str) -> str:
    """An order's element id on a screen, e.g. "ticket-…" (order ids are opaque strings, not safe ids)."""
    return f"{prefix}-" + hashlib.sha1(order_id.encode(), usedforsecurity=False).hexdigest()[:16]


log = logging.getLogger("kitchen.board")
EXPO_BOARD = Station()


@dataclass(frozen=True, slots=True)
class ItemLine:
    plu: str
    name: str
    quantity: int
    status: str
    next_status: str | None
    advance_url: str
    note: str | None = None
    modifiers: tuple[str, ...] = ()  # "2x Extra cheese", indented under the item, in the order sent
    allergy: str | None = None  # "ALLERGY: sesame, gluten": the red band's text
    station: str | None = None  # the station tag: every line's on expo, unassigned ones on a station board
    start_by: StartBy | None = None  # on a station board, for a line not yet started
    back_url: str | None = None  # a READY line: one step back, for a mistake found after the undo window


# A note that names an allergen is an allergy note whatever the channel put in `allergens`:
# channels often send "allergy: sesame" as free text. The EU's 14 declared allergens, and "allerg".
_ALLERGY_WORDS = re.compile(
    r"allerg|celery|gluten|wheat|crustacean|shellfish|egg|fish|lupin|milk|dairy|lactose|mollusc|mustard|"
    r"nut|peanut|sesame|soy|sulphite|sulfite",
    re.IGNORECASE,
)


def modifier_text(modifier: Modifier) -> str:
    """A modifier as the cook reads it: "No onions", "2\u00d7 Extra cheese"."""
    return f"{modifier.quantity}\u00d7 {modifier.name}" if modifier.quantity > 1 else modifier.name


def allergy_band(allergens: Sequence[str], note: str | None) -> str | None:
    """The text of the red ALLERGY band for these allergens and note, or None when neither warns."""
    if allergens:
        return "ALLERGY: " + ", ".join(allergens)
    if note and _ALLERGY_WORDS.search(note):
        return "ALLERGY: see note"
    return None


@dataclass(frozen=True, slots=True)
class TicketView:
    id: str
    dom_id: str
    url: str  # where this ticket's taps go: {url}/bump, {url}/recall, ...
    brand_name: str
    brand_class: str
    channel_order_id: str
    customer_name: str
    status: str
    section: str  # "open", "ready", "cancelled", or "error" (cannot be shown): where on the board it stands
    position: str  # where in its section: the board sorts tickets by this text
    urgency: str  # "ok", "soon" or "late" against the pickup time, now
    soon_at: str  # when the urgency turns "soon" and "late" ("" if it never will): the script follows
    late_at: str
    pickup_local: str
    pickup_at: str
    arrived_at: str
    items: list[ItemLine]
    message: str | None
    courier_late: bool = False  # ready, its pickup time passed, and no courier has taken it
    note: str | None = None  # the order's note, at the top of the ticket
    allergy: str | None = None  # the header's band: the order's allergens, and any line's
    version: int = 0  # the order's: a board never replaces a card with an older one
    station: str = EXPO  # the board it is rendered for
    elsewhere: str | None = None  # a station's card: "2 of 4 items ready elsewhere"
    progress: tuple[StationProgress, ...] = ()  # expo: how far each station is with the ticket


@dataclass(frozen=True, slots=True)
class StationProgress:
    name: str
    ready: int
    lines: int

    @property
    def done(self) -> bool:
        return self.ready == self.lines


def station_progress(routes: Sequence[tuple[ItemRecord, Route]]) -> tuple[StationProgress, ...]:
    """Per station, of a ticket's lines: how many are ready, by station name (`unassigned` last)."""
    counts: dict[str, list[int]] = {}
    for item, route in routes:
        count = counts.setdefault(route.station, [0, 0])
        count[0] += item.status == ItemStatus.READY
        count[1] += 1
    order = sorted(counts, key=lambda name: (name == UNASSIGNED, name))
    return tuple(StationProgress(name, *counts[name]) for name in order)


def ready_elsewhere(lines: Sequence[ItemRecord]) -> str | None:
    """A station card's word on the rest of its ticket: "2 of 4 items ready elsewhere" (None: no rest)."""
    if not lines:
        return None
    ready = sum(item.status == ItemStatus.READY for item in lines)
    return f"{ready} of {len(lines)} {'item' if len(lines) == 1 else 'items'} ready elsewhere"


@dataclass(frozen=True, slots=True)
class BrandChip:
    id: str
    name: str
    css_class: str
    selected: bool
    toggle_url: str


@dataclass(frozen=True, slots=True)
class StationLink:
    name: str
    selected: bool
    url: str


def all_day_rows(lines: Sequence[AllDayLine]) -> list[tuple[AllDayLine, str]]:
    """Each all-day row with its modifiers as the cook reads them ("" for the plain dish)."""
    return [(line, ", ".join(modifier_text(m) for m in line.modifiers)) for line in lines]


def text_colour_on(background: str) -> str:
    """Black or white, whichever reads better on the badge colour (WCAG relative luminance)."""
    red, green, blue = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    return "#000000" if luminance > 0.179 else "#ffffff"


def _ticket_allergy(order: OrderRecord) -> str | None:
    """The header's band: every allergen of the order and its lines, or a note that warns."""
    allergens = list(dict.fromkeys([*order.allergens, *(a for item in order.items for a in item.allergens)]))
    notes = " ".join(note for note in (order.note, *(item.note for item in order.items)) if note)
    return allergy_band(allergens, notes)


class BoardRenderer:
    def __init__(self, settings: Settings, clock: Clock, environment: Environment | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.zone = ZoneInfo(settings.timezone)
        self.environment = environment or create_environment()
        # The brands gone quiet, as this process last saw them (kitchen/quiet.py sets it).
        self.quiet: Callable[[], Sequence[QuietBrand]] = lambda: ()

    def abandoned_before(self) -> datetime:
        """Orders with a pickup time at or before this have left the boards (KITCHEN_STALE_HOURS)."""
        return stale_before(self.clock(), self.settings.stale_after)

    def alarms(self) -> str:
        """The alarm banners every board and the dashboard show (empty when all is well)."""
        return self.environment.get_template("board/_alarms.html").render(quiet=self.quiet())

    def ticket_view(
        self,
        order: OrderRecord,
        brands: dict[str, Brand],
        routes: Routes,
        station: Station = EXPO_BOARD,
        message: str | None = None,
    ) -> TicketView | None:
        """The ticket of `order` as `station` shows it (None: nothing of it is cooked there).

        One that cannot be shown becomes an error ticket, never a broken board.
        """
        try:
            return self._ticket_view(order, brands, routes, station, message)
        except Exception:
            # One bad record (a time no clock can show, a status no rule knows) must not take
            # every tablet's board down: the rest render, this one says to fetch a manager.
            log.exception("order %r cannot be shown on the boards", getattr(order, "id", None))
            return self._unshowable(order)

    def _unshowable(self, order: OrderRecord) -> TicketView:
        order_id = str(getattr(order, "id", "?"))
        return TicketView(
            id=order_id,
            url="/board/orders/" + quote(order_id, safe=""),
            dom_id=order_dom_id("ticket", order_id),
            brand_name="",
            brand_class="brand-unknown",
            channel_order_id=str(getattr(order, "channel_order_id", "")),
            customer_name="",
            status="",
            section="error",
            position="0",  # first: someone has to look at it
            urgency="late",
            soon_at="",
            late_at="",
            pickup_local="",
            pickup_at="",
            arrived_at="",
            items=[],
            message=None,
        )

    def _ticket_view(
        self, order: OrderRecord, brands: dict[str, Brand], routes: Routes, station: Station, message: str | None
    ) -> TicketView | None:
        now = self.clock()
        brand = brands.get(order.brand_id)
        status = OrderStatus(order.status)
        routed = [(item, routes.get((order.brand_id, item.plu), NOT_ROUTED)) for item in order.items]
        here = [(item, route) for item, route in routed if station.cooks(route)]
        if not here:
            return None
        section = section_of(order)
        if not station.is_expo and section == "open" and all(item.status == ItemStatus.READY for item, _ in here):
            section = "ready"  # this station's part is done; the card waits beside the board for expo
        race = urgency(order, now, self.settings.amber_seconds, section)
        url = "/board/orders/" + quote(order.id, safe="")
        tap_query = station.tap_query()
        starts = {
            item.line: start_by(order.pickup_time, route.prep_seconds, self.settings.pack_seconds)
            for item, route in here
        }
        waiting = [starts[item.line] for item, _ in here if item.status != ItemStatus.READY]
        if not station.is_expo:
            # The line that must go on first leads, and so does its card.
            here.sort(key=lambda line: (starts[line[0].line], line[0].line))
        return TicketView(
            id=order.id,
            url=url,
            dom_id=order_dom_id("ticket", order.id),
            brand_name=brand.name if brand else order.brand_id,
            brand_class=brand_class(order.brand_id) if brand else "brand-unknown",
            channel_order_id=order.channel_order_id,
            customer_name=order.customer_name,
            status=status,
            section=section,
            position=position(order, None if station.is_expo or not waiting else min(waiting)),
            urgency=race.now,
            soon_at=race.soon_at.isoformat() if race.soon_at else "",
            late_at=race.late_at.isoformat() if race.late_at else "",
            pickup_local=order.pickup_time.astimezone(self.zone).strftime("%H:%M"),
            pickup_at=order.pickup_time.isoformat(),
            arrived_at=order.created_at.isoformat(),
            items=[
                ItemLine(
                    plu=item.plu,
                    name=item.name,
                    quantity=item.quantity,
                    status=item.status,
                    next_status=NEXT_ITEM_STATUS.get(ItemStatus(item.status)) if section == "open" else None,
                    # The status the cook sees travels with the tap: a tap sent twice advances once.
                    advance_url=f"{url}/lines/{item.line}/advance?from={item.status}{tap_query}",
                    note=item.note,
                    modifiers=tuple(modifier_text(m) for m in item.modifiers),
                    allergy=allergy_band(item.allergens, item.note),
                    # Expo: where each routed line is cooked; a station: which lines no menu routes.
                    station=(route.station if (route.station == UNASSIGNED) != station.is_expo else None),
                    start_by=(
                        start_by_now(starts[item.line], now, self.zone)
                        if not station.is_expo and section == "open" and item.status == ItemStatus.ORDERED
                        else None
                    ),
                    back_url=(
                        f"{url}/lines/{item.line}/back?from=READY{tap_query}"
                        if item.status == ItemStatus.READY and section in ("open", "ready")
                        else None
                    ),
                )
                for item, route in here
            ],
            note=order.note,
            allergy=_ticket_allergy(order),
            message=message,
            courier_late=status == OrderStatus.READY and now > order.pickup_time,
            version=order.version,
            station=station.name,
            elsewhere=None if station.is_expo else ready_elsewhere([i for i, r in routed if not station.cooks(r)]),
            progress=(
                station_progress(routed)
                if station.is_expo and section != "cancelled" and any(r.station != UNASSIGNED for _, r in routed)
                else ()
            ),
        )

    def ticket(
        self,
        order: OrderRecord,
        brands: dict[str, Brand],
        routes: Routes,
        station: Station = EXPO_BOARD,
        message: str | None = None,
    ) -> str | None:
        """The ticket's card on `station`'s board, or None when nothing of it is cooked there."""
        view = self.ticket_view(order, brands, routes, station, message)
        return None if view is None else self.environment.get_template("board/_ticket.html").render(ticket=view)

    def all_day(self, lines: Sequence[AllDayLine]) -> str:
        return self.environment.get_template("board/_all_day.html").render(all_day=all_day_rows(lines))

    async def board_context(self, session: AsyncSession, station: Station) -> dict[str, object]:
        now = self.clock()
        brands = await queries.brands(session)
        orders = await queries.board_orders(session, station, now, self.settings.stale_after)
        routes = await queries.routes(session, orders)
        views = (self.ticket_view(order, brands, routes, station) for order in orders)
        tickets = [view for view in views if view is not None]
        if not station.is_expo:
            tickets.sort(key=lambda ticket: ticket.position)  # a station works in start-by order
        return {
            "station": station,
            "tickets": [t for t in tickets if t.section != "ready"],
            "ready": [t for t in tickets if t.section == "ready"],
            "all_day": all_day_rows(await queries.all_day(session, station, self.abandoned_before())),
            "station_query": station.query(),
            "chips": [
                BrandChip(
                    b.id,
                    b.name,
                    brand_class(b.id),
                    b.id in station.brand_ids,
                    "/board" + Station(station.brand_ids ^ {b.id}, station.name).query(),
                )
                for b in brands.values()
            ],
            "all_brands_url": "/board" + Station(frozenset(), station.name).query(),
            "stations": [
                StationLink(name, name == station.name, "/board" + Station(station.brand_ids, name).query())
                for name in [EXPO, *await queries.station_names(session)]
            ],
            "rendered_at": now.isoformat(),
            "quiet": self.quiet(),
        }

    async def board_content(self, session: AsyncSession, station: Station) -> str:
        return self.content(await self.board_context(session, station))

    def content(self, context: dict[str, object]) -> str:
        """The whole board (tickets, ready section, all-day panel) as one fragment."""
        return self.environment.get_template("board/_content.html").render(**context)

    def brands_css(self, brands: dict[str, Brand]) -> str:
        return self.environment.get_template("board/brands.css").render(
            brands=[(brand_class(b.id), b.colour, text_colour_on(b.colour)) for b in brands.values()]
        )

    def page(self, template: str, **context: object) -> str:
        return self.environment.get_template(template).render(**context)
