"""Background jobs that plugins register (see ``logiq_register_jobs``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logiq_core.framework.context import PluginContext

JobHandler = Callable[["PluginContext", "str | None"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    """Run ``handler(ctx, server_id)`` every ``every_seconds``.

    With ``per_server`` (the default) the core calls it once per server the bot is in where the
    rollout gate enables the feature; otherwise once per run with ``server_id=None`` (the job
    must then ask ``ctx.is_enabled(server_id)`` itself before acting on a server).
    """

    name: str
    every_seconds: float
    handler: JobHandler
    per_server: bool = True
    timeout: float = 60.0
