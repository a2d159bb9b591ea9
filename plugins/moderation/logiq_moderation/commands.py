"""Moderation's chat commands. Permissions, hierarchy, gating and errors come from the core."""

from __future__ import annotations

import time
from datetime import timedelta

from logiq_core.plugin import (
    Channel,
    CommandContext,
    CommandError,
    Duration,
    Member,
    Override,
    Rest,
    RoleRef,
    StoatAPIError,
    StoatUnavailable,
    UserId,
    channel_permissions,
    command,
    format_duration,
    group,
    ulid_time,
)
from logiq_core.plugin import Permission as P
from logiq_moderation.automod import ACTIONS, RuleError, validate_rule
from logiq_moderation.models import MAX_TIMEOUT_SECONDS, RANGES, EscalationRule, ModCase
from logiq_moderation.service import ModerationService, as_utc, utcnow

BULK_LIMIT = 100
BULK_MAX_AGE = timedelta(days=7) - timedelta(minutes=5)  # a margin for clock skew
MAX_PURGE = 1000
MAX_TIMEOUT = timedelta(seconds=MAX_TIMEOUT_SECONDS)  # Stoat's limit
MAX_TEMPBAN = timedelta(days=365)


def service(ctx: CommandContext) -> ModerationService:
    return ctx.get(ModerationService)


def server(ctx: CommandContext) -> str:
    return ctx.server_id


async def confirm(ctx: CommandContext, case_number: int, text: str) -> None:
    await ctx.reply(f"Case {case_number}: {text}")
    await service(ctx).mark_confirmed(server(ctx), case_number)


@command(
    "kick",
    description="Remove a member from the server",
    user_permissions=P.KickMembers,
    bot_permissions=P.KickMembers,
)
async def kick(ctx: CommandContext, member: Member, reason: Rest = "") -> None:
    await ctx.ensure_can_act_on(member, "kick")
    await ctx.api.kick_member(server(ctx), member.user_id)
    case = await service(ctx).record(server(ctx), "kick", ctx.author_id, member.user_id, reason)
    await confirm(ctx, case.number, f"kicked {ctx.display_name(member.user_id)}.")


@command(
    "ban",
    description="Ban a user, optionally for a time (lifted automatically)",
    user_permissions=P.BanMembers,
    bot_permissions=P.BanMembers,
    max_duration=MAX_TEMPBAN,
)
async def ban(ctx: CommandContext, user: UserId, duration: Duration | None = None, reason: Rest = "") -> None:
    member = ctx.cache.cached_member(server(ctx), user)
    if member is None:
        try:
            member = await ctx.cache.member(server(ctx), user)
        except StoatUnavailable:
            raise CommandError(
                f"I could not check {ctx.display_name(user)}'s rank (Stoat did not answer), so I "
                "did not ban them. Try again in a moment."
            ) from None
        except StoatAPIError as exc:
            if exc.type != "NotFound":
                raise CommandError(
                    f"I could not check {ctx.display_name(user)}'s rank ({exc.type}), so I did not "
                    "ban them. Try again in a moment."
                ) from None
            member = None  # not a member: Stoat lets us ban them anyway
    if member is not None:
        await ctx.ensure_can_act_on(member, "ban")
    await ctx.api.ban_user(server(ctx), user, reason[:1024] or None)
    expires = utcnow() + duration if duration else None
    case = await service(ctx).record(
        server(ctx),
        "tempban" if duration else "ban",
        ctx.author_id,
        user,
        reason,
        expires_at=expires,
    )
    if expires is not None and duration is not None:
        await service(ctx).schedule_unban(server(ctx), user, expires, case.number)
        await confirm(ctx, case.number, f"banned {ctx.display_name(user)} for {format_duration(duration)}.")
    else:
        await service(ctx).cancel_unban(server(ctx), user)  # a permanent ban is never lifted
        await confirm(ctx, case.number, f"banned {ctx.display_name(user)}.")


