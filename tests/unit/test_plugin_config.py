"""Typed plugin configuration: a plugin's ``[plugins.<name>.config]`` is checked against its
``PluginConfig`` model at load, and a table that does not fit fails that plugin alone with one
readable line naming every wrong key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, Self

import pytest
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.plugins import PluginManager
from logiq_core.framework.policy import PluginPolicy, Policy, load_policy
from logiq_core.plugin import (
    CommandContext,
    FeatureInfo,
    Job,
    PluginConfig,
    PluginContext,
    Register,
    command,
    hookimpl,
)

REPO = Path(__file__).resolve().parents[2]


class DiceConfig(PluginConfig):
    sides: int = Field(default=6, ge=2, le=1000, description="Sides of a die")
    daily: int = Field(default=1, ge=1, description="Free rolls a day")
    tidy_seconds: PositiveFloat = Field(default=300.0, description="How often old rolls go")
    greeting: str = Field(default="hi", min_length=1)
    fair: bool = True
    xp_min: int = Field(default=1, ge=1)
    xp_max: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _xp_range(self) -> Self:
        if self.xp_min > self.xp_max:
            raise ValueError(f"xp_min ({self.xp_min}) must not be above xp_max ({self.xp_max})")
        return self


@command("roll", description="Roll a die")
async def roll(ctx: CommandContext) -> None:
    await ctx.reply(str(DiceConfig.of(ctx).sides))


async def tidy(ctx: PluginContext, server_id: str | None) -> None:
    return None


def dice_plugin(seen: list[Any]) -> SimpleNamespace:
    """A plugin declaring DiceConfig that records the ``config`` each register hook received."""

    @hookimpl
    def logiq_feature() -> FeatureInfo:
        return FeatureInfo(description="Roll dice", config=DiceConfig)

    @hookimpl
    def logiq_register_commands(register: Register, config: DiceConfig) -> None:
        seen.append(config)
        register(roll)

    @hookimpl
    def logiq_register_jobs(register: Register, config: DiceConfig) -> None:
        seen.append(config)
        register(Job("tidy", config.tidy_seconds, tidy))

    return SimpleNamespace(
        logiq_feature=logiq_feature,
        logiq_register_commands=logiq_register_commands,
        logiq_register_jobs=logiq_register_jobs,
    )


def untyped_plugin(seen: list[Any]) -> SimpleNamespace:
    """A plugin written before typed configuration: no model, reads a dict."""

    @hookimpl
    def logiq_feature() -> FeatureInfo:
        return FeatureInfo(description="Says hello")

    @hookimpl
    def logiq_register_commands(register: Register, config: dict[str, Any]) -> None:
        seen.append(config)

    return SimpleNamespace(logiq_feature=logiq_feature, logiq_register_commands=logiq_register_commands)


def load(
    config: dict[str, Any], *, required: bool = False, source: Path | None = None
) -> tuple[PluginManager, list[Any]]:
    seen: list[Any] = []
    policy = Policy(
        plugins={
            "dice": PluginPolicy("dice", True, required, config),
            "hello": PluginPolicy("hello", True, False, {"greeting": "hi", "dialy": 3}),
        },
        source=source,
    )
    manager = PluginManager(
        policy,
        extra_plugins={"dice": dice_plugin(seen), "hello": untyped_plugin(seen)},
        use_entry_points=False,
    )
    manager.load()
    return manager, seen


def error_of(config: dict[str, Any]) -> str:
    manager, _ = load(config)
    record = manager.records["dice"]
    assert record.status == "failed"
    return record.error or ""


PREFIX = "plugins.toml [plugins.dice.config] "


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sides": 1}, "sides: must be at least 2 (got 1)"),
        ({"sides": 5000}, "sides: must be at most 1000 (got 5000)"),
        ({"tidy_seconds": 0}, "tidy_seconds: must be above 0 (got 0)"),
        ({"sides": "twenty"}, 'sides: must be a whole number (got "twenty")'),
        ({"sides": 6.5}, "sides: must be a whole number (got 6.5)"),
        ({"fair": "maybe"}, 'fair: must be true or false (got "maybe")'),
        ({"greeting": 5}, 'greeting: must be text in quotes, like "..." (got 5)'),
        ({"greeting": ""}, 'greeting: must be at least 1 character(s) long (got "")'),
        ({"dialy": 2}, "unknown key 'dialy' (did you mean 'daily'?)"),
        ({"colour": "red"}, "unknown key 'colour' (known keys: sides, daily, tidy_seconds, greeting, fair, "),
        ({"xp_min": 9, "xp_max": 3}, "xp_min (9) must not be above xp_max (3)"),
    ],
)
def test_each_kind_of_mistake_is_one_readable_line_naming_the_key(
    config: dict[str, Any], message: str
) -> None:
    error = error_of(config)
    assert error.startswith(PREFIX + message), error
    assert "\n" not in error and "pydantic" not in error and "Input should" not in error


def test_several_mistakes_are_all_named_in_one_message() -> None:
    error = error_of({"sides": -5, "dialy": 2, "fair": "maybe"})
    assert error == (
        PREFIX + 'sides: must be at least 2 (got -5); fair: must be true or false (got "maybe"); '
        "unknown key 'dialy' (did you mean 'daily'?)"
    )


def test_the_message_names_the_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text("[plugins.dice.config]\nsides = 1\n")
    manager = PluginManager(
        load_policy(path), extra_plugins={"dice": dice_plugin([])}, use_entry_points=False
    )
    manager.load()
    assert manager.records["dice"].error == f"{path} [plugins.dice.config] sides: must be at least 2 (got 1)"


def test_a_long_value_is_cut_short_in_the_message() -> None:
    assert (
        error_of({"sides": "x" * 500}) == PREFIX + 'sides: must be a whole number (got "' + "x" * 56 + "...)"
    )


def test_a_bad_config_fails_only_its_plugin_before_any_register_hook_runs() -> None:
    manager, seen = load({"sides": 1})
    dice, hello = manager.records["dice"], manager.records["hello"]
    assert dice.status == "failed"
    assert dice.commands == [] and dice.jobs == []  # nothing of it registered
    assert dice.plugin is not None and not manager.pm.is_registered(dice.plugin)
    assert hello.status == "loaded"
    assert seen == [{"greeting": "hi", "dialy": 3}]  # only the untyped plugin's hook ran


def test_the_register_hooks_and_the_record_get_the_validated_model() -> None:
    manager, seen = load({"sides": 20, "fair": False, "tidy_seconds": 300})  # a whole number fits a float
    record = manager.records["dice"]
    assert record.status == "loaded", record.error
    assert isinstance(record.config, DiceConfig)
    assert (record.config.sides, record.config.fair, record.config.daily) == (20, False, 1)  # defaults filled
    dice_seen = [config for config in seen if isinstance(config, DiceConfig)]
    assert dice_seen == [record.config, record.config]  # commands and jobs hooks: the same instance
    assert record.jobs[0].every_seconds == 300.0
    with pytest.raises(ValueError, match="frozen"):
        record.config.sides = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sides": "20"}, 'sides: must be a whole number (got "20")'),  # TOML text is not a number
        ({"daily": True}, "daily: must be a whole number (got true)"),  # nor is true 1
        ({"fair": 1}, "fair: must be true or false (got 1)"),
        ({"tidy_seconds": float("inf")}, "tidy_seconds: must be a finite number"),
    ],
)
def test_values_of_another_kind_are_refused_not_converted(config: dict[str, Any], message: str) -> None:
    assert error_of(config).startswith(PREFIX + message)


def test_a_plugin_without_a_model_keeps_its_plain_table() -> None:
    manager, seen = load({})
    hello = manager.records["hello"]
    assert hello.status == "loaded"
    assert hello.config == {"greeting": "hi", "dialy": 3}  # unchecked: the plugin's own business
    assert seen[-1] == {"greeting": "hi", "dialy": 3} and type(seen[-1]) is dict


def test_a_required_plugin_with_a_bad_config_stops_the_bot() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load({"sides": 1, "dialy": 3}, required=True)
    assert str(raised.value) == (
        "required plugin dice failed: plugins.toml [plugins.dice.config] sides: must be at least 2 "
        "(got 1); unknown key 'dialy' (did you mean 'daily'?)"
    )


def test_of_reads_the_config_typed_and_refuses_a_plugin_that_declared_none() -> None:
    instance = DiceConfig(sides=8)
    assert DiceConfig.of(SimpleNamespace(config=instance)).sides == 8
    with pytest.raises(
        TypeError, match=r"is a dict, not DiceConfig: declare it with FeatureInfo\(\.\.\., config"
    ):
        DiceConfig.of(SimpleNamespace(config={"sides": 8}))


def test_feature_info_takes_a_model_class_only() -> None:
    with pytest.raises(ValueError, match="must be a PluginConfig subclass"):
        FeatureInfo(description="x", config={"sides": 6})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a PluginConfig subclass"):
        FeatureInfo(description="x", config=DiceConfig())  # type: ignore[arg-type]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warnings: int = Field(ge=1)
    action: Literal["timeout", "kick", "ban"]


class ModerationConfig(PluginConfig):
    escalation: tuple[Rule, ...] = ()


def test_nested_tables_are_named_by_their_path() -> None:
    @hookimpl
    def logiq_feature() -> FeatureInfo:
        return FeatureInfo(description="x", config=ModerationConfig)

    config = {"escalation": [{"warnings": 3, "action": "kik"}, {"warnigs": 2, "action": "ban"}]}
    manager = PluginManager(
        Policy(plugins={"mod": PluginPolicy("mod", True, False, config)}),
        extra_plugins={"mod": SimpleNamespace(logiq_feature=logiq_feature)},
        use_entry_points=False,
    )
    manager.load()
    assert manager.records["mod"].error == (
        "plugins.toml [plugins.mod.config] escalation[0].action: must be 'timeout', 'kick' or 'ban' "
        '(got "kik"); escalation[1].warnings: required, but missing; '
        "escalation[1]: unknown key 'warnigs' (did you mean 'warnings'?)"
    )


def test_the_shipped_plugins_toml_loads_every_builtin_plugin_with_its_typed_config() -> None:
    policy = load_policy(REPO / "plugins.toml")
    manager = PluginManager(policy)
    records = {record.name: record for record in manager.load()}
    assert set(policy.plugins) >= {
        "verification",
        "moderation",
        "economy",
        "leveling",
        "tickets",
        "giveaways",
        "social_alerts",
        "ai_chat",
    }
    for name in [*policy.plugins, "coinflip"]:
        record = records[name]
        assert record.status == "loaded", (name, record.error)
        assert record.feature is not None and record.feature.config is not None, name
        assert isinstance(record.config, record.feature.config), name
        assert record.feature.config() is not None  # the defaults alone are valid too
    # what plugins.toml sets is what the plugins get
    assert records["economy"].config.daily == 100  # type: ignore[union-attr]
    assert records["leveling"].config.cooldown_seconds == 60  # type: ignore[union-attr]
    assert records["social_alerts"].config.max_bytes == 2097152  # type: ignore[union-attr]
