"""Giveaways' chat commands (``!giveaway ...``); the logic lives in the service."""

from __future__ import annotations

from datetime import timedelta

from logiq_core.plugin import (
    Channel,
    CommandContext,
    CommandError,
    File,
    Rest,
    RoleRef,
    convert,
    format_duration,
    group,
    parse_duration,
    tokenize,
)
from logiq_core.plugin import Permission as P
from logiq_giveaways.models import Giveaway, Requirements
from logiq_giveaways.service import (
    MAX_BONUS,
    MAX_DURATION,
    MAX_LEVEL,
    MAX_PRIZE,
    MAX_WINNERS,
    MIN_DURATION,
    GiveawayError,
    GiveawayService,
    commitment_of,
    entrants_text,
    new_seed,
    published_values,
    utcnow,
    when,
)

USAGE = (
    "Usage: `!giveaway start <duration> <winners> <prize> [--channel #ch] [--role @role]... "
    "[--min-account-age 7d] [--min-member-age 1d] [--bonus @role n]... [--level n]`"
)


def service(ctx: CommandContext) -> GiveawayService:
    return ctx.plugin.get(GiveawayService)


def server(ctx: CommandContext) -> str:
    if ctx.server_id is None:
        raise CommandError("Giveaways work on a server.")
    return ctx.server_id


async def ensure_host(ctx: CommandContext) -> None:
    """ManageServer (server-level), or the server's configured host role."""
    member = ctx.author_member
    if member is None:
        raise CommandError("Giveaways work on a server.")
    if ctx.cache.is_owner(server(ctx), member.user_id):
        return
    if ctx.cache.server_permissions_of(member) & P.ManageServer:
        return
    host_role = (await service(ctx).settings(server(ctx))).host_role
    if host_role and host_role in member.roles:
        return
    extra = " or the giveaway host role" if host_role else ""
    raise CommandError(f"You need the ManageServer permission{extra} to manage giveaways.")


async def lookup(ctx: CommandContext, ref: str) -> Giveaway:
    found = await service(ctx).find(server(ctx), ref)
    if found is None:
        shown = ctx.neutralise(ref)[:40]
        raise CommandError(f"No giveaway {shown} here (use its number, like #12, or its message id).")
    return found


def _duration(word: str, what: str) -> timedelta:
    value = parse_duration(word)
    if value is None:
        raise CommandError(f"{what}: expected a duration like 30s, 10m, 2h or 3d, got `{word[:30]}`.")
    return value


async def _role(ctx: CommandContext, word: str, option: str) -> str:
    try:
        ref: RoleRef = await convert(ctx, RoleRef, word)
    except (ValueError, LookupError):
        raise CommandError(f"`{option}`: no role {ctx.neutralise(word)[:40]} on this server.") from None
    return ref.id


def _level_requirement(ctx: CommandContext, word: str, req: Requirements, notes: list[str]) -> None:
    """``--level n``: a requirement where leveling is installed and on here, else a note."""
    if not word.isdigit() or not 1 <= int(word) <= MAX_LEVEL:
        raise CommandError(f"`--level`: expected a whole number from 1 to {MAX_LEVEL}.")
    missing = service(ctx).leveling_missing(server(ctx))
    if missing:
        notes.append(f"Note: the level {int(word)} requirement is ignored ({missing}).")
    else:
        req.min_level = int(word)


giveaway = group("giveaway", aliases=("gw",), description="Giveaways with draws anyone can verify", dm=False)


