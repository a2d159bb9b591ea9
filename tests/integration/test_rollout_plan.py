"""The rollout plan (ROLLOUT_PLAN.md), replayed command by command on a fresh install.

Only the core is installed (no economy, leveling... plugins): the eight features come from the
project's own plugins.toml ``[rollout]`` table. ``--status`` is checked byte for byte after every
step. In the middle, a real bot (a test stand-in for the economy plugin) runs against the Stoat
double with known failures and latencies, and the monitor's error rate, p95 and adoption are
checked against them. The CLI runs in-process on one started storage (process start is not
what is tested here; test_rollout_cli.py runs the script itself).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from logiq_core.app.rollout.cli import script_main_async
from logiq_core.framework.commands import Command, CommandContext, command
from logiq_core.framework.context import PluginContext
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.listeners import Listener
from logiq_core.framework.rollout.models import ALL_DOCUMENTS, KnownServerDoc
from logiq_core.framework.storage import Storage
from logiq_core.stoat.events import MessageEvent
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.storage import storage_for

SERVER_A, SERVER_B, SERVER_C = (f"01HZX3K4M5N6P7Q8R9S0T1V2W{c}" for c in "ABC")
PLAN_STATUS = """Feature Status:
  verification: stable (100%)
  moderation: stable (100%)
  economy: gradual (50%)
  leveling: gradual (50%)
  tickets: beta (25% whitelisted)
  giveaways: beta (25% whitelisted)
  social_alerts: internal (5%)
  ai_chat: internal (10%)
"""
SLOW_SECONDS = 0.6


# --- a stand-in for the economy plugin (the real one is not installed: only the core is) --------
@command("balance", description="Your coins", cooldown=0)
async def balance(ctx: CommandContext) -> None:
    await ctx.reply("You have 100 coins.")


async def thanks_listener(ctx: PluginContext, event: MessageEvent) -> None:
    """Rewards "thanks": a use the core cannot see, reported with ctx.record_use; other
    messages are a listener run and nothing more (not adoption)."""
    if (event.content or "").startswith("thanks"):
        ctx.record_use(event.server_id_hint)


class EconomyStandIn:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        # Its own default says internal; plugins.toml names economy, so this seeds nothing.
        return FeatureInfo("economy", "coins (test stand-in)", Phase.INTERNAL, 0)

    @hookimpl
    def logiq_register_commands(self, register: Callable[[Command], None]) -> None:
        register(balance)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None]) -> None:
        register(Listener(MessageEvent, thanks_listener))


# --- helpers ----------------------------------------------------------------------------------
class Operator:
    """Runs ``scripts/gradual_rollout.py ARGS`` in-process on one started storage."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.storage: Storage | None = None
        self.printed: list[str] = []

    async def __call__(self, *argv: str) -> str:
        assert self.storage is not None
        self.capsys.readouterr()
        code = await script_main_async(list(argv), self.storage)
        out, err = self.capsys.readouterr()
        assert (code, err) == (0, ""), (argv, err)
        self.printed.append(f"$ python scripts/gradual_rollout.py {' '.join(argv)}\n{out}")
        return out


def with_lines(status: str, **changes: str) -> str:
    lines = status.splitlines()
    for name, text in changes.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"  {name}: "))
        lines[index] = f"  {name}: {text}"
    return "\n".join(lines) + "\n"


async def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition() if asyncio.iscoroutinefunction(condition) else not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def figure(report: str, pattern: str) -> str:
    match = re.search(pattern, report)
    assert match, (pattern, report)
    return match.group(1)


