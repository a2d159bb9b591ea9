"""Event listeners that plugins register (see ``logiq_register_listeners``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logiq_core.context import PluginContext

ListenerHandler = Callable[["PluginContext", Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Listener:
    """Call ``handler(ctx, event)`` for every event of ``event_type`` (a class from
    :mod:`logiq_core.events`) on servers where the plugin's feature is enabled.

    ``timeout`` bounds one call; a listener that exceeds it is cancelled and counted as failed.
    """

    event_type: type
    handler: ListenerHandler
    timeout: float = 10.0

    @property
    def name(self) -> str:
        return getattr(self.handler, "__qualname__", repr(self.handler))
