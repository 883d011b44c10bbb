"""API keys checked recently, kept in the process: most API requests skip the key's round trip.

Only on PostgreSQL, where every process hears the change feed: a revocation (from `/manage` or
`kitchen api-keys revoke` on any host) sends a NOTIFY in its own transaction, and every process
forgets its keys as it hears it. While a process's LISTEN connection is down it cannot hear, so
it asks the database each time; after a reconnect it forgets everything (a notice may have been
lost); and no key is kept longer than `TTL_SECONDS` whatever happens. The embedded SQLite default
has no feed between processes, so it asks every time (a local round trip there is cheap).
"""

from __future__ import annotations

import time
from collections.abc import Callable

TTL_SECONDS = 60.0
MAX_KEYS = 10_000


class ApiKeyCache:
    def __init__(self, listening: Callable[[], bool], ttl: float = TTL_SECONDS) -> None:
        self.listening = listening
        self.ttl = ttl
        self._keys: dict[str, tuple[float, int, str]] = {}

    def get(self, key_hash: str) -> tuple[int, str] | None:
        """(id, name) of a valid key checked lately, or None: then ask the database."""
        if not self.listening():
            return None
        found = self._keys.get(key_hash)
        if found is None or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1], found[2]

    def put(self, key_hash: str, key_id: int, name: str) -> None:
        if not self.listening():
            return
        if len(self._keys) >= MAX_KEYS:
            self._keys.clear()  # a flood of keys: start again rather than grow
        self._keys[key_hash] = (time.monotonic(), key_id, name)

    def clear(self) -> None:
        self._keys.clear()
