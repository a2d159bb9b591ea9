"""Leveling's stored data (every collection prefixed ``leveling_``).

Counters are top-level fields: the embedded nx-27017 server stores a first ``$inc`` of a dotted
field on an upsert as a literal dotted key, so nothing here is incremented inside a sub-document.
"""

from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel


class MemberXp(Document):
    """A member's total XP on a server and when they last earned message XP (the cooldown's truth).

    ``_id`` is ``server_id:user_id`` so that a flush updates by primary key.
    """

    id: str  # type: ignore[assignment]
    server_id: str
    user_id: str
    xp: int = 0
    last_award_at: float = 0.0  # Unix seconds

    class Settings:
        name = "leveling_members"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("xp", DESCENDING)]),
            IndexModel([("server_id", ASCENDING), ("last_award_at", DESCENDING)]),
        ]


class XpEvent(Document):
    """One admin change or imported row for one member (an import's rows share ``batch``)."""

    server_id: str
    user_id: str
    kind: str  # admin, import
    xp: int
    at: datetime
    batch: str | None = None  # the import an event belongs to (undo removes the batch)
    actor: str | None = None

    class Settings:
        name = "leveling_events"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("user_id", ASCENDING)]),
            IndexModel([("server_id", ASCENDING), ("batch", ASCENDING)]),
        ]


class MessageXpHour(Document):
    """Message XP earned on a server in one hour, per member (``_id`` is ``server:hour``).

    Rewritten whole at each flush from the bot's in-memory copy (one write per server per
    flush), so the member map never needs a dotted ``$inc``.
    """

    id: str  # type: ignore[assignment]
    server_id: str
    at: datetime  # the hour's start
    users: dict[str, int] = Field(default_factory=dict)

    class Settings:
        name = "leveling_message_hours"
        indexes = [IndexModel([("server_id", ASCENDING), ("at", ASCENDING)])]


class Reward(BaseModel):
    level: int
    role_id: str
    configured_by: str  # re-checked at hand-out: they must still be able to assign the role


class LevelSettings(Document):
    """A server's leveling settings, changed by its managers from chat (None: the operator's default)."""

    server_id: str
    xp_min: int | None = None
    xp_max: int | None = None
    cooldown_seconds: float | None = None
    min_length: int = 1
    curve: str = "mee6"  # mee6 or power
    curve_base: float = 100.0
    curve_exp: float = 2.0
    announce: str = "here"  # here, off, or a channel id
    template: str = "{member} reached level {level}!"
    rewards: list[Reward] = Field(default_factory=list)
    reward_mode: str = "stack"  # stack or replace
    noxp_channels: list[str] = Field(default_factory=list)
    noxp_roles: list[str] = Field(default_factory=list)
    role_multipliers: dict[str, float] = Field(default_factory=dict)
    channel_multipliers: dict[str, float] = Field(default_factory=dict)

    class Settings:
        name = "leveling_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


class ImportRecord(Document):
    """One CSV import, so that ``!levels import undo`` can take it back."""

    server_id: str
    batch: str
    by: str
    mode: str  # add or replace
    rows: int
    at: datetime
    undone: bool = False

    class Settings:
        name = "leveling_imports"
        indexes = [IndexModel([("server_id", ASCENDING), ("at", DESCENDING)])]


class SyncRun(Document):
    """A ``!levels sync`` in progress: members are walked in user id order after ``cursor``."""

    server_id: str
    channel_id: str
    started_by: str
    started_at: datetime
    cursor: str = ""
    checked: int = 0
    changed: int = 0
    finished: bool = False
    finished_at: datetime | None = None

    class Settings:
        name = "leveling_sync_runs"
        indexes = [IndexModel([("server_id", ASCENDING), ("finished", ASCENDING)])]


DOCUMENTS: list[type[Document]] = [MemberXp, XpEvent, MessageXpHour, LevelSettings, ImportRecord, SyncRun]
