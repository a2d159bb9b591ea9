"""The guarded rollout: roll a feature back by itself when its error rate stays too high.

Off unless an operator sets a ceiling (``--guard F 0.5``). The guard judges a feature only on
invocations that started after the feature's last rollout change (an operator's fix is not
blamed for the errors before it), in windows: a window closes at the first check once it has
lasted :data:`GUARD_WINDOW` and holds at least :data:`GUARD_MIN_INVOCATIONS` invocations. Only
when :data:`GUARD_WINDOWS` consecutive windows are all above the ceiling (Flagger's
``threshold``) does it act, and then only by reducing exposure: the feature goes to
``internal`` (the plan's rollback), keeping its percentage, whitelist and blacklist. It never
removes a blacklist entry and never widens anything. The change is audited with its evidence
(the windows' figures), logged at WARNING, and posted to ``[rollout] alert_channel`` if set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from loguru import logger

from logiq_core.framework.features import Phase
from logiq_core.framework.rollout.rules import FeatureState
from logiq_core.framework.rollout.status import describe

if TYPE_CHECKING:
    from logiq_core.framework.rollout.gate import RolloutGate
    from logiq_core.framework.rollout.metrics import FeatureMetrics
    from logiq_core.framework.rollout.store import RolloutSnapshot

GUARD_WINDOW = timedelta(minutes=1)
GUARD_MIN_INVOCATIONS = 100
GUARD_WINDOWS = 3
GUARD_ACTOR = "guard"
_log = logger.bind(component="rollout")
Alert = Callable[[str], Awaitable[None]]


@dataclass
class GuardTrack:
    """One feature's open window and the consecutive bad windows before it."""

    since: float  # the GuardCount it follows (a new one after every change of the feature)
    opened_at: datetime
    base_invocations: int = 0
    base_errors: int = 0
    bad: list[dict[str, Any]] = field(default_factory=list)


async def enforce_guards(
    gate: RolloutGate,
    metrics: FeatureMetrics,
    now: datetime | None = None,
    alert: Alert | None = None,
) -> list[str]:
    """Check every guarded feature; return the names rolled back."""
    now = now or datetime.now(UTC)
    tracks: dict[str, GuardTrack] = gate.guard_tracks
    rolled_back = []
    for name, state in gate.snapshot.features.items():
        count = metrics.guard_counts.get(name)
        if state.guard is None or count is None:
            tracks.pop(name, None)
            continue
        track = tracks.get(name)
        if track is None or track.since != count.since:
            track = tracks[name] = GuardTrack(count.since, now, count.invocations, count.errors)
        invocations = count.invocations - track.base_invocations
        errors = count.errors - track.base_errors
        if invocations < GUARD_MIN_INVOCATIONS or now - track.opened_at < GUARD_WINDOW:
            continue  # the window stays open until it is long enough and has enough calls
        rate = 100.0 * errors / invocations
        window = {
            "from": track.opened_at.isoformat(timespec="seconds"),
            "to": now.isoformat(timespec="seconds"),
            "invocations": invocations,
            "errors": errors,
            "error_rate_percent": round(rate, 3),
        }
        track.opened_at, track.base_invocations, track.base_errors = now, count.invocations, count.errors
        if rate <= state.guard:
            track.bad.clear()
            continue
        track.bad.append(window)
        if len(track.bad) < GUARD_WINDOWS:
            continue
        if await _roll_back(gate, name, state, track.bad[-GUARD_WINDOWS:], alert):
            rolled_back.append(name)
        tracks.pop(name, None)
    if rolled_back:
        await gate.refresh()
    return rolled_back


async def _roll_back(
    gate: RolloutGate, name: str, judged: FeatureState, windows: list[dict[str, Any]], alert: Alert | None
) -> bool:
    """Move ``name`` to internal if it is still in the state that was judged; audit and alert."""
    if judged.phase is Phase.INTERNAL:
        return False  # nothing left to reduce: only the team's servers have it
    assert judged.guard is not None
    target = replace(judged, phase=Phase.INTERNAL)

    def roll_back(snapshot: RolloutSnapshot) -> RolloutSnapshot:
        if snapshot.features.get(name) != judged:
            return snapshot  # changed meanwhile: these figures no longer describe it
        return snapshot.with_feature(name, target)

    last = windows[-1]
    evidence = {
        "ceiling_percent": judged.guard,
        "min_invocations_per_window": GUARD_MIN_INVOCATIONS,
        "window_seconds": GUARD_WINDOW.total_seconds(),
        "windows": windows,
        "from": describe(judged),
        "to": describe(target),
    }
    command = (
        f"guard: {len(windows)} windows in a row above {judged.guard:g}% errors "
        f"(last {last['error_rate_percent']:g}% of {last['invocations']} invocations, "
        f"{last['from']} to {last['to']})"
    )
    before, after = await gate.store.apply(
        roll_back, actor=GUARD_ACTOR, command=command, feature=name, evidence=evidence
    )
    if before.version == after.version:
        return False
    message = (
        f"Rollout guard rolled {name} back: {describe(judged)} → {describe(target)}. "
        f"{len(windows)} windows in a row above the {judged.guard:g}% error ceiling; last "
        f"{last['errors']} errors in {last['invocations']} invocations "
        f"({last['error_rate_percent']:g}%, {last['from']} to {last['to']})."
    )
    _log.warning("{}", message)
    if alert is not None:
        try:
            await alert(message)
        except Exception as exc:
            _log.warning("could not post the guard's alert: {}", exc)
    return True
