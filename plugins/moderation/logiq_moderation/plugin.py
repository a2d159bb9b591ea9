"""The moderation plugin's hooks: thin wiring from the core's hooks to the service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from beanie import Document

from logiq_core.plugin import (
    FeatureInfo,
    Job,
    Listener,
    MessageEvent,
    PageRequest,
    Permission,
    Phase,
    PluginContext,
    Register,
    StoatAPIError,
    Timer,
    TimerHandler,
    WebSettings,
    hookimpl,
)
from logiq_moderation.commands import ALL_COMMANDS
from logiq_moderation.config import ModerationConfig
from logiq_moderation.models import DOCUMENTS
from logiq_moderation.service import LIFT_BAN, ModerationService, utcnow


async def automod_listener(ctx: PluginContext, event: MessageEvent) -> None:
    """Check every message against the server's automod rules and act on what trips."""
    server_id = event.server_id_hint
    if server_id is None or not event.content or event.author == ctx.bot_user_id:
        return
    service = ctx.get(ModerationService)
    compiled, settings = await service.compiled_rules(server_id)
    if not compiled.rules or event.channel in settings.exempt_channels:
        return
    author = ctx.cache.users.get(event.author)
    if author is not None and author.is_bot:
        return
    member = await ctx.cache.member(server_id, event.author)
    if set(member.roles) & set(settings.exempt_roles):
        return
    if ctx.cache.channel_permissions_of(member, event.channel) & Permission.ManageMessages:
        return  # moderators are trusted
    verdicts = compiled.check(event.author, event.content, time.monotonic())
    for slow in compiled.timed_out:
        ctx.logger.warning(
            "automod pattern rule {} timed out on message {} ({}counted as a hit)",
            slow.id,
            event.id,
            "" if compiled.timeout_counts_as_hit else "not ",
        )
    if not verdicts:
        return
    rule = max(
        verdicts, key=lambda v: ("delete", "warn", "timeout", "kick", "ban").index(v.rule.action)
    ).rule  # the strongest action wins
    detail = next(v.detail for v in verdicts if v.rule is rule)
    reason = f"automod rule {rule.id} ({rule.kind}): {detail}"
    try:
        await ctx.api.delete_message(event.channel, event.id)
    except StoatAPIError as exc:
        ctx.logger.warning("automod could not delete a message: {}", exc)
    action = rule.action
    if action == "delete":
        return
    bot = await ctx.cache.member(server_id, ctx.bot_user_id)
    if ctx.cache.ranking(member) <= ctx.cache.ranking(bot):
        ctx.logger.info("automod: cannot {} {} (ranked above me)", action, event.author)
        return
    if action == "warn":
        await service.record(
            server_id, "warn", ctx.bot_user_id, event.author, reason, automod_rule=str(rule.id)
        )
    elif action == "timeout":
        until = utcnow() + timedelta(seconds=rule.duration_seconds or 600)
        await ctx.api.edit_member(server_id, event.author, timeout_until=until)
        await service.record(
            server_id,
            "timeout",
            ctx.bot_user_id,
            event.author,
            reason,
            expires_at=until,
            automod_rule=str(rule.id),
        )
    elif action == "kick":
        await ctx.api.kick_member(server_id, event.author)
        await service.record(
            server_id, "kick", ctx.bot_user_id, event.author, reason, automod_rule=str(rule.id)
        )
    elif action == "ban":
        await ctx.api.ban_user(server_id, event.author, reason[:1024])
        await service.record(
            server_id, "ban", ctx.bot_user_id, event.author, reason, automod_rule=str(rule.id)
        )


async def lift_ban(ctx: PluginContext, timer: Timer) -> None:
    """A temporary ban's timer is due: unban and record the case (safe to run twice)."""
    if timer.server_id is not None:
        await ctx.get(ModerationService).lift_ban(
            timer.server_id, str(timer.payload["user_id"]), int(timer.payload["case_number"])
        )


async def deliver_modlog_outbox(ctx: PluginContext, server_id: str | None) -> None:
    if server_id is not None:
        await ctx.get(ModerationService).deliver_outbox(server_id)


class ModerationPlugin:
    """Kick, ban, timeout, warnings with escalation, purge, lock, cases, mod log, automod."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "moderation",
            "Kick, ban, timeout, warnings, purge, lock, numbered cases, a mod log and automod",
            Phase.STABLE,
            100.0,
            config=ModerationConfig,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, automod_listener, timeout=5.0))

    @hookimpl
    def logiq_register_timers(self, register: Callable[[TimerHandler], None]) -> None:
        register(TimerHandler(LIFT_BAN, lift_ban))

    @hookimpl
    def logiq_register_jobs(self, register: Callable[[Job], None], config: ModerationConfig) -> None:
        register(Job("modlog-outbox", config.modlog_outbox_seconds, deliver_modlog_outbox))

    @hookimpl
    def logiq_register_web_pages(self, register: Register) -> None:
        async def settings(request: PageRequest) -> list[tuple[str, str]]:
            found = await request.context.get(ModerationService).settings(request.server_id)
            return request.describe(found, skip=("next_rule_id",))

        register(WebSettings(settings))

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> Awaitable[int]:
        service = ModerationService(context)
        context.provide(service)
        return service.adopt_legacy_tempbans()
