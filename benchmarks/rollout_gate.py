"""Decisions per second of Logiq's rollout gate vs UnleashClient, on the same 100,000 server ids.

Both evaluate a 50 % gradual rollout by server id. Unleash is bootstrapped offline with a
``flexibleRollout`` strategy sticky on ``serverId`` (as its README shows), never contacting a
server. Run: ``python benchmarks/rollout_gate.py`` (needs ``pip install ".[bench]"``).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, random_server_ids, verdict

from logiq_core.framework.features import Phase
from logiq_core.framework.rollout.gate import RolloutGate
from logiq_core.framework.rollout.rules import FeatureState
from logiq_core.framework.rollout.store import RolloutSnapshot

GOAL_RATIO = 25.0
ROUNDS = 3


def logiq_rate(ids: list[str]) -> tuple[float, int]:
    gate = RolloutGate()
    gate.load_snapshot(RolloutSnapshot(1, {"economy": FeatureState(Phase.GRADUAL, 50)}))
    best, enabled = 0.0, 0
    for _ in range(ROUNDS):
        is_enabled = gate.is_enabled
        started = time.perf_counter()
        enabled = sum(1 for server_id in ids if is_enabled("economy", server_id))
        best = max(best, len(ids) / (time.perf_counter() - started))
    return best, enabled


def unleash_rate(ids: list[str]) -> tuple[float, int]:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    logging.getLogger("UnleashClient").setLevel(logging.ERROR)
    cache = FileCache("logiq-bench", directory=tempfile.mkdtemp())
    cache.bootstrap_from_dict(
        {
            "version": 1,
            "features": [
                {
                    "name": "economy",
                    "enabled": True,
                    "strategies": [
                        {
                            "name": "flexibleRollout",
                            "parameters": {"rollout": "50", "stickiness": "serverId", "groupId": "economy"},
                        }
                    ],
                }
            ],
        }
    )
    client = UnleashClient(
        url="http://127.0.0.1:9/unused",
        app_name="logiq-bench",
        cache=cache,
        disable_metrics=True,
        disable_registration=True,
        refresh_interval=3600,
    )
    client.initialize_client(fetch_toggles=False)
    best, enabled = 0.0, 0
    try:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            enabled = sum(
                1
                for server_id in ids
                if client.is_enabled("economy", {"properties": {"serverId": server_id}})
            )
            best = max(best, len(ids) / (time.perf_counter() - started))
    finally:
        client.destroy()
    return best, enabled


def main() -> None:
    ids = random_server_ids(100_000)
    print(f"Rollout gate decisions over {len(ids):,} server ids ({machine()}), best of {ROUNDS}")
    ours, our_enabled = logiq_rate(ids)
    print(
        f"  Logiq RolloutGate.is_enabled : {ours:14,.0f} decisions/s ({our_enabled / len(ids):.1%} enabled)"
    )
    try:
        theirs, their_enabled = unleash_rate(ids)
    except ImportError:
        print("  UnleashClient not installed: pip install '.[bench]'")
        return
    print(
        f"  UnleashClient.is_enabled     : {theirs:14,.0f} decisions/s ({their_enabled / len(ids):.1%} enabled)"
    )
    ratio = ours / theirs
    print(f"  ratio: {ratio:.1f}x (goal: at least {GOAL_RATIO:g}x) -> {verdict(ratio >= GOAL_RATIO)}")


if __name__ == "__main__":
    main()