@giveaway.subcommand("start", description="Start a giveaway: <duration> <winners> <prize> [options]")
async def start(ctx: CommandContext, spec: Rest) -> None:
    await ensure_host(ctx)
    words = [word for word, _ in tokenize(spec)]
    positional: list[str] = []
    channel_id = ctx.channel_id
    req = Requirements()
    notes: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):
            positional.append(word)
            index += 1
            continue
        option = word.lower()
        arity = 2 if option == "--bonus" else 1
        if index + arity >= len(words):
            raise CommandError(f"`{option}` needs a value.\n{USAGE}")
        values = words[index + 1 : index + 1 + arity]
        index += 1 + arity
        if option == "--channel":
            try:
                channel: Channel = await convert(ctx, Channel, values[0])
            except (ValueError, LookupError):
                shown = ctx.neutralise(values[0])[:40]
                raise CommandError(f"`--channel`: no channel {shown} here.") from None
            assert ctx.author_member is not None
            if not ctx.member_permissions(ctx.author_member, channel.id) & P.SendMessage:
                raise CommandError("You cannot post in that channel, so I will not host a giveaway there.")
            channel_id = channel.id
        elif option == "--role":
            req.roles.append(await _role(ctx, values[0], option))
        elif option == "--min-account-age":
            req.min_account_age_seconds = int(_duration(values[0], option).total_seconds())
        elif option == "--min-member-age":
            req.min_member_age_seconds = int(_duration(values[0], option).total_seconds())
        elif option == "--bonus":
            role_id = await _role(ctx, values[0], option)
            if not values[1].isdigit() or not 1 <= int(values[1]) <= MAX_BONUS:
                raise CommandError(f"`--bonus`: extra entries are a whole number from 1 to {MAX_BONUS}.")
            req.bonus[role_id] = int(values[1])
        elif option == "--level":
            _level_requirement(ctx, values[0], req, notes)
        else:
            raise CommandError(f"Unknown option `{ctx.neutralise(option)[:30]}`.\n{USAGE}")
    if len(positional) < 3:
        raise CommandError(f"A giveaway needs a duration, a number of winners and a prize.\n{USAGE}")
    duration = parse_duration(positional[0])
    if duration is None:
        raise CommandError(f"The duration comes first, like 30s, 10m, 2h or 3d.\n{USAGE}")
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise CommandError(
            f"A giveaway lasts from {format_duration(MIN_DURATION)} to 4 weeks, "
            f"not {format_duration(duration)}."
        )
    if not positional[1].isdigit():
        raise CommandError(f"The number of winners comes second (1 to {MAX_WINNERS}).\n{USAGE}")
    winners = int(positional[1])
    if not 1 <= winners <= MAX_WINNERS:
        raise CommandError(f"A giveaway has 1 to {MAX_WINNERS} winners, not {winners}.")
    prize = " ".join(positional[2:]).strip()
    if len(prize) > MAX_PRIZE:
        raise CommandError(f"The prize is {len(prize)} characters; at most {MAX_PRIZE}.")
    bot = await ctx.bot_permissions(channel_id)
    if not bot & P.SendMessage or not bot & P.React:
        raise CommandError("I need SendMessage and React in that channel to host a giveaway there.")
    svc = service(ctx)
    now = utcnow()
    seed = new_seed()
    g = Giveaway(
        server_id=server(ctx),
        number=await svc.next_number(server(ctx)),
        channel_id=channel_id,
        host_id=ctx.author_id,
        prize=prize,
        winners_count=winners,
        created_at=now,
        ends_at=now + duration,
        requirements=req,
        notes=notes,
        seed=seed,
        commitment=commitment_of(seed),
    )
    try:
        await svc.start(g, ctx.display_name(ctx.author_id))
    except GiveawayError as exc:
        raise CommandError(str(exc)) from None
    if channel_id != ctx.channel_id:
        await ctx.reply(f"Giveaway #{g.number} started in <#{channel_id}>; it ends {when(g.ends_at)}.")


@giveaway.subcommand("end", description="End a giveaway now and draw its winners")
async def end(ctx: CommandContext, ref: str) -> None:
    await ensure_host(ctx)
    g = await lookup(ctx, ref)
    if g.status != "running":
        raise CommandError(f"Giveaway #{g.number} is already {g.status}.")
    ended = await service(ctx).end(str(g.id))
    await ctx.plugin.timers.cancel(f"end:{g.id}")  # after the draw: if it failed, the timer retries
    if ended is not None and ended.status == "cancelled":
        await ctx.reply(f"Giveaway #{g.number} was cancelled: {ended.cancel_reason}.")
    elif ended is not None and ended.status == "ended" and g.message_id is None:
        await ctx.reply(f"Giveaway #{g.number} ended.")


@giveaway.subcommand("reroll", description="Draw replacement winner(s), excluding earlier winners")
async def reroll(ctx: CommandContext, ref: str, count: int = 1) -> None:
    await ensure_host(ctx)
    g = await lookup(ctx, ref)
    if not 1 <= count <= MAX_WINNERS:
        raise CommandError(f"A reroll draws 1 to {MAX_WINNERS} winners.")
    try:
        winners = await service(ctx).reroll(g, count, ctx.author_id)
    except GiveawayError as exc:
        raise CommandError(str(exc)) from None
    if g.message_id is None:
        await ctx.reply(f"Reroll drew {len(winners)} winner(s).")


