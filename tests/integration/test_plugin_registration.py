"""A plugin's wrong registration fails that plugin at load, with a fix; the bot runs on.

Each broken plugin below is loaded next to the good ``hello`` sample into a real bot connected to
the Stoat test double; every test ends with the good plugin and the core still answering.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beanie import Document
from loguru import logger

from logiq_core.plugin import (
    CommandContext,
    FeatureInfo,
    Job,
    Listener,
    MessageEvent,
    MessageReact,
    PluginContext,
    command,
    hookimpl,
)
from logiq_core.testing.harness import BotHarness


async def flip(ctx: CommandContext) -> None:
    await ctx.reply("heads")


async def on_message(ctx: PluginContext, event: MessageEvent) -> None:
    return None


async def on_react(ctx: PluginContext, event: MessageReact) -> None:
    return None


def sync_handler(ctx: PluginContext, event: MessageEvent) -> None:
    return None


def sync_job(ctx: PluginContext, server_id: str | None) -> None:
    return None


def plugin_registering(hook: str, make: Callable[[], Any]) -> object:
    """A plugin object whose ``hook`` registers what ``make()`` returns."""

    def feature() -> FeatureInfo:
        return FeatureInfo(description="a broken sample")

    def register(register: Callable[[Any], None]) -> None:
        register(make())

    namespace = types.SimpleNamespace()
    namespace.logiq_feature = hookimpl(feature)
    setattr(namespace, hook, hookimpl(register))
    return namespace


BROKEN = {
    "plain_function": plugin_registering("logiq_register_commands", lambda: flip),
    "string_event": plugin_registering("logiq_register_listeners", lambda: Listener("Message", on_message)),  # type: ignore[arg-type]
    "sync_listener": plugin_registering(
        "logiq_register_listeners", lambda: Listener(MessageEvent, sync_handler)
    ),  # type: ignore[arg-type]
    "wrong_event": plugin_registering("logiq_register_listeners", lambda: Listener(MessageEvent, on_react)),  # type: ignore[arg-type]
    "bare_handler": plugin_registering("logiq_register_listeners", lambda: on_message),
    "sync_job": plugin_registering("logiq_register_jobs", lambda: Job("tick", 5, sync_job)),  # type: ignore[arg-type]
    "clash_core": plugin_registering("logiq_register_commands", lambda: command("help")(flip)),
    "clash_hello": plugin_registering(
        "logiq_register_commands", lambda: [command("flip", aliases=["hello"])(flip)]
    ),
}

EXPECTED_ERRORS = {
    "plain_function": 'registered the function flip as a command: decorate it with @command("flip")',
    "string_event": "the event type is the class, not its name: write Listener(MessageEvent, handler)",
    "sync_listener": "the handler must be async def sync_handler(ctx: PluginContext, event: MessageEvent)",
    "wrong_event": "registered for MessageEvent but its event parameter is annotated MessageReact",
    "bare_handler": "registered the function on_message as a listener: register Listener(MessageEvent, on_message)",
    "sync_job": "job 'tick': its handler must be async def handler(ctx: PluginContext, server_id: str | None)",
    "clash_core": "command 'help' clashes with the core command 'help'",
    "clash_hello": "command 'hello' clashes with plugin hello's command 'hello'; clash_hello was loaded after hello",
}


async def bot_still_works(h: BotHarness) -> None:
    assert (await h.command(h.demo.alice, "!hello you"))["content"] == "Hello, you!"
    assert (await h.command(h.demo.alice, "!ping"))["content"].startswith("Pong!")


async def test_wrong_registrations_fail_their_plugin_with_what_to_write_instead(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path, extra_plugins=BROKEN) as h:
        assert h.bot is not None
        records = {r.name: r for r in h.bot.plugins.ordered()}
        assert records["hello"].status == "loaded"
        for name, expected in EXPECTED_ERRORS.items():
            assert records[name].status == "failed", name
            assert expected in (records[name].error or ""), (name, records[name].error)
            assert records[name].commands == [] and records[name].listeners == []  # nothing half-in
        await bot_still_works(h)
        help_text = (await h.command(h.demo.alice, "!help"))["content"]
        assert "**core**" in help_text and "flip" not in help_text


class UnmarkedHook:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="forgot a decorator")

    def logiq_register_commands(self, register: Callable[[Any], None]) -> None:
        register(command("unmarked")(flip))


async def test_a_hook_without_hookimpl_is_named_in_a_warning_with_the_fix(tmp_path: Path) -> None:
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    try:
        async with BotHarness(["hello"], data_dir=tmp_path, extra_plugins={"unmarked": UnmarkedHook}) as h:
            assert h.bot is not None
            assert h.bot.plugins.records["unmarked"].status == "loaded"
            await bot_still_works(h)
    finally:
        logger.remove(sink)
    assert any(
        "logiq_register_commands is not marked as a hook" in w and "put @hookimpl" in w for w in warnings
    ), warnings


commands_module = types.ModuleType("commands_module")
commands_module.heads = command("heads")(flip)  # type: ignore[attr-defined]
commands_module.tails = command("tails")(flip)  # type: ignore[attr-defined]
commands_module.helper = flip  # type: ignore[attr-defined]  # not a command: left alone


class Wallet(Document):
    balance: int = 0


class ModulePlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="commands from a module")

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return [Wallet]

    @hookimpl
    def logiq_register_commands(self, register: Callable[[Any], None]) -> None:
        register(commands_module)


async def test_commands_register_from_a_module_and_the_name_comes_from_the_entry_point(
    tmp_path: Path,
) -> None:
    async with BotHarness(
        data_dir=tmp_path, extra_plugins={"coins": ModulePlugin}, rollout={"coins": "stable"}
    ) as h:
        assert h.bot is not None
        record = h.bot.plugins.records["coins"]
        assert record.feature is not None and record.feature.name == "coins"
        assert sorted(c.name for c in record.commands) == ["heads", "tails"]
        assert (await h.command(h.demo.alice, "!tails"))["content"] == "heads"
        await Wallet(balance=3).insert()
        assert Wallet.get_pymongo_collection().name == "coins_wallet"  # prefixed by the core
        assert await Wallet.get_pymongo_collection().count_documents({}) == 1
