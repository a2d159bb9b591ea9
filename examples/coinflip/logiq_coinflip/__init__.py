"""coinflip: flip 1 to 100 coins, count each member's flips, react 🪙 to talk of coins."""

import random

from pydantic import Field

from logiq_core import plugin as logiq


class CoinflipConfig(logiq.PluginConfig):
    """[plugins.coinflip.config] in plugins.toml; checked when the bot loads the plugin."""

    reaction: str = Field(default="🪙", min_length=1, description="The emoji put on messages about coins")


@logiq.command("coinflip", description="Flip 1 to 100 coins")
async def coinflip(ctx: logiq.CommandContext, n: logiq.Range[int, 1, 100] = 1) -> None:
    await ctx.author_state.inc("flips", n)
    await ctx.reply(" ".join(random.choice("HT") for _ in range(n)))


@logiq.command("streak", description="How many coins you have flipped here")
async def streak(ctx: logiq.CommandContext) -> None:
    await ctx.reply(f"You have flipped {await ctx.author_state.get('flips', 0)} coins.")


async def react_to_coins(ctx: logiq.PluginContext, event: logiq.MessageEvent) -> None:
    if "coin" in (event.content or "").lower():
        await ctx.api.add_reaction(event.channel, event.id, CoinflipConfig.of(ctx).reaction)


@logiq.hookimpl
def logiq_feature() -> logiq.FeatureInfo:
    return logiq.FeatureInfo(
        description="Flip coins and count your flips", default_phase=logiq.Phase.BETA, config=CoinflipConfig
    )


@logiq.hookimpl
def logiq_register_commands(register: logiq.Register) -> None:
    register([coinflip, streak])


@logiq.hookimpl
def logiq_register_listeners(register: logiq.Register) -> None:
    register(logiq.Listener(logiq.MessageEvent, react_to_coins))
