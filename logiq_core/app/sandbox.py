"""``logiq sandbox``: the bot, a simulated Stoat server and a terminal chat, in one command.

The Stoat test double runs on loopback with a demo community; the production bot connects to
it with every enabled plugin; the person at the keyboard types as a member of that community
and sees the bot's replies, reactions and moderation actions as they happen.

The sandbox keeps Stoat's rules: what a member types goes through the same checks the double
applies to a bot (permissions, message size), plugins.toml and the data directory are checked
as the bot checks them, and Ctrl-C or Ctrl-D quits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import shlex
import signal
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.style import Style
from rich.text import Text

from logiq_core.app.log import configure_logging
from logiq_core.app.settings import Settings
from logiq_core.framework.policy import Policy, load_policy
from logiq_core.framework.storage import Storage, ensure_writable_directory

SANDBOX_HELP = """\
Type a message to send it as the current member (try !help).
  /as NAME         speak as another member (see /who)
  /in CHANNEL      move to another channel (see /channels)
  /react EMOJI     react to the bot's last message in this channel
  /join NAME       a new user joins the server (watch verification)
  /wait SECONDS    let time pass (e.g. until a giveaway ends)
  /rollout FEATURE PHASE [PERCENT]   e.g. /rollout coinflip beta (see it as a server would)
  /internal on|off the sandbox server counts as internal (on at start: every feature works)
  /who, /channels  list members (with ids and roles) and channels
  /log             recent messages in this channel
  /feed TITLE      publish an item on the sandbox's own feed (for !alerts)
  /quit            leave (Ctrl-C or Ctrl-D work too)"""

_MENTION = re.compile(r"<([@#%])([0-9A-HJKMNP-TV-Z]{26})>")
_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
# A moment in UTC as the bot or Stoat writes it: ISO 8601 with Z or +00:00, or "... UTC".
_UTC_TIME = re.compile(r"\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?:Z|\+00:00| UTC)")


def _style_or(value: Any, fallback: str) -> str:
    """``value`` if rich understands it as a style (embed colours are CSS), else ``fallback``."""
    try:
        Style.parse(str(value))
    except Exception:
        return fallback
    return str(value) if value else fallback


@functools.cache
def _stoat_markdown() -> type[Any]:
    """rich's Markdown (with markdown-it and pygments) is imported at the first message shown,
    not before the prompt: it is a tenth of the sandbox's start."""
    from markdown_it import MarkdownIt
    from rich.markdown import Markdown

    class StoatMarkdown(Markdown):
        """Markdown as Stoat renders it: HTML is shown as text, never interpreted."""

        def __init__(self, markup: str, **options: Any) -> None:
            super().__init__(markup, **options)
            parser = MarkdownIt("commonmark", {"html": False})
            self.parsed = parser.enable("strikethrough").enable("table").parse(markup)

    return StoatMarkdown


def __getattr__(name: str) -> Any:  # ``StoatMarkdown`` stays importable from here
    if name == "StoatMarkdown":
        return _stoat_markdown()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """``in 1 h, 21:26`` or ``5 min ago, 20:21``: relative, then the local clock time."""
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (moment - now).total_seconds()
    size = abs(seconds)
    if size < 60:
        span = f"{round(size)} s"
    elif round(size / 60) < 60:
        span = f"{round(size / 60)} min"
    elif size < 86400 * 2:
        span = f"{size / 3600:.1f}".removesuffix(".0") + " h"
    else:
        span = f"{round(size / 86400)} days"
    local = moment.astimezone()
    clock = local.strftime("%H:%M")
    days_apart = (local.date() - now.astimezone().date()).days
    if days_apart == 1:
        clock = f"tomorrow {clock}"
    elif days_apart == -1:
        clock = f"yesterday {clock}"
    elif days_apart:
        clock = local.strftime("%a %d %b %H:%M")
    return f"in {span}, {clock}" if seconds >= 0 else f"{span} ago, {clock}"


def parse_utc(value: str) -> datetime | None:
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace(" UTC", "+00:00"))
    return None


