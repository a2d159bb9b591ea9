"""Command throughput: prefix parsing and dispatch of a trivial command to a recorded reply.

1. Messages per second through the router (prefix, lookup, gate, permissions, arguments, the
   handler, the reply) with no network: the reply goes to a recording stand-in for Stoat.
2. The ``!ping`` round trip through the Stoat test double and a real bot (event to reply).

Run: ``python benchmarks/commands.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine

from logiq_core.app.log import configure_logging
from logiq_core.framework.commands import CommandContext, CommandRouter, command
from logiq_core.framework.context import PluginContext
from logiq_core.stoat.cache import Cache
from logiq_core.stoat.events import MessageEvent
from logiq_core.stoat.models import Member, MemberId, Server, User

MESSAGES = 50_000
SERVER, CHANNEL, AUTHOR, BOT = (
    "01AAAAAAAAAAAAAAAAAAAAAAAA",
    "01BBBBBBBBBBBBBBBBBBBBBBBB",
    "01CCCCCCCCCCCCCCCCCCCCCCCC",
    "01DDDDDDDDDDDDDDDDDDDDDDDD",
)


class RecordingAPI:
    """Records replies instead of sending them (no network in this measurement)."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = asyncio.Event()

    async def send_message(self, channel_id: str, content: str | None = None, **_: Any) -> None:
        self.sent += 1
        if self.sent >= MESSAGES:
            self.done.set()


class AlwaysOn:
    def is_enabled(self, feature: str, server_id: str | None) -> bool:
        return True


class NoMetrics:
    def finish(self, *args: Any) -> None: ...

    def record_feedback(self, *args: Any) -> None: ...


class Host:
    def __init__(self) -> None:
        from logiq_core.stoat.models import Channel

        self.api = RecordingAPI()
        self.cache = Cache()
        self.cache.servers[SERVER] = Server(id=SERVER, owner=AUTHOR, name="bench")
        self.cache.channels[CHANNEL] = Channel(id=CHANNEL, channel_type="TextChannel", server=SERVER)
        self.cache.users[AUTHOR] = User(id=AUTHOR, username="bencher")
        self.cache.remember_member(Member(id=MemberId(server=SERVER, user=AUTHOR)))
        self.gate, self.metrics, self.user_id = AlwaysOn(), NoMetrics(), BOT
        self._context = PluginContext("bench", self, {})  # type: ignore[arg-type]

    def features(self) -> list[str]:
        return ["bench"]

    def plugin_context(self, feature: str) -> PluginContext:
        return self._context


@command("add", description="Add two numbers")
async def add(ctx: CommandContext, a: int, b: int) -> None:
    await ctx.reply(str(a + b))


async def router_rate() -> float:
    host = Host()
    router = CommandRouter(host)  # type: ignore[arg-type]
    router.register(add, "bench")
    router.settings.prefixes[SERVER] = "!"
    events = [
        MessageEvent(
            id=f"01M{n:023d}", channel=CHANNEL, author=AUTHOR, content=f"!add {n} 2", server_id_hint=SERVER
        )
        for n in range(MESSAGES)
    ]
    started = time.perf_counter()
    for event in events:
        router.handle_message(event)
    await host.api.done.wait()
    return MESSAGES / (time.perf_counter() - started)


async def ping_round_trip(rounds: int = 300) -> list[float]:
    from logiq_core.testing.harness import BotHarness

    async with BotHarness(data_dir=Path(tempfile.mkdtemp())) as h:
        member = h.demo.member_ids[0]
        for _ in range(20):
            await h.command(member, "!ping")
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await h.command(member, "!ping")
            times.append(time.perf_counter() - started)
        return times


async def main() -> None:
    configure_logging("ERROR")
    print(f"Command benchmarks ({machine()})")
    rate = await router_rate()
    print(f"1. prefix parsing + dispatch of `!add N 2` to a recorded reply: {rate:,.0f} messages/s")
    times = await ping_round_trip()
    print(
        f"2. !ping round trip through the Stoat test double: p50 {statistics.median(times) * 1000:.2f} ms, "
        f"p99 {sorted(times)[int(len(times) * 0.99) - 1] * 1000:.2f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
