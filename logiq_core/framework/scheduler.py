"""Runs plugin jobs on their intervals, per server where the feature is enabled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from logiq_core.framework.invocation import Invocation, current_invocation
from logiq_core.framework.jobs import Job
from logiq_core.framework.tasks import cancel_and_wait, raise_if_cancel_was_swallowed

if TYPE_CHECKING:
    from logiq_core.framework.context import PluginContext
    from logiq_core.framework.plugins import PluginRecord


class JobScheduler:
    """One task per job; each run is isolated (timeout, error count) like listeners."""

    def __init__(
        self,
        servers: Callable[[], Iterable[str]],
        is_enabled: Callable[[str, str | None], bool],
        finish: Callable[[Invocation, bool], None],
        watch: Callable[[asyncio.Task[None]], object] | None = None,
    ) -> None:
        self._servers = servers
        self._is_enabled = is_enabled
        self._finish = finish
        self._watch = watch  # handed each job's task (the bot stops when one ends unexpectedly)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, record: PluginRecord, context: PluginContext) -> None:
        for job in record.jobs:
            task = asyncio.create_task(self._loop(record, context, job), name=f"job:{record.name}:{job.name}")
            self._tasks.append(task)
            if self._watch is not None:
                self._watch(task)

    async def run_once(self, record: PluginRecord, context: PluginContext, job: Job) -> None:
        """One run of a job over every enabled server (or once, for a global job)."""
        targets: list[str | None]
        if job.per_server:
            targets = [s for s in list(self._servers()) if self._is_enabled(record.name, s)]
        else:
            targets = [None]
        for server_id in targets:
            invocation = Invocation(record.name, server_id, time.perf_counter(), "job")
            token = current_invocation.set(invocation)
            failed = False
            try:
                async with asyncio.timeout(job.timeout):
                    await job.handler(context, server_id)
            except Exception as exc:
                failed = True
                record.failures["job_error"] += 1
                context.logger.opt(exception=exc).error("job {} failed for server {}", job.name, server_id)
            finally:
                current_invocation.reset(token)
            self._finish(invocation, failed)

    async def _loop(self, record: PluginRecord, context: PluginContext, job: Job) -> None:
        while True:
            await self.run_once(record, context, job)
            raise_if_cancel_was_swallowed()  # by the job's own code, or a library it called
            await asyncio.sleep(job.every_seconds)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        self._tasks.clear()
        await cancel_and_wait(tasks, what="job")
