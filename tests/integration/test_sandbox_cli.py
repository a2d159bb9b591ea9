"""The sandbox and the CLI as a newcomer meets them, through the real ``logiq`` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Every installed plugin runs (enable_unlisted), except the test environment's sample whose
# listener never returns: the sandbox waits for each message's listeners before the next line,
# and that one would add its timeout to every message (test_plugin_isolation covers it).
POLICY = """\
[plugins.verification]
enabled = true
[plugins.moderation]
enabled = true
[plugins.hanging_listener]
enabled = false
"""


def logiq(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOGIQ_")}
    environment.update({"COLUMNS": "100", "NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "logiq_core", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_scripted_sandbox_session_keeps_stoat_rules_and_renders_replies(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(POLICY)
    long_message = "x" * 2500
    script = ";".join(
        [
            "!help",
            "/who",
            "/as mo",
            "!ban @bob spamming",
            "!timeout carol 1h",
            "!case 2",
            long_message,
            "/as ada",
            "!lock",
            "/as alice",
            "can I still talk?",
            "/as ada",
            "!unlock",
            "/as alice",
            "yes I can",
            "!frobnicate",
        ]
    )
    result = logiq("sandbox", "--script", script, cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    # Prompts are shown as typed (rich must not read "[alice in #general]" as markup).
    assert "[alice in #general]> !help" in out
    # Markdown is rendered, not shown raw.
    assert "Commands (prefix !;" in out and "**Commands**" not in out
    # /who: ids, and the owner called owner.
    assert re.search(r"ada\s+[0-9A-Z]{26}\s+\(owner\)", out)
    assert re.search(r"alice\s+[0-9A-Z]{26}\s+\(Member\)", out)
    # ban takes a name like kick does.
    assert "Case 1: banned bob." in out and "bob was banned" in out
    # Times are relative and local.
    assert re.search(r"carol is timed out until in 1 h, (tomorrow )?\d\d:\d\d", out)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", out)
    # The case embed has its title apart from its body.
    assert re.search(r"Case 2: timeout ─", out)
    # Stoat's limits and permissions apply to the person typing.
    assert "Stoat refused your message: a message is at most 2000 characters" in out
    assert "Case 3: #general is locked" in out
    assert "Stoat refused your message: alice lacks SendMessage in #general" in out
    assert "Case 4: #general is unlocked." in out
    assert "Stoat refused your message: alice lacks" not in out.split("Case 4:")[1]
    assert "No command frobnicate; !help lists the commands you can use." in out
    assert "Traceback" not in out + result.stderr


def test_the_sandbox_refuses_a_data_dir_that_is_a_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(POLICY)
    (tmp_path / "data").write_text("not a folder")
    result = logiq("sandbox", "--script", "!ping", cwd=tmp_path, env={"LOGIQ_DATA_DIR": "data"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "LOGIQ_DATA_DIR" in lines[0], result.stderr


def test_the_sandbox_refuses_to_start_without_a_required_plugin(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(POLICY + "[plugins.polls]\nenabled = true\nrequired = true\n")
    result = logiq("sandbox", "--script", "!ping", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "plugin polls: listed in plugins.toml but not installed" in lines[0]
    assert 'pip install "logiq[polls]"' in lines[0]


def test_logiq_plugins_in_an_empty_folder_creates_no_storage_and_shows_install_hints(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(POLICY + "[plugins.polls]\nenabled = true\n")
    result = logiq("plugins", cwd=tmp_path, env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert '"logiq[polls]"' in result.stdout  # the install hint, not eaten as markup
    assert "(default)" in result.stdout or "default" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plugins.toml"]


ROLLOUT = [
    "status",
    "set",
    "phase",
    "whitelist",
    "blacklist",
    "internal",
    "guard",
    "monitor",
    "history",
    "explain",
    "export",
    "import",
]


def help_text(command: list[str]) -> str:
    """``logiq COMMAND --help`` run in this process: the help text is what is checked here, and
    a process start per command cost a second each (the real process is checked once below)."""
    from typer.testing import CliRunner

    from logiq_core.cli import app

    result = CliRunner().invoke(
        app, [*command, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"}, prog_name="logiq"
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_whole_sentences_with_real_forms(text: str) -> None:
    assert "<bool>" not in text and "<str>" not in text and "{" not in text
    # Nothing cut mid-sentence ("NAME..." is a real form: one or more values).
    assert not re.search(r"[a-z,;:(] ?\.\.\.", text), text
    usage = text.splitlines()[0]
    assert usage.startswith("Usage: ")


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["sandbox"], ["plugins"], ["version"], ["rollout"], *(["rollout", c] for c in ROLLOUT)],
)
def test_help_is_whole_sentences_with_real_forms(command: list[str]) -> None:
    assert_whole_sentences_with_real_forms(help_text(command))


def test_the_installed_command_prints_the_same_help(tmp_path: Path) -> None:
    result = logiq("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_whole_sentences_with_real_forms(result.stdout)
    assert "Commands" in result.stdout and "sandbox" in result.stdout and "rollout" in result.stdout
