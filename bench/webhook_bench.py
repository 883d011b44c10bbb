"""Benchmark of the status webhooks: PATCH throughput with webhooks off and on, in one run, and the
events one process delivers per second to a local receiver.

    .venv/bin/python bench/webhook_bench.py            # fresh PostgreSQL db, one uvicorn worker on :8021

1. One uvicorn worker on a fresh PostgreSQL database (bench/api_bench.py's `start_server`), and a
   receiver on 127.0.0.1 (a threaded standard-library HTTP server answering 204).
2. Rounds of two wrk runs of `PATCH /api/orders/{id}/items/P1/status` (a real change each time):
   first with the bench key's webhook disabled (the outbox writes nothing), then enabled (every
   PATCH that moves the order's status writes an event, and the worker sends it). The drop is
   the on run's requests/s against the off run's; the target is at most 10 %.
3. The drain: `--events` events for distinct orders put straight into the outbox, and the time
   until the one worker has delivered them all: events per second.

It only talks to loopback addresses and stops the server it started by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import api_bench  # noqa: E402  # the API bench's server, seeding and wrk driver

received = 0
received_lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy would

    def do_POST(self) -> None:  # the standard library's name
        global received
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with received_lock:
            received += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def kitchen(args: argparse.Namespace, *command: str) -> str:
    env = {"KITCHEN_DATABASE_URL": f"postgresql+asyncpg://{args.pg_user}@{args.pg_host}:{args.pg_port}/{args.db_name}"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kitchen"), *command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=api_bench.PROJECT_ROOT,
    )
    return done.stdout


def patch_run(args: argparse.Namespace, host: str, port: int, label: str, server_pid: int) -> api_bench.Result:
    prefix = f"w{int(time.time())}{label}"
    ids = [f"{prefix}-p-{i}" for i in range(args.patch_orders)]
    api_bench.seed(host, port, ids)
    api_bench.vacuum_database(args)
    return api_bench.run_wrk(
        f"http://{host}:{port}", "patch", prefix, args.patch_orders, args, args.duration, server_pid
    )


def drain(args: argparse.Namespace, events: int) -> float:
    """Put `events` pending events into the outbox at once; seconds until all are delivered."""
    webhook = api_bench._psql(args, args.db_name, "SELECT id FROM webhooks WHERE integration = 'bench'")
    api_bench._psql(
        args,
        args.db_name,
        "INSERT INTO outbox_events (webhook_id, event_id, type, stream, body, created_at, next_attempt_at, attempts)"
        f" SELECT {webhook}, md5(random()::text || g)::uuid::text, 'order.ready', 'order:drain-' || g,"
        ' \'{"id":"x","type":"order.ready"}\', now(), now(), 0 FROM generate_series(1, ' + str(events) + ") g",
    )
    started = time.monotonic()
    while True:
        left = int(
            api_bench._psql(
                args, args.db_name, "SELECT count(*) FROM outbox_events WHERE delivered_at IS NULL AND dead_at IS NULL"
            )
        )
        if left == 0:
            return time.monotonic() - started
        if time.monotonic() - started > 300:
            raise SystemExit(f"{left} events still pending after 300 s")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8021")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--patch-orders", type=int, default=2000)
    parser.add_argument("--events", type=int, default=5000, help="events for the drain")
    parser.add_argument("--db-name", default="kitchen_webhook_bench")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--server-log", default="/tmp/kitchen-webhook-bench-server.log")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.source, args.api_key, args.quiet_wait = None, None, 30

    host, port = api_bench.loopback(args.url)
    ThreadingHTTPServer.request_queue_size = 256  # the default 5 drops connections at 50 in flight
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
    proc = api_bench.start_server(args, host, port)
    api_bench.Client.api_key = args.api_key
    results: dict[str, Any] = {"off": [], "on": []}
    try:
        kitchen(args, "webhooks", "set", "bench", hook)
        kitchen(args, "webhooks", "disable", "bench")
        time.sleep(6)  # the server's list of webhooks is at most 5 s old
        for number in range(1, args.rounds + 1):
            for state in ("off", "on"):
                kitchen(args, "webhooks", *(("set", "bench", hook) if state == "on" else ("disable", "bench")))
                time.sleep(6)
                before = received
                api_bench.wait_for_quiet(args.quiet_wait)
                result = patch_run(args, host, port, f"{state}{number}", proc.pid)
                time.sleep(2)
                results[state].append(
                    {
                        "rps": result.rps,
                        "p99_ms": result.p99_ms,
                        "cpu": result.cpu,
                        "events": received - before,
                        "ok": result.ok,
                    }
                )
                print(
                    f"round {number} webhooks {state}: {result.rps:.0f} PATCH/s, p99 {result.p99_ms:.1f} ms,"
                    f" {received - before} events received, server CPU {result.cpu.get('server', 0):.0f}%",
                    flush=True,
                )
        # Each round's on run against its own off run, just before it; a round in which other
        # processes took more than a quarter of a core is reported but not counted.
        pairs = list(zip(results["off"], results["on"], strict=True))
        clean = [(a, b) for a, b in pairs if max(a["cpu"].get("other", 0), b["cpu"].get("other", 0)) <= 25]
        drops = [100 * (a["rps"] - b["rps"]) / a["rps"] for a, b in clean or pairs]
        results["drop_percent"] = round(statistics.median(drops), 1)
        results["clean_rounds"] = len(clean)
        for number, (a, b) in enumerate(pairs, 1):
            other = max(a["cpu"].get("other", 0), b["cpu"].get("other", 0))
            print(
                f"round {number}: off {a['rps']:.0f}, on {b['rps']:.0f} PATCH/s:"
                f" {100 * (a['rps'] - b['rps']) / a['rps']:+.1f} % (others took {other:.0f} % of a core)"
            )
        print(
            f"PATCH/s drop with webhooks on, median of {len(clean) or len(pairs)} round(s):"
            f" {results['drop_percent']:+.1f} % (target <= 10 %)"
        )
        seconds = drain(args, args.events)
        # The worker's own pace: its first delivery of these to its last (the poll before excluded).
        sending = float(
            api_bench._psql(
                args,
                args.db_name,
                "SELECT extract(epoch FROM max(delivered_at) - min(delivered_at)) FROM outbox_events"
                " WHERE stream LIKE 'order:drain-%'",
            )
        )
        results["drain"] = {
            "events": args.events,
            "seconds": round(seconds, 2),
            "per_second": round(args.events / seconds),
            "sending_seconds": round(sending, 2),
            "sending_per_second": round(args.events / sending) if sending else None,
        }
        print(f"drain: {args.events} events delivered by one process in {seconds:.1f} s: {args.events / seconds:.0f}/s")
        print(f"drain: first to last delivery {sending:.1f} s: {args.events / max(sending, 1e-9):.0f}/s")
    finally:
        api_bench.stop_server(proc)
        receiver.shutdown()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
