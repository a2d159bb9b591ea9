"""Wiring: one Logiq bot = settings + plugins + storage + Stoat connection + gate + commands.

Nothing here is global: every collaborator hangs off the :class:`Bot` instance, so a test can
run several bots in one process (sharing one database, because Beanie binds document classes
process-wide).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from beanie import Document
from loguru import logger

from logiq_core.app.settings import Settings
from logiq_core.app.web.config import WebConfig, load_web_config
from logiq_core.framework.context import PluginContext
from logiq_core.framework.dispatch import EventDispatcher, PluginLane
from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.features import CORE_FEATURE
from logiq_core.framework.invocation import current_invocation
from logiq_core.framework.outbound import OutboundHttp
from logiq_core.framework.plugins import PluginManager, PluginRecord
from logiq_core.framework.policy import Policy, load_policy
from logiq_core.framework.rollout.config import RolloutConfig, load_rollout_config
from logiq_core.framework.storage import Storage
from logiq_core.framework.tasks import cancel_and_wait, consume_outcome, raise_if_cancel_was_swallowed
from logiq_core.framework.timers import TimerDoc, TimerScheduler
from logiq_core.stoat import events as ev
from logiq_core.stoat.cache import Cache
from logiq_core.stoat.gateway import Gateway, GatewayAuthError
from logiq_core.stoat.models import Member, User
from logiq_core.stoat.rest import StoatAPI

if TYPE_CHECKING:
    from logiq_core.app.web.server import Dashboard

_log = logger.bind(component="bot")

STARTUP_HOOK_TIMEOUT = 15.0
SHUTDOWN_DEADLINE = 5.0


class GatewayStopped(Exception):
    """The events socket's task ended although no one asked the bot to stop: the bot is deaf,
    so the process must end (non-zero) for its supervisor to restart it."""


class EssentialTaskStopped(GatewayStopped):
    """A task the bot cannot work without (rollout watcher, metrics, jobs, timers, heartbeat)
    ended although no one asked the bot to stop: the process must end for a restart."""


HEARTBEAT_FILE = "heartbeat"
HEARTBEAT_WRITE_SECONDS = 1.0


class Bot:
    """A Logiq bot. ``await bot.start()`` connects; ``await bot.stop()`` shuts down cleanly."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy | None = None,
        extra_plugins: Mapping[str, object] | None = None,
        use_entry_points: bool = True,
        storage: Storage | None = None,
        rollout_config: RolloutConfig | None = None,
        web_config: WebConfig | None = None,
    ) -> None:
        from logiq_core.framework.commands import CommandRouter
        from logiq_core.framework.rollout.gate import RolloutGate
        from logiq_core.framework.rollout.metrics import FeatureMetrics

        token = settings.token_value()
        if not token:
            raise ConfigurationError("LOGIQ_TOKEN is not set: the bot needs a Stoat bot token")
        self.settings = settings
        self.policy = policy if policy is not None else load_policy(settings.plugins_file)
        if rollout_config is None:
            rollout_config = load_rollout_config(settings.plugins_file if policy is None else policy.source)
        self.rollout_config = rollout_config
        if web_config is None:
            web_config = load_web_config(settings.plugins_file if policy is None else policy.source)
        self.web_config = web_config
        self.web: Dashboard | None = None  # the web dashboard, when [web] turns it on and it started
        self.plugins = PluginManager(
            self.policy, extra_plugins=extra_plugins, use_entry_points=use_entry_points
        )
        self._owns_storage = storage is None
        self.storage = storage or Storage(settings.mongodb_uri, settings.data_dir)
        self.metrics = FeatureMetrics()
        self.gate = RolloutGate()
        self.gate.on_feature_change.append(self.metrics.feature_changed)
        self.api = StoatAPI(
            settings.api_url, token, observer=self._observe_api, backoff_seconds=settings.rest_backoff_seconds
        )
        self.http = OutboundHttp(allow=self.policy.http_allow)  # shared by plugins as ctx.http
        self.cache = Cache(
            fetch_member=self.api.fetch_member,
            fetch_user=self.api.fetch_user,
            fetch_all_members=self._fetch_all_members,
        )
        self.router = CommandRouter(self)
        self.dispatcher = EventDispatcher()
        self.gateway: Gateway | None = None
        self.user_id = ""
        self.contexts: dict[str, PluginContext] = {}
        self._token = token
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = asyncio.Event()
        self._fatal: BaseException | None = None
        self._essential: set[asyncio.Task[Any]] = set()
        self._scheduler: Any = None
        self.shutdown_deadline = SHUTDOWN_DEADLINE
        """Seconds that running handlers get to finish at stop, per kind, before being cancelled."""
        self.timers = TimerScheduler()
        self.started_at = 0.0

    async def _fetch_all_members(self, server_id: str) -> tuple[list[Member], list[User]]:
        page = await self.api.fetch_members(server_id)
        return page.members, page.users

    # --- the CommandHost protocol ---------------------------------------------------------------
    def features(self) -> list[str]:
        return [feature.name for feature in self.plugins.features()]

    def plugin_context(self, feature: str) -> PluginContext:
        return self.contexts[feature]

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load plugins, log in to Stoat, start storage, connect to the events socket, wait for Ready."""
        from logiq_core.framework.scheduler import JobScheduler

        self.started_at = time.monotonic()
        self.plugins.load()
        # Stoat first: a refused token or an unreachable API ends the start in a moment, before
        # the embedded database is started or anything is written to the data directory.
        await self.api.open()
        ws_url = self.settings.ws_url or str((await self.api.fetch_root())["ws"])
        me = await self.api.fetch_self()
        self.user_id = me.id
        self.cache.remember_user(me)
        self.cache.self_user = me
        await self.storage.start(self.document_models())
        self.timers.attach(self.storage)
        await self.gate.attach(self.storage)
        # The state as seeding left it (read inside the rollout lock): no second read needed.
        await self.gate.seed_defaults(self.rollout_config.seeds(self.plugins.features()))
        await self.metrics.attach(self.storage)

        for record in self.plugins.loaded():
            self.contexts[record.name] = PluginContext(record.name, self, record.config)
        self.contexts.setdefault(CORE_FEATURE, PluginContext(CORE_FEATURE, self, self.plugins.core.config))
        for record in self.plugins.loaded():
            self.timers.add_plugin(record, self.contexts[record.name])
        await self._run_startup_hooks()
        for record in [self.plugins.core, *self.plugins.loaded()]:
            for command in record.commands:
                self.router.register(command, record.name)
            self.dispatcher.add_lane(
                PluginLane(
                    record,
                    self.contexts[record.name],
                    self.gate.is_enabled,
                    self.metrics.finish,
                )
            )

        self._scheduler = JobScheduler(
            lambda: list(self.cache.servers), self.gate.is_enabled, self.metrics.finish, self._essential_task
        )
        self.gateway = Gateway(
            ws_url,
            self._token,
            self._on_event,
            heartbeat_seconds=self.settings.heartbeat_seconds,
            pong_timeout_seconds=self.settings.pong_timeout_seconds,
        )
        self._tasks.append(asyncio.create_task(self._run_gateway(), name="gateway"))
        for coroutine, name in (
            (self.gate.run_watcher(), "rollout-watcher"),
            (self.metrics.run_flusher(), "metrics-flush"),
            (self._guard_loop(), "rollout-guard"),
            (self._write_heartbeat(), "heartbeat-file"),
        ):
            self._tasks.append(self._essential_task(asyncio.create_task(coroutine, name=name)))
        await self._wait_ready()
        for record in self.plugins.loaded():
            self._scheduler.start(record, self.contexts[record.name])
        await self.timers.start(
            is_enabled=self.gate.is_enabled,
            finish=self.metrics.finish,
            gate_version=lambda: self.gate.snapshot.version,
            watch=self._essential_task,
        )
        if self.web_config.enabled:
            from logiq_core.app.web.server import start_dashboard

            self.web = await start_dashboard(self, self.web_config)  # failures: one line, bot runs on
        _log.info(
            "Logiq is up as {} on {} server(s) with {} plugin(s) in {:.2f}s",
            me.username,
            len(self.cache.servers),
            len(self.plugins.loaded()),
            time.monotonic() - self.started_at,
        )
        failed = [record.name for record in self.plugins.ordered() if record.status == "failed"]
        if failed:  # each failure was logged at load; say once more what is not running
            _log.warning(
                "not running, failed at load (reasons above; `logiq plugins` lists them): {}",
                ", ".join(failed),
            )

    def document_models(self) -> list[type[Document]]:
        """Every document class this bot stores: the core's, and its loaded plugins' (after
        ``self.plugins.load()``)."""
        from logiq_core.app.web.models import web_document_models
        from logiq_core.framework.rollout import document_models as rollout_document_models
        from logiq_core.framework.state import state_document_models

        documents: list[type[Document]] = [*self.plugins.core.documents, *rollout_document_models(), TimerDoc]
        documents.extend(state_document_models())
        if self.web_config.enabled:
            documents.extend(web_document_models())
        for record in self.plugins.loaded():
            documents.extend(record.documents)
        return documents

    async def _wait_ready(self) -> None:
        assert self.gateway is not None
        ready = asyncio.create_task(self.gateway.ready.wait())
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            stopped.cancel()
        if self._fatal is not None:
            raise self._fatal

    async def _run_startup_hooks(self) -> None:
        for record in self.plugins.loaded():
            try:
                await self._lifecycle_hook(record, "logiq_startup", STARTUP_HOOK_TIMEOUT)
            except Exception as exc:
                reason = f"start-up failed: {type(exc).__name__}: {exc}"
                if isinstance(exc, TimeoutError):
                    reason = f"start-up took longer than {STARTUP_HOOK_TIMEOUT:.0f}s"
                self.plugins.unregister(record, reason)
                self.contexts.pop(record.name, None)
                self.timers.remove_plugin(record.name)
                if record.required:
                    raise ConfigurationError(f"required plugin {record.name} {reason}") from None

    async def _lifecycle_hook(self, record: PluginRecord, hook: str, timeout: float) -> None:
        """Call a plugin's ``logiq_startup`` or ``logiq_shutdown``, awaited within ``timeout``."""
        result = self.plugins.call(record, hook, context=self.contexts[record.name])
        if inspect.isawaitable(result):
            async with asyncio.timeout(timeout):
                await result

    async def _run_gateway(self) -> None:
        assert self.gateway is not None
        try:
            await self.gateway.run()
        except GatewayAuthError as exc:
            self._fatal = exc
            _log.error("{}", exc)
            self._stopped.set()
            return
        except asyncio.CancelledError:
            if self.gateway.closing or self._stopped.is_set():
                raise
            self._gateway_ended("it was cancelled")
            raise
        except Exception as exc:
            self._gateway_ended(f"{type(exc).__name__}: {exc}")
            return
        if not self.gateway.closing:
            self._gateway_ended("it returned")

    def _gateway_ended(self, why: str) -> None:
        self._fatal = GatewayStopped(f"the events socket stopped unexpectedly ({why}); exiting")
        _log.error("{}", self._fatal)
        self._stopped.set()

    def _essential_task(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Watch a task that must live as long as the bot: its end stops the bot, with why."""
        self._essential.add(task)
        task.add_done_callback(self._essential_ended)
        return task

    def _essential_ended(self, task: asyncio.Task[Any]) -> None:
        if self._stopped.is_set():
            return  # stopping: the tasks are cancelled on purpose
        error = None if task.cancelled() else task.exception()
        why = f"{type(error).__name__}: {error}" if error is not None else "it returned"
        if task.cancelled():
            why = "it was cancelled"
        self._fatal = EssentialTaskStopped(f"{task.get_name()} stopped unexpectedly ({why}); exiting")
        _log.opt(exception=error).error("{}", self._fatal)
        self._stopped.set()

    async def _write_heartbeat(self) -> None:
        """Keep ``<data dir>/heartbeat`` holding the time of the last event from Stoat, for
        supervisors: a file that stops changing means a deaf bot."""
        path = self.settings.data_dir / HEARTBEAT_FILE
        written: float | None = None
        while True:
            last = self.gateway.last_frame_at if self.gateway is not None else None
            if last is not None and last != written:
                stamp = datetime.fromtimestamp(last, UTC).isoformat(timespec="milliseconds")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    temporary = path.with_suffix(".tmp")
                    temporary.write_text(f"{stamp}\n")
                    temporary.replace(path)  # atomic: a reader never sees half a line
                    written = last
                except OSError as exc:
                    _log.warning("cannot write the heartbeat file {}: {}", path, exc)
            await asyncio.sleep(HEARTBEAT_WRITE_SECONDS)

    async def _guard_loop(self) -> None:
        while True:
            await asyncio.sleep(30)
            try:
                await self.gate.check_guards(self.metrics, alert=self.rollout_alert)
            except Exception as exc:
                _log.opt(exception=exc).warning("rollout guard check failed")
            raise_if_cancel_was_swallowed()  # by a storage call in the check

    async def rollout_alert(self, text: str) -> None:
        """Post the guard's message to ``[rollout] alert_channel`` (if one is configured)."""
        channel = self.rollout_config.alert_channel
        if channel:
            await self.api.send_message(channel, text)

    async def wait_closed(self) -> None:
        """Block until the bot is asked to stop (signal, fatal error or :meth:`request_stop`)."""
        await self._stopped.wait()
        if self._fatal is not None:
            raise self._fatal

    def request_stop(self) -> None:
        self._stopped.set()

    async def stop(self) -> None:
        """Close the socket, let in-flight handlers finish (with a deadline), stop storage."""
        self._stopped.set()
        if self.web is not None:
            await self.web.stop()
            self.web = None
        if self.gateway is not None:
            await self.gateway.close()
        if self._scheduler is not None:
            await self._scheduler.stop()
        await self.timers.stop(self.shutdown_deadline)
        await self.router.drain(self.shutdown_deadline)
        await self.dispatcher.drain(self.shutdown_deadline)
        for record in self.plugins.loaded():
            context = self.contexts.get(record.name)
            if context is None:
                continue
            try:
                await self._lifecycle_hook(record, "logiq_shutdown", self.shutdown_deadline)
            except Exception as exc:
                context.logger.opt(exception=exc).warning("shutdown hook failed")
        await cancel_and_wait(self._tasks, what="bot task")
        for task in self._tasks:
            failure = consume_outcome(task)
            # reported once: when it ended, or here
            if failure is not None and (task not in self._essential or self._fatal is None):
                _log.opt(exception=failure).warning("task {} had failed", task.get_name())
        self._tasks.clear()
        self._essential.clear()
        try:
            await self.metrics.flush()
        except Exception as exc:
            _log.opt(exception=exc).warning("could not write the last rollout metrics")
        await self.api.close()
        await self.http.close()
        if self._owns_storage:
            await self.storage.stop()

    # --- events ---------------------------------------------------------------------------------
    def server_of(self, event: ev.StoatEvent) -> str | None:
        """The server an event belongs to (looked up before the cache applies the event)."""
        return event.server_in(self.cache)

    def _on_event(self, event: ev.StoatEvent) -> None:
        """Called by the gateway for each event, in order; never blocks."""
        if type(event) is ev.Ready:
            self.cache.load_ready(event, self.user_id)
            if self.cache.self_user is None:
                self.cache.self_user = self.cache.users.get(self.user_id)
            self._spawn(self.gate.record_servers(self.cache.servers))
            self._spawn(self.router.settings.preload_prefixes(list(self.cache.servers)))
            return
        server_id = self.server_of(event)
        event.server_id_hint = server_id
        self.cache.apply(event)
        if type(event) is ev.MessageEvent:
            if event.author == self.user_id:
                return  # Stoat echoes the bot's own messages back: no one needs them
            self.router.handle_message(event)
        elif type(event) is ev.MessageReact:
            self.router.handle_reaction(event)
        elif type(event) in (ev.ServerCreate, ev.ServerDelete) or (
            type(event) is ev.ServerMemberLeave and event.user == self.user_id
        ):
            self._spawn(self.gate.record_servers(self.cache.servers))
        self.dispatcher.dispatch(event, server_id)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            _log.opt(exception=task.exception()).warning("background task failed")

    def _observe_api(self, route: str, seconds: float, ok: bool) -> None:
        invocation = current_invocation.get()
        if invocation is not None:
            self.metrics.observe_call(invocation, seconds, ok)


__all__ = ["Bot", "EssentialTaskStopped", "GatewayStopped"]
