"""Run a real Logiq bot against the Stoat test double, for tests, benchmarks and the sandbox.

::

    async with BotHarness(plugins=["coinflip"], data_dir=tmp_path, rollout={"coinflip": "stable"}) as h:
        reply = await h.command(h.demo.alice, "!coinflip 3")
        message = await h.say(h.demo.bob, "a coin!")
        await h.wait_for_reaction(message, "🪙")

The bot is the production :class:`~logiq_core.app.bot.Bot`, connected over loopback to a
:class:`~logiq_core.testing.double.StoatDouble` through its real REST and events socket, with
the real embedded storage in ``data_dir``. Plugins are found through their entry points (so
they must be installed) unless given as objects in ``extra_plugins``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from logiq_core.app.bot import Bot
from logiq_core.app.settings import Settings
from logiq_core.app.web.config import WebConfig
from logiq_core.framework.policy import PluginPolicy, Policy
from logiq_core.framework.rollout.store import RolloutSnapshot
from logiq_core.framework.storage import Storage
from logiq_core.testing.poll import eventually
from logiq_core.testing.stoat import StoatDouble, build_demo
from logiq_core.testing.stoat.demo import Demo
from logiq_core.testing.storage import storage_for

T = TypeVar("T")
RolloutSpec = str | tuple[str, float]


class BotHarness:
    """A Stoat double with a demo world, and a bot connected to it."""

    def __init__(
        self,
        plugins: Sequence[str] = (),
        *,
        data_dir: Path,
        plugin_config: Mapping[str, dict[str, Any]] | None = None,
        extra_plugins: Mapping[str, object] | None = None,
        double: StoatDouble | None = None,
        heartbeat_seconds: float = 30.0,
        pong_timeout_seconds: float = 10.0,
        include_unlisted: bool = False,
        realistic_rate_limits: bool = False,
        rollout: Mapping[str, RolloutSpec] | None = None,
        http_allow: Sequence[str] = (),
        policy: Policy | None = None,
        storage: Storage | None = None,
        web: WebConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        rest_backoff_seconds: float | None = None,
    ) -> None:
        self.plugin_names = list(plugins)
        self._policy = policy
        self.data_dir = data_dir
        self.plugin_config = dict(plugin_config or {})
        self.extra_plugins = dict(extra_plugins or {})
        self._own_double = double is None
        self.double = double or StoatDouble()
        self.heartbeat_seconds = heartbeat_seconds
        self.pong_timeout_seconds = pong_timeout_seconds
        self.include_unlisted = include_unlisted
        self.http_allow = tuple(http_allow)  # plugins.toml [http] allow (tests reach loopback)
        if not realistic_rate_limits:
            # Stoat allows 5 server requests per 10 s; tests and the sandbox would mostly wait.
            self.double.set_rate_limits(limits={k: 1000 for k in self.double.rate_limiter.limits})
        # Without a storage given: a database of its own on the test run's shared server if there
        # is one (see logiq_core.testing.storage), else an embedded server of its own.
        self.storage = storage or storage_for(data_dir)
        self.bot: Bot | None = None
        self.demo: Demo = None  # type: ignore[assignment]  # set on entering
        self.token = ""
        self.initial_rollout = dict(rollout or {})
        # The web dashboard: off unless given (e.g. WebConfig(enabled=True, port=0) for tests).
        self.web_config = web or WebConfig()
        self.clock = clock  # the timers' clock (see logiq_core.testing.clock.FakeClock)
        # The wait before a REST retry (the bot's default: 0.2 s, doubling): tests about what is
        # retried, not how long the bot waits, set a few milliseconds.
        self.rest_backoff_seconds = rest_backoff_seconds

    def policy(self) -> Policy:
        """The named plugins and extra objects; installed unlisted ones only if asked for.

        A ``policy`` given to the constructor (the sandbox passes plugins.toml's) is used as is,
        so ``required`` and ``enabled`` mean exactly what they mean to the bot.
        """
        if self._policy is not None:
            return self._policy
        names = [*self.plugin_names, *self.extra_plugins]
        return Policy(
            plugins={
                name: PluginPolicy(name, True, False, self.plugin_config.get(name, {})) for name in names
            },
            enable_unlisted=self.include_unlisted,
            http_allow=self.http_allow,
        )

    def settings(self) -> Settings:
        settings = Settings(
            token=self.token,  # type: ignore[arg-type]
            api_url=self.double.api_url,
            data_dir=self.data_dir,
            heartbeat_seconds=self.heartbeat_seconds,
            pong_timeout_seconds=self.pong_timeout_seconds,
        )
        if self.rest_backoff_seconds is None:  # the bot's default
            return settings
        return settings.model_copy(update={"rest_backoff_seconds": self.rest_backoff_seconds})

    async def __aenter__(self) -> BotHarness:
        if self._own_double:
            await self.double.start()
        self.demo = build_demo(self.double)
        self.token = self.demo.bot_token
        try:
            await self.start_bot()
            for feature, spec in self.initial_rollout.items():
                phase, percentage = (spec, None) if isinstance(spec, str) else spec
                await self.rollout(feature, phase, percentage)
        except BaseException:
            await self.__aexit__(None, None, None)  # a bot that cannot start leaves nothing running
            raise
        return self

    async def rollout(self, feature: str, phase: str, percentage: float | None = None) -> None:
        """Put ``feature`` at ``phase`` (and ``percentage``) and wait until the bot applies it."""
        from logiq_core.app.rollout.service import RolloutService

        bot = self._running()
        service = RolloutService(bot.gate.store, bot.plugins.features(), "test")
        report = await service.set_phase(feature, phase)
        if percentage is not None:
            report = await service.set_percentage(feature, str(percentage))
        await self._apply(bot, report.after)

    async def count_as_internal(self, on: bool = True, server_id: str | None = None) -> None:
        """Count the demo server (or ``server_id``) as the team's own: every feature is on there."""
        from logiq_core.app.rollout.service import RolloutService

        bot = self._running()
        service = RolloutService(bot.gate.store, bot.plugins.features(), "test")
        report = await service.internal(server_id or self.demo.server_id, on)
        await self._apply(bot, report.after)

    @staticmethod
    async def _apply(bot: Bot, state: RolloutSnapshot) -> None:
        """Make the bot's gate use ``state``, the stored state a change just wrote (or read):
        the same as its watcher reloading it, without reading it again. A newer version than
        that (someone else's change meanwhile) is read as the watcher would."""
        if state.version >= bot.gate.snapshot.version:
            bot.gate.load_snapshot(state)
        else:
            await bot.gate.refresh()

    def _running(self) -> Bot:
        if self.bot is None:
            raise RuntimeError("the bot is not running: use the harness in `async with`")
        return self.bot

    async def start_bot(self) -> Bot:
        self.bot = Bot(
            self.settings(),
            policy=self.policy(),
            extra_plugins=self.extra_plugins,
            storage=self.storage,
            web_config=self.web_config,
        )
        if self.clock is not None:
            self.bot.timers.clock = self.clock
        await self.bot.start()
        return self.bot

    async def restart(self) -> Bot:
        """Stop the bot and start a new one on the same storage and double."""
        if self.bot is not None:
            await self.bot.stop()
        await self.storage.stop()
        old = self.storage  # the same database again, on the same (shared or own) server kind
        self.storage = Storage(
            None, self.data_dir, shared_server=old.shared_server, database_name=old.database_name
        )
        return await self.start_bot()

    async def __aexit__(self, *exc_info: object) -> None:
        if self.bot is not None:
            await self.bot.stop()
        await self.storage.stop()
        if self._own_double:
            await self.double.stop()

    def channel_id(self, channel: str | None) -> str:
        if channel is None:
            return str(self.demo.channels["general"])
        return str(self.demo.channels.get(channel, channel))

    async def eventually(
        self,
        check: Callable[[], T | Awaitable[T]],
        timeout: float = 5.0,
        message: str = "the condition never held",
    ) -> T:
        """Poll ``check`` (sync or async) until it returns something truthy; return that value.

        Fails with ``AssertionError(message)`` after ``timeout`` seconds: no fixed sleeps.
        See :func:`logiq_core.testing.poll.eventually`.
        """
        return await eventually(check, timeout, message)

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every event the double has sent so far has reached the bot (a Ping round
        trip: the double answers in order) and been handled by every plugin's listeners, and
        every command the bot started has finished. A "nothing happened" check then needs no
        sleep::

            await h.double.react_as(young, channel, prompt, "✅")    # must change nothing
            await h.settle()
            assert not verified(young)

        Work the handlers started in the background (a task of their own) is not waited for,
        and while the bot is disconnected there is no round trip: only what it had received.
        """
        bot = self._running()
        async with asyncio.timeout(timeout):
            if bot.gateway is not None and bot.gateway.connected:
                await bot.gateway.round_trip(timeout)
            for lane in list(bot.dispatcher.lanes.values()):
                await lane.queue.join()
        await bot.router.drain(timeout)  # every command started has answered (or is cancelled)

    def reactions(self, message: dict[str, Any] | str) -> dict[str, list[str]]:
        """The reactions on a message as the double holds them: emoji -> user ids."""
        message_id = message if isinstance(message, str) else message["_id"]
        found = self.double.world.messages.get(message_id, {})
        return dict(found.get("reactions") or {})

    async def wait_for_reaction(
        self, message: dict[str, Any] | str, emoji: str, by: str | None = None, timeout: float = 5.0
    ) -> None:
        """Wait until ``by`` (default: the bot) reacted ``emoji`` to ``message``."""
        user = by or self.demo.bot_id
        emoji = emoji.replace("\ufe0f", "")
        await self.eventually(
            lambda: user in self.reactions(message).get(emoji, []),
            timeout,
            f"no {emoji} reaction from {user}",
        )

    async def say(self, user_id: str, content: str, channel: str | None = None) -> dict[str, Any]:
        """Post a message as ``user_id`` (no wait for any reply)."""
        return await self.double.send_message_as(user_id, self.channel_id(channel), content)

    async def command(
        self,
        user_id: str,
        content: str,
        channel: str | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Post ``content`` as ``user_id`` and return the bot's next message in that channel."""
        channel_id = self.channel_id(channel)
        waiter = asyncio.ensure_future(self.double.wait_for_message(channel_id=channel_id, timeout=timeout))
        await asyncio.sleep(0)
        await self.double.send_message_as(user_id, channel_id, content)
        return await waiter


LogiqHarness = Callable[..., BotHarness]
"""The type of the ``logiq_harness`` pytest fixture: ``logiq_harness(plugins, **options)`` builds a
:class:`BotHarness` (options as its constructor's; ``data_dir`` defaults to a fresh directory)."""
