"""``--monitor F``: servers with F enabled, errors, response time, adoption, feedback, targets.

The plan's targets, each judged met / not met / not enough data (and how much is enough):

- error rate (errors ÷ invocations) under 0.1%: a verdict needs 1,000 invocations, the fewest
  in which one error is 0.1%; before that, any error already means "not met";
- response time (member's message or event → the feature's first Stoat call done) p95 under
  500 ms: needs 100 timed invocations;
- adoption (servers where members used it in the window ÷ servers where it is enabled now)
  over 50%: needs 5 servers with it enabled;
- member feedback tracked: needs 5 ratings (``!feedback F 1-5 comment``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from logiq_core.framework.rollout.gate import RolloutGate
from logiq_core.framework.rollout.metrics import histograms_of, percentile
from logiq_core.framework.rollout.models import FeedbackDoc, KnownServerDoc, MetricBucketDoc
from logiq_core.framework.rollout.status import describe
from logiq_core.framework.rollout.store import RolloutSnapshot

ERROR_RATE_TARGET = 0.1  # %
ERROR_RATE_MIN_INVOCATIONS = 1000
RESPONSE_TARGET_MS = 500.0
RESPONSE_MIN_SAMPLES = 100
ADOPTION_TARGET = 50.0  # %
ADOPTION_MIN_SERVERS = 5
FEEDBACK_MIN_RATINGS = 5
LATEST_COMMENTS = 3

MET, NOT_MET, NOT_ENOUGH = "met", "not met", "not enough data"


@dataclass
class Verdict:
    status: str  # met, not met, not enough data
    target: str
    enough: str  # how much data a verdict needs
    have: str  # how much there is

    def text(self) -> str:
        if self.status == NOT_ENOUGH:
            return f"target {self.target}: {self.status} ({self.have}; needs {self.enough})"
        return f"target {self.target}: {self.status}"


@dataclass
class MonitorReport:
    feature: str
    state: str
    window_hours: float
    servers_known: int
    servers_enabled: int
    servers_used: int
    adoption_percent: float | None
    invocations: int
    errors: int
    error_rate_percent: float | None
    response_samples: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    api_calls: int
    api_errors: int
    api_p50_ms: float | None
    api_p95_ms: float | None
    api_p99_ms: float | None
    feedback_count: int
    feedback_mean: float | None
    feedback_latest: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @property
    def error_rate_met(self) -> bool | None:
        return _as_bool(self.verdicts["error_rate"])

    @property
    def response_time_met(self) -> bool | None:
        return _as_bool(self.verdicts["response_time"])

    @property
    def adoption_met(self) -> bool | None:
        return _as_bool(self.verdicts["adoption"])

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_rate_met"] = self.error_rate_met
        data["response_time_met"] = self.response_time_met
        data["adoption_met"] = self.adoption_met
        return data


def _as_bool(verdict: Verdict) -> bool | None:
    return None if verdict.status == NOT_ENOUGH else verdict.status == MET


def error_rate_verdict(invocations: int, errors: int) -> Verdict:
    have = f"{invocations} invocations"
    enough = f"{ERROR_RATE_MIN_INVOCATIONS} invocations"
    target = f"< {ERROR_RATE_TARGET:g}%"
    if invocations >= ERROR_RATE_MIN_INVOCATIONS:
        met = 100.0 * errors / invocations < ERROR_RATE_TARGET
        return Verdict(MET if met else NOT_MET, target, enough, have)
    if errors > 0:  # even with no more errors up to the minimum, it would not be under target
        return Verdict(NOT_MET, target, enough, have)
    return Verdict(NOT_ENOUGH, target, enough, have)


def response_verdict(samples: int, p95: float | None) -> Verdict:
    verdict = Verdict(
        NOT_ENOUGH,
        f"p95 < {RESPONSE_TARGET_MS:g} ms",
        f"{RESPONSE_MIN_SAMPLES} timed invocations",
        f"{samples} timed",
    )
    if samples >= RESPONSE_MIN_SAMPLES and p95 is not None:
        verdict.status = MET if p95 < RESPONSE_TARGET_MS else NOT_MET
    return verdict


def adoption_verdict(enabled: int, adoption: float | None) -> Verdict:
    verdict = Verdict(
        NOT_ENOUGH,
        f"> {ADOPTION_TARGET:g}% of servers with it enabled",
        f"{ADOPTION_MIN_SERVERS} servers with it enabled",
        f"{enabled} enabled",
    )
    if enabled >= ADOPTION_MIN_SERVERS and adoption is not None:
        verdict.status = MET if adoption > ADOPTION_TARGET else NOT_MET
    return verdict


def feedback_verdict(count: int) -> Verdict:
    return Verdict(
        MET if count >= FEEDBACK_MIN_RATINGS else NOT_ENOUGH,
        "feedback tracked",
        f"{FEEDBACK_MIN_RATINGS} ratings",
        f"{count} ratings",
    )


async def build_report(
    feature: str, snapshot: RolloutSnapshot, window: timedelta, now: datetime | None = None
) -> MonitorReport:
    now = now or datetime.now(UTC)
    since = now - window
    gate = RolloutGate()
    gate.load_snapshot(snapshot)
    servers = [doc.server_id async for doc in KnownServerDoc.find_all()]
    enabled = {s for s in servers if gate.is_enabled(feature, s)}
    invocations = errors = api_calls = api_errors = 0
    used: set[str] = set()
    response: dict[int, int] = {}
    api: dict[int, int] = {}
    collection = MetricBucketDoc.get_pymongo_collection()
    async for document in collection.find({"feature": feature, "minute": {"$gte": since}}):
        invocations += int(document.get("invocations", 0))
        errors += int(document.get("errors", 0))
        api_calls += int(document.get("api_calls", 0))
        api_errors += int(document.get("api_errors", 0))
        if int(document.get("uses", 0)) > 0:
            used.add(str(document.get("server_id")))
        doc_response, doc_api = histograms_of(document)
        for into, part in ((response, doc_response), (api, doc_api)):
            for bucket, count in part.items():
                into[bucket] = into.get(bucket, 0) + count
    feedback = await FeedbackDoc.find(FeedbackDoc.feature == feature, FeedbackDoc.at >= since).to_list()
    ratings = [doc.rating for doc in feedback]
    latest = sorted(
        (doc for doc in feedback if doc.text), key=lambda doc: (doc.at, str(doc.id)), reverse=True
    )
    used_enabled = used & enabled  # servers the bot left, or where it is off now, do not count
    adoption = 100.0 * len(used_enabled) / len(enabled) if enabled else None
    error_rate = 100.0 * errors / invocations if invocations else None
    samples = sum(response.values())
    p95 = percentile(response, 0.95)
    return MonitorReport(
        feature=feature,
        state=describe(snapshot.features.get(feature)),
        window_hours=window.total_seconds() / 3600,
        servers_known=len(servers),
        servers_enabled=len(enabled),
        servers_used=len(used_enabled),
        adoption_percent=adoption,
        invocations=invocations,
        errors=errors,
        error_rate_percent=error_rate,
        response_samples=samples,
        p50_ms=percentile(response, 0.50),
        p95_ms=p95,
        p99_ms=percentile(response, 0.99),
        api_calls=api_calls,
        api_errors=api_errors,
        api_p50_ms=percentile(api, 0.50),
        api_p95_ms=percentile(api, 0.95),
        api_p99_ms=percentile(api, 0.99),
        feedback_count=len(ratings),
        feedback_mean=sum(ratings) / len(ratings) if ratings else None,
        feedback_latest=[
            {"rating": doc.rating, "text": doc.text, "at": doc.at.isoformat(timespec="seconds")}
            for doc in latest[:LATEST_COMMENTS]
        ],
        verdicts={
            "error_rate": error_rate_verdict(invocations, errors),
            "response_time": response_verdict(samples, p95),
            "adoption": adoption_verdict(len(enabled), adoption),
            "feedback": feedback_verdict(len(ratings)),
        },
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}%"


def report_lines(report: MonitorReport) -> list[str]:
    """The monitor as plain text (member comments are shown as typed, never as markup)."""
    v = report.verdicts
    lines = [
        f"{report.feature}: {report.state}, last {report.window_hours:g} h",
        f"  servers with {report.feature} enabled: {report.servers_enabled} "
        f"(of {report.servers_known} the bot is in)",
        f"  error rate: {_pct(report.error_rate_percent)} ({report.errors} errors in "
        f"{report.invocations} invocations); {v['error_rate'].text()}",
        f"  response time (message to first Stoat call done): p50 {_ms(report.p50_ms)}, "
        f"p95 {_ms(report.p95_ms)}, p99 {_ms(report.p99_ms)} ({report.response_samples} timed); "
        f"{v['response_time'].text()}",
        f"  Stoat API latency: p50 {_ms(report.api_p50_ms)}, p95 {_ms(report.api_p95_ms)}, "
        f"p99 {_ms(report.api_p99_ms)} ({report.api_calls} calls, {report.api_errors} failed)",
        f"  adoption: {_pct(report.adoption_percent, 1)} ({report.servers_used} of "
        f"{report.servers_enabled} servers with it enabled used it); {v['adoption'].text()}",
        f"  feedback: {report.feedback_count} ratings, mean "
        f"{'-' if report.feedback_mean is None else f'{report.feedback_mean:.1f}'}/5; "
        f"{v['feedback'].text()}",
    ]
    for comment in report.feedback_latest:
        text = " ".join(str(comment["text"]).split())[:200]
        lines.append(f"    {comment['at']} {comment['rating']}/5: {text}")
    return lines
