"""One embedded storage server for many tests, each test with its own database.

Starting an nx-27017 server costs a process start (seconds on a loaded machine); a test suite
that starts one per bot spends most of its time there. :class:`SharedStorageServer` starts one
server on first use and hands out :class:`~logiq_core.framework.storage.Storage` objects that use a
database of their own on it, named after their data directory: two storages given the same
data directory (a bot and its restart, or two bots meant to share a database) see the same data,
and nothing else does. Locks in the data directory work as with a server of its own.

Logiq's pytest plugin runs one per pytest process (each xdist worker) and :class:`BotHarness`
uses it by default; a test that checks the server itself (start, stop, several processes over
one data directory) marks itself ``@pytest.mark.own_storage_server``. Outside pytest nothing is
shared unless a program installs a server with :func:`use_shared_server`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from logiq_core.framework.errors import StorageError
from logiq_core.framework.storage import EMBEDDED_START_TIMEOUT_SECONDS, EmbeddedMongo, Storage


def database_name_for(data_dir: Path) -> str:
    """The database a data directory gets on a shared server (stable, at most 24 characters)."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()
    return f"t{digest[:20]}"


class SharedStorageServer:
    """An nx-27017 server started on first use in ``data_dir`` and stopped by :meth:`stop`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._server: EmbeddedMongo | None = None
        self._lock = threading.Lock()

    def storage(self, data_dir: Path) -> Storage:
        """A storage for ``data_dir``, on its own database of this server (started if needed).

        Blocks while the server starts (once); call it where a short block is fine (a fixture,
        a harness's constructor) or in a thread.
        """
        return Storage(
            None, Path(data_dir), shared_server=self.server(), database_name=database_name_for(data_dir)
        )

    def server(self) -> EmbeddedMongo:
        with self._lock:
            if self._server is None:
                self._server = self._start()
            self._server.check_alive()
            return self._server

    def _start(self, attempts: int = 3) -> EmbeddedMongo:
        """Start the server and make sure the one answering is ours (see Storage.start)."""
        for _ in range(attempts):
            server = EmbeddedMongo(self.data_dir)
            server.start()
            server.wait_until_listening(EMBEDDED_START_TIMEOUT_SECONDS)
            deadline = time.monotonic() + EMBEDDED_START_TIMEOUT_SECONDS
            client: MongoClient[dict[str, object]] = MongoClient(
                server.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=2000
            )
            try:
                while True:
                    server.check_alive()
                    try:
                        status = client.admin.command("serverStatus")
                        break
                    except PyMongoError:
                        if time.monotonic() > deadline:
                            server.stop()
                            raise StorageError("the shared embedded database did not answer") from None
                        time.sleep(0.05)
            finally:
                client.close()
            if status.get("pid") in (None, server.pid):
                return server
            server.stop()  # another database took the port first: try another
        raise StorageError("could not start the shared embedded database: its ports kept being taken")

    def stop(self, wait: bool = True) -> None:
        """Stop the server (see :meth:`EmbeddedMongo.stop` for ``wait``)."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop(wait=wait)


_current: SharedStorageServer | None = None


def use_shared_server(server: SharedStorageServer | None) -> SharedStorageServer | None:
    """Make ``server`` the one :func:`storage_for` uses (None: none); returns the previous one."""
    global _current
    previous, _current = _current, server
    return previous


def shared_server() -> SharedStorageServer | None:
    return _current


def storage_for(data_dir: Path) -> Storage:
    """A storage for ``data_dir``: on the shared server if one is in use, else its own server."""
    if _current is not None:
        return _current.storage(data_dir)
    return Storage(None, Path(data_dir))
