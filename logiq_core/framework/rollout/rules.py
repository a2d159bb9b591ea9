"""Who gets a feature: phases, lists and deterministic percentage buckets.

A blacklisted server never gets a feature. ``internal``: internal servers only; ``beta``: plus
the feature's whitelist; ``gradual``: plus ``percentage`` % of all servers; ``stable``: every
server. The percentage bucket of a server is a stable hash of ``feature:server`` in [0, 100)
with 0.01 resolution, so raising the percentage never turns a server off, lowering it never
turns one on, and each feature picks a different first slice of servers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from logiq_core.framework.features import Phase

BUCKETS = 10_000  # 0.01 % resolution


def bucket_of(feature: str, server_id: str) -> int:
    """The server's bucket for ``feature``, 0..9999 (i.e. 0.00 to 99.99 %)."""
    digest = hashlib.blake2b(f"{feature}:{server_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def threshold_of(percentage: float) -> int:
    return round(percentage * 100)


@dataclass(frozen=True)
class FeatureState:
    """One feature's rollout settings, as stored."""

    phase: Phase
    percentage: float
    whitelist: frozenset[str] = frozenset()
    blacklist: frozenset[str] = frozenset()
    guard: float | None = None  # error-rate ceiling in %, None: no guard

    def to_json(self) -> dict[str, object]:
        return {
            "phase": self.phase.value,
            "percentage": self.percentage,
            "whitelist": sorted(self.whitelist),
            "blacklist": sorted(self.blacklist),
            "guard": self.guard,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FeatureState:
        guard = data.get("guard")
        whitelist = data.get("whitelist") or []
        blacklist = data.get("blacklist") or []
        assert isinstance(whitelist, list) and isinstance(blacklist, list)
        return cls(
            Phase(str(data["phase"])),
            float(str(data["percentage"])),
            frozenset(str(s) for s in whitelist),
            frozenset(str(s) for s in blacklist),
            float(str(guard)) if guard is not None else None,
        )


@dataclass(frozen=True)
class Decision:
    enabled: bool
    reason: str


def decide(feature: str, state: FeatureState, server_id: str | None, internal: frozenset[str]) -> Decision:
    """Whether ``server_id`` (None: a DM) gets ``feature``, and why, in words."""
    if server_id is None:
        if state.phase is Phase.STABLE:
            return Decision(True, "DM: the feature is stable")
        return Decision(False, f"DM: only stable features work in DMs ({state.phase.value})")
    if server_id in state.blacklist:
        return Decision(False, "blacklisted")
    if state.phase is Phase.STABLE:
        return Decision(True, "phase stable")
    if server_id in internal:
        return Decision(True, "internal server")
    if state.phase is Phase.INTERNAL:
        return Decision(False, "phase internal: internal servers only")
    if server_id in state.whitelist:
        return Decision(True, "whitelisted")
    if state.phase is Phase.BETA:
        return Decision(False, "phase beta: not whitelisted")
    bucket = bucket_of(feature, server_id)
    limit = threshold_of(state.percentage)
    shown = f"bucket {bucket / 100:.2f} {'<' if bucket < limit else '>='} {state.percentage:g}"
    return Decision(bucket < limit, shown)


@dataclass
class CompiledFeature:
    """A feature's state prepared for the hot path (sets and an integer threshold)."""

    state: FeatureState
    threshold: int
    buckets: dict[str, int] = field(default_factory=dict)
