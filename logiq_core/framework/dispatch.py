"""Event fan-out to plugin listeners, isolated per plugin.

Each plugin gets its own queue and a few worker tasks. :meth:`EventDispatcher.dispatch` is
synchronous and cheap (a ``put_nowait`` per interested plugin), so the socket reader never waits
on a plugin. Each listener call runs under its own timeout and ``try``: one plugin raising or
hanging never silences another, and every failure is counted on the plugin's record and in the
feature's metrics. Listeners only see events of servers where the rollout gate enables them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from logiq_core.framework.invocation import Invocation, current_invocation
from logiq_core.framework.listeners import EventListener
from logiq_core.framework.tasks import cancel_and_wait, raise_if_cancel_was_swallowed
from logiq_core.stoat import events as ev

if TYPE_CHECKING:
    from logiq_core.framework.context import PluginContext
    from logiq_core.framework.plugins import PluginRecord

WORKERS_PER_PLUGIN = 4
QUEUE_LIMIT = 10_000
WATCHDOG_INTERVAL = 0.05

# Events that belong to no server and are not messages: every plugin may need them
# (a platform wipe must purge data everywhere), so they are not gated.
UNGATED_WITHOUT_SERVER = (ev.UserUpdate, ev.UserPlatformWipe, ev.UserRelationship)


class PluginLane:
    """One plugin's queue and workers."""

    def __init__(
        self,
        record: PluginRecord,
        context: PluginContext,
        is_enabled: Callable[[str, str | None], bool],
        finish: Callable[[Invocation, bool], None],
    ) -> None:
        self.record = record
        self.context = context
        self.by_type: dict[type[ev.StoatEvent], list[EventListener]] = defaultdict(list)
        for listener in record.listeners:
            self.by_type[listener.event_type].append(listener)
        self.queue: asyncio.Queue[tuple[EventListener, ev.StoatEvent, float]] = asyncio.Queue(QUEUE_LIMIT)
        self._is_enabled = is_enabled
        self._finish = finish
        self._workers: list[asyncio.Task[None]] = []
        # worker index -> (deadline, listener) of the call it is running; the watchdog cancels
        # calls past their deadline. One shared watchdog instead of a timer per call keeps the
        # per-event cost of the timeout near zero.
        self._running: dict[int, float] = {}
        self._expired: set[int] = set()
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def workers(self) -> tuple[asyncio.Task[None], ...]:
        """The lane's worker tasks (for health checks and tests; not to be cancelled by hand)."""
        return tuple(self._workers)

    def start(self) -> None:
        for index in range(WORKERS_PER_PLUGIN):
            self._workers.append(
                asyncio.create_task(self._work(index), name=f"listener:{self.record.name}:{index}")
            )
        self._watchdog = asyncio.create_task(self._watch(), name=f"watchdog:{self.record.name}")

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCHDOG_INTERVAL)
            now = loop.time()
            for index, deadline in list(self._running.items()):
                if now > deadline and index not in self._expired:
                    self._expired.add(index)
                    self._workers[index].cancel()

    def offer(self, event: ev.StoatEvent, server_id: str | None, gated: bool) -> None:
        listeners = self.by_type.get(type(event))
        if not listeners or not self.record.loaded:
            return
        if gated and not self._is_enabled(self.record.name, server_id):
            if server_id is not None:
                return
            # Outside servers: only listeners that asked for direct messages (they check the
            # gate for the server the event belongs to themselves).
            listeners = [listener for listener in listeners if listener.direct_messages]
            if not listeners:
                return
        received = time.perf_counter()
        for listener in listeners:
            try:
                self.queue.put_nowait((listener, event, received))
            except asyncio.QueueFull:
                self.record.failures["dropped"] += 1

    async def _work(self, index: int) -> None:
        name = self.record.name
        loop = asyncio.get_running_loop()
        while True:
            raise_if_cancel_was_swallowed()  # by the last listener's code
            listener, event, received = await self.queue.get()
            server_id = event.server_id_hint
            invocation = Invocation(name, server_id, received, "listener")
            token = current_invocation.set(invocation)
            failed = False
            self._running[index] = loop.time() + listener.timeout
            try:
                try:
                    await listener.deliver(self.context, event)
                    if index in self._expired:  # it overran and swallowed the watchdog's cancel
                        _take_back_cancel()
                        raise TimeoutError
                except asyncio.CancelledError:
                    if index in self._expired:  # the watchdog's: a timeout
                        _take_back_cancel()
                        raise TimeoutError from None
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # a real cancellation of this worker (shutdown)
                    # Something the listener awaited was cancelled by other code: its failure,
                    # not a reason for this worker to end.
                    raise ListenerCancelledError(
                        "raised CancelledError without being cancelled (an awaited task or future "
                        "was cancelled elsewhere)"
                    ) from None
                finally:
                    self._running.pop(index, None)
                    self._expired.discard(index)
            except TimeoutError:
                failed = True
                self.record.failures["listener_timeout"] += 1
                self.context.logger.warning(
                    "listener {} timed out after {}s on {}",
                    listener.name,
                    listener.timeout,
                    type(event).__name__,
                )
            except Exception as exc:
                failed = True
                self.record.failures["listener_error"] += 1
                self.context.logger.opt(exception=exc).error(
                    "listener {} raised on {}", listener.name, type(event).__name__
                )
            finally:
                current_invocation.reset(token)
                self.queue.task_done()
            self._finish(invocation, failed)

    async def drain(self, deadline: float) -> None:
        """Let queued work finish until ``deadline`` seconds, then cancel what is left."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline):
                await self.queue.join()
        tasks = [*self._workers, *([self._watchdog] if self._watchdog else [])]
        await cancel_and_wait(tasks, what="listener worker")
        self._workers.clear()
        self._watchdog = None


class ListenerCancelledError(RuntimeError):
    """A listener let a CancelledError out that was not meant for its worker."""


def _take_back_cancel() -> None:
    """Undo the watchdog's cancel of this worker (a timed-out call, not a shutdown)."""
    current = asyncio.current_task()
    if current is not None:
        current.uncancel()


class EventDispatcher:
    """Routes decoded events to each plugin's lane."""

    def __init__(self) -> None:
        self.lanes: dict[str, PluginLane] = {}

    def add_lane(self, lane: PluginLane) -> None:
        self.lanes[lane.record.name] = lane
        lane.start()

    def dispatch(self, event: ev.StoatEvent, server_id: str | None) -> None:
        gated = server_id is not None or not isinstance(event, UNGATED_WITHOUT_SERVER)
        for lane in self.lanes.values():
            lane.offer(event, server_id, gated)

    async def drain(self, deadline: float) -> None:
        await asyncio.gather(*(lane.drain(deadline) for lane in self.lanes.values()))
