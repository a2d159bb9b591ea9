"""Writes per second the storage sustains: the budget plugins such as leveling and economy spend.

Measures, on the embedded nx-27017 server (or the MongoDB at ``LOGIQ_MONGODB_URI`` when set),
single-document updates, upserts, conditional find-and-modify and inserts per second, raw
(pymongo's async client, as the core uses it) and through Beanie, one at a time and with 8 in
flight; then prints what a server of N active members costs in writes per minute.
Run: ``python benchmarks/storage.py [seconds per figure]``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from beanie import Document
from beanie.odm.operators.update.general import Inc
from beanie.odm.queries.update import UpdateResponse
from loguru import logger
from pymongo import ASCENDING, IndexModel, ReturnDocument

from logiq_core.framework.storage import Storage

USERS = 1000


class BenchMember(Document):
    server_id: str
    user_id: str
    xp: int = 0
    coins: int = 1_000_000

    class Settings:
        name = "bench_members"
        indexes = [IndexModel([("server_id", ASCENDING), ("user_id", ASCENDING)], unique=True)]


class BenchEvent(Document):
    server_id: str
    user_id: str
    amount: int

    class Settings:
        name = "bench_events"


async def rate(operation: Callable[[int], Awaitable[object]], seconds: float, in_flight: int) -> float:
    """Operations per second over ``seconds``, with ``in_flight`` callers at once."""
    counter = itertools.count()
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await operation(next(counter))
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return done / (time.perf_counter() - started)


async def main(seconds: float) -> None:
    logger.remove()
    uri = os.environ.get("LOGIQ_MONGODB_URI")
    with tempfile.TemporaryDirectory(prefix="logiq-bench-") as data_dir:
        storage = Storage(uri, Path(data_dir))
        await storage.start([BenchMember, BenchEvent])
        members = BenchMember.get_pymongo_collection()
        events = BenchEvent.get_pymongo_collection()
        await members.delete_many({})
        await events.delete_many({})
        await members.insert_many(
            [{"server_id": "S", "user_id": f"u{i}", "xp": 0, "coins": 1_000_000} for i in range(USERS)]
        )

        def user(n: int) -> str:
            return f"u{n % USERS}"

        raw: dict[str, Callable[[int], Awaitable[object]]] = {
            "update ($inc one member)": lambda n: members.update_one(
                {"server_id": "S", "user_id": user(n)}, {"$inc": {"xp": 1}, "$set": {"last": float(n)}}
            ),
            "upsert ($inc, member may be new)": lambda n: members.update_one(
                {"server_id": "S", "user_id": f"new{n % (USERS * 4)}"}, {"$inc": {"xp": 1}}, upsert=True
            ),
            "conditional find-and-modify": lambda n: members.find_one_and_update(
                {"server_id": "S", "user_id": user(n), "coins": {"$gte": 1}},
                {"$inc": {"coins": -1}},
                return_document=ReturnDocument.AFTER,
            ),
            "insert": lambda n: events.insert_one({"server_id": "S", "user_id": user(n), "amount": n}),
        }

        async def beanie_update(n: int) -> object:
            query = BenchMember.find_one(BenchMember.server_id == "S", BenchMember.user_id == user(n))
            return await query.update(Inc({BenchMember.xp: 1}))

        async def beanie_upsert(n: int) -> object:
            user_id = f"b{n % (USERS * 4)}"
            query = BenchMember.find_one(BenchMember.server_id == "S", BenchMember.user_id == user_id)
            return await query.upsert(
                Inc({BenchMember.xp: 1}), on_insert=BenchMember(server_id="S", user_id=user_id, xp=1)
            )

        async def beanie_find_and_modify(n: int) -> object:
            query = BenchMember.find_one(
                BenchMember.server_id == "S", BenchMember.user_id == user(n), BenchMember.coins >= 1
            )
            return await query.update(Inc({BenchMember.coins: -1}), response_type=UpdateResponse.NEW_DOCUMENT)

        async def beanie_insert(n: int) -> object:
            return await BenchEvent(server_id="S", user_id=user(n), amount=n).insert()

        through_beanie: dict[str, Callable[[int], Awaitable[object]]] = {
            "update ($inc one member)": beanie_update,
            "upsert ($inc, member may be new)": beanie_upsert,
            "conditional find-and-modify": beanie_find_and_modify,
            "insert": beanie_insert,
        }

        print(f"Storage writes per second on {storage.description} ({machine()}), {seconds:g} s per figure")
        print(f"{'operation':36} {'raw 1':>9} {'raw 8':>9} {'Beanie 1':>9} {'Beanie 8':>9}")
        figures: dict[str, float] = {}
        for name in raw:
            row = []
            for table in (raw, through_beanie):
                for in_flight in (1, 8):
                    value = await rate(table[name], seconds, in_flight)
                    row.append(value)
            figures[name] = row[0]
            print(f"{name:36} " + " ".join(f"{value:9.0f}" for value in row))
        print("(raw: pymongo's async client as the core uses it; 1 / 8: operations in flight at once)")

        update_rate = figures["update ($inc one member)"]
        modify_rate = figures["conditional find-and-modify"]
        print()
        print("Budget: a member chatting all the time earns leveling XP and economy coins at most once a")
        print("minute each (the usual per-member cooldown): one $inc update each, so N active members")
        print("cost N leveling + N economy writes per minute; a shop purchase or transfer is one")
        print("conditional find-and-modify (plus one insert for a ledger line).")
        print(f"{'active members':>15} {'writes/min':>11} {'share of one-at-a-time capacity':>33}")
        capacity_per_minute = update_rate * 60
        for active in (100, 1_000, 10_000, 50_000):
            writes = 2 * active
            print(f"{active:15,} {writes:11,} {writes / capacity_per_minute:33.1%}")
        print(
            f"Capacity: ~{capacity_per_minute:,.0f} updates/min, so ~{capacity_per_minute / 2:,.0f} members "
            f"active every minute across all servers; ~{modify_rate * 60:,.0f} purchases/min."
        )
        await storage.database.drop_collection("bench_members")
        await storage.database.drop_collection("bench_events")
        await storage.stop()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0))
