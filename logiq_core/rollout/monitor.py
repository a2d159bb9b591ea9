"""``--monitor F``: usage, errors, latency, feedback and the plan's success metrics."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from logiq_core.rollout.gate import RolloutGate
from logiq_core.rollout.metrics import percentile
from logiq_core.rollout.models import FeedbackDoc, KnownServerDoc, MetricBucketDoc
from logiq_core.rollout.store import RolloutSnapshot

ERROR_RATE_TARGET = 0.1  # %
ADOPTION_TARGET = 50.0  # %
RESPONSE_TARGET_MS = 500.0


@dataclass
class MonitorReport:
    feature: str
    window_hours: float
    servers_known: int
    servers_enabled: int
    servers_used: int
    adoption_percent: float | None
    invocations: int
    errors: int
    error_rate_percent: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    feedback_count: int
    feedback_mean: float | None
    error_rate_met: bool | None
    adoption_met: bool | None
    response_time_met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def build_report(
    feature: str, snapshot: RolloutSnapshot, window: timedelta, now: datetime | None = None
) -> MonitorReport:
    now = now or datetime.now(UTC)
    since = now - window
    gate = RolloutGate()
    gate.load_snapshot(snapshot)
    servers = [doc.server_id async for doc in KnownServerDoc.find_all()]
    enabled = {s for s in servers if gate.is_enabled(feature, s)}
    invocations = errors = 0
    used: set[str] = set()
    histogram: dict[int, int] = defaultdict(int)
    async for bucket in MetricBucketDoc.find(
        MetricBucketDoc.feature == feature, MetricBucketDoc.minute >= since
    ):
        invocations += bucket.invocations
        errors += bucket.errors
        if bucket.invocations:
            used.add(bucket.server_id)
        for key, count in bucket.histogram.items():
            histogram[int(key)] += count
    ratings = [
        doc.rating async for doc in FeedbackDoc.find(FeedbackDoc.feature == feature, FeedbackDoc.at >= since)
    ]
    used_enabled = len(used & enabled) if enabled else len(used)
    adoption = 100.0 * used_enabled / len(enabled) if enabled else None
    error_rate = 100.0 * errors / invocations if invocations else None
    p95 = percentile(histogram, 0.95)
    return MonitorReport(
        feature=feature,
        window_hours=window.total_seconds() / 3600,
        servers_known=len(servers),
        servers_enabled=len(enabled),
        servers_used=len(used),
        adoption_percent=adoption,
        invocations=invocations,
        errors=errors,
        error_rate_percent=error_rate,
        p50_ms=percentile(histogram, 0.50),
        p95_ms=p95,
        p99_ms=percentile(histogram, 0.99),
        feedback_count=len(ratings),
        feedback_mean=sum(ratings) / len(ratings) if ratings else None,
        error_rate_met=None if error_rate is None else error_rate < ERROR_RATE_TARGET,
        adoption_met=None if adoption is None else adoption > ADOPTION_TARGET,
        response_time_met=None if p95 is None else p95 < RESPONSE_TARGET_MS,
    )


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _mark(met: bool | None) -> str:
    return "no data" if met is None else ("met" if met else "NOT met")


def report_rows(report: MonitorReport) -> list[tuple[str, str]]:
    return [
        ("servers known / enabled", f"{report.servers_known} / {report.servers_enabled}"),
        ("servers that used it", str(report.servers_used)),
        ("adoption (used / enabled)", _fmt(report.adoption_percent, "%")),
        ("invocations", str(report.invocations)),
        ("errors (rate)", f"{report.errors} ({_fmt(report.error_rate_percent, '%', 3)})"),
        ("response p50 / p95 / p99", " / ".join(
            _fmt(v, " ms") for v in (report.p50_ms, report.p95_ms, report.p99_ms))),
        ("feedback (count, mean)", f"{report.feedback_count}, {_fmt(report.feedback_mean)}"),
        (f"error rate < {ERROR_RATE_TARGET}%", _mark(report.error_rate_met)),
        (f"adoption > {ADOPTION_TARGET:g}%", _mark(report.adoption_met)),
        (f"response time < {RESPONSE_TARGET_MS:g} ms (p95)", _mark(report.response_time_met)),
    ]  # fmt: skip
