"""Shared fixtures for Logiq's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect figures tests publish as ``("figure", text)`` (works across xdist workers)."""
    if report.when == "call":
        _FIGURES.extend(str(value) for key, value in report.user_properties if key == "figure")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for figure in _FIGURES:
        terminalreporter.write_line(figure)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No LOGIQ_* variables from the developer's shell, and a fresh working directory."""
    for name in list(os.environ):
        if name.startswith("LOGIQ_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


REPO = Path(__file__).resolve().parents[1]


def project_rollout_table() -> str:
    """The ``[rollout]`` tables of the project's own plugins.toml, as shipped."""
    lines = (REPO / "plugins.toml").read_text(encoding="utf-8").splitlines()
    start = lines.index("[rollout]")
    kept = []
    for line in lines[start:]:
        if line.startswith("[") and not line.startswith("[rollout"):
            break
        kept.append(line)
    return "\n".join(kept) + "\n"


@pytest.fixture
def core_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory and a plugins.toml with the project's [rollout] configuration and
    no plugin enabled: the rollout CLI sees only the core installed. Returns the data dir."""
    plugins_file = tmp_path / "plugins.toml"
    plugins_file.write_text("[logiq]\nenable_unlisted = false\n\n" + project_rollout_table())
    data_dir = tmp_path / "data"
    monkeypatch.setenv("LOGIQ_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOGIQ_PLUGINS_FILE", str(plugins_file))
    return data_dir
