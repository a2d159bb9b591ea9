"""Logiq's pytest plugin (registered by the pytest-logiq distribution, which `logiq[test]` brings):
fixtures for testing plugins end to end.

A plugin author needs nothing else::

    async def test_hello(logiq_harness):
        async with logiq_harness(["hello"], rollout={"hello": "stable"}) as h:
            reply = await h.command(h.demo.alice, "!hello world")
            assert reply["content"] == "Hello, world!"

``stoat_double`` is a running Stoat test double; ``logiq_harness`` builds a bot connected to a
double with the given plugins and the real embedded storage in a temporary directory. Both fail
the test if the bot sent anything the official Stoat API specification refuses.

No pytest-asyncio configuration is needed: an ``async def`` test that uses one of these
fixtures runs on asyncio whatever ``asyncio_mode`` the project sets (``strict``, the default,
included).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from logiq_core.testing.harness import BotHarness
from logiq_core.testing.stoat import StoatDouble
from logiq_core.testing.storage import SharedStorageServer, use_shared_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_violations: the test expects requests the Stoat API spec refuses"
    )
    config.addinivalue_line(
        "markers",
        "own_storage_server: bots built by BotHarness start an embedded storage server of their "
        "own instead of a database on the test run's shared one",
    )


def async_fixture(function: Any) -> Any:
    """A pytest-asyncio fixture (logiq[test] brings it); without it, pytest still starts here."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover
        return pytest.fixture(function)
    return pytest_asyncio.fixture(function, loop_scope="function")


LOGIQ_FIXTURES = frozenset({"logiq_harness", "stoat_double"})


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Mark async tests that use Logiq's fixtures for pytest-asyncio, so strict mode runs them."""
    name_filter = getattr(collector, "funcnamefilter", None)
    if not (inspect.iscoroutinefunction(obj) and name_filter is not None and name_filter(name)):
        return
    if not LOGIQ_FIXTURES & set(inspect.signature(obj).parameters):
        return
    # An asyncio mark of the test's own, its class's or its module's (one naming a loop_scope,
    # say) is kept: a plain one added here would come first and override it.
    marks = getattr(obj, "pytestmark", [])
    if collector.get_closest_marker("asyncio") is None and not any(
        getattr(mark, "name", None) == "asyncio" for mark in marks
    ):
        pytest.mark.asyncio(obj)


@pytest.fixture
def logiq_log_lines() -> Iterator[list[str]]:
    """Every line Logiq logs during the test, at every level (formatted as in the log file):
    to assert what was said, and what never was (a token, a secret, a member's payload)."""
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level=0)
    yield lines
    logger.remove(sink)


@pytest.fixture(scope="session")
def logiq_shared_storage_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SharedStorageServer]:
    """One embedded storage server per pytest process, started when a test first needs it."""
    server = SharedStorageServer(tmp_path_factory.mktemp("logiq-shared-storage"))
    yield server
    # The run's data is thrown away: the process ends without waiting for the server to close
    # the hundreds of databases the tests made (a second at the end of every worker).
    server.stop(wait=False)


@pytest.fixture(autouse=True)
def _logiq_storage_per_test(
    request: pytest.FixtureRequest, logiq_shared_storage_server: SharedStorageServer
) -> Iterator[None]:
    """BotHarness puts each test's data on the shared server, in a database of its own (named
    after its data directory), unless the test is marked ``own_storage_server`` (or
    ``LOGIQ_TEST_SHARED_STORAGE=0`` turns sharing off for the run)."""
    own = request.node.get_closest_marker("own_storage_server") is not None
    own = own or os.environ.get("LOGIQ_TEST_SHARED_STORAGE", "1") == "0"  # off: one per bot
    previous = use_shared_server(None if own else logiq_shared_storage_server)
    yield
    use_shared_server(previous)


def _assert_no_violations(request: pytest.FixtureRequest, double: StoatDouble) -> None:
    if request.node.get_closest_marker("allow_violations") is None and double.violations:
        pytest.fail("requests that break the Stoat API spec:\n" + "\n".join(double.violations))


@async_fixture
async def stoat_double(request: pytest.FixtureRequest) -> AsyncIterator[StoatDouble]:
    """A running Stoat test double on loopback (rate limits relaxed for speed)."""
    async with StoatDouble() as double:
        double.set_rate_limits(limits={name: 10_000 for name in double.rate_limiter.limits})
        yield double
        _assert_no_violations(request, double)


@async_fixture
async def logiq_harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[..., BotHarness]]:
    """A factory: ``logiq_harness(["plugin", ...], **options)`` → a :class:`BotHarness`."""
    made: list[BotHarness] = []
    counter = 0

    def make(plugins: list[str] | tuple[str, ...] = (), **options: Any) -> BotHarness:
        nonlocal counter
        counter += 1
        options.setdefault("data_dir", tmp_path / f"logiq-{counter}")
        harness = BotHarness(plugins, **options)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        _assert_no_violations(request, harness.double)
