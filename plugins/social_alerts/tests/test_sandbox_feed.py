"""``logiq sandbox`` serves a small feed itself: a manager adds it and sees a new item once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from logiq_social_alerts.service import AlertsService
from rich.console import Console

from logiq_core.app.sandbox import SandboxSession, _start_sandbox_feed
from logiq_core.framework.policy import PluginPolicy, Policy


async def test_sandbox_feed_item_is_announced_once(logiq_harness: Any) -> None:
    listed = Policy(plugins={"social_alerts": PluginPolicy("social_alerts")}, enable_unlisted=False)
    feed, policy = await _start_sandbox_feed(listed)
    assert feed is not None and policy.plugins["social_alerts"].config["min_interval_seconds"] <= 5
    assert policy.http_allow == ("127.0.0.1/32",)  # only the sandbox's own loopback feed
    try:
        async with logiq_harness(policy=policy) as h:
            await h.count_as_internal(True)
            reply = await h.command(h.demo.owner_id, f"!alerts add {feed.url} #lounge", timeout=10)
            assert "Alert #1" in reply["content"], reply
            session = SandboxSession(h, console=Console(quiet=True))
            session.feed = feed
            lounge = h.channel_id("lounge")
            waiter = h.double.wait_for_message(channel_id=lounge, timeout=30)
            await session.handle("/feed Hello from the sandbox")
            posted = await waiter
            assert posted["embeds"][0]["title"] == "Hello from the sandbox"
            # the real timer loop keeps polling: wait for another poll, the item is not announced again
            service = h.bot.contexts["social_alerts"].get(AlertsService)
            checked = (await service.feed(feed.url)).last_check_ts
            deadline = time.monotonic() + 30
            while (await service.feed(feed.url)).last_check_ts == checked:
                assert time.monotonic() < deadline, "the feed was not polled again"
                await asyncio.sleep(0.2)
            assert len([m for m in h.double.messages_in(lounge) if m.get("masquerade")]) == 1
    finally:
        await feed.stop()
