"""``!dashboard``: a private sign-in link by DM; ``!dashboard public on|off`` for managers."""

from __future__ import annotations

from logiq_core.framework.commands.context import CommandContext
from logiq_core.framework.commands.model import CommandError, command
from logiq_core.stoat.permissions import Permission
from logiq_core.stoat.rest import StoatAPIError


@command(
    "dashboard",
    description="Get a private sign-in link to the web dashboard (public on|off: managers)",
    usage="[public on|off]",
    cooldown=10,
)
async def dashboard_command(ctx: CommandContext, action: str = "", value: str = "") -> None:
    from logiq_core.framework.web.public import is_public, set_public

    server_id = ctx.server_id
    dashboard = getattr(ctx.plugin.bot, "web", None)
    if dashboard is None:
        raise CommandError(
            "The web dashboard is not turned on for this bot (its operator sets [web] in plugins.toml)."
        )
    if action.lower() == "public":
        assert ctx.author_member is not None
        if not ctx.member_permissions(ctx.author_member) & Permission.ManageServer:
            raise CommandError("You need the ManageServer permission to change who sees the pages.")
        if value.lower() not in ("on", "off"):
            state = "on" if await is_public(server_id) else "off"
            raise CommandError(f"Public pages are {state} here: `{ctx.prefix}dashboard public on|off`.")
        await set_public(server_id, value.lower() == "on")
        where = f"{dashboard.base_url}/s/{server_id}/"
        if value.lower() == "on":
            await ctx.reply(
                f"Done: anyone can see this server's leaderboards and giveaway results at <{where}>."
            )
        else:
            await ctx.reply(
                f"Done: this server's pages are for signed-in members only (`{ctx.prefix}dashboard`)."
            )
        return
    if action:
        raise CommandError(f"Usage: `{ctx.prefix}dashboard` or `{ctx.prefix}dashboard public on|off`.")
    link = dashboard.signin_link(server_id, ctx.author_id)
    minutes = f"{dashboard.config.link_minutes:g}"
    try:
        channel = await ctx.api.open_dm(ctx.author_id)
        await ctx.api.send_message(
            channel.id,
            f"Your sign-in link to the dashboard (works once, for {minutes} minutes; do not share "
            f"it): {link}",
        )
    except StoatAPIError:
        raise CommandError(
            "I could not send you a direct message: allow messages from this server's members and try again."
        ) from None
    await ctx.reply("I sent you a sign-in link by direct message.")