@command("unban", description="Lift a ban", user_permissions=P.BanMembers, bot_permissions=P.BanMembers)
async def unban(ctx: CommandContext, user: UserId, reason: Rest = "") -> None:
    try:
        await ctx.api.unban_user(server(ctx), user)
    except StoatAPIError as exc:
        if exc.type == "NotFound":
            raise CommandError("That user is not banned here.") from None
        raise
    await service(ctx).cancel_unban(server(ctx), user)
    case = await service(ctx).record(server(ctx), "unban", ctx.author_id, user, reason)
    await confirm(ctx, case.number, f"unbanned {ctx.display_name(user)}.")


@command(
    "timeout",
    aliases=("mute",),
    description="Time a member out (read-only) for a while",
    user_permissions=P.TimeoutMembers,
    bot_permissions=P.TimeoutMembers,
    max_duration=MAX_TIMEOUT,
)
async def timeout(ctx: CommandContext, member: Member, duration: Duration, reason: Rest = "") -> None:
    await ctx.ensure_can_act_on(member, "time out")  # max_duration above keeps it within 28 days
    until = utcnow() + duration
    await ctx.api.edit_member(server(ctx), member.user_id, timeout_until=until)
    case = await service(ctx).record(
        server(ctx), "timeout", ctx.author_id, member.user_id, reason, expires_at=until
    )
    await confirm(
        ctx,
        case.number,
        f"timed out {ctx.display_name(member.user_id)} for {format_duration(duration)}.",
    )


@command(
    "untimeout",
    aliases=("unmute",),
    description="Lift a member's timeout",
    user_permissions=P.TimeoutMembers,
    bot_permissions=P.TimeoutMembers,
)
async def untimeout(ctx: CommandContext, member: Member, reason: Rest = "") -> None:
    await ctx.ensure_can_act_on(member, "lift the timeout of")
    await ctx.api.edit_member(server(ctx), member.user_id, remove=["Timeout"])
    case = await service(ctx).record(server(ctx), "untimeout", ctx.author_id, member.user_id, reason)
    await confirm(ctx, case.number, f"lifted {ctx.display_name(member.user_id)}'s timeout.")


async def escalate(ctx: CommandContext, member: Member) -> str:
    """Apply the server's escalation rule for the member's active warnings, if one matches."""
    svc = service(ctx)
    count, rule = await svc.escalation_for(server(ctx), member.user_id)
    if rule is None:
        return f"{count} active warning(s)."
    reason = f"escalation: {count} warnings"
    if rule.action == "timeout":
        seconds = rule.duration_seconds or 3600
        until = utcnow() + timedelta(seconds=seconds)
        await ctx.api.edit_member(server(ctx), member.user_id, timeout_until=until)
        case = await svc.record(
            server(ctx), "timeout", ctx.bot_user_id, member.user_id, reason, expires_at=until
        )
        length = format_duration(timedelta(seconds=seconds))
        return f"{count} warnings: timed out for {length} (case {case.number})."
    if rule.action == "kick":
        await ctx.api.kick_member(server(ctx), member.user_id)
        case = await svc.record(server(ctx), "kick", ctx.bot_user_id, member.user_id, reason)
        return f"{count} warnings: kicked (case {case.number})."
    await ctx.api.ban_user(server(ctx), member.user_id, reason)
    case = await svc.record(server(ctx), "ban", ctx.bot_user_id, member.user_id, reason)
    return f"{count} warnings: banned (case {case.number})."


@command("warn", description="Warn a member (warnings decay and escalate)", user_permissions=P.KickMembers)
async def warn(ctx: CommandContext, member: Member, reason: Rest) -> None:
    await ctx.ensure_can_act_on(member, "warn")
    case = await service(ctx).record(
        server(ctx), "warn", ctx.author_id, member.user_id, reason, awaiting_confirmation=True
    )
    outcome = await escalate(ctx, member)
    await confirm(ctx, case.number, f"warned {ctx.display_name(member.user_id)}. {outcome}")


