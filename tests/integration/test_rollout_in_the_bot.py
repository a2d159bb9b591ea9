"""The gate inside a running bot: live propagation, gating of commands and listeners, guard."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logiq_core.app.rollout.cli import script_main_async
from logiq_core.framework.rollout.models import MetricBucketDoc
from logiq_core.testing.harness import BotHarness

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gradual_rollout.py"


async def cli(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    plugins_file = tmp_path / "plugins.toml"
    if not plugins_file.exists():
        plugins_file.write_text("[logiq]\nenable_unlisted = false\n[plugins.hello]\n")
    env = {**os.environ, "LOGIQ_DATA_DIR": str(tmp_path), "LOGIQ_PLUGINS_FILE": str(plugins_file)}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(SCRIPT), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.own_storage_server  # another process shares the data directory
async def test_a_cli_change_reaches_the_running_bot_within_a_second(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        gate = h.bot.gate
        assert gate.is_enabled("hello", h.demo.server_id)
        result = await cli(tmp_path, "--phase", "hello", "internal", "--actor", "ops")
        assert result.returncode == 0, result.stderr
        changed_at = time.monotonic()
        while gate.is_enabled("hello", h.demo.server_id):
            assert time.monotonic() - changed_at < 1.0, "not applied within 1 s"
            await asyncio.sleep(0.01)


async def cli_in_process(h: BotHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """The rollout script's command, in this process on the bot's own storage (what is tested
    here is the bot's answer to a change, not the script's start; the test above runs it)."""
    plugins_file = tmp_path / "plugins.toml"
    if not plugins_file.exists():
        plugins_file.write_text("[logiq]\nenable_unlisted = false\n[plugins.hello]\n")
    monkeypatch.setenv("LOGIQ_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOGIQ_PLUGINS_FILE", str(plugins_file))
    return await script_main_async(list(argv), h.storage)


async def test_disabled_feature_commands_answer_briefly_and_listeners_see_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logiq_samples.hello import MessageCounter

    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        d, gate = h.demo, h.bot.gate
        assert (await h.command(d.member_ids[0], "!hello Ada"))["content"] == "Hello, Ada!"
        counter = h.bot.contexts["hello"].get(MessageCounter)
        await h.settle()
        seen_before = counter.seen.get(d.server_id, 0)
        assert seen_before == 1  # the member's message; the bot's own reply is not dispatched
        assert await cli_in_process(h, tmp_path, monkeypatch, "--phase", "hello", "internal") == 0
        await h.eventually(lambda: not gate.is_enabled("hello", d.server_id), message="not applied")
        reply = await h.command(d.member_ids[0], "!hello again")
        assert reply["content"] == "`hello` is not available on this server."
        await h.say(d.member_ids[0], "!hello spam")  # rate-limited: no second notice
        help_reply = await h.command(d.member_ids[0], "!help")
        assert "hello" not in help_reply["content"]
        await h.settle()  # "!hello spam" came before "!help": it has been answered (or not) by now
        notices = [m for m in h.double.sent_messages if "not available" in (m.get("content") or "")]
        assert len(notices) == 1
        assert counter.seen.get(d.server_id, 0) == seen_before  # the listener saw nothing more
        assert await cli_in_process(h, tmp_path, monkeypatch, "--internal", d.server_id) == 0
        await h.eventually(lambda: gate.is_enabled("hello", d.server_id), message="not applied")
        assert (await h.command(d.member_ids[0], "!hello team"))["content"] == "Hello, team!"


async def test_metrics_are_flushed_in_batches_not_per_event(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        metrics = h.bot.metrics
        await metrics.flush()
        for _ in range(1000):
            metrics.record_invocation("hello", h.demo.server_id, 0.002, False)
        assert await metrics.flush() == 1  # one upsert for one (feature, server, minute)
        stored = await MetricBucketDoc.find(MetricBucketDoc.feature == "hello").to_list()
        assert sum(b.invocations for b in stored) >= 1000
