"""Leveling's chat commands. Permissions, gating, errors and safe replies come from the core."""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import timedelta

import aiohttp

from logiq_core.plugin import (
    Channel,
    Command,
    CommandContext,
    CommandError,
    Duration,
    File,
    InvalidRequest,
    Member,
    Rest,
    RoleRef,
    StoatAPIError,
    UploadRefused,
    command,
    convert,
    format_duration,
    group,
)
from logiq_core.plugin import Permission as P
from logiq_leveling.models import Reward, SyncRun
from logiq_leveling.rewards import apply_rewards
from logiq_leveling.service import (
    ImportError_,
    LevelChange,
    LevelingService,
    as_utc,
    parse_csv,
    utcnow,
)

PER_PAGE = 10
MAX_IMPORT_BYTES = 5_000_000
SYNC_COOLDOWN_SECONDS = 600.0


def service(ctx: CommandContext) -> LevelingService:
    return ctx.plugin.get(LevelingService)


def server(ctx: CommandContext) -> str:
    assert ctx.server_id is not None  # leveling commands are server-only (dm=False)
    return ctx.server_id


async def follow_up(ctx: CommandContext, changes: list[LevelChange]) -> int:
    """Bring reward roles in line after an admin change; how many members' roles changed."""
    changed = 0
    for change in changes:
        if change.old_level != change.new_level:
            with contextlib.suppress(StoatAPIError):
                changed += await apply_rewards(
                    ctx.plugin, service(ctx), change.server_id, change.user_id, change.new_xp
                )
    return changed


# --- !rank ---------------------------------------------------------------------------------------
async def fetch_avatar(ctx: CommandContext, user_id: str) -> bytes | None:
    """The member's avatar from Stoat's file server, if they have one (never a member-typed URL)."""
    user = await ctx.cache.ensure_user(user_id)
    avatar = getattr(user, "avatar", None) if user else None
    avatar_id = getattr(avatar, "id", None) or (avatar.get("_id") if isinstance(avatar, dict) else None)
    base = ctx.api.autumn_url
    if not avatar_id or not base:
        return None
    try:
        timeout = aiohttp.ClientTimeout(total=3)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{base}/avatars/{avatar_id}") as response,
        ):
            if response.status != 200:
                return None
            data = await response.content.read(4_000_001)
            return data if len(data) <= 4_000_000 else None
    except (aiohttp.ClientError, TimeoutError):
        return None


@command("rank", description="Your level, XP and rank as a card (or another member's)", cooldown=3)
async def rank(ctx: CommandContext, member: Member | None = None) -> None:
    user_id = member.user_id if member is not None else ctx.author_id
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    xp, position, members = await svc.rank_of(server(ctx), user_id)
    level, into, needed = svc.curve(settings).progress(xp)
    name = ctx.display_name(user_id)
    text = (
        f"{name}: level {level}, {into:,}/{needed:,} XP into the level ({needed - into:,} to level "
        f"{level + 1}), {xp:,} XP in all, rank #{position} of {members}."
    )
    from logiq_leveling.card import CardFacts, render_card  # Pillow loads at the first card, not at start

    facts = CardFacts(name, level, into, needed, xp, position, members)
    try:
        avatar = await fetch_avatar(ctx, user_id)
        png = await asyncio.to_thread(render_card, facts, avatar)
        await ctx.reply(text, attachments=[File(png, "rank.png", "image/png")])
    except (StoatAPIError, InvalidRequest, UploadRefused, OSError) as exc:
        ctx.plugin.logger.info("leveling: rank card not sent ({}); answering in text", exc)
        await ctx.reply(text)


# --- boards --------------------------------------------------------------------------------------
async def board_text(
    ctx: CommandContext, rows: list[tuple[str, int]], title: str, start: int, with_levels: bool = True
) -> str:
    svc = service(ctx)
    curve = svc.curve(await svc.settings(server(ctx)))
    for user_id, _ in rows:
        await ctx.cache.ensure_user(user_id)
    lines = [title]
    for index, (user_id, xp) in enumerate(rows, start=start):
        level = f"level {curve.level_for(xp)}, " if with_levels else ""
        lines.append(f"{index}. {ctx.display_name(user_id)}: {level}{xp:,} XP")
    return "\n".join(lines)


