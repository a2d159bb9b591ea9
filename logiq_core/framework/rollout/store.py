"""Reading and changing the stored rollout state, atomically and with an audit trail.

Every change is a function from the current state to the new one. It is applied with
optimistic concurrency: write only if the state's ``version`` is still the one read, else read
again and retry, so two CLI runs (or the CLI and the bot's guard) never lose a change. When the
embedded server is used, writers also take a file lock in the data directory, because two
nx-27017 processes over one SQLite file are the writers being serialised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from beanie import SortDirection
from pymongo.errors import DuplicateKeyError

from logiq_core.framework.errors import LogiqError
from logiq_core.framework.filelock import DataDirLock
from logiq_core.framework.rollout.config import FeatureDefault
from logiq_core.framework.rollout.models import STATE_ID, RolloutAuditDoc, RolloutStateDoc
from logiq_core.framework.rollout.rules import FeatureState

MAX_ATTEMPTS = 20


class RolloutConflict(LogiqError):
    """The state kept changing under us (should not happen in practice)."""


@dataclass(frozen=True)
class RolloutSnapshot:
    """The whole rollout state at one version."""

    version: int = 0
    features: dict[str, FeatureState] = field(default_factory=dict)
    internal_servers: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "features": {name: state.to_json() for name, state in self.features.items()},
            "internal_servers": sorted(self.internal_servers),
        }

    def with_feature(self, name: str, state: FeatureState) -> RolloutSnapshot:
        return replace(self, features={**self.features, name: state})


def snapshot_from_document(document: dict[str, Any] | None) -> RolloutSnapshot:
    if not document:
        return RolloutSnapshot()
    return RolloutSnapshot(
        version=int(document.get("version", 0)),
        features={
            name: FeatureState.from_json(value) for name, value in (document.get("features") or {}).items()
        },
        internal_servers=frozenset(document.get("internal_servers") or []),
    )


Change = Callable[[RolloutSnapshot], RolloutSnapshot]


class RolloutStore:
    """The rollout state in storage (Beanie must already be initialised with its documents)."""

    def __init__(self, lock_path: Path | None = None) -> None:
        self.lock_path = lock_path
        self._lock = DataDirLock(lock_path)

    @staticmethod
    def _collection() -> Any:
        return RolloutStateDoc.get_pymongo_collection()

    async def load(self) -> RolloutSnapshot:
        return snapshot_from_document(await self._collection().find_one({"_id": STATE_ID}))

    async def version(self) -> int:
        document = await self._collection().find_one({"_id": STATE_ID}, {"version": 1})
        return int(document.get("version", 0)) if document else 0

    def _locked(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._lock.hold()

    async def apply(
        self,
        change: Change,
        *,
        actor: str,
        command: str,
        feature: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> tuple[RolloutSnapshot, RolloutSnapshot]:
        """Apply ``change`` atomically and audit it; returns (before, after).

        A change that alters nothing writes nothing and is not audited.
        """
        async with self._locked():
            for _ in range(MAX_ATTEMPTS):
                stored = await self._collection().find_one({"_id": STATE_ID})
                before = snapshot_from_document(stored)
                after = change(before)
                if after.to_json() == before.to_json():
                    return before, before
                new_version = before.version + 1
                document = {"_id": STATE_ID, "version": new_version, **after.to_json()}
                if stored is None:
                    try:
                        await self._collection().insert_one(document)
                    except DuplicateKeyError:
                        continue  # someone else created it first: read again
                else:
                    result = await self._collection().replace_one(
                        {"_id": STATE_ID, "version": before.version}, document
                    )
                    if result.modified_count != 1:
                        continue
                after = replace(after, version=new_version)
                await self._audit(new_version, actor, command, feature, before, after, evidence)
                return before, after
        raise RolloutConflict("the rollout state kept changing; try again")

    async def _audit(
        self,
        position: int,
        actor: str,
        command: str,
        feature: str | None,
        before: RolloutSnapshot,
        after: RolloutSnapshot,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        if feature is not None:
            old = before.features.get(feature)
            new = after.features.get(feature)
            before_json = old.to_json() if old else None
            after_json = new.to_json() if new else None
        else:
            before_json, after_json = before.to_json(), after.to_json()
        await RolloutAuditDoc(
            position=position,
            at=datetime.now(UTC),
            actor=actor,
            command=command,
            feature=feature,
            before=before_json,
            after=after_json,
            evidence=evidence,
        ).insert()

    async def seed(self, defaults: list[FeatureDefault]) -> RolloutSnapshot:
        """Add never-seen features at their configured (or plugin) default; never overwrite."""

        def add_missing(snapshot: RolloutSnapshot) -> RolloutSnapshot:
            result = snapshot
            for default in defaults:
                if default.name not in result.features:
                    result = result.with_feature(
                        default.name, FeatureState(default.phase, default.percentage)
                    )
            return result

        _, after = await self.apply(add_missing, actor="logiq", command="seed defaults")
        return after

    async def history(self, feature: str | None = None, limit: int = 50) -> list[RolloutAuditDoc]:
        query = (
            RolloutAuditDoc.find(RolloutAuditDoc.feature == feature)
            if feature
            else (RolloutAuditDoc.find_all())
        )
        entries = await query.sort(("position", SortDirection.DESCENDING)).limit(limit).to_list()
        return list(reversed(entries))

    async def last_position(self) -> int:
        latest = await RolloutAuditDoc.find_all().sort(("position", SortDirection.DESCENDING)).first_or_none()
        return latest.position if latest else 0
