"""A well-behaved third-party plugin: a command, a listener and a counter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from logiq_core.framework.commands import Command, CommandContext, Rest, command
from logiq_core.framework.context import PluginContext
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.listeners import Listener
from logiq_core.stoat.events import MessageEvent


class MessageCounter:
    """Counts the messages this plugin's listener saw, per server."""

    def __init__(self) -> None:
        self.seen: dict[str | None, int] = {}

    def count(self, server_id: str | None) -> None:
        self.seen[server_id] = self.seen.get(server_id, 0) + 1


@command("hello", description="Say hello back", cooldown=0)
async def hello(ctx: CommandContext, name: Rest = "") -> None:
    await ctx.reply(f"Hello, {name or 'there'}!")


async def count_message(ctx: PluginContext, event: MessageEvent) -> None:
    ctx.get(MessageCounter).count(event.server_id_hint)


class HelloPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("hello", "Says hello (a sample third-party plugin)", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_commands(self, register: Callable[[Command], None]) -> None:
        register(hello)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, count_message))

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        context.provide(MessageCounter())

    @hookimpl
    def logiq_shutdown(self, context: PluginContext) -> Any:
        return None
