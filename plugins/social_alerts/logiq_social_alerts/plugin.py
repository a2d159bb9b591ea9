"""The social alerts plugin's hooks: thin wiring from the core to the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from beanie import Document

from logiq_core.plugin import (
    FeatureInfo,
    Phase,
    PluginContext,
    Register,
    SendableEmbed,
    Timer,
    TimerHandler,
    hookimpl,
    neutralise_mentions,
)
from logiq_social_alerts.commands import ALL_COMMANDS
from logiq_social_alerts.config import AlertSettings
from logiq_social_alerts.feeds import Item, plain, render
from logiq_social_alerts.models import DOCUMENTS, AlertSubscription
from logiq_social_alerts.service import AlertsService

POLL_ROUND = "poll-round"
ROUND_KEY = "round"
MAX_CONTENT = 1900  # Stoat's 2000 bytes (content plus embed description), with a margin


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "…"


class StoatPoster:
    """Posts alerts to Stoat: an embed, masquerading as the source; feed text never pings."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    async def post_items(
        self, sub: AlertSubscription, items: list[Item], source: str, skipped: int, *, test: bool = False
    ) -> None:
        if not test and not self.ctx.is_enabled(sub.server_id):
            return  # the rollout gate has the feature off on this server
        name = plain(neutralise_mentions(source), 32) or "Alerts"
        masquerade = {"name": name[:32]}
        api = self.ctx.api
        if skipped:
            await api.send_message(
                sub.channel_id,
                neutralise_mentions(
                    f"…and {skipped} older new item(s) from {source} (not posted, to avoid a flood)."
                ),
                masquerade=masquerade,
            )
        for item in items:
            text = neutralise_mentions(render(sub.template, item, source))
            if test:
                text = "(test) " + text
            if sub.role_id:  # the only mention an alert may carry: the role its managers chose
                text = f"<%{sub.role_id}> {text}"
            description = neutralise_mentions(item.summary)
            if item.author:
                description = neutralise_mentions(f"{item.author}: ") + description
            description = _cut(description, 400)
            content = _cut(text, MAX_CONTENT - len(description.encode()))
            web_link = item.link.startswith(("https://", "http://")) and len(item.link) <= 256  # spec cap
            link = item.link if web_link else None
            embed = SendableEmbed(
                title=_cut(neutralise_mentions(item.title or source), 100),
                description=description or None,
                url=link,
                colour="#ff9900",
            )
            await api.send_message(sub.channel_id, content, embeds=[embed], masquerade=masquerade)

    async def warn(self, sub: AlertSubscription, text: str) -> None:
        name = plain(neutralise_mentions(sub.name), 32) or "Alerts"
        await self.ctx.api.send_message(sub.channel_id, neutralise_mentions(text), masquerade={"name": name})


async def poll_round(ctx: PluginContext, timer: Timer) -> None:
    """Every tick: poll the feeds that are due (each distinct URL once)."""
    stats = await ctx.get(AlertsService).poll_round()
    if stats.polled:
        ctx.logger.debug(
            "polled {} feed(s): {} unchanged, {} new item(s), {} failed",
            stats.polled,
            stats.not_modified + stats.unchanged,
            stats.new_items,
            stats.failed,
        )


class SocialAlertsPlugin:
    """New posts from feeds and social sites, announced once in a channel."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "social_alerts",
            "New posts from RSS/Atom/JSON feeds, YouTube, Reddit, Mastodon, Bluesky and GitHub, "
            "and Twitch streams going live, announced once",
            Phase.INTERNAL,
            5.0,
            config=AlertSettings,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_timers(self, register: Callable[[TimerHandler], None]) -> None:
        register(TimerHandler(POLL_ROUND, poll_round, timeout=600.0))

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> Awaitable[Any]:
        settings = AlertSettings.of(context)
        credentials = settings.twitch_credentials
        if credentials is not None and not settings.twitch_configured:  # the operator meant to have Twitch
            context.logger.warning(
                "twitch: alerts are refused: the environment variable {} "
                "(twitch_client_secret_env) is not set",
                credentials.secret_env,
            )
        service = AlertsService(
            context.http,
            StoatPoster(context),
            settings,
            clock=lambda: context.bot.timers.clock(),
            logger=context.logger,
        )
        context.provide(service)
        tick = timedelta(seconds=settings.tick_seconds)
        return context.timers.schedule(POLL_ROUND, ROUND_KEY, tick, every=tick)
