"""Chat never grants more than the invoker holds (issue 10), against the double and real storage."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logiq_core.stoat.permissions import Permission as P
from logiq_core.testing.harness import BotHarness

CONFIG: dict[str, dict[str, float]] = {"verification": {}}


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


async def listeners_idle(h: BotHarness) -> None:
    """Wait until every plugin lane has handled what was dispatched to it so far."""
    await h.settle()


def roles_of(h: BotHarness, user_id: str) -> set[str]:
    return set(h.double.world.member_roles(h.demo.server_id, user_id))


def old_user(h: BotHarness, name: str) -> str:
    return h.double.create_user(name, at=datetime.now(UTC) - timedelta(days=400)).id


async def test_a_channel_override_does_not_let_anyone_kick_or_ban(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        chanmod_role = h.double.create_role(d.server_id, "Chanmod", rank=6)
        chanmod = h.double.create_user("cher").id
        h.double.add_member(d.server_id, chanmod, [chanmod_role])
        h.double.set_channel_override(d.channels["lounge"], chanmod_role, allow=P.KickMembers | P.BanMembers)
        reply = await h.command(chanmod, f"!kick {mention(d.member_ids[1])}", channel="lounge")
        assert reply["content"] == "You need the KickMembers permission to use `kick`."
        reply = await h.command(chanmod, f"!ban {mention(d.member_ids[1])}", channel="lounge")
        assert reply["content"] == "You need the BanMembers permission to use `ban`."
        assert (d.server_id, d.member_ids[1]) in h.double.world.members
        assert not h.double.world.bans


async def test_ban_refuses_when_the_targets_rank_cannot_be_established(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path, rest_backoff_seconds=0.01) as h:
        d = h.demo
        target = d.member_ids[2]
        h.double.fail_next("GET", rf"/servers/{d.server_id}/members/{target}$", 502, times=20)
        reply = await h.command(d.moderator_id, f"!ban {mention(target)} spam", timeout=15)
        assert "could not check" in reply["content"] and "Try again" in reply["content"]
        assert not h.double.world.bans


async def test_reason_and_delwarn_need_the_rank_of_the_cases_author(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        alice = mention(d.member_ids[0])
        assert (await h.command(d.owner_id, f"!warn {alice} owner's warning"))["content"].startswith("Case 1")
        reply = await h.command(d.moderator_id, "!reason 1 nothing happened")
        assert reply["content"] == "You cannot edit case 1: the server owner made it."
        reply = await h.command(d.moderator_id, "!delwarn 1")
        assert reply["content"] == "You cannot remove case 1: the server owner made it."
        admin = h.double.create_user("root").id
        h.double.add_member(
            d.server_id, admin, [h.double.create_role(d.server_id, "Senior", rank=2, allow=P.KickMembers)]
        )
        h.double.set_member_roles(d.server_id, d.moderator_id, [d.roles["Member"]])
        h.double.set_member_roles(
            d.server_id,
            d.moderator_id,
            [h.double.create_role(d.server_id, "Junior", rank=3, allow=P.KickMembers)],
        )
        assert (await h.command(admin, f"!warn {alice} senior's warning"))["content"].startswith("Case 2")
        reply = await h.command(d.moderator_id, "!delwarn 2")
        assert reply["content"].startswith("You cannot remove case 2: root made it and ranks above you")
        newcomer = h.double.create_user("tim").id
        h.double.add_member(d.server_id, newcomer)
        reply = await h.command(d.moderator_id, f"!warn {mention(newcomer)} my own")
        assert reply["content"].startswith("Case 3")
        assert (await h.command(d.moderator_id, "!reason 3 edited"))["content"] == "Case 3: reason updated."
        assert (await h.command(d.owner_id, "!delwarn 2"))["content"] == "Warning 2 removed."


async def test_verification_setup_refuses_a_role_the_invoker_could_not_assign(tmp_path: Path) -> None:
    async with BotHarness(["verification"], data_dir=tmp_path, plugin_config=CONFIG) as h:
        d = h.demo
        helper_role = h.double.create_role(d.server_id, "Helper", rank=6, allow=P.ManageServer)
        helper = h.double.create_user("lou").id
        h.double.add_member(d.server_id, helper, [helper_role])
        reply = await h.command(helper, "!verification setup #verify @Moderator")
        assert reply["content"] == (
            "You cannot hand out @Moderator: you could not assign it yourself "
            "(it needs the AssignRoles permission)."
        )
        h.double.create_role(d.server_id, "Helper2", rank=6)
        h.double.set_member_roles(
            d.server_id,
            helper,
            [h.double.create_role(d.server_id, "Assigner", rank=6, allow=P.ManageServer | P.AssignRoles)],
        )
        reply = await h.command(helper, "!verification setup #verify @Moderator")
        assert reply["content"] == (
            "You cannot hand out @Moderator: you could not assign it yourself "
            "(it ranks at or above your top role)."
        )
        assert not h.double.messages_in(d.channels["verify"])  # no prompt was posted


async def test_manual_verify_refuses_a_role_ranked_above_the_moderator(tmp_path: Path) -> None:
    async with BotHarness(["verification"], data_dir=tmp_path, plugin_config=CONFIG) as h:
        d = h.demo
        h.double.create_role(d.server_id, "Senior", rank=2, allow=P.KickMembers)
        reply = await h.command(d.owner_id, "!verification setup #verify @Senior")
        assert reply["content"].startswith("Verification is on")
        reply = await h.command(d.moderator_id, f"!verify {mention(d.member_ids[0])}")
        assert reply["content"].startswith("You cannot hand out @Senior")
        assert roles_of(h, d.member_ids[0]) == {d.roles["Member"]}


async def test_a_configurer_who_lost_rank_can_no_longer_have_the_role_handed_out(tmp_path: Path) -> None:
    async with BotHarness(["verification"], data_dir=tmp_path, plugin_config=CONFIG) as h:
        d = h.demo
        manager_role = h.double.create_role(
            d.server_id, "Manager", rank=3, allow=P.ManageServer | P.AssignRoles
        )
        manager = h.double.create_user("meg").id
        h.double.add_member(d.server_id, manager, [manager_role])
        reply = await h.command(manager, "!verification setup #verify @Verified")
        assert reply["content"].startswith("Verification is on")
        h.double.set_member_roles(d.server_id, manager, [])  # demoted afterwards
        await eventually(lambda: h.bot is not None and h.bot.cache.members[d.server_id][manager].roles == [])
        await h.command(d.owner_id, "!verification modlog #mod-log")
        prompt = h.double.messages_in(d.channels["verify"])[-1]
        newcomer = old_user(h, "nina")
        h.double.add_member(d.server_id, newcomer)
        await h.double.react_as(newcomer, d.channels["verify"], prompt["_id"], "✅")
        notice = await h.double.wait_for_message(channel_id=d.channels["mod-log"], timeout=5)
        assert "can no longer assign it" in notice["content"]
        await listeners_idle(h)
        assert d.roles["Verified"] not in roles_of(h, newcomer)


async def test_after_unverify_a_reaction_on_the_old_prompt_does_not_verify_again(tmp_path: Path) -> None:
    async with BotHarness(["verification"], data_dir=tmp_path, plugin_config=CONFIG) as h:
        d = h.demo
        await h.command(d.owner_id, "!verification setup #verify @Verified @Unverified")
        prompt = h.double.messages_in(d.channels["verify"])[-1]
        alice = d.member_ids[0]
        await h.double.react_as(alice, d.channels["verify"], prompt["_id"], "✅")
        await eventually(lambda: d.roles["Verified"] in roles_of(h, alice))
        reply = await h.command(d.moderator_id, f"!unverify {mention(alice)}")
        assert reply["content"] == "alice is no longer verified."
        assert d.roles["Verified"] not in roles_of(h, alice)
        await h.double.react_as(alice, d.channels["verify"], prompt["_id"], "✅")
        await h.command(d.owner_id, "!verification status")  # the reaction was dispatched...
        await listeners_idle(h)  # ...and handled
        assert d.roles["Verified"] not in roles_of(h, alice)
        reply = await h.command(d.moderator_id, f"!verify {mention(alice)}")
        assert reply["content"] == "alice is verified."
        assert d.roles["Verified"] in roles_of(h, alice)


async def test_the_double_also_ignores_channel_overrides_for_server_actions() -> None:
    import pytest

    from logiq_core.stoat.rest import StoatAPI, StoatAPIError
    from logiq_core.testing.stoat import StoatDouble, build_demo

    async with StoatDouble() as double:
        d = build_demo(double)
        helper_bot, token = double.create_bot("Helper")
        role = double.create_role(d.server_id, "HelperBot", rank=1)
        double.add_member(d.server_id, helper_bot.id, [role])
        for channel in d.channels.values():
            double.set_channel_override(channel, role, allow=P.KickMembers | P.BanMembers)
        async with StoatAPI(double.api_url, token) as api:
            with pytest.raises(StoatAPIError) as refused:
                await api.kick_member(d.server_id, d.member_ids[0])
            assert refused.value.type == "MissingPermission" and refused.value.permission == "KickMembers"
            with pytest.raises(StoatAPIError) as refused:
                await api.ban_user(d.server_id, d.member_ids[0])
            assert refused.value.permission == "BanMembers"
        assert (d.server_id, d.member_ids[0]) in double.world.members
