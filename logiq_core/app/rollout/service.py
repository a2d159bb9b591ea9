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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from logiq_core.app.settings import Settings
from logiq_core.framework.errors import LogiqError
from logiq_core.framework.features import FEATURE_NAME, FeatureInfo, Phase
from logiq_core.framework.rollout.config import RolloutConfig, load_rollout_config
from logiq_core.framework.rollout.models import ALL_DOCUMENTS
from logiq_core.framework.rollout.rules import FeatureState
from logiq_core.framework.rollout.status import ARROW, change_line, kept_percentage_note
from logiq_core.framework.rollout.store import RolloutSnapshot, RolloutStore
from logiq_core.framework.storage import Storage
from logiq_core.stoat.models import is_ulid

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


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RolloutInputError(f"duplicate key {key!r} in the import file")
        result[key] = value
    return result


def _server_list(items: object, where: str) -> frozenset[str]:
    if not isinstance(items, list):
        raise RolloutInputError(f"{where} must be a list of server ids")
    seen: set[str] = set()
    for item in items:
        try:
            check_server_id(str(item))
        except RolloutInputError as exc:
            raise RolloutInputError(f"{where}: {exc}") from None
        if item in seen:
            raise RolloutInputError(f"{where}: server {item} is listed twice")
        seen.add(str(item))
    return frozenset(seen)


@dataclass(frozen=True)
class ParsedImport:
    """An import file: the features it lists, and the internal servers if it lists them."""

    features: dict[str, FeatureState]
    internal_servers: frozenset[str] | None


@dataclass(frozen=True)
class ChangeReport:
    """What a command changed: the state before and after, and one line per change."""

    before: RolloutSnapshot
    after: RolloutSnapshot
    lines: list[str]

    @property
    def changed(self) -> bool:
        return self.before.version != self.after.version


def diff_lines(before: RolloutSnapshot, after: RolloutSnapshot, order: list[str]) -> list[str]:
    """``feature: before → after`` for every feature that differs, and the internal servers."""
    names = [n for n in order if n in before.features or n in after.features]
    names += sorted((set(before.features) | set(after.features)) - set(names))
    lines = [
        change_line(name, before.features.get(name), after.features.get(name))
        for name in names
        if before.features.get(name) != after.features.get(name)
    ]
    if before.internal_servers != after.internal_servers:
        lines.append(internal_line(before.internal_servers, after.internal_servers))
    return lines


def internal_line(before: frozenset[str], after: frozenset[str]) -> str:
    changes = [f"+{s}" for s in sorted(after - before)] + [f"-{s}" for s in sorted(before - after)]
    return f"internal servers: {len(before)} {ARROW} {len(after)} ({' '.join(changes)})"