# --- the replay -------------------------------------------------------------------------------
async def test_the_plan_replayed_on_a_fresh_install_with_only_the_core(
    core_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Operator(capsys)
    run.storage = storage_for(core_only)  # the storage the harness below uses for core_only
    await run.storage.start(ALL_DOCUMENTS)
    try:
        status = PLAN_STATUS
        assert await run("--status") == status

        # Weeks 3-4 to 9+: the plan's nine commands, as written, each saying what it changed.
        steps = [
            (["--set", "economy", "50"], "economy: gradual (50%) (no change)\n", {}),
            (
                ["--whitelist", "tickets", SERVER_A],
                f"tickets: beta (25% whitelisted) → beta (25% whitelisted); whitelist +{SERVER_A}\n",
                {},
            ),
            (
                ["--set", "economy", "75"],
                "economy: gradual (50%) → gradual (75%)\n",
                {"economy": "gradual (75%)"},
            ),
            (
                ["--whitelist", "giveaways", SERVER_B],
                f"giveaways: beta (25% whitelisted) → beta (25% whitelisted); whitelist +{SERVER_B}\n",
                {},
            ),
            (
                ["--set", "leveling", "75"],
                "leveling: gradual (50%) → gradual (75%)\n",
                {"leveling": "gradual (75%)"},
            ),
            (
                ["--phase", "economy", "stable"],
                "economy: gradual (75%) → stable (100%)\n",
                {"economy": "stable (100%)"},
            ),
            (
                ["--phase", "leveling", "stable"],
                "leveling: gradual (75%) → stable (100%)\n",
                {"leveling": "stable (100%)"},
            ),
            (
                ["--phase", "tickets", "stable"],
                "tickets: beta (25% whitelisted) → stable (100%)\n",
                {"tickets": "stable (100%)"},
            ),
            (
                ["--phase", "giveaways", "stable"],
                "giveaways: beta (25% whitelisted) → stable (100%)\n",
                {"giveaways": "stable (100%)"},
            ),
        ]
        for argv, printed, changes in steps:
            assert await run(*argv) == printed, argv
            status = with_lines(status, **changes)
            assert await run("--status") == status, argv

        # The other commands of the plan.
        assert await run("--remove-whitelist", "tickets", SERVER_A) == (
            f"tickets: stable (100%) → stable (100%); whitelist -{SERVER_A}\n"
        )
        assert await run("--blacklist", "economy", SERVER_C) == (
            f"economy: stable (100%) → stable (100%); blacklist +{SERVER_C}\n"
        )
        assert await run("--phase", "tickets", "gradual") == "tickets: stable (100%) → gradual (25%)\n"
        status = with_lines(status, tickets="gradual (25%)")
        assert await run("--status") == status
        exported = await run("--export")
        path = tmp_path / "rollout_config.json"
        path.write_text(exported)
        assert await run("--import", str(path)) == f"imported {path}: no changes\n"
        assert await run("--status") == status
        verbose = await run("--status", "-v")
        assert "  economy: stable (100%)  [not installed | whitelist 0, blacklist 1]" in verbose
    finally:
        await run.storage.stop()

    # --- the bot runs economy (stable) with known failures and latencies ----------------------
    async with BotHarness(extra_plugins={"economy": EconomyStandIn()}, data_dir=core_only) as h:
        assert h.bot is not None
        run.storage = h.storage  # the CLI, in-process, on the bot's storage
        double, demo = h.double, h.demo
        servers = [(demo.server_id, h.channel_id(None), demo.member_ids[0])]
        for index in range(1, 7):
            server = double.create_server(demo.owner_id, f"Garden {index}")
            member = double.create_user(f"member{index}")
            double.add_member(server["_id"], member.id)
            double.add_member(server["_id"], demo.bot_id)
            servers.append((server["_id"], server["channels"][0], member.id))

        async def all_known() -> bool:
            return await KnownServerDoc.find_all().count() == 7

        await wait_for(all_known, "the bot to know its 7 servers")

        async def balance_in(where: int, *, fail: bool = False) -> None:
            _, channel_id, member_id = servers[where]
            if fail:  # the reply gets a 403: one invocation, one error
                double.fail_next(
                    "POST",
                    f"/channels/{channel_id}/messages$",
                    403,
                    {"type": "MissingPermission", "permission": "SendMessage"},
                )
            reply = await h.command(member_id, "!balance", channel=channel_id)
            expected = (
                "Stoat refused: I am missing the SendMessage permission." if fail else ("You have 100 coins.")
            )
            assert reply["content"] == expected

        async def slowly_at_once(wheres: list[int]) -> None:
            """``!balance`` on each of these servers, sent together while Stoat takes
            SLOW_SECONDS per request: every command waits that long, the test only once."""
            double.set_latency(SLOW_SECONDS)
            try:
                asked = [await h.say(servers[w][2], "!balance", channel=servers[w][1]) for w in wheres]

                def replies() -> list[dict[str, Any]]:
                    found = []
                    for message in asked:
                        for reply in double.messages_in(message["channel"]):
                            if message["_id"] in (reply.get("replies") or []):
                                found.append(reply)
                    return found if len(found) == len(asked) else []

                answered = await h.eventually(replies, timeout=15, message="a slow command never answered")
            finally:
                double.set_latency(0.0)
            assert [reply["content"] for reply in answered] == ["You have 100 coins."] * len(asked)

        # 100 commands on servers 0-2: 10 replies refused (403), 8 answered slowly (0.6 s).
        commands = 100
        failing = set(range(5, 100, 10))
        slow = {3, 17, 29, 41, 53, 67, 79, 91}
        for index in range(commands):
            if index not in slow:
                await balance_in(index % 3, fail=index in failing)
        await slowly_at_once([index % 3 for index in sorted(slow)])
        # Server 3 uses economy only through the plugin (ctx.record_use); server 4 only chats
        # (listener runs, not adoption); server 5 used it, then gets blacklisted; server 6 used
        # it, then the bot leaves it.
        listener_runs = 0
        for where, text in ((3, "thanks for the coins"), (4, "hello everyone"), (4, "nice day")):
            await h.say(servers[where][2], text, channel=servers[where][1])
            listener_runs += 1
        for where in (5, 6):
            await balance_in(where)
        commands += 2
        listener_runs += commands  # every command message also reaches the listener
        assert await run("--blacklist", "economy", servers[5][0]) == (
            f"economy: stable (100%) → stable (100%); blacklist +{servers[5][0]}\n"
        )
        await wait_for(lambda: not h.bot.gate.is_enabled("economy", servers[5][0]), "the blacklist")
        refused = await h.command(servers[5][2], "!balance", channel=servers[5][1])
        assert refused["content"] == "`economy` is not available on this server."
        await double.inject_event(
            {"type": "ServerMemberLeave", "id": servers[6][0], "user": demo.bot_id, "reason": "Kick"}
        )

        async def left() -> bool:
            return await KnownServerDoc.find_all().count() == 6

        await wait_for(left, "the bot to forget the server it left")

        # Feedback: only where economy is enabled.
        for where, rating, text in ((0, 4, "nice"), (1, 5, "love the coins"), (2, 2, "too slow")):
            reply = await h.command(
                servers[where][2], f"!feedback economy {rating} {text}", channel=servers[where][1]
            )
            assert reply["content"] == f"Thanks! Your {rating}/5 for `economy` was recorded."
        reply = await h.command(servers[5][2], "!feedback economy 1 meh", channel=servers[5][1])
        assert reply["content"] == "`economy` is not enabled here, so there is nothing to rate yet."

        listener_runs += 3  # the feedback messages reach economy's listener too
        await wait_for(
            lambda: h.bot.metrics.finished["economy"] >= commands + listener_runs,
            "every invocation to be counted",
        )
        await h.bot.metrics.flush()
        report = await run("--monitor", "economy")
        data = json.loads(await run("--monitor", "economy", "--json"))

    # What the bot did, and what the monitor must say about it.
    invocations = commands + listener_runs
    assert (data["invocations"], data["errors"]) == (invocations, len(failing))
    error_rate = 100.0 * len(failing) / invocations
    assert data["error_rate_percent"] == pytest.approx(error_rate)
    assert f"error rate: {error_rate:.2f}% ({len(failing)} errors in {invocations} invocations)" in report
    assert data["verdicts"]["error_rate"]["status"] == "not met"
    # Response time: 102 timed commands, 8 of them slowed by 0.6 s: p95 is a slow one, p50 not.
    assert data["response_samples"] == commands
    # (the histogram's buckets are 4.4% wide and report their middle: within 2.2%)
    assert SLOW_SECONDS * 1000 * 0.978 <= data["p95_ms"] < SLOW_SECONDS * 1000 + 400
    assert data["p50_ms"] < 300
    assert data["verdicts"]["response_time"]["status"] == "not met"
    p95 = int(figure(report, r"p95 (\d+) ms, p99"))
    assert p95 == round(data["p95_ms"])
    # Adoption: enabled now on servers 0-4 (5 blacklisted, 6 left); used on 0-3 (4 only chatted).
    assert (data["servers_known"], data["servers_enabled"], data["servers_used"]) == (6, 5, 4)
    assert data["adoption_percent"] == pytest.approx(80.0)
    assert data["verdicts"]["adoption"]["status"] == "met"
    assert "servers with economy enabled: 5 (of 6 the bot is in)" in report
    assert "adoption: 80.0% (4 of 5 servers with it enabled used it)" in report
    assert (data["feedback_count"], data["feedback_mean"]) == (3, pytest.approx(11 / 3))
    assert [c["text"] for c in data["feedback_latest"]] == ["too slow", "love the coins", "nice"]

    # --- the plan's rollback ------------------------------------------------------------------
    run.storage = storage_for(core_only)  # the storage the harness below uses for core_only
    await run.storage.start(ALL_DOCUMENTS)
    try:
        assert await run("--phase", "economy", "internal") == (
            "economy: stable (100%) → internal (75%); 75% is kept: it applies to all servers "
            "when economy reaches gradual; only internal servers get it now\n"
        )
        status = with_lines(status, economy="internal (75%)")
        assert await run("--status") == status
        after = await run("--monitor", "economy")
        assert "servers with economy enabled: 0 (of 6 the bot is in)" in after
        assert await run("--set", "economy", "25") == (
            "economy: internal (75%) → gradual (25%); --set moved economy from internal to "
            "gradual, where 25% of all servers get it\n"
        )
        status = with_lines(status, economy="gradual (25%)")
        assert await run("--status") == status
    finally:
        await run.storage.stop()
    print("\n".join(run.printed))  # the transcript: shown with pytest -rP (or on failure)
