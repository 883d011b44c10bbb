#!/usr/bin/env bash
# Benchmark of the cook boards: status change -> SSE event latency at 100 boards, and the time to
# render a full board of 200 open orders. See docs/benchmarks-board.md and bench/board_bench.py.
#
#   bench/board_bench.sh                 # fresh PostgreSQL db on 127.0.0.1, one uvicorn worker on :8002
#   bench/board_bench.sh --help          # every option
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-$root/.venv/bin/python}"
cd "$root"
exec "$python" "$here/board_bench.py" "$@"
