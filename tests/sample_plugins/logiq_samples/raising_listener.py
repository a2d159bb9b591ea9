"""A plugin whose listener raises on every message."""

from __future__ import annotations

from collections.abc import Callable

from logiq_core.framework.context import PluginContext
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.listeners import Listener
from logiq_core.stoat.events import MessageEvent


async def explode(ctx: PluginContext, event: MessageEvent) -> None:
    raise RuntimeError("sample listener failure")


class RaisingListenerPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("raising_listener", "Its listener always raises", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, explode))
