"""Temporary bans are durable core timers: one per banned user, moved, cancelled and adopted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logiq_moderation.models import TempBan

from logiq_core.testing.harness import LogiqHarness


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


async def test_a_permanent_ban_or_an_unban_cancels_the_pending_unban(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        assert h.bot is not None
        d, timers = h.demo, h.bot.contexts["moderation"].timers
        carol = d.member_ids[2]
        await h.command(d.moderator_id, f"!ban {mention(carol)} 1h raiding")
        await h.command(d.moderator_id, f"!ban {mention(carol)} 2h raiding again")
        [pending] = await timers.list(d.server_id)  # banning again moved the one timer
        assert pending.handler == "lift-ban" and pending.payload["user_id"] == carol
        assert pending.due_at - datetime.now(UTC) > timedelta(minutes=119)
        reply = await h.command(d.moderator_id, f"!ban {carol} for good")
        assert reply["content"].endswith(".") and await timers.list(d.server_id) == []
        await h.command(d.moderator_id, f"!unban {carol}")
        await h.command(d.moderator_id, f"!ban {carol} 1d")
        assert len(await timers.list(d.server_id)) == 1
        await h.command(d.moderator_id, f"!unban {carol} appeal accepted")
        assert await timers.list(d.server_id) == []


async def test_temporary_bans_stored_before_timers_are_adopted_once(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        until = datetime.now(UTC) + timedelta(hours=3)
        await TempBan(server_id=d.server_id, user_id=d.member_ids[1], until=until, case_number=7).insert()
        bot = await h.restart()
        [adopted] = await bot.contexts["moderation"].timers.list(d.server_id)
        assert adopted.payload == {"user_id": d.member_ids[1], "case_number": 7}
        assert abs((adopted.due_at - until).total_seconds()) < 0.01
        legacy = await TempBan.find_one(TempBan.user_id == d.member_ids[1])
        assert legacy is not None and legacy.lifted
