"""What a feature declares about itself, and the rollout phases it can ship at."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from logiq_core.framework.config import PluginConfig


class Phase(StrEnum):
    """A feature's rollout phase, from the most closed to the most open."""

    INTERNAL = "internal"
    BETA = "beta"
    GRADUAL = "gradual"
    STABLE = "stable"


CORE_FEATURE = "core"
"""The feature that owns the core's own commands: never gated, never listed as a plugin."""

FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True, slots=True)
class FeatureInfo:
    """A plugin's answer to ``logiq_feature``: one plugin is one feature.

    ``name`` may be left out: the core takes it from the plugin's entry-point name (and refuses
    a name that differs from it). ``default_phase`` and ``default_percentage`` seed the rollout
    state the first time the feature is seen; after that the operator's stored state wins.
    ``config`` (keyword only) is the :class:`PluginConfig` model of the plugin's
    ``[plugins.<name>.config]`` table, checked at load; without one the table is a plain dict.
    """

    name: str = ""
    description: str = ""
    default_phase: Phase = Phase.INTERNAL
    default_percentage: float = 0.0
    config: type[PluginConfig] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.name and not FEATURE_NAME.match(self.name):
            raise ValueError(
                f"feature name {self.name!r} must be 2-32 chars of a-z, 0-9, _ starting a letter"
            )
        if not 0.0 <= self.default_percentage <= 100.0:
            raise ValueError("default_percentage must be within 0-100")
        if self.config is not None and not (
            isinstance(self.config, type) and issubclass(self.config, PluginConfig)
        ):
            raise ValueError(
                f"FeatureInfo(config=...) must be a PluginConfig subclass (the model class, not an "
                f"instance or a dict), got {self.config!r}"
            )
