"""Bad input from chat (issue 10): refused with a useful message, never mis-applied."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logiq_moderation.models import ModSettings
from logiq_verification.models import VerificationSettings
from logiq_verification.service import VerificationService

from logiq_core.testing.harness import BotHarness

RLO = "\u202e"
ZWSP = "\u200b"


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


async def test_duration_like_words_that_are_not_valid_durations_are_errors(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        carol = mention(d.member_ids[2])
        for word, problem in (
            ("99999y", "not a duration I understand"),
            ("4000d", "too long"),
            ("1mo", "not a duration I understand"),
            ("0s", "longer than 0s"),
        ):
            reply = await h.command(d.moderator_id, f"!ban {carol} {word} spam")
            assert problem in reply["content"], reply["content"]
            assert "at most 365d" in reply["content"]
            if "understand" in problem:
                assert "w, d, h, m or s" in reply["content"]
        reply = await h.command(d.moderator_id, f"!timeout {carol} 29d spam")
        assert "too long: at most 28d" in reply["content"]
        assert not h.double.world.bans
        reply = await h.command(d.moderator_id, f"!ban {carol} 3 strikes")  # not a duration at all
        assert reply["content"] == "Case 1: banned carol."


async def test_numbers_out_of_range_are_refused_and_stored_ones_clamped(tmp_path: Path) -> None:
    async with BotHarness(["moderation", "verification"], data_dir=tmp_path) as h:
        d = h.demo
        reply = await h.command(d.owner_id, "!escalation decay 1e308")
        assert reply["content"] == "Warnings decay after 1 hour to 3650 days (0: never)."
        reply = await h.command(d.owner_id, "!verification raid 5 9007199254740992")
        assert reply["content"].startswith("`seconds` is 1-3600")
        # values stored by an older version are clamped on load
        await ModSettings.get_pymongo_collection().insert_one(
            {
                "server_id": d.server_id,
                "warning_decay_days": 1e308,
                "escalation": [],
                "automod": [],
                "exempt_roles": [],
                "exempt_channels": [],
                "next_rule_id": 1,
            }
        )
        alice = mention(d.member_ids[0])
        assert (await h.command(d.moderator_id, f"!warn {alice} one"))["content"].startswith("Case 1")
        reply = await h.command(d.moderator_id, f"!warnings {alice}")
        assert reply["content"].startswith("alice has 1 active warning(s)")
        await h.command(d.owner_id, "!verification setup #verify @Verified @Unverified")
        await VerificationSettings.get_pymongo_collection().update_one(
            {"server_id": d.server_id}, {"$set": {"raid_joins": 5, "raid_seconds": 9007199254740992}}
        )
        assert h.bot is not None
        h.bot.plugin_context("verification").get(VerificationService)._settings.clear()
        newcomer = h.double.create_user("nina", at=datetime.now(UTC) - timedelta(days=400)).id
        h.double.add_member(d.server_id, newcomer)
        await eventually(lambda: d.roles["Unverified"] in h.double.world.member_roles(d.server_id, newcomer))


async def test_slow_patterns_are_refused_when_added(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        reply = await h.command(h.demo.owner_id, "!automod add pattern (a+)+$")
        assert reply["content"].startswith("Cannot add that rule: the pattern nests quantifiers")
        reply = await h.command(h.demo.owner_id, "!automod add pattern (a|aa)+$")
        assert "too slow" in reply["content"]


async def test_case_embeds_are_cut_by_bytes_and_neutralised(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        alice = mention(d.member_ids[0])
        await h.command(d.moderator_id, f"!warn {alice} {'é' * 1500}")
        reply = await h.command(d.moderator_id, "!case 1")
        embed = reply["embeds"][0]
        assert len(embed["description"].encode()) <= 2000
        assert embed["description"].endswith("…")
        await h.command(d.moderator_id, f"!warn {alice} hi @everyone {mention(d.member_ids[1])}")
        reply = await h.command(d.moderator_id, "!case 2")
        description = reply["embeds"][0]["description"]
        assert "@everyone" not in description and f"@{ZWSP}everyone" in description
        assert "<@" not in description  # the mention became plain text


async def test_another_bot_never_runs_a_command(tmp_path: Path) -> None:
    async with BotHarness(data_dir=tmp_path) as h:
        d = h.demo
        other, _ = h.double.create_bot("Echo")
        h.double.add_member(d.server_id, other.id, [d.roles["Member"]])
        assert h.bot is not None and other.id not in h.bot.cache.users
        from_bot = await h.say(other.id, "!ping")  # a Message without the author's user object
        from_human = await h.say(d.member_ids[0], "!ping")
        reply = await h.double.wait_for_message(channel_id=d.channels["general"])
        assert reply["replies"] == [from_human["_id"]]
        assert from_bot["_id"] not in [r for m in h.double.sent_messages for r in m.get("replies", [])]
        user_fetches = [r for r in h.double.requests if r["path"] == f"/users/{other.id}"]
        assert len(user_fetches) == 1


async def test_a_rejected_command_does_not_start_its_cooldown(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        user = h.demo.member_ids[0]
        reply = await h.command(user, "!feedback moderation great")
        assert reply["content"].startswith("`rating`: expected a whole number")
        reply = await h.command(user, "!feedback moderation 5")
        assert reply["content"] == "Thanks! Your 5/5 for `moderation` was recorded."


async def test_direction_and_zero_width_characters_are_removed_from_echoed_text(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        alice = mention(d.member_ids[0])
        await h.command(d.moderator_id, f"!warn {alice} invoice{RLO}fdp.exe{ZWSP}x")
        reply = await h.command(d.moderator_id, f"!warnings {alice}")
        assert "invoicefdp.exex" in reply["content"]
        assert RLO not in reply["content"] and ZWSP not in reply["content"]
        reply = await h.command(d.moderator_id, "!case 1")
        assert RLO not in reply["embeds"][0]["description"]


async def test_a_prefix_must_be_visible(tmp_path: Path) -> None:
    async with BotHarness(data_dir=tmp_path) as h:
        owner = h.demo.owner_id
        for invisible in (ZWSP, RLO, "\u2066", "\u3164", f"{ZWSP}{ZWSP}"):
            reply = await h.command(owner, f"!prefix {invisible}")
            assert reply["content"].startswith("A prefix must be made of visible characters"), invisible
        assert (await h.command(owner, "!prefix ?"))["content"] == "Done: the prefix here is now `?`."
