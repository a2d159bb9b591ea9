"""Storage: Beanie over a real MongoDB wire connection.

With ``LOGIQ_MONGODB_URI`` set, Logiq connects to that MongoDB. Without it, Logiq runs the
embedded default: the ``nx-27017`` server (MongoDB's wire protocol over SQLite) as a child process
on a free loopback port, with its files in ``LOGIQ_DATA_DIR``. Several Logiq processes (the bot and
the rollout CLI) may share one data directory: each runs its own nx-27017 child over the same
SQLite files, and SQLite's locking keeps every write.

Beanie binds document classes to a database process-wide (``init_beanie``); a :class:`Storage`
object is otherwise independent, so two bots in one process must share one database.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from beanie import Document
from loguru import logger
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from logiq_core.framework.documents import init_documents
from logiq_core.framework.errors import StorageError

DATABASE_NAME = "logiq"
CONNECT_TIMEOUT_SECONDS = 4.0
EMBEDDED_START_TIMEOUT_SECONDS = 20.0


def redact_uri(uri: str) -> str:
    """The URI without its password, safe to print."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_writable_directory(path: Path) -> Path:
    """Create ``path`` if needed and prove it is writable, or raise a clear StorageError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"data directory {path} cannot be written ({exc.strerror or exc}); "
            "set LOGIQ_DATA_DIR to a writable folder"
        ) from None
    return path.resolve()


_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|API_?KEY|PRIVATE|AUTH", re.IGNORECASE)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the embedded database's process: no ``LOGIQ_*`` setting (it needs
    none, and ``LOGIQ_TOKEN`` is the bot's token) and nothing whose name says it is a secret."""
    return {
        name: value
        for name, value in environ.items()
        if not name.upper().startswith("LOGIQ_") and not _SECRET_NAME.search(name)
    }


