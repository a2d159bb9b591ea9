"""Operator operations on the rollout state: validated, atomic, audited.

Every operation validates its input completely before touching storage and raises
:class:`RolloutInputError` (one clear sentence) for anything wrong, so a bad command changes
nothing. The CLI (script and ``logiq rollout``) is a thin layer over these functions.
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from logiq_core.errors import LogiqError
from logiq_core.features import FEATURE_NAME, FeatureInfo, Phase
from logiq_core.models import is_ulid
from logiq_core.rollout.models import ALL_DOCUMENTS
from logiq_core.rollout.rules import FeatureState
from logiq_core.rollout.store import RolloutSnapshot, RolloutStore
from logiq_core.settings import Settings
from logiq_core.storage import Storage

EXPORT_FORMAT = "logiq-rollout"
EXPORT_VERSION = 1


class RolloutInputError(LogiqError):
    """Bad operator input; nothing was changed."""


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "unknown"


def parse_percentage(text: str) -> float:
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise RolloutInputError(f"percentage must be a number from 0 to 100, not {text!r}") from None
    if not 0 <= value <= 100 or value != value:
        raise RolloutInputError(f"percentage must be from 0 to 100, not {text}")
    if abs(round(value, 2) - value) > 1e-9:
        raise RolloutInputError(f"percentage goes in steps of 0.01, not {text}")
    return round(value, 2)


def parse_phase(text: str) -> Phase:
    try:
        return Phase(text.strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in Phase)
        raise RolloutInputError(f"phase must be one of {choices}, not {text!r}") from None


def check_server_id(text: str) -> str:
    if not is_ulid(text):
        raise RolloutInputError(
            f"{text!r} is not a Stoat server id (26 characters of 0-9 and A-Z without I, L, O, U)"
        )
    return text


class RolloutService:
    """The operations, bound to a store and the known features."""

    def __init__(
        self,
        store: RolloutStore,
        installed: list[FeatureInfo],
        actor: str,
        listed: list[str] | None = None,
    ) -> None:
        self.store = store
        self.installed = installed
        self.actor = actor
        self.listed = listed or []

    async def snapshot(self) -> RolloutSnapshot:
        return await self.store.load()

    async def seed(self) -> RolloutSnapshot:
        return await self.store.seed(self.installed)

    def known_features(self, snapshot: RolloutSnapshot) -> list[str]:
        """Installed features in plugins.toml order, then stored-only ones by name."""
        names = [f.name for f in self.installed]
        names.extend(sorted(n for n in snapshot.features if n not in names))
        return names

    def status_order(self, snapshot: RolloutSnapshot, verbose: bool) -> list[str]:
        """plugins.toml's order, then other installed features by name; with ``verbose``, also
        features that are only stored (e.g. a plugin since uninstalled)."""
        names = [n for n in self.listed if n in snapshot.features]
        installed = sorted(f.name for f in self.installed)
        names += [n for n in installed if n not in names and n in snapshot.features]
        if verbose:
            names += sorted(n for n in snapshot.features if n not in names)
        return names

    async def require_feature(self, name: str) -> RolloutSnapshot:
        snapshot = await self.store.load()
        known = self.known_features(snapshot)
        if name not in known or name not in snapshot.features:
            guess = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {guess[0]}?" if guess else (
                f"; known features: {', '.join(known)}" if known else "; no feature is known yet"
            )  # fmt: skip
            raise RolloutInputError(f"unknown feature {name!r}{hint}")
        return snapshot

    async def _change(
        self,
        feature: str | None,
        command: str,
        change: Callable[[RolloutSnapshot], RolloutSnapshot],
    ) -> RolloutSnapshot:
        _, after = await self.store.apply(change, actor=self.actor, command=command, feature=feature)
        return after

    async def set_percentage(self, feature: str, percentage: str) -> RolloutSnapshot:
        value = parse_percentage(percentage)
        await self.require_feature(feature)
        return await self._change(
            feature, f"--set {feature} {percentage}",
            lambda s: s.with_feature(
                feature, replace(s.features[feature], phase=Phase.GRADUAL, percentage=value)
            ),
        )  # fmt: skip

    async def set_phase(self, feature: str, phase_text: str) -> RolloutSnapshot:
        phase = parse_phase(phase_text)
        await self.require_feature(feature)
        return await self._change(
            feature, f"--phase {feature} {phase.value}",
            lambda s: s.with_feature(feature, replace(s.features[feature], phase=phase)),
        )  # fmt: skip

    async def whitelist(self, feature: str, server_id: str, add: bool) -> RolloutSnapshot:
        check_server_id(server_id)
        await self.require_feature(feature)

        def change(s: RolloutSnapshot) -> RolloutSnapshot:
            state = s.features[feature]
            listed = state.whitelist | {server_id} if add else state.whitelist - {server_id}
            phase = Phase.BETA if add and state.phase is Phase.INTERNAL else state.phase
            return s.with_feature(feature, replace(state, whitelist=frozenset(listed), phase=phase))

        verb = "--whitelist" if add else "--remove-whitelist"
        return await self._change(feature, f"{verb} {feature} {server_id}", change)

    async def blacklist(self, feature: str, server_id: str, add: bool) -> RolloutSnapshot:
        check_server_id(server_id)
        await self.require_feature(feature)

        def change(s: RolloutSnapshot) -> RolloutSnapshot:
            state = s.features[feature]
            listed = state.blacklist | {server_id} if add else state.blacklist - {server_id}
            return s.with_feature(feature, replace(state, blacklist=frozenset(listed)))

        verb = "--blacklist" if add else "--remove-blacklist"
        return await self._change(feature, f"{verb} {feature} {server_id}", change)

    async def internal(self, server_id: str, add: bool) -> RolloutSnapshot:
        check_server_id(server_id)

        def change(s: RolloutSnapshot) -> RolloutSnapshot:
            servers = s.internal_servers | {server_id} if add else s.internal_servers - {server_id}
            return replace(s, internal_servers=frozenset(servers))

        verb = "--internal" if add else "--remove-internal"
        return await self._change(None, f"{verb} {server_id}", change)

    async def guard(self, feature: str, ceiling: str) -> RolloutSnapshot:
        value: float | None
        if ceiling.strip().lower() in ("off", "none", "0"):
            value = None
        else:
            try:
                value = float(ceiling.rstrip("%"))
            except ValueError:
                raise RolloutInputError(
                    f"guard is an error-rate ceiling in % or 'off', not {ceiling!r}"
                ) from None
            if not 0 < value <= 100:
                raise RolloutInputError("a guard ceiling is above 0 and at most 100 (%)")
        await self.require_feature(feature)
        return await self._change(
            feature, f"--guard {feature} {ceiling}",
            lambda s: s.with_feature(feature, replace(s.features[feature], guard=value)),
        )  # fmt: skip

    # --- export / import ----------------------------------------------------------------------
    async def export(self) -> dict[str, Any]:
        snapshot = await self.store.load()
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "state_version": snapshot.version,
            "audit_position": await self.store.last_position(),
            **snapshot.to_json(),
        }

    @staticmethod
    def parse_import(text: str) -> RolloutSnapshot:
        """Validate a whole export file; raise RolloutInputError naming the first problem."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RolloutInputError(f"not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
            raise RolloutInputError(f"not a Logiq rollout export (format must be {EXPORT_FORMAT!r})")
        if data.get("version") != EXPORT_VERSION:
            raise RolloutInputError(f"unsupported export version {data.get('version')!r}")
        features = data.get("features")
        if not isinstance(features, dict):
            raise RolloutInputError("'features' must be an object of feature name to state")
        parsed: dict[str, FeatureState] = {}
        for name, value in features.items():
            if not isinstance(name, str) or not FEATURE_NAME.match(name):
                raise RolloutInputError(f"bad feature name {name!r}")
            if not isinstance(value, dict):
                raise RolloutInputError(f"{name}: state must be an object")
            unknown = set(value) - {"phase", "percentage", "whitelist", "blacklist", "guard"}
            if unknown:
                raise RolloutInputError(f"{name}: unknown field(s) {', '.join(sorted(unknown))}")
            phase = parse_phase(str(value.get("phase")))
            percentage = parse_percentage(str(value.get("percentage")))
            lists = {}
            for key in ("whitelist", "blacklist"):
                items = value.get(key, [])
                if not isinstance(items, list):
                    raise RolloutInputError(f"{name}: {key} must be a list of server ids")
                for item in items:
                    try:
                        check_server_id(str(item))
                    except RolloutInputError as exc:
                        raise RolloutInputError(f"{name}: {key}: {exc}") from None
                lists[key] = frozenset(items)
            guard = value.get("guard")
            if guard is not None and (not isinstance(guard, int | float) or not 0 < guard <= 100):
                raise RolloutInputError(f"{name}: guard must be null or a % above 0")
            parsed[name] = FeatureState(
                phase, percentage, lists["whitelist"], lists["blacklist"],
                float(guard) if guard is not None else None,
            )  # fmt: skip
        internal = data.get("internal_servers", [])
        if not isinstance(internal, list):
            raise RolloutInputError("'internal_servers' must be a list of server ids")
        for item in internal:
            check_server_id(str(item))
        return RolloutSnapshot(0, parsed, frozenset(internal))

    async def import_state(self, text: str, source: str) -> tuple[RolloutSnapshot, RolloutSnapshot]:
        imported = self.parse_import(text)
        return await self.store.apply(
            lambda s: replace(imported, version=s.version),
            actor=self.actor,
            command=f"--import {source}",
        )


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings,
    *,
    actor: str | None = None,
    installed: list[FeatureInfo] | None = None,
    seed: bool = True,
) -> AsyncIterator[RolloutService]:
    """Start storage, bind a service to it, and stop storage afterwards."""
    from logiq_core.plugins import installed_features
    from logiq_core.policy import load_policy

    features = installed if installed is not None else installed_features(settings.plugins_file)
    listed = load_policy(settings.plugins_file).order()
    storage = Storage(settings.mongodb_uri, settings.data_dir)
    await storage.start(ALL_DOCUMENTS)
    try:
        store = RolloutStore(settings.data_dir / "rollout.lock" if storage.embedded else None)
        service = RolloutService(store, features, actor or default_actor(), listed)
        if seed and features:
            await service.seed()
        yield service
    finally:
        await storage.stop()


async def describe_phases(settings: Settings) -> dict[str, str]:
    """``{feature: "gradual (50%)"}`` from storage (used by ``logiq plugins``)."""
    from logiq_core.rollout.status import describe

    async with open_service(settings, installed=[], seed=False) as service:
        snapshot = await service.snapshot()
    return {name: describe(state) for name, state in snapshot.features.items()}


def read_import_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RolloutInputError(f"cannot read {path}: {exc.strerror or exc}") from None
