"""Leveling end to end: the Stoat test double, the real bot and the real embedded storage."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from logiq_leveling.curves import Curve
from logiq_leveling.models import DOCUMENTS, MemberXp
from logiq_leveling.service import LevelingService
from PIL import Image

from logiq_core.framework.storage import Storage
from logiq_core.stoat.permissions import Permission as P
from logiq_core.testing.harness import BotHarness, LogiqHarness
from logiq_core.testing.stoat import new_ulid
from logiq_core.testing.stoat.autumn import StoredFile


@contextlib.asynccontextmanager
async def leveling(logiq_harness: LogiqHarness, **options: Any) -> AsyncIterator[BotHarness]:
    """A bot with leveling, switched on for the demo server (it ships at gradual 50%)."""
    async with logiq_harness(["leveling"], rollout={"leveling": "stable"}, **options) as h:
        assert h.bot is not None
        assert h.bot.gate.is_enabled("leveling", h.demo.server_id)
        yield h


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def service_of(h: BotHarness) -> LevelingService:
    assert h.bot is not None
    return h.bot.contexts["leveling"].get(LevelingService)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def chat(h: BotHarness, user_id: str, count: int, channel: str | None = None) -> None:
    """Post ``count`` messages and wait until the listener has looked at each."""
    svc = service_of(h)
    target = svc.messages_seen + count
    for index in range(count):
        await h.say(user_id, f"message {index}", channel)
    await until(lambda: svc.messages_seen >= target)


async def xp(h: BotHarness, user_id: str) -> int:
    return await service_of(h).xp_of(h.demo.server_id, user_id)


FIXED = {"leveling": {"xp_min": 10, "xp_max": 10, "cooldown_seconds": 60}}


async def test_five_messages_inside_one_cooldown_give_xp_once_in_range(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness) as h:
        alice = h.demo.member_ids[0]
        await chat(h, alice, 5)
        earned = await xp(h, alice)
        assert 15 <= earned <= 25
        assert service_of(h).awarded_total == earned
        bot_messages = await xp(h, h.demo.bot_id)
        assert bot_messages == 0


def test_mee6_curve_boundaries() -> None:
    curve = Curve()
    assert [curve.level_for(x) for x in (0, 99, 100, 254, 255)] == [0, 0, 1, 1, 2]
    assert curve.progress(300) == (2, 45, 220)
    power = Curve("power", 100, 2)
    assert [power.level_for(x) for x in (99, 100, 399, 400)] == [0, 1, 1, 2]


async def test_rank_states_the_level_at_mee6_boundaries_and_attaches_a_png(
    logiq_harness: LogiqHarness,
) -> None:
    async with leveling(logiq_harness) as h:
        d = h.demo
        alice = d.member_ids[0]
        for amount, level in ((99, 0), (100, 1), (254, 1), (255, 2)):
            reply = await h.command(d.owner_id, f"!xp set {mention(alice)} {amount}")
            assert reply["content"] == f"alice now has {amount} XP (level {level})."
        reply = await h.command(alice, "!rank")
        assert reply["content"].startswith("alice: level 2, 0/220 XP into the level")
        assert "rank #1 of 1" in reply["content"]  # commands earn no XP
        files = h.double.attachments_of(reply)
        assert len(files) == 1 and files[0].content_type == "image/png"
        with Image.open(io.BytesIO(files[0].data)) as card:
            assert card.format == "PNG" and card.size == (1050, 450)
        assert h.double.violations == []


async def test_rank_falls_back_to_text_when_the_upload_fails(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness) as h:
        d = h.demo
        assert h.bot is not None
        h.bot.api.autumn_url = "http://127.0.0.1:9"  # nothing listens there: the upload fails
        h.bot.api.max_retries = 0
        reply = await h.command(d.member_ids[0], "!rank", timeout=15)
        assert reply["content"].startswith("alice: level 0, 0/100 XP")
        assert not reply.get("attachments")


async def test_xp_set_across_a_reward_level_grants_the_role_and_keeps_other_roles(
    logiq_harness: LogiqHarness,
) -> None:
    async with leveling(logiq_harness) as h:
        d = h.demo
        alice = d.member_ids[0]
        bronze = h.double.create_role(d.server_id, "Bronze", rank=20)
        reply = await h.command(d.owner_id, "!levels reward add 2 @Bronze")
        assert reply["content"].startswith("Members reaching level 2 get @Bronze.")
        await h.command(d.owner_id, f"!xp set {mention(alice)} 254")
        assert bronze not in h.double.world.members[(d.server_id, alice)]["roles"]
        await h.command(d.owner_id, f"!xp set {mention(alice)} 255")
        roles = h.double.world.members[(d.server_id, alice)]["roles"]
        assert set(roles) == {d.roles["Member"], bronze}
        assert h.double.violations == []


async def test_replace_mode_removes_the_previous_reward(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness) as h:
        d = h.demo
        alice = d.member_ids[0]
        bronze = h.double.create_role(d.server_id, "Bronze", rank=20)
        silver = h.double.create_role(d.server_id, "Silver", rank=21)
        await h.command(d.owner_id, "!levels reward add 1 @Bronze")
        await h.command(d.owner_id, "!levels reward add 2 @Silver")
        await h.command(d.owner_id, "!levels mode replace")
        await h.command(d.owner_id, f"!xp set {mention(alice)} 100")
        assert set(h.double.world.members[(d.server_id, alice)]["roles"]) == {d.roles["Member"], bronze}
        await h.command(d.owner_id, f"!xp set {mention(alice)} 300")
        assert set(h.double.world.members[(d.server_id, alice)]["roles"]) == {d.roles["Member"], silver}


async def test_a_reward_role_above_the_invoker_or_the_bot_is_refused(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness) as h:
        d = h.demo
        manager_role = h.double.create_role(
            d.server_id, "Manager", rank=10, allow=P.ManageServer | P.AssignRoles
        )
        h.double.create_role(d.server_id, "Elite", rank=9)
        manager = h.double.create_user("manny")
        h.double.add_member(d.server_id, manager.id, [manager_role])
        reply = await h.command(manager.id, "!levels reward add 5 @Elite")
        assert reply["content"].startswith("You cannot hand out @Elite")
        reply = await h.command(d.owner_id, "!levels reward add 5 @Admin")
        assert reply["content"].startswith("I cannot assign @Admin")
        reply = await h.command(d.moderator_id, "!levels reward add 5 @Verified")
        assert "ManageServer" in reply["content"]
        assert not (await service_of(h).settings(d.server_id)).rewards


async def test_no_xp_channel_and_role(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness, plugin_config=FIXED) as h:
        d = h.demo
        await h.command(d.owner_id, "!levels noxp add #lounge")
        reply = await h.command(d.owner_id, "!levels noxp add @Moderator")
        assert reply["content"] == "@Moderator earns no XP."
        await chat(h, d.member_ids[0], 1, channel="lounge")
        await chat(h, d.moderator_id, 1)
        assert await xp(h, d.member_ids[0]) == 0
        assert await xp(h, d.moderator_id) == 0
        await chat(h, d.member_ids[0], 1)
        assert await xp(h, d.member_ids[0]) == 10


async def test_role_and_channel_multipliers(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness, plugin_config=FIXED) as h:
        d = h.demo
        await h.command(d.owner_id, "!levels multiplier #lounge 2")
        await h.command(d.owner_id, "!levels multiplier @Moderator 3")
        await h.command(d.owner_id, "!levels multiplier @Member 1.5")
        await chat(h, d.member_ids[0], 1, channel="lounge")
        await chat(h, d.moderator_id, 1, channel="lounge")  # the highest role factor: 3, × 2
        await chat(h, d.member_ids[1], 1)
        assert await xp(h, d.member_ids[0]) == 30
        assert await xp(h, d.moderator_id) == 60
        assert await xp(h, d.member_ids[1]) == 15


async def test_the_level_up_announcement_pings_only_the_member(logiq_harness: LogiqHarness) -> None:
    # XP is written every 50 ms, so the level-up is announced without waiting out the 1 s default.
    config = {"leveling": {"xp_min": 100, "xp_max": 100, "cooldown_seconds": 60, "flush_seconds": 0.05}}
    async with leveling(logiq_harness, plugin_config=config) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await h.command(
            d.owner_id,
            f"!levels message {{member}} hit level {{level}}! @everyone {mention(bob)} <%{d.roles['Moderator']}>",
        )
        waiter = asyncio.ensure_future(
            h.double.wait_for_message(
                channel_id=h.channel_id(None), predicate=lambda m: "hit level" in (m.get("content") or "")
            )
        )
        await h.say(alice, "hello everyone")
        announced = await waiter
        assert announced["content"] == f"<@{alice}> hit level 1! @\u200beveryone @bob @Moderator"
        assert announced["content"].count("<@") == 1 and "<%" not in announced["content"]


async def test_csv_export_import_round_trip_and_undo(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await h.command(d.owner_id, f"!xp set {mention(alice)} 300")
        await h.command(d.owner_id, f"!xp set {mention(bob)} 50")
        exported = await h.command(d.owner_id, "!levels export")
        assert exported["content"] == "XP of 2 member(s)."
        csv_bytes = h.double.attachments_of(exported)[0].data
        assert csv_bytes.decode().splitlines() == ["user_id,xp,level", f"{alice},300,2", f"{bob},50,0"]
        await h.command(d.owner_id, f"!xp set {mention(alice)} 0")
        await h.command(d.owner_id, f"!xp set {mention(bob)} 0")

        stored = StoredFile(new_ulid(), "attachments", "levels.csv", "text/csv", csv_bytes, d.owner_id)
        h.double.files[stored.id] = stored
        channel = h.channel_id(None)
        waiter = asyncio.ensure_future(h.double.wait_for_message(channel_id=channel))
        await asyncio.sleep(0)
        message = {
            "_id": new_ulid(),
            "channel": channel,
            "author": d.owner_id,
            "content": "!levels import replace",
            "attachments": [stored.wire()],
        }
        h.double.store_message(message)
        h.double.broadcast({"type": "Message", **message}, channel_id=channel)
        reply = await waiter
        assert reply["content"].startswith("Imported: XP set for 2 member(s)")
        assert (await xp(h, alice), await xp(h, bob)) == (300, 50)

        reply = await h.command(d.owner_id, "!levels import undo")
        assert reply["content"].startswith("Import of 2 row(s) undone")
        assert (await xp(h, alice), await xp(h, bob)) == (0, 0)
        totals = await service_of(h).event_totals(d.server_id)
        assert totals.get(alice, 0) == 0 and totals.get(bob, 0) == 0
        reply = await h.command(d.owner_id, "!levels import undo")
        assert reply["content"] == "There is no import to undo."


async def test_a_restart_keeps_xp_and_cooldowns(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness, plugin_config=FIXED) as h:
        alice = h.demo.member_ids[0]
        await chat(h, alice, 1)
        assert await xp(h, alice) == 10
        await h.restart()
        await chat(h, alice, 3)  # still inside the stored cooldown
        assert await xp(h, alice) == 10
        assert service_of(h).awarded_total == 0


async def test_levels_board_and_weekly(logiq_harness: LogiqHarness) -> None:
    async with leveling(logiq_harness, plugin_config=FIXED) as h:
        d = h.demo
        await chat(h, d.member_ids[0], 1)
        await h.command(d.owner_id, f"!xp set {mention(d.member_ids[1])} 500")
        board = await h.command(d.member_ids[2], "!levels")
        assert board["content"].splitlines()[1:] == ["1. bob: level 3, 500 XP", "2. alice: level 0, 10 XP"]
        alias = await h.command(d.member_ids[2], "!leaderboard xp")
        assert alias["content"] == board["content"]
        weekly = await h.command(d.member_ids[2], "!levels weekly")
        assert weekly["content"].splitlines()[1:] == ["1. alice: 10 XP"]  # admin XP is not earned XP


async def test_leveling_and_economy_load_side_by_side_and_share_leaderboard(
    logiq_harness: LogiqHarness,
) -> None:
    """Economy owns `!leaderboard`; leveling answers `!leaderboard xp` (a two-word alias), so
    neither fails to load for a clash (every feature of the default install runs together)."""
    stable = {"leveling": "stable", "economy": "stable"}
    async with logiq_harness(["leveling", "economy"], rollout=stable, plugin_config=FIXED) as h:
        assert h.bot is not None
        assert {name: h.bot.plugins.records[name].status for name in stable} == {
            "leveling": "loaded",
            "economy": "loaded",
        }
        d = h.demo
        await h.command(d.owner_id, f"!xp set {mention(d.member_ids[1])} 500")
        xp_board = await h.command(d.member_ids[2], "!leaderboard xp")
        assert xp_board["content"].splitlines()[1:] == ["1. bob: level 3, 500 XP"]
        assert (await h.command(d.member_ids[2], "!leaderboard xp weekly"))["content"].startswith("Nobody")
        coins = await h.command(d.member_ids[2], "!leaderboard")
        assert "XP" not in coins["content"] and coins["content"] != xp_board["content"]


async def test_sync_gives_rewards_to_everyone_and_a_rejoin_restores_them(logiq_harness: LogiqHarness) -> None:
    config = {"leveling": {"sync_interval_seconds": 0.05, "sync_batch": 1}}
    async with leveling(logiq_harness, plugin_config=config) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await h.command(d.owner_id, f"!xp set {mention(alice)} 150")
        await h.command(d.owner_id, f"!xp set {mention(bob)} 150")
        bronze = h.double.create_role(d.server_id, "Bronze", rank=20)
        await h.command(d.owner_id, "!levels reward add 1 @Bronze")
        done = asyncio.ensure_future(
            h.double.wait_for_message(
                predicate=lambda m: (m.get("content") or "").startswith("Sync done"), timeout=15
            )
        )
        reply = await h.command(d.owner_id, "!levels sync")
        assert reply["content"].startswith("Syncing reward roles")
        finished = await done
        assert finished["content"] == "Sync done: 2 member(s) checked, 2 had their reward roles updated."
        for user in (alice, bob):
            assert set(h.double.world.members[(d.server_id, user)]["roles"]) == {d.roles["Member"], bronze}
        again = await h.command(d.owner_id, "!levels sync")
        assert again["content"].startswith("A sync ran recently")

        del h.double.world.members[(d.server_id, alice)]  # alice leaves...
        h.double.add_member(d.server_id, alice, [])  # ...and comes back with no roles
        await until(lambda: bronze in h.double.world.members[(d.server_id, alice)]["roles"])


KILL_SCRIPT = """
import asyncio, sys, time
from pathlib import Path
from logiq_core.framework.storage import Storage
from logiq_leveling.models import DOCUMENTS
from logiq_leveling.config import LevelingConfig
from logiq_leveling.service import LevelingService

