"""Shared by the dashboard tests: a bot with the dashboard on, signing in through !dashboard,
seeding leaderboards and giveaways, and a sample plugin with a signed-link transcript page
(the shape the tickets plugin uses)."""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from logiq_core.app.web.config import WebConfig
from logiq_core.plugin import (
    Access,
    CommandContext,
    FeatureInfo,
    PageRequest,
    Permission,
    Phase,
    PluginContext,
    Render,
    WebError,
    WebPage,
    command,
    dashboard_link,
    hookimpl,
)
from logiq_core.testing.harness import BotHarness

OPS_ENV = "LOGIQ_TEST_OPERATOR_TOKEN"
OPS_TOKEN = "test-operator-token-1234"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EVIL_NAME = "<script>alert('pwned')</script>"


def web_config() -> WebConfig:
    os.environ[OPS_ENV] = OPS_TOKEN
    return WebConfig(enabled=True, host="127.0.0.1", port=0, operator_token_env=OPS_ENV)


# --- a transcript page, as the tickets plugin registers it -----------------------------------------
@dataclass
class StoredTranscript:
    html: str
    opener_id: str
    member_ids: list[str]
    closed_at: float


@dataclass
class TranscriptStore:
    transcripts: dict[tuple[str, str], StoredTranscript] = field(default_factory=dict)

    def transcript(self, server_id: str, ticket_id: str) -> StoredTranscript | None:
        return self.transcripts.get((server_id, ticket_id))


async def transcript_page(request: PageRequest) -> Render:
    found = request.context.get(TranscriptStore).transcript(
        request.server_id, str(request.link.get("ticket"))
    )
    if found is None:
        raise WebError(404, "This ticket has no transcript.")
    viewer = request.viewer_id or ""
    staff = await request.has_permission(viewer, Permission.ManageMessages)
    if viewer not in found.member_ids and not staff:
        raise WebError(403, "This transcript is for the ticket's members and staff.")
    return Render(
        "core:document.html", {"document": found.html, "note": "Ticket transcript"}, title="Transcript"
    )


@command("transcript", description="DM me a link to a transcript")
async def transcript_command(ctx: CommandContext, ticket: str, member: str = "") -> None:
    link = dashboard_link(
        ctx, "transcript", server_id=ctx.server_id, user_id=member or ctx.author_id, params={"ticket": ticket}
    )
    await ctx.reply(f"link: {link}")


class TranscriptsPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="Transcripts (test)", default_phase=Phase.STABLE)

    @hookimpl
    def logiq_register_commands(self, register: Any) -> None:
        register([transcript_command])

    @hookimpl
    def logiq_register_web_pages(self, register: Any) -> None:
        register(WebPage("transcript", "Transcript", transcript_page, access=Access.LINK))

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        context.provide(TranscriptStore())


# --- driving the bot and the pages ---------------------------------------------------------------
def dashboard_url(h: BotHarness) -> str:
    assert h.bot is not None and h.bot.web is not None, "the dashboard did not start"
    return h.bot.web.base_url


async def dm_link(h: BotHarness, user_id: str, marker: str = "/signin/") -> str:
    """Type !dashboard as ``user_id``; the link the bot sends them by DM."""
    waiter = asyncio.ensure_future(
        h.double.wait_for_message(predicate=lambda m: marker in (m.get("content") or ""))
    )
    await asyncio.sleep(0)
    reply = await h.command(user_id, "!dashboard")
    assert "direct message" in reply["content"], reply["content"]
    message = await waiter
    channel = h.double.world.channels[message["channel"]]
    assert channel.get("channel_type") == "DirectMessage" and user_id in channel["recipients"]
    found = re.search(r"(https?://\S+)", message["content"])
    assert found is not None
    return found.group(1)


def new_client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(h: BotHarness, client: aiohttp.ClientSession, user_id: str) -> None:
    link = await dm_link(h, user_id)
    async with client.get(link) as response:
        assert response.status == 200
        token = CSRF.search(await response.text())
    assert token is not None
    async with client.post(link, data={"csrf": token.group(1)}) as response:
        assert response.status == 200, await response.text()
        assert str(response.url).endswith(f"/s/{h.demo.server_id}/")


async def seed_levels(h: BotHarness, xp: dict[str, int]) -> None:
    from logiq_leveling.service import LevelingService

    assert h.bot is not None
    service = h.bot.contexts["leveling"].get(LevelingService)
    for user_id, amount in xp.items():
        await service.change_xp(h.demo.server_id, user_id, h.demo.owner_id, set_to=amount)


async def seed_balances(h: BotHarness, balances: dict[str, int]) -> None:
    from logiq_economy.service import EconomyService

    assert h.bot is not None
    service = h.bot.contexts["economy"].get(EconomyService)
    for user_id, amount in balances.items():
        await service.mint(h.demo.server_id, user_id, amount, key=f"test:{user_id}", memo="test")


async def seed_giveaway(h: BotHarness, entrants: dict[str, int], prize: str = "A shiny stoat") -> Any:
    from logiq_giveaways.models import Entrant, Giveaway
    from logiq_giveaways.service import commitment_of, draw, entrants_hash, new_seed

    seed = new_seed()
    entries = sorted(entrants.items())
    now = datetime.now(UTC)
    g = Giveaway(
        server_id=h.demo.server_id,
        number=1,
        channel_id=h.channel_id(None),
        host_id=h.demo.owner_id,
        prize=prize,
        winners_count=1,
        created_at=now - timedelta(hours=1),
        ends_at=now,
        status="ended",
        seed=seed,
        commitment=commitment_of(seed),
        ended_ts=now.timestamp(),
        entrants=[Entrant(user_id=u, weight=w) for u, w in entries],
        entrants_hash=entrants_hash(entries),
        reacted=len(entries),
        winners=draw(seed, entries, 1),
        announced=True,
    )
    await g.insert()
    return g


def add_member(h: BotHarness, name: str, roles: list[str] | None = None) -> str:
    user = h.double.create_user(name)
    h.double.add_member(h.demo.server_id, user.id, roles if roles is not None else [h.demo.roles["Member"]])
    return user.id


def cached_roles(h: BotHarness, user_id: str) -> list[str]:
    """The member's roles as the bot's cache has them now (none when not cached)."""
    assert h.bot is not None
    member = h.bot.cache.cached_member(h.demo.server_id, user_id)
    return list(member.roles) if member is not None else []
