"""CPU per API request in one process, one request at a time: a steadier measure than wrk's
req/s on a shared 2-core machine, for comparing two versions of the code.

    createdb -h 127.0.0.1 -U postgres kitchen_cpu && KITCHEN_DATABASE_URL=... kitchen database upgrade
    .venv/bin/python bench/api_cpu.py --database kitchen_cpu
    PYTHONPATH=/tmp/old-checkout .venv/bin/python bench/api_cpu.py --database kitchen_cpu_old   # A/B

The app runs in this process behind httpx's ASGI transport (no sockets, no uvicorn); CPU time
is this process's (server and client together), so only differences between runs mean much.
It creates 300 orders, then times 1,800 GETs of them and 1,800 PATCHes of an item (toggling
PREPARING and ORDERED, a real change each time).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from kitchen.app import create_app
from kitchen.auth.service import Credentials
from kitchen.settings import Settings

ORDERS = 300
REQUESTS = 1800


async def measure(database: str) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    app = create_app(Settings(database_url=url, secret_key="b" * 40, log_level="WARNING"))
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        async with app.state.sessions() as session:
            _, key = await Credentials(session).create_api_key(f"cpu-{uuid.uuid4().hex[:8]}")
        http.headers["Authorization"] = f"Bearer {key}"
        pickup = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ids = []
        for _ in range(ORDERS):
            order_id = f"cpu-{uuid.uuid4().hex}"
            items = [{"plu": f"P{n}", "name": f"Item {n}", "quantity": 1} for n in (1, 2, 3)]
            payload = {"id": order_id, "account": "a", "brandId": "b", "channelOrderId": order_id,
                       "customer": {"name": "Bench"}, "pickupTime": pickup, "items": items}  # fmt: skip
            assert (await http.post("/api/orders", json=payload)).status_code == 201
            ids.append(order_id)

        def get(i: int) -> object:
            return http.get(f"/api/orders/{ids[i % ORDERS]}")

        def patch(i: int) -> object:
            status = "PREPARING" if (i // ORDERS) % 2 == 0 else "ORDERED"
            return http.patch(f"/api/orders/{ids[i % ORDERS]}/items/P1/status", json={"status": status})

        for label, request in (("GET", get), ("PATCH", patch)):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(REQUESTS):
                response = await request(i)  # type: ignore[misc]
                assert response.status_code == 200, response.text
            per_cpu = (time.process_time() - cpu) / REQUESTS * 1000
            per_wall = (time.perf_counter() - wall) / REQUESTS * 1000
            print(f"{label:<6} CPU {per_cpu:.2f} ms/request, wall {per_wall:.2f} ms/request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    asyncio.run(measure(parser.parse_args().database))


if __name__ == "__main__":
    main()
