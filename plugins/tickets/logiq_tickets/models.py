"""Tickets' stored data (every collection prefixed ``tickets_``).

Times are Unix seconds (floats): the embedded server would store a ``$set`` date as text.
"""

from __future__ import annotations

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

CHANNEL = "channel"
RELAY = "relay"

OPENING = "opening"  # being created (a failure rolls it back)
OPEN = "open"
CLOSING = "closing"  # one closer won; the transcript and clean-up are under way
CLOSED = "closed"

# Sentinels instead of None in fields that queries compare: the embedded server does not match
# ``{"field": None}`` in finds (MongoDB would), so "nothing" is stored as a value.
FREE = ""


class TicketSettings(Document):
    """One server's ticket settings (``!tickets setup``, ``limit``, ``autoclose``)."""

    server_id: str
    mode: str = CHANNEL
    staff_roles: list[str] = Field(default_factory=list)
    log_channel: str | None = None
    staff_channel: str | None = None  # relay mode: where staff read and answer
    category: str | None = None
    limit: int = 1
    autoclose_seconds: float | None = None
    bot_role: str | None = None  # channel mode: the role that lets the bot into ticket channels

    class Settings:
        name = "tickets_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


class Ticket(Document):
    """One ticket, numbered per server (``#12``)."""

    server_id: str
    number: int
    mode: str
    opener_id: str
    topic: str = ""
    status: str = OPENING
    channel_id: str | None = None  # channel mode: the ticket's channel
    role_id: str | None = None  # channel mode: the pool role giving access
    dm_channel_id: str | None = None  # relay mode: the opener's DM with the bot
    added: list[str] = Field(default_factory=list)  # members added by staff
    claimer_id: str | None = None
    opened_at: float
    opener_active_at: float  # the opener's last message (auto-close counts from it)
    warned_at: float = 0.0  # when the inactivity warning was posted (0: not warned)
    closed_at: float | None = None
    closer_id: str | None = None
    close_reason: str | None = None
    transcript_hash: str | None = None
    rating: int = 0  # 1-5 once the opener rated (0: not yet)
    rating_channel_id: str | None = None
    rating_message_id: str | None = None

    class Settings:
        name = "tickets_tickets"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("number", ASCENDING)], unique=True),
            IndexModel([("channel_id", ASCENDING)]),
            IndexModel([("dm_channel_id", ASCENDING), ("status", ASCENDING)]),
            IndexModel([("rating_message_id", ASCENDING)]),
            IndexModel([("server_id", ASCENDING), ("status", ASCENDING)]),
        ]


class TicketSlot(Document):
    """One of a member's open-ticket slots on a server: taken by inserting it (the unique index
    makes two concurrent openers race for it, and only one wins), freed by deleting it."""

    server_id: str
    user_id: str
    slot: int
    ticket_id: str

    class Settings:
        name = "tickets_slots"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("user_id", ASCENDING), ("slot", ASCENDING)], unique=True)
        ]


class PoolRole(Document):
    """A role of the server's ticket role pool; ``ticket_id`` is set while a ticket uses it."""

    server_id: str
    role_id: str
    ticket_id: str = FREE

    class Settings:
        name = "tickets_pool_roles"
        indexes = [IndexModel([("role_id", ASCENDING)], unique=True), IndexModel([("server_id", ASCENDING)])]


class Counter(Document):
    """The last ticket number used on a server."""

    server_id: str
    value: int = 0

    class Settings:
        name = "tickets_counters"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


class LoggedMessage(Document):
    """A message of a ticket as the bot saw it: every relayed message (relay mode), and in
    channel mode each message and each edit (the transcript's edit history, and the whole
    transcript if the channel is deleted by hand)."""

    ticket_id: str
    message_id: str
    author_id: str
    author_name: str = ""
    content: str = ""
    attachments: list[str] = Field(default_factory=list)
    at: float
    version: int = 0  # 0: as posted; 1, 2...: edits
    direction: str = ""  # relay mode: "in" (member to staff) or "out" (staff to member)

    class Settings:
        name = "tickets_messages"
        indexes = [
            IndexModel([("ticket_id", ASCENDING), ("at", ASCENDING)]),
            IndexModel([("message_id", ASCENDING)]),
        ]


class RelayLink(Document):
    """Relay mode: a message in the staff channel or the DM that belongs to a ticket, so that a
    reply to it reaches the other side."""

    message_id: str
    ticket_id: str

    class Settings:
        name = "tickets_relay_links"
        indexes = [IndexModel([("message_id", ASCENDING)], unique=True)]


class Panel(Document):
    """A panel message: reacting 🎫 to it opens a ticket."""

    server_id: str
    channel_id: str
    message_id: str
    text: str = ""

    class Settings:
        name = "tickets_panels"
        indexes = [IndexModel([("message_id", ASCENDING)], unique=True)]


class TranscriptDoc(Document):
    """A closed ticket's transcript, kept for the dashboard (``TicketsService.transcript``)."""

    server_id: str
    ticket_id: str
    number: int
    html: str
    opener_id: str
    member_ids: list[str] = Field(default_factory=list)
    closed_at: float
    hash: str

    class Settings:
        name = "tickets_transcripts"
        indexes = [IndexModel([("server_id", ASCENDING), ("ticket_id", ASCENDING)], unique=True)]


class StoredTranscript(BaseModel):
    """What the dashboard reads: the self-contained HTML and who may see it."""

    server_id: str
    ticket_id: str
    number: int
    html: str
    opener_id: str
    member_ids: list[str]  # the opener and every member added
    closed_at: float  # Unix seconds
    hash: str


DOCUMENTS: list[type[Document]] = [
    TicketSettings,
    Ticket,
    TicketSlot,
    PoolRole,
    Counter,
    LoggedMessage,
    RelayLink,
    Panel,
    TranscriptDoc,
]
