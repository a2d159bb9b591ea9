"""The verification plugin's hooks: thin wiring from the core's hooks to the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from beanie import Document

from logiq_core.plugin import (
    FeatureInfo,
    Listener,
    PageRequest,
    Phase,
    PluginContext,
    Register,
    Timer,
    TimerHandler,
    WebSettings,
    events,
    hookimpl,
)
from logiq_verification.commands import ALL_COMMANDS
from logiq_verification.config import VerificationConfig
from logiq_verification.models import DOCUMENTS
from logiq_verification.service import KICK_DEADLINE, VerificationService


async def on_join(ctx: PluginContext, event: events.ServerMemberJoin) -> None:
    if event.user != ctx.bot_user_id:
        await ctx.get(VerificationService).on_join(event.id, event.user)


async def on_leave(ctx: PluginContext, event: events.ServerMemberLeave) -> None:
    await ctx.get(VerificationService).on_leave(event.id, event.user)


async def on_react(ctx: PluginContext, event: events.MessageReact) -> None:
    if event.server_id_hint is not None and event.user_id != ctx.bot_user_id:
        await ctx.get(VerificationService).on_reaction(
            event.server_id_hint, event.id, event.user_id, event.emoji_id
        )


async def on_message(ctx: PluginContext, event: events.MessageEvent) -> None:
    if event.server_id_hint is not None and event.content and event.author != ctx.bot_user_id:
        await ctx.get(VerificationService).on_answer(
            event.server_id_hint, event.channel, event.id, event.author, event.content
        )


async def kick_deadline(ctx: PluginContext, timer: Timer) -> None:
    """A newcomer's verification deadline is due: kick them if they are still unverified."""
    if timer.server_id is not None:
        await ctx.get(VerificationService).kick_if_unverified(timer.server_id, str(timer.payload["user_id"]))


class VerificationPlugin:
    """Reaction or challenge verification, account-age hold, kick deadlines and a raid guard."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "verification",
            "Verify newcomers by reaction or challenge, hold young accounts, guard against raids",
            Phase.STABLE,
            100.0,
            config=VerificationConfig,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(events.ServerMemberJoin, on_join))
        register(Listener(events.ServerMemberLeave, on_leave))
        register(Listener(events.MessageReact, on_react))
        register(Listener(events.MessageEvent, on_message))

    @hookimpl
    def logiq_register_timers(self, register: Callable[[TimerHandler], None]) -> None:
        register(TimerHandler(KICK_DEADLINE, kick_deadline))

    @hookimpl
    def logiq_register_web_pages(self, register: Register) -> None:
        async def settings(request: PageRequest) -> list[tuple[str, str]]:
            found = await request.context.get(VerificationService).settings(request.server_id)
            return request.describe(found, skip=("message_id", "configured_by"))

        register(WebSettings(settings))

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> Awaitable[int]:
        service = VerificationService(context)
        context.provide(service)
        return service.adopt_legacy_deadlines()
