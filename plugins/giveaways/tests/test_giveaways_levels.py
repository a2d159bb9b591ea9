"""`--level n` end to end, with the leveling plugin installed next to giveaways (and turned off).

Levels follow leveling's default (MEE6) curve: 100 XP is level 1, 475 XP level 3.
"""

from __future__ import annotations

from typing import Any

from logiq_giveaways.models import Giveaway
from logiq_giveaways.service import EMOJI

from logiq_core.testing.harness import BotHarness, LogiqHarness

BOTH_ON = {"giveaways": "stable", "leveling": "stable"}


async def stored(number: int) -> Giveaway:
    found = await Giveaway.find_one({"number": number})
    assert found is not None
    return found


def dms_to(h: BotHarness, user_id: str) -> list[str]:
    """What the bot wrote to ``user_id`` in their DM channel."""
    pair = {h.demo.bot_id, user_id}
    return [
        message["content"]
        for channel in list(h.double.world.channels.values())
        if channel["channel_type"] == "DirectMessage" and set(channel["recipients"]) == pair
        for message in h.double.messages_in(channel["_id"])
    ]


def reacted_unseen(h: BotHarness, message: dict[str, Any], user_id: str) -> None:
    """A 🎉 the bot never saw as an event (made while it was offline): only the draw reads it."""
    h.double.world.messages[message["_id"]].setdefault("reactions", {}).setdefault(EMOJI, []).append(user_id)


async def test_a_level_requirement_is_stored_shown_checked_on_entry_and_at_the_draw(
    logiq_harness: LogiqHarness,
) -> None:
    async with logiq_harness(["giveaways", "leveling"], rollout=BOTH_ON) as h:
        d = h.demo
        alice, bob, carol = d.member_ids
        for user, xp in ((alice, 1000), (bob, 100), (carol, 0)):
            confirmed = await h.command(d.owner_id, f"!xp set <@{user}> {xp}")
            assert f"now has {xp:,} XP" in confirmed["content"]
        for bad in ("0", "abc", "1001"):
            refused = await h.command(d.owner_id, f"!giveaway start 1h 1 Mug --level {bad}")
            assert refused["content"] == "`--level`: expected a whole number from 1 to 1000."

        message = await h.command(d.owner_id, "!giveaway start 1h 1 Mug --level 3")
        assert "Level 3 or higher (leveling)" in message["content"]
        assert "ignored" not in message["content"]
        assert (await stored(1)).requirements.min_level == 3

        # Entering below the level: the reaction goes and the member is told why, by DM.
        await h.double.react_as(alice, message["channel"], message["_id"], EMOJI, enforce=True)
        await h.double.react_as(bob, message["channel"], message["_id"], EMOJI, enforce=True)
        [told] = await h.eventually(lambda: dms_to(h, bob), timeout=10)
        assert told == (
            "Your entry in giveaway #1 (Mug) on Stoat Garden was refused: it needs level 3 "
            "and you are level 1. React again once you reach level 3."
        )
        await h.eventually(lambda: bob not in h.reactions(message).get(EMOJI, []))
        assert alice in h.reactions(message)[EMOJI] and dms_to(h, alice) == []

        # The draw checks again: a reaction the bot never saw as an event is excluded there.
        reacted_unseen(h, message, carol)
        await h.command(d.owner_id, "!giveaway end 1")
        g = await stored(1)
        assert g.winners == [alice] and g.reacted == 2
        assert g.excluded == {"below level 3": 1}
        edited = h.double.world.messages[message["_id"]]["content"]
        assert "Eligible entrants: 1 (1 entries) of 2 who reacted; excluded: 1 (1 below level 3)" in edited
        verdict = await h.command(bob, "!giveaway verify 1")
        assert verdict["content"].startswith("**Verified**")


async def test_with_leveling_off_the_level_is_ignored_with_a_note(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["giveaways", "leveling"], rollout=BOTH_ON) as h:
        d = h.demo
        alice, bob, _ = d.member_ids
        # Started while leveling is on, then leveling is turned off on the server: nobody is
        # refused on entry and the draw says the level was not checked.
        running = await h.command(d.owner_id, "!giveaway start 1h 1 Cup --level 2")
        assert (await stored(1)).requirements.min_level == 2
        await h.rollout("leveling", "beta")  # the demo server is not whitelisted: off there

        message = await h.command(d.owner_id, "!giveaway start 1h 1 Mug --level 3")
        assert (
            "Note: the level 3 requirement is ignored (leveling is off on this server)." in message["content"]
        )
        assert "Level 3 or higher" not in message["content"]
        assert (await stored(2)).requirements.min_level == 0

        for target in (running, message):
            await h.double.react_as(bob, target["channel"], target["_id"], EMOJI, enforce=True)
        await h.command(d.owner_id, "!giveaway end 2")
        assert (await stored(2)).winners == [bob]
        await h.command(d.owner_id, "!giveaway end 1")
        g = await stored(1)
        assert g.winners == [bob] and g.excluded == {}
        assert bob in h.reactions(running)[EMOJI] and dms_to(h, bob) == []
        edited = h.double.world.messages[running["_id"]]["content"]
        assert "the level 2 requirement was not checked (leveling is off on this server now)" in edited
        assert alice not in g.winners


async def test_without_leveling_loaded_the_level_is_ignored_with_a_note(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["giveaways"], rollout={"giveaways": "stable"}) as h:
        message = await h.command(h.demo.owner_id, "!giveaway start 1h 1 Mug --level 5")
        assert "Note: the level 5 requirement is ignored (leveling is not installed)." in message["content"]
        assert (await stored(1)).requirements.min_level == 0