class RolloutService:
    """The operations, bound to a store, the operator's configuration and the installed features."""

    def __init__(
        self,
        store: RolloutStore,
        installed: list[FeatureInfo],
        actor: str,
        listed: list[str] | None = None,
        config: RolloutConfig | None = None,
    ) -> None:
        self.store = store
        self.installed = installed
        self.actor = actor
        self.listed = listed or []
        self.config = config or RolloutConfig()

    async def snapshot(self) -> RolloutSnapshot:
        return await self.store.load()

    async def seed(self) -> RolloutSnapshot:
        return await self.store.seed(self.config.seeds(self.installed))

    def installed_names(self) -> set[str]:
        return {f.name for f in self.installed}

    def known_features(self, snapshot: RolloutSnapshot) -> list[str]:
        """Configured features, installed ones, then stored-only ones (the status order)."""
        names = list(self.config.names())
        for name in self.listed:
            if name not in names and (name in snapshot.features or name in self.installed_names()):
                names.append(name)
        names += sorted(f.name for f in self.installed if f.name not in names)
        names += sorted(n for n in snapshot.features if n not in names)
        return names

    def status_order(self, snapshot: RolloutSnapshot, verbose: bool = False) -> list[str]:
        """The plan's order (``[rollout.features]``), then plugins.toml's, then by name; every
        stored feature is listed (``-v`` marks those whose plugin is not installed)."""
        return [n for n in self.known_features(snapshot) if n in snapshot.features]

    def status_json(self, snapshot: RolloutSnapshot) -> dict[str, Any]:
        installed = self.installed_names()
        configured = set(self.config.names())
        features = {
            name: {
                **snapshot.features[name].to_json(),
                "installed": name in installed,
                "configured": name in configured,
                "percentage_applies": snapshot.features[name].phase in (Phase.GRADUAL, Phase.STABLE),
            }
            for name in self.status_order(snapshot)
        }
        return {
            "version": snapshot.version,
            "features": features,
            "internal_servers": sorted(snapshot.internal_servers),
        }

    async def require_feature(self, name: str) -> RolloutSnapshot:
        snapshot = await self.store.load()
        self._check_feature(snapshot, name)
        return snapshot

    def _check_feature(self, snapshot: RolloutSnapshot, name: str) -> None:
        """Raise the operator's error for a feature ``snapshot`` does not know."""
        if name not in snapshot.features:
            raise RolloutInputError(unknown_feature_message(name, self.known_features(snapshot)))

    async def _change_feature(
        self,
        feature: str,
        command: str,
        change: Callable[[FeatureState], FeatureState],
        note: Callable[[FeatureState, FeatureState], str | None] | None = None,
    ) -> ChangeReport:
        def apply(snapshot: RolloutSnapshot) -> RolloutSnapshot:
            # Checked on the state the change applies to (one read): an unknown feature raises
            # before anything is written, as require_feature would.
            self._check_feature(snapshot, feature)
            return snapshot.with_feature(feature, change(snapshot.features[feature]))

        before, after = await self.store.apply(
            apply,
            actor=self.actor,
            command=command,
            feature=feature,
        )
        old, new = before.features[feature], after.features[feature]
        line = change_line(feature, old, new, note(old, new) if note and old != new else None)
        return ChangeReport(before, after, [line])

    async def set_percentage(self, feature: str, percentage: str) -> ChangeReport:
        value = parse_percentage(percentage)

        def note(old: FeatureState, new: FeatureState) -> str | None:
            if old.phase is Phase.GRADUAL:
                return None
            return (
                f"--set moved {feature} from {old.phase.value} to gradual, where "
                f"{value:g}% of all servers get it"
            )

        return await self._change_feature(
            feature,
            f"--set {feature} {percentage}",
            lambda state: replace(state, phase=Phase.GRADUAL, percentage=value),
            note,
        )

    async def set_phase(self, feature: str, phase_text: str) -> ChangeReport:
        phase = parse_phase(phase_text)

        def note(old: FeatureState, new: FeatureState) -> str | None:
            return kept_percentage_note(feature, new)

        return await self._change_feature(
            feature,
            f"--phase {feature} {phase.value}",
            lambda state: replace(state, phase=phase),
            note,
        )

    async def whitelist(self, feature: str, server_id: str, add: bool) -> ChangeReport:
        check_server_id(server_id)

        def change(state: FeatureState) -> FeatureState:
            listed = state.whitelist | {server_id} if add else state.whitelist - {server_id}
            phase = Phase.BETA if add and state.phase is Phase.INTERNAL else state.phase
            return replace(state, whitelist=frozenset(listed), phase=phase)

        def note(old: FeatureState, new: FeatureState) -> str | None:
            if old.phase is Phase.INTERNAL and new.phase is Phase.BETA:
                return f"--whitelist moved {feature} from internal to beta, where whitelisted servers get it"
            return None

        verb = "--whitelist" if add else "--remove-whitelist"
        return await self._change_feature(feature, f"{verb} {feature} {server_id}", change, note)

    async def blacklist(self, feature: str, server_id: str, add: bool) -> ChangeReport:
        check_server_id(server_id)

        def change(state: FeatureState) -> FeatureState:
            listed = state.blacklist | {server_id} if add else state.blacklist - {server_id}
            return replace(state, blacklist=frozenset(listed))

        verb = "--blacklist" if add else "--remove-blacklist"
        return await self._change_feature(feature, f"{verb} {feature} {server_id}", change)

    async def internal(self, server_id: str, add: bool) -> ChangeReport:
        check_server_id(server_id)

        def change(s: RolloutSnapshot) -> RolloutSnapshot:
            servers = s.internal_servers | {server_id} if add else s.internal_servers - {server_id}
            return replace(s, internal_servers=frozenset(servers))

        verb = "--internal" if add else "--remove-internal"
        before, after = await self.store.apply(
            change, actor=self.actor, command=f"{verb} {server_id}", feature=None
        )
        if before.internal_servers == after.internal_servers:
            line = f"internal servers: {len(after.internal_servers)} (no change)"
        else:
            line = internal_line(before.internal_servers, after.internal_servers)
        return ChangeReport(before, after, [line])

    async def guard(self, feature: str, ceiling: str) -> ChangeReport:
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
        return await self._change_feature(
            feature, f"--guard {feature} {ceiling}", lambda state: replace(state, guard=value)
        )

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
    def parse_import(text: str) -> ParsedImport:
        """Validate a whole export file; raise RolloutInputError naming the first problem."""
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except ValueError as exc:
            raise RolloutInputError(f"not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
            raise RolloutInputError(f"not a Logiq rollout export (format must be {EXPORT_FORMAT!r})")
        if data.get("version") != EXPORT_VERSION:
            raise RolloutInputError(f"unsupported export version {data.get('version')!r}")
        features = data.get("features", {})
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
            whitelist = _server_list(value.get("whitelist", []), f"{name}: whitelist")
            blacklist = _server_list(value.get("blacklist", []), f"{name}: blacklist")
            guard = value.get("guard")
            if guard is not None and (
                isinstance(guard, bool) or not isinstance(guard, int | float) or not 0 < guard <= 100
            ):
                raise RolloutInputError(f"{name}: guard must be null or a % above 0")
            parsed[name] = FeatureState(
                phase, percentage, whitelist, blacklist, float(guard) if guard is not None else None
            )
        internal = None
        if "internal_servers" in data:
            internal = _server_list(data["internal_servers"], "internal_servers")
        return ParsedImport(parsed, internal)

    def check_import_names(self, parsed: ParsedImport, snapshot: RolloutSnapshot) -> None:
        known = self.known_features(snapshot)
        for name in parsed.features:
            if name not in known:
                raise RolloutInputError(unknown_feature_message(name, known))

    def merged(self, parsed: ParsedImport, current: RolloutSnapshot, replace_all: bool) -> RolloutSnapshot:
        """The state after importing: only the listed features change. With ``replace_all`` the
        file is the whole state: features it does not list are dropped, except configured or
        installed ones, which return to their starting phase (they would be seeded again)."""
        if replace_all:
            features = {
                d.name: FeatureState(d.phase, d.percentage)
                for d in self.config.seeds(self.installed)
                if d.name not in parsed.features
            }
            features.update(parsed.features)
        else:
            features = {**current.features, **parsed.features}
        internal = parsed.internal_servers
        if internal is None:
            internal = frozenset() if replace_all else current.internal_servers
        return RolloutSnapshot(current.version, features, internal)

    async def preview_import(self, text: str, replace_all: bool) -> ChangeReport:
        """The diff an import would apply, without writing anything."""
        parsed = self.parse_import(text)
        current = await self.store.load()
        self.check_import_names(parsed, current)
        after = self.merged(parsed, current, replace_all)
        return ChangeReport(current, current, diff_lines(current, after, self.known_features(current)))

    async def import_state(self, text: str, source: str, replace_all: bool = False) -> ChangeReport:
        parsed = self.parse_import(text)
        self.check_import_names(parsed, await self.store.load())
        command = f"--import {source}" + (" --replace" if replace_all else "")
        before, after = await self.store.apply(
            lambda s: self.merged(parsed, s, replace_all), actor=self.actor, command=command
        )
        return ChangeReport(before, after, diff_lines(before, after, self.known_features(after)))


def unknown_feature_message(name: str, known: list[str]) -> str:
    guess = difflib.get_close_matches(name, known, n=1)
    if guess:
        hint = f"; did you mean {guess[0]}?"
    elif known:
        hint = f"; known features: {', '.join(known)}"
    else:
        hint = "; no feature is known yet"
    return f"unknown feature {name!r}{hint}"


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings,
    *,
    actor: str | None = None,
    installed: list[FeatureInfo] | None = None,
    seed: bool = True,
    storage: Storage | None = None,
) -> AsyncIterator[RolloutService]:
    """Start storage, bind a service to it, and stop storage afterwards (``storage``: one that
    is already started, with the rollout documents, and stays so)."""
    from logiq_core.framework.plugins import installed_features
    from logiq_core.framework.policy import load_policy

    features = installed if installed is not None else installed_features(settings.plugins_file)
    listed = load_policy(settings.plugins_file).order()
    config = load_rollout_config(settings.plugins_file)
    owned = storage is None
    if storage is None:
        storage = Storage(settings.mongodb_uri, settings.data_dir)
        await storage.start(ALL_DOCUMENTS)
    try:
        store = RolloutStore(storage.data_dir / "rollout.lock" if storage.embedded else None)
        service = RolloutService(store, features, actor or default_actor(), listed, config)
        if seed:
            await service.seed()
        yield service
    finally:
        if owned:
            await storage.stop()


async def describe_phases(settings: Settings) -> dict[str, str]:
    """``{feature: "gradual (50%)"}`` from storage (used by ``logiq plugins``)."""
    from logiq_core.framework.rollout.status import describe

    async with open_service(settings, installed=[], seed=False) as service:
        snapshot = await service.snapshot()
    return {name: describe(state) for name, state in snapshot.features.items()}


def read_import_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RolloutInputError(f"cannot read {path}: {exc.strerror or exc}") from None
