"""``!alerts``: server managers follow sources and see how their polling goes."""

from __future__ import annotations

from logiq_core.plugin import Channel, CommandContext, CommandError, Duration, RoleRef, group
from logiq_core.plugin import Permission as P
from logiq_social_alerts.feeds import SourceError, validate_template, words
from logiq_social_alerts.models import AlertSubscription
from logiq_social_alerts.service import AlertsService, describe_time

POST_PERMISSIONS = P.SendMessage | P.SendEmbeds | P.Masquerade


def service(ctx: CommandContext) -> AlertsService:
    return ctx.plugin.get(AlertsService)


def server(ctx: CommandContext) -> str:
    assert ctx.server_id is not None  # server-only commands (dm=False)
    return ctx.server_id


async def find(ctx: CommandContext, number: int) -> AlertSubscription:
    sub = await service(ctx).subscription(server(ctx), number)
    if sub is None:
        raise CommandError(f"There is no alert #{number} here; `!alerts list` shows them.")
    return sub


alerts = group(
    "alerts",
    description="Announce new posts from feeds and social sites in a channel",
    user_permissions=P.ManageServer,
)


@alerts.subcommand(
    "add",
    user_permissions=P.ManageServer,
    description="Follow a feed URL or youtube:/reddit:/mastodon:/bluesky:/github:/twitch: in a channel",
)
async def add(
    ctx: CommandContext,
    source: str,
    channel: Channel,
    *,
    role: RoleRef | None = None,
    template: str | None = None,
    include: str | None = None,
    exclude: str | None = None,
    every: Duration | None = None,
) -> None:
    svc = service(ctx)
    if template is not None:
        try:
            validate_template(template)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    missing = POST_PERMISSIONS & ~await ctx.bot_permissions(channel.id)
    if missing:
        raise CommandError(f"I need to send messages, embeds and masquerade in #{channel.name}.")
    if role is not None:  # the bot pings that role on every post: only for those who may ping it
        author = ctx.author_member
        if author is None or not ctx.member_permissions(author, channel.id) & P.MentionRoles:
            raise CommandError(f"`--role` pings @{role.role.name}: that needs the MentionRoles permission.")
        if not await ctx.bot_permissions(channel.id) & P.MentionRoles:
            raise CommandError(f"I need the MentionRoles permission in #{channel.name} to ping a role.")
    floor = svc.settings.min_interval_seconds
    if every is not None and every.total_seconds() < floor:
        raise CommandError(f"The shortest interval is {int(floor)} seconds.")
    try:
        sub, feed = await svc.add(
            server(ctx),
            source,
            channel.id,
            created_by=ctx.author_id,
            role_id=role.id if role else None,
            template=template,
            include=words(include),
            exclude=words(exclude),
            every=every.total_seconds() if every is not None else None,
        )
    except (SourceError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    count = len(feed.seen)
    await ctx.reply(
        f"Alert #{sub.number}: new posts from {sub.name} will be announced in #{channel.name} "
        f"(checked every {int(sub.interval_seconds // 60) or 1} min; the {count} current item(s) "
        "are recorded, not posted)."
    )


@alerts.subcommand("list", user_permissions=P.ManageServer, description="This server's alerts")
async def list_alerts(ctx: CommandContext) -> None:
    subs = await service(ctx).subscriptions(server(ctx))
    if not subs:
        await ctx.reply("No alerts yet: `!alerts add <source> #channel`.")
        return
    lines = []
    for sub in subs:
        channel = ctx.cache.channels.get(sub.channel_id)
        where = f"#{channel.name}" if channel and channel.name else sub.channel_id
        extra = []
        if sub.role_id:
            extra.append("mentions a role")
        if sub.include or sub.exclude:
            extra.append("filtered")
        if sub.paused:
            extra.append("PAUSED")
        tail = f" ({', '.join(extra)})" if extra else ""
        minutes = int(sub.interval_seconds // 60) or 1
        lines.append(f"#{sub.number} {sub.source} → {where}, every {minutes} min{tail}")
    await ctx.reply("\n".join(lines))


@alerts.subcommand("remove", user_permissions=P.ManageServer, description="Stop an alert")
async def remove(ctx: CommandContext, number: int) -> None:
    sub = await find(ctx, number)
    await service(ctx).remove(sub)
    await ctx.reply(f"Removed alert #{number} ({sub.source}).")


@alerts.subcommand("pause", user_permissions=P.ManageServer, description="Pause an alert")
async def pause(ctx: CommandContext, number: int) -> None:
    sub = await find(ctx, number)
    await service(ctx).set_paused(sub, True, "paused by a manager")
    await ctx.reply(f"Paused alert #{number}.")


@alerts.subcommand("resume", user_permissions=P.ManageServer, description="Resume a paused alert")
async def resume(ctx: CommandContext, number: int) -> None:
    sub = await find(ctx, number)
    await service(ctx).set_paused(sub, False)
    await ctx.reply(f"Resumed alert #{number}; it is checked again at once.")


@alerts.subcommand("test", user_permissions=P.ManageServer, description="Post an alert's latest item now")
async def test(ctx: CommandContext, number: int) -> None:
    sub = await find(ctx, number)
    try:
        item, source = await service(ctx).latest(sub)
    except ValueError as exc:
        raise CommandError(f"I could not fetch {sub.url}: {exc}") from None
    if item is None:
        if sub.url.startswith("twitch:"):
            raise CommandError(f"{sub.source} is not live right now: there is nothing to post.")
        raise CommandError("The feed has no items yet.")
    await service(ctx).poster.post_items(sub, [item], source, 0, test=True)
    await ctx.reply(f"Posted the latest item of alert #{number} as a test.")


@alerts.subcommand(
    "status",
    user_permissions=P.ManageServer,
    description="Last check, last new item and errors of each alert",
)
async def status(ctx: CommandContext) -> None:
    svc = service(ctx)
    subs = await svc.subscriptions(server(ctx))
    if not subs:
        await ctx.reply("No alerts yet.")
        return
    now = svc.now()
    lines = []
    for sub in subs:
        feed = await svc.feed(sub.url)
        state = f"PAUSED: {sub.paused_reason}" if sub.paused else "active"
        line = f"#{sub.number} {sub.source}: {state}"
        if feed is not None:
            line += (
                f"; last check {describe_time(feed.last_check_ts, now)}, "
                f"last new item {describe_time(feed.last_new_ts, now)}"
            )
            if feed.last_error:
                line += f"; error: {feed.last_error} ({feed.failures} failure(s) in a row"
                line += f", next try in {describe_time(now, feed.next_poll_ts).removesuffix(' ago')})"
        lines.append(line)
    await ctx.reply("\n".join(lines))


ALL_COMMANDS = [alerts]
