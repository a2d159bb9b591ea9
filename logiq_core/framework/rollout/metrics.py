"""Per feature and server: invocations, errors, uses, response times and feedback, in batches.

The bot reports every invocation of a feature (a command, a listener call, a job or timer run)
once, when it ends, with :meth:`FeatureMetrics.finish`; every Stoat call made on its behalf goes
through :meth:`FeatureMetrics.observe_call`. An invocation is one error however many of its Stoat
calls failed, so the error rate (errors ÷ invocations) never exceeds 100%. Its response time runs
from the member's message (or the event) reaching the bot to its first Stoat call completing;
the Stoat API latency of each call is kept apart. A *use* (for adoption) is a member invoking
one of the feature's commands, or the plugin saying so with ``ctx.record_use(server_id)``.

These methods only touch memory. :meth:`FeatureMetrics.flush` writes one ``$inc`` upsert per
(feature, server, minute) touched since the last flush. Every field it increments is a
top-level field (histogram bucket ``b`` of response times is ``rt_b``, of API latency ``api_b``):
the embedded nx-27017 server stores the first ``$inc`` of a dotted field on an upsert as a
literal dotted key, so nested counters would be lost there; top-level ones work on it and on
MongoDB alike.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loguru import logger
from pymongo import UpdateOne

from logiq_core.framework.invocation import Invocation
from logiq_core.framework.rollout.models import FeedbackDoc, MetricBucketDoc
from logiq_core.framework.tasks import raise_if_cancel_was_swallowed

if TYPE_CHECKING:
    from logiq_core.framework.storage import Storage

_log = logger.bind(component="metrics")
NO_SERVER = "-"
PER_DOUBLING = 16  # histogram resolution: 16 buckets per doubling (about 4.4% wide)
BASE_MS = 0.1
MAX_BUCKET = PER_DOUBLING * 26  # 0.1 ms * 2**26: about 1.9 hours
RESPONSE_PREFIX = "rt_"
API_PREFIX = "api_"


def latency_bucket(milliseconds: float) -> int:
    """Histogram bucket ``b``: (0.1 ms * 2**((b-1)/16), 0.1 ms * 2**(b/16)]; 0 is <= 0.1 ms."""
    if milliseconds <= BASE_MS:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log2(milliseconds / BASE_MS) * PER_DOUBLING))


def bucket_upper_ms(bucket: int) -> float:
    return float(BASE_MS * 2 ** (bucket / PER_DOUBLING))


def bucket_middle_ms(bucket: int) -> float:
    """A bucket's representative value: its geometric middle (within 2.2% of any value in it)."""
    if bucket == 0:
        return BASE_MS
    return float(BASE_MS * 2 ** ((bucket - 0.5) / PER_DOUBLING))


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank) of a histogram, in ms; None when empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(total * fraction))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_middle_ms(bucket)
    return bucket_middle_ms(max(histogram))


@dataclass
class Tally:
    invocations: int = 0
    errors: int = 0
    uses: int = 0
    api_calls: int = 0
    api_errors: int = 0
    latency_ms_total: float = 0.0
    api_latency_ms_total: float = 0.0
    response: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    api: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def increments(self) -> dict[str, float]:
        """The ``$inc`` document: top-level fields only (see the module's docstring)."""
        result: dict[str, float] = {
            "invocations": self.invocations,
            "errors": self.errors,
            "uses": self.uses,
            "api_calls": self.api_calls,
            "api_errors": self.api_errors,
            "latency_ms_total": self.latency_ms_total,
            "api_latency_ms_total": self.api_latency_ms_total,
        }
        for bucket, count in self.response.items():
            result[f"{RESPONSE_PREFIX}{bucket}"] = count
        for bucket, count in self.api.items():
            result[f"{API_PREFIX}{bucket}"] = count
        return result


def histograms_of(document: dict[str, Any]) -> tuple[dict[int, int], dict[int, int]]:
    """The response-time and API-latency histograms stored in one metrics document."""
    response: dict[int, int] = {}
    api: dict[int, int] = {}
    for key, value in document.items():
        for prefix, into in ((RESPONSE_PREFIX, response), (API_PREFIX, api)):
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                bucket = int(key[len(prefix) :])
                into[bucket] = into.get(bucket, 0) + int(value)
    return response, api


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


