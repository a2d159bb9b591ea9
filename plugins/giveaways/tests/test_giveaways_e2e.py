"""Giveaways end to end: the Stoat test double, the real bot and the real embedded storage."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from logiq_giveaways.models import Giveaway
from logiq_giveaways.service import EMOJI, GiveawayService, draw, entrants_hash

from logiq_core.testing.clock import FakeClock
from logiq_core.testing.harness import BotHarness, LogiqHarness

MENTION = re.compile(r"<@([0-9A-HJKMNP-TV-Z]{26})>")
ON = {"giveaways": "stable"}  # giveaways ship in beta: the demo server is not in it by default


async def stored(number: int) -> Giveaway:
    found = await Giveaway.find_one({"number": number})
    assert found is not None
    return found


def replies_to(h: BotHarness, message_id: str) -> list[dict[str, Any]]:
    return [m for m in h.double.messages_in(h.channel_id(None)) if message_id in (m.get("replies") or [])]


async def react(h: BotHarness, message: dict[str, Any], *user_ids: str) -> None:
    for user_id in user_ids:
        await h.double.react_as(user_id, message["channel"], message["_id"], EMOJI, enforce=True)


async def test_start_react_end_draws_distinct_eligible_winners_and_verifies(
    logiq_harness: LogiqHarness,
) -> None:
    async with logiq_harness(["giveaways"], rollout=ON) as h:
        d = h.demo
        message = await h.command(
            d.owner_id, "!giveaway start 1h 2 A @everyone <@" + d.moderator_id + "> mug"
        )
        assert message["content"].startswith(f"{EMOJI} **Giveaway #1**: A @\u200beveryone @mo mug")
        assert message["interactions"] == {"reactions": [EMOJI], "restrict_reactions": True}
        g = await stored(1)
        assert f"`{g.commitment}`" in message["content"] and g.seed not in message["content"]
        other_bot, _ = h.double.create_bot("Botty")
        h.double.add_member(d.server_id, other_bot.id)
        await react(h, message, *d.member_ids, other_bot.id)
        assert (await h.command(d.member_ids[0], "!giveaway end 1"))["content"] == (
            "You need the ManageServer permission to manage giveaways."
        )

        announcement = await h.command(d.owner_id, "!giveaway end #1")
        g = await stored(1)
        assert g.status == "ended" and len(g.winners) == 2 and len(set(g.winners)) == 2
        assert set(g.winners) <= set(d.member_ids) and other_bot.id not in g.winners
        assert g.excluded == {"bots": 1} and g.reacted == 4
        assert g.winners == draw(g.seed, [(u, 1) for u in d.member_ids], 2)
        # The reply mentions exactly the winners, and the prize's mentions are neutralised.
        assert announcement["replies"] == [message["_id"]]
        assert MENTION.findall(announcement["content"]) == g.winners
        assert "@\u200beveryone" in announcement["content"] and d.moderator_id not in announcement["content"]
        edited = h.double.world.messages[message["_id"]]["content"]
        assert "Giveaway #1 ended" in edited and f"Seed: `{g.seed}`" in edited
        assert "Eligible entrants: 3 (3 entries) of 4 who reacted; excluded: 1 (1 bots)" in edited
        assert not MENTION.findall(edited)

        verdict = await h.command(d.member_ids[2], f"!giveaway verify {message['_id']}")
        assert verdict["content"].startswith("**Verified** giveaway #1 (against the giveaway message)")

        listing = await h.command(d.member_ids[2], "!giveaway entrants 1")
        [file] = h.double.attachments_of(listing)
        assert file.data.decode() == "".join(f"{u} 1\n" for u in sorted(d.member_ids))
        assert hashlib.sha256(file.data).hexdigest() == g.entrants_hash

        # Someone rewrites the stored list afterwards: verify notices.
        collection = Giveaway.get_pymongo_collection()
        tampered = [
            {"user_id": e.user_id, "weight": 40 if i == 0 else e.weight} for i, e in enumerate(g.entrants)
        ]
        await collection.update_one({"_id": g.id}, {"$set": {"entrants": tampered}})
        verdict = await h.command(d.member_ids[2], "!giveaway verify 1")
        assert verdict["content"].startswith("**Mismatch** giveaway #1")
        assert "the entrant list hashes to" in verdict["content"]
        assert h.double.violations == []


async def test_a_giveaway_ends_by_itself_when_its_time_is_up(logiq_harness: LogiqHarness) -> None:
    # The duration passes on a clock moved by hand (the end is a durable timer on that clock).
    clock = FakeClock()
    async with logiq_harness(["giveaways"], rollout=ON, clock=clock) as h:
        d = h.demo
        assert h.bot is not None
        message = await h.command(d.owner_id, "!giveaway start 10s 2 A sticker pack")
        await react(h, message, *d.member_ids)
        timers = h.bot.contexts["giveaways"].timers
        await h.eventually(lambda: timers.list(d.server_id))  # scheduled once posted
        started = await stored(1)
        assert started.ends_at - started.created_at == timedelta(seconds=10)
        clock.advance(started.ends_at - clock() - timedelta(seconds=0.1))
        await h.bot.timers.run_due()
        assert (await stored(1)).status == "running"  # not a moment early
        clock.advance(0.2)
        await h.bot.timers.run_due()
        g = await h.eventually(lambda: Giveaway.find_one({"number": 1, "announced": True}))
        assert g.status == "ended" and len(g.winners) == 2 and set(g.winners) <= set(d.member_ids)
        [announcement] = await h.eventually(lambda: replies_to(h, message["_id"]))
        assert announcement["content"].startswith("🎉 Congratulations")
        assert MENTION.findall(announcement["content"]) == g.winners
        edited = h.double.world.messages[message["_id"]]["content"]
        assert "**Giveaway #1 ended**: A sticker pack" in edited
        assert "Eligible entrants: 3 (3 entries) of 3" in edited
        verdict = await h.command(d.member_ids[0], "!giveaway verify 1")
        assert verdict["content"].startswith("**Verified** giveaway #1 (against the giveaway message)")


async def test_requirements_bonus_and_reroll_excluding_earlier_winners(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["giveaways"], rollout=ON) as h:
        d = h.demo
        alice, bob, carol = d.member_ids
        veteran = h.double.create_user("vera", at=datetime.now(UTC) - timedelta(days=90))
        h.double.add_member(d.server_id, veteran.id, [d.roles["Member"], d.roles["Verified"]])
        h.double.set_member_roles(d.server_id, alice, [d.roles["Member"], d.roles["Verified"]])
        text = (
            f"!giveaway start 1h 1 Badge --role <%{d.roles['Member']}> --bonus Verified 3 "
            "--min-account-age 30d --level 5"
        )
        message = await h.command(d.owner_id, text)
        assert "Bonus entries: @Verified +3" in message["content"]
        assert "level 5 requirement is ignored (leveling is not installed)" in message["content"]
        await react(h, message, alice, bob, carol, veteran.id, d.moderator_id)
        await h.command(d.owner_id, "!giveaway end 1")
        g = await stored(1)
        assert [(e.user_id, e.weight) for e in g.entrants] == [(veteran.id, 4)]
        assert g.excluded == {"accounts too new": 4} and g.winners == [veteran.id]

        # No one is left to draw: said plainly.
        reroll = await h.command(d.owner_id, "!giveaway reroll 1")
        assert reroll["content"] == "Reroll of giveaway #1: nobody eligible is left to draw."

        message = await h.command(d.owner_id, "!giveaway start 1h 1 Sticker --bonus Verified 2")
        await react(h, message, alice, bob, carol)
        await h.command(d.owner_id, "!giveaway end 2")
        first = (await stored(2)).winners
        rerolled = await h.command(d.owner_id, "!giveaway reroll 2 2")
        g = await stored(2)
        assert [r.winners for r in g.rerolls] == [MENTION.findall(rerolled["content"])]
        assert len(g.rerolls[0].winners) == 2 and not set(g.rerolls[0].winners) & set(first)
        assert set(first) | set(g.rerolls[0].winners) == {alice, bob, carol}
        assert "Reroll 1:" in h.double.world.messages[message["_id"]]["content"]
        verdict = await h.command(d.member_ids[2], "!giveaway verify 2")
        assert verdict["content"].startswith("**Verified**") and "reroll 1 2" in verdict["content"]


async def test_no_eligible_entrant_is_stated_plainly(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["giveaways"], rollout=ON) as h:
        d = h.demo
        message = await h.command(d.owner_id, f"!giveaway start 1h 3 Hat --role <%{d.roles['Admin']}>")
        await react(h, message, d.member_ids[0])
        reply = await h.command(d.owner_id, "!giveaway end 1")
        assert reply["content"] == "Giveaway #1 has no winner: nobody eligible entered."
        assert not MENTION.findall(reply["content"])
        edited = h.double.world.messages[message["_id"]]["content"]
        assert (
            "No winner: nobody eligible entered." in edited
            and "excluded: 1 (1 missing a required role)" in edited
        )
        assert (await stored(1)).entrants_hash == entrants_hash([])


async def test_every_limit_is_refused_with_a_reason(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["giveaways"], rollout=ON) as h:
        d = h.demo

        async def refused(text: str) -> str:
            return str((await h.command(d.owner_id, text))["content"])

        assert await refused("!giveaway start 5s 1 Cup") == "A giveaway lasts from 10s to 4 weeks, not 5s."
        assert await refused("!giveaway start 29d 1 Cup") == "A giveaway lasts from 10s to 4 weeks, not 29d."
        assert await refused("!giveaway start 1h 0 Cup") == "A giveaway has 1 to 50 winners, not 0."
        assert await refused("!giveaway start 1h 51 Cup") == "A giveaway has 1 to 50 winners, not 51."
        assert (
            await refused("!giveaway start 1h 1 " + "x" * 201) == "The prize is 201 characters; at most 200."
        )
        assert (await refused("!giveaway start 1h 1 Cup --bonus Verified 0")).startswith(
            "`--bonus`: extra entries"
        )
        assert (await refused("!giveaway start 1h 1 Cup --colour red")).startswith(
            "Unknown option `--colour`"
        )
        assert (await refused("!giveaway start 1h")).startswith("A giveaway needs a duration")
        reply = await h.command(d.member_ids[0], "!giveaway start 1h 1 Cup")
        assert reply["content"] == "You need the ManageServer permission to manage giveaways."
        for _ in range(25):
            await h.command(d.owner_id, "!giveaway start 1h 1 Cup")
        assert await refused("!giveaway start 1h 1 Cup") == (
            "This server already has 25 giveaways running; end or cancel one first."
        )
        assert await Giveaway.find({"status": "running"}).count() == 25
        manager = h.double.create_user("max")
        h.double.add_member(d.server_id, manager.id, [d.roles["Logiq"]])  # ManageServer, ranked 1
        reply = await h.command(manager.id, "!giveaway hostrole Admin")
        assert reply["content"] == "You can only make a role ranked below your own top role the host role."
        # A host role lets non-managers host.
        await h.command(d.owner_id, "!giveaway hostrole Member")
        assert (await h.command(d.member_ids[0], "!giveaway cancel 3"))[
            "content"
        ] == "Giveaway #3 is cancelled."
        listing = await h.command(d.member_ids[0], "!giveaway list")
        assert listing["content"].startswith("**Running giveaways** (24)\n#1 Cup in")
        assert "#3 Cup in" not in listing["content"] and "(page 1/2" in listing["content"]


async def test_a_giveaway_that_ends_during_a_restart_ends_once(logiq_harness: LogiqHarness) -> None:
    clock = FakeClock()  # the 10 s pass on a clock moved by hand
    async with logiq_harness(["giveaways"], rollout=ON, clock=clock) as h:
        d = h.demo
        message = await h.command(d.owner_id, "!giveaway start 10s 1 Mug")
        await react(h, message, *d.member_ids)
        assert h.bot is not None
        timers = h.bot.contexts["giveaways"].timers
        await h.eventually(lambda: timers.list(d.server_id))  # scheduled once posted
        g = await stored(1)
        await h.bot.stop()  # down when the giveaway ends...
        h.bot = None
        clock.advance(g.ends_at - clock() + timedelta(seconds=0.2))
        await react(h, message, d.moderator_id)  # ...and a reaction made while it was offline counts
        bot = await h.restart()  # its timers loop finds the end overdue on its first scan
        ended = await h.eventually(lambda: Giveaway.find_one({"number": 1, "announced": True}), timeout=10)
        assert ended.reacted == 4
        await h.eventually(lambda: len(replies_to(h, message["_id"])) == 1, timeout=10)
        # Running the end again (a retried timer, a second process) changes nothing.
        service = bot.contexts["giveaways"].get(GiveawayService)
        await asyncio.gather(service.end(str(g.id), recover=True), service.end(str(g.id), recover=True))
        assert len(replies_to(h, message["_id"])) == 1
        edits = [r for r in h.double.requests if r["method"] == "PATCH" and message["_id"] in r["path"]]
        assert len(edits) == 1
        assert await bot.contexts["giveaways"].timers.list(d.server_id) == []


async def test_a_deleted_giveaway_message_cancels_it(logiq_harness: LogiqHarness) -> None:
    async with logiq_harness(["giveaways"], rollout=ON) as h:
        d = h.demo
        message = await h.command(d.owner_id, "!giveaway start 1h 1 Mug")
        assert h.bot is not None
        timers = h.bot.contexts["giveaways"].timers
        await h.eventually(lambda: timers.list(d.server_id), timeout=10)  # scheduled once posted
        del h.double.world.messages[message["_id"]]
        await h.double.inject_event(
            {"type": "MessageDelete", "id": message["_id"], "channel": message["channel"]}
        )
        g = await h.eventually(lambda: Giveaway.find_one({"number": 1, "status": "cancelled"}), timeout=10)
        assert g.cancel_reason == "the giveaway message was deleted"
        assert await h.bot.contexts["giveaways"].timers.list(d.server_id) == []
        reply = await h.command(d.owner_id, "!giveaway end 1")
        assert reply["content"] == "Giveaway #1 is already cancelled."
