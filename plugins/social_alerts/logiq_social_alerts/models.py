"""Social alerts' stored data (every collection prefixed ``social_alerts_``).

Times are Unix seconds (floats): the embedded server stores a ``$set`` date as text.
"""

from __future__ import annotations

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel


class AlertFeed(Document):
    """One distinct feed URL, fetched once per interval however many servers follow it."""

    url: str
    title: str = ""  # the feed's own title (the default source name)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # an unchanged 200 body is not parsed again
    seen: list[str] = Field(default_factory=list)  # item keys, newest first, bounded
    initialized: bool = False  # the first successful poll records items without posting
    subscribers: int = 0  # active (not paused) subscriptions; 0: not polled
    interval_seconds: float = 900.0
    next_poll_ts: float = 0.0
    last_check_ts: float | None = None
    last_ok_ts: float | None = None
    last_new_ts: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    failures: int = 0
    failing_since_ts: float | None = None
    twitch_user_id: str | None = None  # twitch:<login> feeds: the user's id, looked up once

    class Settings:
        name = "social_alerts_feeds"
        indexes = [
            IndexModel([("url", ASCENDING)], unique=True),
            IndexModel([("subscribers", ASCENDING), ("next_poll_ts", ASCENDING)]),
        ]


class AlertSubscription(Document):
    """One server's alert: a source announced in a channel, numbered per server."""

    server_id: str
    number: int
    source: str  # what the manager typed (a URL or a shortcut)
    url: str  # the feed URL it expands to
    channel_id: str
    name: str = ""  # shown as the masquerade name
    role_id: str | None = None
    template: str | None = None
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    interval_seconds: float = 900.0
    paused: bool = False
    paused_reason: str | None = None
    created_by: str = ""
    created_ts: float = 0.0

    class Settings:
        name = "social_alerts_subscriptions"
        indexes = [
            IndexModel([("server_id", ASCENDING), ("number", ASCENDING)], unique=True),
            IndexModel([("url", ASCENDING)]),
        ]


DOCUMENTS = (AlertFeed, AlertSubscription)
