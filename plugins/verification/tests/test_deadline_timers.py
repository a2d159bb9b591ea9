"""Kick deadlines are durable core timers: set on join, cancelled on verify or leave."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from logiq_core.testing.harness import LogiqHarness


async def eventually_async(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_deadline_timer_is_set_on_join_and_cancelled_by_verifying_or_leaving(
    logiq_harness: LogiqHarness,
) -> None:
    async with logiq_harness(["verification"]) as h:
        assert h.bot is not None
        d, timers = h.demo, h.bot.contexts["verification"].timers
        reply = await h.command(d.owner_id, "!verification setup #verify @Verified @Unverified")
        assert reply["content"].startswith("Verification is on")
        await h.command(d.owner_id, "!verification kickafter 1h")
        old = datetime.now(UTC) - timedelta(days=400)
        stays, goes = h.double.create_user("sam", at=old).id, h.double.create_user("lou", at=old).id
        for user in (stays, goes):
            h.double.add_member(d.server_id, user)

        async def two_deadlines() -> bool:
            return {t.payload["user_id"] for t in await timers.list(d.server_id)} == {stays, goes}

        await eventually_async(two_deadlines)
        prompt = h.double.messages_in(d.channels["verify"])[0]
        await h.double.react_as(stays, d.channels["verify"], prompt["_id"], "✅")
        h.double.world.members.pop((d.server_id, goes))  # lou leaves on their own
        h.double.broadcast(
            {"type": "ServerMemberLeave", "id": d.server_id, "user": goes, "reason": "Leave"},
            server_id=d.server_id,
        )

        async def none_left() -> bool:
            return await timers.list(d.server_id) == []

        await eventually_async(none_left)