class EmbeddedMongo:
    """An nx-27017 child process serving ``data_dir`` on a free loopback port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = data_dir / "nx-27017.log"

    @property
    def uri(self) -> str:
        return self.uri_of(DATABASE_NAME)

    def uri_of(self, database_name: str) -> str:
        """The URI of one database on this server (each database is its own SQLite file)."""
        if self.port is None:
            raise StorageError("the embedded database is not running")
        return f"mongodb://127.0.0.1:{self.port}/{database_name}"

    def start(self) -> None:
        ensure_writable_directory(self.data_dir)
        self.port = _free_loopback_port()
        # Each process runs its own server over the shared SQLite files, so the pid file (which
        # nx-27017 uses to refuse a second instance) must be private to this process.
        run_id = f"{os.getpid()}-{self.port}"
        command = [
            sys.executable,
            "-m",
            "logiq_core.framework._embedded_server",
            "--data-dir",
            str(self.data_dir / "db"),
            "--host",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--pid-file",
            str(self.data_dir / "run" / f"nx-27017-{run_id}.pid"),
            "--log-file",
            str(self._log_path),
            "--exit-with-parent",  # even when Logiq is killed (see _embedded_server)
            str(os.getpid()),
        ]
        (self.data_dir / "run").mkdir(exist_ok=True)
        (self.data_dir / "db").mkdir(exist_ok=True)
        log_file = self._log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=child_environment(os.environ),
                # Its own session: Ctrl-C in a terminal signals the foreground process group,
                # and the database must outlive the keypress until Logiq stops it in order.
                start_new_session=True,
            )
        finally:
            log_file.close()
        atexit.register(self.stop)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def wait_until_listening(self, timeout: float) -> None:
        """Block until the server accepts connections on its port, it exits, or ``timeout``.

        A driver pinging a server that is not listening yet retries only at its next server
        check, which pymongo spaces at least 0.5 s apart: half a second lost on most starts.
        Connecting to the port every 10 ms first lets the first ping find the server up.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.port is not None:
            if self._process is not None and self._process.poll() is not None:
                return  # exited: the caller's check_alive says why
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.01)

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            tail = ""
            with contextlib.suppress(OSError):
                tail = self._log_path.read_text(errors="replace")[-400:].strip()
            raise StorageError(
                f"the embedded database (nx-27017) exited with code {self._process.returncode}"
                + (f": {tail.splitlines()[-1]}" if tail else "")
            )

    def stop(self, wait: bool = True) -> None:
        """Stop the server cleanly (SIGTERM) and wait for it to exit, unless ``wait`` is False:
        then it finishes on its own (closing its databases can take a second when it served
        hundreds, as a test run's shared server does) while the caller goes on."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        if not wait:
            # Reaped when it exits, by a thread that holds it until then (no zombie, and no
            # "still running" warning from a Popen dropped early).
            threading.Thread(target=process.wait, name="nx-27017-reaper", daemon=True).start()
            return
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class Storage:
    """One bot's (or one CLI run's) database connection, embedded or external."""

    def __init__(
        self,
        mongodb_uri: str | None,
        data_dir: Path,
        *,
        shared_server: EmbeddedMongo | None = None,
        database_name: str = DATABASE_NAME,
        connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        """``shared_server``: an embedded server someone else started and stops (tests run one
        per worker); this storage then uses its ``database_name`` database on it, and otherwise
        behaves as with its own server (locks in ``data_dir``). ``connect_timeout_seconds``: how
        long :meth:`start` tries to reach a configured MongoDB URI before it gives up (a test
        about that failure need not wait the full default)."""
        self._configured_uri = mongodb_uri
        self.connect_timeout_seconds = connect_timeout_seconds
        self.data_dir = data_dir
        self.shared_server = None if mongodb_uri else shared_server
        self.database_name = database_name
        self.embedded: EmbeddedMongo | None = None
        self.client: AsyncMongoClient[dict[str, Any]] | None = None
        self._database: AsyncDatabase[dict[str, Any]] | None = None

    @property
    def database(self) -> AsyncDatabase[dict[str, Any]]:
        if self._database is None:
            raise StorageError("storage is not started")
        return self._database

    @property
    def description(self) -> str:
        if self._configured_uri:
            return f"MongoDB at {redact_uri(self._configured_uri)}"
        if self.shared_server is not None:
            shared = self.shared_server.data_dir
            return f"database {self.database_name} on the shared embedded nx-27017 in {shared}"
        return f"embedded nx-27017 in {self.data_dir}"

    def launch(self) -> None:
        """Start the embedded server's process now, without waiting for it; :meth:`start` then
        only connects. Lets a caller overlap the server's start-up with its own (the sandbox)."""
        if not self._configured_uri and self.embedded is None and self.shared_server is None:
            embedded = EmbeddedMongo(self.data_dir)
            embedded.start()
            self.embedded = embedded

    async def start(self, document_models: Sequence[type[Document]] = ()) -> None:
        """Connect (starting the embedded server if needed) and initialise Beanie.

        Raises :class:`StorageError` within a few seconds when the database cannot be reached.
        """
        if self._configured_uri:
            uri = self._configured_uri
            deadline = self.connect_timeout_seconds
        elif self.shared_server is not None:
            self.embedded = self.shared_server
            uri = self.shared_server.uri_of(self.database_name)
            deadline = EMBEDDED_START_TIMEOUT_SECONDS
        else:
            await self._start_own_embedded_server()
            uri = self.embedded.uri  # type: ignore[union-attr]
            deadline = EMBEDDED_START_TIMEOUT_SECONDS
        if self.client is None:
            self.client = AsyncMongoClient(
                uri, serverSelectionTimeoutMS=250, connectTimeoutMS=2000, tz_aware=True
            )
            await self._wait_for_ping(deadline)
        self._database = self.client.get_default_database(DATABASE_NAME)
        if document_models:
            await init_documents(self._database, document_models)
        logger.bind(component="storage").info("storage ready: {}", self.description)

    async def _start_own_embedded_server(self, attempts: int = 3) -> None:
        """Start the embedded server and make sure the one answering is ours.

        The free port is found by binding and releasing it, so another process can take it
        before our server binds; that process's server would then answer our ping while ours
        exits. The answering server's pid tells them apart; on a mismatch, try another port.
        """
        for attempt in range(1, attempts + 1):
            if self.embedded is None:
                self.embedded = EmbeddedMongo(self.data_dir)
                await asyncio.to_thread(self.embedded.start)
            await asyncio.to_thread(self.embedded.wait_until_listening, EMBEDDED_START_TIMEOUT_SECONDS)
            self.client = AsyncMongoClient(
                self.embedded.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=2000, tz_aware=True
            )
            await self._wait_for_ping(EMBEDDED_START_TIMEOUT_SECONDS)
            status = await self.client.admin.command("serverStatus")
            if status.get("pid") in (None, self.embedded.pid):
                return
            logger.bind(component="storage").warning(
                "port {} was taken by another database before ours bound it; trying another port",
                self.embedded.port,
            )
            await self.client.close()
            self.client = None
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None
            if attempt == attempts:
                raise StorageError("could not start the embedded database: its ports kept being taken")

    async def _wait_for_ping(self, deadline_seconds: float) -> None:
        assert self.client is not None
        started = time.monotonic()
        last_error: Exception | None = None
        while time.monotonic() - started < deadline_seconds:
            if self.embedded is not None:
                try:
                    self.embedded.check_alive()
                except StorageError:
                    await self.stop()
                    raise
            try:
                await self.client.admin.command("ping")
                return
            except PyMongoError as exc:
                last_error = exc
                await asyncio.sleep(0.05)
        await self.stop()
        reason = str(last_error).split(" (configured timeouts")[0] if last_error else "no answer"
        raise StorageError(f"cannot reach {self.description} within {deadline_seconds:.0f}s: {reason}")

    async def stop(self) -> None:
        client, self.client = self.client, None
        self._database = None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        embedded, self.embedded = self.embedded, None
        if embedded is not None and embedded is not self.shared_server:
            await asyncio.to_thread(embedded.stop)

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
