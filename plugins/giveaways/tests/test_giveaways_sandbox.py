"""In ``logiq sandbox`` a manager starts a giveaway, members react, the manager ends it, winners
are announced and ``!giveaway verify`` confirms the draw (the real ``logiq`` command, as an operator
runs it)."""

from __future__ import annotations

from pathlib import Path

from logiq_core.testing.sandbox_script import run_sandbox_script

# Every installed plugin runs, except a sample that Logiq's own test environment installs: its
# listener never returns, and the sandbox would wait out its timeout after every message.
POLICY = """\
[plugins.giveaways]
enabled = true
[plugins.hanging_listener]
enabled = false

[rollout.features]
giveaways = { phase = "beta", percentage = 25 }
"""


def test_a_sandbox_giveaway_from_start_to_verified_draw(tmp_path: Path) -> None:
    lines = [
        "/as ada",
        "!giveaway start 10s 2 A sticker pack",
        "/as alice",
        "/react 🎉",
        "/as bob",
        "/react 🎉",
        "/as carol",
        "/react 🎉",
        # Ending by the timer after 10 s is tested in-process on a FakeClock
        # (test_a_giveaway_ends_by_itself_when_its_time_is_up): here the manager ends it, not
        # a real 11 s wait. /wait still runs, briefly.
        "/wait 0.1",
        "/as ada",
        "!giveaway end 1",
        "!giveaway verify 1",
    ]
    result = run_sandbox_script(tmp_path, lines, plugins_toml=POLICY, columns=100)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Giveaway #1: A sticker pack" in out and "reactions offered: 🎉" in out
    assert "Stoat refused" not in out and "(waiting 0.1 s)" in out
    assert "Giveaway #1 ended: A sticker pack" in out and "Eligible entrants: 3 (3 entries) of 3" in out
    assert "🎉 Congratulations @" in out
    assert "Verified giveaway #1 (against the giveaway message)" in out
    assert "Traceback" not in out + result.stderr
