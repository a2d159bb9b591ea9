"""The giveaways plugin's hooks: thin wiring from the core's hooks to the service."""

from __future__ import annotations

from collections.abc import Callable

from beanie import Document

from logiq_core.plugin import (
    BulkMessageDelete,
    FeatureInfo,
    Listener,
    MessageDelete,
    MessageReact,
    Phase,
    PluginContext,
    Register,
    Timer,
    TimerHandler,
    hookimpl,
)
from logiq_giveaways.commands import ALL_COMMANDS
from logiq_giveaways.config import GiveawaysConfig
from logiq_giveaways.models import DOCUMENTS
from logiq_giveaways.service import EMOJI, END_GIVEAWAY, GiveawayService


async def end_giveaway(ctx: PluginContext, timer: Timer) -> None:
    """A giveaway's end is due: draw and announce (idempotent; a retry announces a result
    whose process died before announcing it)."""
    await ctx.get(GiveawayService).end(str(timer.payload["giveaway"]), recover=timer.attempt > 1)


async def message_deleted(ctx: PluginContext, event: MessageDelete) -> None:
    await ctx.get(GiveawayService).message_deleted(event.channel, [event.id])


async def reacted(ctx: PluginContext, event: MessageReact) -> None:
    """Entering a giveaway: a member below its level requirement is refused at once."""
    if event.emoji_id.replace("\ufe0f", "") == EMOJI:
        await ctx.get(GiveawayService).entered(event.channel_id, event.id, event.user_id)


async def messages_deleted(ctx: PluginContext, event: BulkMessageDelete) -> None:
    await ctx.get(GiveawayService).message_deleted(event.channel, event.ids)


class GiveawaysPlugin:
    """Timed giveaways with requirements, bonus entries and draws anyone can verify."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "giveaways",
            "Timed giveaways with role requirements, bonus entries, rerolls and verifiable draws",
            Phase.BETA,
            25.0,
            config=GiveawaysConfig,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageDelete, message_deleted))
        register(Listener(BulkMessageDelete, messages_deleted))
        register(Listener(MessageReact, reacted))

    @hookimpl
    def logiq_register_timers(self, register: Callable[[TimerHandler], None]) -> None:
        # Reading every reactor and their membership can take a while on a big giveaway.
        register(TimerHandler(END_GIVEAWAY, end_giveaway, timeout=120.0))

    @hookimpl
    def logiq_register_web_pages(self, register: Register) -> None:
        from logiq_giveaways.web import WEB_ITEMS

        register(WEB_ITEMS)

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        context.provide(GiveawayService(context))