class SandboxSession:
    """The terminal chat: who is speaking, where, and how to show what happens."""

    def __init__(self, harness: Any, console: Console) -> None:
        self.h = harness
        self.console = console
        self.double = harness.double
        self.demo = harness.demo
        self.user_id: str = self.demo.member_ids[0]
        self.channel_id: str = self.demo.channels["general"]
        self.last_by_channel: dict[str, dict[str, Any]] = {}
        self.feed: Any = None  # the social alerts plugin's local feed, when it is enabled

    # --- naming -------------------------------------------------------------------------------
    def user_name(self, user_id: str) -> str:
        user = self.double.world.users.get(user_id)
        return str(getattr(user, "username", None) or user_id[-6:])

    def channel_name(self, channel_id: str) -> str:
        channel = self.double.world.channels.get(channel_id) or {}
        return str(channel.get("name") or channel_id[-6:])

    def role_name(self, role_id: str) -> str:
        server = self.double.world.servers.get(self.demo.server_id) or {}
        role = (server.get("roles") or {}).get(role_id) or {}
        return str(role.get("name") or role_id[-6:])

    def prompt(self) -> str:
        return f"[{self.user_name(self.user_id)} in #{self.channel_name(self.channel_id)}]> "

    def is_owner(self, user_id: str) -> bool:
        return bool(self.double.world.servers[self.demo.server_id]["owner"] == user_id)

    # --- rendering ----------------------------------------------------------------------------
    def readable(self, text: str) -> str:
        """Mentions as names and UTC moments as relative local times, as a Stoat client shows them."""

        def mention(match: re.Match[str]) -> str:
            kind, target = match.group(1), match.group(2)
            if kind == "@":
                return f"@{self.user_name(target)}"
            if kind == "#":
                return f"#{self.channel_name(target)}"
            return f"@{self.role_name(target)}"

        def moment(match: re.Match[str]) -> str:
            parsed = parse_utc(match.group(0))
            return relative_time(parsed) if parsed else match.group(0)

        return _UTC_TIME.sub(moment, _MENTION.sub(mention, text))

    def markdown(self, text: str) -> Any:
        # Stoat shows every newline; in Markdown only a line ending in two spaces breaks.
        return _stoat_markdown()(self.readable(text).replace("\n", "  \n"))

    def notice(self, text: str, style: str = "yellow") -> None:
        """One line of sandbox narration (never read as markup)."""
        self.console.print(Text(text, style=style))

    def show_event(self, event: dict[str, Any]) -> None:
        """Render what the simulated server broadcasts: bot messages and moderation actions."""
        kind = event.get("type")
        bot_id = self.demo.bot_id
        if kind == "Message" and event.get("author") == bot_id:
            where = self.channel_name(str(event.get("channel")))
            self.last_by_channel[str(event.get("channel"))] = event
            self.console.print(Text.assemble(("Logiq", "bold cyan"), (f" #{where}", "dim"), ":"))
            if event.get("content"):
                self.console.print(Padding(self.markdown(event["content"]), (0, 0, 0, 2)))
            for embed in event.get("embeds") or []:
                body = self.markdown(embed.get("description") or "")
                title = Text(self.readable(embed.get("title") or ""), style="bold magenta")
                border = _style_or(embed.get("colour"), "magenta")
                panel = Panel(body, title=title, title_align="left", border_style=border, expand=False)
                self.console.print(Padding(panel, (0, 0, 0, 2)))
            for attachment in event.get("attachments") or []:
                size, kind = attachment.get("size"), attachment.get("content_type")
                self.notice(f"  📎 {attachment.get('filename')} ({kind}, {size} bytes)", "blue")
            reactions = (event.get("interactions") or {}).get("reactions") or []
            if reactions:
                self.notice(f"  reactions offered: {' '.join(reactions)} (/react EMOJI)", "dim")
        elif kind == "MessageUpdate" and event.get("data", {}).get("content"):
            self.console.print(Text("Logiq (edited):", style="cyan"))
            self.console.print(Padding(self.markdown(event["data"]["content"]), (0, 0, 0, 2)))
        elif kind == "MessageReact" and event.get("user_id") == bot_id:
            self.notice(f"  Logiq reacted {event.get('emoji_id')}", "dim")
        elif kind == "ServerMemberLeave":
            why = event.get("reason") or "Leave"
            label = {"Kick": "was kicked", "Ban": "was banned"}.get(why, "left")
            self.notice(f"⚑ {self.user_name(str(event.get('user')))} {label}")
        elif kind == "ServerMemberUpdate":
            data, who = event.get("data") or {}, self.user_name(str(event["id"]["user"]))
            if "timeout" in data:
                until = parse_utc(str(data["timeout"]))
                shown = relative_time(until) if until else str(data["timeout"])
                self.notice(f"⚑ {who} is timed out until {shown}")
            if "Timeout" in (event.get("clear") or []):
                self.notice(f"⚑ {who}'s timeout was lifted")
            if "roles" in data:
                names = [self.role_name(role) for role in data["roles"]]
                self.notice(f"⚑ {who} now has roles: {', '.join(names) or '-'}")
        elif kind in ("MessageDelete", "BulkMessageDelete"):
            count = len(event.get("ids") or [1])
            self.notice(f"({count} message(s) deleted)", "dim")
        elif kind == "ChannelUpdate" and (event.get("data") or {}).keys() & {
            "default_permissions",
            "role_permissions",
        }:
            name = self.channel_name(event["id"])
            can_send = self.double.world.channel_permissions(event["id"], self.demo.member_ids[0])
            from logiq_core.stoat.permissions import Permission

            state = "members can write" if can_send & Permission.SendMessage else "members cannot write"
            self.notice(f"⚑ #{name} permissions changed: {state}")

    # --- what the person types ----------------------------------------------------------------
    async def handle(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith("/"):
            await self.post(line)
            return True
        try:
            command, *args = shlex.split(line[1:])
        except ValueError as exc:
            self.notice(str(exc), "red")
            return True
        return await self.sandbox_command(command.lower(), args)

    async def post(self, content: str) -> None:
        """Post as the current member, under Stoat's rules (the double's own checks)."""
        from logiq_core.testing.stoat.server import StoatError

        try:
            await self.double.send_message_as(self.user_id, self.channel_id, content, enforce=True)
        except StoatError as exc:
            self.notice(f"Stoat refused your message: {self.explain(exc)}", "red")

    def explain(self, exc: Any) -> str:
        where = f"#{self.channel_name(self.channel_id)}"
        if exc.type == "MissingPermission":
            return f"{self.user_name(self.user_id)} lacks {exc.extra.get('permission')} in {where}"
        if exc.type == "PayloadTooLarge":
            return f"a message is at most {exc.extra.get('max', 2000)} characters"
        if exc.type == "NotFound":
            return f"{self.user_name(self.user_id)} cannot see {where}"
        return str(exc.type)

    async def sandbox_command(self, command: str, args: list[str]) -> bool:
        if command in ("quit", "exit", "q"):
            return False
        if command == "help":
            self.console.print(escape(SANDBOX_HELP), highlight=False)
        elif command == "who":
            for user_id in self.double.world.server_member_ids(self.demo.server_id):
                roles = self.double.world.member_roles(self.demo.server_id, user_id)
                names = [self.role_name(r) for r in roles]
                if self.is_owner(user_id):
                    names.insert(0, "owner")
                shown = ", ".join(names) or "no roles"
                self.notice(f"  {self.user_name(user_id):<10} {user_id}  ({shown})", "default")
        elif command == "channels":
            # Every channel of the server, including those the bot created (e.g. tickets).
            for channel_id in self.double.world.servers[self.demo.server_id]["channels"]:
                name = self.channel_name(channel_id)
                self.notice(f"  #{name:<10} {channel_id}", "default")
        elif command == "as" and args:
            user_id = self.find_user(args[0])
            if user_id is None:
                self.notice(f"no member called {args[0]} (see /who)", "red")
            else:
                self.user_id = user_id
        elif command == "in" and args:
            name = args[0].lstrip("#")
            channel_id = self.find_channel(name)
            if channel_id is None:
                self.notice(f"no channel #{name} (see /channels)", "red")
            else:
                self.channel_id = channel_id
        elif command == "react" and args:
            target = self.last_by_channel.get(self.channel_id)
            if target is None:
                self.notice("the bot has not said anything in this channel yet", "red")
            else:
                from logiq_core.testing.stoat.server import StoatError

                try:
                    await self.double.react_as(
                        self.user_id, str(target["channel"]), str(target["_id"]), args[0], enforce=True
                    )
                except StoatError as exc:
                    self.notice(f"Stoat refused the reaction: {self.explain(exc)}", "red")
        elif command == "join" and args:
            user = self.double.create_user(args[0])
            self.double.add_member(self.demo.server_id, user.id)
            self.notice(f"{args[0]} joined the server", "green")
        elif command == "wait" and args:
            try:
                seconds = min(max(float(args[0]), 0.0), 600.0)
            except ValueError:
                self.notice("/wait takes a number of seconds", "red")
            else:
                self.notice(f"(waiting {seconds:g} s)", "dim")
                await asyncio.sleep(seconds)
        elif command == "rollout" and len(args) >= 2:
            try:
                await self.h.rollout(args[0], args[1], float(args[2]) if len(args) > 2 else None)
            except Exception as exc:  # a typo must not end the session
                self.notice(str(exc), "red")
            else:
                self.notice(f"{args[0]} is now {' '.join(args[1:])}", "green")
        elif command == "internal" and args and args[0] in ("on", "off"):
            await self.h.count_as_internal(args[0] == "on")
            self.notice(f"the sandbox server counts as internal: {args[0]}", "green")
        elif command == "feed" and args and self.feed is not None:
            self.feed.publish(" ".join(args))
            self.notice(f"published on {self.feed.url}", "green")
        elif command == "log":
            for message in self.double.world.channel_messages(self.channel_id)[-10:]:
                author = self.user_name(str(message.get("author")))
                self.notice(f"  {author}: {self.readable(message.get('content') or '')}", "default")
        else:
            self.notice("unknown sandbox command; /help lists them", "red")
        return True

    def find_channel(self, name: str) -> str | None:
        """A channel of the sandbox server by name (channels the bot made count too) or id."""
        if name in self.demo.channels:
            return str(self.demo.channels[name])
        for channel_id in self.double.world.servers[self.demo.server_id]["channels"]:
            channel = self.double.world.channels.get(channel_id) or {}
            if channel.get("name") == name or channel_id == name:
                return str(channel_id)
        return None

    def find_user(self, name: str) -> str | None:
        name = name.lstrip("@").lower()
        for user_id in self.double.world.server_member_ids(self.demo.server_id):
            if self.user_name(user_id).lower() == name or user_id.lower() == name:
                return str(user_id)
        return None


class _Keyboard:
    """Lines typed at the terminal, read on a daemon thread so Ctrl-C never waits for Enter."""

    def __init__(self, loop: asyncio.AbstractEventLoop, prompt: Any) -> None:
        self.loop = loop
        self.prompt = prompt
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.want = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="sandbox-keyboard", daemon=True).start()

    def _run(self) -> None:
        while True:
            self.want.wait()
            self.want.clear()
            try:
                line: str | None = input(self.prompt())
            except (EOFError, OSError, ValueError):
                line = None
            self.loop.call_soon_threadsafe(self.lines.put_nowait, line)
            if line is None:
                return

    async def next_line(self) -> str | None:
        self.want.set()
        return await self.lines.get()


