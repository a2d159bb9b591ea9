"""The command framework as members meet it: against the Stoat test double with a real bot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logiq_core.framework.commands import Command, CommandContext, Duration, Rest, RoleRef, command
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.stoat.models import Channel, Member
from logiq_core.testing.harness import BotHarness


@command("echo", description="Say it back")
async def echo(ctx: CommandContext, text: Rest) -> None:
    await ctx.reply(text)


@command("add", description="Add two whole numbers")
async def add(ctx: CommandContext, a: int, b: int) -> None:
    await ctx.reply(str(a + b))


@command("half", description="Halve a number")
async def half(ctx: CommandContext, x: float) -> None:
    await ctx.reply(f"{x / 2:g}")


@command("flag", description="Read a yes/no")
async def flag(ctx: CommandContext, value: bool) -> None:
    await ctx.reply("on" if value else "off")


@command("wait", description="Read a duration")
async def wait(ctx: CommandContext, duration: Duration) -> None:
    await ctx.reply(str(int(duration.total_seconds())))


@command("who", description="Resolve a member")
async def who(ctx: CommandContext, member: Member) -> None:
    await ctx.reply(ctx.display_name(member.user_id))


@command("role", description="Resolve a role")
async def role(ctx: CommandContext, value: RoleRef) -> None:
    await ctx.reply(value.role.name)


@command("where", description="Resolve a channel")
async def where(ctx: CommandContext, channel: Channel) -> None:
    await ctx.reply(str(channel.name))


@command("boom", description="Always fails")
async def boom(ctx: CommandContext) -> None:
    raise RuntimeError("kaboom: secret internals")


@command("long", description="A long answer")
async def long(ctx: CommandContext) -> None:
    await ctx.reply("\n".join(f"line {i:03d} " + "x" * 40 for i in range(120)))


@command("slow", description="Has a cooldown", cooldown=30)
async def slow(ctx: CommandContext) -> None:
    await ctx.reply("done")


class ToolsPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("tools", "Test commands", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_commands(self, register: Callable[[Command], None]) -> None:
        for item in (echo, add, half, flag, wait, who, role, where, boom, long, slow):
            register(item)


def harness(tmp_path: Path) -> BotHarness:
    return BotHarness(data_dir=tmp_path, extra_plugins={"tools": ToolsPlugin})


async def test_prefix_mention_and_per_server_prefix_across_a_restart(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        d = h.demo
        member = d.member_ids[0]
        assert (await h.command(member, f"<@{d.bot_id}> add 2 3"))["content"] == "5"
        reply = await h.command(member, "!prefix ?")
        assert reply["content"] == "You need the ManageServer permission to change the prefix."
        assert (await h.command(d.owner_id, "!prefix ?"))["content"] == "Done: the prefix here is now `?`."
        await h.restart()
        assert (await h.command(member, "?add 1 1"))["content"] == "2"
        await h.say(member, "!add 1 1")  # the old prefix no longer works...
        assert (await h.command(member, f"<@{d.bot_id}> add 4 4"))["content"] == "8"  # ...a mention does
        assert not [m for m in h.double.sent_messages if m.get("content") == "2" and m is not None][1:]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!add 2 40", "42"),
        ("!add 2 x", "`b`: expected a whole number, got `x`.\nUsage: `!add <a> <b>`"),
        ("!add 2", "`b` is missing: expected a whole number.\nUsage: `!add <a> <b>`"),
        ("!half 5", "2.5"),
        ("!half five", "`x`: expected a number, got `five`.\nUsage: `!half <x>`"),
        ("!flag yes", "on"),
        ("!flag maybe", "`value`: expected yes or no, got `maybe`.\nUsage: `!flag <value>`"),
        ("!wait 1h30m", "5400"),
        (
            "!wait soon",
            "`duration`: expected a duration like 10m, 1h30m or 2d, got `soon`.\nUsage: `!wait <duration>`",
        ),
        ("!who bob", "bob"),
        (
            "!who nobody",
            "`member`: expected a member (mention, id or name), got `nobody`.\nUsage: `!who <member>`",
        ),
        ("!role moderator", "Moderator"),
        (
            "!role @Nope",
            "`value`: expected a role (mention, id or name), got `@Nope`.\nUsage: `!role <value>`",
        ),
        ("!where #lounge", "lounge"),
        (
            "!where #nowhere",
            "`channel`: expected a channel (mention, id or name), got `#nowhere`.\nUsage: `!where <channel>`",
        ),
        ('!echo "quoted words" stay', '"quoted words" stay'),
        ("!add 1 2 3", "I did not expect `3`.\nUsage: `!add <a> <b>`"),
    ],
)
async def test_converters_with_good_and_bad_input(tmp_path: Path, text: str, expected: str) -> None:
    async with harness(tmp_path) as h:
        d = h.demo
        if text.startswith("!who bob"):
            await h.command(d.moderator_id, f"!who <@{d.member_ids[1]}>")  # bob becomes known
        reply = await h.command(d.member_ids[0], text)
        assert reply["content"] == expected
        assert reply["replies"] and not h.double.violations


async def test_member_by_mention_and_id(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        d = h.demo
        assert (await h.command(d.owner_id, f"!who <@{d.member_ids[2]}>"))["content"] == "carol"
        assert (await h.command(d.owner_id, f"!who {d.moderator_id}"))["content"] == "mo"
        assert (await h.command(d.owner_id, f"!role <%{d.roles['Member']}>"))["content"] == "Member"


async def test_echoed_mass_mentions_and_user_mentions_ping_nobody(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        d = h.demo
        reply = await h.command(
            d.member_ids[0], f"!echo @everyone @online <@{d.owner_id}> <%{d.roles['Member']}>"
        )
        content = reply["content"]
        assert "@everyone" not in content and "@online" not in content
        assert "<@" not in content and "<%" not in content
        assert "@ada" in content and "@Member" in content


async def test_a_raising_command_is_answered_without_a_traceback(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        reply = await h.command(h.demo.member_ids[0], "!boom")
        assert reply["content"].startswith("Something went wrong (ref ")
        assert "kaboom" not in reply["content"] and "Traceback" not in reply["content"]
        assert h.bot is not None
        await h.bot.metrics.flush()  # counted as an error of the feature
        from logiq_core.framework.rollout.models import MetricBucketDoc

        buckets = await MetricBucketDoc.find(MetricBucketDoc.feature == "tools").to_list()
        assert sum(b.errors for b in buckets) == 1


async def test_cooldowns_say_when_to_try_again(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        d = h.demo
        assert (await h.command(d.member_ids[0], "!slow"))["content"] == "done"
        again = await h.command(d.member_ids[0], "!slow")
        assert again["content"] in {f"Slow down: try `slow` again in {n} s." for n in (29, 30)}
        assert (await h.command(d.member_ids[1], "!slow"))["content"] == "done"  # per member


async def test_long_replies_page_by_reactions_for_the_invoker_only(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        d = h.demo
        invoker, other = d.member_ids[0], d.member_ids[1]
        reply = await h.command(invoker, "!long")
        assert reply["content"].startswith("line 000")
        assert "(page 1/" in reply["content"]
        assert len(reply["content"].encode()) <= 2000
        assert reply["interactions"]["reactions"] == ["⬅️", "➡️"]
        channel = reply["channel"]
        await h.double.react_as(other, channel, reply["_id"], "➡️")  # not theirs to turn...
        await h.double.react_as(invoker, channel, reply["_id"], "➡️")  # ...and the barrier
        await h.eventually(lambda: "(page 2/" in h.double.world.messages[reply["_id"]]["content"])
        await h.settle()
        edits = [
            r
            for r in h.double.requests
            if r["method"] == "PATCH" and r["path"].endswith(f"/messages/{reply['_id']}")
        ]
        assert len(edits) == 1  # the other member's reaction turned no page
        assert not h.double.violations


async def test_help_lists_what_the_member_may_use_and_explains_one_command(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        member_help = (await h.command(d.member_ids[0], "!help"))["content"]
        moderator_help = (await h.command(d.moderator_id, "!help"))["content"]
        assert "`kick`" not in member_help and "`kick`" in moderator_help
        detail = (await h.command(d.moderator_id, "!help kick"))["content"]
        assert "Usage: `!kick <member> [reason...]`" in detail


def test_fuzz_any_text_never_breaks_the_router_or_the_spec(tmp_path: Path) -> None:
    """Arbitrary text at the parser: nothing raises, nothing sent breaks the spec or pings."""
    with asyncio.Runner() as runner:
        h = harness(tmp_path)
        runner.run(h.__aenter__())
        try:

            @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
            @given(text=st.text(min_size=1, max_size=300))
            def check(text: str) -> None:
                runner.run(_fuzz_once(h, text))

            check()
        finally:
            runner.run(h.__aexit__(None, None, None))


async def _fuzz_once(h: BotHarness, text: str) -> None:
    sent_before = len(h.double.sent_messages)
    for content in (
        text,
        "!" + text,
        "!echo " + text,
        "!add " + text,
        f"<@{h.demo.bot_id}> {text}",
    ):
        await h.say(h.demo.member_ids[0], content)
    await h.settle()  # every answer sent
    assert h.double.violations == []
    for message in h.double.sent_messages[sent_before:]:
        body = message.get("content") or ""
        assert "@everyone" not in body and "@online" not in body
        assert 0 < len(body.encode()) <= 2000


async def test_members_are_found_by_name_even_after_joining_later(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        d = h.demo
        assert (await h.command(d.owner_id, "!who carol"))["content"] == "carol"  # loads the list
        late = h.double.create_user("zed")
        h.double.add_member(d.server_id, late.id)  # the join event carries no name
        await h.settle()  # the bot has the join event
        assert (await h.command(d.owner_id, "!who zed"))["content"] == "zed"
