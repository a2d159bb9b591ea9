"""From a chat message to a command run: prefix, lookup, gate, permissions, cooldown, arguments.

:meth:`CommandRouter.handle_message` is called by the bot for every message, synchronously and
in order; it returns at once for messages that are not commands (most of them) and runs each
command on its own task, so a slow command never holds up the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from logiq_core.framework.commands.binding import bind_arguments
from logiq_core.framework.commands.context import CommandContext
from logiq_core.framework.commands.limits import Cooldowns, Notices
from logiq_core.framework.commands.model import Command, CommandError
from logiq_core.framework.commands.pagination import Pagination
from logiq_core.framework.commands.parsing import (
    tokenize,
)
from logiq_core.framework.commands.server_settings import ServerCommandSettings
from logiq_core.framework.features import CORE_FEATURE
from logiq_core.framework.invocation import Invocation, current_invocation
from logiq_core.framework.tasks import cancel_and_wait
from logiq_core.stoat.events import MessageEvent, MessageReact
from logiq_core.stoat.permissions import missing, permission_names
from logiq_core.stoat.rest import InvalidRequest, StoatAPIError, StoatUnavailable
from logiq_core.stoat.uploads import UploadRefused

if TYPE_CHECKING:
    from logiq_core.framework.context import PluginContext
    from logiq_core.stoat.cache import Cache
    from logiq_core.stoat.rest import StoatAPI

SYSTEM_AUTHOR = "0" * 26
NOTICE_INTERVAL_SECONDS = 60.0
# What an attempt at a command looks like (``!frobnicate``), as opposed to ``!!!`` or ``!1``.
_COMMAND_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_log = logger.bind(component="commands")


class GateView(Protocol):
    def is_enabled(self, feature: str, server_id: str | None) -> bool: ...


class MetricsSink(Protocol):
    def finish(self, invocation: Invocation, failed: bool) -> None: ...

    def record_feedback(
        self, feature: str, server_id: str | None, user_id: str, rating: int, text: str
    ) -> None: ...


class CommandHost(Protocol):
    """What the router needs of the bot."""

    @property
    def api(self) -> StoatAPI: ...

    @property
    def cache(self) -> Cache: ...

    @property
    def gate(self) -> GateView: ...

    @property
    def metrics(self) -> MetricsSink: ...

    @property
    def user_id(self) -> str: ...

    def features(self) -> list[str]: ...

    def plugin_context(self, feature: str) -> PluginContext: ...


class CommandRouter:
    """Every registered command, by name and alias, with the feature that owns it."""

    def __init__(self, host: CommandHost) -> None:
        self.host = host
        self.commands: dict[str, tuple[Command, str]] = {}
        self.settings = ServerCommandSettings()  # prefixes and hint switches, stored
        self.cooldowns = Cooldowns()
        self.notices = Notices(NOTICE_INTERVAL_SECONDS)
        self.pagination = Pagination(self)
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- registration -------------------------------------------------------------------------
    def register(self, command: Command, feature: str) -> None:
        for name in command.names():
            existing = self.commands.get(name)
            if existing is not None and existing[1] != feature:
                _log.warning("command {} of {} is shadowed by {}'s", name, feature, existing[1])
                continue
            self.commands[name] = (command, feature)

    def unique_commands(self) -> list[tuple[Command, str]]:
        seen: dict[int, tuple[Command, str]] = {}
        for command, feature in self.commands.values():
            seen.setdefault(id(command), (command, feature))
        return list(seen.values())

    # --- entry points from the bot ------------------------------------------------------------
    def handle_message(self, event: MessageEvent) -> None:
        """Start running the command in ``event``, if it is one (returns immediately)."""
        content = event.content
        if not content or event.system is not None or event.webhook is not None:
            return
        author = event.author
        if author == self.host.user_id or author == SYSTEM_AUTHOR:
            return
        if event.user is not None and event.user.bot is not None:
            return
        known = self.host.cache.users.get(author)
        if known is not None and known.bot is not None:
            return
        server_id = event.server_id_hint
        prefix = self.settings.known_prefix(server_id)
        if prefix is not None and not content.startswith(prefix) and not content.startswith("<@"):
            return  # the common case: an ordinary chat message
        self._spawn(self._process(event, time.perf_counter()))

    def handle_reaction(self, event: MessageReact) -> None:
        if self.pagination.wants(event):
            self._spawn(self.pagination.turn(event))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, deadline: float) -> None:
        """Let running commands finish within ``deadline`` seconds, then cancel the rest."""
        if not self._tasks:
            return
        running = set(self._tasks)
        await asyncio.wait(running, timeout=deadline)
        await cancel_and_wait(running, what="command")  # those still running

    # --- prefixes ---------------------------------------------------------------------------
    async def prefix_for(self, server_id: str | None) -> str:
        """The server's command prefix (plugins use it to tell commands from chat)."""
        return await self.settings.prefix_for(server_id)

    # --- processing ---------------------------------------------------------------------------
    def _strip_invocation(self, content: str, prefix: str) -> str | None:
        mention = f"<@{self.host.user_id}>"
        if content.startswith(mention):
            return content[len(mention) :].lstrip()
        if content.startswith(prefix):
            return content[len(prefix) :]
        return None

    def _lookup(self, words: list[str]) -> tuple[tuple[Command, str] | None, int]:
        """The command the first words name, and how many words that took: a two-word alias
        ("leaderboard xp") wins over its first word alone."""
        if len(words) > 1:
            found = self.commands.get(f"{words[0].lower()} {words[1].lower()}")
            if found is not None:
                return found, 2
        return (self.commands.get(words[0].lower()), 1) if words else (None, 1)

    async def takes(self, server_id: str | None, content: str) -> bool:
        """Whether this message runs a known command: one after the server's prefix or after the
        bot's mention (listeners that act on chat, like XP or AI answers, leave those alone)."""
        if content.startswith(f"<@{self.host.user_id}>"):
            words = content[len(f"<@{self.host.user_id}>") :].split(maxsplit=2)
            return self._lookup(words[:2])[0] is not None
        prefix = await self.settings.prefix_for(server_id)
        if not content.startswith(prefix):
            return False
        return self._lookup(content[len(prefix) :].split(maxsplit=2)[:2])[0] is not None

    async def _process(self, event: MessageEvent, received: float) -> None:
        try:
            await self._process_unsafe(event, received)
        except Exception as exc:  # the router itself must never die on a message
            _log.opt(exception=exc).error("could not process message {}", event.id)

    async def _process_unsafe(self, event: MessageEvent, received: float) -> None:
        server_id = event.server_id_hint
        prefix = await self.settings.prefix_for(server_id)
        body = self._strip_invocation(event.content or "", prefix)
        if body is None:
            return
        tokens = tokenize(body)
        if not tokens:
            return
        found, depth = self._lookup([word for word, _ in tokens[:2]])
        if found is None:
            # "!frobnicate", not "! hello"; and "@Logiq tell me..." is talk (AI chat answers
            # mentions), not an attempt at a command.
            mentioned = (event.content or "").startswith(f"<@{self.host.user_id}>")
            if body[:1].strip() and not mentioned:
                await self._unknown_command(event, tokens[0][0], prefix)
            return
        command, feature = found
        while command.subcommands and depth < len(tokens):
            child = command.subcommands.get(tokens[depth][0].lower())
            if child is None:
                break
            command, depth = child, depth + 1
        if feature != CORE_FEATURE and not self.host.gate.is_enabled(feature, server_id):
            await self._not_available(event, feature)
            return
        # A Message need not carry its author's user (PROTOCOL.md §4): learn who wrote it (one
        # cached GET /users/{id}) so that another bot can never run a command (two bots
        # answering each other is a loop). Unknown authors run nothing.
        author = await self.host.cache.ensure_user(event.author)
        if author is None:
            _log.warning("ignoring a command from {}: could not learn who they are", event.author)
            return
        if author.is_bot:
            return
        context = self.host.plugin_context(feature)
        author_member = None
        if server_id is not None:
            author_member = await self.host.cache.member(server_id, event.author)
        ctx = CommandContext(self, event, command, context, prefix, author_member)
        remaining = tokens[depth:]
        rest_text = body[remaining[0][1] :] if remaining else ""
        failed = False
        # Rollout metrics: one invocation, timed from the member's message reaching the bot.
        invocation = Invocation(feature, server_id, received, "command")
        token = current_invocation.set(invocation)
        try:
            await self._invoke(ctx, command, remaining, rest_text)
        except CommandError as exc:
            await self._answer(ctx, str(exc))
        except StoatAPIError as exc:
            failed = True
            await self._answer(ctx, _explain_stoat_error(exc))
        except (InvalidRequest, UploadRefused) as exc:
            failed = True
            await self._answer(ctx, f"I could not send that: {exc}.")
        except Exception as exc:
            failed = True
            reference = secrets.token_hex(3)
            context.logger.opt(exception=exc).error(
                "command {} failed (ref {})", command.qualified_name, reference
            )
            await self._answer(ctx, f"Something went wrong (ref {reference}).")
        finally:
            current_invocation.reset(token)
            if feature != CORE_FEATURE:
                self.host.metrics.finish(invocation, failed)

    async def _answer(self, ctx: CommandContext, text: str) -> None:
        with _answering(ctx.message.channel):
            await ctx.reply(text)

    async def _not_available(self, event: MessageEvent, feature: str) -> None:
        if not self._first_notice(event, feature):
            return
        with _answering(event.channel):
            await self.host.api.send_message(
                event.channel,
                f"`{feature}` is not available on this server.",
                replies=[(event.id, False)],
            )

    def _first_notice(self, event: MessageEvent, topic: str) -> bool:
        """True at most once per member, server and topic a minute (no chat flooding)."""
        return self.notices.first((event.server_id_hint, event.author, topic))

    async def _unknown_command(self, event: MessageEvent, name: str, prefix: str) -> None:
        """Answer ``!frobnicate`` with the closest commands this member may use, once a minute."""
        if not _COMMAND_WORD.match(name) or not await self.settings.hints_enabled(event.server_id_hint):
            return
        if not self._first_notice(event, "?unknown"):
            return
        help_command = self.commands.get("help")
        author_member = None
        if event.server_id_hint is not None:
            author_member = await self.host.cache.member(event.server_id_hint, event.author)
        candidates: list[str] = []
        if help_command is not None:
            context = self.host.plugin_context(CORE_FEATURE)
            ctx = CommandContext(self, event, help_command[0], context, prefix, author_member)
            visible = [c for group in self.visible_commands(ctx).values() for c in group]
            candidates = [alias for c in visible for alias in c.names()]
        guesses = difflib.get_close_matches(name.lower(), candidates, n=2)
        if guesses:
            hint = "; did you mean " + " or ".join(f"`{prefix}{g}`" for g in guesses) + "?"
        else:
            hint = f"; `{prefix}help` lists the commands you can use."
        with _answering(event.channel):
            await self.host.api.send_message(
                event.channel, f"No command `{name}`{hint}", replies=[(event.id, False)]
            )

    async def _invoke(
        self,
        ctx: CommandContext,
        command: Command,
        tokens: list[tuple[str, int]],
        rest_text: str,
    ) -> None:
        if not ctx.in_server and not command.dm:
            raise CommandError(f"`{command.qualified_name}` only works on a server.")
        if command.handler is None:
            lines = [
                f"`{child.usage(ctx.prefix)}`: {child.description}" for child in command.unique_subcommands()
            ]
            raise CommandError("\n".join([f"**{command.qualified_name}**", *lines]))
        await self._check_permissions(ctx, command)
        self._check_cooldown(ctx, command)
        kwargs = await bind_arguments(ctx, command, tokens, rest_text)
        self._start_cooldown(ctx, command)  # only a command that will run starts its cooldown
        await command.handler(ctx, **kwargs)

    async def _check_permissions(self, ctx: CommandContext, command: Command) -> None:
        needed_user = _all_required(command, "user_permissions")
        needed_bot = _all_required(command, "bot_permissions")
        if ctx.author_member is not None and needed_user:
            lacking = missing(needed_user, ctx.member_permissions(ctx.author_member))
            if lacking:
                raise CommandError(
                    f"You need the {', '.join(permission_names(lacking))} permission to use "
                    f"`{command.qualified_name}`."
                )
        if ctx.in_server and needed_bot:
            lacking = missing(needed_bot, await ctx.bot_permissions())
            if lacking:
                raise CommandError(
                    f"I need the {', '.join(permission_names(lacking))} permission for "
                    f"`{command.qualified_name}`."
                )

    def _check_cooldown(self, ctx: CommandContext, command: Command) -> None:
        if not command.cooldown:
            return
        left = self.cooldowns.remaining((command.qualified_name, ctx.message.server_id_hint, ctx.author_id))
        if left > 0:
            wait = max(1, round(left))
            raise CommandError(f"Slow down: try `{command.qualified_name}` again in {wait} s.")

    def _start_cooldown(self, ctx: CommandContext, command: Command) -> None:
        if command.cooldown:
            self.cooldowns.hold((command.qualified_name, ctx.server_id, ctx.author_id), command.cooldown)

    # --- help ---------------------------------------------------------------------------------
    def visible_commands(self, ctx: CommandContext) -> dict[str, list[Command]]:
        """Commands this member may use here, grouped by feature (gate and permissions)."""
        grouped: dict[str, list[Command]] = {}
        for command, feature in self.unique_commands():
            if command.hidden:
                continue
            if feature != CORE_FEATURE and not self.host.gate.is_enabled(feature, ctx.message.server_id_hint):
                continue
            if not ctx.in_server and not command.dm:
                continue
            if ctx.author_member is not None and missing(
                command.user_permissions, ctx.member_permissions(ctx.author_member)
            ):
                continue
            grouped.setdefault(feature, []).append(command)
        return grouped

    def why_hidden(self, ctx: CommandContext, command: Command, feature: str) -> str | None:
        """Why ``command`` is not in this member's help here (None: it is), said plainly."""
        name = command.qualified_name
        if feature != CORE_FEATURE and not self.host.gate.is_enabled(feature, ctx.server_id):
            return f"`{name}` exists, but `{feature}` is not available on this server."
        if ctx.server_id is None and not command.dm:
            return f"`{name}` exists, but it only works on a server."
        if ctx.author_member is not None:
            lacking = missing(
                _all_required(command, "user_permissions"), ctx.member_permissions(ctx.author_member)
            )
            if lacking:
                names = ", ".join(permission_names(lacking))
                return f"`{name}` exists, but it needs the {names} permission, which you do not have here."
        return None

    def suggest(self, name: str, candidates: Iterable[str]) -> str:
        guess = difflib.get_close_matches(name, list(candidates), n=1)
        return f" Did you mean `{guess[0]}`?" if guess else ""


