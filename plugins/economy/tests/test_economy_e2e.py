"""Economy end to end: the Stoat test double, the real bot and the real embedded storage."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from logiq_economy.ledger import account_id
from logiq_economy.models import Account, Entry
from logiq_economy.service import EconomyService

from logiq_core.stoat.permissions import Permission as P
from logiq_core.testing.clock import FakeClock
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.stoat import new_ulid

BAD_AMOUNTS = ["-5", "0", "1.5", "1e3", "99999999999999999999", "abc", "١٢٣"]


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


@contextlib.asynccontextmanager
async def economy(logiq_harness: Callable[..., BotHarness], **options: Any) -> AsyncIterator[BotHarness]:
    """A bot with the economy, switched on for the demo server (it ships at gradual 50%)."""
    async with logiq_harness(["economy"], rollout={"economy": "stable"}, **options) as h:
        assert h.bot is not None
        assert h.bot.gate.is_enabled("economy", h.demo.server_id)
        yield h


def service(h: BotHarness) -> EconomyService:
    assert h.bot is not None
    return h.bot.contexts["economy"].get(EconomyService)


async def balance_of(h: BotHarness, user_id: str) -> int:
    doc = await Account.get_pymongo_collection().find_one({"_id": account_id(h.demo.server_id, user_id)})
    return int(doc["balance"]) if doc else 0


async def give(h: BotHarness, user_id: str, amount: int) -> None:
    reply = await h.command(h.demo.owner_id, f"!economy give {mention(user_id)} {amount} seed")
    assert reply["content"].startswith("Gave"), reply["content"]


async def test_members_earn_pay_and_see_balances(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        first = await h.command(alice, "!daily")
        assert first["content"] == "You received 🪙 100 coins. Balance: 🪙 100 coins."
        again = await h.command(alice, "!daily")
        assert again["content"].startswith("You already claimed today's reward; it is available again in 23h")
        worked = await h.command(alice, "!work")
        earned = int(re.search(r"earned 🪙 (\d+) coins", worked["content"]).group(1))  # type: ignore[union-attr]
        assert 10 <= earned <= 50
        tired = await h.command(alice, "!work")
        assert tired["content"].startswith("You are tired; you can work again in 59m")
        paid = await h.command(alice, f"!pay {mention(bob)} 30 for lunch")
        assert paid["content"].startswith(f"Paid bob 🪙 30 coins. Your balance: 🪙 {70 + earned} coins.")
        assert (await h.command(bob, f"!bal {mention(bob)}"))["content"] == "bob has 🪙 30 coins."
        assert (await h.command(alice, "!balance"))["content"] == f"alice has 🪙 {70 + earned} coins."
        top = await h.command(bob, "!top")
        assert top["content"].splitlines()[1:] == [f"1. alice: 🪙 {70 + earned} coins", "2. bob: 🪙 30 coins"]
        assert h.double.violations == []


async def test_daily_streak_pays_more_on_consecutive_days(logiq_harness: Callable[..., BotHarness]) -> None:
    from datetime import timedelta

    async with economy(logiq_harness) as h:
        svc, server, alice = service(h), h.demo.server_id, h.demo.member_ids[0]
        first = await svc.daily(server, alice, cause="m1")
        later = first.outcome.entry["created_at"] + timedelta(hours=25)
        second = await svc.daily(server, alice, cause="m2", now=later)
        assert (first.amount, second.amount, second.streak) == (100, 110, 2)
        broken = await svc.daily(server, alice, cause="m3", now=later + timedelta(hours=60))
        assert (broken.amount, broken.streak) == (100, 1)


async def test_bad_amounts_are_refused_with_a_reason_naming_the_parameter(
    logiq_harness: Callable[..., BotHarness],
) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await give(h, alice, 100)
        entries_before = await Entry.get_pymongo_collection().count_documents({})
        for bad in BAD_AMOUNTS:
            reply = await h.command(alice, f"!pay {mention(bob)} {bad}")
            assert reply["content"].startswith("`amount`"), (bad, reply["content"])
            give_reply = await h.command(d.owner_id, f"!economy give {mention(bob)} {bad}")
            assert give_reply["content"].startswith("`amount`"), (bad, give_reply["content"])
        assert (
            "at most 1,000,000,000,000,000"
            in (await h.command(alice, f"!pay {mention(bob)} 99999999999999999999"))["content"]
        )
        assert "at least 1" in (await h.command(alice, f"!pay {mention(bob)} 0"))["content"]
        assert "positive" in (await h.command(alice, f"!pay {mention(bob)} -5"))["content"]
        assert (await Entry.get_pymongo_collection().count_documents({})) == entries_before
        assert await balance_of(h, bob) == 0 and await balance_of(h, alice) == 100


async def test_pay_refuses_overdraft_oneself_bots_and_strangers(
    logiq_harness: Callable[..., BotHarness],
) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await give(h, alice, 20)
        over = await h.command(alice, f"!pay {mention(bob)} 21")
        assert over["content"] == "`amount`: you have 🪙 20 coins, not enough to pay 🪙 21 coins."
        assert (await h.command(alice, f"!pay {mention(alice)} 5"))[
            "content"
        ] == "`member`: you cannot pay yourself."
        bot_reply = await h.command(alice, f"!pay {mention(d.bot_id)} 5")
        assert bot_reply["content"] == "`member`: Logiq is a bot; bots have no balance."
        stranger = h.double.create_user("zed")
        outside = await h.command(alice, f"!pay {mention(stranger.id)} 5")
        assert outside["content"].startswith("`member`: expected a member")
        assert await balance_of(h, alice) == 20 and await balance_of(h, bob) == 0
        audit = await h.command(d.owner_id, "!economy audit")
        assert audit["content"].startswith("Audit OK")


async def test_the_same_message_delivered_twice_pays_once(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await give(h, alice, 100)
        message_id = new_ulid()
        general = d.channels["general"]
        for _ in range(2):
            waiter = asyncio.ensure_future(h.double.wait_for_message(channel_id=general, timeout=5))
            await asyncio.sleep(0)
            await h.double.send_message_as(alice, general, f"!pay {mention(bob)} 40", message_id=message_id)
            reply = await waiter
            assert reply["content"].startswith("Paid bob 🪙 40 coins. Your balance: 🪙 60 coins.")
        assert await balance_of(h, alice) == 60 and await balance_of(h, bob) == 40
        assert await Entry.get_pymongo_collection().count_documents({"kind": "transfer"}) == 1
        await h.restart()  # and once more after a restart (a redelivery after a crash)
        waiter = asyncio.ensure_future(h.double.wait_for_message(channel_id=general, timeout=5))
        await asyncio.sleep(0)
        await h.double.send_message_as(alice, general, f"!pay {mention(bob)} 40", message_id=message_id)
        await waiter
        assert await balance_of(h, alice) == 60 and await balance_of(h, bob) == 40


async def test_managers_need_manage_server_at_server_level(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        for user in (alice, d.moderator_id):
            for text in (
                f"!economy give {mention(bob)} 5",
                f"!economy take {mention(bob)} 5",
                "!economy audit",
                "!economy reverse abc",
                "!economy config daily 5",
                "!shop add 5 Hat",
                "!shop remove Hat",
            ):
                reply = await h.command(user, text)
                assert "ManageServer" in reply["content"], (text, reply["content"])
        # A channel override is not a server permission.
        h.double.set_channel_override(d.channels["general"], d.roles["Member"], allow=P.ManageServer)
        assert h.bot is not None
        cache = h.bot.cache
        await h.eventually(  # the bot has seen the override (no fixed wait)
            lambda: d.roles["Member"] in cache.channel_overrides(d.channels["general"])[1]
        )
        reply = await h.command(alice, f"!economy give {mention(alice)} 1000")
        assert "ManageServer" in reply["content"]
        assert await balance_of(h, alice) == 0
        # The owner, and a role with ManageServer, may.
        await give(h, bob, 10)
        admin = h.double.create_user("root")
        h.double.add_member(d.server_id, admin.id, [d.roles["Admin"]])
        took = await h.command(admin.id, f"!economy take {mention(bob)} 4 fine")
        assert took["content"].startswith("Took 🪙 4 coins from bob")
        assert await balance_of(h, bob) == 6
        over = await h.command(admin.id, f"!economy take {mention(bob)} 7")
        assert over["content"] == "`amount`: bob has only 🪙 6 coins."
        entry = await Entry.get_pymongo_collection().find_one({"kind": "burn"})
        assert entry is not None and entry["actor"] == admin.id and "taken by root: fine" in entry["memo"]


async def test_buying_a_role_keeps_the_members_other_roles(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        fan = h.double.create_role(d.server_id, "Fan", rank=7)
        h.double.set_member_roles(d.server_id, alice, [d.roles["Member"], d.roles["Verified"]])
        added = await h.command(d.owner_id, "!shop add 50 Fan <%" + fan + "> --stock 1 --once")
        assert added["content"] == "Listed #1 Fan: 🪙 50 coins · role @Fan · 1 left · once per member."
        listing = await h.command(alice, "!shop")
        assert "#1 Fan: 🪙 50 coins" in listing["content"]
        poor = await h.command(alice, "!buy Fan")
        assert poor["content"] == "You need 🪙 50 coins but have 🪙 0 coins."
        await give(h, alice, 120)
        await give(h, bob, 120)
        bought = await h.command(alice, "!buy fan")
        assert bought["content"] == "You bought 1 × Fan for 🪙 50 coins. Balance: 🪙 70 coins."
        roles = h.double.world.members[(d.server_id, alice)]["roles"]
        assert set(roles) == {d.roles["Member"], d.roles["Verified"], fan}
        assert (await h.command(alice, "!buy 1"))["content"] == "You already own Fan; it can be bought once."
        assert (await h.command(bob, "!buy Fan"))["content"].startswith("Fan is out of stock")
        inventory = await h.command(bob, f"!inventory {mention(alice)}")
        assert inventory["content"] == "**alice's inventory**\n#1 Fan × 1"
        assert await balance_of(h, bob) == 120
        audit = await h.command(d.owner_id, "!economy audit")
        assert audit["content"].startswith("Audit OK") and "the shop 🪙 50 coins" in audit["content"]
        assert h.double.violations == []


async def test_chat_never_sells_a_role_the_invoker_or_the_bot_could_not_assign(
    logiq_harness: Callable[..., BotHarness],
) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        keeper_role = h.double.create_role(
            d.server_id, "Shopkeeper", rank=6, allow=P.ManageServer | P.AssignRoles
        )
        fan = h.double.create_role(d.server_id, "Fan", rank=7)
        keeper = h.double.create_user("kim")
        h.double.add_member(d.server_id, keeper.id, [keeper_role])
        above = await h.command(keeper.id, f"!shop add 10 Badge <%{d.roles['Member']}>")
        assert above["content"] == (
            "You cannot hand out @Member: you could not assign it yourself (it ranks at or above your top role)."
        )
        own = await h.command(keeper.id, f"!shop add 10 Same <%{keeper_role}>")
        assert own["content"].startswith("You cannot hand out @Shopkeeper: you could not assign it yourself")
        bot_above = await h.command(d.owner_id, f"!shop add 10 Crown <%{d.roles['Admin']}>")
        assert bot_above["content"] == (
            "I cannot assign @Admin: it ranks at or above my top role. Move my role above it first."
        )
        ok = await h.command(keeper.id, f"!shop add 10 Fan <%{fan}>")
        assert ok["content"].startswith("Listed #1 Fan")
        # The keeper loses their role: the item can no longer hand it out.
        h.double.set_member_roles(d.server_id, keeper.id, [])
        assert h.bot is not None
        cache = h.bot.cache
        await h.eventually(  # the bot has seen the change (no fixed wait)
            lambda: (m := cache.cached_member(d.server_id, keeper.id)) is not None and not m.roles
        )
        alice = d.member_ids[0]
        await give(h, alice, 50)
        refused = await h.command(alice, "!buy Fan")
        assert refused["content"].startswith(
            "Fan cannot be bought now: handing out @Fan needs the AssignRoles"
        )
        assert await balance_of(h, alice) == 50
        assert fan not in h.double.world.members[(d.server_id, alice)]["roles"]
        assert (await h.command(d.owner_id, "!shop remove Fan"))["content"] == "Removed #1 Fan from the shop."
        assert (await h.command(alice, "!shop"))["content"] == "The shop is empty."


async def test_a_reversal_restores_both_balances_and_shows_in_both_statements(
    logiq_harness: Callable[..., BotHarness],
) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await give(h, alice, 100)
        paid = await h.command(alice, f"!pay {mention(bob)} 25 rent")
        entry_id = re.search(r"\(entry (\w+)\)", paid["content"]).group(1)  # type: ignore[union-attr]
        reversed_ = await h.command(d.owner_id, f"!economy reverse {entry_id} mistaken payment")
        assert reversed_["content"].startswith(f"Reversed entry {entry_id} with entry ")
        assert "alice +25" in reversed_["content"] and "bob -25" in reversed_["content"]
        assert await balance_of(h, alice) == 100 and await balance_of(h, bob) == 0
        again = await h.command(d.owner_id, f"!economy reverse {entry_id}")
        assert again["content"].startswith(f"Entry {entry_id} was already reversed")
        for user, mine in ((alice, "+25"), (bob, "-25")):
            statement = (await h.command(user, "!economy statement"))["content"]
            lines = statement.splitlines()
            assert "reversal" in lines[1] and mine in lines[1] and f"reversal of {entry_id}" in lines[1]
            assert entry_id in lines[2] and "transfer" in lines[2] and "rent" in lines[2]
        alice_lines = (await h.command(alice, "!economy statement"))["content"].splitlines()
        assert alice_lines[1].endswith("balance 🪙 100 coins") and alice_lines[2].endswith(
            "balance 🪙 75 coins"
        )
        assert (await h.command(alice, f"!economy statement {mention(bob)}"))["content"].startswith(
            "You can see your own statement"
        )
        assert (await h.command(d.owner_id, f"!economy statement {mention(bob)}"))["content"].startswith(
            "**bob's statement**"
        )
        audit = await h.command(d.owner_id, "!economy audit")
        assert audit["content"].startswith("Audit OK")


async def test_audit_reports_every_discrepancy(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice = d.member_ids[0]
        await give(h, alice, 100)
        ok = await h.command(d.owner_id, "!economy audit")
        assert ok["content"].startswith("Audit OK: 1 entries, 4 accounts; members hold 🪙 100 coins")
        await Account.get_pymongo_collection().update_one(
            {"_id": account_id(d.server_id, alice)}, {"$inc": {"balance": 5}}
        )
        bad = await h.command(d.owner_id, "!economy audit")
        assert bad["content"].startswith("Audit found 3 discrepanc(ies)")
        assert "members 105 + shop 0 != minted 100 - burned 0" in bad["content"]
        assert "account " + alice + ": balance 105, the ledger says 100" in bad["content"]


async def test_config_commands_change_the_servers_economy(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        owner = d.owner_id
        assert (await h.command(owner, "!economy config currency gems 💎"))["content"].startswith(
            "The currency is now"
        )
        assert (await h.command(owner, "!economy config daily 7"))[
            "content"
        ] == "The daily reward is now 💎 7 gems."
        assert (await h.command(owner, "!economy config work 3 3 2h"))["content"] == (
            "Work now pays 💎 3 gems to 💎 3 gems, every 2h."
        )
        assert (await h.command(owner, "!economy config work 5 4 1h"))[
            "content"
        ] == "`max` must be at least `min`."
        assert (await h.command(owner, "!economy config start 15"))[
            "content"
        ] == "New members now start with 💎 15 gems."
        assert (await h.command(alice, "!daily"))["content"] == "You received 💎 7 gems. Balance: 💎 22 gems."
        assert (await h.command(alice, "!work"))[
            "content"
        ] == "You worked and earned 💎 3 gems. Balance: 💎 25 gems."
        assert (await h.command(alice, "!work"))["content"].startswith(
            "You are tired; you can work again in 1h 59m"
        )
        assert (await h.command(bob, "!bal"))["content"] == "bob has 💎 15 gems."
        audit = await h.command(owner, "!economy audit")
        assert audit["content"].startswith("Audit OK") and "minted 40" in audit["content"]


async def test_leaderboard_is_paged(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        svc = service(h)
        users = []
        for index in range(12):
            user = h.double.create_user(f"m{index:02d}")
            h.double.add_member(d.server_id, user.id, [d.roles["Member"]])
            users.append(user.id)
            await svc.mint(d.server_id, user.id, 100 + index, key=f"seed:{index}")
        first = (await h.command(d.member_ids[0], "!leaderboard"))["content"].splitlines()
        assert first[0] == "**Leaderboard** (page 1)" and first[1] == "1. m11: 🪙 111 coins"
        assert first[-1] == "Next: `!leaderboard 2`"
        second = (await h.command(d.member_ids[0], "!top 2"))["content"].splitlines()
        assert second[1:] == ["11. m01: 🪙 101 coins", "12. m00: 🪙 100 coins"]
        assert (await h.command(d.member_ids[0], "!top 0"))["content"].startswith("`page` must be at least 1")


@pytest.mark.parametrize("points", [["inserted"], ["step0"], ["step1"], ["finalized"]])
async def test_a_crash_during_pay_is_recovered_at_start_up(
    logiq_harness: Callable[..., BotHarness], points: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logiq_economy.commands
    import logiq_economy.ledger
    import logiq_economy.service
    from logiq_economy.ledger import SimulatedCrash

    # Leases run out on a clock moved by hand (real time passes too), not by waiting them out.
    clock = FakeClock(ticking=True)
    for module in (logiq_economy.ledger, logiq_economy.service, logiq_economy.commands):
        monkeypatch.setattr(module, "utcnow", clock)

    async with economy(logiq_harness, plugin_config={"economy": {"lease_seconds": 0.5}}) as h:
        d = h.demo
        alice, bob = d.member_ids[0], d.member_ids[1]
        await give(h, alice, 100)

        def crash(name: str) -> None:
            if name in points:
                raise SimulatedCrash(name)

        service(h).ledger.fail_at = crash
        reply = await h.command(alice, f"!pay {mention(bob)} 30")
        assert reply["content"].startswith("Something went wrong")
        clock.advance(0.6)  # the dead process's lease (0.5 s) runs out
        await h.restart()
        total = await balance_of(h, alice) + await balance_of(h, bob)
        assert total == 100
        committed = points[0] in ("step0", "step1", "finalized")
        assert await balance_of(h, bob) == (30 if committed else 0)
        audit = await h.command(d.owner_id, "!economy audit")
        assert audit["content"].startswith("Audit OK"), audit["content"]
        assert await Entry.get_pymongo_collection().count_documents({"status": "pending"}) == 0


async def test_shop_and_statement_arguments_are_checked(logiq_harness: Callable[..., BotHarness]) -> None:
    async with economy(logiq_harness) as h:
        d = h.demo
        alice, owner = d.member_ids[0], d.owner_id
        for bad in BAD_AMOUNTS:
            reply = await h.command(owner, f"!shop add {bad} Hat")
            assert reply["content"].startswith("`price`"), (bad, reply["content"])
        assert (await h.command(owner, "!shop add 5 Hat --stock 0"))["content"].startswith(
            "`stock` must be at least 1"
        )
        assert (await h.command(owner, "!shop add 5 42"))["content"].startswith(
            "`name`: a name cannot be only a number"
        )
        assert (await h.command(owner, "!shop add 5 Hat"))["content"] == "Listed #1 Hat: 🪙 5 coins."
        assert (await h.command(owner, "!shop add 9 hat"))[
            "content"
        ] == "`name`: the shop already has an item called hat."
        assert (await h.command(alice, "!buy Cape"))["content"].startswith(
            "`item`: there is no item Cape in the shop."
        )
        for bad in BAD_AMOUNTS:
            reply = await h.command(alice, f"!buy Hat {bad}")
            assert reply["content"].startswith("`quantity`"), (bad, reply["content"])
        await give(h, alice, 20)
        assert (await h.command(alice, "!buy Hat 3"))[
            "content"
        ] == "You bought 3 × Hat for 🪙 15 coins. Balance: 🪙 5 coins."
        assert (await h.command(alice, "!inventory"))["content"] == "**alice's inventory**\n#1 Hat × 3"
        assert (await h.command(alice, "!economy statement x"))["content"].startswith("`page`")
        assert (await h.command(owner, "!economy reverse nosuchentry"))["content"].startswith(
            "`entry id`: there is no applied entry"
        )
        assert (await h.command(alice, "!economy"))["content"].startswith("**economy**")
        assert (await h.command(owner, "!economy config work 10 5 abc"))[
            "content"
        ] == "`max` must be at least `min`."
        assert (await h.command(owner, "!economy config work 1 5 soon"))["content"].startswith("`cooldown`")
        audit = await h.command(owner, "!economy audit")
        assert audit["content"].startswith("Audit OK")
