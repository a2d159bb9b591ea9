"""The operators' rollout CLI, as operators run it, against the real embedded storage.

Most tests run the script in-process on one started storage per test (fast); the tests about
processes (the script file itself, two at once, a terminal or a file as stdout) start it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from logiq_core.app.rollout.cli import script_main_async
from logiq_core.framework.rollout.models import ALL_DOCUMENTS
from logiq_core.testing.storage import storage_for

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gradual_rollout.py"
SERVER_A, SERVER_B, SERVER_C = (f"01HZX3K4M5N6P7Q8R9S0T1V2W{c}" for c in "ABC")
PLAN_STATUS = """Feature Status:
  verification: stable (100%)
  moderation: stable (100%)
  economy: gradual (50%)
  leveling: gradual (50%)
  tickets: beta (25% whitelisted)
  giveaways: beta (25% whitelisted)
  social_alerts: internal (5%)
  ai_chat: internal (10%)
"""
Operator = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
async def operator(core_only: Path, capsys: pytest.CaptureFixture[str]) -> AsyncIterator[Operator]:
    """Run the script in-process as an operator would, on a fresh data directory with the
    project's [rollout] configuration and only the core installed: (exit code, stdout, stderr).
    Its database is a fresh one on the test run's shared server (the tests below that start the
    script as a process start their own server, as an operator's run does)."""
    storage = storage_for(core_only)
    await storage.start(ALL_DOCUMENTS)

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await script_main_async(list(argv), storage)
        out, err = capsys.readouterr()
        return code, out, err

    try:
        yield run
    finally:
        await storage.stop()


def status_line(out: str, feature: str) -> str:
    return next(line.strip() for line in out.splitlines() if line.strip().startswith(feature + ":"))


def script(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=60, **kwargs
    )  # type: ignore[call-overload]


def test_the_script_as_written_on_a_fresh_install(core_only: Path) -> None:
    result = script("--status")
    assert (result.returncode, result.stdout, result.stderr) == (0, PLAN_STATUS, "")
    result = script("--set", "economy", "75")
    assert (result.returncode, result.stdout) == (0, "economy: gradual (50%) → gradual (75%)\n")


async def test_rollback_then_back_on_at_a_lower_percentage(operator: Operator) -> None:
    assert (await operator("--phase", "economy", "internal"))[1] == (
        "economy: gradual (50%) → internal (50%); 50% is kept: it applies to all servers when "
        "economy reaches gradual; only internal servers get it now\n"
    )
    assert status_line((await operator("--status"))[1], "economy") == "economy: internal (50%)"
    _, out, _ = await operator("--explain", "economy", SERVER_A)
    assert out.splitlines() == [
        "economy: internal (50%)",
        "  50% is kept: it applies to all servers when economy reaches gradual; "
        "only internal servers get it now",
        f"{SERVER_A}: disabled (phase internal: internal servers only)",
    ]
    assert (await operator("--set", "economy", "25"))[0] == 0
    assert status_line((await operator("--status"))[1], "economy") == "economy: gradual (25%)"
    _, out, _ = await operator("--history", "economy")
    assert [line.split(": ", 1)[1] for line in out.strip().splitlines()] == [
        "--phase economy internal",
        "--set economy 25",
    ]


async def test_set_on_beta_moves_to_gradual_and_says_so(operator: Operator) -> None:
    assert (await operator("--set", "tickets", "40"))[1] == (
        "tickets: beta (25% whitelisted) → gradual (40%); --set moved tickets from beta to "
        "gradual, where 40% of all servers get it\n"
    )


async def test_whitelisting_an_internal_feature_moves_it_to_beta(operator: Operator) -> None:
    assert (await operator("--whitelist", "ai_chat", SERVER_B))[1] == (
        f"ai_chat: internal (10%) → beta (10% whitelisted); whitelist +{SERVER_B}; "
        "--whitelist moved ai_chat from internal to beta, where whitelisted servers get it\n"
    )
    assert status_line((await operator("--status"))[1], "ai_chat") == "ai_chat: beta (10% whitelisted)"


