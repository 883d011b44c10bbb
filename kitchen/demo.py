"""Realistic demo data: several brands, their menus, returning customers, orders in every status.

Every order goes through the order service with a scripted clock, so its history looks like a
real week in the kitchen: arrivals through the day, minutes of cooking, couriers on time or late.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from kitchen.auth.models import Manager
from kitchen.auth.service import Credentials
from kitchen.brands.service import BrandService
from kitchen.db import create_engine
from kitchen.menu.schemas import MenuEntry
from kitchen.menu.service import MenuService
from kitchen.orders.lines import Modifier
from kitchen.orders.models import EventSource, Order
from kitchen.orders.records import OrderRecord
from kitchen.orders.schemas import Customer, DeliveryAddress, NewItem, NewOrder
from kitchen.orders.service import OrderService
from kitchen.orders.status import ItemStatus, OrderStatus
from kitchen.orders.stores import store_for
from kitchen.settings import Settings


@dataclass(frozen=True)
class DemoBrand:
    id: str
    name: str
    colour: str
    menu: tuple[tuple[str, str, str, int], ...]  # (PLU, name, station, prep seconds)


BRANDS = (
    DemoBrand(
        "60bfc6dc4887c9851d5a0245",
        "Burger Bros",
        "#e4572e",
        (
            ("BB-0001", "Hawaii Burger", "grill", 480),
            ("BB-0002", "Double Smash", "grill", 420),
            ("BB-0003", "Halloumi Burger", "grill", 540),
            ("BB-0010", "Sweet Potato Fries", "fryer", 300),
            ("BB-0011", "Onion Rings", "fryer", 240),
        ),
    ),
    DemoBrand(
        "60bfc6dc4887c9851d5a0250",
        "Sushi Society",
        "#17bebb",
        (
            ("SS-0001", "Sushi Set Large", "cold", 600),
            ("SS-0002", "Salmon Nigiri x6", "cold", 300),
            ("SS-0003", "Spicy Tuna Roll", "cold", 360),
            ("SS-0010", "Edamame", "cold", 120),
            ("SS-0011", "Miso Soup", "drinks", 90),
        ),
    ),
    DemoBrand(
        "60bfc6dc4887c9851d5a0255",
        "Pizza Piazza",
        "#ffc914",
        (
            ("PP-0001", "Margherita", "oven", 420),
            ("PP-0002", "Diavola", "oven", 420),
            ("PP-0003", "Quattro Formaggi", "oven", 480),
            ("PP-0010", "Garlic Bread", "oven", 300),
        ),
    ),
    DemoBrand(
        "60bfc6dc4887c9851d5a0260",
        "Green Bowl",
        "#76b041",
        (
            ("GB-0001", "Falafel Bowl", "cold", 360),
            ("GB-0002", "Poke Bowl Tofu", "cold", 300),
            ("GB-0003", "Caesar Salad", "cold", 240),
            ("GB-0010", "Lemonade", "drinks", 60),
        ),
    ),
)

FIRST_NAMES = ("Aino", "Eero", "Leena", "Mikko", "Sofia", "Juha", "Noora", "Ville", "Emma", "Onni")
LAST_NAMES = ("Virtanen", "Korhonen", "Nieminen", "Mäkinen", "Hämäläinen", "Laine", "Heikkinen")
STREETS = ("Mannerheimintie", "Hämeentie", "Fredrikinkatu", "Bulevardi", "Huuvatie", "Kalevankatu")


DEMO_MANAGER = "manager"
DEMO_API_KEY = "demo"


class ScriptedClock:
    """A clock the demo moves by hand, so every event gets a believable time."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.ceiling = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, rng: random.Random, low_seconds: int, high_seconds: int) -> None:
        # Never past the real present: the demo has no events from the future.
        self.now = min(self.now + timedelta(seconds=rng.randrange(low_seconds, high_seconds)), self.ceiling)


