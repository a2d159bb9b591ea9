"""A double-entry ledger that stays correct without database transactions.

MongoDB transactions need a replica set and the embedded nx-27017 server's are not proven, so
every change is built from single-document atomic updates:

1. The entry is inserted as ``pending`` with all its steps and an idempotency key (unique per
   server): a redelivered command hits the key and gets the first outcome back.
2. Its steps are applied in order. A step is one conditional ``$inc`` on one document that also
   pushes the entry id onto the document's ``marks`` (and only matches when neither ``marks``
   nor ``voids`` holds it), so a step applies at most once, whoever retries it. Guarded steps
   carry a bound (``balance >= amount`` for a member's debit, the issuance cap for a mint, the
   stock of a shop item) that is part of the same update.
3. The last guarded step is the entry's *commit point*. If it fails, earlier guarded steps
   (reservations such as stock) are undone, each by an update conditional on its marker, and the
   entry is marked ``failed``. If it succeeds, the remaining steps cannot fail (credits need no
   guard: the issuance cap keeps every balance under :data:`MAX_AMOUNT`) and the entry is marked
   ``applied``.
4. Markers of final entries are pulled in the background, in batches.

A transfer is therefore four round trips: insert, debit, credit, mark applied.

Recovery (at start-up and periodically) claims each pending entry whose lease has expired and
decides it from the commit step's document: if the marker is there, it rolls the rest forward; if
not, it first *voids* the commit step (pushes the id onto ``voids`` so nobody can apply it later),
undoes the reservations and marks the entry failed. A live applier never writes after its own
lease has expired, so recovery and the process that created an entry never both drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from logiq_core.plugin import DataDirLock, count_matching
from logiq_economy.models import Account, Entry, Holding, Item

MAX_AMOUNT = 10**15
"""The largest amount of any command, and the cap on a server's coins in circulation (so no
account can ever hold more)."""

ISSUANCE, SINK, SHOP = "@issuance", "@sink", "@shop"
SYSTEM_OWNERS = (ISSUANCE, SINK, SHOP)
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

COLLECTIONS = {"a": Account, "i": Item, "h": Holding}
FAILURE_REASONS = {
    "funds": "insufficient funds",
    "cap": "the server's coin supply would exceed the limit",
    "stock": "out of stock",
    "once": "already owned",
    "held": "the items are no longer held",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds: times that are ``$set`` are stored as integers (nx-27017 stores a
    ``$set`` datetime as a string, which neither compares nor reads back as a datetime)."""
    return int(moment.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def account_id(server_id: str, owner: str) -> str:
    return f"{server_id}:{owner}"


def owner_of(account: str) -> str:
    return account.rsplit(":", 1)[1]


def _unmarked(entry_id: str) -> dict[str, Any]:
    """Neither applied nor voided here. (``$nin``, not ``$ne``: on an array, nx-27017 compares
    ``$ne`` with the whole array, where MongoDB means "no element equals".)"""
    return {"marks": {"$nin": [entry_id]}, "voids": {"$nin": [entry_id]}}


def new_entry_id() -> str:
    """A short id people can type (10 characters, 50 random bits)."""
    bits = secrets.randbits(50)
    return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(10))


class SimulatedCrash(Exception):
    """Raised by a test's failure injection to stop a process between two ledger writes."""


class LeaseExpired(Exception):
    """This process took too long on an entry; recovery owns it now."""


