"""A plugin whose listener never returns (the core's timeout must cut it off)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from logiq_core.framework.context import PluginContext
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.listeners import Listener
from logiq_core.stoat.events import MessageEvent


async def hang(ctx: PluginContext, event: MessageEvent) -> None:
    await asyncio.Event().wait()


class HangingListenerPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("hanging_listener", "Its listener never returns", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, hang, timeout=0.05))  # short: tests wait it out
