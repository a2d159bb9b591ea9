"""Repository-wide pytest hooks (whatever paths pytest is given): the slowest tests start first,
and the suite's time is printed for CI."""

from __future__ import annotations

import time

import pytest

_SESSION_STARTED = time.monotonic()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (tens of seconds or more) go first: with several workers, a long test that
    starts last keeps the whole run waiting on it alone while the other workers sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    suite_time(terminalreporter)


def suite_time(terminalreporter: pytest.TerminalReporter) -> None:
    """The suite's time, for CI logs: wall clock, and the test durations summed (what the run
    costs whatever the number of workers; compare this one between runs on a shared machine)."""
    reports = [
        report
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport)
    ]
    if not reports:
        return
    calls = [report.duration for report in reports if report.when == "call"]
    total = sum(report.duration for report in reports)
    slowest = sorted(calls, reverse=True)[:15]
    terminalreporter.write_sep(
        "=",
        f"suite time: {time.monotonic() - _SESSION_STARTED:.1f}s wall; {total:.1f}s summed over "
        f"{len(calls)} tests (calls {sum(calls):.1f}s, set-up and tear-down "
        f"{total - sum(calls):.1f}s); the 15 slowest {sum(slowest):.1f}s",
    )
