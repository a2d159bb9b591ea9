"""The sandbox's server counts as internal, so a feature at beta can be tried there at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_beta_feature_works_in_the_sandbox_and_rollout_commands_show_the_gate(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text("[logiq]\nenable_unlisted = false\n[plugins.coinflip]\n")
    env = {
        **os.environ,
        "LOGIQ_DATA_DIR": str(tmp_path / "data"),
        "LOGIQ_PLUGINS_FILE": str(tmp_path / "plugins.toml"),
    }
    script = "!coinflip 2;/internal off;!streak;/rollout coinflip stable;!streak"
    result = subprocess.run(
        [sys.executable, "-m", "logiq_core", "sandbox", "--script", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # the sandbox prints "Logiq #general:" and the rendered reply on the next line
    replies = [
        lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if line.startswith("Logiq #general:")
    ]
    assert len(replies) == 3, result.stdout
    assert replies[0] in {"H H", "H T", "T H", "T T"}  # coinflip ships at beta: on in the sandbox
    assert "coinflip is not available on this server." in replies[1]  # what other servers see
    assert replies[2] == "You have flipped 2 coins."
