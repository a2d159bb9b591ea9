"""``[plugins.verification.config]``, checked at load."""

from __future__ import annotations

from pydantic import Field

from logiq_core.plugin import PluginConfig
from logiq_verification.models import RANGES


class VerificationConfig(PluginConfig):
    """Defaults for a server whose managers have not set their own by chat."""

    min_account_age_seconds: int = Field(
        default=0,
        ge=RANGES["min_account_age_seconds"][0],
        le=RANGES["min_account_age_seconds"][1],
        description="Accounts younger than this are held back (0: none are)",
    )
    challenge_attempts: int = Field(
        default=3,
        ge=RANGES["max_attempts"][0],
        le=RANGES["max_attempts"][1],
        description="Wrong answers to the challenge before a newcomer is refused",
    )
