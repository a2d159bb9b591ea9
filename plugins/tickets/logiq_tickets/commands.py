"""Tickets' chat commands: ``!tickets ...`` for managers, ``!ticket ...`` for everyone."""

from __future__ import annotations

from logiq_core.plugin import (
    Channel,
    CommandContext,
    CommandError,
    Member,
    Rest,
    RoleRef,
    command,
    convert,
    group,
    parse_duration,
    tokenize,
)
from logiq_core.plugin import Permission as P
from logiq_tickets.models import CHANNEL, OPEN, RELAY, Ticket, TicketSettings
from logiq_tickets.service import MAX_LIMIT, TicketError, TicketsService, human_duration

SETUP_USAGE = (
    "Usage: `!tickets setup @StaffRole [#log-channel] [--mode channel|relay] [--category NAME] "
    "[--staff-channel #ch]`"
)


MAX_PANEL_BYTES = 1_900  # room in Stoat's 2,000-byte message once mentions are neutralised


def service(ctx: CommandContext) -> TicketsService:
    return ctx.get(TicketsService)


async def _channel(ctx: CommandContext, word: str, what: str) -> str:
    try:
        found: Channel = await convert(ctx, Channel, word)
    except (ValueError, LookupError):
        raise CommandError(f"{what}: no channel {ctx.neutralise(word)[:40]} here.") from None
    if found.server != ctx.server_id:
        raise CommandError(f"{what}: that channel is not on this server.")
    return found.id


tickets = group(
    "tickets", description="Set up private support tickets (ManageServer)", user_permissions=P.ManageServer
)


@tickets.subcommand(
    "setup",
    description="Staff role, log channel, mode (channel or relay) and category",
    user_permissions=P.ManageServer,
)
async def setup(ctx: CommandContext, spec: Rest = "") -> None:
    words = [word for word, _ in tokenize(spec)]
    positional: list[str] = []
    mode, category, staff_channel = CHANNEL, None, None
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):
            positional.append(word)
            index += 1
            continue
        if index + 1 >= len(words):
            raise CommandError(f"`{word[:20]}` needs a value.\n{SETUP_USAGE}")
        value = words[index + 1]
        index += 2
        if word == "--mode":
            if value.lower() not in (CHANNEL, RELAY):
                raise CommandError("`--mode` is `channel` or `relay`.")
            mode = value.lower()
        elif word == "--category":
            category = value[:32]
        elif word == "--staff-channel":
            staff_channel = await _channel(ctx, value, "`--staff-channel`")
        else:
            raise CommandError(f"Unknown option `{ctx.neutralise(word)[:20]}`.\n{SETUP_USAGE}")
    if not positional:
        raise CommandError(f"Name the staff role.\n{SETUP_USAGE}")
    try:
        role: RoleRef = await convert(ctx, RoleRef, positional[0])
    except (ValueError, LookupError):
        raise CommandError(
            f"No role {ctx.neutralise(positional[0])[:40]} on this server.\n{SETUP_USAGE}"
        ) from None
    await ctx.ensure_can_assign_role(role.id)  # the same rule as configuring any role by chat
    log_channel = await _channel(ctx, positional[1], "the log channel") if len(positional) > 1 else None
    for where in {log_channel, staff_channel} - {None}:
        assert where is not None
        held = await ctx.bot_permissions(where)
        if not held & P.SendMessage or not held & P.ViewChannel:
            raise CommandError(
                f"I cannot post in <#{where}>; give me ViewChannel and SendMessage there first."
            )
    try:
        settings = await service(ctx).setup(
            ctx.server_id, role.id, log_channel, mode, category, staff_channel
        )
    except TicketError as exc:
        raise CommandError(str(exc)) from None
    where = f"<#{settings.log_channel}>" if settings.log_channel else "nowhere (no log channel)"
    extra = f" Staff answer in <#{settings.staff_channel}>." if mode == RELAY else ""
    note = f" Ticket channels go into the category `{ctx.neutralise(category)}`." if category else ""
    await ctx.reply(
        f"Tickets are set up in **{mode}** mode; staff role {ctx.neutralise(f'<%{role.id}>')}, "
        f"transcripts go to {where}.{extra}{note} Next: `!tickets panel #channel`."
    )


@tickets.subcommand(
    "panel", description="Post a panel: reacting 🎫 to it opens a ticket", user_permissions=P.ManageServer
)
async def panel(ctx: CommandContext, channel: Channel, text: Rest = "") -> None:
    if channel.server != ctx.server_id:
        raise CommandError("That channel is not on this server.")
    if len(text.encode()) > MAX_PANEL_BYTES:
        raise CommandError(f"A panel's text is at most {MAX_PANEL_BYTES:,} bytes (one Stoat message).")
    bot = await ctx.bot_permissions(channel.id)
    if not bot & P.SendMessage or not bot & P.React:
        raise CommandError("I need SendMessage and React in that channel to post a panel there.")
    try:
        await service(ctx).post_panel(ctx.server_id, channel.id, text)
    except TicketError as exc:
        raise CommandError(str(exc)) from None
    if channel.id != ctx.channel_id:
        await ctx.reply(f"Panel posted in <#{channel.id}>.")


