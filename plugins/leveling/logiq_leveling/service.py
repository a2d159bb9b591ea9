"""Leveling's logic, testable without Stoat: XP awards, cooldowns, batched writes, boards, imports.

Storage only through the collections of :mod:`logiq_leveling.models`. The hot path (one message)
never waits for storage once a server's recent cooldowns are loaded: awards go to memory and a
flush about every second writes each active member once (one bulk write by primary key) and the
hour's message-XP bucket once per server. A crash loses at most the XP of the last interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import random
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from pymongo import ReplaceOne, UpdateOne

from logiq_core.plugin import count_matching
from logiq_leveling.config import LevelingConfig
from logiq_leveling.curves import Curve
from logiq_leveling.models import (
    ImportRecord,
    LevelSettings,
    MemberXp,
    MessageXpHour,
    SyncRun,
    XpEvent,
)

MAX_XP = 10**12


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def member_key(server_id: str, user_id: str) -> str:
    return f"{server_id}:{user_id}"


def hour_start(moment: float) -> datetime:
    return datetime.fromtimestamp(moment - moment % 3600, UTC)


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A member's XP moved across a level boundary (or may have: admin changes always report)."""

    server_id: str
    user_id: str
    old_xp: int
    new_xp: int
    old_level: int
    new_level: int
    source: str  # message, admin, import, undo


LevelChangeHandler = Callable[[LevelChange], Coroutine[Any, Any, None]]


class ImportError_(ValueError):
    """A CSV the import cannot read; the message says which line and why."""


