"""Slows down password and pairing-code guessing: a few failures, then a pause."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; try again in {retry_after} s")
        self.retry_after = retry_after


class Throttle:
    """At most `failures` failed attempts per key within `window` seconds (in this process)."""

    def __init__(self, failures: int = 5, window: float = 300.0) -> None:
        self.failures = failures
        self.window = window
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            seen = self._seen[key]
            while seen and now - seen[0] > self.window:
                seen.popleft()
            if len(seen) >= self.failures:
                raise TooManyAttempts(int(self.window - (now - seen[0])) + 1)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._seen[key].append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._seen.pop(key, None)
