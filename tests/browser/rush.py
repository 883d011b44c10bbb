"""A Friday-evening rush for the browser tests: 60 open orders of varied size, some late, some with notes."""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.helpers import live_order_payload, pickup_in
from tests.live_server import LiveServer

DISHES = [
    ("BB-1", "Hawaii Burger"),
    ("BB-2", "Fries"),
    ("BB-3", "Lemonade"),
    ("BB-4", "Double Cheeseburger"),
    ("BB-5", "Onion Rings"),
    ("BB-6", "Chicken Wings"),
    ("BB-7", "Caesar Salad"),
    ("BB-8", "Chocolate Shake"),
]


def rush_payload(n: int, rng: random.Random) -> dict[str, Any]:
    """Order `n` of a rush as delivery orders come: 1 to 5 lines (2.6 on average), every fifth with
    two modifiers on its first line, every tenth with a note, a fifth of them late already."""
    lines = []
    for plu, name in rng.sample(DISHES, rng.choice((1, 2, 2, 3, 3, 3, 4, 5))):
        lines.append({"plu": plu, "name": name, "quantity": rng.randint(1, 3)})
    if n % 5 == 0:
        lines[0]["modifiers"] = [{"name": "No onions"}, {"name": "Extra cheese", "quantity": 2}]
    if n % 10 == 0:
        lines[0]["note"] = "Well done, sauce on the side"
    minutes = rng.randint(-25, -1) if n % 5 == 3 else rng.randint(5, 90)
    return live_order_payload(pickupTime=pickup_in(minutes), items=lines, channelOrderId=f"RUSH-{n:03d}")


def post_rush(server: LiveServer, orders: int = 60, seed: int = 60) -> list[dict[str, Any]]:
    """Post a rush through the API, as the channels would; the stored orders, in posting order."""
    rng = random.Random(seed)
    posted = []
    with httpx.Client(base_url=server.url, headers=server.api, timeout=10) as http:
        for n in range(1, orders + 1):
            response = http.post("/api/orders", json=rush_payload(n, rng))
            assert response.status_code == 201, response.text
            posted.append(response.json())
    return posted
