"""A plugin whose listener raises on every message."""

from __future__ import annotations

from collections.abc import Callable

from logiq_core.context import PluginContext
from logiq_core.events import MessageEvent
from logiq_core.features import FeatureInfo, Phase
from logiq_core.hookspecs import hookimpl
from logiq_core.listeners import Listener


async def explode(ctx: PluginContext, event: MessageEvent) -> None:
    raise RuntimeError("sample listener failure")


class RaisingListenerPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("raising_listener", "Its listener always raises", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, explode))
