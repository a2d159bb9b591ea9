"""A plugin whose listener never returns (the core's timeout must cut it off)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from logiq_core.context import PluginContext
from logiq_core.events import MessageEvent
from logiq_core.features import FeatureInfo, Phase
from logiq_core.hookspecs import hookimpl
from logiq_core.listeners import Listener


async def hang(ctx: PluginContext, event: MessageEvent) -> None:
    await asyncio.Event().wait()


class HangingListenerPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("hanging_listener", "Its listener never returns", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, hang, timeout=0.5))
