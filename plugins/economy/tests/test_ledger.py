"""The ledger on the real embedded storage, without Stoat: failures between steps, two processes
racing, a kill -9, idempotency, amounts, and the service other plugins use."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from logiq_economy.config import EconomyConfig
from logiq_economy.ledger import MAX_AMOUNT, AuditReport, Ledger, SimulatedCrash, utcnow
from logiq_economy.models import DOCUMENTS, Account, Entry, Holding, Item
from logiq_economy.service import AmountError, EconomyService, parse_amount

from logiq_core.framework.storage import Storage
from logiq_core.testing.poll import eventually
from logiq_core.testing.storage import storage_for

S = "01SERVER00000000000000000S"
MEMBERS = [f"member{i:02d}" for i in range(20)]


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    """A database of the test's own on the run's shared embedded server (no server start per
    test); tests where another process opens the data directory start their own server."""
    store = storage_for(tmp_path)  # blocks once, while the shared server starts
    await store.start(DOCUMENTS)
    yield store
    await store.stop()


async def balances() -> dict[str, int]:
    return {doc["owner"]: int(doc["balance"]) async for doc in Account.get_pymongo_collection().find({})}


async def recover_later(lease: float = 1.0, lock_path: Path | None = None) -> int:
    """A new process (a new ledger instance) recovering after the dead one's lease ran out."""
    return await Ledger(lease_seconds=lease, lock_path=lock_path).recover(
        now=utcnow() + timedelta(seconds=60)
    )


def crash_at(points: set[str]):  # type: ignore[no-untyped-def]
    def fail(name: str) -> None:
        if name in points:
            raise SimulatedCrash(name)

    return fail


@pytest.mark.parametrize(
    "text", ["-5", "0", "1.5", "1e3", "99999999999999999999", "abc", "١٢٣", "+5", " ", "1,000"]
)
def test_bad_amounts_are_refused_with_the_parameter_named(text: str) -> None:
    with pytest.raises(AmountError, match=r"^`price`"):
        parse_amount(text, "price")


def test_good_amounts() -> None:
    assert parse_amount("1") == 1
    assert parse_amount(str(MAX_AMOUNT)) == MAX_AMOUNT
    assert parse_amount("0", allow_zero=True) == 0


TRANSFER_POINTS = ["inserted", "step0", "step1", "finalized"]


@pytest.mark.parametrize("point", TRANSFER_POINTS)
async def test_a_failure_after_each_step_of_a_transfer_is_recovered(storage: Storage, point: str) -> None:
    economy = EconomyService()
    await economy.mint(S, "alice", 100, key="seed")
    economy.ledger.fail_at = crash_at({point})
    with pytest.raises(SimulatedCrash):
        await economy.transfer(S, "alice", "bob", 40, key="pay-1")
    assert await recover_later() == (0 if point == "finalized" else 1)
    held = await balances()
    committed = point != "inserted"
    assert (held["alice"], held["bob"]) == ((60, 40) if committed else (100, 0))
    report = await economy.audit(S)
    assert report.ok, report.discrepancies
    entry = await Entry.get_pymongo_collection().find_one({"key": "pay-1"})
    assert entry is not None and entry["status"] == ("applied" if committed else "failed")
    # The redelivered command gets the recorded outcome and moves nothing.
    economy.ledger.fail_at = None
    again = await economy.transfer(S, "alice", "bob", 40, key="pay-1")
    assert again.duplicate and again.status == entry["status"]
    assert await balances() == held


# A purchase of a once-only item with limited stock: reservations (holding, stock), then the
# member's debit (the commit point), then the shop's credit.
PURCHASE_POINTS = ["inserted", "step0", "step1", "step2", "step3", "finalized"]


async def shop_with_one_item(economy: EconomyService) -> Item:
    return await economy.add_item(S, "Hat", 30, role_id=None, stock=5, once=True, added_by="ada")


