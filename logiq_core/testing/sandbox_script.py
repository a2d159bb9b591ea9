"""Run ``logiq sandbox --script`` as an operator would (a real process), for end-to-end tests of
a plugin in the sandbox: the sandbox's own lines (``/as``, ``/in``, ``/react``, ``/wait``) and
chat, one after another, in a directory holding the test's ``plugins.toml``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def run_sandbox_script(
    directory: Path,
    lines: Sequence[str],
    *,
    plugins_toml: str | None = None,
    columns: int = 120,
    timeout: float = 180.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``lines`` in a fresh ``logiq sandbox`` started in ``directory`` and return the process
    (its ``stdout`` is the sandbox's transcript). ``plugins_toml`` is written there first. The
    caller's ``LOGIQ_*`` settings are left out, so the sandbox runs on its embedded defaults."""
    if plugins_toml is not None:
        (directory / "plugins.toml").write_text(plugins_toml)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOGIQ_")}
    environment.update({"COLUMNS": str(columns), "NO_COLOR": "1"})
    return subprocess.run(
        [sys.executable, "-m", "logiq_core", "sandbox", "--script", ";".join(lines)],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
