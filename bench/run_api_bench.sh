#!/usr/bin/env bash
# Load benchmark of the kitchen JSON API (GET / POST / PATCH), see bench/README.md.
#
#   bench/run_api_bench.sh --start-server            # fresh PostgreSQL db + one uvicorn worker
#   bench/run_api_bench.sh --url http://127.0.0.1:8001 --server-pid PID   # a server you started
#
# All options: bench/run_api_bench.sh --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if ! command -v wrk >/dev/null; then
    echo "wrk is not installed: apt-get install -y wrk" >&2
    exit 2
fi
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
cd "$root"
exec "$python" "$here/api_bench.py" "$@"