async def purchase_state(item: Item) -> tuple[int, int, int, int]:
    held = await balances()
    stock = (await Item.get_pymongo_collection().find_one({"_id": item.id}))["stock"]  # type: ignore[index]
    holding = await Holding.get_pymongo_collection().find_one({"_id": f"{S}:alice:{item.number}"})
    return held["alice"], held.get("@shop", 0), int(stock), int(holding["held"]) if holding else 0


@pytest.mark.parametrize("point", PURCHASE_POINTS)
async def test_a_failure_after_each_step_of_a_purchase_is_recovered(storage: Storage, point: str) -> None:
    economy = EconomyService()
    await economy.mint(S, "alice", 100, key="seed")
    item = await shop_with_one_item(economy)
    economy.ledger.fail_at = crash_at({point})
    with pytest.raises(SimulatedCrash):
        await economy.buy(S, "alice", item, 1, key="buy-1")
    await recover_later()
    committed = point in ("step2", "step3", "finalized")
    assert await purchase_state(item) == ((70, 30, 4, 1) if committed else (100, 0, 5, 0))
    report = await economy.audit(S)
    assert report.ok, report.discrepancies
    assert await Entry.get_pymongo_collection().count_documents({"status": "pending"}) == 0


@pytest.mark.parametrize("point", ["step0", "step1", "undo1", "undo0"])
async def test_a_failure_while_undoing_a_refused_purchase_is_recovered(storage: Storage, point: str) -> None:
    economy = EconomyService()
    await economy.mint(S, "alice", 10, key="seed")  # not enough for the hat
    item = await shop_with_one_item(economy)
    economy.ledger.fail_at = crash_at({point})
    with pytest.raises(SimulatedCrash):
        await economy.buy(S, "alice", item, 1, key="buy-1")
    await recover_later()
    assert await purchase_state(item) == (10, 0, 5, 0)  # the reservations were given back
    assert (await economy.audit(S)).ok


async def test_markers_are_cleared_once_entries_are_final(storage: Storage) -> None:
    economy = EconomyService(EconomyConfig(marker_grace_seconds=0.2))
    await economy.start()
    await economy.mint(S, "alice", 100, key="seed")
    for index in range(5):
        await economy.transfer(S, "alice", "bob", 1, key=f"t{index}")
    deadline = time.monotonic() + 5
    while True:
        marked = [d async for d in Account.get_pymongo_collection().find({}) if d["marks"] or d["voids"]]
        if not marked:
            break
        assert time.monotonic() < deadline, marked
        await asyncio.sleep(0.05)
    await economy.stop()


async def test_services_for_other_plugins_are_idempotent(storage: Storage) -> None:
    economy = EconomyService()
    first = await economy.mint(S, "winner", 500, key="giveaway:7", memo="prize")
    second = await economy.mint(S, "winner", 500, key="giveaway:7", memo="prize")
    assert first.ok and second.duplicate and second.entry_id == first.entry_id
    assert (await economy.transfer(S, "winner", "friend", 200, key="gift:1")).ok
    assert (await economy.burn(S, "winner", 100, key="fee:1")).ok
    refused = await economy.burn(S, "friend", 201, key="fee:2")
    assert not refused.ok and refused.reason == "insufficient funds"
    assert await balances() == {"@issuance": -500, "@sink": 100, "@shop": 0, "winner": 200, "friend": 200}
    with pytest.raises(ValueError):
        await economy.mint(S, "winner", 0, key="zero")
    with pytest.raises(ValueError):
        await economy.mint(S, "winner", MAX_AMOUNT + 1, key="huge")
    report = await economy.audit(S)
    assert report.ok and (report.minted, report.burned, report.members_total) == (500, 100, 400)


async def test_the_supply_cap_keeps_every_balance_within_the_bound(storage: Storage) -> None:
    economy = EconomyService()
    assert (await economy.mint(S, "a", MAX_AMOUNT, key="m1")).ok
    capped = await economy.mint(S, "b", 1, key="m2")
    assert not capped.ok and "limit" in capped.reason
    assert (await economy.burn(S, "a", 10, key="b1")).ok
    assert (await economy.mint(S, "b", 10, key="m3")).ok
    assert (await economy.audit(S)).ok