async def show_board(ctx: CommandContext, page: str | None) -> None:
    if page is not None and page.lower() == "weekly":
        assert weekly.handler is not None
        await weekly.handler(ctx)  # the Command's handler: a Command itself is not callable
        return
    number = 1
    if page is not None:
        if not page.isdigit() or int(page) < 1:
            raise CommandError(f"Use `{ctx.prefix}levels [page]` or `{ctx.prefix}levels weekly`.")
        number = int(page)
    rows = await service(ctx).leaderboard(server(ctx), number, PER_PAGE)
    if not rows:
        await ctx.reply("Nobody is on that page yet." if number > 1 else "Nobody has any XP yet.")
        return
    text = await board_text(ctx, rows, f"**Levels** (page {number})", (number - 1) * PER_PAGE + 1)
    if len(rows) == PER_PAGE:
        text += f"\nNext: `{ctx.prefix}levels {number + 1}`"
    await ctx.reply(text)


async def levels_board(ctx: CommandContext, page: str | None = None) -> None:
    await show_board(ctx, page)


# `!leaderboard` is economy's board: leveling answers `!leaderboard xp` through a two-word alias,
# so the two plugins load side by side.
levels = command(
    "levels",
    aliases=("leaderboard xp",),
    description="The server's XP board, 10 per page (`levels weekly`: 7 days; also `leaderboard xp`)",
)(levels_board)


@levels.subcommand("weekly", description="Who earned the most XP in the last 7 days")
async def weekly(ctx: CommandContext) -> None:
    rows = await service(ctx).weekly(server(ctx), PER_PAGE)
    if not rows:
        await ctx.reply("Nobody earned XP in the last 7 days.")
        return
    await ctx.reply(await board_text(ctx, rows, "**This week** (last 7 days)", 1, with_levels=False))


# --- managers ------------------------------------------------------------------------------------
MANAGE = {"user_permissions": P.ManageServer}


def subgroup(parent: Command, name: str, description: str) -> Command:
    child = group(name, description=description, user_permissions=P.ManageServer)
    child.parent = parent
    parent.subcommands[name] = child
    return child


reward = subgroup(levels, "reward", "Role rewards: `reward add <level> @role`, `reward remove <level>`")


@reward.subcommand(
    "add", description="Give @role at <level> (you must be able to assign it)", bot_permissions=P.AssignRoles
)
async def reward_add(ctx: CommandContext, level: int, role: RoleRef) -> None:
    if not 1 <= level <= 1000:
        raise CommandError("A reward level is between 1 and 1000.")
    # Nobody configures a reward they could not hand out themselves, nor one above the bot.
    await ctx.ensure_can_assign_role(role.id)
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    settings.rewards = [r for r in settings.rewards if r.level != level and r.role_id != role.id]
    settings.rewards.append(Reward(level=level, role_id=role.id, configured_by=ctx.author_id))
    settings.rewards.sort(key=lambda r: r.level)
    await svc.save_settings(settings)
    await ctx.reply(
        f"Members reaching level {level} get @{role.role.name}. "
        f"`{ctx.prefix}levels sync` gives it to those already there."
    )


@reward.subcommand("remove", description="Stop rewarding <level> (roles already given stay)")
async def reward_remove(ctx: CommandContext, level: int) -> None:
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    kept = [r for r in settings.rewards if r.level != level]
    if len(kept) == len(settings.rewards):
        raise CommandError(f"There is no reward at level {level}.")
    settings.rewards = kept
    await svc.save_settings(settings)
    await ctx.reply(f"No reward at level {level} any more.")


