"""Typed plugin configuration in a running bot and in ``logiq plugins``: the model instance is
what plugins read, a wrong table fails only its plugin (or stops the bot when it is required),
and the operator is told which key is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import Field
from typer.testing import CliRunner

from logiq_core.cli import app
from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.policy import PluginPolicy, Policy
from logiq_core.plugin import (
    CommandContext,
    FeatureInfo,
    PluginConfig,
    PluginContext,
    Register,
    command,
    hookimpl,
)
from logiq_core.testing.harness import BotHarness


class DiceConfig(PluginConfig):
    sides: int = Field(default=6, ge=2, description="Sides of a die")


@command("sides", description="How many sides the dice have")
async def sides(ctx: CommandContext) -> None:
    await ctx.reply(f"{DiceConfig.of(ctx).sides} sides")


def dice_plugin(started: list[object]) -> SimpleNamespace:
    @hookimpl
    def logiq_feature() -> FeatureInfo:
        return FeatureInfo(description="Dice", config=DiceConfig)

    @hookimpl
    def logiq_register_commands(register: Register) -> None:
        register(sides)

    @hookimpl
    def logiq_startup(context: PluginContext) -> None:
        started.append(context.config)

    return SimpleNamespace(
        logiq_feature=logiq_feature,
        logiq_register_commands=logiq_register_commands,
        logiq_startup=logiq_startup,
    )


def untyped_plugin(started: list[object]) -> SimpleNamespace:
    @hookimpl
    def logiq_feature() -> FeatureInfo:
        return FeatureInfo(description="Untyped")

    @hookimpl
    def logiq_startup(context: PluginContext) -> None:
        started.append(context.config)

    return SimpleNamespace(logiq_feature=logiq_feature, logiq_startup=logiq_startup)


async def test_plugins_read_their_typed_config_and_a_bad_one_fails_alone(tmp_path: Path) -> None:
    started: list[object] = []
    config: dict[str, dict[str, Any]] = {
        "dice": {"sides": 20},
        "bad_dice": {"sides": 1},
        "untyped": {"anything": ["goes"]},
    }
    plugins = {
        "dice": dice_plugin(started),
        "bad_dice": dice_plugin(started),
        "untyped": untyped_plugin(started),
    }
    async with BotHarness(["coinflip"], data_dir=tmp_path, plugin_config=config, extra_plugins=plugins) as h:
        await h.rollout("dice", "stable")
        assert (await h.command(h.demo.alice, "!sides"))["content"] == "20 sides"
        assert h.bot is not None
        records = {record.name: record for record in h.bot.plugins.ordered()}
        assert records["bad_dice"].status == "failed"
        assert (
            records["bad_dice"].error
            == "plugins.toml [plugins.bad_dice.config] sides: must be at least 2 (got 1)"
        )
        assert records["dice"].status == records["untyped"].status == records["coinflip"].status == "loaded"
        assert h.bot.contexts["dice"].config == DiceConfig(sides=20)
        assert h.bot.contexts["untyped"].config == {"anything": ["goes"]}  # no model: the plain table
        assert started == [DiceConfig(sides=20), {"anything": ["goes"]}]  # the failed one never started
        assert "bad_dice" not in h.bot.contexts


async def test_a_required_plugin_with_a_bad_config_stops_the_bot(tmp_path: Path) -> None:
    policy = Policy(plugins={"dice": PluginPolicy("dice", True, True, {"sidez": 8})})
    with pytest.raises(ConfigurationError) as raised:
        async with BotHarness(data_dir=tmp_path, policy=policy, extra_plugins={"dice": dice_plugin([])}):
            pass
    assert str(raised.value) == (
        "required plugin dice failed: plugins.toml [plugins.dice.config] unknown key 'sidez' "
        "(did you mean 'sides'?)"
    )


def logiq_plugins(tmp_path: Path, toml: str, *args: str) -> Any:
    path = tmp_path / "plugins.toml"
    path.write_text(toml)
    env = {"LOGIQ_PLUGINS_FILE": str(path), "LOGIQ_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "250"}
    return CliRunner().invoke(app, ["plugins", *args], env=env), path


def test_logiq_plugins_names_the_wrong_keys_of_a_failed_plugin(tmp_path: Path) -> None:
    toml = (
        "[plugins.leveling.config]\nxp_min = -5\n[plugins.economy.config]\ndialy = 100\nstart_balance = -1\n"
    )
    result, path = logiq_plugins(tmp_path, toml, "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["leveling"]["status"] == "failed"
    assert (
        rows["leveling"]["error"] == f"{path} [plugins.leveling.config] xp_min: must be at least 0 (got -5)"
    )
    assert rows["economy"]["error"] == (
        f"{path} [plugins.economy.config] start_balance: must be at least 0 (got -1); "
        "unknown key 'dialy' (did you mean 'daily'?)"
    )
    assert rows["moderation"]["status"] == "loaded"  # the others load as usual
    table, _ = logiq_plugins(tmp_path, toml)
    assert table.exit_code == 0, table.output
    # the table says failed; the reason follows in full, on one unwrapped line per plugin
    assert f"leveling (failed): {path} [plugins.leveling.config] xp_min: must be at least 0 (got -5)" in (
        table.stdout.splitlines()
    )


def test_logiq_plugins_exits_2_when_a_required_plugin_is_misconfigured(tmp_path: Path) -> None:
    result, path = logiq_plugins(
        tmp_path, "[plugins.tickets]\nrequired = true\n[plugins.tickets.config]\nmin_autoclose_seconds = 0\n"
    )
    assert result.exit_code == 2
    assert (
        f"required plugin tickets failed: {path} [plugins.tickets.config] min_autoclose_seconds: must be at least 1 (got 0)"
        in " ".join(result.output.split())
    )


def test_logiq_run_exits_2_in_one_line_when_a_required_plugin_is_misconfigured(tmp_path: Path) -> None:
    """The real command: plugins load before anything reaches Stoat or storage, so no server is
    needed to see the refusal (exit 2, what to fix, no traceback, nothing stored)."""
    path = tmp_path / "plugins.toml"
    path.write_text(
        "[plugins.tickets]\nrequired = true\n[plugins.tickets.config]\nmin_autoclose_seconds = 0\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOGIQ_")},
        "LOGIQ_TOKEN": "T" * 64,
        "LOGIQ_API_URL": "http://127.0.0.1:9",
        "LOGIQ_PLUGINS_FILE": str(path),
        "LOGIQ_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "logiq_core", "run"], env=env, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "T" * 64 not in output
    assert (
        "required plugin tickets failed" in output and "min_autoclose_seconds: must be at least 1" in output
    )
    assert not (tmp_path / "data" / "db").exists()