@command("warnings", description="List a member's active warnings", user_permissions=P.KickMembers)
async def warnings(ctx: CommandContext, member: Member) -> None:
    active = await service(ctx).active_warnings(server(ctx), member.user_id)
    if not active:
        await ctx.reply(f"{ctx.display_name(member.user_id)} has no active warnings.")
        return
    lines = [f"{ctx.display_name(member.user_id)} has {len(active)} active warning(s):"]
    for case in active:
        unconfirmed = " (recorded, but the moderator was never told)" if case.confirmed is False else ""
        lines.append(f"• case {case.number} ({as_utc(case.created_at):%Y-%m-%d}): {case.reason}{unconfirmed}")
    await ctx.reply("\n".join(lines))


async def ensure_can_edit_case(ctx: CommandContext, case: ModCase, action: str) -> None:
    """Changing a case needs its author's rank (or ManageServer): a moderator cannot rewrite or
    delete what the owner or a higher-ranked moderator recorded. Cases the bot recorded itself
    (automod, escalation) belong to no person and may be changed by any moderator."""
    assert ctx.author_member is not None
    author = case.moderator_id
    if author in (ctx.author_id, ctx.bot_user_id):
        return
    if ctx.cache.server_permissions_of(ctx.author_member) & P.ManageServer:
        return
    if ctx.cache.is_owner(server(ctx), ctx.author_id):
        return
    if ctx.cache.is_owner(server(ctx), author):
        raise CommandError(f"You cannot {action} case {case.number}: the server owner made it.")
    try:
        author_member = await ctx.cache.member(server(ctx), author)
    except StoatUnavailable:
        raise CommandError(
            f"I could not check the rank of case {case.number}'s author; try again in a moment."
        ) from None
    except StoatAPIError:
        return  # no longer a member: no rank to respect
    if ctx.cache.ranking(ctx.author_member) > ctx.cache.ranking(author_member):
        await ctx.cache.ensure_user(author)
        raise CommandError(
            f"You cannot {action} case {case.number}: {ctx.display_name(author)} made it and ranks "
            "above you (ManageServer can)."
        )


@command("delwarn", description="Remove a warning by its case number", user_permissions=P.KickMembers)
async def delwarn(ctx: CommandContext, case_number: int) -> None:
    case = await service(ctx).case(server(ctx), case_number)
    if case is None or case.action != "warn":
        raise CommandError(f"There is no warning with case number {case_number}.")
    await ensure_can_edit_case(ctx, case, "remove")
    case.deleted = True
    await case.save()
    await ctx.reply(f"Warning {case_number} removed.")


@command(
    "purge",
    description="Delete recent messages (optionally from one member, bots or containing text)",
    user_permissions=P.ManageMessages,
    bot_permissions=P.ManageMessages,
    cooldown=5,
)
async def purge(
    ctx: CommandContext,
    count: int,
    member: Member | None = None,
    *,
    bots: bool = False,
    contains: str | None = None,
) -> None:
    if not 1 <= count <= MAX_PURGE:
        raise CommandError(f"I can purge 1-{MAX_PURGE} messages at a time.")
    wanted: list[str] = []
    before = ctx.message.id  # the command itself is removed last
    scanned = 0
    while len(wanted) < count and scanned < MAX_PURGE * 3:
        page = await ctx.api.fetch_messages(ctx.channel_id, limit=100, before=before)
        if not page:
            break
        for message in page:
            scanned += 1
            if member is not None and message.author != member.user_id:
                continue
            if bots and not _is_bot(ctx, message.author):
                continue
            if contains and contains.lower() not in (message.content or "").lower():
                continue
            wanted.append(message.id)
            if len(wanted) >= count:
                break
        before = page[-1].id
    now = utcnow()
    recent = [m for m in wanted if now - ulid_time(m) < BULK_MAX_AGE]
    old = [m for m in wanted if m not in set(recent)]
    for start in range(0, len(recent), BULK_LIMIT):
        chunk = recent[start : start + BULK_LIMIT]
        if len(chunk) == 1:
            await ctx.api.delete_message(ctx.channel_id, chunk[0])
        else:
            await ctx.api.bulk_delete_messages(ctx.channel_id, chunk)
    for message_id in old:  # Stoat's bulk delete refuses messages over 7 days old
        await ctx.api.delete_message(ctx.channel_id, message_id)
    case = await service(ctx).record(
        server(ctx),
        "purge",
        ctx.author_id,
        member.user_id if member else None,
        f"{len(wanted)} message(s) in #{ctx.cache.channels[ctx.channel_id].name}",
    )
    detail = f" ({len(old)} over 7 days old, deleted one by one)" if old else ""
    await confirm(ctx, case.number, f"deleted {len(wanted)} message(s){detail}.")


