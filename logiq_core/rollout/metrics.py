"""Per feature and server: invocations, errors, latencies and feedback, flushed in batches.

The bot calls the ``record_*`` methods on every command, listener run and Stoat call; they only
touch memory. :meth:`FeatureMetrics.flush` writes one ``$inc`` per (feature, server, minute)
touched since the last flush, so storage sees a handful of writes per interval, never one per
event. Latencies are kept as a histogram of logarithmic buckets, enough for p50/p95/p99.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loguru import logger

from logiq_core.rollout.models import FeedbackDoc, MetricBucketDoc

if TYPE_CHECKING:
    from logiq_core.storage import Storage

_log = logger.bind(component="metrics")
NO_SERVER = "-"


def latency_bucket(milliseconds: float) -> int:
    """Histogram bucket: 4 per doubling from 0.1 ms (bucket 0) upwards."""
    if milliseconds <= 0.1:
        return 0
    return min(120, int(math.log2(milliseconds / 0.1) * 4) + 1)


def bucket_upper_ms(bucket: int) -> float:
    return 0.1 * 2 ** (bucket / 4)


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = math.ceil(total * fraction)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_upper_ms(bucket)
    return bucket_upper_ms(max(histogram))


@dataclass
class Tally:
    invocations: int = 0
    errors: int = 0
    api_calls: int = 0
    api_errors: int = 0
    latency_ms_total: float = 0.0
    api_latency_ms_total: float = 0.0
    histogram: dict[int, int] = field(default_factory=lambda: defaultdict(int))


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


class FeatureMetrics:
    """In-memory tallies, flushed to storage in batches."""

    def __init__(self, flush_interval: float = 5.0) -> None:
        self.flush_interval = flush_interval
        self._pending: dict[tuple[str, str, datetime], Tally] = {}
        self._feedback: list[FeedbackDoc] = []
        self.flushes = 0
        self.writes = 0
        self._attached = False

    async def attach(self, storage: Storage) -> None:
        self._attached = True

    def _tally(self, feature: str, server_id: str | None) -> Tally:
        key = (feature, server_id or NO_SERVER, _minute(datetime.now(UTC)))
        tally = self._pending.get(key)
        if tally is None:
            tally = self._pending[key] = Tally()
        return tally

    def record_invocation(self, feature: str, server_id: str | None, seconds: float, error: bool) -> None:
        tally = self._tally(feature, server_id)
        tally.invocations += 1
        tally.errors += int(error)
        milliseconds = seconds * 1000
        tally.latency_ms_total += milliseconds
        tally.histogram[latency_bucket(milliseconds)] += 1

    def record_api_call(self, feature: str, server_id: str | None, seconds: float, ok: bool) -> None:
        tally = self._tally(feature, server_id)
        tally.api_calls += 1
        tally.api_errors += int(not ok)
        tally.api_latency_ms_total += seconds * 1000
        if not ok:
            tally.errors += 1  # a failed Stoat call is an error of the feature

    def record_feedback(
        self, feature: str, server_id: str | None, user_id: str, rating: int, text: str
    ) -> None:
        self._feedback.append(
            FeedbackDoc(
                feature=feature,
                server_id=server_id,
                user_id=user_id,
                rating=rating,
                text=text,
                at=datetime.now(UTC),
            )
        )

    def pending(self) -> dict[tuple[str, str, datetime], Tally]:
        return self._pending

    async def flush(self) -> int:
        """Write everything recorded since the last flush; returns the number of writes."""
        pending, self._pending = self._pending, {}
        feedback, self._feedback = self._feedback, []
        if not self._attached:
            return 0
        collection = MetricBucketDoc.get_pymongo_collection()
        writes = 0
        for (feature, server_id, minute), tally in pending.items():
            increments: dict[str, float] = {
                "invocations": tally.invocations,
                "errors": tally.errors,
                "api_calls": tally.api_calls,
                "api_errors": tally.api_errors,
                "latency_ms_total": tally.latency_ms_total,
                "api_latency_ms_total": tally.api_latency_ms_total,
            }
            for bucket, count in tally.histogram.items():
                increments[f"histogram.{bucket}"] = count
            await collection.update_one(
                {"feature": feature, "server_id": server_id, "minute": minute},
                {"$inc": increments},
                upsert=True,
            )
            writes += 1
        if feedback:
            await FeedbackDoc.insert_many(feedback)
            writes += 1
        self.flushes += 1
        self.writes += writes
        return writes

    async def run_flusher(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception as exc:
                _log.warning("could not flush metrics: {}", exc)
