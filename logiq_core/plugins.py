"""The plugin manager: discovery through entry points, policy from plugins.toml, isolation.

Every plugin goes through the same steps, and a failure at any step marks that plugin failed
with the reason and leaves nothing of it registered (no half-loaded plugins):

1. discovered in the ``logiq.plugins`` entry-point group (or handed in directly by tests);
2. skipped unless plugins.toml enables it (listed-but-not-installed: a warning, or an error when
   the plugin is marked required);
3. imported (a class is instantiated once per bot, a module is used as is);
4. checked: every hook implementation must match a hookspec (the ``check_pending`` rule),
   ``logiq_feature`` must name the plugin, document collections must be prefixed by it;
5. its commands, listeners, jobs and documents are collected into the plugin's record.
"""

from __future__ import annotations

import difflib
import inspect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal

import pluggy
from loguru import logger

from logiq_core import hookspecs
from logiq_core.errors import ConfigurationError
from logiq_core.features import FeatureInfo
from logiq_core.jobs import Job
from logiq_core.listeners import Listener
from logiq_core.policy import Policy, load_policy
from logiq_core.timers import TimerHandler

PluginStatus = Literal["loaded", "failed", "disabled", "not installed"]
_log = logger.bind(component="plugins")


@dataclass
class PluginRecord:
    """Everything the core knows about one plugin, including why it failed."""

    name: str
    distribution: str | None = None
    version: str | None = None
    enabled: bool = True
    required: bool = False
    status: PluginStatus = "disabled"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    feature: FeatureInfo | None = None
    config: dict[str, Any] = field(default_factory=dict)
    plugin: object | None = None
    commands: list[Any] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    timer_handlers: list[TimerHandler] = field(default_factory=list)
    documents: list[type] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def loaded(self) -> bool:
        return self.status == "loaded"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "enabled": self.enabled,
            "required": self.required,
            "status": self.status,
            "error": self.error,
            "hooks": self.hooks,
            "default_phase": self.feature.default_phase.value if self.feature else None,
            "default_percentage": self.feature.default_percentage if self.feature else None,
            "description": self.feature.description if self.feature else None,
            "failures": dict(self.failures),
        }


class PluginLoadError(Exception):
    """Raised inside loading to mark one plugin failed with a readable reason."""


def _install_hint(name: str) -> str:
    return f'pip install "logiq[{name}]"  (or: pip install logiq-{name.replace("_", "-")})'


