"""The moment this process starts to stop, for what must act before the server waits on its connections.

uvicorn, stopping, waits for open connections to finish before it runs the app's shutdown; a
board's event stream never finishes by itself. The HTTP protocol (`kitchen.serve`) calls
`server_stopping` when the stop begins, so the board hub can end its streams at once.
"""

from __future__ import annotations

from collections.abc import Callable

_hooks: list[Callable[[], None]] = []


def when_stopping(hook: Callable[[], None]) -> Callable[[], None]:
    """Run `hook` when the server starts to stop; returns what takes it back."""
    _hooks.append(hook)
    return lambda: _hooks.remove(hook) if hook in _hooks else None


def server_stopping() -> None:
    """The server stops accepting and is about to wait on its connections (hooks must be idempotent)."""
    for hook in list(_hooks):
        hook()
