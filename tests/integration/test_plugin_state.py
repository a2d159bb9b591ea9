"""ctx.state on the real embedded storage: atomic counters, settings, scopes kept apart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from logiq_core.framework.state import StateValue
from logiq_core.plugin import CommandContext, FeatureInfo, PluginContext, Register, command, hookimpl
from logiq_core.testing.harness import BotHarness


class Greeter:
    def greet(self, name: str) -> str:
        return f"hi {name}"


@command("tally")
async def tally(ctx: CommandContext) -> None:
    await ctx.reply(f"{await ctx.author_state.inc('count')} {ctx.get(Greeter).greet(ctx.server_id[:2])}")


@command("emoji")
async def emoji(ctx: CommandContext, value: str = "") -> None:
    scope = ctx.state.server(ctx.server_id)
    if value:
        await scope.set("emoji", value)
    await ctx.reply(f"emoji: {await scope.get('emoji', '🪙')}")


class TallyPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="counts")

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register([tally, emoji])

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        context.provide(Greeter())


async def test_counters_are_atomic_and_scopes_stay_apart(tmp_path: Path) -> None:
    async with BotHarness(
        data_dir=tmp_path, extra_plugins={"tally": TallyPlugin}, rollout={"tally": "stable"}
    ) as h:
        assert h.bot is not None
        d = h.demo
        assert (await h.command(d.alice, "!tally"))[
            "content"
        ] == f"1 hi {d.server_id[:2]}"  # ctx.get reaches the service
        scope = h.bot.contexts["tally"].state.member(d.server_id, d.alice)
        results = await asyncio.gather(*(scope.inc("count") for _ in range(40)))
        assert sorted(results) == list(range(2, 42))  # no lost or repeated update
        assert await scope.get("count") == 41
        fresh = h.bot.contexts["tally"].state.server(d.server_id)  # concurrent upserts of a new key
        assert sorted(await asyncio.gather(*(fresh.inc("joins", 2) for _ in range(20)))) == list(
            range(2, 41, 2)
        )
        assert await h.bot.contexts["tally"].state.member(d.server_id, d.bob).get("count", 0) == 0
        assert await h.bot.contexts["core"].state.member(d.server_id, d.alice).get("count") is None
        stored = await StateValue.get_pymongo_collection().find_one({"plugin": "tally", "key": "count"})
        assert stored is not None and stored["value"] == 41  # a top-level field, not a dotted key
        assert (await h.command(d.alice, "!emoji"))["content"] == "emoji: 🪙"
        assert (await h.command(d.mo, "!emoji 🎲"))["content"] == "emoji: 🎲"
        assert (await h.command(d.bob, "!emoji"))["content"] == "emoji: 🎲"
        assert await scope.all() == {"count": 41}
        await scope.delete()
        assert await scope.get("count", 0) == 0


@command("where", dm=True)
async def where(ctx: CommandContext) -> None:
    await ctx.reply(f"server {ctx.server_id}" if ctx.in_server else "a DM")


@command("here", dm=True)
async def here(ctx: CommandContext) -> None:
    await ctx.reply(f"server {ctx.server_id}")  # forgot to ask ctx.in_server


class WherePlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="where am I")

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register([where, here, tally])


async def test_server_id_is_a_str_on_servers_and_a_clear_answer_in_a_dm(tmp_path: Path) -> None:
    async with BotHarness(
        data_dir=tmp_path, extra_plugins={"where": WherePlugin}, rollout={"where": "stable"}
    ) as h:
        d = h.demo
        assert (await h.command(d.alice, "!where"))["content"] == f"server {d.server_id}"
        dm = h.double.world.open_dm(d.alice, d.bot_id)["_id"]
        assert (await h.command(d.alice, "!where", channel=dm))["content"] == "a DM"
        assert (await h.command(d.alice, "!here", channel=dm))["content"] == "`here` only works on a server."
        assert (await h.command(d.alice, "!tally", channel=dm))[
            "content"
        ] == "`tally` only works on a server."


class Coins:
    def __init__(self) -> None:
        self.charged: list[str] = []


class BankPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="provides coins")

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        context.provide(Coins())


@command("charge")
async def charge(ctx: CommandContext) -> None:
    bank = ctx.service_of("bank", Coins)
    if bank is None:
        await ctx.reply("no bank here")
        return
    bank.charged.append(ctx.author_id)
    await ctx.reply(f"charged {len(bank.charged)}")


class ShopPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="uses another plugin's service")

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register([charge])


async def test_service_of_reaches_another_plugin_only_where_it_is_enabled(tmp_path: Path) -> None:
    async with BotHarness(
        data_dir=tmp_path,
        extra_plugins={"bank": BankPlugin, "shop": ShopPlugin},
        rollout={"bank": "stable", "shop": "stable"},
    ) as h:
        assert h.bot is not None
        d = h.demo
        shop = h.bot.contexts["shop"]
        assert (await h.command(d.alice, "!charge"))["content"] == "charged 1"
        assert shop.service_of("bank", Coins) is shop.bot.contexts["bank"].get(Coins)
        assert shop.service_of("bank", Greeter) is None  # not provided
        assert shop.service_of("nothing", Coins) is None  # not installed
        await h.rollout("bank", "internal")  # off on the demo server: its service is not offered there
        assert (await h.command(d.alice, "!charge"))["content"] == "no bank here"
        assert shop.service_of("bank", Coins, server_id=d.server_id) is None
        assert shop.service_of("bank", Coins) is not None  # no server named: only installed and loaded
