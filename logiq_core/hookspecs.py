"""Every hook a Logiq plugin can implement: the plugin author's whole contract.

A plugin is a module (or object) registered under the ``logiq.plugins`` entry-point group; its
entry-point name is the feature's name. It implements hooks with :data:`hookimpl`::

    from logiq_core.hookspecs import hookimpl

    @hookimpl
    def logiq_feature():
        return FeatureInfo("economy", "Coins and a shop", Phase.GRADUAL, 50)

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

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from beanie import Document

    from logiq_core.commands import Command
    from logiq_core.context import PluginContext
    from logiq_core.features import FeatureInfo
    from logiq_core.jobs import Job
    from logiq_core.listeners import Listener
    from logiq_core.timers import TimerHandler

PROJECT_NAME = "logiq"
ENTRY_POINT_GROUP = "logiq.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def logiq_feature() -> FeatureInfo:
    """Describe the feature this plugin provides.

    Called once, when the plugin is loaded and by ``logiq plugins`` and the rollout CLI (so it
    must be cheap and side-effect free). Return a :class:`~logiq_core.features.FeatureInfo`
    whose ``name`` equals the plugin's entry-point name; its default phase and percentage seed
    the rollout state the first time the feature is seen. Required: a plugin without it fails.
    """


@hookspec
def logiq_document_models() -> list[type[Document]]:
    """Return the Beanie document classes this plugin stores.

    Called once before storage starts. Each document's collection name (``Settings.name``) must
    start with the feature's name and an underscore (``economy_accounts``); a plugin breaking
    this rule is marked failed. Return an empty list (or do not implement the hook) to store
    nothing.
    """


@hookspec
def logiq_register_commands(register: Callable[[Command], None], config: dict[str, Any]) -> None:
    """Register the plugin's chat commands.

    Called once at load. Call ``register(command)`` for each top-level
    :class:`~logiq_core.commands.Command` (subcommands hang off their parent). ``config`` is the
    plugin's table from ``plugins.toml``. The return value is ignored.
    """


@hookspec
def logiq_register_listeners(register: Callable[[Listener], None], config: dict[str, Any]) -> None:
    """Register the plugin's event listeners.

    Called once at load. Call ``register(Listener(event_type, handler))`` where ``handler`` is
    ``async def handler(ctx: PluginContext, event) -> None`` (``event.server_id_hint`` is the
    event's server, None outside servers). The core calls every listener on its
    own task with its own timeout and error count, and only for servers where the rollout gate
    enables this feature. The return value is ignored.
    """


@hookspec
def logiq_register_jobs(register: Callable[[Job], None], config: dict[str, Any]) -> None:
    """Register background jobs that run on an interval.

    Called once at load. Call ``register(Job(name, every_seconds, handler))``; the handler is
    ``async def handler(ctx: PluginContext, server_id: str | None) -> None`` and is called once
    per server where the gate enables the feature, or once per run with ``server_id=None`` for
    a job declared ``per_server=False``. A job that raises is logged, counted and run again at
    its next interval. The return value is ignored.
    """


@hookspec
def logiq_register_timers(register: Callable[[TimerHandler], None], config: dict[str, Any]) -> None:
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
