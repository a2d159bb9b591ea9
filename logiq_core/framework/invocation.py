"""Which feature and server the running code works for, so Stoat calls are attributed to it.

The dispatcher, the command router and the job scheduler set it around plugin code; the REST
client's observer reads it to record Stoat API latency and failures per feature and server,
and to note when the invocation's first Stoat call completed (its response time).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Invocation:
    """One run of a feature's code: a command, a listener call, a job or a timer run.

    ``started`` is when the member's message (or the event) reached the bot, on the
    :func:`time.perf_counter` clock; ``first_call_done`` when the first Stoat call made on its
    behalf completed; ``api_failed`` whether any Stoat call made on its behalf failed.
    """

    feature: str
    server_id: str | None
    started: float = field(default_factory=time.perf_counter)
    kind: str = "listener"  # "command", "listener", "job" or "timer"
    first_call_done: float | None = None
    api_failed: bool = False
    failed: bool = False  # the feature's code reported a failure it answered itself (record_error)

    @property
    def is_use(self) -> bool:
        """Whether it counts as a member using the feature (for adoption): a command is."""
        return self.kind == "command"


current_invocation: ContextVar[Invocation | None] = ContextVar("logiq_invocation", default=None)
