"""Moderation's stored data (every collection prefixed ``moderation_``)."""

from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel


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


class AutomodRuleModel(BaseModel):
    id: int
    kind: str
    value: str
    action: str = "delete"
    duration_seconds: int | None = None


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

    class Settings:
        name = "moderation_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


DOCUMENTS: list[type[Document]] = [ModCase, CaseCounter, TempBan, ModSettings]