def _is_bot(ctx: CommandContext, user_id: str) -> bool:
    user = ctx.cache.users.get(user_id)
    return (user is not None and user.bot is not None) or user_id == ctx.bot_user_id


async def _set_send(ctx: CommandContext, locked: bool, reason: str) -> None:
    channel = ctx.cache.channels[ctx.channel_id]
    current = channel.default_permissions
    allow, deny = (current.a, current.d) if current else (0, 0)
    if locked:
        allow, deny = allow & ~P.SendMessage, deny | P.SendMessage
        await _refuse_to_lock_myself_out(ctx, Override(allow, deny))
    else:
        deny &= ~P.SendMessage
    await ctx.api.set_channel_default_permissions(ctx.channel_id, allow=allow, deny=deny)
    action = "lock" if locked else "unlock"
    case = await service(ctx).record(server(ctx), action, ctx.author_id, None, reason or f"#{channel.name}")
    state = "locked: only roles with an override may write here" if locked else "unlocked"
    await confirm(ctx, case.number, f"#{channel.name} is {state}.")


async def _refuse_to_lock_myself_out(ctx: CommandContext, new_default: Override) -> None:
    """A lock that would silence Logiq here could never be answered or undone from chat."""
    bot = await ctx.bot_member()
    _, role_overrides = ctx.cache.channel_overrides(ctx.channel_id)
    after = channel_permissions(
        ctx.cache.default_permissions(server(ctx)),
        ctx.cache.role_grants(server(ctx), bot.roles),
        channel_default=new_default,
        channel_role_overrides=role_overrides,
        is_owner=ctx.cache.is_owner(server(ctx), bot.user_id),
    )
    if not after & P.SendMessage:
        raise CommandError(
            "I will not lock this channel: I would lose SendMessage here too, and could neither "
            "answer nor unlock it. Give one of my roles an override that allows SendMessage in "
            "this channel first."
        )


@command(
    "lock",
    description="Stop everyone without an override from writing here",
    user_permissions=P.ManageChannel,
    bot_permissions=P.ManagePermissions,
)
async def lock(ctx: CommandContext, reason: Rest = "") -> None:
    await _set_send(ctx, True, reason)


@command(
    "unlock",
    description="Let everyone write here again",
    user_permissions=P.ManageChannel,
    bot_permissions=P.ManagePermissions,
)
async def unlock(ctx: CommandContext, reason: Rest = "") -> None:
    await _set_send(ctx, False, reason)


@command("case", description="Show a moderation case", user_permissions=P.KickMembers)
async def case_command(ctx: CommandContext, number: int) -> None:
    found = await service(ctx).case(server(ctx), number)
    if found is None:
        raise CommandError(f"There is no case {number} on this server.")
    await ctx.reply(embeds=[service(ctx).case_embed(found)])


