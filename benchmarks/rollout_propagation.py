"""Time from an operator's ``--set`` (a separate CLI process) to a running gate applying it.

The gate's watcher polls the stored state's version every 0.25 s. Printed: from the moment the
CLI process has written the change (it exits right after) to the gate answering differently,
and the CLI run itself. Run: ``python benchmarks/rollout_propagation.py``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from logiq_core.framework.features import Phase
from logiq_core.framework.rollout import document_models
from logiq_core.framework.rollout.config import FeatureDefault
from logiq_core.framework.rollout.gate import RolloutGate
from logiq_core.framework.storage import Storage

GOAL_SECONDS = 1.0
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gradual_rollout.py"
SERVER = "01HZX3K4M5N6P7Q8R9S0T1V2W3"


async def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="logiq-propagation-"))
    plugins_file = data_dir / "plugins.toml"
    plugins_file.write_text("[logiq]\nenable_unlisted = false\n")
    env = {**os.environ, "LOGIQ_DATA_DIR": str(data_dir), "LOGIQ_PLUGINS_FILE": str(plugins_file)}
    storage = Storage(None, data_dir)
    await storage.start(document_models())
    gate = RolloutGate()
    await gate.attach(storage)
    await gate.seed_defaults([FeatureDefault("economy", Phase.STABLE, 100)])
    watcher = asyncio.create_task(gate.run_watcher())
    applied, cli_runs = [], []
    try:
        for phase in ("internal", "stable", "internal", "stable", "internal"):
            expected = phase == "stable"
            started = time.perf_counter()
            result = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(SCRIPT), "--phase", "economy", phase],
                env=env,
                capture_output=True,
                text=True,
            )
            written = time.perf_counter()
            assert result.returncode == 0, result.stderr
            while gate.is_enabled("economy", SERVER) != expected:
                await asyncio.sleep(0.001)
            applied.append(time.perf_counter() - written)
            cli_runs.append(written - started)
    finally:
        watcher.cancel()
        await storage.stop()
    worst = max(applied)
    print(f"Propagation of a CLI change to a running gate ({len(applied)} changes)")
    print(
        f"  after the CLI wrote it: median {statistics.median(applied) * 1000:.0f} ms, "
        f"worst {worst * 1000:.0f} ms (goal: under {GOAL_SECONDS:g} s) -> "
        f"{'goal met' if worst < GOAL_SECONDS else 'goal NOT met'}"
    )
    print(
        f"  the CLI run itself (process start, embedded storage, write): median "
        f"{statistics.median(cli_runs):.2f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