def _all_required(command: Command, attribute: str) -> int:
    """A subcommand needs its own permissions and its parents'."""
    needed = 0
    node: Command | None = command
    while node is not None:
        needed |= getattr(node, attribute)
        node = node.parent
    return needed


@contextlib.contextmanager
def _answering(channel: str) -> Iterator[None]:
    """An answer that cannot be sent (no SendMessage there, Stoat down) is logged, not raised."""
    try:
        yield
    except (StoatAPIError, InvalidRequest, UploadRefused) as exc:
        _log.warning("could not answer in channel {}: {}", channel, exc)


def _explain_stoat_error(exc: StoatAPIError) -> str:
    if isinstance(exc, StoatUnavailable):
        return "Stoat is not answering right now; try again in a moment."
    if exc.type == "MissingPermission" and exc.permission:
        return f"Stoat refused: I am missing the {exc.permission} permission."
    known = {
        "NotElevated": "Stoat refused: my top role is not above theirs.",
        "IsElevated": "Stoat refused: they are a moderator (they hold TimeoutMembers).",
        "NotFound": "Stoat could not find that.",
        "InvalidOperation": "Stoat refused that operation.",
        "CannotGiveMissingPermissions": "Stoat refused: I cannot grant permissions I lack.",
        "RateLimited": "Stoat is rate limiting me; try again in a moment.",
    }
    return known.get(exc.type, f"Stoat refused the request ({exc.type}).")
