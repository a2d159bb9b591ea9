"""Durable timers against the real embedded storage and the Stoat test double."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from logiq_core.app.bot import Bot
from logiq_core.framework.context import PluginContext
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.plugins import PluginManager
from logiq_core.framework.policy import PluginPolicy, Policy
from logiq_core.framework.rollout.rules import FeatureState
from logiq_core.framework.timers import Timer, TimerDoc, TimerHandler
from logiq_core.testing.clock import FakeClock
from logiq_core.testing.harness import BotHarness

FEATURE = "timerprobe"


class TimerProbe:
    """A plugin whose timers note when they ran; some keys fail or hang on their first run."""

    def __init__(self, *, lease: float | None = None, timeout: float = 5.0) -> None:
        self.fired: list[tuple[str, datetime, datetime, int]] = []  # key, due, ran at, attempt
        self.fail_first: set[str] = set()
        self.hang_first: set[str] = set()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.lease = lease
        self.timeout = timeout

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(FEATURE, "Timer probe for tests", Phase.STABLE, 100.0)

    @hookimpl
    def logiq_register_timers(self, register: Callable[[TimerHandler], None]) -> None:
        register(TimerHandler("note", self.note, timeout=self.timeout, lease=self.lease))
        register(TimerHandler("note-or-drop", self.note, drop_when_disabled=True))

    async def note(self, ctx: PluginContext, timer: Timer) -> None:
        if timer.attempt == 1 and timer.key in self.fail_first:
            raise RuntimeError(f"{timer.key} fails on its first run")
        if timer.attempt == 1 and timer.key in self.hang_first:
            await asyncio.sleep(3600)
        self.fired.append((timer.key, timer.due_at, self.clock(), timer.attempt))

    def keys(self) -> list[str]:
        return [key for key, *_ in self.fired]


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` (a function, or one returning an awaitable) until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def no_timers_left(timers: Any) -> bool:
    return await timers.list() == []


def probe_context(h: BotHarness) -> PluginContext:
    assert h.bot is not None
    return h.bot.contexts[FEATURE]


async def test_scheduling_a_key_twice_keeps_one_timer_and_moves_it(tmp_path: Path) -> None:
    probe = TimerProbe()
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}) as h:
        timers = probe_context(h).timers
        soon = datetime.now(UTC) + timedelta(hours=1)
        later = soon + timedelta(hours=1)
        await timers.schedule("note", "reminder", soon, server_id="S1", payload={"n": 1})
        moved = await timers.schedule("note", "reminder", later, server_id="S1", payload={"n": 2})
        await timers.schedule("note", "other", soon, server_id="S2")
        listed = await timers.list()
        assert [t.key for t in listed] == ["other", "reminder"]  # earliest first
        assert abs((moved.due_at - later).total_seconds()) < 0.001
        reminder = await timers.get("reminder")
        assert reminder is not None and reminder.payload == {"n": 2} and reminder.server_id == "S1"
        assert abs((reminder.due_at - later).total_seconds()) < 0.001
        assert [t.key for t in await timers.list(server_id="S2")] == ["other"]
        kept = await timers.schedule("note", "reminder", soon, payload={"n": 3}, keep_existing=True)
        assert kept.payload == {"n": 2}
        assert await TimerDoc.find(TimerDoc.key == "reminder").count() == 1
        assert await timers.cancel("reminder") is True
        assert await timers.cancel("reminder") is False
        assert [t.key for t in await timers.list()] == ["other"]
        with pytest.raises(ValueError, match="no timer handler 'nope'"):
            await timers.schedule("nope", "x", soon)
        with pytest.raises(ValueError, match="timezone-aware"):
            await timers.schedule("note", "x", datetime.now())  # naive: refused
        assert probe.fired == []


async def test_a_timer_fires_within_a_second_of_its_due_time_and_repeats(tmp_path: Path) -> None:
    # The timers' clock is injected and moved by the test: "within a second" is exact, not a
    # race against a loaded machine.
    clock = FakeClock()
    probe = TimerProbe()
    probe.clock = clock
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}, clock=clock) as h:
        assert h.bot is not None
        timers = probe_context(h).timers
        await timers.schedule("note", "far", timedelta(hours=1))
        await timers.schedule("note", "soon", timedelta(seconds=0.4))
        await timers.schedule("note", "sooner", timedelta(seconds=0.2))
        await timers.schedule("note", "tick", timedelta(seconds=0.2), every=timedelta(seconds=0.3))
        assert await h.bot.timers.run_due() == 0  # nothing is due before its time
        for _ in range(4):
            clock.advance(0.2)
            await h.bot.timers.run_due()
        await eventually(lambda: {"soon", "sooner"} <= set(probe.keys()))
        for key, due, ran, _ in probe.fired:
            if key in ("soon", "sooner"):
                assert timedelta(0) <= ran - due < timedelta(seconds=1), (key, ran - due)
        assert probe.keys().index("sooner") < probe.keys().index("soon")
        while probe.keys().count("tick") < 3:
            clock.advance(0.3)
            await h.bot.timers.run_due()
        ticks = [due for key, due, _, _ in probe.fired if key == "tick"]
        assert all(later - earlier >= timedelta(seconds=0.29) for earlier, later in itertools.pairwise(ticks))
        assert await timers.cancel("tick")
        assert await timers.get("soon") is None  # a one-shot timer is gone once it ran
        assert await timers.get("far") is not None


async def test_the_scheduler_loop_runs_a_timer_on_its_own_when_it_falls_due(tmp_path: Path) -> None:
    """The same on the real clock, without run_due(): the loop wakes for a sooner timer."""
    probe = TimerProbe()
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}) as h:
        timers = probe_context(h).timers
        await timers.schedule("note", "far", timedelta(hours=1))  # the loop now sleeps long...
        await timers.schedule("note", "soon", timedelta(seconds=0.2))  # ...and is woken for this
        await eventually(lambda: "soon" in probe.keys())
        _, due, ran, _ = probe.fired[0]
        assert ran >= due
        assert await timers.get("far") is not None


async def test_failing_and_hanging_handlers_are_counted_isolated_and_retried_after_the_lease(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    probe = TimerProbe(lease=0.6, timeout=0.3)
    probe.clock = clock
    probe.fail_first = {"crash"}
    probe.hang_first = {"hang"}
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}, clock=clock) as h:
        assert h.bot is not None
        timers = probe_context(h).timers
        started = clock()
        for key in ("crash", "hang", "fine"):
            await timers.schedule("note", key, timedelta(seconds=0.1))
        clock.advance(0.1)
        await h.bot.timers.run_due()  # the hanging one is cut off by its 0.3 s timeout
        assert probe.keys() == ["fine"]
        clock.advance(0.4)
        assert await h.bot.timers.run_due() == 0  # the failed runs' leases have not ended
        clock.advance(0.25)
        await h.bot.timers.run_due()
        await eventually(lambda: {"crash", "hang", "fine"} <= set(probe.keys()))
        record = next(r for r in h.bot.plugins.loaded() if r.name == FEATURE)
        assert record.failures["timer_error"] == 1
        assert record.failures["timer_timeout"] == 1
        runs = {key: (ran, attempt) for key, _, ran, attempt in probe.fired}
        assert runs["fine"][1] == 1 and runs["fine"][0] - started < timedelta(seconds=1)
        for key in ("crash", "hang"):  # due again once the lease of the failed run ended
            ran, attempt = runs[key]
            assert attempt == 2 and ran - started >= timedelta(seconds=0.6)
        await eventually(lambda: no_timers_left(timers))
        assert (await h.command(h.demo.member_ids[0], "!ping"))["content"].startswith("Pong")


async def test_a_run_lost_with_its_process_is_due_again_after_the_lease(tmp_path: Path) -> None:
    clock = FakeClock()
    probe = TimerProbe()
    probe.clock = clock
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}, clock=clock) as h:
        assert h.bot is not None
        timers = probe_context(h).timers
        await timers.schedule("note", "orphan", timedelta(hours=1))
        # Another process claimed it a moment ago and died: its lease ends in 0.5 s.
        now = clock().timestamp()
        lease_end = now + 0.5
        collection = TimerDoc.get_pymongo_collection()
        await collection.update_one(
            {"key": "orphan"},
            {
                "$set": {"claim": "dead-process:1", "run_ts": lease_end, "due_ts": now - 1},
                "$inc": {"attempts": 1},
            },
        )
        clock.advance(0.4)
        assert await h.bot.timers.run_due() == 0  # still leased
        clock.advance(0.2)
        await h.bot.timers.run_due()
        await eventually(lambda: "orphan" in probe.keys())
        _, _, ran, attempt = probe.fired[0]
        assert attempt == 2 and ran.timestamp() >= lease_end - 0.01
        assert ran.timestamp() - lease_end < 1.0


async def test_timers_due_while_the_bot_was_down_run_at_start_oldest_first(tmp_path: Path) -> None:
    probe = TimerProbe()
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}) as h:
        start = datetime.now(UTC)
        timers = probe_context(h).timers
        for hours in (3, 1, 2):  # scheduled out of order
            await timers.schedule("note", f"after-{hours}h", start + timedelta(hours=hours))
        assert h.bot is not None
        await h.bot.stop()
        h.bot = None
        # The bot comes back four hours later (an injected clock: no waiting out real time).
        await h.storage.stop()
        bot = Bot(h.settings(), policy=h.policy(), extra_plugins=h.extra_plugins, storage=h.storage)
        later = start + timedelta(hours=4)
        bot.timers.clock = probe.clock = lambda: later
        h.bot = bot
        await bot.start()
        await eventually(lambda: len(probe.fired) == 3)
        assert probe.keys() == ["after-1h", "after-2h", "after-3h"]
        assert await bot.timers.run_due() == 0  # each ran once


async def test_a_timer_of_a_disabled_feature_is_kept_and_runs_once_it_is_back(tmp_path: Path) -> None:
    probe = TimerProbe()
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}) as h:
        assert h.bot is not None
        gate, server = h.bot.gate, h.demo.server_id
        h.bot.timers.poll_seconds = 0.05  # the scheduler's loop sees the gate change sooner

        async def set_phase(phase: Phase) -> None:
            await gate.store.apply(
                lambda s: s.with_feature(FEATURE, FeatureState(phase, 100.0)), actor="test", command="phase"
            )
            await (
                gate.refresh()
            )  # now, not at the gate's next poll (the watcher noticing changes has tests of its own)
            await eventually(lambda: gate.is_enabled(FEATURE, server) == (phase is Phase.STABLE))

        await set_phase(Phase.INTERNAL)
        timers = probe_context(h).timers
        await timers.schedule("note", "kept", timedelta(seconds=0.1), server_id=server)
        await timers.schedule("note-or-drop", "dropped", timedelta(seconds=0.1), server_id=server)
        await timers.schedule("note", "global", timedelta(seconds=0.1))  # no server: not gated
        await eventually(lambda: "global" in probe.keys())

        async def kept_and_dropped() -> bool:
            kept = await timers.get("kept")
            return kept is not None and kept.parked and await timers.get("dropped") is None

        await eventually(kept_and_dropped)
        assert probe.keys() == ["global"]
        await set_phase(Phase.STABLE)
        await eventually(lambda: no_timers_left(timers))
        assert probe.keys() == ["global", "kept"]


PROCESS_PLUGIN = textwrap.dedent(
    """
    import asyncio, os
    from datetime import UTC, datetime
    from logiq_core.framework.features import FeatureInfo, Phase
    from logiq_core.framework.hookspecs import hookimpl
    from logiq_core.framework.timers import TimerHandler

    class FiringRecorder:
        '''Each run of a timer writes one row: which process ran which key.'''

        @hookimpl
        def logiq_feature(self):
            return FeatureInfo("timerprobe", "Timer probe", Phase.STABLE, 100.0)

        @hookimpl
        def logiq_register_timers(self, register):
            register(TimerHandler("record", self.record))

        async def record(self, ctx, timer):
            await asyncio.sleep(0.02)  # a little work, so both processes get a share
            await ctx.bot.storage.database["timerprobe_fires"].insert_one(
                {"key": timer.key, "pid": os.getpid(), "at": datetime.now(UTC).timestamp()}
            )
    """
)

SECOND_BOT = textwrap.dedent(
    """
    import asyncio, signal, sys
    from pathlib import Path
    from logiq_core.app.process import exit_without_final_collection
    sys.path.insert(0, sys.argv[4])
    from timerprobe_plugin import FiringRecorder
    from logiq_core.app.bot import Bot
    from logiq_core.framework.policy import PluginPolicy, Policy
    from logiq_core.app.settings import Settings

    async def main():
        settings = Settings(token=sys.argv[3], api_url=sys.argv[2], data_dir=Path(sys.argv[1]))
        policy = Policy(plugins={"timerprobe": PluginPolicy("timerprobe", True, False, {})},
                        enable_unlisted=False)
        bot = Bot(settings, policy=policy, extra_plugins={"timerprobe": FiringRecorder()})
        bot.timers.poll_seconds = 0.1  # sees the other bot's new timers within 0.1 s, not 1 s
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await bot.start()
        print("ready", flush=True)
        await stop.wait()
        await bot.stop()

    asyncio.run(main())
    exit_without_final_collection()  # as `logiq` does
    """
)


@pytest.mark.own_storage_server  # another process shares the data directory
async def test_each_timer_runs_exactly_once_with_two_bot_processes_on_one_database(
    tmp_path: Path,
) -> None:
    (tmp_path / "timerprobe_plugin.py").write_text(PROCESS_PLUGIN)
    sys.path.insert(0, str(tmp_path))
    try:
        from timerprobe_plugin import FiringRecorder  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    data = tmp_path / "data"
    async with BotHarness([], data_dir=data, extra_plugins={FEATURE: FiringRecorder()}) as h:
        script = tmp_path / "second_bot.py"
        script.write_text(SECOND_BOT)
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            str(data),
            h.double.api_url,
            h.token,
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "LOGIQ_LOG_LEVEL": "WARNING"},
        )
        try:
            assert second.stdout is not None
            line = await asyncio.wait_for(second.stdout.readline(), timeout=60)
            assert line.strip() == b"ready"
            timers = probe_context(h).timers
            # Due after scheduling them all (0.2 s) and after the second bot's next poll (0.1 s).
            due = datetime.now(UTC) + timedelta(seconds=0.4)
            count = 40
            for index in range(count):
                # Spread over 2 s: both schedulers wake for each due time and race for it, even
                # when a loaded machine delays one of them for a while.
                await timers.schedule("record", f"t{index}", due + timedelta(milliseconds=50 * index))
            fires = h.storage.database["timerprobe_fires"]
            deadline = time.monotonic() + 30
            while await fires.count_documents({}) < count:
                assert time.monotonic() < deadline, "not every timer ran"
                await asyncio.sleep(0.05)
            # A barrier: one more timer, due after every other, has run too; nothing ran twice.
            await timers.schedule("record", "barrier", timedelta(seconds=0.3))
            while await fires.count_documents({"key": "barrier"}) < 1:
                assert time.monotonic() < deadline, "the barrier timer never ran"
                await asyncio.sleep(0.05)
            rows = await fires.find({}, {"_id": 0}).to_list()
            keys = [row["key"] for row in rows if row["key"] != "barrier"]
            assert sorted(keys) == sorted(f"t{index}" for index in range(count))  # each exactly once
            assert len({row["pid"] for row in rows}) == 2  # and both processes took part
            assert await TimerDoc.find_all().count() == 0
        finally:
            if second.returncode is None:
                second.terminate()
            await asyncio.wait_for(second.wait(), timeout=30)


def test_a_plugin_registering_something_else_than_a_timer_handler_fails_alone() -> None:
    class Sloppy:
        @hookimpl
        def logiq_feature(self) -> FeatureInfo:
            return FeatureInfo("sloppy", "Registers a bare function", Phase.STABLE, 100.0)

        @hookimpl
        def logiq_register_timers(self, register: Callable[[Any], None]) -> None:
            register(lambda ctx, timer: None)

    policy = Policy(plugins={name: PluginPolicy(name, True, False, {}) for name in ("sloppy", FEATURE)})
    manager = PluginManager(
        policy, extra_plugins={"sloppy": Sloppy(), FEATURE: TimerProbe()}, use_entry_points=False
    )
    records = {record.name: record for record in manager.load()}
    assert records["sloppy"].status == "failed"
    assert "which is not a TimerHandler" in (records["sloppy"].error or "")
    assert records[FEATURE].status == "loaded"
    assert [h.name for h in records[FEATURE].timer_handlers] == ["note", "note-or-drop"]


class ReportingProbe(TimerProbe):
    """Timers that fail without raising: one tells the core, one's Stoat call is refused."""

    @hookimpl
    def logiq_register_timers(self, register: Callable[[TimerHandler], None]) -> None:
        register(TimerHandler("report", self.report))

    async def report(self, ctx: PluginContext, timer: Timer) -> None:
        if timer.key == "handled":
            ctx.record_error()
        elif timer.key == "refused":
            try:
                await ctx.api.send_message("01HZZZZZZZZZZZZZZZZZZZZZZZ", "hello")
            except Exception:
                pass  # answered by the plugin itself, yet a failed Stoat call all the same
        self.fired.append((timer.key, timer.due_at, self.clock(), timer.attempt))


async def test_a_timer_run_that_failed_without_raising_counts_as_an_error_for_the_rollout_monitor(
    tmp_path: Path,
) -> None:
    probe = ReportingProbe()
    async with BotHarness([], data_dir=tmp_path, extra_plugins={FEATURE: probe}) as h:
        assert h.bot is not None
        timers = probe_context(h).timers
        for key in ("handled", "refused", "fine"):
            await timers.schedule("report", key, timedelta(seconds=0.05), server_id=h.demo.server_id)
        await eventually(lambda: len(probe.fired) == 3)
        tallies = [t for (feature, _, _), t in h.bot.metrics.pending().items() if feature == FEATURE]
        assert sum(t.invocations for t in tallies) == 3
        assert sum(t.errors for t in tallies) == 2
