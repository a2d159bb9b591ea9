"""Storage against the real embedded nx-27017 server (never a mock)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Annotated, ClassVar

import pytest
from beanie import Document, Indexed

from logiq_core.framework.documents import init_documents
from logiq_core.framework.errors import StorageError
from logiq_core.framework.storage import CONNECT_TIMEOUT_SECONDS, Storage
from logiq_core.testing.storage import storage_for


class Counter(Document):
    name: str
    value: int = 0

    class Settings:
        name = "core_test_counters"


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    async with Storage(None, tmp_path) as storage:
        await storage.start([Counter])
        await Counter(name="visits", value=41).insert()
    assert storage.embedded is None  # stopped with the context
    async with Storage(None, tmp_path) as again:
        await again.start([Counter])
        found = await Counter.find_one(Counter.name == "visits")
        assert found is not None and found.value == 41


INCREMENTER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from beanie import Document
    from logiq_core.framework.storage import Storage

    class Counter(Document):
        name: str
        value: int = 0
        class Settings:
            name = "core_test_counters"

    async def main():
        storage = Storage(None, Path(sys.argv[1]))
        await storage.start([Counter])
        for _ in range(int(sys.argv[2])):
            await Counter.find_one(Counter.name == "shared").inc({Counter.value: 1})
        await storage.stop()

    asyncio.run(main())
    """
)


async def test_two_processes_sharing_a_data_dir_lose_no_increment(tmp_path: Path) -> None:
    async with Storage(None, tmp_path) as storage:
        await storage.start([Counter])
        await Counter(name="shared", value=0).insert()
    script = tmp_path / "incrementer.py"
    script.write_text(INCREMENTER)
    per_process = 150
    processes = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path), str(per_process)]) for _ in range(2)
    ]
    for process in processes:
        assert await asyncio.to_thread(process.wait, 120) == 0
    async with Storage(None, tmp_path) as storage:
        await storage.start([Counter])
        shared = await Counter.find_one(Counter.name == "shared")
        assert shared is not None and shared.value == 2 * per_process


async def test_unreachable_uri_fails_fast_with_one_clear_line(tmp_path: Path) -> None:
    # Fast means: the deadline is kept (no ping waits out the driver's own 30 s server selection).
    # A 1 s deadline shows that as well as the default does, without waiting out the default;
    # with the default, the same margin keeps a start under 8 s.
    assert CONNECT_TIMEOUT_SECONDS + 4 <= 8
    deadline = 1.0
    storage = Storage("mongodb://user:hunter22@127.0.0.1:9/logiq", tmp_path, connect_timeout_seconds=deadline)
    started = time.monotonic()
    with pytest.raises(StorageError) as raised:
        await storage.start([])
    assert time.monotonic() - started < deadline + 4
    message = str(raised.value)
    assert "cannot reach MongoDB at mongodb://user:***@127.0.0.1:9/logiq" in message
    assert "hunter22" not in message and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
async def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(StorageError, match="cannot be written"):
        await Storage(None, locked / "data").start([])


async def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot be written"):
        await Storage(None, blocker).start([])


def test_an_embedded_server_started_from_a_thread_outlives_that_thread(tmp_path: Path) -> None:
    """Storage starts the server from a worker thread; the server must live as long as Logiq,
    not as long as that thread (Linux's parent-death signal follows the thread)."""
    from logiq_core.framework._embedded_server import PARENT_CHECK_SECONDS
    from logiq_core.framework.storage import EmbeddedMongo

    server = EmbeddedMongo(tmp_path)
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()  # the thread that started it has ended
    try:
        # Listening: its parent watch started before that and checked its parent at once. A
        # server tied to the starting thread dies before or soon after this; a watch that
        # misjudges its parent stops it at its first check. Watching four more checks of its
        # parent (1 s, not a fixed 3 s that also covered the start) gives such a stop time to show.
        server.wait_until_listening(20)
        deadline = time.monotonic() + 4 * PARENT_CHECK_SECONDS
        while time.monotonic() < deadline:
            server.check_alive()
            time.sleep(0.1)
    finally:
        server.stop()