async def test_verbose_and_json_status_mark_what_is_not_installed(operator: Operator) -> None:
    _, out, _ = await operator("--status", "-v")
    lines = out.splitlines()
    assert lines[1] == "  verification: stable (100%)  [not installed | whitelist 0, blacklist 0]"
    assert lines[5] == (
        "  tickets: beta (25% whitelisted)  [not installed | whitelist 0, blacklist 0 | 25% is "
        "kept: it applies to all servers when tickets reaches gradual; only whitelisted and "
        "internal servers get it now]"
    )
    data = json.loads((await operator("--status", "--json"))[1])
    assert list(data["features"]) == [line.split(":")[0].strip() for line in PLAN_STATUS.splitlines()[1:]]
    assert data["features"]["economy"]["installed"] is False
    assert data["features"]["economy"]["configured"] is True
    assert data["features"]["tickets"]["percentage_applies"] is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "economi", "50"], "unknown feature 'economi'; did you mean economy?"),
        (["--set", "economy", "101"], "percentage must be from 0 to 100, not 101"),
        (["--set", "economy", "half"], "percentage must be a number from 0 to 100, not 'half'"),
        (["--set", "economy", "12.345"], "percentage goes in steps of 0.01"),
        (["--phase", "economy", "ga"], "phase must be one of internal, beta, gradual, stable"),
        (["--whitelist", "tickets", "server-1"], "is not a Stoat server id"),
        (["--blacklist", "economy", "01HZX3K4M5N6P7Q8R9S0T1V2WI"], "is not a Stoat server id"),
        (["--import", "/nonexistent/rollout.json"], "cannot read /nonexistent/rollout.json"),
    ],
)
async def test_bad_input_is_one_clear_error_and_changes_nothing(
    operator: Operator, argv: list[str], message: str
) -> None:
    before = json.loads((await operator("--export"))[1])
    code, out, err = await operator(*argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
    assert json.loads((await operator("--export"))[1]) == before


# --- import -----------------------------------------------------------------------------------
def export_file(tmp_path: Path, features: dict[str, dict[str, object]], **extra: object) -> Path:
    path = tmp_path / "rollout_config.json"
    path.write_text(json.dumps({"format": "logiq-rollout", "version": 1, "features": features, **extra}))
    return path


def state(phase: str, percentage: float, **lists: list[str]) -> dict[str, object]:
    return {
        "phase": phase,
        "percentage": percentage,
        "whitelist": lists.get("whitelist", []),
        "blacklist": lists.get("blacklist", []),
        "guard": None,
    }


async def test_invalid_import_files_change_nothing(operator: Operator, tmp_path: Path) -> None:
    before = json.loads((await operator("--export"))[1])
    cases = [
        ({"economi": state("gradual", 80)}, "unknown feature 'economi'; did you mean economy?"),
        ({"economy": state("live", 80)}, "phase must be one of"),
        (
            {"economy": state("gradual", 80, whitelist=[SERVER_A, SERVER_A])},
            f"economy: whitelist: server {SERVER_A} is listed twice",
        ),
    ]
    for features, message in cases:
        path = export_file(tmp_path, features)
        code, out, err = await operator("--import", str(path))
        assert (code, out) == (2, "") and message in err, err
    path = tmp_path / "duplicate.json"
    path.write_text(
        '{"format": "logiq-rollout", "version": 1, "features": {'
        f'"economy": {json.dumps(state("gradual", 80))}, '
        f'"economy": {json.dumps(state("gradual", 10))}}}}}'
    )
    code, _, err = await operator("--import", str(path))
    assert code == 2 and "duplicate key 'economy'" in err
    path.write_text("{not json")
    assert (await operator("--import", str(path)))[0] == 2
    assert json.loads((await operator("--export"))[1]) == before


async def test_a_partial_import_changes_only_what_it_lists_and_shows_the_diff_first(
    operator: Operator, tmp_path: Path
) -> None:
    await operator("--whitelist", "tickets", SERVER_A)
    path = export_file(tmp_path, {"economy": state("gradual", 80, blacklist=[SERVER_C])})
    code, out, _ = await operator("--import", str(path), "--dry-run")
    assert (code, out) == (
        0,
        f"economy: gradual (50%) → gradual (80%); blacklist +{SERVER_C}\n"
        "dry run: 1 change(s) shown, nothing written\n",
    )
    assert status_line((await operator("--status"))[1], "economy") == "economy: gradual (50%)"
    code, out, _ = await operator("--import", str(path))
    assert out.splitlines()[0] == f"economy: gradual (50%) → gradual (80%); blacklist +{SERVER_C}"
    assert out.splitlines()[1].startswith(f"imported {path}: 1 change(s), now at version ")
    exported = json.loads((await operator("--export"))[1])
    assert exported["features"]["tickets"]["whitelist"] == [SERVER_A]  # untouched
    assert len(exported["features"]) == 8


async def test_replace_imports_the_whole_state(operator: Operator, tmp_path: Path) -> None:
    await operator("--internal", SERVER_A)
    await operator("--whitelist", "ai_chat", SERVER_B)
    await operator("--set", "leveling", "60")
    path = export_file(tmp_path, {"economy": state("stable", 100)}, internal_servers=[])
    _, out, _ = await operator("--import", str(path), "--replace", "--dry-run")
    # Configured features the file does not list go back to their starting phase.
    assert out.splitlines() == [
        "economy: gradual (50%) → stable (100%); percentage 50% → 100%",
        "leveling: gradual (60%) → gradual (50%)",
        f"ai_chat: beta (10% whitelisted) → internal (10%); whitelist -{SERVER_B}",
        f"internal servers: 1 → 0 (-{SERVER_A})",
        "dry run: 4 change(s) shown, nothing written",
    ]
    assert json.loads((await operator("--export"))[1])["internal_servers"] == [SERVER_A]  # dry run
    await operator("--import", str(path), "--replace")
    exported = json.loads((await operator("--export"))[1])
    assert exported["internal_servers"] == [] and exported["features"]["ai_chat"]["whitelist"] == []
    assert exported["features"]["economy"]["phase"] == "stable"


async def test_export_then_import_is_a_no_op(operator: Operator, tmp_path: Path) -> None:
    await operator("--blacklist", "economy", SERVER_B)
    assert (await operator("--internal", SERVER_A))[1] == f"internal servers: 0 → 1 (+{SERVER_A})\n"
    code, exported, _ = await operator("--export")
    assert code == 0
    data = json.loads(exported)  # stdout is pure JSON
    assert data["internal_servers"] == [SERVER_A]
    assert data["features"]["economy"]["blacklist"] == [SERVER_B]
    path = tmp_path / "rollout_config.json"
    path.write_text(exported)
    _, out, _ = await operator("--import", str(path))
    assert out.strip() == f"imported {path}: no changes"
    assert json.loads((await operator("--export"))[1]) == data


# --- monitor ----------------------------------------------------------------------------------
async def test_monitor_json_reports_the_success_metrics(operator: Operator) -> None:
    code, out, _ = await operator("--monitor", "economy", "--json")
    report = json.loads(out)
    assert code == 0 and report["feature"] == "economy" and report["invocations"] == 0
    assert report["error_rate_met"] is None  # no data yet is not "met"
    assert report["verdicts"]["error_rate"] == {
        "status": "not enough data",
        "target": "< 0.1%",
        "enough": "1000 invocations",
        "have": "0 invocations",
    }


def test_monitor_to_a_file_is_one_snapshot_and_exit_0(core_only: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    with report.open("w") as handle:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "--monitor", "economy"],
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert text.startswith("economy: gradual (50%), last 24 h\n")
    assert "  servers with economy enabled: 0 (of 0 the bot is in)\n" in text
    assert "refreshes" not in text


def test_monitor_on_a_terminal_is_a_live_view(core_only: Path) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--monitor", "economy"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        # Ctrl-C as a terminal delivers it: a suite started in the background (`cmd &` in a
        # script) ignores SIGINT, and a child would inherit that and never see the keypress.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"refreshes every 2 s" not in seen:
            assert time.monotonic() < deadline and process.poll() is None, seen.decode(errors="replace")
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                seen += os.read(leader, 65536)
        assert b"servers with economy enabled" in seen
        process.send_signal(signal.SIGINT)
        # Keep reading while it stops: a terminal nobody reads fills up, and the live view's
        # last refresh would then block it forever (a real terminal is always read).
        while process.poll() is None:
            assert time.monotonic() < deadline + 30, "the monitor did not stop on Ctrl-C"
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):  # EIO once the child has closed its side
                    seen += os.read(leader, 65536)
        assert process.returncode == 0, seen.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)