@command("reason", description="Set or change a case's reason", user_permissions=P.KickMembers)
async def reason_command(ctx: CommandContext, number: int, reason: Rest) -> None:
    found = await service(ctx).case(server(ctx), number)
    if found is None:
        raise CommandError(f"There is no case {number} on this server.")
    await ensure_can_edit_case(ctx, found, "edit")
    found.reason = reason
    await found.save()
    await ctx.reply(f"Case {number}: reason updated.")


@command("modlog", description="Choose the channel where cases are posted", user_permissions=P.ManageServer)
async def modlog(ctx: CommandContext, channel: Channel) -> None:
    settings = await service(ctx).settings(server(ctx))
    settings.modlog_channel = channel.id
    await service(ctx).save_settings(settings)
    await ctx.reply(f"Cases will be posted in #{channel.name}.")


escalation = group(
    "escalation", description="Act automatically on repeated warnings", user_permissions=P.ManageServer
)


@escalation.subcommand(
    "set", description="At N active warnings: timeout <duration>, kick or ban", max_duration=MAX_TIMEOUT
)
async def escalation_set(
    ctx: CommandContext, warnings: int, action: str, duration: Duration | None = None
) -> None:
    if action not in ("timeout", "kick", "ban"):
        raise CommandError("Use: escalation set <warnings> timeout <duration> | kick | ban")
    low, high = RANGES["escalation.warnings"]
    if not low <= warnings <= high:
        raise CommandError(f"The number of warnings is {low:g}-{high:g}.")
    if duration and action != "timeout":
        raise CommandError(f"Only a timeout has a duration: `escalation set {warnings} {action}`.")
    settings = await service(ctx).settings(server(ctx))
    settings.escalation = [r for r in settings.escalation if r.warnings != warnings]
    seconds = int(duration.total_seconds()) if duration else (3600 if action == "timeout" else None)
    settings.escalation.append(EscalationRule(warnings=warnings, action=action, duration_seconds=seconds))
    settings.escalation.sort(key=lambda r: r.warnings)
    await service(ctx).save_settings(settings)
    stored = action  # say exactly what was stored, so a typo in the duration shows at once
    if seconds:
        stored += f" for {format_duration(timedelta(seconds=seconds))}"
    await ctx.reply(f"At {warnings} active warnings: {stored}.")


@escalation.subcommand("list", description="Show the escalation rules")
async def escalation_list(ctx: CommandContext) -> None:
    settings = await service(ctx).settings(server(ctx))
    lines = [
        f"{r.warnings} warnings → {r.action}"
        + (f" {format_duration(timedelta(seconds=r.duration_seconds))}" if r.duration_seconds else "")
        for r in settings.escalation
    ] or ["No escalation rules."]
    decay = settings.warning_decay_days
    lines.append(f"Warnings decay after {decay:g} days." if decay else "Warnings do not decay.")
    await ctx.reply("\n".join(lines))


@escalation.subcommand("remove", description="Remove the rule for N warnings")
async def escalation_remove(ctx: CommandContext, warnings: int) -> None:
    settings = await service(ctx).settings(server(ctx))
    settings.escalation = [r for r in settings.escalation if r.warnings != warnings]
    await service(ctx).save_settings(settings)
    await ctx.reply(f"No action at {warnings} warnings any more.")


@escalation.subcommand("decay", description="Warnings stop counting after this many days (0: never)")
async def escalation_decay(ctx: CommandContext, days: float) -> None:
    low, high = RANGES["warning_decay_days"]
    if days > 0 and not low <= days <= high:
        raise CommandError(f"Warnings decay after 1 hour to {high:g} days (0: never).")
    settings = await service(ctx).settings(server(ctx))
    settings.warning_decay_days = days if days > 0 else None
    await service(ctx).save_settings(settings)
    await ctx.reply(f"Warnings now decay after {days:g} days." if days > 0 else "Warnings no longer decay.")


