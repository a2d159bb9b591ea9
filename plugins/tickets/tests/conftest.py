"""The ``h`` fixture: the tickets plugin on the double with the embedded storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tickets_support import start

from logiq_core.testing.harness import BotHarness


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = await start(tmp_path)
    try:
        yield harness
        # Every request the bot made conformed to Stoat's OpenAPI specification.
        assert harness.double.violations == []
    finally:
        await harness.__aexit__(None, None, None)
