"""The operator's rollout configuration: the ``[rollout]`` table of plugins.toml.

::

    [rollout]
    alert_channel = "01H..."          # optional: where the guard says it rolled a feature back

    [rollout.features]                # the plan's features, in the plan's order
    verification = { phase = "stable" }
    economy = { phase = "gradual", percentage = 50 }
    tickets = { phase = "beta", percentage = 25 }

The features named here, in this order, are what ``--status`` lists first, and their phases
seed the stored state the first time a feature is seen, whether or not its plugin is installed
yet (operators stage a rollout before deploying the plugin). A plugin's own ``FeatureInfo``
default seeds only a feature this table does not name. After seeding, the stored state wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.features import FEATURE_NAME, FeatureInfo, Phase
from logiq_core.stoat.models import is_ulid


@dataclass(frozen=True, slots=True)
class FeatureDefault:
    """A configured feature's starting phase and percentage."""

    name: str
    phase: Phase
    percentage: float


@dataclass(frozen=True, slots=True)
class RolloutConfig:
    """The ``[rollout]`` table (empty when plugins.toml has none)."""

    features: tuple[FeatureDefault, ...] = ()
    alert_channel: str | None = None
    source: Path | None = field(default=None, compare=False)

    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def seeds(self, installed: list[FeatureInfo]) -> list[FeatureDefault]:
        """What to seed: the configured features, then installed ones it does not name."""
        named = set(self.names())
        extra = [
            FeatureDefault(info.name, info.default_phase, info.default_percentage)
            for info in installed
            if info.name not in named
        ]
        return [*self.features, *extra]


def _feature(path: Path, name: str, value: Any) -> FeatureDefault:
    where = f"{path}: [rollout.features] {name}"
    if not isinstance(name, str) or not FEATURE_NAME.match(name):
        raise ConfigurationError(f"{where}: a feature name is 2-32 characters of a-z, 0-9, _")
    if isinstance(value, str):  # shorthand: economy = "gradual 50"
        words = value.replace("%", " ").split()
        value = {"phase": words[0] if words else ""}
        if len(words) > 1:
            value["percentage"] = words[1]
    if not isinstance(value, dict):
        raise ConfigurationError(f'{where}: expected {{ phase = "...", percentage = N }}')
    unknown = set(value) - {"phase", "percentage"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        phase = Phase(str(value.get("phase", "")).lower())
    except ValueError:
        choices = ", ".join(p.value for p in Phase)
        raise ConfigurationError(f"{where}: phase must be one of {choices}") from None
    raw = value.get("percentage", 100 if phase is Phase.STABLE else 0)
    try:
        percentage = float(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: percentage must be a number from 0 to 100") from None
    if not 0 <= percentage <= 100:
        raise ConfigurationError(f"{where}: percentage must be from 0 to 100")
    return FeatureDefault(name, phase, round(percentage, 2))


def parse_rollout_config(data: dict[str, Any], path: Path) -> RolloutConfig:
    table = data.get("rollout", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [rollout] must be a table")
    unknown = set(table) - {"features", "alert_channel"}
    if unknown:
        raise ConfigurationError(
            f"{path}: [rollout] has unknown key(s) {', '.join(sorted(unknown))}; "
            "expected features, alert_channel"
        )
    features = table.get("features", {})
    if not isinstance(features, dict):
        raise ConfigurationError(f"{path}: [rollout.features] must be a table")
    alert = table.get("alert_channel") or None
    if alert is not None and (not isinstance(alert, str) or not is_ulid(alert)):
        raise ConfigurationError(f"{path}: [rollout] alert_channel must be a Stoat channel id")
    parsed = tuple(_feature(path, name, value) for name, value in features.items())
    return RolloutConfig(parsed, alert, path)


def load_rollout_config(path: Path | None) -> RolloutConfig:
    """Read ``[rollout]`` from plugins.toml (an absent file or table: no configuration)."""
    if path is None or not path.exists():
        return RolloutConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the rollout configuration: {exc}") from None
    return parse_rollout_config(data, path)
