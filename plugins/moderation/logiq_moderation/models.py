"""Moderation's stored data (every collection prefixed ``moderation_``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document
from loguru import logger
from pydantic import BaseModel, Field, model_validator
from pymongo import ASCENDING, IndexModel

# The documented range of every number a member can store from chat. Commands refuse values
# outside it; values stored out of range (by older versions) are clamped on load, with a warning.
MAX_TIMEOUT_SECONDS = 28 * 86400  # Stoat's longest timeout
RANGES: dict[str, tuple[float, float]] = {
    "warning_decay_days": (1 / 24, 3650),  # absent (None): warnings never decay
    "escalation.warnings": (1, 100),
    "duration_seconds": (1, MAX_TIMEOUT_SECONDS),
    "next_rule_id": (1, 1_000_000),
}


def clamp(value: Any, key: str, where: str) -> Any:
    """``value`` within ``RANGES[key]``; an out-of-range stored value is logged and clamped."""
    low, high = RANGES[key]
    if value is None or low <= value <= high:
        return value
    clamped = min(max(value, low), high)
    clamped = int(clamped) if isinstance(value, int) else float(clamped)
    logger.bind(component="moderation").warning(
        "stored setting {} of {} was out of range ({}); using {}", key, where, value, clamped
    )
    return clamped


class ModCase(Document):
    """One moderation action, numbered per server. Warnings are cases with action ``warn``."""

    server_id: str
    number: int
    action: str  # kick, ban, tempban, unban, timeout, untimeout, warn, purge, lock, unlock
    target_id: str | None = None
    moderator_id: str
    reason: str = ""
    created_at: datetime
    expires_at: datetime | None = None  # temp bans and timeouts
    deleted: bool = False  # a removed warning (delwarn)
    automod_rule: str | None = None
    # False until the moderator was told (a crash in between leaves it False: !warnings says so);
    # None for cases no one waits to hear about (automod, escalation, older versions).
    confirmed: bool | None = None
    modlog_pending: bool = False  # the outbox: still to be posted to the mod log

    class Settings:
        name = "moderation_cases"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("number", ASCENDING)], unique=True),
            IndexModel([("server_id", ASCENDING), ("target_id", ASCENDING)]),
        ]


class CaseCounter(Document):
    """The last case number used on a server (incremented atomically)."""

    server_id: str
    value: int = 0

    class Settings:
        name = "moderation_case_counters"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


class TempBan(Document):
    """A ban to lift at ``until``, as stored before core timers; read once at start-up and
    moved onto a timer (``lifted`` then marks it moved)."""

    server_id: str
    user_id: str
    until: datetime
    case_number: int
    lifted: bool = False

    class Settings:
        name = "moderation_tempbans"
        indexes = [IndexModel([("server_id", ASCENDING), ("lifted", ASCENDING)])]


class EscalationRule(BaseModel):
    warnings: int
    action: str  # timeout, kick, ban
    duration_seconds: int | None = None

    @model_validator(mode="after")
    def _in_range(self) -> EscalationRule:
        self.warnings = clamp(self.warnings, "escalation.warnings", "an escalation rule")
        self.duration_seconds = clamp(self.duration_seconds, "duration_seconds", "an escalation rule")
        return self


class AutomodRuleModel(BaseModel):
    id: int
    kind: str
    value: str
    action: str = "delete"
    duration_seconds: int | None = None

    @model_validator(mode="after")
    def _in_range(self) -> AutomodRuleModel:
        self.duration_seconds = clamp(self.duration_seconds, "duration_seconds", f"automod rule {self.id}")
        return self


class ModSettings(Document):
    """A server's moderation settings, changed by its managers from chat."""

    server_id: str
    modlog_channel: str | None = None
    warning_decay_days: float | None = None
    escalation: list[EscalationRule] = Field(default_factory=list)
    automod: list[AutomodRuleModel] = Field(default_factory=list)
    exempt_roles: list[str] = Field(default_factory=list)
    exempt_channels: list[str] = Field(default_factory=list)
    next_rule_id: int = 1

    @model_validator(mode="after")
    def _in_range(self) -> ModSettings:
        where = f"server {self.server_id}"
        self.warning_decay_days = clamp(self.warning_decay_days, "warning_decay_days", where)
        self.next_rule_id = clamp(self.next_rule_id, "next_rule_id", where)
        return self

    class Settings:
        name = "moderation_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


DOCUMENTS: list[type[Document]] = [ModCase, CaseCounter, TempBan, ModSettings]
