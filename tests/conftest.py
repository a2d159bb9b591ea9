"""Shared fixtures for Logiq's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No LOGIQ_* variables from the developer's shell, and a fresh working directory."""
    for name in list(os.environ):
        if name.startswith("LOGIQ_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