def test_two_clis_at_once_lose_no_change(core_only: Path) -> None:
    ids = [f"01HZX3K4M5N6P7Q8R9S0T1V2{a}{b}" for a in "CD" for b in "EFG"]
    processes = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "--whitelist", "tickets", server_id],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for server_id in ids
    ]
    # Six interpreters, each with its own embedded server, on a machine other jobs may share:
    # one deadline for all of them, generous, since the point is lost changes, not speed.
    deadline = time.monotonic() + 300
    try:
        for process in processes:
            code = process.wait(max(1.0, deadline - time.monotonic()))
            assert code == 0, process.stderr.read() if process.stderr else ""
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    exported = json.loads(script("--export").stdout)
    assert sorted(exported["features"]["tickets"]["whitelist"]) == sorted(ids)


def test_logiq_rollout_has_the_same_commands(core_only: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from logiq_core.app.rollout.cli import rollout_app

    runner = CliRunner()
    result = runner.invoke(rollout_app, ["status"])
    assert (result.exit_code, result.stdout) == (0, PLAN_STATUS)
    path = export_file(tmp_path, {"leveling": state("gradual", 60)})
    result = runner.invoke(rollout_app, ["import", str(path), "--dry-run"])
    assert result.exit_code == 0
    assert result.stdout == (
        "leveling: gradual (50%) → gradual (60%)\ndry run: 1 change(s) shown, nothing written\n"
    )
