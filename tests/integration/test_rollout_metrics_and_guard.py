"""Rollout metrics an operator can trust, and a guard that is safe, in a real bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger

from logiq_core.app.rollout.monitor import build_report
from logiq_core.framework.features import Phase
from logiq_core.framework.rollout.config import RolloutConfig
from logiq_core.framework.rollout.guard import GUARD_MIN_INVOCATIONS, GUARD_WINDOW, enforce_guards
from logiq_core.framework.rollout.metrics import latency_bucket, percentile
from logiq_core.framework.rollout.models import MetricBucketDoc, RolloutAuditDoc
from logiq_core.framework.rollout.rules import FeatureState
from logiq_core.framework.rollout.store import RolloutSnapshot
from logiq_core.testing.harness import BotHarness

OTHER_SERVER = "01HZX3K4M5N6P7Q8R9S0T1V2WZ"


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def stored(feature: str) -> list[dict[str, Any]]:
    collection = MetricBucketDoc.get_pymongo_collection()
    return [doc async for doc in collection.find({"feature": feature})]


async def test_a_command_whose_reply_gets_a_403_is_one_invocation_and_one_error(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        channel = h.channel_id(None)
        h.double.fail_next(
            "POST",
            f"/channels/{channel}/messages$",
            403,
            {"type": "MissingPermission", "permission": "SendMessage"},
        )
        reply = await h.command(h.demo.member_ids[0], "!hello Ada")
        assert reply["content"] == "Stoat refused: I am missing the SendMessage permission."
        await wait_for(lambda: h.bot is not None and h.bot.metrics.finished["hello"] >= 2, "counts")
        await h.bot.metrics.flush()
        documents = await stored("hello")
        # The command (two Stoat calls, one refused) and the listener's run on the message.
        assert sum(d["invocations"] for d in documents) == 2
        assert sum(d["errors"] for d in documents) == 1
        assert (sum(d["api_calls"] for d in documents), sum(d["api_errors"] for d in documents)) == (2, 1)
        assert sum(d["uses"] for d in documents) == 1
        # Histogram buckets are top-level fields on the embedded server: no dotted keys.
        assert not any("." in key for d in documents for key in d)
        assert sum(v for d in documents for k, v in d.items() if k.startswith("rt_")) == 1


async def test_response_time_p95_through_the_monitor_on_the_embedded_server(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        for index in range(20):  # one in ten is answered 0.3 s late: p95 is a slow one
            h.double.set_latency(0.3 if index in (4, 14) else 0.0)
            try:
                assert (await h.command(h.demo.member_ids[0], "!hello"))["content"] == "Hello, there!"
            finally:
                h.double.set_latency(0.0)
        await h.bot.metrics.flush()
        report = await build_report("hello", h.bot.gate.snapshot, timedelta(hours=1))
        assert report.response_samples == 20
        assert report.p95_ms is not None and 300 * 0.978 <= report.p95_ms < 600
        assert report.p50_ms is not None and report.p50_ms < 250
        assert report.api_p95_ms is not None and report.api_p95_ms >= 300 * 0.978
        assert report.verdicts["response_time"].status == "not enough data"  # 20 of 100
        assert report.error_rate_percent == 0 and report.errors == 0


def test_the_histogram_is_accurate_to_a_few_percent() -> None:
    for value in (0.5, 12.0, 499.0, 501.0, 2500.0):
        estimate = percentile({latency_bucket(value): 1}, 0.95)
        assert estimate is not None and abs(estimate - value) / value < 0.023


async def test_record_use_counts_for_adoption_but_listener_runs_do_not(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        await h.say(h.demo.member_ids[0], "just chatting")  # the listener runs: not a use
        await wait_for(lambda: h.bot is not None and h.bot.metrics.finished["hello"] >= 1, "listener")
        await h.bot.metrics.flush()
        report = await build_report("hello", h.bot.gate.snapshot, timedelta(hours=1))
        assert (report.servers_enabled, report.servers_used) == (1, 0)
        h.bot.contexts["hello"].record_use(h.demo.server_id)
        await h.bot.metrics.flush()
        report = await build_report("hello", h.bot.gate.snapshot, timedelta(hours=1))
        assert (report.servers_enabled, report.servers_used, report.adoption_percent) == (1, 1, 100.0)
        assert report.verdicts["adoption"].status == "not enough data"  # 1 of 5 servers


# --- the guard --------------------------------------------------------------------------------
async def set_state(h: BotHarness, state: FeatureState, actor: str = "ops") -> None:
    assert h.bot is not None

    def change(snapshot: RolloutSnapshot) -> RolloutSnapshot:
        return snapshot.with_feature("hello", state)

    await h.bot.gate.store.apply(change, actor=actor, command="test change", feature="hello")
    await h.bot.gate.refresh()


def record(h: BotHarness, count: int, every_nth_fails: int) -> None:
    assert h.bot is not None
    for index in range(count):
        failed = every_nth_fails > 0 and index % every_nth_fails == 0
        h.bot.metrics.record_invocation("hello", h.demo.server_id, 0.0, failed)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def tick(self) -> datetime:
        self.now += GUARD_WINDOW + timedelta(seconds=1)
        return self.now


async def test_the_guard_ignores_errors_from_before_the_last_change(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        gate, metrics, clock = h.bot.gate, h.bot.metrics, Clock()
        await set_state(h, FeatureState(Phase.GRADUAL, 50, guard=1.0))
        await enforce_guards(gate, metrics, clock.now)
        record(h, 300, every_nth_fails=2)  # 50% errors: the bug the operator is fixing
        assert metrics.guard_counts["hello"].errors == 150
        await set_state(h, FeatureState(Phase.GRADUAL, 50, guard=1.0, whitelist=frozenset({OTHER_SERVER})))
        assert (metrics.guard_counts["hello"].invocations, metrics.guard_counts["hello"].errors) == (0, 0)
        for _ in range(4):  # the fix: from now on everything works
            record(h, GUARD_MIN_INVOCATIONS, every_nth_fails=0)
            assert await enforce_guards(gate, metrics, clock.tick()) == []
        assert gate.snapshot.features["hello"].phase is Phase.GRADUAL


async def test_the_guard_needs_enough_invocations_and_consecutive_bad_windows(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        gate, metrics, clock = h.bot.gate, h.bot.metrics, Clock()
        await set_state(h, FeatureState(Phase.GRADUAL, 50, guard=1.0))
        await enforce_guards(gate, metrics, clock.now)
        record(h, GUARD_MIN_INVOCATIONS - 1, every_nth_fails=1)  # all fail, but too few
        assert await enforce_guards(gate, metrics, clock.tick()) == []
        assert await enforce_guards(gate, metrics, clock.tick()) == []
        # bad, bad, good, bad, bad: never three in a row
        for fails in (10, 10, 0, 10, 10):
            record(h, GUARD_MIN_INVOCATIONS, every_nth_fails=fails)
            assert await enforce_guards(gate, metrics, clock.tick()) == []
        assert gate.snapshot.features["hello"].phase is Phase.GRADUAL


async def test_the_guard_only_reduces_exposure_and_says_so(tmp_path: Path) -> None:
    async with BotHarness(["hello"], data_dir=tmp_path) as h:
        assert h.bot is not None
        gate, metrics, clock = h.bot.gate, h.bot.metrics, Clock()
        alerts = h.demo.channels["mod-log"]
        h.bot.rollout_config = RolloutConfig(alert_channel=alerts)
        warnings: list[str] = []
        sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING", format="{message}")
        try:
            # The operator's last change blocked a server; the feature keeps failing at 50%.
            await set_state(h, FeatureState(Phase.GRADUAL, 50, guard=1.0))
            await set_state(
                h, FeatureState(Phase.GRADUAL, 50, blacklist=frozenset({OTHER_SERVER}), guard=1.0)
            )
            await enforce_guards(gate, metrics, clock.now)
            waiter = asyncio.ensure_future(h.double.wait_for_message(channel_id=alerts))
            rolled: list[str] = []
            for _ in range(3):
                record(h, GUARD_MIN_INVOCATIONS, every_nth_fails=10)  # 10% > 1%
                rolled = await enforce_guards(gate, metrics, clock.tick(), alert=h.bot.rollout_alert)
            assert rolled == ["hello"]
            state = gate.snapshot.features["hello"]
            # Rolled back to internal; the blacklist entry stays; nothing widened.
            assert state == FeatureState(Phase.INTERNAL, 50, blacklist=frozenset({OTHER_SERVER}), guard=1.0)
            entry = await RolloutAuditDoc.find_all().sort(-RolloutAuditDoc.position).first_or_none()
            assert entry is not None and entry.actor == "guard"
            assert entry.evidence is not None and len(entry.evidence["windows"]) == 3
            assert all(
                w["invocations"] == GUARD_MIN_INVOCATIONS and w["errors"] == 10
                for w in entry.evidence["windows"]
            )
            assert entry.evidence["from"] == "gradual (50%)" and entry.evidence["to"] == "internal (50%)"
            message = await waiter
            assert message["content"].startswith("Rollout guard rolled hello back: gradual (50%) → internal")
            assert any("Rollout guard rolled hello back" in line for line in warnings)
            # Already internal: nothing left to reduce, so it never acts again.
            for _ in range(4):
                record(h, GUARD_MIN_INVOCATIONS, every_nth_fails=1)
                assert await enforce_guards(gate, metrics, clock.tick()) == []
        finally:
            logger.remove(sink)