async def test_embedded_server_stops_when_logiq_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "holder.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys, time
            from pathlib import Path
            from logiq_core.framework.storage import Storage
            async def main():
                storage = Storage(None, Path(sys.argv[1]))
                await storage.start([])
                print(storage.embedded.pid, flush=True)
                await asyncio.sleep(60)
            asyncio.run(main())
            """
        )
    )
    holder = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data")], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    child_pid = int(await asyncio.to_thread(holder.stdout.readline))
    holder.kill()  # SIGKILL: no atexit, no finally
    holder.wait()
    for _ in range(100):
        if has_exited(child_pid):
            return
        await asyncio.sleep(0.05)
    pytest.fail("the embedded nx-27017 server outlived the process that started it")


def has_exited(pid: int) -> bool:
    """Whether ``pid`` has ended: gone, or a zombie (it has exited; the init process that
    inherited it reaps it when it gets round to it, on some machines seconds later)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc: only "gone" counts
        return False
    return state in ("Z", "X")


async def test_a_port_taken_by_another_database_is_not_mistaken_for_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between finding a free port and our server binding it, another process may take it; its
    server then answers our ping. Logiq must notice (by pid) and start again on another port."""
    import logiq_core.framework.storage as storage_module

    async with Storage(None, tmp_path / "theirs") as theirs:
        await theirs.start()
        assert theirs.embedded is not None and theirs.embedded.port is not None
        taken = theirs.embedded.port
        real_free_port = storage_module._free_loopback_port
        ports = iter([taken])
        monkeypatch.setattr(
            storage_module, "_free_loopback_port", lambda: next(ports, None) or real_free_port()
        )
        async with Storage(None, tmp_path / "ours") as ours:
            await ours.start()
            assert ours.embedded is not None and ours.embedded.port != taken
            status = await ours.database.client.admin.command("serverStatus")
            assert status["pid"] == ours.embedded.pid


class Rebound(Document):
    name: Annotated[str, Indexed(unique=True)]

    class Settings:
        name = "core_test_rebound"
        use_cache = True


async def test_a_document_bound_again_uses_the_new_database_its_indexes_and_its_current_settings(
    tmp_path: Path,
) -> None:
    """The second and later bindings of a document class in one process (a cheaper path than
    Beanie's first) read and write the new database only, create its indexes there, start an
    empty cache, and follow a change to the class's Settings (a renamed collection)."""
    first, second = storage_for(tmp_path / "first"), storage_for(tmp_path / "second")
    await first.start([Rebound])
    await Rebound(name="in the first").insert()
    assert await Rebound.find_one(Rebound.name == "in the first") is not None  # cached now
    await second.start([Rebound])
    original = Rebound.Settings
    try:
        assert Rebound.get_pymongo_collection().database.name == second.database.name
        assert await Rebound.find_one(Rebound.name == "in the first") is None
        await Rebound(name="in the second").insert()
        unique = [i for i in (await second.database["core_test_rebound"].index_information()).values()]
        assert any(index.get("unique") and index["key"] == [("name", 1)] for index in unique)
        assert await first.database["core_test_rebound"].count_documents({}) == 1

        renamed = type("Settings", (original,), {"name": "core_test_rebound_renamed"})
        Rebound.Settings = renamed  # type: ignore[misc]  # as the plugin manager prefixes names
        await init_documents(second.database, [Rebound])
        assert Rebound.get_collection_name() == "core_test_rebound_renamed"
        await Rebound(name="renamed").insert()
        assert await second.database["core_test_rebound_renamed"].count_documents({}) == 1
    finally:
        Rebound.Settings = original  # type: ignore[misc]  # the next run starts as this one did
        await first.stop()
        await second.stop()


class WithCustomInit(Document):
    """A document with Beanie's ``custom_init`` hook, which Beanie awaits at every binding."""

    name: str
    inits: ClassVar[list[str]] = []

    class Settings:
        name = "core_test_custom_init"

    @classmethod
    async def custom_init(cls) -> None:
        cls.inits.append(cls.get_pymongo_collection().database.name)


async def test_a_document_with_custom_init_runs_it_at_every_binding(tmp_path: Path) -> None:
    first, second = storage_for(tmp_path / "first"), storage_for(tmp_path / "second")
    WithCustomInit.inits.clear()
    await first.start([WithCustomInit])
    await second.start([WithCustomInit])
    try:
        assert WithCustomInit.inits == [first.database.name, second.database.name]
    finally:
        await first.stop()
        await second.stop()