def _prepare_data_dir(settings: Settings) -> Path:
    """The bot's rule: the data directory must be a writable folder (one clear line if not)."""
    ensure_writable_directory(Path(settings.data_dir))
    return ensure_writable_directory(Path(settings.data_dir) / "sandbox")


async def _start_sandbox_feed(policy: Policy) -> tuple[Any, Policy]:
    """The social alerts plugin's own small feed on loopback, and the policy that lets the bot
    reach it (only 127.0.0.1) and poll it every few seconds; (None, policy) without the plugin."""
    listed = policy.for_plugin("social_alerts")
    if not listed.enabled:
        return None, policy
    try:
        from logiq_social_alerts.sandbox import SandboxFeed
    except ImportError:
        return None, policy
    feed = await SandboxFeed().start()
    plugins = {**policy.plugins, "social_alerts": replace(listed, config=feed.plugin_config(listed.config))}
    return feed, replace(policy, plugins=plugins, http_allow=(*policy.http_allow, feed.allow))


async def _fake_model_if_needed(policy: Policy, console: Console) -> Any:
    """AI chat with no ``base_url``: start the fake model server and point ai_chat at it."""
    listed = policy.plugins.get("ai_chat")
    if listed is None or not listed.enabled or listed.config.get("base_url"):
        return None
    config = listed.config
    from logiq_core.testing.fake_llm import FakeLLM

    fake = await FakeLLM(chunk_delay=0.05).start()
    if isinstance(config.get("model"), str):  # unset: ai_chat's default, which the fake serves
        fake.models.append(config["model"])
    config["base_url"] = fake.base_url
    console.print(
        Text(
            "AI chat: no base_url is configured, so it talks to a built-in fake model "
            "(a stand-in that echoes what it is sent, not a real model)."
        )
    )
    return fake


