"""Stopping tasks that run plugin code, even when that code swallows the cancellation.

``task.cancel()`` followed by ``await task`` hangs forever when something inside the task catches
:class:`asyncio.CancelledError` and carries on: a plugin's ``except BaseException``, or a
library that turns the cancellation into its own error, which a plugin's ``except Exception``
then absorbs. A job loop then goes back to sleep until its next run, and the bot never
finishes stopping (seen: a job's storage call swallowing the cancel during a restart).

:func:`cancel_and_wait` cancels once and waits half the grace period, then cancels again every
:data:`RECANCEL_SECONDS` until each task has ended or the grace period is over, and hands back
what is still running so the caller can name it in the log instead of waiting forever. One
plugin's bad habit never holds up the core. The core's own loops call
:func:`raise_if_cancel_was_swallowed` each turn, so they end at the first cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from loguru import logger

RECANCEL_SECONDS = 0.25
"""How often a task that swallowed its cancellation is cancelled again."""

STOP_GRACE_SECONDS = 5.0
"""How long a stopping component waits for its cancelled tasks before giving up on them."""

_log = logger.bind(component="tasks")


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], *, grace: float = STOP_GRACE_SECONDS, what: str = "task"
) -> list[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait until they have ended, re-cancelling the ones that ignore it.

    The first cancel gets half of ``grace``: code that handles its cancellation (hands a timer
    back, undoes half-made channels, refunds coins) has that long to finish undisturbed. Only
    a task still running then is cancelled again, every :data:`RECANCEL_SECONDS`, until
    ``grace`` is over. Returns the tasks still running after that; each is logged once as
    abandoned (``what`` says what they are: "job", "listener"...). The outcome of every task
    that ended is marked retrieved (read it with :func:`consume_outcome`).
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    if pending:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace / 2)
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_SECONDS, remaining))
        for task in pending:
            _log.warning(
                "{} {} did not stop within {:g} s of being cancelled (code in it swallows the "
                "cancellation); it is abandoned",
                what,
                task.get_name(),
                grace,
            )
    for task in tasks:
        consume_outcome(task)
    return sorted(pending, key=lambda task: task.get_name())


def raise_if_cancel_was_swallowed() -> None:
    """Raise :class:`asyncio.CancelledError` when this task was cancelled but an awaited call
    returned normally anyway (pymongo's async client does so now and then).

    Loops of the core call it once per turn, so a stop takes effect at once instead of after
    :data:`RECANCEL_SECONDS`. Outside a cancellation ``cancelling()`` is 0 (``asyncio.timeout``
    takes its own cancellations back), so this never fires by mistake.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def consume_outcome(task: asyncio.Task[Any]) -> BaseException | None:
    """The exception a finished task ended with (None: a result or a cancellation).

    Reading it marks it retrieved, so asyncio does not log "exception was never retrieved".
    """
    if not task.done() or task.cancelled():
        return None
    return task.exception()
