"""``logiq sandbox`` serves a small feed itself: a manager adds it and sees a new item once."""

from __future__ import annotations

from typing import Any

from logiq_social_alerts.service import AlertsService
from rich.console import Console

from logiq_core.app.sandbox import SandboxSession, _start_sandbox_feed
from logiq_core.framework.policy import PluginPolicy, Policy
from logiq_core.testing.clock import FakeClock


async def test_sandbox_feed_item_is_announced_once(logiq_harness: Any) -> None:
    listed = Policy(plugins={"social_alerts": PluginPolicy("social_alerts")}, enable_unlisted=False)
    feed, policy = await _start_sandbox_feed(listed)
    config = policy.plugins["social_alerts"].config
    assert feed is not None and config["min_interval_seconds"] <= 5
    assert policy.http_allow == ("127.0.0.1/32",)  # only the sandbox's own loopback feed
    # The sandbox's poll interval passes on a clock moved by hand, not in real time.
    interval = float(config["default_interval_seconds"]) + 0.01  # just past due (no float ties)
    clock = FakeClock()
    try:
        async with logiq_harness(policy=policy, clock=clock) as h:
            await h.count_as_internal(True)
            reply = await h.command(h.demo.owner_id, f"!alerts add {feed.url} #lounge", timeout=10)
            assert "Alert #1" in reply["content"], reply
            session = SandboxSession(h, console=Console(quiet=True))
            session.feed = feed
            lounge = h.channel_id("lounge")
            await session.handle("/feed Hello from the sandbox")
            clock.advance(interval)  # one sandbox interval later, the poll round finds the item
            await h.bot.timers.run_due()
            posted = await h.eventually(
                lambda: next((m for m in h.double.messages_in(lounge) if m.get("embeds")), None)
            )
            assert posted["embeds"][0]["title"] == "Hello from the sandbox"
            # the timers keep polling: after another interval the feed was checked again, and
            # the item is not announced again
            service = h.bot.contexts["social_alerts"].get(AlertsService)
            checked = (await service.feed(feed.url)).last_check_ts
            clock.advance(interval)
            await h.bot.timers.run_due()
            assert (await service.feed(feed.url)).last_check_ts > checked, "the feed was not polled again"
            await h.settle()
            assert len([m for m in h.double.messages_in(lounge) if m.get("masquerade")]) == 1
    finally:
        await feed.stop()