SANDBOX_OPERATOR_ENV = "LOGIQ_OPERATOR_TOKEN"


def _sandbox_web_config(settings: Settings) -> Any:
    """The dashboard at loopback: plugins.toml's ``[web]`` if it has one, else 127.0.0.1:8080;
    the operator's token from ``LOGIQ_OPERATOR_TOKEN``, made up for this run when unset."""
    import os
    import secrets

    from logiq_core.app.web.config import WebConfig, load_web_config

    web = load_web_config(settings.plugins_file)
    if not web.enabled:
        web = WebConfig(enabled=True)
    web = replace(
        web,
        host="127.0.0.1",
        public_url=None,
        operator_token_env=web.operator_token_env or SANDBOX_OPERATOR_ENV,
    )
    if web.operator_token_env and not os.environ.get(web.operator_token_env):
        os.environ[web.operator_token_env] = secrets.token_urlsafe(12)
    return web


async def _announce_dashboard(harness: Any, web: Any, console: Console) -> None:
    """Print where the dashboard is (on a free port when 8080 is taken), public pages on."""
    from logiq_core.app.web.server import start_dashboard
    from logiq_core.framework.web.public import set_public

    bot = harness.bot
    if bot.web is None:  # the port is taken (another sandbox?): any free loopback port
        bot.web = await start_dashboard(bot, replace(web, port=0))
    if bot.web is None:
        console.print(Text("Dashboard: could not start (see the log).", style="red"))
        return
    await set_public(harness.demo.server_id, True)
    token = web.operator_token() or ""
    console.print(
        Text(
            f"Dashboard: {bot.web.base_url}/s/{harness.demo.server_id}/ (public pages on; "
            f"type !dashboard to sign in); operators: {bot.web.base_url}/ops/ with token "
            f"{token}"
        )
    )