automod = group("automod", description="Automatic moderation rules", user_permissions=P.ManageServer)


@automod.subcommand(
    "add",
    max_duration=MAX_TIMEOUT,
    description="Add a rule: spam 5/10, duplicates 3/60, mentions 5, invites on, links a.com,b.com, "
    "allowlinks a.com, words a,b, pattern REGEX, caps 70",
)
async def automod_add(
    ctx: CommandContext, kind: str, value: Rest, *, action: str = "delete", duration: Duration | None = None
) -> None:
    try:
        validate_rule(kind.lower(), value, action.lower())
    except RuleError as exc:
        raise CommandError(f"Cannot add that rule: {exc}.") from None
    rule = await service(ctx).add_rule(
        server(ctx),
        kind.lower(),
        value,
        action.lower(),
        int(duration.total_seconds()) if duration else None,
    )
    await ctx.reply(f"Rule {rule.id} added: {rule.kind} {rule.value} → {rule.action}.")


@automod.subcommand("list", description="List the rules")
async def automod_list(ctx: CommandContext) -> None:
    settings = await service(ctx).settings(server(ctx))
    lines = [f"{r.id}. {r.kind} {r.value} → {r.action}" for r in settings.automod] or ["No rules."]
    if settings.exempt_roles or settings.exempt_channels:
        lines.append(
            f"Exempt: {len(settings.exempt_roles)} role(s), {len(settings.exempt_channels)} channel(s)."
        )
    await ctx.reply("\n".join(lines))


@automod.subcommand("remove", description="Remove a rule by its number")
async def automod_remove(ctx: CommandContext, rule_id: int) -> None:
    settings = await service(ctx).settings(server(ctx))
    kept = [r for r in settings.automod if r.id != rule_id]
    if len(kept) == len(settings.automod):
        raise CommandError(f"There is no rule {rule_id}.")
    settings.automod = kept
    await service(ctx).save_settings(settings)
    await ctx.reply(f"Rule {rule_id} removed.")


@automod.subcommand("test", description="Which rules would this text trip? (no action taken)")
async def automod_test(ctx: CommandContext, text: Rest) -> None:
    compiled, _ = await service(ctx).compiled_rules(server(ctx))
    from logiq_moderation.automod import CompiledRules

    # a fresh history: testing never counts as spam
    probe = CompiledRules(compiled.rules, timeout_counts_as_hit=compiled.timeout_counts_as_hit)
    verdicts = probe.check("automod-test", text, time.monotonic())
    if not verdicts:
        await ctx.reply("No rule would trip.")
        return
    await ctx.reply(
        "\n".join(f"Rule {v.rule.id} ({v.rule.kind}) → {v.rule.action}: {v.detail}" for v in verdicts)
    )


@automod.subcommand("exempt", description="Exempt a role or a channel (again to un-exempt)")
async def automod_exempt(
    ctx: CommandContext, role: RoleRef | None = None, channel: Channel | None = None
) -> None:
    settings = await service(ctx).settings(server(ctx))
    if role is not None:
        listed = settings.exempt_roles
        target, name = role.id, f"@{role.role.name}"
    elif channel is not None:
        listed = settings.exempt_channels
        target, name = channel.id, f"#{channel.name}"
    else:
        raise CommandError("Name a role or a channel to exempt.")
    if target in listed:
        listed.remove(target)
        verb = "is no longer exempt"
    else:
        listed.append(target)
        verb = "is exempt from automod"
    await service(ctx).save_settings(settings)
    await ctx.reply(f"{name} {verb}.")


ALL_COMMANDS = [
    kick,
    ban,
    unban,
    timeout,
    untimeout,
    warn,
    warnings,
    delwarn,
    purge,
    lock,
    unlock,
    case_command,
    reason_command,
    modlog,
    escalation,
    automod,
]
__all__ = ["ACTIONS", "ALL_COMMANDS"]