def _customers(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    people = []
    for _ in range(count):
        account = f"{rng.getrandbits(96):024x}"
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        phone = f"+35840{rng.randrange(1_000_000, 9_999_999)}"
        people.append((account, name, phone))
    return people


# What real orders carry besides PLUs, given to some demo orders by their number (no random draw:
# the rest of the demo stays as it was): modifiers, a cook's note, an allergy.
_EXTRAS: tuple[dict[str, Any], ...] = (
    {"modifiers": [Modifier(name="No onions"), Modifier(name="Extra cheese", plu="MOD-CHEESE", quantity=2)]},
    {"note": "well done, sauce on the side"},
    {},
    {"allergens": ["sesame"], "note": "sesame allergy: clean board please"},
    {},
)


def _new_order(rng: random.Random, brand: DemoBrand, customer: tuple[str, str, str], at: datetime) -> NewOrder:
    account, name, phone = customer
    dishes = rng.sample(brand.menu, k=rng.choice((1, 2, 2, 3, 3, 3, 4)))
    number = rng.randrange(10**7, 10**8)
    extras = _EXTRAS[number % len(_EXTRAS)]
    items = [NewItem(plu=plu, name=dish, quantity=rng.choice((1, 1, 1, 2, 3))) for plu, dish, _, _ in dishes]
    items[0] = NewItem(plu=items[0].plu, name=items[0].name, quantity=items[0].quantity, **extras)
    if number % 7 == 3:
        # The same dish again on a line of its own, made another way: two burgers, one plain.
        items.append(NewItem(plu=items[0].plu, name=items[0].name, quantity=1, modifiers=[Modifier(name="Plain")]))
    return NewOrder(
        account=account,
        brand_id=brand.id,
        channel_order_id=f"{rng.choice(('WOLT', 'FOOD', 'UBER'))}-{number}",
        customer=Customer(name=name, phone_number=phone),
        delivery_address=DeliveryAddress(
            street=f"{rng.choice(STREETS)} {rng.randrange(1, 60)}", city="Helsinki", postal_code="00100"
        ),
        pickup_time=at + timedelta(minutes=rng.choice((15, 20, 20, 25, 30))),
        created=at - timedelta(seconds=rng.randrange(5, 40)),
        items=items,
        note="Allergy: peanuts. Leave at the door." if number % 11 == 0 else None,
        allergens=["peanut"] if number % 11 == 0 else [],
    )


async def _cook(
    orders: OrderService, clock: ScriptedClock, rng: random.Random, order: OrderRecord, until: OrderStatus
) -> None:
    """Walk an order through the kitchen to `until`, moving the clock as a cook would take."""
    lines = [item.line for item in order.items]
    if until is OrderStatus.RECEIVED:
        return
    if until is OrderStatus.CANCELLED:
        clock.advance(rng, 30, 300)
        await orders.set_order_status(order.id, OrderStatus.CANCELLED, EventSource.DEMO)
        return
    for line in lines:
        clock.advance(rng, 20, 150)
        await orders.set_line_status(order.id, line, ItemStatus.PREPARING, EventSource.DEMO)
    finished = lines if until is not OrderStatus.PREPARING else lines[: len(lines) // 2]
    for line in finished:
        clock.advance(rng, 120, 720)
        await orders.set_line_status(order.id, line, ItemStatus.READY, EventSource.DEMO)
    if until is OrderStatus.PICKED_UP:
        clock.advance(rng, 30, 600)
        await orders.set_order_status(order.id, OrderStatus.PICKED_UP, EventSource.DEMO)


async def fill_demo(settings: Settings, *, days: int = 7, seed: int = 7) -> int:
    """Write the demo orders; returns how many were created."""
    rng = random.Random(seed)
    engine = create_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    real_now = datetime.now(UTC).replace(microsecond=0)
    clock = ScriptedClock(real_now)
    customers = _customers(rng, 40)
    # A few regulars order far more often than the rest.
    weights = [12 if i < 4 else 3 if i < 12 else 1 for i in range(len(customers))]
    created = 0
    try:
        async with sessions() as session:
            catalog = BrandService(clock=clock, session=session)
            menus = MenuService(session, clock=clock)
            for brand in BRANDS:
                await catalog.put(brand.id, brand.name, brand.colour)
                entries = [MenuEntry(plu=p, name=n, station=st, prep_seconds=sec) for p, n, st, sec in brand.menu]
                await menus.replace_menu(brand.id, entries)
            orders = OrderService(session, store_for(engine.dialect.name), clock=clock, actor="demo")
            start = real_now - timedelta(days=days)
            moment = start.replace(hour=8, minute=0, second=0)
            # History: lunch and dinner rushes over the past days, everything picked up or cancelled.
            while moment < real_now - timedelta(hours=2):
                local_hour = moment.astimezone(settings.zone).hour
                busy = 11 <= local_hour <= 13 or 17 <= local_hour <= 20
                quiet = local_hour < 10 or local_hour >= 22
                moment += timedelta(minutes=rng.randrange(4, 12) if busy else rng.randrange(40, 120))
                if quiet:
                    continue
                clock.now = moment
                customer = rng.choices(customers, weights)[0]
                order, _ = await orders.ingest(_new_order(rng, rng.choice(BRANDS), customer, moment), EventSource.DEMO)
                fate = OrderStatus.CANCELLED if rng.random() < 0.04 else OrderStatus.PICKED_UP
                await _cook(orders, clock, rng, order, fate)
                if fate is OrderStatus.CANCELLED:
                    await orders.acknowledge_cancellation(order.id)  # seen back then
                created += 1
            # Now: a live board with orders in every open status, and one just cancelled.
            live = [OrderStatus.RECEIVED] * 4 + [OrderStatus.PREPARING] * 4 + [OrderStatus.READY] * 2
            live.append(OrderStatus.CANCELLED)
            for index, status in enumerate(live):
                clock.now = real_now - timedelta(minutes=len(live) * 2 - index)
                customer = rng.choices(customers, weights)[0]
                order, _ = await orders.ingest(
                    _new_order(rng, BRANDS[index % len(BRANDS)], customer, clock.now), EventSource.DEMO
                )
                await _cook(orders, clock, rng, order, status)
                created += 1
    finally:
        await engine.dispose()
    return created


async def count_orders(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return int((await conn.scalar(select(func.count()).select_from(Order))) or 0)
    finally:
        await engine.dispose()


@click.command(name="demo", help="Fill the database with realistic demo orders (run migrations first).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has orders.")
@click.option("--days", default=7, show_default=True, help="How many days of history to generate.")
def demo_command(if_empty: bool, days: int) -> None:
    settings = Settings.from_env()
    if asyncio.run(count_orders(settings)) > 0:
        if not if_empty:
            # Its orders would be the same ones again (the demo is seeded): refuse, plainly.
            raise click.ClickException("the database already has orders; the demo fills an empty one")
        click.echo("demo: the database already has orders; leaving it as it is")
        click.echo("demo: sign in at /login with the manager password shown on the first start")
        return
    # A week of orders is thousands of "order received" and "status change" lines: they would
    # bury the credentials printed after them.
    logging.getLogger("kitchen.orders").setLevel(logging.WARNING)
    created = asyncio.run(fill_demo(settings, days=days))
    click.echo(f"demo: created {created} orders")
    password = secrets.token_urlsafe(9)
    key = asyncio.run(create_demo_credentials(settings, password))
    if key is None:
        click.echo("demo: sign in with the credentials you created; `kitchen api-keys create NAME` makes keys")
        return
    click.echo(
        f"""
  Manager sign-in:  http://{settings.host}:{settings.port}/login   user {DEMO_MANAGER}   password {password}
  Tablets:          sign in, open /manage, "Pair a tablet", type the code at /pair on the tablet
  Demo API key ({DEMO_API_KEY}), shown only now; send it as 'Authorization: Bearer <key>':
{key}"""
    )


async def create_demo_credentials(settings: Settings, password: str) -> str | None:
    """A manager and an API key for trying the app; None when the database has managers already."""
    engine = create_engine(settings)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            if await session.scalar(select(func.count()).select_from(Manager)):
                return None
            credentials = Credentials(session)
            await credentials.create_manager(DEMO_MANAGER, password)
            _, key = await credentials.create_api_key(DEMO_API_KEY)
            return key
    finally:
        await engine.dispose()
