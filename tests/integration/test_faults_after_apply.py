"""Faults after Stoat applied a request (issue 10): a lost answer never becomes a wrong one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from logiq_moderation.models import ModCase
from logiq_moderation.service import ModerationService

from logiq_core.stoat.rest import StoatAPI
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.stoat import StoatDouble, build_demo

CONFIG = {"moderation": {"modlog_outbox_seconds": 0.2}}


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


async def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_a_send_whose_answer_was_lost_is_a_success_not_a_duplicate_nonce() -> None:
    async with StoatDouble() as double:
        demo = build_demo(double)
        double.fail_next("POST", r"/channels/.+/messages$", 502, after_handling=True)
        async with StoatAPI(double.api_url, demo.bot_token, backoff_seconds=0.01) as api:
            message = await api.send_message(demo.channels["general"], "sent once")
        sent = [m for m in double.sent_messages if m.get("content") == "sent once"]
        assert [m["_id"] for m in sent] == [message.id]  # posted once, and found again


async def test_ping_after_a_lost_answer_gets_one_reply_and_no_error(tmp_path: Path) -> None:
    async with BotHarness(data_dir=tmp_path, rest_backoff_seconds=0.01) as h:
        d = h.demo
        h.double.fail_next("POST", r"/channels/.+/messages$", 502, after_handling=True)
        reply = await h.command(d.member_ids[0], "!ping")
        assert reply["content"].startswith("Pong")
        assert h.bot is not None
        await h.settle()  # the command has finished, answers and all
        texts = [m.get("content") or "" for m in h.double.sent_messages]
        assert sum(t.startswith("Pong") for t in texts) == 1
        assert not [t for t in texts if "DuplicateNonce" in t or "refused" in t]


async def test_kick_and_unban_whose_retry_finds_them_done_record_the_case(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path, rest_backoff_seconds=0.01) as h:
        d = h.demo
        alice, carol = d.member_ids[0], d.member_ids[2]
        h.double.fail_next("DELETE", rf"/servers/.+/members/{alice}$", 502, after_handling=True)
        reply = await h.command(d.moderator_id, f"!kick {mention(alice)} spam", timeout=10)
        assert reply["content"] == "Case 1: kicked alice."
        assert (d.server_id, alice) not in h.double.world.members
        await h.command(d.moderator_id, f"!ban {mention(carol)} raid")
        h.double.fail_next("DELETE", rf"/servers/.+/bans/{carol}$", 502, after_handling=True)
        reply = await h.command(d.moderator_id, f"!unban {mention(carol)}", timeout=10)
        assert reply["content"] == "Case 3: unbanned carol."
        assert [c.action for c in await ModCase.find_all().sort("number").to_list()] == [
            "kick",
            "ban",
            "unban",
        ]


async def test_unsent_mod_log_posts_are_delivered_after_a_restart(tmp_path: Path) -> None:
    async with BotHarness(
        ["moderation"], data_dir=tmp_path, rest_backoff_seconds=0.01, plugin_config=CONFIG
    ) as h:
        d = h.demo
        await h.command(d.owner_id, "!modlog #mod-log")
        modlog = d.channels["mod-log"]
        h.double.fail_next("POST", rf"/channels/{modlog}/messages$", 502, times=100)
        reply = await h.command(d.moderator_id, f"!warn {mention(d.member_ids[0])} spam", timeout=15)
        assert reply["content"].startswith("Case 1: warned alice.")
        assert not h.double.messages_in(modlog)
        h.double.clear_faults()  # Stoat is back...
        await h.restart()  # ...and so is the bot, which empties its outbox
        posted = await eventually(lambda: h.double.messages_in(modlog))
        assert [m["embeds"][0]["title"] for m in posted] == ["Case 1: warn"]
        deadline = time.monotonic() + 5  # the outbox entry is cleared just after the post
        while True:
            case = await ModCase.find_one(ModCase.number == 1)
            if (case is not None and case.modlog_pending is False) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert case is not None and case.modlog_pending is False
        assert h.bot is not None  # a delivered post leaves the outbox for good
        service = h.bot.plugin_context("moderation").get(ModerationService)
        assert await service.deliver_outbox(d.server_id) == 0
        assert len(h.double.messages_in(modlog)) == 1


async def test_warnings_show_a_warning_the_moderator_was_never_told_about(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        alice = mention(d.member_ids[0])
        general = d.channels["general"]
        h.double.fail_next("POST", rf"/channels/{general}/messages$", 403, {"type": "Forbidden"})
        await h.command(d.moderator_id, f"!warn {alice} lost confirmation")  # the error is answered
        reply = await h.command(d.moderator_id, f"!warnings {alice}")
        assert "lost confirmation (recorded, but the moderator was never told)" in reply["content"]
        await h.command(d.moderator_id, f"!warn {alice} told")
        reply = await h.command(d.moderator_id, f"!warnings {alice}")
        assert "told (recorded" not in reply["content"]
