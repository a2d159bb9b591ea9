"""Shared helpers for the tickets tests: the double, the real bot and the embedded storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from logiq_core.plugin import Permission as P
from logiq_core.testing.harness import BotHarness, LogiqHarness


@asynccontextmanager
async def tickets_harness(make: LogiqHarness, **options: Any) -> AsyncIterator[BotHarness]:
    """The bot with tickets at beta, the demo server counted as internal (so it has the
    feature; direct messages stay outside the gate as they would for a beta feature), made
    with the ``logiq_harness`` fixture (which also fails the test on any request that breaks
    Stoat's API specification)."""
    options.setdefault("plugin_config", {"tickets": {"min_autoclose_seconds": 1}})
    async with make(["tickets"], rollout={"tickets": "beta"}, **options) as h:
        await h.count_as_internal(True)
        yield h


def can(h: BotHarness, channel_id: str, user_id: str, bits: int = P.ViewChannel | P.SendMessage) -> bool:
    """Whether the double's own permission computation lets ``user_id`` do ``bits`` there."""
    return h.double.world.channel_permissions(channel_id, user_id) & bits == bits


def bot_messages(h: BotHarness, channel_id: str) -> list[dict[str, Any]]:
    return [m for m in h.double.messages_in(channel_id) if m["author"] == h.demo.bot_id]


def dm_of(h: BotHarness, user_id: str) -> str | None:
    for channel in h.double.world.channels.values():
        if channel["channel_type"] == "DirectMessage" and set(channel["recipients"]) == {
            user_id,
            h.demo.bot_id,
        }:
            return str(channel["_id"])
    return None


async def setup_channel_mode(h: BotHarness, extra: str = "") -> dict[str, Any]:
    d = h.demo
    reply = await h.command(
        d.ada, f"!tickets setup <%{d.roles['Moderator']}> <#{d.channels['mod-log']}> {extra}".strip()
    )
    assert "Tickets are set up" in reply["content"], reply
    return reply