async def main():
    storage = Storage(None, Path(sys.argv[1]))
    await storage.start(DOCUMENTS)
    service = LevelingService(LevelingConfig(xp_min=10, xp_max=10, cooldown_seconds=0, flush_seconds=float(sys.argv[2])))
    service.start()
    index = 0
    while True:
        await service.award_message("S", f"u{index % 50}", "C", (), 5)
        index += 1
        if index % 100 == 0:
            print(time.time(), service.awarded_total, flush=True)
        await asyncio.sleep(0.001)

asyncio.run(main())
"""


FLUSH_SECONDS = 0.25  # the claim is "at most the last flush interval", whatever its length


async def test_xp_survives_kill_9_losing_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    """The flush interval is 0.25 s: what was awarded more than ~0.25 s before the kill is stored."""
    script = tmp_path / "award.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, str(script), str(data), str(FLUSH_SECONDS)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    progress: list[tuple[float, int]] = []
    started = None
    while True:
        line = await asyncio.to_thread(process.stdout.readline)
        assert line, "the awarding process stopped"
        at, total = line.split()
        progress.append((float(at), int(total)))
        started = started or float(at)
        # Awarding for 1.5 s: what must be stored (awarded 1 s or more before the kill, below)
        # then spans the first 0.5 s, two flush intervals; the last second, four more, may be lost.
        if float(at) - started > 4 * FLUSH_SECONDS + 0.5:
            break
    os.kill(process.pid, signal.SIGKILL)
    killed_at = time.time()
    process.wait()
    storage = Storage(None, data)
    await storage.start(DOCUMENTS)
    try:
        stored = sum([doc.xp async for doc in MemberXp.find(MemberXp.server_id == "S")])
    finally:
        await storage.stop()
    awarded = progress[-1][1]
    # Everything awarded up to two flush intervals (plus a write's time) before the kill.
    safe = max([total for at, total in progress if at <= killed_at - 2 * FLUSH_SECONDS - 0.5], default=0)
    assert safe > 0
    assert safe <= stored <= awarded + 100