@tickets.subcommand(
    "limit",
    description=f"Open tickets per member (0 to {MAX_LIMIT}; default 1)",
    user_permissions=P.ManageServer,
)
async def limit(ctx: CommandContext, n: int) -> None:
    if not 0 <= n <= MAX_LIMIT:
        raise CommandError(f"The limit is a whole number from 0 to {MAX_LIMIT}.")
    try:
        await service(ctx).set_limit(ctx.server_id, n)
    except TicketError as exc:
        raise CommandError(str(exc)) from None
    await ctx.reply(f"Each member may now have {n} open ticket{'s' if n != 1 else ''} at a time.")


@tickets.subcommand(
    "autoclose",
    description="Close tickets whose opener is silent this long (or off)",
    user_permissions=P.ManageServer,
)
async def autoclose(ctx: CommandContext, duration: str) -> None:
    svc = service(ctx)
    if duration.lower() == "off":
        seconds = None
    else:
        parsed = parse_duration(duration)
        if parsed is None:
            raise CommandError("Give a duration like `12h` or `3d`, or `off`.")
        seconds = parsed.total_seconds()
        if seconds < svc.min_autoclose:
            raise CommandError(f"Auto-close needs at least {human_duration(svc.min_autoclose)}.")
    try:
        await svc.set_autoclose(ctx.server_id, seconds)
    except TicketError as exc:
        raise CommandError(str(exc)) from None
    if seconds is None:
        await ctx.reply("Auto-close is off.")
    else:
        await ctx.reply(
            f"Tickets close after {human_duration(seconds)} without a message from their opener "
            f"(a warning comes {human_duration(svc.warn_before(seconds))} before)."
        )


@tickets.subcommand(
    "status", description="Settings, open tickets, capacity and ratings", user_permissions=P.ManageServer
)
async def status(ctx: CommandContext) -> None:
    try:
        info = await service(ctx).status(ctx.server_id)
    except TicketError as exc:
        raise CommandError(str(exc)) from None
    settings: TicketSettings = info["settings"]
    budget = info["budget"]
    ratings: list[int] = info["ratings"]
    staff = ", ".join(ctx.neutralise(f"<%{r}>") for r in settings.staff_roles) or "-"
    lines = [
        f"**Tickets** ({settings.mode} mode): staff {staff}; log "
        + (f"<#{settings.log_channel}>" if settings.log_channel else "none"),
        f"Open tickets: {info['open']}; limit per member: {settings.limit}; auto-close: "
        + (human_duration(settings.autoclose_seconds) if settings.autoclose_seconds else "off"),
    ]
    if settings.mode == CHANNEL:
        lines.append(
            f"Capacity: {budget.capacity} more concurrent tickets (channels {budget.channels_used}/200, "
            f"roles {budget.roles_used}/200, {budget.free_pool_roles} free of {info['pool']} "
            "pooled ticket roles)."
        )
    else:
        lines.append(
            f"Relay mode: staff answer in <#{settings.staff_channel}>; no channel or role per ticket."
        )
    if ratings:
        mean = sum(ratings) / len(ratings)
        counts = " ".join(f"{n}★×{ratings.count(n)}" for n in range(5, 0, -1) if ratings.count(n))
        lines.append(f"Ratings: {len(ratings)}, mean {mean:.1f}/5 ({counts})")
    else:
        lines.append("Ratings: none yet")
    await ctx.reply("\n".join(lines))


ACTIONS = ("close", "add", "remove", "claim", "rename")


