"""The tickets plugin's hooks: thin wiring from the core's hooks to the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from beanie import Document

from logiq_core.plugin import (
    ChannelDelete,
    FeatureInfo,
    Job,
    Listener,
    MessageEvent,
    MessageReact,
    MessageUpdate,
    Phase,
    PluginContext,
    Register,
    Timer,
    TimerHandler,
    hookimpl,
)
from logiq_tickets.commands import ALL_COMMANDS
from logiq_tickets.config import TicketsConfig
from logiq_tickets.models import DOCUMENTS
from logiq_tickets.service import IDLE_TIMER, TicketsService


async def on_message(ctx: PluginContext, event: MessageEvent) -> None:
    await ctx.get(TicketsService).on_message(event)


async def on_edit(ctx: PluginContext, event: MessageUpdate) -> None:
    await ctx.get(TicketsService).on_edit(event)


async def on_react(ctx: PluginContext, event: MessageReact) -> None:
    await ctx.get(TicketsService).on_react(event)


async def on_channel_delete(ctx: PluginContext, event: ChannelDelete) -> None:
    await ctx.get(TicketsService).channel_deleted(event.id)


async def recover(ctx: PluginContext, server_id: str | None) -> None:
    if server_id is not None:
        await ctx.get(TicketsService).recover(server_id)


async def idle(ctx: PluginContext, timer: Timer) -> None:
    await ctx.get(TicketsService).idle_check(str(timer.payload["ticket"]))


class TicketsPlugin:
    """Private support conversations between a member and staff."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "tickets",
            "Private support tickets: panels, claim, transcripts in a log channel, ratings, auto-close",
            Phase.BETA,
            25.0,
            config=TicketsConfig,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener[Any]], None]) -> None:
        # Relay tickets live in direct messages, and ratings are asked for there too.
        register(Listener(MessageEvent, on_message, timeout=30.0, direct_messages=True))
        register(Listener(MessageReact, on_react, timeout=60.0, direct_messages=True))
        register(Listener(MessageUpdate, on_edit))
        register(Listener(ChannelDelete, on_channel_delete, timeout=60.0))

    @hookimpl
    def logiq_register_jobs(self, register: Callable[[Job], None]) -> None:
        register(Job("recover", every_seconds=300.0, handler=recover, timeout=240.0))

    @hookimpl
    def logiq_register_timers(self, register: Callable[[TimerHandler], None]) -> None:
        register(TimerHandler(IDLE_TIMER, idle, timeout=120.0))

    @hookimpl
    def logiq_register_web_pages(self, register: Register) -> None:
        from logiq_tickets.web import WEB_ITEMS  # the dashboard's code only when it is asked for

        register(WEB_ITEMS)

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        context.provide(TicketsService(context))
