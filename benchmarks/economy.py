"""Economy ledger: transfers per second, compared with the storage's raw update rate; the audit.

1. The embedded server's raw single-document update rate (``update_one`` with ``$inc``), in the
   same run, as the unit: one round trip.
2. Transfers per second through :class:`EconomyService` (as the bot runs it: with the file lock
   the embedded server needs), one at a time and 8 at once. The ratio to (1) is the number of
   round trips a transfer costs; the goal is at most 4.
3. Transfers per second end to end through ``!pay`` (the Stoat test double, a real bot).
4. ``audit`` of a server with 100,000 entries: its result and its time. The entries are written
   in bulk in the ledger's own shape (posting 100,000 through the service would take minutes).

Run: ``python benchmarks/economy.py``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, verdict
from logiq_economy.ledger import ISSUANCE, SINK, account_id, new_entry_id, to_ms
from logiq_economy.models import DOCUMENTS, Account, Entry
from logiq_economy.service import EconomyService

from logiq_core.app.log import configure_logging
from logiq_core.framework.storage import Storage

SERVER = "01BENCHSERVER0000000000000"
MEMBERS = [f"member{i:02d}" for i in range(20)]
ROUNDS = 5
RAW_UPDATES = 1500
TRANSFERS = 500
PAYS = 200
AUDIT_ENTRIES = 100_000


async def raw_updates(storage: Storage, count: int) -> float:
    collection = storage.database["economy_bench_raw"]
    await collection.update_one({"_id": "x"}, {"$setOnInsert": {"value": 0}}, upsert=True)
    started = time.perf_counter()
    for _ in range(count):
        await collection.update_one({"_id": "x"}, {"$inc": {"value": 1}})
    return count / (time.perf_counter() - started)


async def rates(storage: Storage, data_dir: Path) -> tuple[list[float], list[float], float, bool]:
    """Raw updates and transfers measured in alternating rounds (the machine may be shared)."""
    economy = EconomyService(lock_path=data_dir / "economy.lock")
    await economy.start()
    for member in MEMBERS:
        await economy.mint(SERVER, member, 1_000_000, key=f"seed:{member}")
    rng = random.Random(7)
    counter = iter(range(10**9))

    async def transfer() -> None:
        payer, payee = rng.sample(MEMBERS, 2)
        await economy.transfer(SERVER, payer, payee, rng.randint(1, 100), key=f"bench:{next(counter)}")

    for _ in range(50):  # warm up
        await transfer()
    await raw_updates(storage, 50)
    raw, transfers = [], []
    for _ in range(ROUNDS):
        raw.append(await raw_updates(storage, RAW_UPDATES // ROUNDS))
        started = time.perf_counter()
        for _ in range(TRANSFERS // ROUNDS):
            await transfer()
        transfers.append(TRANSFERS // ROUNDS / (time.perf_counter() - started))
    started = time.perf_counter()
    for _ in range(0, TRANSFERS, 8):
        await asyncio.gather(*(transfer() for _ in range(8)))
    concurrent = TRANSFERS / (time.perf_counter() - started)
    report = await economy.audit(SERVER)
    await economy.stop()
    return raw, transfers, concurrent, report.ok


async def pay_rate() -> float:
    from logiq_core.app.rollout.service import RolloutService
    from logiq_core.testing.harness import BotHarness

    async with BotHarness(["economy"], data_dir=Path(tempfile.mkdtemp())) as h:
        assert h.bot is not None
        await RolloutService(h.bot.gate.store, [], "bench").whitelist("economy", h.demo.server_id, True)
        await h.bot.gate.refresh()
        alice, bob = h.demo.member_ids[0], h.demo.member_ids[1]
        await h.command(h.demo.owner_id, f"!economy give <@{alice}> 1000000")
        for _ in range(20):
            await h.command(alice, f"!pay <@{bob}> 1")
        started = time.perf_counter()
        for _ in range(PAYS):
            reply = await h.command(alice, f"!pay <@{bob}> 1")
            assert reply["content"].startswith("Paid"), reply["content"]
        return PAYS / (time.perf_counter() - started)


async def audit_of_many_entries(storage: Storage) -> tuple[Any, float]:
    """Write AUDIT_ENTRIES applied entries (mints, then transfers) and the balances they imply."""
    server = "01AUDITSERVER0000000000000"
    rng = random.Random(11)
    balances = dict.fromkeys(MEMBERS, 0)
    issuance = 0
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    written = 0
    entries = Entry.get_pymongo_collection()
    started = time.perf_counter()
    for index in range(AUDIT_ENTRIES):
        if index < len(MEMBERS) * 5 or rng.random() < 0.05:
            member = rng.choice(MEMBERS)
            amount = rng.randint(100, 10_000)
            steps = [
                {
                    "c": "a",
                    "id": account_id(server, ISSUANCE),
                    "inc": {"balance": -amount, "outstanding": amount},
                },
                {"c": "a", "id": account_id(server, member), "inc": {"balance": amount}},
            ]
            issuance -= amount
            balances[member] += amount
            kind = "mint"
        else:
            payer, payee = rng.sample(MEMBERS, 2)
            amount = rng.randint(1, max(1, balances[payer] // 4)) if balances[payer] else 0
            if amount == 0:
                continue
            steps = [
                {"c": "a", "id": account_id(server, payer), "inc": {"balance": -amount}},
                {"c": "a", "id": account_id(server, payee), "inc": {"balance": amount}},
            ]
            balances[payer] -= amount
            balances[payee] += amount
            kind = "transfer"
        batch.append(
            {
                "_id": new_entry_id(),
                "server_id": server,
                "key": f"bulk:{index}",
                "kind": kind,
                "steps": steps,
                "commit": 0,
                "accounts": [s["id"] for s in steps],
                "memo": "",
                "status": "applied",
                "owner": "bench",
                "lease_until": 0,
                "created_at": now + timedelta(microseconds=index),
                "finalized_at": to_ms(now),
                "after": {},
            }
        )
        if len(batch) == 5000:
            await entries.insert_many(batch, ordered=False)
            written += len(batch)
            batch = []
    if batch:
        await entries.insert_many(batch, ordered=False)
        written += len(batch)
    accounts = Account.get_pymongo_collection()
    docs = [
        {
            "_id": account_id(server, m),
            "server_id": server,
            "owner": m,
            "kind": "member",
            "balance": b,
            "outstanding": 0,
            "marks": [],
            "voids": [],
        }
        for m, b in balances.items()
    ]
    docs.append(
        {
            "_id": account_id(server, ISSUANCE),
            "server_id": server,
            "owner": ISSUANCE,
            "kind": "issuance",
            "balance": issuance,
            "outstanding": -issuance,
            "marks": [],
            "voids": [],
        }
    )
    docs.append(
        {
            "_id": account_id(server, SINK),
            "server_id": server,
            "owner": SINK,
            "kind": "sink",
            "balance": 0,
            "outstanding": 0,
            "marks": [],
            "voids": [],
        }
    )
    await accounts.insert_many(docs)
    print(f"   (wrote {written:,} entries in {time.perf_counter() - started:.1f} s)")
    economy = EconomyService()
    report = await economy.audit(server)
    return report, report.seconds


async def main() -> None:
    configure_logging("ERROR")
    print(f"Economy ledger benchmarks ({machine()}, embedded nx-27017)")
    data_dir = Path(tempfile.mkdtemp())
    storage = Storage(None, data_dir)
    await storage.start(DOCUMENTS)
    try:
        raw, transfers, concurrent, ok = await rates(storage, data_dir)
        ratios = sorted(r / t for r, t in zip(raw, transfers, strict=True))
        trips = statistics.median(ratios)
        print(
            f"1. raw single-document update ($inc): {statistics.median(raw):,.0f} updates/s "
            f"(one round trip; rounds: {', '.join(f'{r:.0f}' for r in raw)})"
        )
        print(
            f"2. transfers through the service: {statistics.median(transfers):,.0f}/s one at a time "
            f"(rounds: {', '.join(f'{t:.0f}' for t in transfers)}) = {trips:.2f} raw updates' time each "
            f"(4 round trips by construction; goal <= 4: {verdict(trips <= 4)}); "
            f"{concurrent:,.0f}/s 8 at once; audit after them: {'OK' if ok else 'FAILED'}"
        )
        report, seconds = await audit_of_many_entries(storage)
    finally:
        await storage.stop()
    pays = await pay_rate()
    print(
        f"3. !pay end to end through the Stoat test double: {pays:,.1f} transfers/s "
        f"({1000 / pays:.1f} ms each, reply included)"
    )
    status = "Audit OK" if report.ok else f"Audit found {len(report.discrepancies)} discrepancies"
    print(
        f"4. audit of {report.entries:,} entries / {report.accounts} accounts: {status} in {seconds:.2f} s "
        f"(members hold {report.members_total:,} = minted {report.minted:,} - burned {report.burned:,})"
    )


if __name__ == "__main__":
    asyncio.run(main())
