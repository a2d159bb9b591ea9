"""The operators' rollout CLI, as operators run it, against the real embedded storage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logiq_core.rollout.cli import script_main

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gradual_rollout.py"
PLAN_FEATURES = ["verification", "moderation", "economy", "leveling", "tickets", "giveaways",
                 "social_alerts", "ai_chat"]  # fmt: skip
DEFAULTS = {
    "verification": ("stable", 100), "moderation": ("stable", 100),
    "economy": ("gradual", 50), "leveling": ("gradual", 50),
    "tickets": ("beta", 25), "giveaways": ("beta", 25),
    "social_alerts": ("internal", 5), "ai_chat": ("internal", 10),
}  # fmt: skip
SERVER_A, SERVER_B = "01HZX3K4M5N6P7Q8R9S0T1V2WA", "01HZX3K4M5N6P7Q8R9S0T1V2WB"


@pytest.fixture
def operator(core_only: Path, capsys: pytest.CaptureFixture[str]):
    """Run the script in-process as an operator would, on a fresh data directory with the
    project's [rollout] configuration and only the core installed: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = script_main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


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


def status_line(out: str, feature: str) -> str:
    return next(line.strip() for line in out.splitlines() if line.strip().startswith(feature + ":"))


def test_the_whole_rollout_plan_command_by_command(operator) -> None:
    code, out, _ = operator("--status")
    assert (code, out) == (0, PLAN_STATUS)
    steps = [
        (["--set", "economy", "50"], {"economy": "gradual (50%)"}),
        (["--whitelist", "tickets", SERVER_A], {"tickets": "beta (25% whitelisted)"}),
        (["--set", "economy", "75"], {"economy": "gradual (75%)"}),
        (["--whitelist", "giveaways", SERVER_A], {"giveaways": "beta (25% whitelisted)"}),
        (["--set", "leveling", "75"], {"leveling": "gradual (75%)"}),
        (["--phase", "economy", "stable"], {"economy": "stable (100%)"}),
        (["--phase", "leveling", "stable"], {"leveling": "stable (100%)"}),
        (["--phase", "tickets", "stable"], {"tickets": "stable (100%)"}),
        (["--phase", "giveaways", "stable"], {"giveaways": "stable (100%)"}),
    ]
    for argv, expected in steps:
        code, _, err = operator(*argv)
        assert code == 0, err
        code, out, _ = operator("--status")
        for feature, text in expected.items():
            assert status_line(out, feature) == f"{feature}: {text}", argv
    code, out, _ = operator("--history")
    # The import and eight changes: the first step (economy already at 50%) changed nothing.
    assert out.count("\n") == 9


def test_rollback_then_back_on_at_a_lower_percentage(operator) -> None:
    assert operator("--phase", "economy", "internal")[0] == 0
    assert status_line(operator("--status")[1], "economy") == "economy: internal (50%)"
    _, out, _ = operator("--explain", "economy", SERVER_A)
    assert out.splitlines() == [
        "economy: internal (50%)",
        "  50% is kept: it applies to all servers when economy reaches gradual; "
        "only internal servers get it now",
        f"{SERVER_A}: disabled (phase internal: internal servers only)",
    ]
    assert operator("--set", "economy", "25")[0] == 0
    assert status_line(operator("--status")[1], "economy") == "economy: gradual (25%)"
    _, out, _ = operator("--history", "economy")
    assert [line.split(": ", 1)[1] for line in out.strip().splitlines()] == [
        "--phase economy internal",
        "--set economy 25",
    ]


def test_whitelisting_an_internal_feature_moves_it_to_beta(operator) -> None:
    assert operator("--whitelist", "ai_chat", SERVER_B)[1] == (
        f"ai_chat: internal (10%) → beta (10% whitelisted); whitelist +{SERVER_B}; "
        "--whitelist moved ai_chat from internal to beta, where whitelisted servers get it\n"
    )
    assert status_line(operator("--status")[1], "ai_chat") == "ai_chat: beta (10% whitelisted)"


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
def test_bad_input_is_one_clear_error_and_changes_nothing(operator, argv: list[str], message: str) -> None:
    before = json.loads(operator("--export")[1])
    code, out, err = operator(*argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
    assert json.loads(operator("--export")[1]) == before


def test_invalid_import_file_changes_nothing(operator, tmp_path: Path) -> None:
    before = json.loads(operator("--export")[1])
    bad = dict(before)
    bad["features"] = {
        **before["features"],
        "economy": {**before["features"]["economy"], "phase": "live"},
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, _, err = operator("--import", str(path))
    assert code == 2 and "phase must be one of" in err
    path.write_text("{not json")
    assert operator("--import", str(path))[0] == 2
    assert json.loads(operator("--export")[1]) == before


def test_export_then_import_is_a_no_op(operator, tmp_path: Path) -> None:
    operator("--blacklist", "economy", SERVER_B)
    operator("--internal", SERVER_A)
    code, exported, _ = operator("--export")
    assert code == 0
    data = json.loads(exported)  # stdout is pure JSON
    assert data["internal_servers"] == [SERVER_A]
    assert data["features"]["economy"]["blacklist"] == [SERVER_B]
    path = tmp_path / "rollout_config.json"
    path.write_text(exported)
    code, out, _ = operator("--import", str(path))
    assert out.strip() == f"imported {path}: no changes"
    assert json.loads(operator("--export")[1]) == data


def test_monitor_once_reports_the_success_metrics(operator) -> None:
    code, out, _ = operator("--monitor", "economy", "--json")
    report = json.loads(out)
    assert code == 0 and report["feature"] == "economy" and report["invocations"] == 0
    assert report["error_rate_met"] is None  # no data yet is not "met"


def test_two_clis_at_once_lose_no_change(operator, tmp_path: Path) -> None:
    env = {**os.environ}
    ids = [f"01HZX3K4M5N6P7Q8R9S0T1V2{a}{b}" for a in "CD" for b in "EFG"]
    processes = [
        subprocess.Popen([sys.executable, str(SCRIPT), "--whitelist", "tickets", server_id],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for server_id in ids
    ]  # fmt: skip
    for process in processes:
        assert process.wait(60) == 0, process.stderr.read() if process.stderr else ""
    exported = json.loads(operator("--export")[1])
    assert sorted(exported["features"]["tickets"]["whitelist"]) == sorted(ids)
