"""What every end-to-end test pays to start and stop a bot: BotHarness in and out, on a fresh
database of one shared embedded storage server (as the test suite runs them).

Prints the median start and stop over N bots for each plugin set given (comma-separated; an
empty string is the core alone), and the round trips to the storage a start makes.
Run: ``python benchmarks/bot_start.py [N] [--rollout] [plugins ...]``, e.g.
``python benchmarks/bot_start.py 12 "" economy,leveling,moderation``. ``--rollout`` puts each
plugin at stable on entering, as most end-to-end tests do (``BotHarness(rollout=...)``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from loguru import logger
from pymongo import monitoring

from logiq_core.testing.harness import BotHarness
from logiq_core.testing.storage import SharedStorageServer, use_shared_server


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    plugins: list[str], runs: int, root: Path, counter: CommandCounter, server_pid: int, rollout: bool
) -> None:
    starts: list[float] = []
    stops: list[float] = []
    cpu = 0.0
    server_cpu = 0.0
    for run in range(runs + 1):  # the first warms imports and caches up: not counted
        counter.counts.clear()
        started = time.perf_counter()
        cpu_before, server_before = time.process_time(), cpu_seconds(server_pid)
        harness = BotHarness(
            plugins,
            data_dir=root / f"{'-'.join(plugins) or 'core'}-{run}",
            rollout=dict.fromkeys(plugins, "stable") if rollout else None,
        )
        await harness.__aenter__()
        up = time.perf_counter()
        commands = sum(counter.counts.values())
        await harness.__aexit__(None, None, None)
        if run:
            starts.append(up - started)
            stops.append(time.perf_counter() - up)
            cpu += time.process_time() - cpu_before
            server_cpu += cpu_seconds(server_pid) - server_before
    print(
        f"  {', '.join(plugins) or 'core only':30s} start {statistics.median(starts) * 1000:4.0f} ms, "
        f"stop {statistics.median(stops) * 1000:3.0f} ms (medians of {runs}); CPU per start and stop: "
        f"{cpu / runs * 1000:3.0f} ms here + {server_cpu / runs * 1000:3.0f} ms in the storage server; "
        f"{commands} storage commands to start"
    )


async def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    arguments = [arg for arg in sys.argv[1:] if arg != "--rollout"]
    rollout = len(arguments) < len(sys.argv) - 1
    runs = int(arguments[0]) if arguments else 12
    plugin_sets = [[name for name in arg.split(",") if name] for arg in arguments[1:]] or [
        [],
        ["economy", "leveling", "moderation"],
    ]
    logger.remove()
    counter = CommandCounter()
    monitoring.register(counter)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        server = SharedStorageServer(root / "shared")
        use_shared_server(server)
        server_pid = (await asyncio.to_thread(server.server)).pid
        assert server_pid is not None
        with_rollout = ", each plugin rolled out to stable" if rollout else ""
        print(
            f"bot start and stop through BotHarness{with_rollout} ({machine()}, load {os.getloadavg()[0]:.1f})"
        )
        try:
            for plugins in plugin_sets:
                await measure(plugins, runs, root, counter, server_pid, rollout)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