def role_name(ctx: CommandContext, role_id: str) -> str:
    guild = ctx.cache.servers.get(server(ctx))
    role = guild.roles.get(role_id) if guild else None
    return f"@{role.name}" if role else f"(deleted role {role_id})"


@levels.subcommand("rewards", description="List the role rewards", **MANAGE)
async def rewards_list(ctx: CommandContext) -> None:
    settings = await service(ctx).settings(server(ctx))
    if not settings.rewards:
        await ctx.reply(f"No role rewards. Add one with `{ctx.prefix}levels reward add <level> @role`.")
        return
    lines = [f"Role rewards ({settings.reward_mode} mode):"]
    lines += [f"• level {r.level}: {role_name(ctx, r.role_id)}" for r in settings.rewards]
    await ctx.reply("\n".join(lines))


@levels.subcommand("mode", description="stack: keep every reward; replace: only the highest", **MANAGE)
async def mode(ctx: CommandContext, which: str) -> None:
    which = which.lower()
    if which not in ("stack", "replace"):
        raise CommandError(f"Use `{ctx.prefix}levels mode stack` or `{ctx.prefix}levels mode replace`.")
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    settings.reward_mode = which
    await svc.save_settings(settings)
    await ctx.reply(
        "Members keep every reward they reach."
        if which == "stack"
        else "Members keep only their highest reward; the previous one is removed."
    )


async def channel_or_role(ctx: CommandContext, word: str) -> tuple[str, str, str]:
    """("channel" | "role", id, display) for a #channel or @role argument."""
    with contextlib.suppress(ValueError):
        channel: Channel = await convert(ctx, Channel, word)
        return "channel", channel.id, f"#{channel.name}"
    with contextlib.suppress(ValueError):
        role: RoleRef = await convert(ctx, RoleRef, word)
        return "role", role.id, f"@{role.role.name}"
    raise CommandError(f"{word!r} is neither a channel nor a role of this server.")


noxp = subgroup(levels, "noxp", "Channels and roles that earn no XP")


@noxp.subcommand("add", description="No XP in #channel or for @role")
async def noxp_add(ctx: CommandContext, target: str) -> None:
    kind, target_id, shown = await channel_or_role(ctx, target)
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    listed = settings.noxp_channels if kind == "channel" else settings.noxp_roles
    if target_id not in listed:
        listed.append(target_id)
    await svc.save_settings(settings)
    await ctx.reply(f"{shown} earns no XP.")


@noxp.subcommand("remove", description="XP again in #channel or for @role")
async def noxp_remove(ctx: CommandContext, target: str) -> None:
    kind, target_id, shown = await channel_or_role(ctx, target)
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    listed = settings.noxp_channels if kind == "channel" else settings.noxp_roles
    if target_id in listed:
        listed.remove(target_id)
    await svc.save_settings(settings)
    await ctx.reply(f"{shown} earns XP again.")


@levels.subcommand("multiplier", description="XP × factor for @role or in #channel (1 to reset)", **MANAGE)
async def multiplier(ctx: CommandContext, target: str, factor: float) -> None:
    if not (0 <= factor <= 10) or math.isnan(factor):
        raise CommandError("A multiplier is between 0 and 10.")
    kind, target_id, shown = await channel_or_role(ctx, target)
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    table = settings.channel_multipliers if kind == "channel" else settings.role_multipliers
    if factor == 1:
        table.pop(target_id, None)
    else:
        table[target_id] = factor
    await svc.save_settings(settings)
    await ctx.reply(f"XP for {shown} is multiplied by {factor:g}.")


@levels.subcommand(
    "announce", description="Level-ups announced here (where they chat), in #channel, or off", **MANAGE
)
async def announce(ctx: CommandContext, where: str) -> None:
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    if where.lower() in ("here", "off"):
        settings.announce = where.lower()
        answer = (
            "Level-ups are announced where the member is chatting."
            if settings.announce == "here"
            else "Level-ups are not announced."
        )
    else:
        try:
            channel: Channel = await convert(ctx, Channel, where)
        except ValueError:
            raise CommandError(f"Use `{ctx.prefix}levels announce here|#channel|off`.") from None
        settings.announce = channel.id
        answer = f"Level-ups are announced in #{channel.name}."
    await svc.save_settings(settings)
    await ctx.reply(answer)