@dataclass(frozen=True, slots=True)
class Step:
    """One atomic change to one document: ``$inc`` of ``inc``, optionally bounded.

    ``collection`` is ``a`` (accounts), ``i`` (shop items) or ``h`` (holdings). The guard keeps
    ``field`` within ``[low, high]`` *before* the increment; ``why`` names the failure.
    """

    collection: str
    id: str
    inc: dict[str, int]
    field: str | None = None
    low: int | None = None
    high: int | None = None
    why: str = ""

    @property
    def guarded(self) -> bool:
        return self.field is not None

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"c": self.collection, "id": self.id, "inc": dict(self.inc)}
        if self.field is not None:
            doc.update(f=self.field, lo=self.low, hi=self.high, why=self.why)
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Step:
        return cls(
            doc["c"],
            doc["id"],
            {k: int(v) for k, v in doc["inc"].items()},
            doc.get("f"),
            doc.get("lo"),
            doc.get("hi"),
            doc.get("why", ""),
        )

    def negated(self, limit: int | None = None) -> Step:
        """The compensating step, with the guard the new direction needs."""
        inc = {k: -v for k, v in self.inc.items()}
        return guard_step(Step(self.collection, self.id, inc), limit)


def guard_step(step: Step, limit: int | None = None) -> Step:
    """Add the guard a step needs from what it changes (``limit``: a holding's maximum)."""
    c, inc = step.collection, step.inc
    if c == "a" and inc.get("outstanding", 0) > 0:
        return Step(c, step.id, inc, "outstanding", None, MAX_AMOUNT - inc["outstanding"], "cap")
    if c == "a" and inc.get("balance", 0) < 0 and owner_of(step.id) not in (ISSUANCE, SINK):
        return Step(c, step.id, inc, "balance", -inc["balance"], None, "funds")
    if c == "i" and inc.get("stock", 0) < 0:
        return Step(c, step.id, inc, "stock", -inc["stock"], None, "stock")
    if c == "h" and inc.get("held", 0) < 0:
        return Step(c, step.id, inc, "held", -inc["held"], None, "held")
    if c == "h" and limit is not None and inc.get("held", 0) > 0:
        return Step(c, step.id, inc, "held", None, limit - inc["held"], "once")
    return step


def order_steps(steps: Sequence[Step]) -> tuple[list[Step], int]:
    """Reservations first, then the money debit that commits, then what cannot fail."""
    ids = [(s.collection, s.id) for s in steps]
    if len(set(ids)) != len(ids):
        raise ValueError("an entry changes each document at most once")
    reservations = [s for s in steps if s.guarded and s.collection != "a"]
    money = [s for s in steps if s.guarded and s.collection == "a"]
    rest = [s for s in steps if not s.guarded]
    ordered = reservations + money + rest
    guarded = len(reservations) + len(money)
    return ordered, max(guarded - 1, 0)


@dataclass
class Outcome:
    """What became of an entry."""

    entry_id: str
    status: str  # applied or failed
    reason: str = ""
    after: dict[str, int] = field(default_factory=dict)
    duplicate: bool = False  # the key was used before: this is the first outcome again
    entry: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "applied"


@dataclass
class AuditReport:
    ok: bool
    entries: int
    accounts: int
    members_total: int
    shop_total: int
    minted: int
    burned: int
    outstanding: int
    pending: int
    discrepancies: list[str]
    seconds: float


