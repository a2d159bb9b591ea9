"""``[plugins.moderation.config]``: the operator's defaults and the plugin's pacing, checked at load."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from logiq_core.plugin import PluginConfig
from logiq_moderation.models import MAX_TIMEOUT_SECONDS, RANGES


class EscalationDefault(BaseModel):
    """One ``[[plugins.moderation.config.escalation]]`` rule: act at this many active warnings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warnings: int = Field(
        ge=RANGES["escalation.warnings"][0],
        le=RANGES["escalation.warnings"][1],
        description="The number of active warnings that triggers the action",
    )
    action: Literal["timeout", "kick", "ban"] = Field(description="What happens to the member")
    duration_seconds: int | None = Field(
        default=None, ge=1, le=MAX_TIMEOUT_SECONDS, description="A timeout's length (default: an hour)"
    )


class ModerationConfig(PluginConfig):
    """Defaults for a server whose managers have not set their own (``!escalation ...``)."""

    escalation: tuple[EscalationDefault, ...] = Field(default=(), description="Escalation rules")
    warning_decay_days: float | None = Field(
        default=None,
        ge=RANGES["warning_decay_days"][0],
        le=RANGES["warning_decay_days"][1],
        description="Days after which a warning stops counting (absent: never)",
    )
    pattern_timeout_is_hit: bool = Field(
        default=True, description="An automod pattern too slow to check counts as a match"
    )
    modlog_outbox_seconds: PositiveFloat = Field(
        default=60.0, description="How often mod-log lines that could not be posted are tried again"
    )
