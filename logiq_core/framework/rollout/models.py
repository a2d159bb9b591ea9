"""Beanie documents of the rollout gate (collections prefixed ``core_rollout_``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from beanie import Document, Indexed
from pydantic import Field

STATE_ID = "rollout"


class RolloutStateDoc(Document):
    """The whole rollout state in one document, so every change is one atomic write.

    ``version`` increases by one per change; writers update only if it is unchanged
    (optimistic concurrency), and the bot's watcher reloads when it moves.
    """

    id: str = Field(default=STATE_ID, alias="_id")  # type: ignore[assignment]
    version: int = 0
    features: dict[str, dict[str, Any]] = Field(default_factory=dict)
    internal_servers: list[str] = Field(default_factory=list)

    class Settings:
        name = "core_rollout_state"


class RolloutAuditDoc(Document):
    """One audited change: who, when, the command, and the state before and after."""

    position: Annotated[int, Indexed(unique=True)]
    at: datetime
    actor: str
    command: str
    feature: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None  # the guard's figures and windows

    class Settings:
        name = "core_rollout_audit"


class KnownServerDoc(Document):
    """A server the bot is in (for eligible/enabled counts in the monitor)."""

    server_id: Annotated[str, Indexed(unique=True)]
    seen_at: datetime

    class Settings:
        name = "core_rollout_servers"


class MetricBucketDoc(Document):
    """Per feature, server and minute: counters and latency histograms (flushed in batches)."""

    feature: Annotated[str, Indexed()]
    server_id: str
    minute: Annotated[datetime, Indexed()]
    invocations: int = 0
    errors: int = 0
    uses: int = 0
    api_calls: int = 0
    api_errors: int = 0
    latency_ms_total: float = 0.0
    api_latency_ms_total: float = 0.0
    # Histogram buckets are top-level fields ``rt_<b>`` and ``api_<b>`` (see metrics.py).

    class Settings:
        name = "core_rollout_metrics"


class FeedbackDoc(Document):
    feature: Annotated[str, Indexed()]
    server_id: str | None = None
    user_id: str
    rating: int
    text: str = ""
    at: datetime

    class Settings:
        name = "core_rollout_feedback"


ALL_DOCUMENTS: list[type[Document]] = [
    RolloutStateDoc,
    RolloutAuditDoc,
    KnownServerDoc,
    MetricBucketDoc,
    FeedbackDoc,
]