@giveaway.subcommand("cancel", description="Cancel a running giveaway (no draw)")
async def cancel(ctx: CommandContext, ref: str) -> None:
    await ensure_host(ctx)
    g = await lookup(ctx, ref)
    if not await service(ctx).cancel(g, f"cancelled by @{ctx.display_name(ctx.author_id)}"):
        raise CommandError(f"Giveaway #{g.number} is not running (it is {g.status}).")
    await ctx.reply(f"Giveaway #{g.number} is cancelled.")


@giveaway.subcommand("list", description="Running giveaways here, and the last ended ones")
async def list_command(ctx: CommandContext) -> None:
    svc = service(ctx)
    running = await svc.running(server(ctx))
    lines = [f"**Running giveaways** ({len(running)})" if running else "No giveaway is running."]
    for g in running:
        lines.append(
            f"#{g.number} {g.prize} in <#{g.channel_id}>: {g.winners_count} winner(s), ends {when(g.ends_at)}"
        )
    recent = await svc.recent(server(ctx))
    if recent:
        lines.append("**Recently**")
        lines.extend(f"#{g.number} {g.prize}: {g.status}" for g in recent)
    await ctx.reply("\n".join(lines))


@giveaway.subcommand("entrants", description="The eligible entrant list with weights, as a file")
async def entrants(ctx: CommandContext, ref: str) -> None:
    g = await lookup(ctx, ref)
    if g.status == "running":
        raise CommandError(f"Giveaway #{g.number} is still running; its list is fixed when it ends.")
    if g.status == "cancelled":
        raise CommandError(f"Giveaway #{g.number} was cancelled before a draw.")
    text = entrants_text((e.user_id, e.weight) for e in g.entrants)
    data = text.encode()
    name = f"giveaway-{g.number}-entrants.txt"
    await ctx.reply(
        f"Giveaway #{g.number}: {len(g.entrants)} eligible entrant(s), one `user_id weight` line each, "
        f"sorted; its SHA-256 is `{g.entrants_hash}`.",
        attachments=[File(data or b"\n", name, "text/plain")] if data else [],
    )


@giveaway.subcommand("verify", description="Recompute a giveaway's draw from its published seed and list")
async def verify(ctx: CommandContext, ref: str) -> None:
    g = await lookup(ctx, ref)
    if g.status != "ended":
        raise CommandError(f"Giveaway #{g.number} has no draw to verify (it is {g.status}).")
    published: dict[str, str] = {}
    if g.message_id is not None:
        try:
            message = await ctx.api.fetch_message(g.channel_id, g.message_id)
            published = published_values(message.content or "")
        except Exception as exc:  # the message is gone: check against what was stored
            ctx.plugin.logger.info("verify: giveaway message unavailable: {}", exc)
    result = service(ctx).verification(g, published)
    source = "the giveaway message" if published else "the stored record"
    verdict = "**Verified**" if result.ok else "**Mismatch**"
    await ctx.reply(f"{verdict} giveaway #{g.number} (against {source}):\n" + "\n".join(result.lines))


@giveaway.subcommand(
    "hostrole",
    description="Let a role host giveaways besides ManageServer (none to clear)",
    user_permissions=P.ManageServer,
)
async def hostrole(ctx: CommandContext, role: str) -> None:
    if role.lower() in ("none", "off", "clear"):
        await service(ctx).set_host_role(server(ctx), None)
        await ctx.reply("Only members with ManageServer can host giveaways now.")
        return
    role_id = await _role(ctx, role, "role")
    member = ctx.author_member
    assert member is not None
    rank = ctx.cache.servers[server(ctx)].roles[role_id].rank
    if not ctx.cache.is_owner(server(ctx), member.user_id) and ctx.cache.ranking(member) >= rank:
        raise CommandError("You can only make a role ranked below your own top role the host role.")
    await service(ctx).set_host_role(server(ctx), role_id)
    await ctx.reply(f"Members with @{service(ctx).role_name(server(ctx))(role_id)} can host giveaways now.")


ALL_COMMANDS = [giveaway]
