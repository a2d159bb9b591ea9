"""``logiq sandbox``: the bot, a simulated Stoat server and a terminal chat, in one command.

The Stoat test double runs on loopback with a demo community; the production bot connects to
it with every enabled plugin; the person at the keyboard types as a member of that community
and sees the bot's replies, reactions and moderation actions as they happen.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from logiq_core.log import configure_logging
from logiq_core.policy import load_policy
from logiq_core.settings import Settings

SANDBOX_HELP = """\
Type a message to send it as the current member (try !help).
  /as NAME         speak as another member (see /who)
  /in CHANNEL      move to another channel (see /channels)
  /react EMOJI     react to the bot's last message in this channel
  /join NAME       a new user joins the server (watch verification)
  /who, /channels  list members (with roles) and channels
  /log             recent messages in this channel
  /quit            leave (Ctrl-D works too)"""


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

    # --- naming -------------------------------------------------------------------------------
    def user_name(self, user_id: str) -> str:
        user = self.double.world.users.get(user_id)
        return str(getattr(user, "username", None) or user_id[-6:])

    def channel_name(self, channel_id: str) -> str:
        for name, cid in self.demo.channels.items():
            if cid == channel_id:
                return str(name)
        return channel_id[-6:]

    def prompt(self) -> str:
        return f"[{self.user_name(self.user_id)} in #{self.channel_name(self.channel_id)}]> "

    # --- what the bot does --------------------------------------------------------------------
    def show_event(self, event: dict[str, Any]) -> None:
        """Render what the simulated server broadcasts: bot messages and moderation actions."""
        kind = event.get("type")
        bot_id = self.demo.bot_id
        if kind == "Message" and event.get("author") == bot_id:
            where = self.channel_name(str(event.get("channel")))
            text = escape(event.get("content") or "")
            self.last_by_channel[str(event.get("channel"))] = event
            self.console.print(f"[bold cyan]Logiq[/] [dim]#{where}[/]: {text}", highlight=False)
            for embed in event.get("embeds") or []:
                title = embed.get("title") or ""
                self.console.print(
                    f"  [magenta]▌ {title}[/] {escape(embed.get('description') or '')}", highlight=False
                )
            for attachment in event.get("attachments") or []:
                self.console.print(
                    f"  [blue]📎 {escape(str(attachment.get('filename')))}[/] "
                    f"[dim]({attachment.get('content_type')}, {attachment.get('size')} bytes)[/]",
                    highlight=False,
                )
            reactions = (event.get("interactions") or {}).get("reactions") or []
            if reactions:
                self.console.print(f"  [dim]reactions offered: {' '.join(reactions)}[/]")
        elif kind == "MessageUpdate" and event.get("data", {}).get("content"):
            self.console.print(f"[cyan]Logiq (edited)[/]: {escape(event['data']['content'])}")
        elif kind == "MessageReact" and event.get("user_id") == bot_id:
            self.console.print(f"  [dim]Logiq reacted {event.get('emoji_id')}[/]")
        elif kind == "ServerMemberLeave":
            why = event.get("reason") or "Leave"
            label = {"Kick": "was kicked", "Ban": "was banned"}.get(why, "left")
            self.console.print(f"[yellow]⚑ {self.user_name(str(event.get('user')))} {label}[/]")
        elif kind == "ServerMemberUpdate":
            data, who = event.get("data") or {}, self.user_name(str(event["id"]["user"]))
            if "timeout" in data:
                self.console.print(f"[yellow]⚑ {who} is timed out until {data['timeout']}[/]")
            if "Timeout" in (event.get("clear") or []):
                self.console.print(f"[yellow]⚑ {who}'s timeout was lifted[/]")
            if "roles" in data:
                names = [self.role_name(role) for role in data["roles"]]
                self.console.print(f"[yellow]⚑ {who} now has roles: {', '.join(names) or '-'}[/]")
        elif kind in ("MessageDelete", "BulkMessageDelete"):
            count = len(event.get("ids") or [1])
            self.console.print(f"[dim]({count} message(s) deleted)[/]")
        elif kind == "ChannelUpdate" and "default_permissions" in (event.get("data") or {}):
            self.console.print(f"[yellow]⚑ #{self.channel_name(event['id'])} permissions changed[/]")

    def role_name(self, role_id: str) -> str:
        for name, rid in self.demo.roles.items():
            if rid == role_id:
                return str(name)
        return role_id[-6:]

    # --- what the person types ----------------------------------------------------------------
    async def handle(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith("/"):
            await self.double.send_message_as(self.user_id, self.channel_id, line)
            return True
        try:
            command, *args = shlex.split(line[1:])
        except ValueError as exc:
            self.console.print(f"[red]{exc}[/]")
            return True
        return await self.sandbox_command(command.lower(), args)

    async def sandbox_command(self, command: str, args: list[str]) -> bool:
        if command in ("quit", "exit", "q"):
            return False
        if command == "help":
            self.console.print(escape(SANDBOX_HELP), highlight=False)
        elif command == "who":
            for user_id in self.double.world.server_member_ids(self.demo.server_id):
                roles = self.double.world.member_roles(self.demo.server_id, user_id)
                names = ", ".join(self.role_name(r) for r in roles) or "no roles"
                self.console.print(f"  {self.user_name(user_id)} ({names})", highlight=False)
        elif command == "channels":
            for name in self.demo.channels:
                self.console.print(f"  #{name}")
        elif command == "as" and args:
            user_id = self.find_user(args[0])
            if user_id is None:
                self.console.print(f"[red]no member called {args[0]} (see /who)[/]")
            else:
                self.user_id = user_id
        elif command == "in" and args:
            name = args[0].lstrip("#")
            if name not in self.demo.channels:
                self.console.print(f"[red]no channel #{name} (see /channels)[/]")
            else:
                self.channel_id = self.demo.channels[name]
        elif command == "react" and args:
            target = self.last_by_channel.get(self.channel_id)
            if target is None:
                self.console.print("[red]the bot has not said anything in this channel yet[/]")
            else:
                await self.double.react_as(self.user_id, str(target["channel"]), str(target["_id"]), args[0])
        elif command == "join" and args:
            user = self.double.create_user(args[0])
            self.double.add_member(self.demo.server_id, user.id)
            self.console.print(f"[green]{args[0]} joined the server[/]")
        elif command == "log":
            for message in self.double.world.channel_messages(self.channel_id)[-10:]:
                author = self.user_name(str(message.get("author")))
                self.console.print(f"  {author}: {escape(message.get('content') or '')}", highlight=False)
        else:
            self.console.print("[red]unknown sandbox command; /help lists them[/]")
        return True

    def find_user(self, name: str) -> str | None:
        name = name.lstrip("@").lower()
        for user_id in self.double.world.server_member_ids(self.demo.server_id):
            if self.user_name(user_id).lower() == name:
                return str(user_id)
        return None


async def _read_lines(prompt: Callable[[], str]) -> Any:
    while True:
        try:
            line = await asyncio.to_thread(input, prompt())
        except EOFError:
            return
        yield line


async def run_sandbox(settings: Settings, script: str | None = None) -> None:
    """Start the double, the bot and the chat; return when the person quits."""
    from logiq_core.testing.harness import BotHarness

    console = Console(highlight=False)
    data_dir = Path(settings.data_dir) / "sandbox"
    log_file = data_dir / "sandbox.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_file.open("a", encoding="utf-8") as log_stream:
        configure_logging(settings.log_level, stream=log_stream)
        policy = load_policy(settings.plugins_file)
        enabled = [name for name, p in policy.plugins.items() if p.enabled]
        console.print("[bold]Logiq sandbox[/]: starting a simulated Stoat server and the bot...")
        harness = BotHarness(
            plugins=enabled,
            data_dir=data_dir,
            plugin_config={name: p.config for name, p in policy.plugins.items()},
            include_unlisted=policy.enable_unlisted,
        )
        async with harness:
            session = SandboxSession(harness, console)
            harness.double.add_observer(session.show_event)
            assert harness.bot is not None
            loaded = ", ".join(r.name for r in harness.bot.plugins.loaded()) or "none"
            console.print(f"Plugins loaded: {loaded}. Logs: {log_file}")
            console.print(escape(SANDBOX_HELP), highlight=False)
            if script is not None:
                for line in script.split(";"):
                    console.print(f"{session.prompt()}{line.strip()}")
                    if not await session.handle(line):
                        break
                    await asyncio.sleep(0.3)  # let the bot answer before the next line
                await asyncio.sleep(0.5)
                return
            if not sys.stdin.isatty():
                console.print("[dim](reading lines from standard input)[/]")
            async for line in _read_lines(session.prompt):
                if not await session.handle(line):
                    break
                await asyncio.sleep(0.05)
        console.print("Bye.")
