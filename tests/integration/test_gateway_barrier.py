"""``Gateway.round_trip()``: once its Pong is back, every event Stoat sent before has arrived.

``BotHarness.settle()`` starts with one (then drains listeners and commands), and so does the
scripted sandbox after each line, instead of guessing from a moment of quiet, which a command
held by the rate limiter can outlast.
"""

from __future__ import annotations

from pathlib import Path

from logiq_core.plugin import Listener, MessageEvent, PluginContext
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.plugins import ListenerPlugin

HEARD: list[str] = []


async def hear(ctx: PluginContext, event: MessageEvent) -> None:
    HEARD.append(event.content or "")


EARS = ListenerPlugin("hears every message", Listener(MessageEvent, hear))


async def test_after_a_round_trip_and_a_settle_every_earlier_event_was_handled(tmp_path: Path) -> None:
    HEARD.clear()
    async with BotHarness(data_dir=tmp_path, extra_plugins={"ears": EARS}) as h:
        assert h.bot is not None and h.bot.gateway is not None
        pongs = h.double.pongs_sent
        words = [f"word {n}" for n in range(20)]
        for word in words:  # sent by the double at once, no waiting in between
            await h.double.send_message_as(h.demo.alice, h.channel_id(None), word)
        await h.bot.gateway.round_trip()
        assert h.double.pongs_sent == pongs + 1
        await h.settle()
        assert HEARD == words  # all of them, in order, with no polling
        assert h.double.pongs_sent == pongs + 2  # settle() made its own round trip
