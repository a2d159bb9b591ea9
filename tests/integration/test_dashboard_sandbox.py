"""``logiq sandbox`` turns the dashboard on at loopback and says where it is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_the_sandbox_serves_the_dashboard_and_sends_sign_in_links(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(
        "[logiq]\nenable_unlisted = false\n[plugins.leveling]\nenabled = true\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOGIQ_")}
    environment.update({"COLUMNS": "400", "NO_COLOR": "1"})
    result = subprocess.run(
        [sys.executable, "-m", "logiq_core", "sandbox", "--script", "/as mo;!dashboard"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert re.search(r"Dashboard: http://127\.0\.0\.1:\d+/s/[0-9A-Z]{26}/ \(public pages on", out), out
    assert re.search(r"operators: http://127\.0\.0\.1:\d+/ops/ with token \S+", out)
    assert re.search(r"sign-in link to the dashboard .*http://127\.0\.0\.1:\d+/signin/\S+", out)
    assert "I sent you a sign-in link by direct message." in out
    assert "Traceback" not in out + result.stderr