WORKER = textwrap.dedent(
    """
    import asyncio, random, sys
    from pathlib import Path
    from logiq_core.app.process import exit_without_final_collection
    from logiq_core.framework.storage import Storage
    from logiq_economy.config import EconomyConfig
    from logiq_economy.models import DOCUMENTS
    from logiq_economy.service import EconomyService

    async def main(data_dir, name, count, seed, lease):
        storage = Storage(None, Path(data_dir))
        await storage.start(DOCUMENTS)
        config = EconomyConfig(lease_seconds=lease)
        economy = EconomyService(config, lock_path=Path(data_dir) / "economy.lock")
        rng = random.Random(seed)
        members = [f"member{i:02d}" for i in range(20)]
        done = failed = 0

        async def one(index):
            nonlocal done, failed
            payer, payee = rng.sample(members, 2)
            outcome = await economy.transfer("SERVER_ID", payer, payee, rng.randint(1, 80), key=f"{name}:{index}")
            done += outcome.ok
            failed += not outcome.ok

        index = 0
        while count == 0 or index < count:
            await asyncio.gather(*(one(index + k) for k in range(4)))  # interleave within a process too
            index += 4
            if count == 0:
                print(index, flush=True)
        await economy.stop()
        print(f"{done} {failed}", flush=True)
        await storage.stop()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
    exit_without_final_collection()  # as `logiq` does
""".replace("SERVER_ID", S)
)


async def seed_members(economy: EconomyService) -> None:
    for member in MEMBERS:
        await economy.mint(S, member, 100, key=f"seed:{member}")


@pytest.mark.own_storage_server  # the workers open the same data directory from their processes
async def test_two_processes_making_200_random_transfers_each_keep_the_books(
    storage: Storage, tmp_path: Path
) -> None:
    economy = EconomyService(lock_path=tmp_path / "economy.lock")
    await seed_members(economy)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), name, "200", str(seed), "30"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed, name in enumerate(("p1", "p2"))
    ]
    outputs = [await asyncio.to_thread(worker.communicate, timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    done = sum(int(out.strip().split()[0]) for out, _ in outputs)
    assert done > 100  # most transfers succeed; the rest are refused for lack of funds
    report = await economy.audit(S)
    assert report.ok, report.discrepancies
    assert report.entries == 20 + 400 - sum(int(out.strip().split()[1]) for out, _ in outputs)
    held = await balances()
    assert sum(held[m] for m in MEMBERS) == 2000
    assert min(held[m] for m in MEMBERS) >= 0


@pytest.mark.own_storage_server  # the worker opens the same data directory from its process
async def test_a_kill_9_in_the_middle_of_transfers_is_recovered(storage: Storage, tmp_path: Path) -> None:
    economy = EconomyService(lock_path=tmp_path / "economy.lock")
    await seed_members(economy)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    worker = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), "k", "0", "9", "1"], stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    while True:  # let it get going, then kill it mid-flight
        line = await asyncio.to_thread(worker.stdout.readline)
        assert line, "the worker stopped"
        if int(line) >= 60:
            break
    os.kill(worker.pid, signal.SIGKILL)
    await asyncio.to_thread(worker.wait)

    async def recovered() -> AuditReport | None:
        # The dead worker's last request can still reach the database after it died (the server
        # reads its socket later), so recovery runs until nothing is pending, as the bot's
        # periodic recovery would; the books must balance at every look.
        await recover_later(1.0, tmp_path / "economy.lock")
        report = await economy.audit(S)
        assert report.ok, report.discrepancies
        return report if report.pending == 0 else None

    await eventually(recovered, timeout=10, message="an entry stayed pending after recovery")
    held = await balances()
    assert sum(held[m] for m in MEMBERS) == 2000 and min(held[m] for m in MEMBERS) >= 0