class Ledger:
    """Posts entries and recovers unfinished ones, for every server in one database."""

    def __init__(
        self,
        *,
        lease_seconds: float = 30.0,
        marker_grace_seconds: float = 1.0,
        fail_at: Callable[[str], None] | None = None,
        lock_path: Path | None = None,
    ) -> None:
        self.instance = secrets.token_hex(6)
        self.lock_path = lock_path
        self._lock = DataDirLock(lock_path)
        self.lease_seconds = lease_seconds
        self.marker_grace_seconds = marker_grace_seconds
        self.fail_at = fail_at  # tests: raise SimulatedCrash at a named point
        self._final: list[tuple[float, str, list[tuple[str, str]]]] = []
        self._cleaner: asyncio.Task[None] | None = None
        self._log = logger.bind(plugin="economy")

    # --- collections --------------------------------------------------------------------------
    @staticmethod
    def collection(code: str) -> AsyncCollection[dict[str, Any]]:
        return COLLECTIONS[code].get_pymongo_collection()

    @property
    def entries(self) -> AsyncCollection[dict[str, Any]]:
        return Entry.get_pymongo_collection()

    def _exclusive(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the ledger's file lock (embedded storage only) for one conditional write.

        Each nx-27017 process serialises its own operations, but two Logiq processes run two
        servers over one SQLite file, and a server evaluates a filter and applies the update in
        separate statements: a guard (``balance >= amount``, "not marked yet") read by one could be
        stale by the time it writes. With MongoDB the update itself is atomic and no lock is used.
        """
        return self._lock.hold()

    def _point(self, name: str) -> None:
        if self.fail_at is not None:
            self.fail_at(name)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._cleaner is None:
            self._cleaner = asyncio.create_task(self._clean_forever())

    async def stop(self) -> None:
        task, self._cleaner = self._cleaner, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.clean_markers(force=True)

    async def _clean_forever(self) -> None:
        while True:
            await asyncio.sleep(max(self.marker_grace_seconds / 2, 0.2))
            try:
                await self.clean_markers()
            except Exception as exc:  # retried at the next tick; recovery also sweeps
                self._log.warning("could not clear ledger markers: {}", exc)

    # --- posting ------------------------------------------------------------------------------
    async def post(
        self,
        server_id: str,
        key: str,
        kind: str,
        steps: Sequence[Step],
        *,
        memo: str = "",
        actor: str | None = None,
        cause: str | None = None,
        reverses: str | None = None,
        accounts: Iterable[str] = (),
        report: Iterable[str] = (),
    ) -> Outcome:
        """Apply ``steps`` as one entry, exactly once for ``key`` (see the module docstring)."""
        ordered, commit = order_steps(steps)
        wanted = set(report)
        money = sum(s.inc.get("balance", 0) for s in ordered if s.collection == "a")
        if money != 0:
            raise ValueError(f"postings must sum to zero, not {money}")
        started = time.monotonic()
        now = utcnow()
        doc: dict[str, Any] = {
            "server_id": server_id,
            "key": key,
            "kind": kind,
            "steps": [s.to_doc() for s in ordered],
            "commit": commit,
            "accounts": list(accounts),
            "memo": memo,
            "actor": actor,
            "cause": cause,
            "reverses": reverses,
            "status": "pending",
            "reason": "",
            "owner": self.instance,
            "lease_until": to_ms(now + timedelta(seconds=self.lease_seconds)),
            "created_at": now,
            "finalized_at": None,
            "after": {},
        }
        while True:
            doc["_id"] = new_entry_id()
            try:
                await self.entries.insert_one(doc)
                break
            except DuplicateKeyError:
                if await self.entries.find_one({"server_id": server_id, "key": key}, {"_id": 1}):
                    return await self._existing(server_id, key)
                # otherwise an id collision (50 random bits): draw another
        self._point("inserted")
        entry_id = doc["_id"]
        after: dict[str, int] = {}
        for index, step in enumerate(ordered):
            self._check_lease(started)
            found = await self._apply(step, entry_id, after_commit=index > commit, report=step.id in wanted)
            self._point(f"step{index}")
            if found is None:
                state = await self._marker_state(step, entry_id)
                if state == "applied":
                    continue  # applied by recovery meanwhile
                if state == "void" or index <= commit:
                    reason = FAILURE_REASONS.get(step.why, step.why) if state is None else "aborted"
                    return await self._abort(doc, ordered[:index], reason, started)
                raise RuntimeError(f"step {index} of entry {entry_id} cannot apply")
            if "balance" in found:
                after[step.id] = int(found["balance"])
        self._check_lease(started)
        return await self._finalize(doc, "applied", "", after)

    async def _apply(
        self, step: Step, entry_id: str, *, after_commit: bool = False, report: bool = False
    ) -> dict[str, Any] | None:
        """One conditional update; None when its guard or marker refused it.

        Only a step whose new balance is wanted (``report``) costs a find-and-modify; a step
        after the commit point can never have been voided, so it checks ``marks`` alone.
        """
        query: dict[str, Any] = {"_id": step.id, **_unmarked(entry_id)}
        if after_commit:
            del query["voids"]
        if step.field is not None:
            bound: dict[str, int] = {}
            if step.low is not None:
                bound["$gte"] = step.low
            if step.high is not None:
                bound["$lte"] = step.high
            query[step.field] = bound
        update = {"$inc": step.inc, "$push": {"marks": entry_id}}
        collection = self.collection(step.collection)
        async with self._exclusive():
            if report:
                return await collection.find_one_and_update(
                    query, update, projection={"balance": 1}, return_document=ReturnDocument.AFTER
                )
            done = await collection.update_one(query, update)
            return {} if done.modified_count else None

    async def _marker_state(self, step: Step, entry_id: str) -> str | None:
        found = await self.collection(step.collection).find_one(
            {"_id": step.id}, projection={"marks": 1, "voids": 1}
        )
        if found is None:
            raise LookupError(f"ledger document {step.collection}:{step.id} does not exist")
        if entry_id in found.get("marks", []):
            return "applied"
        if entry_id in found.get("voids", []):
            return "void"
        return None

    async def _undo(self, step: Step, entry_id: str) -> None:
        """Undo an applied step, or void one that is not, so it can never apply afterwards."""
        collection = self.collection(step.collection)
        async with self._exclusive():
            undone = await collection.update_one(
                {"_id": step.id, "marks": entry_id},
                {
                    "$inc": {k: -v for k, v in step.inc.items()},
                    "$pullAll": {"marks": [entry_id]},
                    "$push": {"voids": entry_id},
                },
            )
        if undone.modified_count == 0:
            await self._void(step, entry_id)

    async def _void(self, step: Step, entry_id: str) -> bool:
        async with self._exclusive():
            voided = await self.collection(step.collection).update_one(
                {"_id": step.id, **_unmarked(entry_id)},
                {"$push": {"voids": entry_id}},
            )
        return voided.modified_count == 1

    async def _abort(
        self, doc: dict[str, Any], applied: Sequence[Step], reason: str, started: float | None
    ) -> Outcome:
        for index in reversed(range(len(applied))):
            if started is not None:
                self._check_lease(started)
            await self._undo(applied[index], doc["_id"])
            self._point(f"undo{index}")
        return await self._finalize(doc, "failed", reason, {})

    async def _finalize(
        self, doc: dict[str, Any], status: str, reason: str, after: dict[str, int]
    ) -> Outcome:
        entry_id = doc["_id"]
        async with self._exclusive():
            done = await self.entries.update_one(
                {"_id": entry_id, "status": "pending", "owner": doc["owner"]},
                {
                    "$set": {
                        "status": status,
                        "reason": reason,
                        "after": after,
                        "finalized_at": to_ms(utcnow()),
                    }
                },
            )
        self._point("finalized")
        if done.modified_count == 0:
            return await self._existing(doc["server_id"], doc["key"], duplicate=False)
        targets = [(s["c"], s["id"]) for s in doc["steps"]]
        self._final.append((time.monotonic(), entry_id, targets))
        final = {**doc, "status": status, "reason": reason, "after": after}
        return Outcome(entry_id, status, reason, after, entry=final)

    def _check_lease(self, started: float) -> None:
        if time.monotonic() - started > self.lease_seconds * 0.8:
            raise LeaseExpired("the entry took too long; recovery will finish it")

    async def _existing(self, server_id: str, key: str, *, duplicate: bool = True) -> Outcome:
        """The outcome of the entry already made for ``key`` (waiting while it is pending)."""
        deadline = time.monotonic() + self.lease_seconds + 5
        while True:
            found = await self.entries.find_one({"server_id": server_id, "key": key})
            if found is None:
                raise LookupError(f"no entry for {key}")
            if found["status"] != "pending":
                return Outcome(
                    found["_id"],
                    found["status"],
                    found.get("reason", ""),
                    found.get("after") or {},
                    duplicate,
                    found,
                )
            if int(found["lease_until"]) < to_ms(utcnow()):
                await self.recover_entry(found)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"entry {found['_id']} is still pending")
            await asyncio.sleep(0.05)

    # --- recovery -----------------------------------------------------------------------------
    async def recover(
        self, server_id: str | None = None, *, now: datetime | None = None, sweep: bool = True
    ) -> int:
        """Finish or undo every pending entry whose lease has expired; sweep stale markers
        (always with ``sweep``, else only when something was recovered)."""
        query: dict[str, Any] = {"status": "pending", "lease_until": {"$lt": to_ms(now or utcnow())}}
        if server_id is not None:
            query["server_id"] = server_id
        stale = [doc async for doc in self.entries.find(query)]
        for doc in stale:
            await self.recover_entry(doc, now=now)
        if sweep or stale:
            await self.sweep_markers()
        return len(stale)

    async def recover_entry(self, doc: dict[str, Any], *, now: datetime | None = None) -> None:
        now = now or utcnow()
        async with self._exclusive():
            claimed = await self.entries.find_one_and_update(
                {"_id": doc["_id"], "status": "pending", "lease_until": {"$lt": to_ms(now)}},
                {
                    "$set": {
                        "owner": self.instance,
                        "lease_until": to_ms(now + timedelta(seconds=self.lease_seconds)),
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        if claimed is None:
            return  # finished meanwhile, or claimed by another process
        steps = [Step.from_doc(s) for s in claimed["steps"]]
        commit, entry_id = int(claimed["commit"]), claimed["_id"]
        decisive = steps[commit]
        if await self._void(decisive, entry_id):
            state: str | None = "void"
        else:
            state = await self._marker_state(decisive, entry_id)
        if state != "applied":
            self._log.info("recovery: entry {} did not commit; undoing it", entry_id)
            await self._abort(claimed, steps[:commit], "interrupted", None)
            return
        self._log.info("recovery: entry {} committed; finishing it", entry_id)
        after: dict[str, int] = {}
        for step in steps[commit + 1 :]:
            await self._apply(step, entry_id, after_commit=True)
        await self._finalize(claimed, "applied", "", after)

    async def clean_markers(self, *, force: bool = False) -> int:
        """Pull the markers of entries final for longer than the grace period."""
        horizon = time.monotonic() - (0 if force else self.marker_grace_seconds)
        ready = [item for item in self._final if item[0] <= horizon]
        if not ready:
            return 0
        self._final = [item for item in self._final if item[0] > horizon]
        await self._pull(((entry_id, targets) for _, entry_id, targets in ready))
        return len(ready)

    async def _pull(self, finals: Iterable[tuple[str, list[tuple[str, str]]]]) -> None:
        by_collection: dict[str, tuple[set[str], set[str]]] = {}
        for entry_id, targets in finals:
            for code, doc_id in targets:
                ids, entry_ids = by_collection.setdefault(code, (set(), set()))
                ids.add(doc_id)
                entry_ids.add(entry_id)
        for code, (ids, entry_ids) in by_collection.items():
            async with self._exclusive():
                await self.collection(code).update_many(
                    {"_id": {"$in": sorted(ids)}},
                    {"$pullAll": {"marks": sorted(entry_ids), "voids": sorted(entry_ids)}},
                )

    async def sweep_markers(self) -> None:
        """Pull markers whose entries are final (left behind by a process that stopped)."""
        for code in COLLECTIONS:
            collection = self.collection(code)
            marked: dict[str, set[str]] = {}
            async for doc in collection.find(
                {"$nor": [{"marks": {"$size": 0}, "voids": {"$size": 0}}]},
                projection={"marks": 1, "voids": 1},
            ):
                for entry_id in [*doc.get("marks", []), *doc.get("voids", [])]:
                    marked.setdefault(entry_id, set()).add(doc["_id"])
            if not marked:
                continue
            final = [
                d["_id"]
                async for d in self.entries.find(
                    {"_id": {"$in": list(marked)}, "status": {"$ne": "pending"}}, projection={"_id": 1}
                )
            ]
            await self._pull((e, [(code, d) for d in marked[e]]) for e in final)

    # --- audit --------------------------------------------------------------------------------
    async def audit(self, server_id: str) -> AuditReport:
        """Recompute every account of a server from its ledger and check the books balance."""
        started = time.perf_counter()
        expected: dict[tuple[str, str], dict[str, int]] = {}
        problems: list[str] = []
        applied = {"server_id": server_id, "status": "applied"}
        # The database sums the postings (one pass over the entries instead of shipping them all).
        per_account = await self.entries.aggregate(
            [
                {"$match": applied},
                {"$unwind": "$steps"},
                {"$match": {"steps.c": "a"}},
                {
                    "$group": {
                        "_id": "$steps.id",
                        "balance": {"$sum": "$steps.inc.balance"},
                        "outstanding": {"$sum": "$steps.inc.outstanding"},
                    }
                },
            ]
        )
        async for row in per_account:
            # (nx-27017 sums a field no posting has to None, MongoDB to 0)
            expected[("a", row["_id"])] = {
                "balance": int(row["balance"] or 0),
                "outstanding": int(row["outstanding"] or 0),
            }
        # Every entry is refused at write time unless its postings sum to zero; here the whole
        # ledger must too (a per-entry pass would double the audit's time).
        total = sum(sums["balance"] for sums in expected.values())
        if total != 0:
            problems.append(f"the ledger's postings sum to {total}, not 0")
        entries = await count_matching(self.entries, applied)
        pending_steps: dict[str, list[Step]] = {}
        async for doc in self.entries.find({"server_id": server_id, "status": "pending"}):
            pending_steps[doc["_id"]] = [Step.from_doc(s) for s in doc["steps"]]
        pending = len(pending_steps)
        entries += pending
        accounts = [doc async for doc in self.collection("a").find({"server_id": server_id})]
        markers = {doc["_id"]: set(doc.get("marks", [])) for doc in accounts}
        for entry_id, steps in pending_steps.items():  # count what a half-applied entry did
            for step in steps:
                if step.collection == "a" and entry_id in markers.get(step.id, set()):
                    bucket = expected.setdefault(("a", step.id), {})
                    for name, value in step.inc.items():
                        bucket[name] = bucket.get(name, 0) + value
        members_total = shop_total = issuance = sink = outstanding = 0
        for doc in accounts:
            want = expected.get(("a", doc["_id"]), {})
            balance = int(doc.get("balance", 0))
            if balance != want.get("balance", 0):
                problems.append(
                    f"account {doc['owner']}: balance {balance}, the ledger says {want.get('balance', 0)}"
                )
            if doc["kind"] == "member":
                members_total += balance
                if balance < 0:
                    problems.append(f"account {doc['owner']}: negative balance {balance}")
            elif doc["kind"] == "shop":
                shop_total += balance
            elif doc["kind"] == "issuance":
                issuance = balance
                outstanding = int(doc.get("outstanding", 0))
                if outstanding != want.get("outstanding", 0):
                    problems.append(
                        f"issuance: outstanding {outstanding}, the ledger says {want.get('outstanding', 0)}"
                    )
            elif doc["kind"] == "sink":
                sink = balance
        known = {doc["_id"] for doc in accounts}
        for (code, doc_id), want in expected.items():
            if code == "a" and doc_id not in known and any(want.values()):
                problems.append(f"account {owner_of(doc_id)} is missing (the ledger says {want})")
        minted, burned = -issuance, sink
        if members_total + shop_total != minted - burned:
            problems.append(
                f"members {members_total} + shop {shop_total} != minted {minted} - burned {burned}"
            )
        if pending == 0 and outstanding != members_total + shop_total:
            problems.append(f"outstanding {outstanding} != coins held {members_total + shop_total}")
        return AuditReport(
            ok=not problems,
            entries=entries,
            accounts=len(accounts),
            members_total=members_total,
            shop_total=shop_total,
            minted=minted,
            burned=burned,
            outstanding=outstanding,
            pending=pending,
            discrepancies=problems,
            seconds=time.perf_counter() - started,
        )
