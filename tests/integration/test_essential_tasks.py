"""A task that must live as long as the bot stops the bot, with a logged reason, when it dies."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from logiq_core.app.bot import EssentialTaskStopped
from logiq_core.app.log import configure_logging
from logiq_core.testing.harness import BotHarness


async def test_a_dead_rollout_watcher_stops_the_bot_and_says_why(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    async with BotHarness(data_dir=tmp_path) as h:
        assert h.bot is not None
        (watcher,) = [task for task in asyncio.all_tasks() if task.get_name() == "rollout-watcher"]
        watcher.cancel()
        with pytest.raises(
            EssentialTaskStopped, match=r"rollout-watcher stopped unexpectedly \(it was cancelled\)"
        ):
            async with asyncio.timeout(10):
                await h.bot.wait_closed()
    assert "rollout-watcher stopped unexpectedly" in stream.getvalue()
