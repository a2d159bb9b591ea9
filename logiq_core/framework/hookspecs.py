"""Every hook a Logiq plugin can implement: the plugin author's whole contract.

A plugin is a module (or object) registered under the ``logiq.plugins`` entry-point group; its
entry-point name is the feature's name. It implements hooks with :data:`hookimpl`, importing
everything from :mod:`logiq_core.plugin` (the one public surface)::

    from logiq_core.plugin import CommandContext, FeatureInfo, Phase, command, hookimpl

    @command("balance", description="Your coins")
    async def balance(ctx: CommandContext) -> None:
        coins = await ctx.author_state.get("coins", 0)
        await ctx.reply(f"You have {coins} coins.")

    @hookimpl
    def logiq_feature() -> FeatureInfo:
        return FeatureInfo(description="Coins and a shop", default_phase=Phase.GRADUAL,
                           default_percentage=50)

    @hookimpl
    def logiq_register_commands(register, config) -> None:
        register([balance])

A hook implementation takes only the arguments it needs, by name (``register`` alone is fine).
A ``logiq_*`` function without ``@hookimpl`` is never called; the core warns about it.

Rules the core relies on:

* Importing a plugin does nothing but define things. Hooks that register something hand the
  core callables through ``register``; the core decides when they run.
* The core calls each plugin's hooks on their own, catching errors per plugin: one plugin's
  exception marks that plugin failed and never stops another.
* Everything a plugin registers (commands, listeners, jobs) is gated per server by the rollout
  gate in the core; plugins never check the gate themselves.
* A hook implementation whose name is not below is an error (``check_pending``): the plugin is
  marked failed instead of its hook silently never running.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from beanie import Document

    from logiq_core.framework.commands import Command
    from logiq_core.framework.config import PluginConfig
    from logiq_core.framework.context import PluginContext
    from logiq_core.framework.features import FeatureInfo
    from logiq_core.framework.jobs import Job
    from logiq_core.framework.listeners import Listener
    from logiq_core.framework.timers import TimerHandler
    from logiq_core.framework.web.pages import WebPage, WebSettings

PROJECT_NAME = "logiq"
ENTRY_POINT_GROUP = "logiq.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def logiq_feature() -> FeatureInfo:
    """Describe the feature this plugin provides.

    Called once, when the plugin is loaded and by ``logiq plugins`` and the rollout CLI (so it
    must be cheap and side-effect free). Return a :class:`~logiq_core.framework.features.FeatureInfo`;
    leave its ``name`` out (it is the plugin's entry-point name; a different one fails the
    plugin). Its default phase and percentage seed the rollout state the first time the feature
    is seen. Its ``config``, a :class:`~logiq_core.framework.config.PluginConfig` model, types
    the plugin's ``[plugins.<name>.config]`` table: the table is checked against it before any
    ``logiq_register_*`` hook is called, and a table that does not fit fails the plugin with a
    message naming each wrong key. Required: a plugin without it fails.
    """


@hookspec
def logiq_document_models() -> list[type[Document]]:
    """Return the Beanie document classes this plugin stores.

    Called once before storage starts. Each document's collection name starts with the
    feature's name and an underscore: ``Settings.name = "accounts"`` becomes
    ``economy_accounts``, and a document without a name gets one from its class
    (``Account`` → ``economy_account``). Return an empty list (or do not implement the hook)
    to store nothing; for a few values per member or server, ``ctx.state`` needs no document.
    """


@hookspec
def logiq_register_commands(
    register: Callable[[Command | Iterable[Command] | ModuleType], None],
    config: PluginConfig | dict[str, Any],
) -> None:
    """Register the plugin's chat commands.

    Called once at load. Call ``register`` with a top-level
    :class:`~logiq_core.framework.commands.Command` (made with ``@command``; subcommands hang off their
    parent), a list of them, or a module (every command defined at its top level). ``config`` is
    the plugin's ``[plugins.<name>.config]`` table from ``plugins.toml``, e.g. to skip a command
    an operator switched off: an instance of the plugin's ``FeatureInfo(config=...)`` model
    (validated, defaults filled in), or a plain dict for a plugin that declares no model. Every
    ``logiq_register_*`` hook receives the same ``config``. Anything else registered, or a name
    the core or an earlier plugin already uses, fails the plugin with a message saying what to
    write. The return value is ignored.
    """


@hookspec
def logiq_register_listeners(
    register: Callable[[Listener[Any] | Iterable[Listener[Any]] | ModuleType], None],
    config: PluginConfig | dict[str, Any],
) -> None:
    """Register the plugin's event listeners (``Listener`` objects: the core checks each).

    Called once at load. Call ``register(Listener(MessageEvent, handler))`` (or a list) where
    ``handler`` is ``async def handler(ctx: PluginContext, event: MessageEvent) -> None``
    (``event.server_id_hint`` is the event's server, None outside servers). The event type is
    the class, and the handler's annotation must accept it; otherwise the plugin fails at load.
    The core calls every listener on its own task with its own timeout and error count, and
    only for servers where the rollout gate enables this feature. The bot's own messages never
    reach listeners. The return value is ignored.
    """


@hookspec
def logiq_register_jobs(
    register: Callable[[Job | Iterable[Job]], None], config: PluginConfig | dict[str, Any]
) -> None:
    """Register background jobs that run on an interval.

    Called once at load. Call ``register(Job(name, every_seconds, handler))``; the handler is
    ``async def handler(ctx: PluginContext, server_id: str | None) -> None`` and is called once
    per server where the gate enables the feature, or once per run with ``server_id=None`` for
    a job declared ``per_server=False``. A job that raises is logged, counted and run again at
    its next interval. The return value is ignored.
    """


@hookspec
def logiq_register_timers(
    register: Callable[[TimerHandler], None], config: PluginConfig | dict[str, Any]
) -> None:
    """Register handlers for the plugin's durable timers.

    Called once at load. Call ``register(TimerHandler(name, handler))`` where ``handler`` is
    ``async def handler(ctx: PluginContext, timer: Timer) -> None`` (``timer.key``,
    ``.server_id``, ``.payload``, ``.due_at``, ``.handler``). Timers are scheduled at run time
    with ``await ctx.timers.schedule(name, key, at, server_id=..., payload=..., every=...)``;
    they are stored, survive restarts, and each due timer runs once across every bot process
    sharing the database, in the plugin's lane (timeout, error count) and only where the rollout
    gate enables the feature (else kept until it does, or dropped with ``drop_when_disabled``).
    A run that fails or is lost is retried after its lease, so handlers must be idempotent.
    The return value is ignored.
    """


@hookspec
def logiq_register_web_pages(
    register: Callable[[WebPage | WebSettings | Iterable[WebPage | WebSettings]], None],
    config: PluginConfig | dict[str, Any],
) -> None:
    """Add the plugin's pages (and its settings, read-only) to the web dashboard.

    Called once at load, whether or not the dashboard is on. Call ``register`` with
    :class:`~logiq_core.web.pages.WebPage` objects (served at ``/s/<server>/<feature>/<name>``,
    rendered from the plugin's Jinja templates, autoescaped) and at most one
    :class:`~logiq_core.web.pages.WebSettings` (the label/value lines managers see on the
    server's settings page). The core checks each page's :class:`~logiq_core.web.pages.Access`
    from the bot's cache on every request and serves a feature's pages only on servers where
    the rollout gate enables it. ``Access.LINK`` pages open only through a signed, single-use
    link made with ``dashboard_link(...)``. The return value is ignored.
    """


@hookspec
def logiq_startup(context: PluginContext) -> Awaitable[None] | None:
    """Prepare the plugin once storage and the Stoat connection objects exist.

    Called once per bot start, before the first event is dispatched. May return an awaitable,
    which the core awaits with a timeout. Raising (or timing out) marks the plugin failed and
    unregisters everything it registered; the bot runs on without it.
    """


@hookspec
def logiq_shutdown(context: PluginContext) -> Awaitable[None] | None:
    """Release what ``logiq_startup`` acquired.

    Called once when the bot stops, even if other plugins failed. May return an awaitable, which
    is awaited with a deadline. Errors are logged and otherwise ignored.
    """


def hook_names() -> list[str]:
    """The names of every hook defined in this module."""
    return [name for name, value in globals().items() if name.startswith("logiq_") and callable(value)]
