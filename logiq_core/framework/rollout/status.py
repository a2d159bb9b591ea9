"""The ``--status`` text, exactly in the rollout plan's format, and the one-line change reports."""

from __future__ import annotations

from logiq_core.framework.features import Phase
from logiq_core.framework.rollout.rules import FeatureState
from logiq_core.framework.rollout.store import RolloutSnapshot

ARROW = "→"


def describe(state: FeatureState | None) -> str:
    """``stable (100%)``, ``gradual (50%)``, ``beta (25% whitelisted)``, ``internal (5%)``.

    In ``beta`` only whitelisted (and internal) servers get the feature; the percentage shown is
    kept and takes effect when the feature reaches ``gradual``. The same holds in ``internal``.
    """
    if state is None:
        return "(none)"
    if state.phase is Phase.STABLE:
        return "stable (100%)"
    if state.phase is Phase.BETA:
        return f"beta ({state.percentage:g}% whitelisted)"
    return f"{state.phase.value} ({state.percentage:g}%)"


def kept_percentage_note(name: str, state: FeatureState) -> str | None:
    """What the percentage means while the feature is not yet in ``gradual``."""
    if state.phase is Phase.INTERNAL:
        who = "only internal servers get it now"
    elif state.phase is Phase.BETA:
        who = "only whitelisted and internal servers get it now"
    else:
        return None
    return f"{state.percentage:g}% is kept: it applies to all servers when {name} reaches gradual; {who}"


def change_line(
    name: str, before: FeatureState | None, after: FeatureState | None, note: str | None = None
) -> str:
    """One line: ``economy: internal (50%) → gradual (50%)`` and what else changed, and why."""
    if before == after:
        return f"{name}: {describe(after)} (no change)"
    text = f"{name}: {describe(before)} {ARROW} {describe(after)}"
    details: list[str] = []
    if before is not None and after is not None:
        for label, old, new in (
            ("whitelist", before.whitelist, after.whitelist),
            ("blacklist", before.blacklist, after.blacklist),
        ):
            if new - old:
                details.append(f"{label} +{' +'.join(sorted(new - old))}")
            if old - new:
                details.append(f"{label} -{' -'.join(sorted(old - new))}")
        if before.guard != after.guard:
            details.append(f"guard {_guard(before.guard)} {ARROW} {_guard(after.guard)}")
        if before.percentage != after.percentage and after.phase is Phase.STABLE:
            details.append(f"percentage {before.percentage:g}% {ARROW} {after.percentage:g}%")
    if note:
        details.append(note)
    return text + ("; " + "; ".join(details) if details else "")


def _guard(value: float | None) -> str:
    return "off" if value is None else f"{value:g}%"


def status_text(
    snapshot: RolloutSnapshot, order: list[str], installed: set[str], verbose: bool = False
) -> str:
    lines = ["Feature Status:"]
    for name in order:
        state = snapshot.features.get(name)
        if state is None:
            continue
        line = f"  {name}: {describe(state)}"
        if verbose:
            extras = [] if name in installed else ["not installed"]
            lists = f"whitelist {len(state.whitelist)}, blacklist {len(state.blacklist)}"
            if state.guard is not None:
                lists += f", guard {state.guard:g}%"
            extras.append(lists)
            note = kept_percentage_note(name, state)
            if note:
                extras.append(note)
            line += f"  [{' | '.join(extras)}]"
        lines.append(line)
    if verbose:
        lines.append(f"Internal servers: {len(snapshot.internal_servers)}")
        lines.append(f"State version: {snapshot.version}")
    return "\n".join(lines)
