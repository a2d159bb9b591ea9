"""Verification's stored data (every collection prefixed ``verification_``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document
from loguru import logger
from pydantic import Field, model_validator
from pymongo import ASCENDING, IndexModel

# The documented range of every number a member can store from chat. Commands refuse values
# outside it; values stored out of range (by older versions) are clamped on load, with a warning.
RANGES: dict[str, tuple[int, int]] = {
    "min_account_age_seconds": (0, 365 * 86400),
    "kick_after_seconds": (1, 30 * 86400),
    "max_attempts": (1, 10),
    "raid_joins": (1, 1000),
    "raid_seconds": (1, 3600),
    "raid_duration_seconds": (60, 7 * 86400),
}


def clamp(value: Any, key: str, where: str) -> Any:
    """``value`` within ``RANGES[key]``; an out-of-range stored value is logged and clamped."""
    low, high = RANGES[key]
    if value is None or low <= value <= high:
        return value
    clamped = int(min(max(value, low), high))
    logger.bind(component="verification").warning(
        "stored setting {} of {} was out of range ({}); using {}", key, where, value, clamped
    )
    return clamped


class VerificationSettings(Document):
    """A server's verification set-up, changed by its managers from chat."""

    server_id: str
    enabled: bool = False
    channel_id: str | None = None
    verified_role: str | None = None
    unverified_role: str | None = None
    mode: str = "reaction"  # reaction | challenge
    message_id: str | None = None  # the reaction-mode message
    min_account_age_seconds: int = 0
    young_action: str = "hold"  # hold | kick
    kick_after_seconds: int | None = None
    max_attempts: int = 3
    raid_joins: int | None = None
    raid_seconds: int = 10
    raid_duration_seconds: int = 600
    raid_until: datetime | None = None
    modlog_channel: str | None = None
    configured_by: str | None = None  # who chose the roles: re-checked whenever one is handed out

    @model_validator(mode="after")
    def _in_range(self) -> VerificationSettings:
        for key in RANGES:
            setattr(self, key, clamp(getattr(self, key), key, f"server {self.server_id}"))
        return self

    class Settings:
        name = "verification_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


class PendingMember(Document):
    """A newcomer's verification: state, challenge, attempts and kick deadline."""

    server_id: str
    user_id: str
    joined_at: datetime
    state: str = "pending"  # pending | held | verified | revoked | kicked | left
    # revoked: a moderator ran !unverify; only a moderator's !verify lets them back in
    deadline: datetime | None = None
    question: str | None = None
    answer: str | None = None
    attempts: int = 0
    cleanup: list[str] = Field(default_factory=list)  # message ids to delete on success

    class Settings:
        name = "verification_pending"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("user_id", ASCENDING)], unique=True),
            IndexModel([("state", ASCENDING), ("deadline", ASCENDING)]),
        ]


DOCUMENTS: list[type[Document]] = [VerificationSettings, PendingMember]
