"""coinflip end to end: a real bot on the Stoat test double, with the real embedded storage."""

import re


async def test_coinflip_flips_n_coins(logiq_harness):
    async with logiq_harness(["coinflip"], rollout={"coinflip": "stable"}) as h:
        assert re.fullmatch(r"[HT]( [HT]){2}", (await h.command(h.demo.alice, "!coinflip 3"))["content"])


async def test_streak_counts_flips_and_survives_a_restart(logiq_harness):
    async with logiq_harness(["coinflip"], rollout={"coinflip": "stable"}) as h:
        await h.command(h.demo.alice, "!coinflip 4")
        await h.restart()
        assert (await h.command(h.demo.alice, "!streak"))["content"] == "You have flipped 4 coins."


async def test_reacts_to_talk_of_coins(logiq_harness):
    async with logiq_harness(["coinflip"], rollout={"coinflip": "stable"}) as h:
        await h.wait_for_reaction(await h.say(h.demo.bob, "I found a Coin!"), "🪙")


async def test_bad_counts_name_the_parameter(logiq_harness):
    async with logiq_harness(["coinflip"], rollout={"coinflip": "stable"}) as h:
        assert (await h.command(h.demo.alice, "!coinflip 0"))["content"].startswith(
            "`n` must be from 1 to 100"
        )
        assert (await h.command(h.demo.alice, "!coinflip abc"))["content"].startswith(
            "`n`: expected a whole number"
        )


async def test_invisible_on_a_server_outside_its_rollout(logiq_harness):
    async with logiq_harness(["coinflip"]) as h:  # it ships at beta: this server is not in it
        assert (await h.command(h.demo.alice, "!coinflip"))[
            "content"
        ] == "`coinflip` is not available on this server."


async def test_the_reaction_comes_from_plugins_toml(logiq_harness):
    config = {"coinflip": {"reaction": "🎲"}}  # [plugins.coinflip.config] reaction = "🎲"
    async with logiq_harness(["coinflip"], rollout={"coinflip": "stable"}, plugin_config=config) as h:
        await h.wait_for_reaction(await h.say(h.demo.bob, "heads or tails? a coin decides"), "🎲")
