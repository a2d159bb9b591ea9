"""Durable timers: one-shot and repeating, stored in the database, each run exactly once.

A plugin registers named handlers (``logiq_register_timers``) and schedules timers by key from
anywhere it has its :class:`~logiq_core.framework.context.PluginContext`::

    await ctx.timers.schedule("lift-ban", f"unban:{server_id}:{user_id}", until,
                              server_id=server_id, payload={"user_id": user_id})

How a timer runs exactly once, across restarts and across bot processes sharing one database:

* A timer is one document, unique by (plugin, key): scheduling the same key again moves it.
* ``run_ts`` says when the timer may next be claimed (indexed; the scheduler only ever reads the
  earliest few, never all timers). Times are stored as Unix seconds, not BSON dates: the
  embedded server stores a date written by ``$set`` on an existing document as text.
  A scheduler claims a due timer with one atomic conditional update that stamps its own claim
  token and pushes ``run_ts`` to the end of a lease.
* The handler runs in the plugin's lane: its own task, the handler's timeout, errors logged and
  counted per plugin, the invocation recorded for the rollout metrics.
* On success a one-shot timer is deleted and a repeating one moved to its next occurrence, both
  only if the claim token still matches (a timer rescheduled while running is kept). A handler
  that raises, or a process that dies mid-run, leaves the lease: the timer is due again when
  the lease ends. Handlers must therefore be idempotent.
* The rollout gate applies: a timer of a feature disabled on its server is parked (kept, not
  run) and runs once the feature is back, unless its handler says ``drop_when_disabled``.
  Timers without a server are not gated.

The embedded nx-27017 server runs find-and-modify as a read then a write, which is atomic inside
one server process but not between two processes sharing the data directory; claims and
completions there also take an exclusive lock on ``timers.lock`` in the data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from beanie import Document
from loguru import logger
from pydantic import Field
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from logiq_core.framework.filelock import DataDirLock
from logiq_core.framework.invocation import Invocation, current_invocation
from logiq_core.framework.tasks import cancel_and_wait, raise_if_cancel_was_swallowed

if TYPE_CHECKING:
    from logiq_core.framework.context import PluginContext
    from logiq_core.framework.plugins import PluginRecord
    from logiq_core.framework.storage import Storage

_log = logger.bind(component="timers")

LEASE_MARGIN_SECONDS = 30.0
PARK_RECHECK_SECONDS = 300.0
UNKNOWN_HANDLER_RETRY_SECONDS = 3600.0
MIN_EVERY_SECONDS = 0.05
MAX_KEY_LENGTH = 200

TimerCallback = Callable[["PluginContext", "Timer"], Awaitable[None]]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_ts(value: datetime) -> float:
    return value.timestamp()


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


@dataclass(frozen=True, slots=True)
class TimerHandler:
    """A named handler for a plugin's timers (see ``logiq_register_timers``).

    ``handler`` is ``async def handler(ctx: PluginContext, timer: Timer) -> None``. It may run
    more than once for one timer (after a crash, a timeout or a dying process), so it must be
    idempotent. ``timeout`` bounds one run; ``lease`` is how long after a run starts the timer
    is due again if that run never finished (default: ``timeout`` + 30 s). With
    ``drop_when_disabled`` a timer that falls due while the rollout gate disables the feature on
    its server is deleted instead of kept until the feature is back.
    """

    name: str
    handler: TimerCallback
    timeout: float = 60.0
    drop_when_disabled: bool = False
    lease: float | None = None

    @property
    def lease_seconds(self) -> float:
        return self.lease if self.lease is not None else self.timeout + LEASE_MARGIN_SECONDS


@dataclass(frozen=True, slots=True)
class Timer:
    """One scheduled timer, as handed to its handler and returned by ``ctx.timers.list``."""

    plugin: str
    key: str
    handler: str
    server_id: str | None
    payload: dict[str, Any]
    due_at: datetime
    every: timedelta | None = None
    attempt: int = 0  # 1 on the first run of this occurrence, more after a failed or lost run
    parked: bool = False  # kept while the rollout gate disables the feature on its server

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Timer:
        every = doc.get("every_seconds")
        return cls(
            plugin=doc["plugin"],
            key=doc["key"],
            handler=doc["handler"],
            server_id=doc.get("server_id"),
            payload=dict(doc.get("payload") or {}),
            due_at=from_ts(doc["due_ts"]),
            every=timedelta(seconds=every) if every else None,
            attempt=int(doc.get("attempts") or 0),
            parked=bool(doc.get("parked")),
        )


class TimerDoc(Document):
    """A durable timer (times in Unix seconds). ``run_ts`` is when it may next be claimed
    (``due_ts``, a lease end, or a recheck time while parked); ``claim`` is the token of the run
    holding it, if any."""

    plugin: str
    key: str
    handler: str
    server_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    due_ts: float
    run_ts: float
    every_seconds: float | None = None
    claim: str | None = None
    attempts: int = 0
    parked: bool = False

    class Settings:
        name = "core_timers"
        indexes = [
            IndexModel([("plugin", ASCENDING), ("key", ASCENDING)], unique=True),
            IndexModel([("run_ts", ASCENDING)]),
            IndexModel([("plugin", ASCENDING), ("server_id", ASCENDING), ("due_ts", ASCENDING)]),
        ]


def _seconds(value: timedelta | float | int | None, what: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < MIN_EVERY_SECONDS:
        raise ValueError(f"{what} must be at least {MIN_EVERY_SECONDS}s (got {seconds}s)")
    return seconds


class TimerScheduler:
    """One bot's timer runner, and the storage operations behind ``ctx.timers``."""

    def __init__(
        self,
        *,
        clock: Clock = utcnow,
        poll_seconds: float = 1.0,
        concurrency: int = 16,
    ) -> None:
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._serial = itertools.count(1)
        self._handlers: dict[str, dict[str, TimerHandler]] = {}
        self._contexts: dict[str, PluginContext] = {}
        self._records: dict[str, PluginRecord] = {}
        self._is_enabled: Callable[[str, str | None], bool] = lambda feature, server: True
        self._finish: Callable[[Invocation, bool], None] = lambda invocation, failed: None
        self._gate_version: Callable[[], int] = lambda: 0
        self._seen_gate_version: int | None = None
        self._lock = DataDirLock(None)
        self._wake = asyncio.Event()
        self._next_wake: float | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.runs = 0

    # --- wiring ---------------------------------------------------------------------------------
    def attach(self, storage: Storage) -> None:
        """Use ``storage``; on the embedded server, claims take the data directory's lock."""
        self._lock = DataDirLock(storage.data_dir / "timers.lock" if storage.embedded is not None else None)

    def add_plugin(self, record: PluginRecord, context: PluginContext) -> None:
        self._handlers[record.name] = {h.name: h for h in getattr(record, "timer_handlers", [])}
        self._contexts[record.name] = context
        self._records[record.name] = record

    def remove_plugin(self, name: str) -> None:
        self._handlers.pop(name, None)
        self._contexts.pop(name, None)
        self._records.pop(name, None)

    async def start(
        self,
        *,
        is_enabled: Callable[[str, str | None], bool],
        finish: Callable[[Invocation, bool], None],
        gate_version: Callable[[], int],
        watch: Callable[[asyncio.Task[None]], object] | None = None,
    ) -> None:
        """Start running timers: the overdue ones first (oldest first), then each when due.

        ``watch`` is handed the loop's task (the bot stops when it ends unexpectedly).
        """
        self._is_enabled = is_enabled
        self._finish = finish
        self._gate_version = gate_version
        self._loop_task = asyncio.create_task(self._loop(), name="timers")
        if watch is not None:
            watch(self._loop_task)

    async def stop(self, deadline: float = 5.0) -> None:
        """Stop claiming; let running handlers finish until ``deadline``, then cancel them
        (a cancelled run releases its timer so the next start runs it at once)."""
        if self._loop_task is not None:
            loop_task, self._loop_task = self._loop_task, None
            await cancel_and_wait([loop_task], what="timers loop")
        if self._running:
            running = set(self._running)
            await asyncio.wait(running, timeout=deadline)
            await cancel_and_wait(running, what="timer handler")  # those still running

    def _poke(self, run_ts: float) -> None:
        if self._next_wake is None or run_ts < self._next_wake:
            self._wake.set()

    # --- the storage side of ctx.timers ----------------------------------------------------------
    @staticmethod
    def _collection() -> Any:
        return TimerDoc.get_pymongo_collection()

    def _exclusive(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Serialise read-then-write sequences between processes sharing the embedded server's
        files (a real MongoDB makes each single operation atomic on its own)."""
        return self._lock.hold()

    async def schedule(
        self,
        plugin: str,
        handler: str,
        key: str,
        at: datetime | timedelta | float,
        *,
        server_id: str | None = None,
        payload: dict[str, Any] | None = None,
        every: timedelta | float | None = None,
        keep_existing: bool = False,
    ) -> Timer:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"a timer key is a non-empty string of at most {MAX_KEY_LENGTH} characters")
        known = self._handlers.get(plugin)
        if known is not None and handler not in known:
            raise ValueError(
                f"plugin {plugin} has no timer handler {handler!r} (registered: "
                f"{', '.join(sorted(known)) or 'none'}); register it in logiq_register_timers"
            )
        now = self.clock()
        if isinstance(at, datetime):
            if at.tzinfo is None:
                raise ValueError("a timer's time must be timezone-aware (use datetime.now(UTC))")
            due = at.astimezone(UTC)
        elif isinstance(at, timedelta):
            due = now + at
        else:
            due = now + timedelta(seconds=float(at))
        every_seconds = _seconds(every, "a repeating timer's interval")
        query = {"plugin": plugin, "key": key}
        fields = {
            "handler": handler,
            "server_id": server_id,
            "payload": dict(payload or {}),
            "due_ts": to_ts(due),
            "run_ts": to_ts(due),
            "every_seconds": every_seconds,
            "claim": None,
            "attempts": 0,
            "parked": False,
        }
        document = None
        async with self._exclusive():
            # Only $set (never $setOnInsert, which the embedded server ignores on this path);
            # an insert racing another process's first schedule of the key loses on the unique
            # index, and the loser then updates.
            for _ in range(3):
                document = await self._collection().find_one(query)
                if document is not None:
                    if keep_existing:
                        break
                    document = await self._collection().find_one_and_update(
                        query, {"$set": fields}, return_document=ReturnDocument.AFTER
                    )
                    if document is not None:
                        break
                    continue  # cancelled meanwhile: insert it
                try:
                    await self._collection().insert_one({**query, **fields})
                except DuplicateKeyError:
                    continue
                document = {**query, **fields}
                break
        if document is None:
            raise RuntimeError(f"could not schedule timer {plugin}/{key}; try again")
        self._poke(float(document["run_ts"]))
        return Timer.from_document(document)

    async def cancel(self, plugin: str, key: str) -> bool:
        async with self._exclusive():
            result = await self._collection().delete_one({"plugin": plugin, "key": key})
        return bool(result.deleted_count)

    async def get(self, plugin: str, key: str) -> Timer | None:
        document = await self._collection().find_one({"plugin": plugin, "key": key})
        return Timer.from_document(document) if document else None

    async def list(self, plugin: str, server_id: str | None = None, limit: int | None = None) -> list[Timer]:
        query: dict[str, Any] = {"plugin": plugin}
        if server_id is not None:
            query["server_id"] = server_id
        cursor = self._collection().find(query).sort([("due_ts", ASCENDING)])
        if limit is not None:
            cursor = cursor.limit(limit)
        return [Timer.from_document(doc) async for doc in cursor]

    # --- running ----------------------------------------------------------------------------------
    def _max_lease(self) -> float:
        leases = [h.lease_seconds for by_name in self._handlers.values() for h in by_name.values()]
        return max(leases, default=60.0 + LEASE_MARGIN_SECONDS)

    async def _claim(self) -> tuple[dict[str, Any], str, float] | None:
        """Atomically take the earliest due timer of a plugin this bot runs (None: none due)."""
        plugins = [name for name, handlers in self._handlers.items() if handlers]
        if not plugins:
            return None
        now = to_ts(self.clock())
        token = f"{self.owner}:{next(self._serial)}"
        async with self._exclusive():
            document = await self._collection().find_one_and_update(
                {"run_ts": {"$lte": now}, "plugin": {"$in": plugins}},
                {"$set": {"claim": token, "run_ts": now + self._max_lease()}, "$inc": {"attempts": 1}},
                sort=[("run_ts", ASCENDING), ("due_ts", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
        if document is None:
            return None
        return document, token, now

    async def _update_claimed(self, document: dict[str, Any], token: str, update: dict[str, Any]) -> bool:
        async with self._exclusive():
            result = await self._collection().update_one({"_id": document["_id"], "claim": token}, update)
        return bool(result.modified_count)

    async def _release(self, document: dict[str, Any], token: str, run_ts: float) -> None:
        await self._update_claimed(document, token, {"$set": {"claim": None, "run_ts": run_ts}})

    async def _unpark_if_gate_changed(self) -> None:
        version = self._gate_version()
        if version == self._seen_gate_version:
            return
        self._seen_gate_version = version
        async with self._exclusive():
            await self._collection().update_many(
                {"parked": True}, {"$set": {"parked": False, "run_ts": to_ts(self.clock())}}
            )

    async def run_due(self) -> int:
        """Claim and run every timer due now, and wait for them; returns how many ran.

        The scheduler's loop does this on its own; tests with an injected clock call it after
        moving the clock instead of waiting out real time.
        """
        await self._unpark_if_gate_changed()
        started = await self._dispatch_due()
        await self.wait_idle()
        return started

    async def wait_idle(self) -> None:
        """Wait until no timer handler of this bot is running."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def _dispatch_due(self) -> int:
        started = 0
        while True:
            await self._slots.acquire()
            try:
                claimed = await self._claim()
            except BaseException:
                self._slots.release()
                raise
            if claimed is None:
                self._slots.release()
                return started
            task = asyncio.create_task(self._run_claimed(*claimed), name="timer")
            self._running.add(task)
            task.add_done_callback(self._finished)
            started += 1

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            _log.opt(exception=task.exception()).warning("a timer run failed in the scheduler")

    async def _next_run_ts(self) -> float | None:
        plugins = [name for name, handlers in self._handlers.items() if handlers]
        if not plugins:
            return None
        document = await self._collection().find_one(
            {"plugin": {"$in": plugins}}, {"run_ts": 1}, sort=[("run_ts", ASCENDING)]
        )
        return float(document["run_ts"]) if document else None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            next_ts: float | None = None
            try:
                await self._unpark_if_gate_changed()
                await self._dispatch_due()
                next_ts = await self._next_run_ts()
            except Exception as exc:  # storage hiccup: try again at the next poll
                _log.warning("timer scan failed: {}", exc)
            raise_if_cancel_was_swallowed()
            delay = self.poll_seconds
            if next_ts is not None:
                delay = min(delay, max(0.0, next_ts - to_ts(self.clock())))
            self._next_wake = to_ts(self.clock()) + delay
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._next_wake = None

    async def _run_claimed(self, document: dict[str, Any], token: str, claimed_at: float) -> None:
        timer = Timer.from_document(document)
        spec = self._handlers.get(timer.plugin, {}).get(timer.handler)
        record = self._records.get(timer.plugin)
        context = self._contexts.get(timer.plugin)
        if spec is None or record is None or context is None:
            _log.error(
                "timer {}/{} names no handler {!r} here; retrying in an hour",
                timer.plugin,
                timer.key,
                timer.handler,
            )
            if record is not None:
                record.failures["timer_unknown_handler"] += 1
            await self._release(document, token, claimed_at + UNKNOWN_HANDLER_RETRY_SECONDS)
            return
        if spec.lease_seconds < self._max_lease():  # claimed with the longest lease: shorten it
            await self._update_claimed(document, token, {"$set": {"run_ts": claimed_at + spec.lease_seconds}})
        if timer.server_id is not None and not self._is_enabled(timer.plugin, timer.server_id):
            if spec.drop_when_disabled:
                async with self._exclusive():
                    await self._collection().delete_one({"_id": document["_id"], "claim": token})
                context.logger.info("dropped timer {} (feature off on server {})", timer.key, timer.server_id)
            else:
                await self._update_claimed(
                    document,
                    token,
                    {
                        "$set": {"claim": None, "parked": True, "run_ts": claimed_at + PARK_RECHECK_SECONDS},
                        "$inc": {"attempts": -1},
                    },
                )
            return
        run = Invocation(timer.plugin, timer.server_id, kind="timer")
        invocation = current_invocation.set(run)
        failed = False
        try:
            async with asyncio.timeout(spec.timeout):
                await spec.handler(context, timer)
        except TimeoutError:
            failed = True
            record.failures["timer_timeout"] += 1
            context.logger.warning("timer {} ({}) timed out after {}s", timer.key, spec.name, spec.timeout)
        except asyncio.CancelledError:
            # The bot is stopping: hand the timer back so the next start runs it at once.
            with contextlib.suppress(Exception):
                handback = {"$set": {"claim": None, "run_ts": to_ts(timer.due_at)}, "$inc": {"attempts": -1}}
                await asyncio.shield(self._update_claimed(document, token, handback))
            raise
        except Exception as exc:
            failed = True
            record.failures["timer_error"] += 1
            context.logger.opt(exception=exc).error("timer {} ({}) failed", timer.key, spec.name)
        finally:
            current_invocation.reset(invocation)
        self.runs += 1
        self._finish(run, failed)  # a failed Stoat call or ctx.record_error() inside counts too
        if failed:  # due again when its lease ends
            await self._release(document, token, claimed_at + spec.lease_seconds)
        elif timer.every is not None:
            following = timer.due_at + timer.every
            now = self.clock()
            if following <= now:  # missed occurrences (the bot was down) run once, not in a burst
                skipped = (now - following) // timer.every + 1
                following += timer.every * skipped
            moved = {"claim": None, "due_ts": to_ts(following), "run_ts": to_ts(following), "attempts": 0}
            await self._update_claimed(document, token, {"$set": moved})
            self._poke(to_ts(following))
        else:
            async with self._exclusive():
                await self._collection().delete_one({"_id": document["_id"], "claim": token})


class PluginTimers:
    """``ctx.timers``: one plugin's view of the durable timers (keys are per plugin)."""

    def __init__(self, plugin: str, scheduler: TimerScheduler) -> None:
        self.plugin = plugin
        self._scheduler = scheduler

    async def schedule(
        self,
        handler: str,
        key: str,
        at: datetime | timedelta | float,
        *,
        server_id: str | None = None,
        payload: dict[str, Any] | None = None,
        every: timedelta | float | None = None,
        keep_existing: bool = False,
    ) -> Timer:
        """Run ``handler`` at ``at`` (an aware datetime, or a timedelta/seconds from now).

        Idempotent by ``key``: scheduling a key that exists moves that timer (new time, payload
        and handler) instead of adding one, unless ``keep_existing`` leaves an existing timer
        untouched. ``every`` (timedelta or seconds) repeats it; occurrences missed while the
        bot was down run once, not one per missed interval.
        """
        return await self._scheduler.schedule(
            self.plugin,
            handler,
            key,
            at,
            server_id=server_id,
            payload=payload,
            every=every,
            keep_existing=keep_existing,
        )

    async def cancel(self, key: str) -> bool:
        """Delete the timer ``key``; True if there was one."""
        return await self._scheduler.cancel(self.plugin, key)

    async def get(self, key: str) -> Timer | None:
        return await self._scheduler.get(self.plugin, key)

    async def list(self, server_id: str | None = None, *, limit: int | None = None) -> list[Timer]:
        """This plugin's timers (on ``server_id`` only, if given), earliest first."""
        return await self._scheduler.list(self.plugin, server_id, limit)


__all__ = ["PluginTimers", "Timer", "TimerDoc", "TimerHandler", "TimerScheduler"]
