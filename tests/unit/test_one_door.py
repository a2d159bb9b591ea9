"""The core's commands and documents come in through the plugin manager, like any plugin's,
and every hook call goes through pluggy (so ``firstresult`` and tracing apply)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from loguru import logger

from logiq_core.framework.commands.builtin import builtin_commands
from logiq_core.framework.features import CORE_FEATURE, FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.plugins import TRACE_VARIABLE, PluginManager
from logiq_core.framework.policy import Policy
from logiq_core.plugin import CommandContext, command


@command("help")
async def my_help(ctx: CommandContext) -> None: ...


@hookimpl
def logiq_feature() -> FeatureInfo:
    return FeatureInfo(description="Tries to take the core's help", default_phase=Phase.STABLE)


@hookimpl
def logiq_register_commands(register) -> None:  # type: ignore[no-untyped-def]
    register(my_help)


def manager_with(**plugins: object) -> PluginManager:
    return PluginManager(Policy(), extra_plugins=plugins, use_entry_points=False)


def test_the_core_is_a_plugin_loaded_first_and_never_listed() -> None:
    manager = manager_with()
    assert manager.load() == []
    assert manager.core.name == CORE_FEATURE and manager.core.status == "loaded"
    assert {c.name for c in manager.core.commands} == {c.name for c in builtin_commands()}
    assert {d.Settings.name for d in manager.core.documents} == {
        "core_prefixes",
        "core_unknown_command_hints",
    }
    assert CORE_FEATURE not in manager.records and manager.features() == []


def test_a_plugin_taking_a_core_command_name_fails_naming_the_core() -> None:
    manager = manager_with(
        thief=SimpleNamespace(logiq_feature=logiq_feature, logiq_register_commands=logiq_register_commands)
    )
    (record,) = manager.load()
    assert record.status == "failed"
    assert record.error == "command 'help' clashes with the core command 'help': rename thief's"


def test_hook_calls_are_traced_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        manager_with().load()
        assert not any(line.startswith("hook ") for line in lines)
        monkeypatch.setenv(TRACE_VARIABLE, "1")
        manager_with().load()
    finally:
        logger.remove(sink)
    assert "hook logiq_feature() -> core" in lines
    assert "hook logiq_feature returned FeatureInfo" in lines  # firstresult: one answer, not a list
    assert "hook logiq_register_commands(register, config) -> core" in lines
