"""How the sandbox shows times and Markdown in the terminal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from logiq_core.app.sandbox import StoatMarkdown, relative_time

NOW = datetime(2026, 12, 1, 20, 26, tzinfo=UTC)


def clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


@pytest.fixture(params=["UTC0", "CET-1", "EST5"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The machine's time zone, pinned (POSIX rules, no tz database needed): the expected texts
    below hold in zones where 20:26-21:26 UTC does not cross midnight, whatever TZ CI has."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_times_are_relative_then_local(local_zone: str) -> None:
    later = NOW + timedelta(hours=1)
    assert relative_time(later, NOW) == f"in 1 h, {clock(later)}"
    soon = NOW + timedelta(minutes=59, seconds=50)
    assert relative_time(soon, NOW) == f"in 1 h, {clock(soon)}"
    assert relative_time(NOW + timedelta(minutes=5), NOW).startswith("in 5 min, ")
    assert relative_time(NOW - timedelta(minutes=5), NOW).startswith("5 min ago, ")
    assert relative_time(NOW + timedelta(hours=1, minutes=30), NOW).startswith("in 1.5 h, ")
    late = datetime(2026, 12, 1, 23, 30).astimezone()
    assert (
        relative_time(late + timedelta(hours=1), late)
        == f"in 1 h, tomorrow {clock(late + timedelta(hours=1))}"
    )
    assert relative_time(late - timedelta(days=1), late) == f"24 h ago, yesterday {clock(late)}"
    far = relative_time(NOW + timedelta(days=3), NOW)
    assert far.startswith("in 3 days, ") and len(far.split(", ")[1]) > 5  # the day is named


def test_markdown_is_rendered_and_html_is_text() -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(StoatMarkdown("**Commands**: `ping`  \n<b>not html</b>"))
    text = console.export_text()
    assert "Commands: ping" in text and "**" not in text
    assert "<b>not html</b>" in text
