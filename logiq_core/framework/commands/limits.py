"""Per-member cooldowns and once-a-minute notices, bounded: expired entries are dropped, so
the tables hold only what is still running however many members and servers come and go."""

from __future__ import annotations

import time
from collections.abc import Hashable

PRUNE_EVERY = 1024  # look for expired entries after this many new ones


class Expiring:
    """Keys that expire at a moment (``time.monotonic()`` seconds)."""

    def __init__(self) -> None:
        self._until: dict[Hashable, float] = {}
        self._added = 0

    def remaining(self, key: Hashable, now: float | None = None) -> float:
        """Seconds until ``key`` expires (0 when it is not held)."""
        now = time.monotonic() if now is None else now
        return max(0.0, self._until.get(key, now) - now)

    def hold(self, key: Hashable, seconds: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._until[key] = now + seconds
        self._added += 1
        if self._added >= PRUNE_EVERY:
            self._added = 0
            self._until = {k: until for k, until in self._until.items() if until > now}

    def __len__(self) -> int:
        return len(self._until)


class Cooldowns(Expiring):
    """A command's cooldown per (command, server, member)."""


class Notices(Expiring):
    """Answers given at most once per interval per key (no chat flooding)."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval

    def first(self, key: Hashable) -> bool:
        """True at most once per ``interval`` for ``key``."""
        now = time.monotonic()
        if self.remaining(key, now) > 0:
            return False
        self.hold(key, self.interval, now)
        return True