@dataclass
class GuardCount:
    """Invocations of one feature since its last rollout change, for the guard's windows."""

    since: float  # perf_counter() of the feature's last change seen by this bot
    invocations: int = 0
    errors: int = 0


class FeatureMetrics:
    """In-memory tallies, flushed to storage in batches."""

    def __init__(self, flush_interval: float = 5.0) -> None:
        self.flush_interval = flush_interval
        self._pending: dict[tuple[str, str, datetime], Tally] = {}
        self._feedback: list[FeedbackDoc] = []
        self.guard_counts: dict[str, GuardCount] = {}
        self.finished: dict[str, int] = defaultdict(int)  # invocations per feature, ever
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

    # --- what the bot reports -----------------------------------------------------------------
    def observe_call(self, invocation: Invocation, seconds: float, ok: bool) -> None:
        """A Stoat call made on behalf of ``invocation`` completed after ``seconds``."""
        if invocation.first_call_done is None:
            invocation.first_call_done = time.perf_counter()
        if not ok:
            invocation.api_failed = True
        tally = self._tally(invocation.feature, invocation.server_id)
        tally.api_calls += 1
        tally.api_errors += int(not ok)
        milliseconds = seconds * 1000
        tally.api_latency_ms_total += milliseconds
        tally.api[latency_bucket(milliseconds)] += 1

    def finish(self, invocation: Invocation, failed: bool) -> None:
        """``invocation`` ended; ``failed``: it raised (a failed Stoat call inside also counts)."""
        error = failed or invocation.api_failed or invocation.failed
        tally = self._tally(invocation.feature, invocation.server_id)
        tally.invocations += 1
        tally.errors += int(error)
        self.finished[invocation.feature] += 1
        if invocation.is_use and invocation.server_id is not None:
            tally.uses += 1
        if invocation.first_call_done is not None:
            milliseconds = max(0.0, invocation.first_call_done - invocation.started) * 1000
            tally.latency_ms_total += milliseconds
            tally.response[latency_bucket(milliseconds)] += 1
        self._count_for_guard(invocation.feature, invocation.started, error)

    def record_invocation(self, feature: str, server_id: str | None, seconds: float, error: bool) -> None:
        """An invocation known only by its duration and outcome (no response time)."""
        tally = self._tally(feature, server_id)
        tally.invocations += 1
        tally.errors += int(error)
        self.finished[feature] += 1
        self._count_for_guard(feature, time.perf_counter() - seconds, error)

    def record_use(self, feature: str, server_id: str | None) -> None:
        """A member used ``feature`` on ``server_id`` (adoption); DMs do not count."""
        if server_id is not None:
            self._tally(feature, server_id).uses += 1

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

    # --- the guard's view: only what ran after the feature's last change ----------------------
    def feature_changed(self, feature: str, at: float | None = None) -> None:
        """Forget ``feature``'s invocations so far: the guard judges only those that start later."""
        self.guard_counts[feature] = GuardCount(time.perf_counter() if at is None else at)

    def _count_for_guard(self, feature: str, started: float, error: bool) -> None:
        count = self.guard_counts.get(feature)
        if count is None or started < count.since:
            return
        count.invocations += 1
        count.errors += int(error)

    # --- storage ------------------------------------------------------------------------------
    def pending(self) -> dict[tuple[str, str, datetime], Tally]:
        return self._pending

    async def flush(self) -> int:
        """Write everything recorded since the last flush; returns the number of writes."""
        pending, self._pending = self._pending, {}
        feedback, self._feedback = self._feedback, []
        if not self._attached:
            return 0
        writes = 0
        if pending:  # one round trip for every bucket (in order, as one update each would)
            await MetricBucketDoc.get_pymongo_collection().bulk_write(
                [
                    UpdateOne(
                        {"feature": feature, "server_id": server_id, "minute": minute},
                        {"$inc": tally.increments()},
                        upsert=True,
                    )
                    for (feature, server_id, minute), tally in pending.items()
                ]
            )
            writes += len(pending)
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
            raise_if_cancel_was_swallowed()  # by the storage write
