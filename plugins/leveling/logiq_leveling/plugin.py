"""The leveling plugin's hooks: thin wiring from the core's hooks to the service."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from beanie import Document

from logiq_core.plugin import (
    FeatureInfo,
    Job,
    Listener,
    MessageEvent,
    Phase,
    PluginContext,
    Register,
    ServerMemberJoin,
    StoatAPIError,
    hookimpl,
)
from logiq_leveling.commands import ALL_COMMANDS
from logiq_leveling.config import LevelingConfig
from logiq_leveling.models import DOCUMENTS
from logiq_leveling.rewards import apply_rewards, on_level_change
from logiq_leveling.service import LevelChange, LevelingService


async def is_command(ctx: PluginContext, server_id: str, content: str) -> bool:
    """Commands and anything said to the bot by mention earn no XP."""
    return content.startswith(f"<@{ctx.bot_user_id}>") or await ctx.is_command(server_id, content)


async def xp_listener(ctx: PluginContext, event: MessageEvent) -> None:
    """Every member message may earn XP; the award is in memory, written by the next flush."""
    server_id = event.server_id_hint
    if server_id is None or event.author == ctx.bot_user_id or event.system is not None:
        return
    if event.webhook is not None or (event.masquerade is not None and event.author == ctx.bot_user_id):
        return
    user = ctx.cache.users.get(event.author) or event.user
    is_bot = user is not None and user.bot is not None
    if is_bot:
        return
    if await is_command(ctx, server_id, event.content or ""):
        return  # commands earn nothing: `!rank` spam is not chatting
    member = ctx.cache.cached_member(server_id, event.author)
    if member is None:
        member = await ctx.cache.member(server_id, event.author)
    await ctx.get(LevelingService).award_message(
        server_id, event.author, event.channel, member.roles or (), len(event.content or "")
    )


async def rejoin_listener(ctx: PluginContext, event: ServerMemberJoin) -> None:
    """A member who comes back gets the rewards of the XP they kept."""
    service = ctx.get(LevelingService)
    settings = await service.settings(event.id)
    if not settings.rewards:
        return
    with contextlib.suppress(StoatAPIError):
        await apply_rewards(ctx, service, event.id, event.user)


async def continue_sync(ctx: PluginContext, server_id: str | None) -> None:
    """Advance a ``!levels sync`` by one paced batch, remembering where it got to."""
    if server_id is None:
        return
    service = ctx.get(LevelingService)
    run = await service.active_sync(server_id)
    if run is None:
        return
    batch = await service.sync_batch(server_id, run.cursor, LevelingConfig.of(ctx).sync_batch)
    for user_id, xp in batch:
        with contextlib.suppress(StoatAPIError):
            run.changed += await apply_rewards(ctx, service, server_id, user_id, xp)
        run.checked += 1
        run.cursor = user_id
    if not batch:
        run.finished, run.finished_at = True, datetime.now(UTC)
    await run.save()  # progress survives a restart: the next run starts after the cursor
    if run.finished:
        with contextlib.suppress(StoatAPIError):
            await ctx.api.send_message(
                run.channel_id,
                f"Sync done: {run.checked} member(s) checked, {run.changed} had their reward roles updated.",
            )


class LevelingPlugin:
    """XP for chatting, levels, role rewards, a rank card, boards, CSV import and export."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "leveling",
            "XP for chatting, levels, role rewards, a rank card, boards, CSV import and export",
            Phase.GRADUAL,
            50.0,
            config=LevelingConfig,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, xp_listener, timeout=10.0))
        register(Listener(ServerMemberJoin, rejoin_listener, timeout=30.0))

    @hookimpl
    def logiq_register_jobs(self, register: Callable[[Job], None], config: LevelingConfig) -> None:
        register(Job("levels-sync", config.sync_interval_seconds, continue_sync))

    @hookimpl
    def logiq_register_web_pages(self, register: Register) -> None:
        from logiq_leveling.web import WEB_ITEMS

        register(WEB_ITEMS)

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        service = LevelingService(LevelingConfig.of(context))

        async def level_changed(change: LevelChange) -> None:
            try:
                await on_level_change(context, service, change)
            except Exception as exc:
                context.logger.opt(exception=exc).warning("leveling: level-up handling failed")

        service.on_level_change = level_changed
        context.provide(service)
        service.start()

    @hookimpl
    async def logiq_shutdown(self, context: PluginContext) -> None:
        with contextlib.suppress(KeyError):
            await context.get(LevelingService).stop()
