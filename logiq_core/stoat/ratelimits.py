"""Client-side rate-limit buckets, driven by what the server states (PROTOCOL.md §6).

Stoat answers every request with ``X-RateLimit-Bucket``, ``-Remaining`` and ``-Reset-After``
(ms). The client keeps one state per route key (the server's bucket scoping: messaging and
channels per channel, servers per server, the rest global) and waits before sending into a spent
bucket, instead of collecting 429s.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

_CHANNEL = re.compile(r"^/channels/([^/]+)")
_SERVER = re.compile(r"^/servers/([^/]+)")


@lru_cache(maxsize=4096)  # a bot sends to the same few channels and servers again and again
def route_key(method: str, path: str) -> str:
    """The bucket a request falls into, keyed by its resource (mirrors the server's table)."""
    path = path.removeprefix("/0.8")
    if match := _CHANNEL.match(path):
        if method == "POST" and path.endswith("/messages"):
            return f"messaging:{match.group(1)}"
        return f"channels:{match.group(1)}"
    if match := _SERVER.match(path):
        return f"servers:{match.group(1)}"
    if path.startswith("/users/"):
        return "user_edit" if method == "PATCH" else "users"
    if path.startswith("/bots/"):
        return "bots"
    return "any"


@dataclass
class BucketState:
    remaining: int | None = None  # None: not learnt yet, send freely
    reset_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RateLimiter:
    """Per-route-key buckets; ``acquire`` waits while a bucket is known to be spent."""

    def __init__(self) -> None:
        self._buckets: dict[str, BucketState] = {}
        self.waits = 0
        self.waited_seconds = 0.0

    def bucket(self, key: str) -> BucketState:
        state = self._buckets.get(key)
        if state is None:
            state = self._buckets[key] = BucketState()
        return state

    async def acquire(self, key: str) -> None:
        state = self.bucket(key)
        async with state.lock:
            now = time.monotonic()
            if state.remaining is not None and state.remaining <= 0 and now < state.reset_at:
                delay = state.reset_at - now
                self.waits += 1
                self.waited_seconds += delay
                await asyncio.sleep(delay)
                state.remaining = None  # a fresh window: learn it again from the response
            elif state.remaining is not None and now >= state.reset_at:
                state.remaining = None
            if state.remaining is not None:
                state.remaining -= 1  # claim a slot for this in-flight request

    def update(self, key: str, headers: Mapping[str, str]) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        reset_after = headers.get("X-RateLimit-Reset-After")
        if remaining is None or reset_after is None:
            return  # e.g. a proxy's answer: nothing learnt
        try:
            state = self.bucket(key)
            state.remaining = int(remaining)
            state.reset_at = time.monotonic() + int(float(reset_after)) / 1000
        except ValueError:
            return

    def spend(self, key: str, retry_after_seconds: float) -> None:
        """Mark a bucket spent after a 429, so concurrent senders wait too."""
        state = self.bucket(key)
        state.remaining = 0
        state.reset_at = time.monotonic() + retry_after_seconds
