"""``[plugins.leveling.config]``: the operator's defaults and the plugin's pacing, checked at load."""

from __future__ import annotations

from typing import Self

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from logiq_core.plugin import PluginConfig


class LevelingConfig(PluginConfig):
    """Defaults for every server; a server's managers override theirs by chat (``!levels xp``,
    ``!levels cooldown``)."""

    xp_min: int = Field(default=15, ge=0, description="The least XP a message earns")
    xp_max: int = Field(default=25, ge=0, description="The most XP a message earns")
    cooldown_seconds: float = Field(default=60.0, ge=0, description="Seconds before a member earns XP again")
    flush_seconds: PositiveFloat = Field(default=1.0, description="How often earned XP is written to storage")
    sync_batch: PositiveInt = Field(default=10, description="Members checked per step of !levels sync")
    sync_interval_seconds: PositiveFloat = Field(
        default=5.0, description="Seconds between two steps of !levels sync"
    )

    @model_validator(mode="after")
    def _xp_range(self) -> Self:
        if self.xp_min > self.xp_max:
            raise ValueError(f"xp_min ({self.xp_min}) must not be above xp_max ({self.xp_max})")
        return self
