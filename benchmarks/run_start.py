"""How long ./scripts/run.sh takes to reach the sandbox prompt once installed (goal: < 2 s).

Run it from the checkout after one ./scripts/run.sh (so .venv exists and is up to date):
``python benchmarks/run_start.py [runs]``. Each run starts run.sh in a terminal (a pty), waits
for the prompt, and quits with Ctrl-D; the data goes to a temporary directory. Needs pexpect
(in the ``test`` extra).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect
from _common import machine, verdict

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 2.0


def one_start(env: dict[str, str]) -> float:
    started = time.monotonic()
    child = pexpect.spawn(
        str(ROOT / "scripts" / "run.sh"), cwd=str(ROOT), env=env, encoding="utf-8", timeout=600
    )
    child.expect(re.compile(r"\[\w+ in #[\w-]+\]> "))
    elapsed = time.monotonic() - started
    child.sendeof()
    child.expect(pexpect.EOF)
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOGIQ_")}
        env.update({"LOGIQ_DATA_DIR": data, "TERM": "dumb"})
        if "LOGIQ_VENV" in os.environ:
            env["LOGIQ_VENV"] = os.environ["LOGIQ_VENV"]
        first = one_start(env)  # installs if the project changed since the last start
        times = [one_start(env) for _ in range(runs)]
    median = statistics.median(times)
    print(f"run.sh to the sandbox prompt ({machine()}, load {os.getloadavg()[0]:.1f})")
    print(f"  first start of this run: {first:.2f} s")
    print(
        f"  later starts: median {median:.2f} s, best {min(times):.2f} s over {runs} "
        f"(goal < {GOAL_SECONDS:g} s: {verdict(median < GOAL_SECONDS)})"
    )


if __name__ == "__main__":
    main()