@levels.subcommand("message", description="The level-up template: {member} and {level}", **MANAGE)
async def message(ctx: CommandContext, template: Rest) -> None:
    template = template.strip()
    if not template or len(template) > 500:
        raise CommandError("A template is 1-500 characters, e.g. `{member} reached level {level}!`")
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    settings.template = template
    await svc.save_settings(settings)
    await ctx.reply(f"Level-up message set: {template}")


@levels.subcommand("curve", description="mee6 (5L²+50L+100 per level) or power <base> <exp>", **MANAGE)
async def curve(ctx: CommandContext, kind: str, base: float | None = None, exp: float | None = None) -> None:
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    kind = kind.lower()
    if kind == "mee6":
        settings.curve = "mee6"
    elif kind == "power":
        if base is None or exp is None or not (1 <= base <= 100_000) or not (0.5 <= exp <= 5):
            raise CommandError("Use `levels curve power <base 1-100000> <exp 0.5-5>`, e.g. `power 100 2`.")
        settings.curve, settings.curve_base, settings.curve_exp = "power", base, exp
    else:
        raise CommandError(
            f"Use `{ctx.prefix}levels curve mee6` or `{ctx.prefix}levels curve power <base> <exp>`."
        )
    await svc.save_settings(settings)
    await ctx.reply(
        f"Curve: {svc.curve(settings).describe()}. Levels follow from each member's XP at once; "
        f"`{ctx.prefix}levels sync` brings reward roles in line."
    )


@levels.subcommand("cooldown", description="How often a member can earn XP (e.g. 60s, 2m)", **MANAGE)
async def cooldown(ctx: CommandContext, duration: Duration) -> None:
    if duration > timedelta(days=1):
        raise CommandError("The cooldown is at most a day.")
    svc = service(ctx)
    settings = await svc.settings(server(ctx))
    await svc.set_cooldown(settings, duration.total_seconds())
    await ctx.reply(f"Members earn XP at most once every {format_duration(duration) or '0s'}.")


@levels.subcommand(
    "sync",
    description="Give everyone the rewards of their level (paced, resumable)",
    bot_permissions=P.AssignRoles,
    **MANAGE,
)
async def sync(ctx: CommandContext) -> None:
    svc = service(ctx)
    running = await svc.active_sync(server(ctx))
    if running is not None:
        await ctx.reply(f"A sync is already running: {running.checked} member(s) checked so far.")
        return
    last = await SyncRun.find(SyncRun.server_id == server(ctx)).sort("-started_at").first_or_none()
    if last is not None:
        wait = SYNC_COOLDOWN_SECONDS - (utcnow() - as_utc(last.started_at)).total_seconds()
        if wait > 0:
            again = format_duration(timedelta(seconds=wait))
            raise CommandError(f"A sync ran recently; try again in {again}.")
    if not (await svc.settings(server(ctx))).rewards:
        raise CommandError("There are no role rewards to sync.")
    await SyncRun(
        server_id=server(ctx), channel_id=ctx.channel_id, started_by=ctx.author_id, started_at=utcnow()
    ).insert()
    await ctx.reply("Syncing reward roles for every member with XP; I will say here when it is done.")


# --- CSV -----------------------------------------------------------------------------------------
@levels.subcommand("export", description="Everyone's XP as a CSV file (user_id, xp, level)", **MANAGE)
async def export(ctx: CommandContext) -> None:
    svc = service(ctx)
    rows = await svc.all_xp(server(ctx))
    data = svc.export_csv(rows, svc.curve(await svc.settings(server(ctx))))
    await ctx.reply(f"XP of {len(rows)} member(s).", attachments=[File(data, "levels.csv", "text/csv")])