async def run_sandbox(settings: Settings, script: str | None = None) -> None:
    """Start the double, the bot and the chat; return when the person quits.

    Raises :class:`~logiq_core.framework.errors.LogiqError` (one line for the operator) for the same
    configuration mistakes the bot refuses: a data directory that is not a writable folder, a
    broken plugins.toml, a required plugin that is missing or fails.
    """
    console = Console(highlight=False)
    policy = load_policy(settings.plugins_file)
    data_dir = _prepare_data_dir(settings)
    # The database process starts first: its start-up overlaps the double's and the bot's.
    storage = Storage(None, data_dir)
    storage.launch()
    from logiq_core.testing.harness import BotHarness

    log_file = data_dir / "sandbox.log"
    with log_file.open("a", encoding="utf-8") as log_stream:
        configure_logging(settings.log_level, stream=log_stream)
        console.print(
            Text.assemble(("Logiq sandbox", "bold"), ": starting a simulated Stoat server and the bot...")
        )
        feed, policy = await _start_sandbox_feed(policy)
        fake_model = await _fake_model_if_needed(policy, console)
        web = _sandbox_web_config(settings)
        harness = BotHarness(data_dir=data_dir, policy=policy, storage=storage, web=web)
        async with harness, contextlib.AsyncExitStack() as stack:
            if fake_model is not None:
                stack.push_async_callback(fake_model.stop)
            if feed is not None:
                stack.push_async_callback(feed.stop)
            # The sandbox's server is the team's own test server: counted internal, so a feature
            # at internal or beta can be tried at once (/internal off to see what servers see).
            await harness.count_as_internal(True)
            session = SandboxSession(harness, console)
            session.feed = feed
            if feed is not None:
                console.print(Text(f"Social alerts: a local feed is served at {feed.url} (/feed TITLE)"))
            harness.double.add_observer(session.show_event)
            assert harness.bot is not None
            loaded = ", ".join(r.name for r in harness.bot.plugins.loaded()) or "none"
            console.print(Text(f"Plugins loaded: {loaded}. Logs: {log_file}"))
            for record in harness.bot.plugins.ordered():
                if record.status in ("failed", "not installed"):
                    console.print(Text(f"  {record.name}: {record.status}: {record.error}", style="red"))
            await _announce_dashboard(harness, web, console)
            console.print(Text(SANDBOX_HELP))
            if script is not None:
                await _run_script(session, console, script)
                return
            await _run_keyboard(session, console)


