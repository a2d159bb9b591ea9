"""In ``logiq sandbox`` (the real ``logiq`` command, as an operator runs it) a member opens a
ticket from a panel, staff answer and close it, and the transcript is in the log channel."""

from __future__ import annotations

from pathlib import Path

from logiq_core.testing.sandbox_script import run_sandbox_script

# Every installed plugin runs, except a sample that Logiq's own test environment installs: its
# listener never returns, and the sandbox would wait out its timeout after every message.
POLICY = """\
[plugins.tickets]
enabled = true
[plugins.hanging_listener]
enabled = false

[rollout.features]
tickets = { phase = "beta", percentage = 25 }
"""


def test_a_sandbox_ticket_from_panel_to_transcript(tmp_path: Path) -> None:
    lines = [
        "/as ada",
        "!tickets setup Moderator #mod-log",
        "!tickets panel #general Need help? React below.",
        "/as alice",
        "/react 🎫",
        "/in ticket-1",
        "Hello, my parcel never arrived",
        "/as mo",
        "/in ticket-1",
        "Found it, it ships today!",
        "!ticket close solved",
        "/in mod-log",
        "/log",
    ]
    result = run_sandbox_script(tmp_path, lines, plugins_toml=POLICY, columns=120)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Tickets are set up in channel mode" in out
    assert "reactions offered: 🎫" in out
    assert "Ticket #1 opened by alice" in out
    assert "no channel #ticket-1" not in out and "Stoat refused" not in out
    assert "Transcript" in out and "Closed by mo" in out and "Reason: solved" in out
    assert "📎 ticket-1.html (text/html" in out
    assert "Traceback" not in out + result.stderr
