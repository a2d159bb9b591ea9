"""Waiting in tests without fixed sleeps: poll a condition until it holds, with a deadline.

::

    from logiq_core.testing.poll import eventually

    await eventually(lambda: user in h.reactions(message).get("🪙", []), message="no coin")
    await eventually(lambda: timers.get("kept"))      # an async check works the same

A "nothing happened" check does not sleep either: make something happen *after* the thing
that must not happen (a later command, a barrier timer) and wait for that instead; whatever
was going to happen first has happened by then.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.02


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    message: str = "the condition never held",
    *,
    interval: float = POLL_SECONDS,
) -> T:
    """Poll ``check`` (sync, async, or returning an awaitable) until it returns something
    truthy; return that value. Fails with ``AssertionError(message)`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (waited {timeout:.1f}s)")
        await asyncio.sleep(interval)
