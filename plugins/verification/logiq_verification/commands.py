"""Verification's chat commands (server managers set it up from chat alone)."""

from __future__ import annotations

from datetime import timedelta

from logiq_core.plugin import (
    Channel,
    CommandContext,
    CommandError,
    Duration,
    Member,
    RoleRef,
    command,
    format_duration,
    group,
)
from logiq_core.plugin import Permission as P
from logiq_verification.models import RANGES
from logiq_verification.service import CHECK_MARK, VerificationService

REACTION_PROMPT = f"React with {CHECK_MARK} below to verify and get access to the server."


def service(ctx: CommandContext) -> VerificationService:
    return ctx.get(VerificationService)


def server(ctx: CommandContext) -> str:
    return ctx.server_id


verification = group(
    "verification", description="Set up member verification", user_permissions=P.ManageServer
)


@verification.subcommand(
    "setup",
    description="Verify newcomers in CHANNEL, giving VERIFIED (and UNVERIFIED until then)",
    bot_permissions=P.AssignRoles | P.React,
)
async def setup(
    ctx: CommandContext, channel: Channel, verified: RoleRef, unverified: RoleRef | None = None
) -> None:
    await ctx.ensure_can_assign_role(verified.id)
    if unverified is not None:
        await ctx.ensure_can_assign_role(unverified.id)
        if unverified.id == verified.id:
            raise CommandError("The verified and unverified roles must differ.")
    settings = await service(ctx).settings(server(ctx))
    settings.enabled = True
    settings.channel_id = channel.id
    settings.verified_role = verified.id
    settings.unverified_role = unverified.id if unverified else None
    settings.configured_by = ctx.author_id
    posted = await ctx.api.send_message(
        channel.id, REACTION_PROMPT, reactions=[CHECK_MARK], restrict_reactions=True
    )
    settings.message_id = posted.id
    await service(ctx).save(settings)
    extra = f", @{unverified.role.name} until then" if unverified else ""
    await ctx.reply(
        f"Verification is on in #{channel.name}: newcomers get @{verified.role.name}{extra}. "
        f"Mode: {settings.mode}."
    )


@verification.subcommand("status", description="Show the verification settings")
async def status(ctx: CommandContext) -> None:
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    if not settings.enabled:
        await ctx.reply("Verification is off. Start with `verification setup #channel @Role`.")
        return
    roles = ctx.cache.servers[server(ctx)].roles

    def role_name(role_id: str | None) -> str:
        return f"@{roles[role_id].name}" if role_id and role_id in roles else "-"

    channel = ctx.cache.channels.get(settings.channel_id or "")
    mode_now = svc.effective_mode(settings)
    min_age = settings.min_account_age_seconds
    lines = [
        f"Verification: on in #{channel.name if channel else '?'}, mode {mode_now}"
        + (" (raid guard active)" if mode_now != settings.mode else ""),
        f"Roles: verified {role_name(settings.verified_role)}, "
        f"unverified {role_name(settings.unverified_role)}",
        "Minimum account age: "
        + (f"{format_duration_seconds(min_age)} ({settings.young_action})" if min_age else "none"),
        "Kick if unverified after: "
        + (format_duration_seconds(settings.kick_after_seconds) if settings.kick_after_seconds else "never"),
        "Raid guard: "
        + (
            f"more than {settings.raid_joins} joins in {settings.raid_seconds}s"
            if settings.raid_joins
            else "off"
        ),
    ]
    await ctx.reply("\n".join(lines))


def format_duration_seconds(seconds: int) -> str:
    from datetime import timedelta

    return format_duration(timedelta(seconds=seconds))


@verification.subcommand("off", description="Turn verification off")
async def off(ctx: CommandContext) -> None:
    settings = await service(ctx).settings(server(ctx))
    settings.enabled = False
    await service(ctx).save(settings)
    await ctx.reply("Verification is off.")


@verification.subcommand("mode", description="reaction (react ✅) or challenge (answer a question)")
async def mode(ctx: CommandContext, new_mode: str) -> None:
    if new_mode not in ("reaction", "challenge"):
        raise CommandError("The mode is `reaction` or `challenge`.")
    settings = await service(ctx).settings(server(ctx))
    settings.mode = new_mode
    await service(ctx).save(settings)
    await ctx.reply(f"Verification mode: {new_mode}.")


