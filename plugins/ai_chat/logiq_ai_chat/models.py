"""AI chat's stored data (every collection prefixed ``ai_chat_``).

Conversations themselves are never stored: the conversation is the reply chain, read from Stoat
when a member asks. What is kept, and for how long:

* ``ai_chat_settings``: each server's choices (AI channels, prompts, persona, model, limits,
  the price of an answer, blocked members and channels) until a manager changes them.
* ``ai_chat_usage``: tokens used per server, member and UTC day (numbers only, no text), kept
  :data:`USAGE_KEEP_DAYS` days for ``!ai usage`` and the daily budget, then deleted.
* ``ai_chat_answers``: the ids of the bot's AI answers (no text), so a reply to one continues
  the conversation, kept :data:`ANSWER_KEEP_DAYS` days.
* ``ai_chat_resets``: when ``!ai reset`` was last used in a channel (a time), until replaced.
"""

from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

USAGE_KEEP_DAYS = 31
ANSWER_KEEP_DAYS = 14


class AiChatSettings(Document):
    """A server's AI chat settings; ``None`` means the operator's default from plugins.toml."""

    server_id: str
    ai_channels: list[str] = Field(default_factory=list)
    server_prompt: str | None = None
    channel_prompts: dict[str, str] = Field(default_factory=dict)
    persona_name: str | None = None
    persona_avatar: str | None = None
    model: str | None = None
    requests_per_minute: int | None = None
    tokens_per_day: int | None = None
    blocked_members: list[str] = Field(default_factory=list)
    blocked_channels: list[str] = Field(default_factory=list)
    cost_per_answer: int | None = None  # coins an answer costs through economy (None: free)

    class Settings:
        name = "ai_chat_settings"
        indexes = [IndexModel([("server_id", ASCENDING)], unique=True)]


class AiChatUsage(Document):
    """Tokens one member used on one server on one UTC day (``day`` is ``YYYY-MM-DD``)."""

    server_id: str
    day: str
    member_id: str
    tokens: int = 0
    requests: int = 0

    class Settings:
        name = "ai_chat_usage"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("day", ASCENDING), ("member_id", ASCENDING)], unique=True)
        ]


class AiChatAnswer(Document):
    """One message of an AI answer (its id only), to recognise replies to it."""

    message_id: str
    channel_id: str
    server_id: str | None = None
    created_at: datetime

    class Settings:
        name = "ai_chat_answers"
        indexes = [IndexModel([("message_id", ASCENDING)], unique=True)]


class AiChatReset(Document):
    """``!ai reset`` in a channel: messages older than ``at`` are left out of conversations."""

    channel_id: str
    at: datetime

    class Settings:
        name = "ai_chat_resets"
        indexes = [IndexModel([("channel_id", ASCENDING)], unique=True)]


DOCUMENTS: tuple[type[Document], ...] = (AiChatSettings, AiChatUsage, AiChatAnswer, AiChatReset)
