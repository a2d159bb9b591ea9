"""The gate's rules, pure: phases, blacklist, DMs, buckets (share, monotonicity, salting)."""

from __future__ import annotations

import functools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logiq_core.framework.features import Phase
from logiq_core.framework.rollout.gate import RolloutGate
from logiq_core.framework.rollout.rules import FeatureState, bucket_of, decide
from logiq_core.framework.rollout.status import describe, status_text
from logiq_core.framework.rollout.store import RolloutSnapshot
from logiq_core.testing.stoat.ulid import ALPHABET

INTERNAL, LISTED, OTHER = (
    "01AAAAAAAAAAAAAAAAAAAAAAAA",
    "01BBBBBBBBBBBBBBBBBBBBBBBB",
    "01CCCCCCCCCCCCCCCCCCCCCCCC",
)


@functools.cache
def random_ids(count: int, seed: int = 7) -> tuple[str, ...]:
    """``count`` random server ids (made once per count and seed: the 100k set is shared)."""
    rng = random.Random(seed)
    return tuple("0" + "".join(rng.choices(ALPHABET, k=25)) for _ in range(count))


def gate_with(feature: str, state: FeatureState, internal: frozenset[str] = frozenset()) -> RolloutGate:
    gate = RolloutGate()
    gate.load_snapshot(RolloutSnapshot(1, {feature: state}, internal))
    return gate


@pytest.mark.parametrize("phase", list(Phase))
def test_blacklisted_server_never_gets_the_feature(phase: Phase) -> None:
    state = FeatureState(phase, 100, frozenset({OTHER}), frozenset({OTHER}))
    gate = gate_with("economy", state, frozenset({OTHER}))
    assert not gate.is_enabled("economy", OTHER)
    assert decide("economy", state, OTHER, frozenset({OTHER})).reason == "blacklisted"


def test_who_gets_a_feature_in_each_phase() -> None:
    internal = frozenset({INTERNAL})
    cases = {
        Phase.INTERNAL: {INTERNAL},
        Phase.BETA: {INTERNAL, LISTED},
        Phase.STABLE: {INTERNAL, LISTED, OTHER},
    }
    for phase, expected in cases.items():
        gate = gate_with("tickets", FeatureState(phase, 0, frozenset({LISTED})), internal)
        assert {s for s in (INTERNAL, LISTED, OTHER) if gate.is_enabled("tickets", s)} == expected
    gradual = gate_with("tickets", FeatureState(Phase.GRADUAL, 0, frozenset({LISTED})), internal)
    assert {s for s in (INTERNAL, LISTED, OTHER) if gradual.is_enabled("tickets", s)} == {
        INTERNAL,
        LISTED,
    }
    everyone = gate_with("tickets", FeatureState(Phase.GRADUAL, 100), internal)
    assert all(everyone.is_enabled("tickets", s) for s in random_ids(500))


def test_dms_get_only_stable_features() -> None:
    assert gate_with("f1", FeatureState(Phase.STABLE, 100)).is_enabled("f1", None)
    for phase in (Phase.INTERNAL, Phase.BETA, Phase.GRADUAL):
        assert not gate_with("f1", FeatureState(phase, 100)).is_enabled("f1", None)


def test_unknown_features_are_off_but_the_core_is_always_on() -> None:
    gate = RolloutGate()
    assert not gate.is_enabled("nothing", OTHER)
    assert gate.is_enabled("core", OTHER)


@pytest.mark.parametrize("target", [0.5, 5, 25, 50, 75, 99.5])
def test_enabled_share_is_within_one_point_over_100k_servers(target: float) -> None:
    gate = gate_with("economy", FeatureState(Phase.GRADUAL, target))
    ids = random_ids(100_000)
    share = 100 * sum(gate.is_enabled("economy", s) for s in ids) / len(ids)
    assert abs(share - target) < 1.0


@settings(max_examples=200, deadline=None)
@given(low=st.floats(0, 100), high=st.floats(0, 100), seed=st.integers(0, 10_000))
def test_raising_the_percentage_never_turns_a_server_off(low: float, high: float, seed: int) -> None:
    low, high = sorted((round(low, 2), round(high, 2)))
    ids = random_ids(200, seed)
    before = gate_with("leveling", FeatureState(Phase.GRADUAL, low))
    after = gate_with("leveling", FeatureState(Phase.GRADUAL, high))
    assert {s for s in ids if before.is_enabled("leveling", s)} <= {
        s for s in ids if after.is_enabled("leveling", s)
    }


def test_features_are_salted_so_the_same_servers_are_not_first_for_all() -> None:
    ids = random_ids(20_000)
    economy = {s for s in ids if bucket_of("economy", s) < 5000}
    leveling = {s for s in ids if bucket_of("leveling", s) < 5000}
    overlap = len(economy & leveling) / len(ids)
    assert 0.22 < overlap < 0.28  # independent halves overlap by about a quarter


@settings(max_examples=300, deadline=None)
@given(
    phase=st.sampled_from(list(Phase)),
    percentage=st.integers(0, 10_000).map(lambda n: n / 100),
    listed=st.booleans(),
    blocked=st.booleans(),
    internal=st.booleans(),
    dm=st.booleans(),
)
def test_the_fast_gate_agrees_with_the_explained_rules(
    phase: Phase, percentage: float, listed: bool, blocked: bool, internal: bool, dm: bool
) -> None:
    server = None if dm else OTHER
    state = FeatureState(
        phase,
        percentage,
        frozenset({OTHER}) if listed else frozenset(),
        frozenset({OTHER}) if blocked else frozenset(),
    )
    internal_set = frozenset({OTHER}) if internal else frozenset()
    gate = gate_with("economy", state, internal_set)
    assert gate.is_enabled("economy", server) == decide("economy", state, server, internal_set).enabled


def test_explain_names_the_bucket() -> None:
    state = FeatureState(Phase.GRADUAL, 50)
    decision = decide("economy", state, OTHER, frozenset())
    bucket = bucket_of("economy", OTHER) / 100
    assert decision.reason == f"bucket {bucket:.2f} {'<' if bucket < 50 else '>='} 50"


def test_status_lines_follow_the_plan_format() -> None:
    assert describe(FeatureState(Phase.STABLE, 100)) == "stable (100%)"
    assert describe(FeatureState(Phase.GRADUAL, 50)) == "gradual (50%)"
    assert describe(FeatureState(Phase.BETA, 25)) == "beta (25% whitelisted)"
    assert describe(FeatureState(Phase.INTERNAL, 0.5)) == "internal (0.5%)"
    snapshot = RolloutSnapshot(
        1, {"b": FeatureState(Phase.STABLE, 100), "a": FeatureState(Phase.INTERNAL, 5)}
    )
    assert status_text(snapshot, ["b", "a"], {"a", "b"}) == (
        "Feature Status:\n  b: stable (100%)\n  a: internal (5%)"
    )