@command(
    "ticket",
    description="Open a ticket (`!ticket [topic]`), or in one: close, add, remove, claim, rename",
    usage="[topic] | close [reason] | add @member | remove @member | claim | rename <name> | transcript #N",
    dm=True,
)
async def ticket(ctx: CommandContext, text: Rest = "") -> None:
    words = text.split(maxsplit=1)
    action = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    svc = service(ctx)
    if action == "transcript":
        await _send_transcript_link(ctx, svc, rest)
        return
    if action not in ACTIONS:
        if not ctx.in_server:
            raise CommandError("Open a ticket on the server (`!ticket [topic]` there, or its panel).")
        try:
            opened = await svc.open(ctx.server_id, ctx.author_id, text)
        except TicketError as exc:
            raise CommandError(str(exc)) from None
        if opened.mode == CHANNEL:
            await ctx.reply(f"Your ticket #{opened.number} is open: <#{opened.channel_id}>.")
        else:
            await ctx.reply(f"Your ticket #{opened.number} is open: I wrote to you in direct messages.")
        return
    found, rest = await _current(ctx, svc, rest)
    settings = await svc.settings(found.server_id)
    assert settings is not None
    staff = await svc.is_staff(settings, found.server_id, ctx.author_id)
    try:
        if action == "close":
            if not staff and ctx.author_id != found.opener_id:
                raise CommandError("Only the opener or staff can close this ticket.")
            if not await svc.close(found, ctx.author_id, rest):
                raise CommandError("This ticket is already closing.")
            if ctx.channel_id != found.channel_id:
                await ctx.reply(f"Ticket #{found.number} is closed.")
            return
        if not staff:
            raise CommandError(f"`!ticket {action}` is for staff.")
        if action == "claim":
            previous = await svc.claim(found, ctx.author_id)
            if previous and previous != ctx.author_id:
                await ctx.reply(f"(It was claimed by {ctx.display_name(previous)} before.)")
        elif action in ("add", "remove"):
            if not rest.strip():
                raise CommandError(f"Usage: `!ticket {action} @member`")
            try:
                member: Member = await convert(ctx, Member, rest.split()[0])
            except (ValueError, LookupError):
                raise CommandError(f"No member {ctx.neutralise(rest.split()[0])[:40]} here.") from None
            if action == "add":
                await svc.add(found, member.user_id)
                await ctx.reply(f"Added {ctx.display_name(member.user_id)} to this ticket.")
            else:
                await svc.remove(found, member.user_id)
                await ctx.reply(f"Removed {ctx.display_name(member.user_id)} from this ticket.")
        elif action == "rename":
            name = await svc.rename(found, rest)
            await ctx.reply(f"Renamed to #{name}.")
    except TicketError as exc:
        raise CommandError(str(exc)) from None


async def _send_transcript_link(ctx: CommandContext, svc: TicketsService, rest: str) -> None:
    """DM a signed dashboard link to a closed ticket's transcript, for its members and staff."""
    if not ctx.in_server:
        raise CommandError("Ask on the server the ticket was on: `!ticket transcript #N`.")
    number = rest.strip().removeprefix("#")
    if not (number.isascii() and number.isdigit() and len(number) <= 9):  # not "²", not 20 digits
        raise CommandError("Usage: `!ticket transcript #N` (the number of a closed ticket).")
    found = await svc.find(ctx.server_id, int(number))
    stored = await svc.transcript(ctx.server_id, str(found.id)) if found is not None else None
    if stored is None:
        raise CommandError(f"Ticket #{number} has no transcript here (it may still be open).")
    if ctx.author_id not in stored.member_ids and not await svc.is_staff_here(ctx.server_id, ctx.author_id):
        raise CommandError("That transcript is for the ticket's members and staff.")
    link = svc.transcript_link(ctx.server_id, stored.ticket_id, ctx.author_id)
    if link is None:
        raise CommandError("The web dashboard is not turned on; the transcript is in the log channel.")
    dm = await ctx.api.open_dm(ctx.author_id)
    await ctx.api.send_message(dm.id, f"Ticket #{number}'s transcript (the link works once, for you): {link}")
    await ctx.reply("I sent you the link in direct messages.")


async def _current(ctx: CommandContext, svc: TicketsService, rest: str) -> tuple[Ticket, str]:
    """The ticket a command is about: this ticket channel; in relay mode the ticket of the
    message replied to or a leading ``#N``; in a DM the author's open relay ticket."""
    if ctx.in_server:
        found = await svc.by_channel(ctx.channel_id)
        if found is not None:
            return found, rest
        words = rest.split(maxsplit=1)
        if words and words[0].startswith("#") and words[0][1:].isdigit():
            found = await svc.find(ctx.server_id, int(words[0][1:]))
            if found is not None and found.status == OPEN:
                return found, words[1] if len(words) > 1 else ""
        for replied in ctx.message.replies or []:
            found = await svc.by_link(replied)
            if found is not None and found.status == OPEN and found.server_id == ctx.server_id:
                return found, rest
        raise CommandError(
            "Use this in a ticket channel (relay tickets: reply to one of the ticket's "
            "messages, or start with its number, like `#3`)."
        )
    tickets_here = await Ticket.find(
        Ticket.dm_channel_id == ctx.channel_id, Ticket.status == OPEN, Ticket.opener_id == ctx.author_id
    ).to_list()
    if not tickets_here:
        raise CommandError("You have no open ticket in these direct messages.")
    return max(tickets_here, key=lambda t: t.opened_at), rest


ALL_COMMANDS = [tickets, ticket]
