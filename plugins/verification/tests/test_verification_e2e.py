"""Verification end to end: the Stoat test double, the real bot and the real embedded storage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from logiq_verification.models import PendingMember

from logiq_core.testing.clock import FakeClock
from logiq_core.testing.harness import BotHarness, LogiqHarness
from logiq_core.testing.poll import eventually

CONFIG: dict[str, dict[str, float]] = {"verification": {}}


async def set_up(h: BotHarness, *extra: str) -> None:
    d = h.demo
    reply = await h.command(d.owner_id, "!verification setup #verify @Verified @Unverified")
    assert reply["content"].startswith("Verification is on in #verify")
    for line in extra:
        await h.command(d.owner_id, line)


def roles_of(h: BotHarness, user_id: str) -> set[str]:
    return set(h.double.world.member_roles(h.demo.server_id, user_id))


def old_user(h: BotHarness, name: str) -> str:
    return h.double.create_user(name, at=datetime.now(UTC) - timedelta(days=400)).id


async def test_verification_by_reaction_swaps_roles(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["verification"], plugin_config=CONFIG) as h:
        d = h.demo
        await set_up(h)
        prompt = h.double.messages_in(d.channels["verify"])[-1]
        assert prompt["interactions"] == {"reactions": ["✅"], "restrict_reactions": True}
        newcomer = old_user(h, "nina")
        h.double.add_member(d.server_id, newcomer)
        await eventually(lambda: d.roles["Unverified"] in roles_of(h, newcomer))
        await h.double.react_as(newcomer, d.channels["verify"], prompt["_id"], "✅")
        await eventually(lambda: d.roles["Verified"] in roles_of(h, newcomer))
        assert roles_of(h, newcomer) == {d.roles["Verified"]}
        assert h.double.violations == []


async def test_role_edit_keeps_a_role_someone_else_added(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["verification"], plugin_config=CONFIG) as h:
        d = h.demo
        await set_up(h)
        prompt = h.double.messages_in(d.channels["verify"])[-1]
        newcomer = old_user(h, "omar")
        h.double.add_member(d.server_id, newcomer)
        await eventually(lambda: d.roles["Unverified"] in roles_of(h, newcomer))
        # A moderator gives them Member meanwhile, outside Logiq.
        h.double.set_member_roles(d.server_id, newcomer, [d.roles["Unverified"], d.roles["Member"]])
        await h.double.react_as(newcomer, d.channels["verify"], prompt["_id"], "✅")
        await eventually(lambda: d.roles["Verified"] in roles_of(h, newcomer))
        assert roles_of(h, newcomer) == {d.roles["Member"], d.roles["Verified"]}


async def test_verification_by_challenge_counts_wrong_answers_and_cleans_up(
    logiq_harness: LogiqHarness,
) -> None:
    async with logiq_harness(["verification"], plugin_config=CONFIG) as h:
        d = h.demo
        channel = d.channels["verify"]
        await set_up(h, "!verification mode challenge")
        newcomer = old_user(h, "pia")
        waiter = asyncio.ensure_future(h.double.wait_for_message(channel_id=channel))
        h.double.add_member(d.server_id, newcomer)
        question = await waiter
        assert question["content"].startswith(f"Welcome <@{newcomer}>! To get in, answer here: What is")
        left, right = [int(x) for x in question["content"].rsplit("What is ", 1)[1].rstrip("?").split(" + ")]
        wrong = await h.command(newcomer, str(left + right + 1), channel="verify")
        assert wrong["content"].startswith("That is not right; 2 attempt(s) left.")
        record = await PendingMember.find_one(PendingMember.user_id == newcomer)
        assert record is not None and record.attempts == 1
        answer = await h.say(newcomer, str(left + right), channel="verify")
        await eventually(lambda: d.roles["Verified"] in roles_of(h, newcomer))
        cleaned = (question["_id"], wrong["_id"], answer["_id"])  # deleted one by one: wait for all
        await eventually(lambda: not any(m in h.double.world.messages for m in cleaned))


async def test_too_many_wrong_answers_kick(logiq_harness: LogiqHarness) -> None:
    config = {"verification": {"challenge_attempts": 2}}
    async with logiq_harness(["verification"], plugin_config=config) as h:
        d = h.demo
        await set_up(h, "!verification mode challenge")
        newcomer = old_user(h, "quinn")
        h.double.add_member(d.server_id, newcomer)
        await eventually(lambda: len(h.double.messages_in(d.channels["verify"])) >= 2)
        await h.command(newcomer, "no idea", channel="verify")
        await h.say(newcomer, "still no idea", channel="verify")
        await eventually(lambda: (d.server_id, newcomer) not in h.double.world.members)


async def test_young_account_is_held_with_a_reason_in_the_log(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["verification"], plugin_config=CONFIG) as h:
        d = h.demo
        await set_up(h, "!verification modlog #mod-log", "!verification minage 7d hold")
        young = h.double.create_user("fresh", at=datetime.now(UTC) - timedelta(days=2)).id
        seasoned = old_user(h, "vera")
        h.double.add_member(d.server_id, young)
        h.double.add_member(d.server_id, seasoned)
        await eventually(lambda: d.roles["Unverified"] in roles_of(h, seasoned))
        log = await eventually(
            lambda: [
                m for m in h.double.messages_in(d.channels["mod-log"]) if young in (m.get("content") or "")
            ]
        )
        assert "account is 2 day(s) old; the minimum is 7" in log[0]["content"]
        assert roles_of(h, young) == set()  # held: no roles
        prompt = h.double.messages_in(d.channels["verify"])[0]
        await h.double.react_as(young, d.channels["verify"], prompt["_id"], "✅")
        # A barrier instead of a sleep: a later reaction the bot does act on, then every listener
        # run started before it has finished.
        await h.double.react_as(seasoned, d.channels["verify"], prompt["_id"], "✅")
        await eventually(lambda: d.roles["Verified"] in roles_of(h, seasoned))
        await h.settle()
        assert d.roles["Verified"] not in roles_of(h, young)


async def test_kick_deadline_survives_a_restart_without_a_double_kick(logiq_harness: LogiqHarness) -> None:
    clock = FakeClock(ticking=True)  # the timers' clock: the 2 s pass without waiting them out
    async with logiq_harness(["verification"], plugin_config=CONFIG, clock=clock) as h:
        d = h.demo
        await set_up(h, "!verification kickafter 2s")
        late = old_user(h, "lena")
        h.double.add_member(d.server_id, late)
        await eventually(lambda: d.roles["Unverified"] in roles_of(h, late))
        assert h.bot is not None
        await h.bot.stop()
        h.bot = None
        clock.advance(2.2)
        await h.restart()
        await eventually(lambda: (d.server_id, late) not in h.double.world.members)
        # More runs: the deadline's timer is gone and nothing is due, so still exactly one kick.
        await h.bot.timers.run_due()
        assert await h.bot.contexts["verification"].timers.list() == []
        kicks = [
            r for r in h.double.requests if r["method"] == "DELETE" and r["path"].endswith(f"/members/{late}")
        ]
        assert len(kicks) == 1


async def test_raid_guard_switches_to_challenge_mode_and_warns(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["verification"], plugin_config=CONFIG) as h:
        d = h.demo
        await set_up(h, "!verification modlog #mod-log", "!verification raid 3 10 15m")
        for index in range(4):
            h.double.add_member(d.server_id, old_user(h, f"raider{index}"))
        warning = await eventually(
            lambda: [
                m
                for m in h.double.messages_in(d.channels["mod-log"])
                if "Raid guard" in (m.get("content") or "")
            ]
        )
        assert "more than 3 joins in 10s" in warning[0]["content"]
        status = await h.command(d.owner_id, "!verification status")
        assert "mode challenge (raid guard active)" in status["content"]


async def test_setup_needs_manage_server_and_assignable_roles(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["verification"], plugin_config=CONFIG) as h:
        d = h.demo
        reply = await h.command(d.member_ids[0], "!verification setup #verify @Verified")
        assert reply["content"] == "You need the ManageServer permission to use `verification setup`."
        reply = await h.command(d.owner_id, "!verification setup #verify @Admin")
        assert reply["content"].startswith("I cannot assign @Admin: it ranks at or above my top role.")
        reply = await h.command(d.owner_id, "!verification setup #verify")
        assert reply["content"].startswith("`verified` is missing: expected a role")
