"""The guarded rollout: roll a feature back by itself when its error rate spikes.

Off unless an operator sets a ceiling (``--guard F 0.5``). Every check flushes the metrics, then
looks at the last five minutes: with at least 200 invocations and an error rate above the
ceiling, the feature returns to its state before its last audited change, audited as ``guard``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from loguru import logger

from logiq_core.features import Phase
from logiq_core.rollout.models import MetricBucketDoc, RolloutAuditDoc
from logiq_core.rollout.rules import FeatureState
from logiq_core.rollout.store import RolloutSnapshot

if TYPE_CHECKING:
    from logiq_core.rollout.gate import RolloutGate
    from logiq_core.rollout.metrics import FeatureMetrics

GUARD_WINDOW = timedelta(minutes=5)
GUARD_MIN_INVOCATIONS = 200
GUARD_ACTOR = "guard"
_log = logger.bind(component="rollout")


async def error_rate(feature: str, since: datetime) -> tuple[int, int]:
    invocations = errors = 0
    async for bucket in MetricBucketDoc.find(
        MetricBucketDoc.feature == feature, MetricBucketDoc.minute >= since
    ):
        invocations += bucket.invocations
        errors += bucket.errors
    return invocations, errors


async def previous_state(feature: str, current: FeatureState) -> FeatureState:
    """The feature's state before its last rollout change by a person (a change of the guard
    itself does not count); internal if none is known."""
    entries = (
        await RolloutAuditDoc.find(RolloutAuditDoc.feature == feature)
        .sort(-RolloutAuditDoc.position)
        .to_list()
    )
    for entry in entries:
        if entry.actor == GUARD_ACTOR or entry.before is None or entry.after is None:
            continue
        before = {k: v for k, v in entry.before.items() if k != "guard"}
        after = {k: v for k, v in entry.after.items() if k != "guard"}
        if before != after:
            return replace(FeatureState.from_json(entry.before), guard=current.guard)
    return replace(current, phase=Phase.INTERNAL)


async def enforce_guards(
    gate: RolloutGate, metrics: FeatureMetrics, now: datetime | None = None
) -> list[str]:
    """Check every guarded feature; return the names rolled back."""
    guarded = {n: s for n, s in gate.snapshot.features.items() if s.guard is not None}
    if not guarded:
        return []
    await metrics.flush()
    since = (now or datetime.now(UTC)) - GUARD_WINDOW
    rolled_back = []
    for name, state in guarded.items():
        invocations, errors = await error_rate(name, since)
        if invocations < GUARD_MIN_INVOCATIONS:
            continue
        rate = 100.0 * errors / invocations
        assert state.guard is not None
        if rate <= state.guard:
            continue
        target = await previous_state(name, state)

        def roll_back(
            snapshot: RolloutSnapshot, name: str = name, target: FeatureState = target
        ) -> RolloutSnapshot:
            return snapshot.with_feature(name, target)

        await gate.store.apply(
            roll_back,
            actor=GUARD_ACTOR,
            command=f"guard: {rate:.2f}% errors over {invocations} calls > {state.guard:g}%",
            feature=name,
        )
        _log.warning(
            "guard rolled {} back to {} ({:.2f}% errors over {} invocations, ceiling {:g}%)",
            name, target.phase.value, rate, invocations, state.guard,
        )  # fmt: skip
        rolled_back.append(name)
    if rolled_back:
        await gate.refresh()
    return rolled_back