def parse_csv(text: str, limit: int = 200_000) -> list[tuple[str, int]]:
    """``user id, XP`` rows (a header line and extra columns are allowed)."""
    rows: list[tuple[str, int]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        user_id, raw = row[0].strip(), (row[1].strip() if len(row) > 1 else "")
        if number == 1 and not raw.lstrip("-").isdigit():
            continue  # a header
        if not user_id or not raw.lstrip("-").isdigit():
            raise ImportError_(f"line {number}: expected `user id, XP`, got {','.join(row)[:60]!r}")
        xp = int(raw)
        if not 0 <= xp <= MAX_XP:
            raise ImportError_(f"line {number}: XP must be between 0 and {MAX_XP}")
        rows.append((user_id, xp))
        if len(rows) > limit:
            raise ImportError_(f"at most {limit} rows per import")
    return rows


class LevelingService:
    """One per bot: settings cache, in-memory cooldowns, pending XP and the flush loop."""

    def __init__(
        self,
        defaults: LevelingConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.defaults = defaults or LevelingConfig()
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_level_change: LevelChangeHandler | None = None
        self._settings: dict[str, LevelSettings] = {}
        self._last_award: dict[tuple[str, str], float] = {}
        self._windows: dict[str, asyncio.Future[None]] = {}
        self._pending: dict[tuple[str, str], list[float]] = {}  # key -> [xp, last award time]
        self._known_xp: dict[tuple[str, str], int] = {}
        self.last_channel: dict[tuple[str, str], str] = {}  # where a level-up is announced "here"
        self._hours: dict[str, MessageXpHour] = {}
        self._dirty_hours: set[str] = set()
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._callbacks: set[asyncio.Task[None]] = set()
        self._last_prune = 0.0
        self.awarded_total = 0  # message XP awarded by this process (benchmarks check it)
        self.messages_seen = 0  # messages considered (tests wait for them)

    # --- life cycle ---------------------------------------------------------------------------
    @staticmethod
    def members() -> Any:
        return MemberXp.get_pymongo_collection()

    def start(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="leveling-flush")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        with contextlib.suppress(Exception):
            await self.flush()
        if self._callbacks:
            await asyncio.wait(list(self._callbacks), timeout=5)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.defaults.flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # storage down: pending XP is kept and retried
                logger.opt(exception=exc).warning("leveling: XP flush failed; retrying")

    # --- settings -----------------------------------------------------------------------------
    async def settings(self, server_id: str) -> LevelSettings:
        cached = self._settings.get(server_id)
        if cached is not None:
            return cached
        found = await LevelSettings.find_one(LevelSettings.server_id == server_id)
        settings = found or LevelSettings(server_id=server_id)
        self._settings[server_id] = settings
        return settings

    async def save_settings(self, settings: LevelSettings) -> None:
        await settings.save()
        self._settings[settings.server_id] = settings

    def curve(self, settings: LevelSettings) -> Curve:
        return Curve(settings.curve, settings.curve_base, settings.curve_exp)

    def xp_range(self, settings: LevelSettings) -> tuple[int, int]:
        low = self.defaults.xp_min if settings.xp_min is None else settings.xp_min
        high = self.defaults.xp_max if settings.xp_max is None else settings.xp_max
        return low, max(low, high)

    def cooldown(self, settings: LevelSettings) -> float:
        if settings.cooldown_seconds is None:
            return self.defaults.cooldown_seconds
        return settings.cooldown_seconds

    async def set_cooldown(self, settings: LevelSettings, seconds: float) -> None:
        settings.cooldown_seconds = seconds
        await self.save_settings(settings)
        # A longer cooldown reaches further back than what was loaded: load again.
        self._windows.pop(settings.server_id, None)

    # --- the hot path -------------------------------------------------------------------------
    async def _load_window(self, server_id: str, settings: LevelSettings) -> None:
        """The stored last-award times still inside the cooldown: the truth after a restart."""
        since = self.clock() - self.cooldown(settings)
        cursor = self.members().find(
            {"server_id": server_id, "last_award_at": {"$gt": since}},
            {"user_id": 1, "last_award_at": 1},
        )
        async for doc in cursor:
            key = (server_id, doc["user_id"])
            self._last_award[key] = max(self._last_award.get(key, 0.0), float(doc["last_award_at"]))

    async def _ensure_window(self, server_id: str, settings: LevelSettings) -> None:
        loading = self._windows.get(server_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_window(server_id, settings))
            self._windows[server_id] = loading
        try:
            await loading
        except Exception:
            self._windows.pop(server_id, None)
            raise

    def multiplier(self, settings: LevelSettings, channel_id: str, role_ids: Sequence[str]) -> float:
        factors = [settings.role_multipliers[r] for r in role_ids if r in settings.role_multipliers]
        role_factor = max(factors) if factors else 1.0
        return role_factor * settings.channel_multipliers.get(channel_id, 1.0)

    async def award_message(
        self,
        server_id: str,
        user_id: str,
        channel_id: str,
        role_ids: Sequence[str],
        length: int,
        *,
        is_bot: bool = False,
    ) -> int:
        """Award message XP if the member may earn now; the XP given (0: none)."""
        try:
            return await self._award(server_id, user_id, channel_id, role_ids, length, is_bot)
        finally:
            self.messages_seen += 1

    async def _award(
        self,
        server_id: str,
        user_id: str,
        channel_id: str,
        role_ids: Sequence[str],
        length: int,
        is_bot: bool,
    ) -> int:
        if is_bot:
            return 0
        settings = self._settings.get(server_id)
        if settings is None:
            settings = await self.settings(server_id)
        window = self._windows.get(server_id)
        if window is None or not window.done():
            await self._ensure_window(server_id, settings)
        if length < settings.min_length or channel_id in settings.noxp_channels:
            return 0
        if settings.noxp_roles and not set(settings.noxp_roles).isdisjoint(role_ids):
            return 0
        now = self.clock()
        key = (server_id, user_id)
        last = self._last_award.get(key)
        if last is not None and now - last < self.cooldown(settings):
            return 0
        low, high = self.xp_range(settings)
        gained = self.rng.randint(low, high)
        if settings.role_multipliers or settings.channel_multipliers:
            gained = round(gained * self.multiplier(settings, channel_id, role_ids))
        self._last_award[key] = now
        self.last_channel[key] = channel_id
        if gained <= 0:
            return 0
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [gained, now]
        else:
            pending[0] += gained
            pending[1] = now
        self.awarded_total += gained
        return gained

    # --- flushing -----------------------------------------------------------------------------
    async def flush(self) -> list[LevelChange]:
        """Write pending XP: one update per active member, one hour bucket per server."""
        async with self._flush_lock:
            pending, self._pending = self._pending, {}
            if not pending and not self._dirty_hours:
                return []
            try:
                changes = await self._write(pending)
            except Exception:
                for key, (xp, at) in pending.items():  # keep it for the next flush
                    again = self._pending.setdefault(key, [0, at])
                    again[0] += xp
                    again[1] = max(again[1], at)
                raise
            await self._write_hours(pending)
            self._prune()
        for change in changes:
            self._notify(change)
        return changes

    async def _write(self, pending: dict[tuple[str, str], list[float]]) -> list[LevelChange]:
        if not pending:
            return []
        operations = [
            UpdateOne(
                {"_id": member_key(server_id, user_id)},
                {
                    "$inc": {"xp": int(xp)},
                    "$max": {"last_award_at": float(at)},
                    "$setOnInsert": {"server_id": server_id, "user_id": user_id},
                },
                upsert=True,
            )
            for (server_id, user_id), (xp, at) in pending.items()
        ]
        await self.members().bulk_write(operations, ordered=False)
        unknown = [member_key(*key) for key in pending if key not in self._known_xp]
        if unknown:
            async for doc in self.members().find(
                {"_id": {"$in": unknown}}, {"xp": 1, "server_id": 1, "user_id": 1}
            ):
                key = (doc["server_id"], doc["user_id"])
                self._known_xp[key] = int(doc["xp"]) - int(pending[key][0])
        changes: list[LevelChange] = []
        for key, (xp, _) in pending.items():
            old = self._known_xp.get(key, 0)
            new = old + int(xp)
            self._known_xp[key] = new
            settings = self._settings.get(key[0])
            if settings is None:
                continue
            curve = self.curve(settings)
            old_level, new_level = curve.level_for(old), curve.level_for(new)
            if new_level != old_level:
                changes.append(LevelChange(key[0], key[1], old, new, old_level, new_level, "message"))
        return changes

    async def _write_hours(self, pending: dict[tuple[str, str], list[float]]) -> None:
        now = self.clock()
        start = hour_start(now)
        for (server_id, user_id), (xp, _) in pending.items():
            bucket = self._hours.get(server_id)
            if bucket is None or as_utc(bucket.at) != start:
                bucket_id = f"{server_id}:{start.isoformat()}"
                try:  # after a restart inside the hour, carry on with what was stored
                    found = await MessageXpHour.get(bucket_id)
                except Exception as exc:
                    logger.opt(exception=exc).warning("leveling: could not read the hour's XP events")
                    found = None
                bucket = found or MessageXpHour(id=bucket_id, server_id=server_id, at=start)
                self._hours[server_id] = bucket
            bucket.users[user_id] = bucket.users.get(user_id, 0) + int(xp)
            self._dirty_hours.add(server_id)
        if not self._dirty_hours:
            return
        collection = MessageXpHour.get_pymongo_collection()
        writes = []
        for server_id in sorted(self._dirty_hours):
            bucket = self._hours[server_id]
            writes.append(
                ReplaceOne(
                    {"_id": bucket.id},
                    {"server_id": server_id, "at": bucket.at, "users": bucket.users},
                    upsert=True,
                )
            )
        try:
            await collection.bulk_write(writes, ordered=False)
        except Exception as exc:  # the bucket stays in memory and dirty: written next time
            logger.opt(exception=exc).warning("leveling: could not write the hour's XP events")
            return
        self._dirty_hours.clear()

    def _prune(self) -> None:
        now = self.clock()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        longest = max([self.defaults.cooldown_seconds, *(self.cooldown(s) for s in self._settings.values())])
        stale = [key for key, at in self._last_award.items() if now - at > longest]
        for key in stale:
            del self._last_award[key]
            self.last_channel.pop(key, None)

    def _notify(self, change: LevelChange) -> None:
        if self.on_level_change is None:
            return
        task = asyncio.create_task(self.on_level_change(change))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    # --- reading ------------------------------------------------------------------------------
    async def xp_of(self, server_id: str, user_id: str) -> int:
        await self.flush()
        doc = await self.members().find_one({"_id": member_key(server_id, user_id)}, {"xp": 1})
        return int(doc["xp"]) if doc else 0

    async def rank_of(self, server_id: str, user_id: str) -> tuple[int, int, int]:
        """(XP, position on the board (1 is first), members on the board)."""
        xp = await self.xp_of(server_id, user_id)
        above = await count_matching(self.members(), {"server_id": server_id, "xp": {"$gt": xp}})
        total = await count_matching(self.members(), {"server_id": server_id, "xp": {"$gt": 0}})
        return xp, above + 1, max(total, above + 1)

    async def stored_xp(self, server_id: str, users: Iterable[str]) -> dict[str, int]:
        ids = [member_key(server_id, user) for user in users]
        cursor = self.members().find({"_id": {"$in": ids}}, {"user_id": 1, "xp": 1})
        return {doc["user_id"]: int(doc["xp"]) async for doc in cursor}

    async def leaderboard(self, server_id: str, page: int, per_page: int = 10) -> list[tuple[str, int]]:
        await self.flush()
        cursor = self.members().find({"server_id": server_id, "xp": {"$gt": 0}}, {"user_id": 1, "xp": 1})
        cursor = cursor.sort([("xp", -1), ("user_id", 1)]).skip((page - 1) * per_page).limit(per_page)
        return [(doc["user_id"], int(doc["xp"])) async for doc in cursor]

    async def board_size(self, server_id: str) -> int:
        """How many members are on the XP board (for the dashboard's pages)."""
        return await count_matching(self.members(), {"server_id": server_id, "xp": {"$gt": 0}})

    async def weekly(self, server_id: str, limit: int = 10) -> list[tuple[str, int]]:
        """Message XP earned in the last 7 days (by the hour), most first."""
        await self.flush()
        since = hour_start(self.clock()) - timedelta(days=7) + timedelta(hours=1)
        totals: dict[str, int] = {}
        cursor = MessageXpHour.get_pymongo_collection().find(
            {"server_id": server_id, "at": {"$gte": since}}, {"users": 1}
        )
        async for doc in cursor:
            for user_id, xp in (doc.get("users") or {}).items():
                totals[user_id] = totals.get(user_id, 0) + int(xp)
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]

    async def all_xp(self, server_id: str) -> list[tuple[str, int]]:
        await self.flush()
        cursor = self.members().find({"server_id": server_id, "xp": {"$gt": 0}}, {"user_id": 1, "xp": 1})
        rows = [(doc["user_id"], int(doc["xp"])) async for doc in cursor]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    async def event_totals(self, server_id: str) -> dict[str, int]:
        """Every member's XP as the sum of their events (message hours, admin changes, imports)."""
        await self.flush()
        totals: dict[str, int] = {}
        async for doc in MessageXpHour.get_pymongo_collection().find({"server_id": server_id}):
            for user_id, xp in (doc.get("users") or {}).items():
                totals[user_id] = totals.get(user_id, 0) + int(xp)
        async for event in XpEvent.find(XpEvent.server_id == server_id):
            totals[event.user_id] = totals.get(event.user_id, 0) + event.xp
        return totals

    # --- changes by managers ------------------------------------------------------------------
    async def _apply_deltas(
        self,
        server_id: str,
        deltas: dict[str, int],
        *,
        kind: str,
        actor: str,
        batch: str | None = None,
        source: str | None = None,
        record_events: bool = True,
    ) -> list[LevelChange]:
        """Add ``deltas`` (user → XP) as events and to the totals; the level changes."""
        await self.flush()
        deltas = {user: delta for user, delta in deltas.items() if delta}
        if not deltas:
            return []
        now = utcnow()
        if record_events:
            await XpEvent.insert_many(
                [
                    XpEvent(
                        server_id=server_id,
                        user_id=user,
                        kind=kind,
                        xp=delta,
                        at=now,
                        batch=batch,
                        actor=actor,
                    )
                    for user, delta in deltas.items()
                ]
            )
        before = await self.stored_xp(server_id, deltas)
        await self.members().bulk_write(
            [
                UpdateOne(
                    {"_id": member_key(server_id, user)},
                    {
                        "$inc": {"xp": delta},
                        "$setOnInsert": {"server_id": server_id, "user_id": user, "last_award_at": 0.0},
                    },
                    upsert=True,
                )
                for user, delta in deltas.items()
            ],
            ordered=False,
        )
        curve = self.curve(await self.settings(server_id))
        changes = []
        for user, delta in deltas.items():
            old = before.get(user, 0)
            new = old + delta
            self._known_xp[(server_id, user)] = new
            changes.append(
                LevelChange(
                    server_id, user, old, new, curve.level_for(old), curve.level_for(new), source or kind
                )
            )
        return changes

    async def change_xp(
        self, server_id: str, user_id: str, actor: str, *, add: int = 0, set_to: int | None = None
    ) -> LevelChange:
        """``!xp give|take|set``: never below 0; kept as an admin event."""
        current = await self.xp_of(server_id, user_id)
        target = set_to if set_to is not None else current + add
        target = max(0, min(MAX_XP, target))
        changes = await self._apply_deltas(server_id, {user_id: target - current}, kind="admin", actor=actor)
        if changes:
            return changes[0]
        level = self.curve(await self.settings(server_id)).level_for(current)
        return LevelChange(server_id, user_id, current, current, level, level, "admin")

    async def import_rows(
        self, server_id: str, rows: Iterable[tuple[str, int]], mode: str, actor: str
    ) -> tuple[ImportRecord, list[LevelChange]]:
        """Add the rows' XP, or replace each listed member's XP with it; one undoable batch."""
        await self.flush()
        wanted: dict[str, int] = {}
        for user_id, xp in rows:
            wanted[user_id] = wanted.get(user_id, 0) + xp if mode == "add" else xp
        if mode == "replace":
            current = await self.stored_xp(server_id, wanted)
            deltas = {user: xp - current.get(user, 0) for user, xp in wanted.items()}
        else:
            deltas = wanted
        batch = secrets.token_hex(6)
        record = ImportRecord(
            server_id=server_id, batch=batch, by=actor, mode=mode, rows=len(wanted), at=utcnow()
        )
        await record.insert()
        changes = await self._apply_deltas(server_id, deltas, kind="import", actor=actor, batch=batch)
        return record, changes

    async def undo_last_import(
        self, server_id: str, actor: str
    ) -> tuple[ImportRecord | None, list[LevelChange]]:
        """Take back the latest import still in force: its events go, totals drop by their sum."""
        record = (
            await ImportRecord.find(
                ImportRecord.server_id == server_id,
                ImportRecord.undone == False,  # noqa: E712
            )
            .sort("-at")
            .first_or_none()
        )
        if record is None:
            return None, []
        events = await XpEvent.find(XpEvent.server_id == server_id, XpEvent.batch == record.batch).to_list()
        deltas: dict[str, int] = {}
        for event in events:
            deltas[event.user_id] = deltas.get(event.user_id, 0) - event.xp
        changes = await self._apply_deltas(
            server_id, deltas, kind="import", actor=actor, source="undo", record_events=False
        )
        await XpEvent.find(XpEvent.server_id == server_id, XpEvent.batch == record.batch).delete()
        record.undone = True
        await record.save()
        return record, changes

    @staticmethod
    def export_csv(rows: Sequence[tuple[str, int]], curve: Curve) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["user_id", "xp", "level"])
        for user_id, xp in rows:
            writer.writerow([user_id, xp, curve.level_for(xp)])
        return out.getvalue().encode()

    # --- role rewards -------------------------------------------------------------------------
    @staticmethod
    def reward_roles(settings: LevelSettings, level: int) -> tuple[set[str], set[str]]:
        """(the reward roles a member at ``level`` should hold, every reward role)."""
        ours = {reward.role_id for reward in settings.rewards}
        earned = sorted((r for r in settings.rewards if r.level <= level), key=lambda r: r.level)
        if settings.reward_mode == "replace":
            return ({earned[-1].role_id} if earned else set()), ours
        return {r.role_id for r in earned}, ours

    # --- sync runs ----------------------------------------------------------------------------
    async def active_sync(self, server_id: str) -> SyncRun | None:
        return await SyncRun.find_one(SyncRun.server_id == server_id, SyncRun.finished == False)  # noqa: E712

    async def sync_batch(self, server_id: str, after: str, size: int) -> list[tuple[str, int]]:
        """The next members (user id order) with XP, after ``after``."""
        await self.flush()
        cursor = (
            self.members()
            .find({"server_id": server_id, "user_id": {"$gt": after}}, {"user_id": 1, "xp": 1})
            .sort("user_id", 1)
            .limit(size)
        )
        return [(doc["user_id"], int(doc["xp"])) async for doc in cursor]