async def download_attachment(ctx: CommandContext) -> bytes:
    attachments = ctx.message.attachments or []
    if not attachments:
        raise CommandError("Attach a CSV file of `user id, XP` rows to the command.")
    attachment = attachments[0]
    if attachment.size > MAX_IMPORT_BYTES:
        raise CommandError(f"The file is too large (at most {MAX_IMPORT_BYTES // 1_000_000} MB).")
    base = ctx.api.autumn_url
    if base is None:
        await ctx.api.fetch_root()
        base = ctx.api.autumn_url
    if base is None:
        raise CommandError("This Stoat server has no file server, so I cannot read attachments.")
    timeout = aiohttp.ClientTimeout(total=30)
    # The file server is Stoat's own (from GET /), never a URL a member typed.
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"{base}/{attachment.tag}/{attachment.id}") as response,
    ):
        if response.status != 200:
            raise CommandError(f"I could not download the file (HTTP {response.status}).")
        data = await response.content.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise CommandError("The file is too large.")
    return data


@levels.subcommand(
    "import",
    description="Import a CSV of `user id, XP` (add or replace; `import undo` takes it back)",
    **MANAGE,
)
async def import_(ctx: CommandContext, mode: str = "replace") -> None:
    mode = mode.lower()
    svc = service(ctx)
    if mode == "undo":
        record, changes = await svc.undo_last_import(server(ctx), ctx.author_id)
        if record is None:
            raise CommandError("There is no import to undo.")
        changed = await follow_up(ctx, changes)
        await ctx.reply(
            f"Import of {record.rows} row(s) undone; {len(changes)} member(s) back to their "
            f"previous XP, {changed} member(s) had roles changed."
        )
        return
    if mode not in ("add", "replace"):
        raise CommandError(
            f"Use `{ctx.prefix}levels import [add|replace]` with a CSV attached, "
            f"or `{ctx.prefix}levels import undo`."
        )
    data = await download_attachment(ctx)
    try:
        rows = parse_csv(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise CommandError("The file is not UTF-8 text.") from None
    except ImportError_ as exc:
        raise CommandError(f"Nothing imported: {exc}.") from None
    if not rows:
        raise CommandError("The file has no `user id, XP` rows.")
    record, changes = await svc.import_rows(server(ctx), rows, mode, ctx.author_id)
    changed = await follow_up(ctx, changes)
    verb = "added to" if mode == "add" else "set for"
    await ctx.reply(
        f"Imported: XP {verb} {record.rows} member(s); {changed} member(s) had roles changed. "
        f"`{ctx.prefix}levels import undo` takes it back."
    )


# --- !xp -----------------------------------------------------------------------------------------
xp = group("xp", description="Give, take or set a member's XP", user_permissions=P.ManageServer)


async def xp_change(ctx: CommandContext, member: Member, *, add: int = 0, set_to: int | None = None) -> None:
    svc = service(ctx)
    change = await svc.change_xp(server(ctx), member.user_id, ctx.author_id, add=add, set_to=set_to)
    await follow_up(ctx, [change])
    await ctx.reply(
        f"{ctx.display_name(member.user_id)} now has {change.new_xp:,} XP (level {change.new_level})."
    )


def amount_of(value: int) -> int:
    if value < 0:
        raise CommandError("The amount is a positive number.")
    return value


@xp.subcommand("give", description="Add XP to a member")
async def xp_give(ctx: CommandContext, member: Member, amount: int) -> None:
    await xp_change(ctx, member, add=amount_of(amount))


@xp.subcommand("take", description="Take XP from a member (not below 0)")
async def xp_take(ctx: CommandContext, member: Member, amount: int) -> None:
    await xp_change(ctx, member, add=-amount_of(amount))


@xp.subcommand("set", description="Set a member's XP")
async def xp_set(ctx: CommandContext, member: Member, amount: int) -> None:
    await xp_change(ctx, member, set_to=amount_of(amount))


ALL_COMMANDS = [rank, levels, xp]
