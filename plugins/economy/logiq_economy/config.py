"""``[plugins.economy.config]``: the operator's defaults and the ledger's timings, checked at load."""

from __future__ import annotations

from typing import Self

from pydantic import Field, PositiveFloat, model_validator

from logiq_core.plugin import PluginConfig
from logiq_economy.ledger import MAX_AMOUNT


class EconomyConfig(PluginConfig):
    """Defaults for every server; a server's managers override theirs with ``!economy config``."""

    currency_name: str = Field(
        default="coins", min_length=1, max_length=32, description="The currency's name"
    )
    currency_symbol: str = Field(
        default="🪙", min_length=1, max_length=8, description="The currency's symbol"
    )
    daily: int = Field(default=100, ge=0, le=MAX_AMOUNT, description="The daily reward")
    work_min: int = Field(default=10, ge=0, le=MAX_AMOUNT, description="The smallest work reward")
    work_max: int = Field(default=50, ge=0, le=MAX_AMOUNT, description="The largest work reward")
    work_cooldown_seconds: int = Field(default=3600, ge=0, description="Seconds between two !work")
    start_balance: int = Field(
        default=0, ge=0, le=MAX_AMOUNT, description="What a new member's account starts with"
    )
    lease_seconds: PositiveFloat = Field(
        default=30.0,
        description="How long a ledger entry's writer holds it before another process may finish it",
    )
    marker_grace_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How old a pending marker must be before recovery treats it as left behind",
    )
    recovery_check_seconds: PositiveFloat = Field(
        default=30.0, description="How often unfinished ledger entries are looked for"
    )

    @model_validator(mode="after")
    def _work_range(self) -> Self:
        if self.work_min > self.work_max:
            raise ValueError(f"work_min ({self.work_min}) must not be above work_max ({self.work_max})")
        return self
