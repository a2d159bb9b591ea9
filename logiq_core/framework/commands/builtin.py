"""The core's own commands: help, ping, about, prefix, feedback.

They are registered through the same router as plugin commands, under the feature ``core``,
which the rollout gate never switches off.
"""

from __future__ import annotations

import difflib
import time

from logiq_core import __version__
from logiq_core.framework.commands.context import CommandContext
from logiq_core.framework.commands.model import Command, CommandError, Rest, command
from logiq_core.framework.commands.safe import is_visible, strip_invisible
from logiq_core.stoat.permissions import Permission

MAX_PREFIX_LENGTH = 5


@command("help", description="List the commands you can use here, or explain one", dm=True)
async def help_command(ctx: CommandContext, name: Rest = "") -> None:
    router = ctx.router
    if name:
        words = name.lower().split()
        found = router.commands.get(words[0].lstrip(ctx.prefix))
        if found is None:
            visible = {c for group in router.visible_commands(ctx).values() for c in group}
            candidates = [c.name for c in visible]
            raise CommandError(f"No command `{words[0]}` here.{router.suggest(words[0], candidates)}")
        target: Command = found[0]
        for word in words[1:]:
            target = target.subcommands.get(word, target)
        hidden = router.why_hidden(ctx, target, found[1])
        if hidden is not None:
            raise CommandError(hidden)
        lines = [
            f"**{target.qualified_name}**: {target.description or 'no description'}",
            f"Usage: `{target.usage(ctx.prefix)}`",
        ]
        if target.aliases:
            lines.append("Aliases: " + ", ".join(f"`{a}`" for a in target.aliases))
        for child in target.unique_subcommands():
            lines.append(f"• `{child.usage(ctx.prefix)}`: {child.description}")
        await ctx.reply("\n".join(lines))
        return
    lines = [f"**Commands** (prefix `{ctx.prefix}`; `{ctx.prefix}help <command>` for details)"]
    for feature, commands in sorted(router.visible_commands(ctx).items()):
        names = ", ".join(f"`{c.name}`" for c in sorted(commands, key=lambda c: c.name))
        lines.append(f"**{feature}**: {names}")
    await ctx.reply("\n".join(lines))


@command("ping", description="Check that Logiq is alive, with Stoat's REST round trip", dm=True)
async def ping_command(ctx: CommandContext) -> None:
    # The round trip of the bot's latest request to Stoat (the bot talks to Stoat constantly);
    # only measured afresh when there has been none, so a ping costs one request, the reply.
    last = ctx.api.last_round_trip
    if last is None:
        started = time.perf_counter()
        await ctx.api.fetch_self()
        last = time.perf_counter() - started
    await ctx.reply(f"Pong! Stoat REST round trip: {last * 1000:.1f} ms.")


@command("about", description="Logiq's version and the features enabled here", dm=True)
async def about_command(ctx: CommandContext) -> None:
    host = ctx.router.host
    enabled = [f for f in host.features() if host.gate.is_enabled(f, ctx.message.server_id_hint)]
    listing = ", ".join(enabled) or "none"
    await ctx.reply(f"Logiq {__version__}, a community bot for Stoat. Features here: {listing}.")


@command("prefix", description="Show this server's command prefix, or change it")
async def prefix_command(ctx: CommandContext, new_prefix: str = "") -> None:
    if not new_prefix:
        await ctx.reply(f"The prefix here is `{ctx.prefix}` (a mention of me works too).")
        return
    assert ctx.author_member is not None
    if not ctx.member_permissions(ctx.author_member) & Permission.ManageServer:
        raise CommandError("You need the ManageServer permission to change the prefix.")
    if len(new_prefix) > MAX_PREFIX_LENGTH or any(c.isspace() for c in new_prefix):
        raise CommandError(f"A prefix is 1-{MAX_PREFIX_LENGTH} characters without spaces.")
    if strip_invisible(new_prefix) != new_prefix or not all(is_visible(c) for c in new_prefix):
        raise CommandError(
            "A prefix must be made of visible characters (no zero-width, direction or control characters)."
        )
    if new_prefix.startswith(("<", "@", "#", ":")):
        raise CommandError("A prefix cannot start with <, @, # or : (they start mentions).")
    await ctx.router.settings.set_prefix(ctx.server_id, new_prefix)
    await ctx.reply(f"Done: the prefix here is now `{new_prefix}`.")


@command(
    "feedback",
    description="Rate a feature from 1 to 5, with an optional comment",
    usage="<feature> <1-5> [comment]",
    cooldown=30,
)
async def feedback_command(ctx: CommandContext, feature: str, rating: int, text: Rest = "") -> None:
    host = ctx.router.host
    known = host.features()
    if feature not in known:
        guess = difflib.get_close_matches(feature, known, n=1)
        hint = f" Did you mean `{guess[0]}`?" if guess else f" Features: {', '.join(known)}."
        raise CommandError(f"There is no feature `{feature}`.{hint}")
    if not host.gate.is_enabled(feature, ctx.server_id):
        # Rollout feedback comes from servers that have the feature, or it means nothing.
        raise CommandError(f"`{feature}` is not enabled here, so there is nothing to rate yet.")
    if not 1 <= rating <= 5:
        raise CommandError("A rating is a whole number from 1 to 5.")
    host.metrics.record_feedback(feature, ctx.message.server_id_hint, ctx.author_id, rating, text[:500])
    await ctx.reply(f"Thanks! Your {rating}/5 for `{feature}` was recorded.")


@command(
    "hints",
    description="Answer unknown commands with the closest ones (on or off; ManageServer to change)",
    usage="[on|off]",
)
async def hints_command(ctx: CommandContext, enabled: bool | None = None) -> None:
    assert ctx.server_id is not None
    if enabled is None:
        state = "on" if await ctx.router.settings.hints_enabled(ctx.server_id) else "off"
        await ctx.reply(f"Hints for unknown commands are {state} here (`{ctx.prefix}hints on|off`).")
        return
    assert ctx.author_member is not None
    if not ctx.member_permissions(ctx.author_member) & Permission.ManageServer:
        raise CommandError("You need the ManageServer permission to change hints.")
    await ctx.router.settings.set_hints(ctx.server_id, enabled)
    if enabled:
        await ctx.reply(f"Done: I answer an unknown command like `{ctx.prefix}frobnicate` with a hint.")
    else:
        await ctx.reply("Done: I stay silent on unknown commands here (another bot may share the prefix).")


def builtin_commands() -> list[Command]:
    from logiq_core.framework.web.commands import dashboard_command

    return [
        help_command,
        ping_command,
        about_command,
        prefix_command,
        feedback_command,
        hints_command,
        dashboard_command,
    ]
