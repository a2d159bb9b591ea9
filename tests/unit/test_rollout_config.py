"""The operator's [rollout] configuration in plugins.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.rollout.config import FeatureDefault, load_rollout_config

PLAN = [
    "verification",
    "moderation",
    "economy",
    "leveling",
    "tickets",
    "giveaways",
    "social_alerts",
    "ai_chat",
]


def test_the_project_ships_the_plans_features_in_the_plans_order() -> None:
    config = load_rollout_config(Path(__file__).resolve().parents[2] / "plugins.toml")
    assert config.names() == PLAN
    shown = {f.name: (f.phase.value, f.percentage) for f in config.features}
    assert shown == {
        "verification": ("stable", 100),
        "moderation": ("stable", 100),
        "economy": ("gradual", 50),
        "leveling": ("gradual", 50),
        "tickets": ("beta", 25),
        "giveaways": ("beta", 25),
        "social_alerts": ("internal", 5),
        "ai_chat": ("internal", 10),
    }
    assert config.alert_channel is None


def test_plugin_defaults_seed_only_features_the_configuration_does_not_name(tmp_path: Path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(
        '[rollout]\nalert_channel = "01HZX3K4M5N6P7Q8R9S0T1V2WA"\n'
        '[rollout.features]\neconomy = "gradual 50%"\n'
    )
    config = load_rollout_config(path)
    installed = [FeatureInfo("economy", "coins", Phase.INTERNAL, 0), FeatureInfo("polls", "polls")]
    assert config.seeds(installed) == [
        FeatureDefault("economy", Phase.GRADUAL, 50),
        FeatureDefault("polls", Phase.INTERNAL, 0),
    ]
    assert config.alert_channel == "01HZX3K4M5N6P7Q8R9S0T1V2WA"


def test_no_file_or_no_table_is_no_configuration(tmp_path: Path) -> None:
    assert load_rollout_config(tmp_path / "absent.toml").features == ()
    path = tmp_path / "plugins.toml"
    path.write_text("[logiq]\nenable_unlisted = true\n")
    assert load_rollout_config(path).features == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[rollout.features]\neconomy = { phase = "live" }\n', "phase must be one of"),
        ('[rollout.features]\neconomy = { phase = "gradual", percentage = 150 }\n', "from 0 to 100"),
        ('[rollout.features]\neconomy = { phase = "gradual", pct = 5 }\n', "unknown key(s) pct"),
        ('[rollout.features]\nEconomy = { phase = "stable" }\n', "feature name"),
        ('[rollout]\nalert_channel = "#ops"\n', "alert_channel must be a Stoat channel id"),
        ('[rollout]\nalerts = "x"\n', "unknown key(s) alerts"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(table)
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rollout_config(path)
