"""The double's rate limiter: Stoat's fixed 10-second windows per bucket (PROTOCOL.md §6)."""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass

DEFAULT_LIMITS = {
    "messaging": 10,
    "channels": 15,
    "servers": 5,
    "users": 20,
    "user_edit": 2,
    "bots": 10,
    "any": 20,
    "upload": 10,
}

_CHANNEL = re.compile(r"^/channels/([^/]+)")
_SERVER = re.compile(r"^/servers/([^/]+)")


def bucket_of(method: str, path: str) -> tuple[str, str]:
    """(bucket name, resource id) as the server scopes them."""
    if match := _CHANNEL.match(path):
        if method == "POST" and "/messages" in path and not path.endswith("/search"):
            return "messaging", match.group(1)
        return "channels", match.group(1)
    if match := _SERVER.match(path):
        return "servers", match.group(1)
    if path.startswith("/users/"):
        return ("user_edit" if method == "PATCH" else "users"), ""
    if path.startswith("/bots/"):
        return "bots", ""
    return "any", ""


@dataclass
class Window:
    started: float
    used: int = 0


class DoubleRateLimiter:
    """Counts requests per (identity, bucket, resource) in fixed windows."""

    def __init__(
        self,
        window_seconds: float = 10.0,
        limits: dict[str, int] | None = None,
        enabled: bool = True,
    ) -> None:
        self.window_seconds = window_seconds
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.enabled = enabled
        self._windows: dict[tuple[str, str, str], Window] = {}

    def hit(self, identity: str, method: str, path: str) -> tuple[bool, dict[str, str], float]:
        """Count one request: (allowed, headers, retry_after_seconds)."""
        bucket, resource = bucket_of(method, path)
        return self.hit_bucket(identity, bucket, resource)

    def hit_bucket(self, identity: str, bucket: str, resource: str) -> tuple[bool, dict[str, str], float]:
        """Count one request in a named bucket (Autumn's ``upload`` bucket is per tag)."""
        limit = self.limits.get(bucket, 20)
        key = (identity, bucket, resource)
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window.started >= self.window_seconds:
            window = self._windows[key] = Window(now)
        reset_after = max(0.0, window.started + self.window_seconds - now)
        allowed = not self.enabled or window.used < limit
        if allowed:
            window.used += 1
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Bucket": str(zlib.crc32(f"{bucket}:{resource}".encode())),
            "X-RateLimit-Remaining": str(max(0, limit - window.used) if self.enabled else limit),
            "X-RateLimit-Reset-After": str(int(reset_after * 1000)),
        }
        return allowed, headers, reset_after
