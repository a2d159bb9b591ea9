"""Economy's stored data (every collection prefixed ``economy_``).

The ledger writes these collections with plain pymongo operators (conditional ``$inc`` and
marker arrays), not Beanie ``save()``, so that every change is one atomic single-document
update; the Beanie classes declare the shapes and the indexes. Balances are top-level integer
fields: the embedded nx-27017 server stores a first ``$inc`` of a dotted field on an upsert as a
literal dotted key, so documents are always created whole before anything is incremented.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel


class Account(Document):
    """One balance: a member's, or a server's system account (issuance, sink, shop).

    ``marks`` holds the ids of recent entries whose step was applied here and ``voids`` those
    whose step is known never to apply; both are cleared once the entry is final.
    """

    id: str  # type: ignore[assignment]  # "<server>:<owner>", owner a user id or "@issuance"...
    server_id: str
    owner: str
    kind: str  # member, issuance, sink, shop
    balance: int = 0
    outstanding: int = 0  # issuance only: coins in circulation (capped)
    marks: list[str] = Field(default_factory=list)
    voids: list[str] = Field(default_factory=list)
    opened: bool = False  # the starting balance has been paid
    daily_count: int = 0
    daily_last: datetime | None = None
    daily_streak: int = 0
    work_count: int = 0
    work_last: datetime | None = None

    class Settings:
        name = "economy_accounts"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("kind", ASCENDING), ("balance", DESCENDING)]),
        ]


class Entry(Document):
    """One journal entry: steps whose money postings sum to zero, applied all or not at all.

    ``status`` is ``pending`` while it is being applied, then ``applied`` or ``failed``.
    ``key`` (unique per server) is derived from what caused the entry, so a redelivered
    command finds the entry it already made instead of paying twice.
    """

    id: str  # type: ignore[assignment]
    server_id: str
    key: str
    kind: str  # transfer, mint, burn, purchase, reversal, refund
    steps: list[dict[str, Any]]
    commit: int = 0  # index of the step whose success decides the entry
    accounts: list[str] = Field(default_factory=list)  # member/shop account ids touched
    memo: str = ""
    actor: str | None = None
    cause: str | None = None  # the message id (or other cause) that created it
    reverses: str | None = None
    status: str = "pending"
    reason: str = ""
    owner: str = ""
    lease_until: datetime
    created_at: datetime
    finalized_at: datetime | None = None
    after: dict[str, int] = Field(default_factory=dict)  # balance of each account after it

    class Settings:
        name = "economy_entries"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("key", ASCENDING)], unique=True),
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)]),
            IndexModel([("server_id", ASCENDING), ("accounts", ASCENDING), ("created_at", DESCENDING)]),
        ]


class Item(Document):
    """A shop item, numbered per server."""

    id: str  # type: ignore[assignment]  # "<server>:<number>"
    server_id: str
    number: int
    name: str
    price: int
    role_id: str | None = None
    stock: int | None = None  # None: unlimited
    once: bool = False
    added_by: str = ""
    removed: bool = False
    marks: list[str] = Field(default_factory=list)
    voids: list[str] = Field(default_factory=list)

    class Settings:
        name = "economy_items"
        indexes = [IndexModel([("server_id", ASCENDING), ("number", ASCENDING)], unique=True)]


class Holding(Document):
    """How many of an item a member owns."""

    id: str  # type: ignore[assignment]  # "<server>:<user>:<item number>"
    server_id: str
    user_id: str
    item: int
    held: int = 0
    marks: list[str] = Field(default_factory=list)
    voids: list[str] = Field(default_factory=list)

    class Settings:
        name = "economy_holdings"
        indexes = [IndexModel([("server_id", ASCENDING), ("user_id", ASCENDING)])]


class EconomySettings(Document):
    """A server's economy settings, changed by its managers from chat (None: the default)."""

    server_id: str
    currency_name: str | None = None
    currency_symbol: str | None = None
    daily: int | None = None
    work_min: int | None = None
    work_max: int | None = None
    work_cooldown_seconds: int | None = None
    start_balance: int | None = None
    next_item: int = 0

    class Settings:
        name = "economy_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


DOCUMENTS: list[type[Document]] = [Account, Entry, Item, Holding, EconomySettings]
