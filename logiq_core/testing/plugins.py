"""Plugins made in a test, without a distribution of their own."""

from __future__ import annotations

from typing import Any

from logiq_core.plugin import FeatureInfo, Listener, Phase, Register, hookimpl


class ListenerPlugin:
    """A feature that is nothing but its listeners: pass it to ``BotHarness(extra_plugins=...)``::

    ears = ListenerPlugin("hears every message", Listener(MessageEvent, hear))
    async with BotHarness(data_dir=tmp_path, extra_plugins={"ears": ears}) as h:
        ...
    """

    def __init__(self, description: str, *listeners: Listener[Any], phase: Phase = Phase.STABLE) -> None:
        self.description = description
        self.listeners = listeners
        self.phase = phase

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description=self.description, default_phase=self.phase)

    @hookimpl
    def logiq_register_listeners(self, register: Register) -> None:
        for listener in self.listeners:
            register(listener)
