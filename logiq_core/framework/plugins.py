"""The plugin manager: discovery through entry points, policy from plugins.toml, isolation.

Every plugin goes through the same steps, and a failure at any step marks that plugin failed
with the reason and leaves nothing of it registered (no half-loaded plugins):

1. discovered in the ``logiq.plugins`` entry-point group (or handed in directly by tests);
2. skipped unless plugins.toml enables it (listed-but-not-installed: a warning, or an error when
   the plugin is marked required);
3. imported (a class is instantiated once per bot, a module is used as is);
4. checked: every hook implementation must match a hookspec (the ``check_pending`` rule),
   ``logiq_feature`` names the plugin (or leaves the name to the entry point), document
   collections are prefixed by it (added when missing);
5. its ``[plugins.<name>.config]`` table validated against the ``PluginConfig`` model its
   ``FeatureInfo`` declares (before any register hook; the model instance replaces the table,
   and a plugin without a model keeps the plain dict);
6. its commands, listeners, jobs and documents are collected into the plugin's record, each
   checked for what it must be: a wrong registration fails the plugin with a message saying
   what to write instead, and a command name that another plugin or the core already uses
   fails the later plugin, naming both.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pluggy
from loguru import logger

from logiq_core.framework import hookspecs
from logiq_core.framework.commands.model import Command
from logiq_core.framework.config import PluginConfig, PluginConfigError, validate_plugin_config
from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.features import CORE_FEATURE, FeatureInfo
from logiq_core.framework.jobs import Job
from logiq_core.framework.listeners import EventListener, ListenerError, check_listener
from logiq_core.framework.policy import Policy, load_policy
from logiq_core.framework.timers import TimerHandler

PluginStatus = Literal["loaded", "failed", "disabled", "not installed"]
_log = logger.bind(component="plugins")
TRACE_VARIABLE = "LOGIQ_TRACE_PLUGINS"
"""Set (to anything but 0) to log every hook call: the hook, the plugins called, the outcome."""


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
    config: PluginConfig | dict[str, Any] = field(default_factory=dict)
    """The plugins.toml table; once loaded, the instance of the plugin's config model, if any."""
    plugin: object | None = None
    commands: list[Command] = field(default_factory=list)
    listeners: list[EventListener] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    timer_handlers: list[TimerHandler] = field(default_factory=list)
    documents: list[type] = field(default_factory=list)
    web_items: list[Any] = field(default_factory=list)  # WebPage / WebSettings for the dashboard
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


@dataclass(frozen=True)
class _Reading:
    search_path: tuple[tuple[str, int], ...]
    entry_points: tuple[EntryPoint, ...]
    distributions: tuple[tuple[str, str] | None, ...]  # (name, version) of each entry point's
    settled: bool  # no folder had changed within the clock's resolution of the reading


def _search_path_state() -> tuple[tuple[str, int], ...]:
    """Each import path entry with its modification time: installing or removing a distribution
    adds or removes its ``.dist-info`` folder in one of them, which changes that time."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return tuple(state)


class InstalledEntryPoints:
    """The ``logiq.plugins`` entry points of the installed distributions, read once per process.

    Finding them reads every installed distribution's metadata (tens of milliseconds), so the
    answer is kept while ``sys.path`` and its folders are unchanged: a bot started again in the
    same process does not pay it again, and a plugin installed meanwhile is still found. (An
    answer read just after a folder changed is not kept: a change within the same tick of the
    file system's clock would leave the folder's time as it was.)
    """

    SETTLED_NS = 2_000_000_000
    """A folder changed this recently may change again within the same timestamp tick."""

    def __init__(self) -> None:
        self._reading: _Reading | None = None

    def entry_points(self) -> tuple[EntryPoint, ...]:
        return self._read().entry_points

    def distribution_of(self, ep: EntryPoint) -> tuple[str, str] | None:
        """The name and version of the distribution that declares ``ep``, if known."""
        reading = self._reading
        if reading is not None:
            for known, distribution in zip(reading.entry_points, reading.distributions, strict=True):
                if known is ep:
                    return distribution
        return (ep.dist.name, ep.dist.version) if ep.dist is not None else None

    def forget(self) -> None:
        """Read again on the next call, whatever changed."""
        self._reading = None

    def _read(self) -> _Reading:
        state = _search_path_state()
        reading = self._reading
        if reading is None or not reading.settled or reading.search_path != state:
            found = tuple(entry_points(group=hookspecs.ENTRY_POINT_GROUP))
            distributions = tuple(
                (ep.dist.name, ep.dist.version) if ep.dist is not None else None for ep in found
            )
            changed_before = time.time_ns() - self.SETTLED_NS
            settled = all(mtime < changed_before for _, mtime in state)
            reading = self._reading = _Reading(state, found, distributions, settled)
        return reading


installed = InstalledEntryPoints()
"""The process's one reading of the installed plugins."""


