"""The rollout gate in the bot: decisions from an in-memory snapshot, refreshed when it changes.

:meth:`RolloutGate.is_enabled` touches no storage: it reads a dict of compiled feature states
(sets, an integer threshold, and a memo of each server's bucket). A watcher polls the stored
state's version every quarter second and recompiles when it moves, so an operator's change
reaches a running bot well within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loguru import logger
from pymongo import UpdateOne

from logiq_core.framework.features import CORE_FEATURE, Phase
from logiq_core.framework.rollout.config import FeatureDefault
from logiq_core.framework.rollout.models import KnownServerDoc
from logiq_core.framework.rollout.rules import (
    BUCKETS,
    CompiledFeature,
    Decision,
    bucket_of,
    decide,
    threshold_of,
)
from logiq_core.framework.rollout.store import RolloutSnapshot, RolloutStore
from logiq_core.framework.tasks import raise_if_cancel_was_swallowed

if TYPE_CHECKING:
    from logiq_core.framework.rollout.metrics import FeatureMetrics
    from logiq_core.framework.storage import Storage

_log = logger.bind(component="rollout")
BUCKET_MEMO_LIMIT = 500_000
ALWAYS_ON = frozenset({CORE_FEATURE})


class RolloutGate:
    """Answers "does this server get this feature?" in well under a microsecond."""

    def __init__(self, store: RolloutStore | None = None) -> None:
        self.store = store or RolloutStore()
        self.snapshot = RolloutSnapshot()
        self._compiled: dict[str, CompiledFeature] = {}
        self._internal: frozenset[str] = frozenset()
        self.reloads = 0
        # Called with a feature's name when its state changes (the guard's windows restart).
        self.on_feature_change: list[Callable[[str], None]] = []
        self.guard_tracks: dict[str, Any] = {}  # the guard's open windows (guard.py)
        self._servers_lock = asyncio.Lock()

    async def attach(self, storage: Storage) -> None:
        """Use ``storage`` (its data directory's lock when embedded)."""
        if storage.embedded is not None:
            self.store.lock_path = storage.data_dir / "rollout.lock"

    # --- the hot path -------------------------------------------------------------------------
    def is_enabled(self, feature: str, server_id: str | None) -> bool:
        compiled = self._compiled.get(feature)
        if compiled is None:
            return feature in ALWAYS_ON
        state = compiled.state
        if server_id is None:
            return state.phase is Phase.STABLE
        if server_id in state.blacklist:
            return False
        phase = state.phase
        if phase is Phase.STABLE or server_id in self._internal:
            return True
        if phase is Phase.INTERNAL:
            return False
        if server_id in state.whitelist:
            return True
        if phase is Phase.BETA:
            return False
        buckets = compiled.buckets
        bucket = buckets.get(server_id)
        if bucket is None:
            if len(buckets) >= BUCKET_MEMO_LIMIT:
                buckets.clear()
            bucket = buckets[server_id] = bucket_of(feature, server_id)
        return bucket < compiled.threshold

    def explain(self, feature: str, server_id: str | None) -> Decision:
        state = self.snapshot.features.get(feature)
        if state is None:
            return Decision(False, "unknown feature")
        return decide(feature, state, server_id, self._internal)

    # --- keeping the snapshot current ---------------------------------------------------------
    def load_snapshot(self, snapshot: RolloutSnapshot) -> None:
        old = self._compiled
        changed = [
            name for name, state in snapshot.features.items() if name not in old or old[name].state != state
        ]
        if snapshot.internal_servers != self._internal:
            changed = list(snapshot.features)
        compiled: dict[str, CompiledFeature] = {}
        for name, state in snapshot.features.items():
            previous = old.get(name)
            # Bucket memos stay valid across changes: buckets depend only on the ids.
            memo = previous.buckets if previous is not None else {}
            compiled[name] = CompiledFeature(state, min(BUCKETS, threshold_of(state.percentage)), memo)
        self._compiled = compiled
        self._internal = snapshot.internal_servers
        self.snapshot = snapshot
        self.reloads += 1
        for name in changed:
            for callback in self.on_feature_change:
                callback(name)

    async def refresh(self) -> None:
        self.load_snapshot(await self.store.load())

    async def seed_defaults(self, defaults: list[FeatureDefault]) -> None:
        self.load_snapshot(await self.store.seed(defaults))

    async def run_watcher(self, interval: float = 0.25) -> None:
        """Reload whenever the stored version moves (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            try:
                version = await self.store.version()
                if version != self.snapshot.version:
                    await self.refresh()
                    _log.info("rollout state changed: now at version {}", version)
            except Exception as exc:  # storage hiccup: keep the last snapshot, retry
                _log.warning("could not check the rollout state: {}", exc)
            raise_if_cancel_was_swallowed()  # by the storage read

    async def record_servers(self, server_ids: Iterable[str]) -> None:
        """Remember the servers the bot is in now, and forget those it left (the monitor counts
        servers with a feature enabled, and adoption, from this list).

        Runs one at a time and reads ``server_ids`` (e.g. the cache's live dict of servers)
        only when its turn comes, so overlapping calls end with the latest list.
        """
        async with self._servers_lock:
            current = list(server_ids)
            now = datetime.now(UTC)
            collection = KnownServerDoc.get_pymongo_collection()
            if current:  # one round trip for all of them (in order, as one update each would)
                await collection.bulk_write(
                    [UpdateOne({"server_id": s}, {"$set": {"seen_at": now}}, upsert=True) for s in current]
                )
            await collection.delete_many({"server_id": {"$nin": current}})

    async def check_guards(
        self, metrics: FeatureMetrics, alert: Callable[[str], Awaitable[None]] | None = None
    ) -> list[str]:
        from logiq_core.framework.rollout.guard import enforce_guards

        return await enforce_guards(self, metrics, alert=alert)