@verification.subcommand("minage", description="Hold (or kick) accounts younger than this; 'off'")
async def minage(ctx: CommandContext, age: str, action: str = "hold") -> None:
    from logiq_core.plugin import parse_duration

    if action not in ("hold", "kick"):
        raise CommandError("The action for young accounts is `hold` or `kick`.")
    settings = await service(ctx).settings(server(ctx))
    if age == "off":
        settings.min_account_age_seconds = 0
    else:
        parsed = parse_duration(age)
        high = RANGES["min_account_age_seconds"][1]
        if parsed is None or parsed.total_seconds() > high:
            raise CommandError(f"`age`: expected a duration like 7d, at most {high // 86400} days, or `off`.")
        settings.min_account_age_seconds = int(parsed.total_seconds())
    settings.young_action = action
    await service(ctx).save(settings)
    await ctx.reply(f"Minimum account age: {age} ({action})." if age != "off" else "No minimum account age.")


@verification.subcommand("kickafter", description="Kick members still unverified after this; 'off'")
async def kickafter(ctx: CommandContext, after: str) -> None:
    from logiq_core.plugin import parse_duration

    settings = await service(ctx).settings(server(ctx))
    if after == "off":
        settings.kick_after_seconds = None
    else:
        parsed = parse_duration(after)
        low, high = RANGES["kick_after_seconds"]
        if parsed is None or not low <= parsed.total_seconds() <= high:
            raise CommandError(
                f"`after`: expected a duration like 1h, from 1s to {high // 86400} days, or `off`."
            )
        settings.kick_after_seconds = int(parsed.total_seconds())
    await service(ctx).save(settings)
    await ctx.reply(
        "Unverified members are never kicked."
        if after == "off"
        else f"Unverified members are kicked after {after}."
    )


@verification.subcommand(
    "raid",
    description="Challenge mode for DURATION after more than JOINS joins in SECONDS (joins 0 = off)",
    max_duration=timedelta(seconds=RANGES["raid_duration_seconds"][1]),
)
async def raid(ctx: CommandContext, joins: int, seconds: int = 10, duration: Duration | None = None) -> None:
    for name, value, key in (("joins", joins, "raid_joins"), ("seconds", seconds, "raid_seconds")):
        low, high = RANGES[key]
        if not low <= value <= high and not (name == "joins" and value == 0):
            raise CommandError(
                f"`{name}` is {low}-{high}" + (" (0 turns the guard off)." if name == "joins" else ".")
            )
    if duration is not None and duration.total_seconds() < RANGES["raid_duration_seconds"][0]:
        raise CommandError("The raid guard lasts at least 1 minute.")
    settings = await service(ctx).settings(server(ctx))
    settings.raid_joins = joins if joins > 0 else None
    settings.raid_seconds = max(1, seconds)
    if duration is not None:
        settings.raid_duration_seconds = int(duration.total_seconds())
    await service(ctx).save(settings)
    await ctx.reply(
        "Raid guard off."
        if joins <= 0
        else f"Raid guard: more than {joins} joins in {seconds}s switches to challenge mode "
        f"for {format_duration_seconds(settings.raid_duration_seconds)}."
    )


@verification.subcommand("modlog", description="Where holds, kicks and raid warnings are posted")
async def modlog(ctx: CommandContext, channel: Channel) -> None:
    settings = await service(ctx).settings(server(ctx))
    settings.modlog_channel = channel.id
    await service(ctx).save(settings)
    await ctx.reply(f"Verification notices go to #{channel.name}.")


@command(
    "verify",
    description="Verify a member by hand",
    user_permissions=P.AssignRoles,
    bot_permissions=P.AssignRoles,
)
async def verify(ctx: CommandContext, member: Member) -> None:
    await _set_verified(ctx, member, True)


async def _set_verified(ctx: CommandContext, member: Member, verified: bool) -> None:
    """Moderators' manual verify/unverify: hierarchy first, then only the verification roles."""
    await ctx.ensure_can_act_on(member, "verify" if verified else "unverify")
    settings = await service(ctx).settings(server(ctx))
    if not settings.enabled:
        raise CommandError("Verification is not set up here.")
    for role_id in (settings.verified_role, settings.unverified_role):
        if role_id:  # the same rule as for setting the roles up: only roles you could assign
            await ctx.ensure_can_assign_role(role_id)
    if verified:
        refused = await service(ctx).verify(server(ctx), member.user_id, by_moderator=True)
        if refused:
            raise CommandError(f"I did not verify {ctx.display_name(member.user_id)}: {refused}.")
        await ctx.reply(f"{ctx.display_name(member.user_id)} is verified.")
    else:
        refused = await service(ctx).unverify(server(ctx), member.user_id)
        if refused:
            raise CommandError(f"I did not unverify {ctx.display_name(member.user_id)}: {refused}.")
        await ctx.reply(f"{ctx.display_name(member.user_id)} is no longer verified.")


@command(
    "unverify",
    description="Take a member's verification back",
    user_permissions=P.AssignRoles,
    bot_permissions=P.AssignRoles,
)
async def unverify(ctx: CommandContext, member: Member) -> None:
    await _set_verified(ctx, member, False)


ALL_COMMANDS = [verification, verify, unverify]
