"""A plugin whose code swallows cancellation never keeps the bot from stopping.

Seen for real: during a restart, a job's storage call absorbed the cancellation, the job loop went
back to sleep for its interval, and ``Bot.stop()`` waited on it forever. The core now cancels
again until the task ends, and gives up on it (named in the log) after a grace period.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from logiq_core.plugin import FeatureInfo, Job, Listener, MessageEvent, Phase, PluginContext, hookimpl
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.plugins import ListenerPlugin

STARTED: dict[str, asyncio.Event] = {}


async def stubborn_wait(name: str) -> None:
    """Wait until cancelled, then carry on as if nothing happened (the habit under test)."""
    STARTED[name].set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        pass


async def stubborn_job(ctx: PluginContext, server_id: str | None) -> None:
    await stubborn_wait("job")


async def stubborn_listener(ctx: PluginContext, event: MessageEvent) -> None:
    if event.content == "hang":
        await stubborn_wait("listener")


class StubbornPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="swallows cancellation", default_phase=Phase.STABLE)

    @hookimpl
    def logiq_register_jobs(self, register: object) -> None:
        # Runs once at start, then sleeps an hour: a swallowed cancel used to land in that sleep.
        register(Job("stubborn", 3600, stubborn_job, per_server=False, timeout=7200))  # type: ignore[operator]

    @hookimpl
    def logiq_register_listeners(self, register: object) -> None:
        register(Listener(MessageEvent, stubborn_listener, timeout=7200))  # type: ignore[operator]


async def test_the_bot_stops_when_a_job_and_a_listener_swallow_their_cancellation(tmp_path: Path) -> None:
    STARTED.clear()
    STARTED.update(job=asyncio.Event(), listener=asyncio.Event())
    async with BotHarness(data_dir=tmp_path, extra_plugins={"stubborn": StubbornPlugin}) as h:
        await h.say(h.demo.alice, "hang")
        await asyncio.wait_for(STARTED["listener"].wait(), 10)
        await asyncio.wait_for(STARTED["job"].wait(), 10)
        assert h.bot is not None
        h.bot.shutdown_deadline = 0.1  # the listener's time to finish before it is cancelled
        # Without re-cancelling, stop() waited for the job's next run an hour later.
        async with asyncio.timeout(20):
            await h.restart()
        assert h.bot is not None and h.bot.plugins.records["stubborn"].loaded


OVERRUNS: list[str] = []
HANDLED: list[str] = []


async def overrunning_listener(ctx: PluginContext, event: MessageEvent) -> None:
    """Overruns its timeout and swallows the watchdog's cancel, then returns normally."""
    if (event.content or "").startswith("slow"):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            OVERRUNS.append(event.content or "")
    else:
        HANDLED.append(event.content or "")


OVERRUN_PLUGIN = ListenerPlugin(
    "overruns its listener timeout", Listener(MessageEvent, overrunning_listener, timeout=0.05)
)


async def test_a_listener_that_swallows_its_timeout_is_counted_and_its_worker_lives_on(
    tmp_path: Path,
) -> None:
    OVERRUNS.clear()
    HANDLED.clear()
    async with BotHarness(data_dir=tmp_path, extra_plugins={"overrun": OVERRUN_PLUGIN}) as h:
        assert h.bot is not None
        lane = h.bot.dispatcher.lanes["overrun"]
        for n in range(len(lane.workers)):  # one overrun per worker: each would have died
            await h.say(h.demo.alice, f"slow {n}")
        await h.eventually(lambda: len(OVERRUNS) == len(lane.workers))
        await h.say(h.demo.alice, "still listening?")
        await h.eventually(lambda: HANDLED == ["still listening?"])
        assert h.bot.plugins.records["overrun"].failures["listener_timeout"] == len(lane.workers)
        assert not any(worker.done() for worker in lane.workers)


STRAY: list[str] = []


async def stray_cancel_listener(ctx: PluginContext, event: MessageEvent) -> None:
    """Awaits a future that other code cancels: a CancelledError not meant for the worker."""
    if (event.content or "").startswith("stray"):
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.cancel)
        await future
    else:
        STRAY.append(event.content or "")


STRAY_CANCEL_PLUGIN = ListenerPlugin(
    "lets a stray cancellation out", Listener(MessageEvent, stray_cancel_listener)
)


async def test_a_stray_cancellation_from_a_listener_is_its_error_and_the_worker_lives_on(
    tmp_path: Path,
) -> None:
    STRAY.clear()
    async with BotHarness(data_dir=tmp_path, extra_plugins={"stray": STRAY_CANCEL_PLUGIN}) as h:
        assert h.bot is not None
        lane = h.bot.dispatcher.lanes["stray"]
        for n in range(len(lane.workers)):  # one per worker: each used to end for good
            await h.say(h.demo.alice, f"stray {n}")
        await h.say(h.demo.alice, "still listening?")
        await h.eventually(lambda: STRAY == ["still listening?"])
        await h.settle()
        assert h.bot.plugins.records["stray"].failures["listener_error"] == len(lane.workers)
        assert not any(worker.done() for worker in lane.workers)
