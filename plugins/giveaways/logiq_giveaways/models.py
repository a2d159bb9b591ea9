"""Giveaways' stored data (every collection prefixed ``giveaways_``)."""

from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel


class Requirements(BaseModel):
    """What an entrant must meet at draw time, and the bonus entries per role."""

    roles: list[str] = Field(default_factory=list)  # every one of these roles is required
    min_account_age_seconds: int = 0
    min_member_age_seconds: int = 0
    bonus: dict[str, int] = Field(default_factory=dict)  # role id -> extra entries
    min_level: int = 0  # a leveling level (0: none); checked on entry and at draw time


class Entrant(BaseModel):
    """One eligible entrant and their number of entries (1 plus role bonuses)."""

    user_id: str
    weight: int


class Reroll(BaseModel):
    """One reroll: round ``round`` drew ``winners`` excluding every earlier winner."""

    round: int
    count: int
    winners: list[str]
    by: str
    at_ts: float  # Unix seconds (the embedded server would store a $set date as text)


class Giveaway(Document):
    """One giveaway, numbered per server (``#12``)."""

    server_id: str
    number: int
    channel_id: str
    message_id: str | None = None
    host_id: str
    prize: str
    winners_count: int
    created_at: datetime
    ends_at: datetime
    status: str = "running"  # running, ended, cancelled
    requirements: Requirements = Field(default_factory=Requirements)
    notes: list[str] = Field(default_factory=list)  # e.g. an ignored --level, shown with the result too
    seed: str  # 64 hex characters; published only when the giveaway ends
    commitment: str  # SHA-256 of the seed's hex text, published at start
    # The result (set once, atomically, when the giveaway ends).
    ended_ts: float | None = None  # Unix seconds, like Reroll.at_ts
    entrants: list[Entrant] = Field(default_factory=list)  # sorted by user id
    entrants_hash: str | None = None
    reacted: int = 0
    excluded: dict[str, int] = Field(default_factory=dict)  # reason -> how many
    winners: list[str] = Field(default_factory=list)
    rerolls: list[Reroll] = Field(default_factory=list)
    reroll_round: int = 0  # how many rerolls are stored (the condition of the next one's update)
    announced: bool = False
    cancel_reason: str | None = None

    class Settings:
        name = "giveaways_giveaways"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("number", ASCENDING)], unique=True),
            IndexModel([("message_id", ASCENDING)]),
            IndexModel([("server_id", ASCENDING), ("status", ASCENDING)]),
        ]


class GiveawayCounter(Document):
    """The last giveaway number used on a server (incremented atomically)."""

    server_id: str
    value: int = 0

    class Settings:
        name = "giveaways_counters"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


class GiveawaySettings(Document):
    """A server's giveaway settings: the role that may host besides ManageServer."""

    server_id: str
    host_role: str | None = None

    class Settings:
        name = "giveaways_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


DOCUMENTS: list[type[Document]] = [Giveaway, GiveawayCounter, GiveawaySettings]
