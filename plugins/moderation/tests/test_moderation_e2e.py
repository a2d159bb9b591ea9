"""Moderation end to end: the Stoat test double, the real bot and the real embedded storage."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from logiq_moderation.models import ModCase
from logiq_moderation.service import ModerationService

from logiq_core.stoat.permissions import Permission as P
from logiq_core.testing.clock import FakeClock
from logiq_core.testing.harness import LogiqHarness
from logiq_core.testing.poll import eventually
from logiq_core.testing.stoat import new_ulid


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


async def test_kick_with_permission_records_a_case_and_posts_to_the_mod_log(
    logiq_harness: LogiqHarness,
) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        await h.command(d.owner_id, "!modlog #mod-log")
        reply = await h.command(d.moderator_id, f"!kick {mention(d.member_ids[0])} spamming")
        assert reply["content"] == "Case 1: kicked alice."
        assert (d.server_id, d.member_ids[0]) not in h.double.world.members
        logged = h.double.messages_in(d.channels["mod-log"])[-1]
        assert logged["embeds"][0]["title"] == "Case 1: kick"
        assert "Reason: spamming" in logged["embeds"][0]["description"]
        kicks = [r for r in h.double.requests if r["method"] == "DELETE" and "/members/" in r["path"]]
        assert len(kicks) == 1
        assert h.double.violations == []


async def test_kick_without_permission_is_refused_before_calling_stoat(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        reply = await h.command(d.member_ids[0], f"!kick {mention(d.member_ids[1])}")
        assert reply["content"] == "You need the KickMembers permission to use `kick`."
        assert (d.server_id, d.member_ids[1]) in h.double.world.members
        assert not [r for r in h.double.requests if r["method"] == "DELETE"]


async def test_hierarchy_refusals_for_the_invoker_and_for_the_bot(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        other_mod = h.double.create_user("max")
        h.double.add_member(d.server_id, other_mod.id, [d.roles["Moderator"]])
        reply = await h.command(d.moderator_id, f"!ban {mention(other_mod.id)}")
        assert reply["content"] == "You cannot ban @max: their top role is the same as yours."
        admin = h.double.create_user("root")
        h.double.add_member(d.server_id, admin.id, [d.roles["Admin"]])  # ranked above the bot
        reply = await h.command(d.owner_id, f"!kick {mention(admin.id)}")
        assert reply["content"] == "I cannot kick @root: their top role is above mine."
        reply = await h.command(d.moderator_id, f"!timeout {mention(d.owner_id)} 1h")
        assert reply["content"] == "You cannot time out @ada: they own this server."
        assert not h.double.world.bans
        assert not [r for r in h.double.requests if r["method"] in ("PUT", "PATCH", "DELETE")]


async def test_temporary_ban_is_lifted_after_a_restart(logiq_harness: LogiqHarness) -> None:
    config: dict[str, dict[str, float]] = {"moderation": {}}  # the defaults
    clock = FakeClock(ticking=True)  # the timers' clock: the 2 s pass without waiting them out
    async with logiq_harness(["moderation"], plugin_config=config, clock=clock) as h:
        d = h.demo
        reply = await h.command(d.moderator_id, f"!ban {mention(d.member_ids[2])} 2s raiding")
        assert reply["content"] == "Case 1: banned carol for 2s."
        assert (d.server_id, d.member_ids[2]) in h.double.world.bans
        assert h.bot is not None
        await h.bot.stop()  # down before the ban ends...
        h.bot = None
        clock.advance(2.2)
        await h.restart()  # ...and the new bot lifts it from storage
        await eventually(
            lambda: (d.server_id, d.member_ids[2]) not in h.double.world.bans,
            message="the temporary ban was not lifted",
        )
        # Every due timer has run once this returns: a second unban would have been sent by now.
        await h.bot.timers.run_due()
        assert await h.bot.contexts["moderation"].timers.list() == []
        unbans = [r for r in h.double.requests if r["method"] == "DELETE" and "/bans/" in r["path"]]
        assert len(unbans) == 1  # exactly once
        case = await ModCase.find_one(ModCase.number == 2)
        assert case is not None and case.action == "unban"


async def test_purge_beyond_100_messages_and_across_the_seven_day_line(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        channel = d.channels["lounge"]
        old = datetime.now(UTC) - timedelta(days=8)
        for index in range(10):
            await h.double.send_message_as(
                d.member_ids[0],
                channel,
                f"old {index}",
                message_id=new_ulid(old + timedelta(seconds=index)),
            )
        for index in range(140):
            await h.double.send_message_as(d.member_ids[index % 3], channel, f"new {index}")
        reply = await h.command(d.moderator_id, "!purge 150", channel="lounge", timeout=10)
        assert reply["content"] == (
            "Case 1: deleted 150 message(s) (10 over 7 days old, deleted one by one)."
        )
        remaining = [m["content"] for m in h.double.messages_in(channel)]
        assert remaining == ["!purge 150", reply["content"]]
        bulk = [r for r in h.double.requests if r["path"].endswith("/messages/bulk")]
        assert [len(r["json"]["ids"]) for r in bulk] == [100, 40]
        assert h.double.violations == []


async def test_purge_filters_by_member_bots_and_text(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        channel = d.channels["lounge"]
        for index in range(6):
            await h.double.send_message_as(
                d.member_ids[index % 2],
                channel,
                f"msg {index} free nitro" if index % 3 == 0 else f"msg {index}",
            )
        reply = await h.command(
            d.moderator_id,
            f'!purge 10 {mention(d.member_ids[0])} --contains "free nitro"',
            channel="lounge",
        )
        assert reply["content"] == "Case 1: deleted 1 message(s)."
        left = [m["content"] for m in h.double.messages_in(channel) if m["author"] != d.bot_id]
        assert "msg 0 free nitro" not in left  # alice's, containing the text
        assert "msg 3 free nitro" in left  # bob's
        assert "msg 1" in left and "msg 2" in left


async def test_warnings_escalate_and_decay(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        target = d.member_ids[1]
        assert (
            "At 2 active warnings: timeout for 1h."
            == (await h.command(d.owner_id, "!escalation set 2 timeout 1h"))["content"]
        )
        first = await h.command(d.moderator_id, f"!warn {mention(target)} rude")
        assert first["content"] == "Case 1: warned bob. 1 active warning(s)."
        second = await h.command(d.moderator_id, f"!warn {mention(target)} rude again")
        assert "2 warnings: timed out for 1h" in second["content"]
        assert h.double.world.members[(d.server_id, target)].get("timeout")
        assert h.bot is not None
        service = h.bot.contexts["moderation"].get(ModerationService)
        later = datetime.now(UTC) + timedelta(days=40)
        settings = await service.settings(d.server_id)
        settings.warning_decay_days = 30
        await service.save_settings(settings)
        assert await service.active_warnings(d.server_id, target, now=later) == []
        assert len(await service.active_warnings(d.server_id, target)) == 2


@pytest.mark.own_storage_server  # another process opens the same data directory
async def test_case_numbers_are_unique_under_concurrency(logiq_harness: LogiqHarness, tmp_path: Path) -> None:
    async with logiq_harness(["moderation"]) as h:
        assert h.bot is not None
        service = h.bot.contexts["moderation"].get(ModerationService)
        script = tmp_path / "case_counter_client.py"
        script.write_text(
            textwrap.dedent(f"""
            import asyncio
            from pathlib import Path
            from pymongo import ReturnDocument
            from logiq_core.framework.storage import Storage
            async def main():
                storage = Storage(None, Path({str(h.data_dir)!r}))
                await storage.start([])
                numbers = []
                for _ in range(25):
                    doc = await storage.database["moderation_case_counters"].find_one_and_update(
                        {{"server_id": "S"}}, {{"$inc": {{"value": 1}}}}, upsert=True,
                        return_document=ReturnDocument.AFTER)
                    numbers.append(doc["value"])
                print(",".join(map(str, numbers)))
                await storage.stop()
            asyncio.run(main())
        """)
        )
        other = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        mine = await asyncio.gather(*(service.next_case_number("S") for _ in range(25)))
        theirs = [int(n) for n in (await asyncio.to_thread(other.communicate))[0].strip().split(",")]
        assert sorted(mine + theirs) == list(range(1, 51))


async def test_automod_deletes_and_warns_but_spares_moderators(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        await h.command(d.owner_id, "!automod add words darn --action warn")
        bad = await h.say(d.member_ids[0], "well darn it")
        ok = await h.say(d.member_ids[0], "well done")
        mod = await h.say(d.moderator_id, "darn, moderators may say it")
        await eventually(lambda: bad["_id"] not in h.double.world.messages, message="not deleted")
        assert ok["_id"] in h.double.world.messages
        assert mod["_id"] in h.double.world.messages
        # The case is recorded just after the delete.
        case = await eventually(lambda: ModCase.find_one(ModCase.action == "warn"), message="no case")
        assert case is not None and case.target_id == d.member_ids[0] and case.automod_rule == "1"


async def test_lock_and_unlock_change_the_default_override(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        channel = d.channels["lounge"]
        reply = await h.command(d.moderator_id, "!lock", channel="lounge")
        assert reply["content"].startswith("Case 1: #lounge is locked")
        assert h.double.world.channels[channel]["default_permissions"]["d"] & P.SendMessage
        assert not h.double.world.channel_permissions(channel, d.member_ids[0]) & P.SendMessage
        # The bot's role keeps SendMessage here (the demo's override), so it can answer and unlock.
        assert h.double.world.channel_permissions(channel, d.bot_id) & P.SendMessage
        reply = await h.command(d.owner_id, "!unlock", channel="lounge")
        assert reply["content"] == "Case 2: #lounge is unlocked."
        assert h.double.world.channel_permissions(channel, d.member_ids[0]) & P.SendMessage


async def test_lock_refuses_to_lock_the_bot_out(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        channel = d.channels["lounge"]
        # A server whose bot role has no override here: a lock would silence the bot too.
        h.double.set_channel_override(channel, d.roles["Logiq"])
        reply = await h.command(d.moderator_id, "!lock", channel="lounge")
        assert reply["content"].startswith("I will not lock this channel: I would lose SendMessage")
        assert not h.double.world.channels[channel].get("default_permissions")
        assert h.double.world.channel_permissions(channel, d.member_ids[0]) & P.SendMessage


async def test_ban_takes_a_member_the_same_ways_as_kick(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        reply = await h.command(d.moderator_id, "!ban @bob spamming")
        assert reply["content"] == "Case 1: banned bob."
        assert (d.server_id, d.member_ids[1]) not in h.double.world.members
        reply = await h.command(d.moderator_id, "!ban carol")
        assert reply["content"] == "Case 2: banned carol."
        reply = await h.command(d.moderator_id, "!ban @nobody")
        assert "expected a user (mention, id, or a member's name), got `@nobody`" in reply["content"]


async def test_escalation_set_says_what_it_stored(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["moderation"]) as h:
        d = h.demo
        reply = await h.command(d.owner_id, "!escalation set 3 timeout 1h")
        assert reply["content"] == "At 3 active warnings: timeout for 1h."
        reply = await h.command(d.owner_id, "!escalation set 3 timeout")
        assert reply["content"] == "At 3 active warnings: timeout for 1h."
        reply = await h.command(d.owner_id, "!escalation set 5 kick 1h")
        assert reply["content"] == "Only a timeout has a duration: `escalation set 5 kick`."
        reply = await h.command(d.owner_id, "!escalation set 5 ban")
        assert reply["content"] == "At 5 active warnings: ban."