# Sandbox commands that only change who or where the person is, or print what is already known:
# they give the bot nothing to handle, so a script goes on without settling after them.
_LOCAL_COMMANDS = frozenset({"as", "in", "who", "channels", "help", "log"})


def _is_local(line: str) -> bool:
    words = line.split()
    return not words or (words[0].startswith("/") and words[0][1:].lower() in _LOCAL_COMMANDS)


async def _run_script(session: SandboxSession, console: Console, script: str) -> None:
    for line in script.split(";"):
        shown = line.strip()
        shown = shown if len(shown) <= 100 else f"{shown[:60]}… ({len(shown)} characters)"
        console.print(Text(f"{session.prompt()}{shown}", style="bold"))
        if not await session.handle(line):
            break
        if not _is_local(line):
            await _settle(session)
    await _settle(session)


async def _settle(session: SandboxSession, quiet_seconds: float = 0.1, limit: float = 5.0) -> None:
    """Wait until the bot has handled what the last line set off, then for a short quiet moment.

    A Ping round trip is a barrier (every event sent so far has reached the bot), then every
    listener and command is drained; again while that made new requests. The quiet moment
    after it catches work the bot does in the background (a streamed answer's edits).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    bot, gateway = session.h.bot, session.h.bot.gateway if session.h.bot is not None else None
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(limit):
            while gateway is not None:
                before = len(session.double.requests)
                # A Ping round trip, then everything drained. Its own timeout is longer than
                # ours: a slow command is left running (ours fires first), never cancelled.
                await session.h.settle(timeout=limit * 4)
                if len(session.double.requests) == before:
                    break
    seen = len(session.double.requests)
    quiet_since = loop.time()
    while loop.time() - started < limit and bot is not None:
        await asyncio.sleep(0.02)
        now = len(session.double.requests)
        if now != seen:
            seen, quiet_since = now, loop.time()
        elif loop.time() - quiet_since >= quiet_seconds:
            return


async def _run_keyboard(session: SandboxSession, console: Console) -> None:
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    if not sys.stdin.isatty():
        console.print(Text("(reading lines from standard input)", style="dim"))
    terminal = _terminal_state()
    keyboard = _Keyboard(loop, session.prompt)
    keyboard.start()
    try:
        while True:
            reading = asyncio.ensure_future(keyboard.next_line())
            stop = asyncio.ensure_future(interrupted.wait())
            done, _ = await asyncio.wait({reading, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                reading.cancel()
                console.print()  # the prompt's line was left open by Ctrl-C
                break
            stop.cancel()
            line = reading.result()
            if line is None or not await session.handle(line):
                if line is None:
                    console.print()
                break
            await asyncio.sleep(0.05)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
        _restore_terminal(terminal)  # Ctrl-C may leave readline's line editing mode behind
    console.print("Bye.")


def _terminal_state() -> Any:
    try:
        import termios

        return termios.tcgetattr(sys.stdin.fileno())
    except Exception:  # not a terminal, or not a POSIX one
        return None


def _restore_terminal(state: Any) -> None:
    if state is None:
        return
    with contextlib.suppress(Exception):
        import termios

        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, state)