def installed_entry_points() -> tuple[EntryPoint, ...]:
    """The ``logiq.plugins`` entry points of the installed distributions (see InstalledEntryPoints)."""
    return installed.entry_points()


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
        if os.environ.get(TRACE_VARIABLE, "") not in ("", "0"):
            self.pm.add_hookcall_monitoring(_trace_before, _trace_after)
        self.records: dict[str, PluginRecord] = {}
        # The core's own commands and documents: a plugin loaded first, through the same door.
        self.core = PluginRecord(name=CORE_FEATURE, required=True)
        self._entry_points = entry_points_override
        self._extra = dict(extra_plugins or {})
        self._use_entry_points = use_entry_points
        self._taken: dict[str, str] = {}  # command name -> the plugin (or CORE_FEATURE) that has it
        self._sources: dict[str, EntryPoint | object] = {}

    # --- discovery ----------------------------------------------------------------------------
    def _discovered(self) -> dict[str, EntryPoint | object]:
        found: dict[str, EntryPoint | object] = {}
        if self._use_entry_points:
            eps = self._entry_points if self._entry_points is not None else installed_entry_points()
            for ep in eps:
                found.setdefault(ep.name, ep)
        found.update(self._extra)
        return found

    def discover(self) -> list[PluginRecord]:
        """Record every installed plugin and every plugin plugins.toml lists (no imports)."""
        self.records.clear()
        self._sources = self._discovered()  # load() imports from these: installed plugins are listed once
        for name, source in self._sources.items():
            policy = self.policy.for_plugin(name)
            record = PluginRecord(
                name=name, enabled=policy.enabled, required=policy.required, config=policy.config
            )
            if isinstance(source, EntryPoint) and (distribution := installed.distribution_of(source)):
                record.distribution, record.version = distribution
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
        sources = self._sources
        self._taken = {}
        self._load_core()
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

    def _load_core(self) -> None:
        from logiq_core.framework.builtin_plugin import CorePlugin

        if self.core.plugin is not None and self.pm.is_registered(self.core.plugin):
            self.pm.unregister(self.core.plugin)
        self.core = PluginRecord(name=CORE_FEATURE, required=True)
        self._load_one(self.core, CorePlugin)
        if not self.core.loaded:
            raise ConfigurationError(f"the core's built-in commands failed to load: {self.core.error}")

    def _load_one(self, record: PluginRecord, source: EntryPoint | object) -> None:
        try:
            loaded = source.load() if isinstance(source, EntryPoint) else source
            plugin = _hashable(loaded() if inspect.isclass(loaded) else loaded, record.name)
        except Exception as exc:  # a broken plugin must never stop the bot
            self._fail(record, f"import failed: {type(exc).__name__}: {exc}")
            return
        try:
            self._check_hook_names(plugin)
            self._warn_unmarked_hooks(record, plugin)
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
        except (PluginLoadError, ListenerError) as exc:
            self.unregister(record, str(exc))
            return
        except Exception as exc:
            self.unregister(record, f"{type(exc).__name__}: {exc}")
            return
        for command in record.commands:
            for name in command.names():
                self._taken[name] = record.name
        record.status = "loaded"
        if record is self.core:
            return
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

    def _warn_unmarked_hooks(self, record: PluginRecord, plugin: object) -> None:
        """A ``logiq_*`` function without ``@hookimpl`` is never called: say so, and how to fix."""
        known = set(hookspecs.hook_names())
        for attribute in dir(plugin):
            if attribute not in known or self.pm.parse_hookimpl_opts(plugin, attribute) is not None:
                continue
            if not callable(getattr(plugin, attribute, None)):
                continue
            _log.bind(component=record.name).warning(
                "plugin {}: {} is not marked as a hook, so it is never called; put @hookimpl "
                "(from logiq_core.plugin import hookimpl) on the line above its def",
                record.name,
                attribute,
            )

    def call(self, record: PluginRecord, hook_name: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of one hook (None if it does not implement it).

        The call goes through pluggy (a caller for this plugin alone, so each plugin is called,
        and fails, on its own): ``firstresult``, hook wrappers and tracing apply as specified.
        """
        if record.plugin is None or not self.pm.is_registered(record.plugin):
            return None
        others = [plugin for plugin in self.pm.get_plugins() if plugin is not record.plugin]
        caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
        result = caller(**kwargs)
        if caller.spec is not None and caller.spec.opts.get("firstresult"):
            return result
        return result[0] if result else None

    def _collect(self, record: PluginRecord) -> None:
        feature = self.call(record, "logiq_feature")
        if not isinstance(feature, FeatureInfo):
            raise PluginLoadError(
                "logiq_feature must return a FeatureInfo, e.g. "
                'FeatureInfo(description="What it does", default_phase=Phase.BETA)'
            )
        if not feature.name:
            feature = dataclasses.replace(feature, name=record.name)
        if feature.name != record.name:
            raise PluginLoadError(
                f"logiq_feature names {feature.name!r} but the entry point is {record.name!r} "
                "(leave the name out: it is taken from the entry point)"
            )
        record.feature = feature
        if feature.config is not None and isinstance(record.config, dict):
            try:
                record.config = validate_plugin_config(feature.config, record.config, self._where(record))
            except PluginConfigError as exc:
                raise PluginLoadError(str(exc)) from None
        documents = list(self.call(record, "logiq_document_models") or [])
        for document in documents:
            _prefix_collection(document, record.name)
        commands: list[Command] = []
        listeners: list[EventListener] = []
        jobs: list[Job] = []
        timer_handlers: list[TimerHandler] = []
        web_items: list[Any] = []
        for hook, into, check in (
            ("logiq_register_commands", commands, _check_command),
            ("logiq_register_listeners", listeners, check_listener),
            ("logiq_register_jobs", jobs, _check_job),
            ("logiq_register_timers", timer_handlers, _check_timer_handler),
            ("logiq_register_web_pages", web_items, _check_web_item),
        ):
            self.call(record, hook, register=_registrar(into, check), config=record.config)
        self._check_clashes(record.name, commands)
        names = [handler.name for handler in timer_handlers]
        if len(set(names)) != len(names):
            raise PluginLoadError(f"registered two timer handlers with one name: {sorted(names)}")
        record.documents, record.commands = documents, commands
        record.listeners, record.jobs = listeners, jobs
        record.timer_handlers = timer_handlers
        names = [item.name for item in web_items if hasattr(item, "name")]
        if len(set(names)) != len(names):
            raise PluginLoadError(f"registered two web pages with one name: {sorted(names)}")
        record.web_items = web_items

    def _where(self, record: PluginRecord) -> str:
        """Where a plugin's configuration is written, for messages: ``plugins.toml [plugins.x.config]``."""
        source = self.policy.source if self.policy.source is not None else "plugins.toml"
        return f"{source} [plugins.{record.name}.config]"

    def _check_clashes(self, plugin: str, commands: list[Command]) -> None:
        seen: dict[str, Command] = {}
        for command in commands:
            for name in command.names():
                owner = self._taken.get(name)
                if owner == CORE_FEATURE:
                    raise PluginLoadError(
                        f"command {name!r} clashes with the core command {name!r}: rename {plugin}'s"
                    )
                if owner is not None:
                    raise PluginLoadError(
                        f"command {name!r} clashes with plugin {owner}'s command {name!r}; {plugin} "
                        f"was loaded after {owner}, so {plugin} is the one that failed: rename one"
                    )
                if seen.get(name, command) is not command:
                    raise PluginLoadError(f"command {name!r} is registered twice by {plugin}")
                seen[name] = command

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
        record.timer_handlers, record.web_items = [], []
        self._fail(record, reason)

    def loaded(self) -> list[PluginRecord]:
        return [record for record in self.ordered() if record.loaded]

    def features(self) -> list[FeatureInfo]:
        return [record.feature for record in self.loaded() if record.feature is not None]


def _hashable(plugin: object, name: str) -> object:
    """pluggy keeps plugins in sets: an unhashable plugin object (a SimpleNamespace, say) is
    handed to it as a module holding the same attributes."""
    try:
        hash(plugin)
    except TypeError:
        module = ModuleType(f"logiq_plugin_{name}")
        for attribute in dir(plugin):
            if not attribute.startswith("__"):
                setattr(module, attribute, getattr(plugin, attribute))
        return module
    return plugin


def _trace_before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
    # Argument names only: a plugin's configuration may hold secrets.
    plugins = ", ".join(impl.plugin_name for impl in impls) or "no plugin"
    _log.info("hook {}({}) -> {}", hook_name, ", ".join(kwargs), plugins)


def _trace_after(
    outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
) -> None:
    if outcome.exception is not None:
        _log.info("hook {} raised {}: {}", hook_name, type(outcome.exception).__name__, outcome.exception)
    else:
        _log.info("hook {} returned {}", hook_name, type(outcome.get_result()).__name__)


def _registrar(into: list[Any], check: Callable[..., bool]) -> Callable[[Any], None]:
    """The ``register`` callback handed to a hook: takes one item, a list of them, or a module.

    A module registers every item of the right kind defined at its top level (the commands of a
    ``commands.py``, say), so a plugin never copies a ``for ...: register(...)`` loop.
    """

    def register(item: Any) -> None:
        if isinstance(item, ModuleType):
            for value in vars(item).values():
                if check(value, quiet=True) and value not in into:
                    into.append(value)
            return
        if isinstance(item, (list, tuple, set, frozenset)) or inspect.isgenerator(item):
            for one in item:
                register(one)
            return
        check(item)
        into.append(item)

    return register


def _check_command(item: Any, quiet: bool = False) -> bool:
    if isinstance(item, Command):
        if item.parent is not None:
            return _reject(quiet, f"registered the subcommand {item.qualified_name!r}: register its parent")
        return True
    if quiet:
        return False
    if inspect.iscoroutinefunction(item):
        raise PluginLoadError(
            f"registered the function {item.__name__} as a command: decorate it with "
            f'@command("{item.__name__}") (from logiq_core.plugin import command)'
        )
    raise PluginLoadError(f"registered {item!r} as a command: register a Command made with @command(...)")


def _check_web_item(item: Any, quiet: bool = False) -> bool:
    from logiq_core.framework.web.pages import check_web_item

    try:
        check_web_item(item)
    except TypeError as exc:
        return _reject(quiet, str(exc))
    return True


def _check_job(item: Any, quiet: bool = False) -> bool:
    if not isinstance(item, Job):
        return _reject(quiet, f"registered {item!r} as a job: register Job(name, every_seconds, handler)")
    if not inspect.iscoroutinefunction(item.handler):
        return _reject(
            quiet,
            f"job {item.name!r}: its handler must be "
            "async def handler(ctx: PluginContext, server_id: str | None) -> None",
        )
    if not item.every_seconds > 0:
        return _reject(quiet, f"job {item.name!r}: every_seconds must be above 0")
    return True


def _check_timer_handler(item: Any, quiet: bool = False) -> bool:
    if not isinstance(item, TimerHandler):
        return _reject(
            quiet, f"registered {item!r}, which is not a TimerHandler: register TimerHandler(name, handler)"
        )
    if not inspect.iscoroutinefunction(item.handler):
        return _reject(
            quiet,
            f"timer handler {item.name!r}: its handler must be "
            "async def handler(ctx: PluginContext, timer: Timer) -> None",
        )
    return True


def _reject(quiet: bool, message: str) -> bool:
    if quiet:
        return False
    raise PluginLoadError(message)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _prefix_collection(document: Any, feature: str) -> None:
    """Give a plugin's document a collection starting with ``<feature>_`` unless it has one."""
    if not (inspect.isclass(document) and hasattr(document, "get_pymongo_collection")):
        raise PluginLoadError(f"logiq_document_models returned {document!r}: return Beanie Document classes")
    settings = document.__dict__.get("Settings")
    name = getattr(settings, "name", None) if settings is not None else None
    if isinstance(name, str) and name.startswith(f"{feature}_"):
        return
    suffix = name if isinstance(name, str) and name else _CAMEL.sub("_", document.__name__).lower()
    bases = (settings,) if settings is not None else ()
    document.Settings = type("Settings", bases, {"name": f"{feature}_{suffix}"})  # type: ignore[attr-defined]


def installed_features(plugins_file: Path) -> list[FeatureInfo]:
    """Features declared by installed, enabled plugins: plugins.toml order, then by name.

    Used by the rollout CLI, where a broken plugin is not the operator's question: plugins
    that fail to load are skipped quietly (``logiq plugins`` is where failures are shown).
    """
    manager = PluginManager(load_policy(plugins_file))
    logger.disable("logiq_core.framework.plugins")
    try:
        manager.load()
    except ConfigurationError:
        pass
    finally:
        logger.enable("logiq_core.framework.plugins")
    return manager.features()
