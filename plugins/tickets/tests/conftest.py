"""The ``h`` fixture: the tickets plugin on the double with the embedded storage, made with
Logiq's ``logiq_harness`` fixture (as docs/plugins.md teaches plugin authors)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tickets_support import tickets_harness

from logiq_core.testing.harness import BotHarness, LogiqHarness


@pytest.fixture
async def h(logiq_harness: LogiqHarness) -> AsyncIterator[BotHarness]:
    async with tickets_harness(logiq_harness) as harness:
        yield harness
