"""Leveling: messages/s through the XP listener with 10,000 active members, and the rank card.

A real bot (the Stoat test double, the embedded nx-27017 storage) with the leveling plugin; the
listener (``logiq_leveling.plugin.xp_listener``) is called for every message as the gateway
would, while the flush loop writes XP in the background once a second. Afterwards the stored XP
must add up to exactly the XP awarded. Two rounds: the default 60 s cooldown (each member earns
once), and no cooldown (every message earns; flushes coalesce each member's XP into one write).
Run: ``python benchmarks/leveling.py`` (needs ``pip install ".[leveling]"``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, random_server_ids, verdict
from logiq_leveling.card import CardFacts, render_card
from logiq_leveling.models import MemberXp
from logiq_leveling.plugin import xp_listener
from logiq_leveling.service import LevelingService

from logiq_core.stoat.events import MessageEvent
from logiq_core.stoat.models import Member, MemberId
from logiq_core.testing.harness import BotHarness

GOAL_RATE = 5_000
GOAL_CARD_MS = 50.0
MEMBERS = 10_000
MESSAGES = 50_000


async def one_round(cooldown: float) -> None:
    config = {"leveling": {"cooldown_seconds": cooldown}}
    with tempfile.TemporaryDirectory() as data_dir:
        async with BotHarness(["leveling"], data_dir=Path(data_dir), plugin_config=config) as h:
            assert h.bot is not None
            ctx = h.bot.contexts["leveling"]
            service = ctx.get(LevelingService)
            server_id, channel_id = h.demo.server_id, h.channel_id(None)
            members = random_server_ids(MEMBERS, seed=7)
            role = h.demo.roles["Member"]
            for user_id in members:
                ctx.cache.remember_member(Member(id=MemberId(server_id, user_id), roles=[role]))
            events = [
                MessageEvent(
                    id=f"M{index}",
                    channel=channel_id,
                    author=members[(index * 7919) % MEMBERS],
                    content=f"hello there, message number {index}",
                    server_id_hint=server_id,
                )
                for index in range(MESSAGES)
            ]
            await xp_listener(ctx, events[0])  # the first message loads the server's cooldowns
            started = time.perf_counter()
            for index, event in enumerate(events[1:], start=1):
                await xp_listener(ctx, event)
                if index % 200 == 0:
                    await asyncio.sleep(0)  # the gateway yields between frames; so does this loop
            elapsed = time.perf_counter() - started
            rate = (MESSAGES - 1) / elapsed
            flush_started = time.perf_counter()
            await service.flush()
            drained = time.perf_counter() - flush_started
            collection = MemberXp.get_pymongo_collection()
            stored = sum([doc["xp"] async for doc in collection.find({"server_id": server_id}, {"xp": 1})])
            active = len({event.author for event in events})
            label = f"cooldown {cooldown:g}s"
            print(
                f"  {label}: {rate:,.0f} messages/s through the listener, {active:,} active members "
                f"(goal: at least {GOAL_RATE:,}/s) -> {verdict(rate >= GOAL_RATE)}"
            )
            print(
                f"    XP awarded {service.awarded_total:,}, stored {stored:,} "
                f"-> {verdict(stored == service.awarded_total)}; last flush after the run took {drained:.2f}s"
            )


def card_times(count: int = 100) -> None:
    facts = CardFacts("alice the very talkative", 42, 5_123, 9_410, 301_377, 3, 10_000)
    render_card(facts)  # fonts and the background are drawn once
    times = []
    for _ in range(count):
        started = time.perf_counter()
        render_card(facts)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p50, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
    print(
        f"  rank card 1050x450 PNG: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(goal: p95 under {GOAL_CARD_MS:.0f} ms) -> {verdict(p95 < GOAL_CARD_MS)}"
    )


async def main() -> None:
    print(f"Leveling: {MESSAGES:,} messages from {MEMBERS:,} members, embedded storage ({machine()})")
    await one_round(60)
    await one_round(0)
    card_times()


if __name__ == "__main__":
    asyncio.run(main())
