"""What a plugin is handed at run time: its own view of the bot.

One :class:`PluginContext` exists per plugin per bot, so plugins keep their per-bot objects
(services, caches) on it with :meth:`provide`/:meth:`get` instead of module globals, and two bots
in one process never share plugin state. Commands reach the same objects through
``ctx.get(...)`` on their :class:`~logiq_core.framework.commands.CommandContext`, and listeners, jobs and
timers are handed this context itself: one way to a plugin's services everywhere.

Public: ``name``, ``config``, ``logger``, ``api``, ``cache``, ``bot_user_id``, ``state``,
``is_enabled``, ``provide``, ``get``, ``service_of``, ``record_use``, ``record_feedback``. ``bot``
is the core's own object: internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from loguru import logger

from logiq_core.framework.invocation import current_invocation
from logiq_core.framework.state import PluginState

if TYPE_CHECKING:
    from loguru import Logger

    from logiq_core.framework.commands.router import CommandRouter
    from logiq_core.framework.config import PluginConfig
    from logiq_core.framework.outbound import OutboundHttp
    from logiq_core.framework.plugins import PluginManager
    from logiq_core.framework.rollout.gate import RolloutGate
    from logiq_core.framework.rollout.metrics import FeatureMetrics
    from logiq_core.framework.storage import Storage
    from logiq_core.framework.timers import PluginTimers, TimerScheduler
    from logiq_core.stoat.cache import Cache
    from logiq_core.stoat.rest import StoatAPI

T = TypeVar("T")


class Bot(Protocol):
    """What the framework needs of the bot that runs it (the application's ``Bot`` provides it)."""

    api: StoatAPI
    cache: Cache
    http: OutboundHttp
    gate: RolloutGate
    metrics: FeatureMetrics
    timers: TimerScheduler
    user_id: str
    contexts: dict[str, PluginContext]
    plugins: PluginManager
    storage: Storage
    router: CommandRouter


def plugin_logger(plugin_name: str) -> Logger:
    """A logger whose every line names the plugin that wrote it."""
    return logger.bind(component=plugin_name)


class PluginContext:
    """A plugin's handle on the bot: Stoat API, cache, gate, configuration, logger, services."""

    def __init__(self, name: str, bot: Bot, config: PluginConfig | dict[str, Any]) -> None:
        self.name = name
        self.bot = bot
        self.config = config
        """The plugin's ``[plugins.<name>.config]``: its config model's instance (read it typed
        with ``MyConfig.of(ctx)``), or the plain table for a plugin that declares no model."""
        self.logger = plugin_logger(name)
        self._services: dict[type, object] = {}
        self.state = PluginState(name)
        """Per-member/server values with atomic updates (see :mod:`logiq_core.framework.state`)."""
        self._timers: PluginTimers | None = None

    @property
    def api(self) -> StoatAPI:
        return self.bot.api

    @property
    def cache(self) -> Cache:
        return self.bot.cache

    @property
    def timers(self) -> PluginTimers:
        """This plugin's durable timers: ``schedule``, ``cancel``, ``get``, ``list``."""
        if self._timers is None:
            from logiq_core.framework.timers import PluginTimers

            self._timers = PluginTimers(self.name, self.bot.timers)
        return self._timers

    @property
    def http(self) -> OutboundHttp:
        """The shared outbound HTTP client; URLs members typed cannot reach private networks."""
        return self.bot.http

    @property
    def bot_user_id(self) -> str:
        return self.bot.user_id

    def is_enabled(self, server_id: str | None) -> bool:
        """Whether this plugin's feature is on for ``server_id`` (None: a DM)."""
        return self.bot.gate.is_enabled(self.name, server_id)

    def record_use(self, server_id: str | None) -> None:
        """A member used this feature on ``server_id`` (counts towards its rollout adoption).

        Commands count by themselves; call this for uses the core cannot see, e.g. a member's
        reaction or message that the plugin's listener acted on. Listener runs and jobs alone
        are not uses.
        """
        self.bot.metrics.record_use(self.name, server_id)

    def record_feedback(self, server_id: str | None, user_id: str, rating: int, text: str = "") -> None:
        """A member rated this feature 1-5 other than through ``!feedback`` (e.g. a reaction the
        plugin asked for): kept as rollout feedback, as ``!feedback`` would keep it."""
        if not 1 <= int(rating) <= 5:
            raise ValueError("a rating is a whole number from 1 to 5")
        self.bot.metrics.record_feedback(self.name, server_id, user_id, int(rating), text[:500])

    def record_error(self) -> None:
        """The running command or listener failed although it did not raise (e.g. it told the
        member briefly that an outside service was down): counted as an error for the rollout
        monitor like an exception would be."""
        invocation = current_invocation.get()
        if invocation is not None:
            invocation.failed = True

    async def is_command(self, server_id: str | None, content: str) -> bool:
        """Whether ``content`` runs a known command on ``server_id`` (after its prefix or the
        bot's mention, two-word aliases included): a chat listener's way to leave commands alone."""
        return await self.bot.router.takes(server_id, content)

    async def command_prefix(self, server_id: str | None) -> str:
        """The command prefix on ``server_id`` (its own, or the default)."""
        return await self.bot.router.prefix_for(server_id)

    def provide(self, service: object) -> None:
        """Keep a per-bot object, retrievable by its class with :meth:`get`."""
        self._services[type(service)] = service

    def service_of(self, feature: str, kind: type[T], *, server_id: str | None = None) -> T | None:
        """Another plugin's service (what it gave to :meth:`provide`), or None when unusable.

        The one documented way for a plugin to use another (giveaways reading levels, AI chat
        charging coins). None when ``feature`` is not installed, failed to load or start, has
        not provided ``kind``, or (with ``server_id``) is not enabled on that server by the
        rollout gate. Import the other plugin's package inside ``try``/``except ImportError``,
        since it is an optional dependency::

            try:
                from logiq_leveling.service import LevelingService
            except ImportError:
                LevelingService = None
            leveling = LevelingService and ctx.service_of("leveling", LevelingService, server_id=sid)
        """
        other = self.bot.contexts.get(feature)
        service = other._services.get(kind) if other is not None else None
        if service is None:
            return None
        if server_id is not None and not self.bot.gate.is_enabled(feature, server_id):
            return None
        return service  # type: ignore[return-value]

    def get(self, kind: type[T]) -> T:
        """The object of class ``kind`` given to :meth:`provide` (KeyError if none)."""
        service = self._services.get(kind)
        if service is None:
            raise KeyError(f"plugin {self.name} has no {kind.__name__}; provide it at start-up")
        return service  # type: ignore[return-value]
