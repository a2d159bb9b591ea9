"""One lock shared by the processes that use one embedded data directory.

Each Logiq process runs its own nx-27017 server over the same SQLite files, and such a server
reads a filter and applies an update in separate statements, so a read-then-write (a conditional
update, a claim) is not atomic between processes. Code that relies on one holds this lock around
it; with MongoDB each operation is atomic on its own and no lock is used (``path`` is None).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

POLL_SECONDS = 0.002


class DataDirLock:
    """An exclusive ``flock`` on ``path`` between processes, and an asyncio lock within one.

    The file lock is taken by polling with ``LOCK_NB`` rather than by a blocking call in a
    thread: a task cancelled while waiting then holds nothing, where a thread blocked in
    ``flock`` would take the lock after its task had gone and never give it back.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._local = asyncio.Lock()
        self._handle: IO[str] | None = None

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        if self.path is None:
            yield
            return
        async with self._local:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a+")
            handle = self._handle
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
