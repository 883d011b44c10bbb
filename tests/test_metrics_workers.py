"""Two worker processes (`kitchen run --workers 2`): one scrape of either sees both workers' counts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kitchen.settings import PROJECT_ROOT
from tests.helpers import live_order_payload
from tests.live_server import LiveServer, new_api_key, wipe_database

TOKEN = "scrape-" + "w" * 30
ORDERS = 12


@pytest.fixture
def two_workers(database_url: str) -> Iterator[LiveServer]:
    wipe_database(database_url)
    server = LiveServer(database_url, name="two-workers", env={"KITCHEN_METRICS_TOKEN": TOKEN}, args=("--workers", "2"))
    server.start()
    server.api_key = new_api_key(database_url)
    yield server
    server.stop()


def orders_created(server: LiveServer) -> float:
    # A new connection each time: the kernel hands it to either worker.
    response = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "kitchen_orders_created_total":
                return sample.value
    return 0.0


def test_a_scrape_of_either_worker_counts_both(two_workers: LiveServer) -> None:
    for _ in range(ORDERS):
        response = httpx.post(
            two_workers.url + "/api/orders", json=live_order_payload(), headers=two_workers.api, timeout=5
        )
        assert response.status_code == 201, response.text
    # Multiprocess mode is on: each worker keeps its counts in a file of its own, which a scrape sums.
    files = list((PROJECT_ROOT / "var" / "metrics" / str(two_workers.port)).glob("counter_*.db"))
    assert len(files) == 2, files
    assert [orders_created(two_workers) for _ in range(8)] == [ORDERS] * 8
