"""Which feature and server the running code works for, so Stoat calls are attributed to it.

The dispatcher, the command router and the job scheduler set it around plugin code; the REST
client's observer reads it to record Stoat API latency and failures per feature and server.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Invocation:
    feature: str
    server_id: str | None


current_invocation: ContextVar[Invocation | None] = ContextVar("logiq_invocation", default=None)