class PluginManager:
    """One bot's plugins. Build a new one per bot: nothing here is global."""

    def __init__(
        self,
        policy: Policy,
        *,
        entry_points_override: Iterable[EntryPoint] | None = None,
        extra_plugins: Mapping[str, object] | None = None,
        use_entry_points: bool = True,
    ) -> None:
        self.policy = policy
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._entry_points = entry_points_override
        self._extra = dict(extra_plugins or {})
        self._use_entry_points = use_entry_points

    # --- discovery ----------------------------------------------------------------------------
    def _discovered(self) -> dict[str, EntryPoint | object]:
        found: dict[str, EntryPoint | object] = {}
        if self._use_entry_points:
            eps = (
                self._entry_points
                if self._entry_points is not None
                else entry_points(group=hookspecs.ENTRY_POINT_GROUP)
            )
            for ep in eps:
                found.setdefault(ep.name, ep)
        found.update(self._extra)
        return found

    def discover(self) -> list[PluginRecord]:
        """Record every installed plugin and every plugin plugins.toml lists (no imports)."""
        self.records.clear()
        for name, source in self._discovered().items():
            policy = self.policy.for_plugin(name)
            record = PluginRecord(
                name=name, enabled=policy.enabled, required=policy.required, config=policy.config
            )
            if isinstance(source, EntryPoint) and source.dist is not None:
                record.distribution = source.dist.name
                record.version = source.dist.version
            record.status = "disabled"
            self.records[name] = record
        for name, policy in self.policy.plugins.items():
            if name not in self.records and policy.enabled:
                self.records[name] = PluginRecord(
                    name=name,
                    enabled=True,
                    required=policy.required,
                    status="not installed",
                    error=f"listed in plugins.toml but not installed; install it with: {_install_hint(name)}",
                    config=policy.config,
                )
        return self.ordered()

    def ordered(self) -> list[PluginRecord]:
        """Records in plugins.toml order, then the rest by name."""
        order = {name: index for index, name in enumerate(self.policy.order())}
        return sorted(self.records.values(), key=lambda r: (order.get(r.name, len(order)), r.name))

    # --- loading ------------------------------------------------------------------------------
    def load(self) -> list[PluginRecord]:
        """Discover, then import and register every enabled plugin, isolating failures.

        Raises :class:`ConfigurationError` only when a *required* plugin is missing or failed.
        """
        self.discover()
        sources = self._discovered()
        for record in self.ordered():
            if record.status == "not installed":
                message = f"plugin {record.name}: {record.error}"
                if record.required:
                    raise ConfigurationError(message)
                _log.warning(message)
                continue
            if not record.enabled:
                continue
            self._load_one(record, sources[record.name])
            if record.status == "failed" and record.required:
                raise ConfigurationError(f"required plugin {record.name} failed: {record.error}")
        return self.ordered()

    def _load_one(self, record: PluginRecord, source: EntryPoint | object) -> None:
        try:
            loaded = source.load() if isinstance(source, EntryPoint) else source
            plugin = loaded() if inspect.isclass(loaded) else loaded
        except Exception as exc:  # a broken plugin must never stop the bot
            self._fail(record, f"import failed: {type(exc).__name__}: {exc}")
            return
        try:
            self._check_hook_names(plugin)
            self.pm.register(plugin, name=record.name)
        except (PluginLoadError, pluggy.PluginValidationError, ValueError) as exc:
            self._fail(record, str(exc))
            return
        record.plugin = plugin
        record.hooks = sorted(
            impl.function.__name__
            for caller in self.pm.get_hookcallers(plugin) or []
            for impl in caller.get_hookimpls()
            if impl.plugin is plugin
        )
        try:
            self._collect(record)
        except Exception as exc:
            self.unregister(record, f"{type(exc).__name__}: {exc}")
            return
        record.status = "loaded"
        _log.bind(component=record.name).info(
            "loaded plugin {} ({} commands, {} listeners, {} jobs)",
            record.name,
            len(record.commands),
            len(record.listeners),
            len(record.jobs),
        )

    def _check_hook_names(self, plugin: object) -> None:
        known = set(hookspecs.hook_names())
        for attribute in dir(plugin):
            if self.pm.parse_hookimpl_opts(plugin, attribute) is None:
                continue
            if attribute not in known:
                guess = difflib.get_close_matches(attribute, known, n=1)
                hint = f" (did you mean {guess[0]}?)" if guess else ""
                raise PluginLoadError(f"implements unknown hook {attribute}{hint}")

    def call(self, record: PluginRecord, hook_name: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of one hook (None if it does not implement it)."""
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is record.plugin:
                return impl.function(*[kwargs[name] for name in impl.argnames])
        return None

    def _collect(self, record: PluginRecord) -> None:
        feature = self.call(record, "logiq_feature")
        if not isinstance(feature, FeatureInfo):
            raise PluginLoadError("logiq_feature must return a FeatureInfo")
        if feature.name != record.name:
            raise PluginLoadError(
                f"logiq_feature names {feature.name!r} but the entry point is {record.name!r}"
            )
        record.feature = feature
        documents = list(self.call(record, "logiq_document_models") or [])
        for document in documents:
            collection = getattr(getattr(document, "Settings", None), "name", None)
            if not isinstance(collection, str) or not collection.startswith(f"{record.name}_"):
                raise PluginLoadError(
                    f"document {document.__name__} must set Settings.name to a collection "
                    f"starting with '{record.name}_' (got {collection!r})"
                )
        commands: list[Any] = []
        listeners: list[Listener] = []
        jobs: list[Job] = []
        timer_handlers: list[TimerHandler] = []
        self.call(record, "logiq_register_commands", register=commands.append, config=record.config)
        self.call(record, "logiq_register_listeners", register=listeners.append, config=record.config)
        self.call(record, "logiq_register_jobs", register=jobs.append, config=record.config)
        self.call(record, "logiq_register_timers", register=timer_handlers.append, config=record.config)
        for listener in listeners:
            if not isinstance(listener, Listener):
                raise PluginLoadError(f"registered {listener!r}, which is not a Listener")
        for job in jobs:
            if not isinstance(job, Job):
                raise PluginLoadError(f"registered {job!r}, which is not a Job")
        for handler in timer_handlers:
            if not isinstance(handler, TimerHandler):
                raise PluginLoadError(f"registered {handler!r}, which is not a TimerHandler")
        names = [handler.name for handler in timer_handlers]
        if len(set(names)) != len(names):
            raise PluginLoadError(f"registered two timer handlers with one name: {sorted(names)}")
        record.documents, record.commands = documents, commands
        record.listeners, record.jobs = listeners, jobs
        record.timer_handlers = timer_handlers

    def _fail(self, record: PluginRecord, reason: str) -> None:
        record.status = "failed"
        record.error = reason
        record.failures["load"] += 1
        _log.bind(component=record.name).error("plugin {} failed: {}", record.name, reason)

    def unregister(self, record: PluginRecord, reason: str) -> None:
        """Mark a plugin failed and drop everything it registered."""
        if record.plugin is not None and self.pm.is_registered(record.plugin):
            self.pm.unregister(record.plugin)
        record.commands, record.listeners, record.jobs, record.documents = [], [], [], []
        record.timer_handlers = []
        self._fail(record, reason)

    def loaded(self) -> list[PluginRecord]:
        return [record for record in self.ordered() if record.loaded]

    def features(self) -> list[FeatureInfo]:
        return [record.feature for record in self.loaded() if record.feature is not None]


def installed_features(plugins_file: Path) -> list[FeatureInfo]:
    """Features declared by installed, enabled plugins: plugins.toml order, then by name.

    Used by the rollout CLI, where a broken plugin is not the operator's question: plugins
    that fail to load are skipped quietly (``logiq plugins`` is where failures are shown).
    """
    manager = PluginManager(load_policy(plugins_file))
    logger.disable("logiq_core.plugins")
    try:
        manager.load()
    except ConfigurationError:
        pass
    finally:
        logger.enable("logiq_core.plugins")
    return manager.features()
