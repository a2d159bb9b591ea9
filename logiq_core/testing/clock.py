"""A clock tests move by hand, for timers, temporary bans and deadlines.

The timers service takes its clock as ``TimerScheduler.clock``; :class:`BotHarness` puts a
``clock=`` given to it there before the bot starts (and again at every restart)::

    clock = FakeClock()
    async with BotHarness(["moderation"], data_dir=tmp_path, clock=clock) as h:
        ...                      # ban for 2 s
        clock.advance(2.2)       # no waiting out real time
        await h.bot.timers.run_due()

By default the clock stands still between moves; ``ticking=True`` lets real time pass on top
of the moves (for code that reads the wall clock itself, so both clocks stay in order).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    """``clock()`` is the start time plus every :meth:`advance` (plus real time if ticking)."""

    def __init__(self, start: datetime | None = None, *, ticking: bool = False) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("a clock's start must be timezone-aware")
        self.start = start or datetime.now(UTC)
        self.ticking = ticking
        self._offset = timedelta(0)
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        now = self.start + self._offset
        if self.ticking:
            now += timedelta(seconds=time.monotonic() - self._started)
        return now

    def advance(self, by: timedelta | float) -> datetime:
        """Move the clock forward by ``by`` (seconds or a timedelta); returns the new time."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if step < timedelta(0):
            raise ValueError("a clock only moves forward")
        self._offset += step
        return self()
