"""The ``--status`` text, exactly in the rollout plan's format."""

from __future__ import annotations

from logiq_core.features import Phase
from logiq_core.rollout.rules import FeatureState
from logiq_core.rollout.store import RolloutSnapshot


def describe(state: FeatureState) -> str:
    """``stable (100%)``, ``gradual (50%)``, ``beta (25% whitelisted)``, ``internal (5%)``."""
    if state.phase is Phase.STABLE:
        return "stable (100%)"
    if state.phase is Phase.BETA:
        return f"beta ({state.percentage:g}% whitelisted)"
    return f"{state.phase.value} ({state.percentage:g}%)"


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
            extras = [f"whitelist {len(state.whitelist)}", f"blacklist {len(state.blacklist)}"]
            if state.guard is not None:
                extras.append(f"guard {state.guard:g}%")
            if name not in installed:
                extras.append("stored, not installed")
            line += f"  [{', '.join(extras)}]"
        lines.append(line)
    if verbose:
        lines.append(f"Internal servers: {len(snapshot.internal_servers)}")
        lines.append(f"State version: {snapshot.version}")
    return "\n".join(lines)
