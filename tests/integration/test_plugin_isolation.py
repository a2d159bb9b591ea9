"""One plugin's failure never takes down the core or another plugin; failures are counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from logiq_core.testing.harness import BotHarness

BROKEN = ["broken_import", "misspelled", "raising_listener", "hanging_listener"]


async def test_the_bot_runs_on_beside_broken_third_party_plugins(tmp_path: Path) -> None:
    from logiq_samples.hello import MessageCounter

    async with BotHarness(["hello", *BROKEN], data_dir=tmp_path) as h:
        assert h.bot is not None
        records = {r.name: r for r in h.bot.plugins.ordered()}
        assert records["hello"].status == "loaded"
        assert records["broken_import"].status == "failed"
        assert records["misspelled"].status == "failed"
        for index in range(5):
            reply = await h.command(h.demo.member_ids[0], f"!hello {index}")
            assert reply["content"] == f"Hello, {index}!"
        # The hanging listener's runs end at their 0.05 s timeout: poll until they have.
        await h.eventually(
            lambda: (
                records["raising_listener"].failures["listener_error"] >= 5
                and records["hanging_listener"].failures["listener_timeout"] >= 4
            ),
            timeout=10,
            message="the broken listeners' runs did not end",
        )
        assert records["raising_listener"].failures["listener_error"] == 5
        assert records["hanging_listener"].failures["listener_timeout"] >= 4
        counter = h.bot.contexts["hello"].get(MessageCounter)
        assert counter.seen[h.demo.server_id] == 5  # the good plugin saw every message
        assert (await h.command(h.demo.member_ids[0], "!ping"))["content"].startswith("Pong!")


def test_logiq_plugins_lists_installed_plugins_and_why_some_failed(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LOGIQ_DATA_DIR": str(tmp_path / "data"),
        "LOGIQ_PLUGINS_FILE": str(tmp_path / "absent.toml"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "logiq_core", "plugins", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["moderation"]["status"] == "loaded"
    assert rows["moderation"]["distribution"] == "logiq-moderation"
    assert rows["moderation"]["rollout"] == "stable (100%, default)"  # nothing stored yet
    assert "logiq_register_commands" in rows["moderation"]["hooks"]
    assert rows["verification"]["status"] == "loaded"
    assert rows["broken_import"]["status"] == "failed"
    assert "fails on import" in rows["broken_import"]["error"]
    # The table, in this process (the command's start is covered just above).
    from typer.testing import CliRunner

    from logiq_core.cli import app

    table = CliRunner().invoke(
        app, ["plugins"], env={k: env[k] for k in ("LOGIQ_DATA_DIR", "LOGIQ_PLUGINS_FILE")}
    )
    assert table.exit_code == 0, table.output
    assert "misspelled" in table.stdout and "failed" in table.stdout
