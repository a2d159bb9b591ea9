"""Stoat side of leveling: role rewards, announcements, and who may hand out a role."""

from __future__ import annotations

import contextlib

from logiq_core.plugin import Member, Permission, PluginContext, StoatAPIError, neutralise_mentions
from logiq_leveling.models import LevelSettings, Reward
from logiq_leveling.service import LevelChange, LevelingService


def assignable_reason(ctx: PluginContext, server_id: str, member: Member | None, role_id: str) -> str | None:
    """Why ``member`` could not assign ``role_id`` themselves (None: they could).

    The rule of issue 10: AssignRoles at server level and a top role strictly above the role;
    the owner may assign any role.
    TODO(issue 10): use logiq_core.stoat.permissions.check_role_assignable once it is in main.
    """
    server = ctx.cache.servers.get(server_id)
    role = server.roles.get(role_id) if server else None
    if role is None:
        return "the role no longer exists"
    if member is None:
        return "they are no longer a member"
    if ctx.cache.is_owner(server_id, member.user_id):
        return None
    if not ctx.cache.server_permissions_of(member) & Permission.AssignRoles:
        return "it needs the AssignRoles permission"
    if role.rank <= ctx.cache.ranking(member):
        return "it ranks at or above the top role"
    return None


async def _member_or_none(ctx: PluginContext, server_id: str, user_id: str) -> Member | None:
    try:
        return await ctx.cache.member(server_id, user_id)
    except StoatAPIError:
        return None


async def can_hand_out(ctx: PluginContext, server_id: str, reward: Reward) -> str | None:
    """Re-checked at every hand-out: the bot, and whoever configured the reward, may assign it."""
    bot = await _member_or_none(ctx, server_id, ctx.bot_user_id)
    reason = assignable_reason(ctx, server_id, bot, reward.role_id)
    if reason is not None:
        return f"I cannot assign it: {reason}"
    configurer = await _member_or_none(ctx, server_id, reward.configured_by)
    reason = assignable_reason(ctx, server_id, configurer, reward.role_id)
    if reason is not None:
        return f"whoever set it up can no longer assign it: {reason}"
    return None


async def apply_rewards(
    ctx: PluginContext, service: LevelingService, server_id: str, user_id: str, xp: int | None = None
) -> bool:
    """Give the member the reward roles of their level and take away the ones they no longer
    earn; every other role is kept. The role list is read fresh (Stoat replaces the whole list).
    Returns whether the member's roles changed.
    """
    settings = await service.settings(server_id)
    if not settings.rewards:
        return False
    if xp is None:
        xp = await service.xp_of(server_id, user_id)
    level = service.curve(settings).level_for(xp)
    desired, ours = service.reward_roles(settings, level)
    try:
        member = await ctx.api.fetch_member(server_id, user_id)
    except StoatAPIError:
        return False  # not on the server (any more): rewards come back when they rejoin
    current = list(member.roles or [])
    by_role = {reward.role_id: reward for reward in settings.rewards}
    bot = await _member_or_none(ctx, server_id, ctx.bot_user_id)
    keep: list[str] = []
    for role_id in current:
        removable = assignable_reason(ctx, server_id, bot, role_id) is None
        if role_id in ours and role_id not in desired and removable:
            continue  # a reward they no longer earn (replace mode, or XP taken away)
        keep.append(role_id)
    for role_id in sorted(desired - set(current)):
        reason = await can_hand_out(ctx, server_id, by_role[role_id])
        if reason is not None:
            ctx.logger.warning("leveling: not giving role {} on {}: {}", role_id, server_id, reason)
            continue
        keep.append(role_id)
    if keep == current:
        return False
    updated = await ctx.api.edit_member(server_id, user_id, roles=keep)
    ctx.cache.remember_member(updated)
    return True


def render_announcement(
    ctx: PluginContext, settings: LevelSettings, server_id: str, user_id: str, level: int
) -> str:
    """The level-up text: the template with mentions neutralised, then the one member's mention."""
    server = ctx.cache.servers.get(server_id)

    def user_name(uid: str) -> str | None:
        member = ctx.cache.cached_member(server_id, uid)
        if member is not None and member.nickname:
            return member.nickname
        user = ctx.cache.users.get(uid)
        return user.username if user else None

    def role_name(role_id: str) -> str | None:
        return server.roles[role_id].name if server and role_id in server.roles else None

    marker = "\x00member\x00"
    text = settings.template.replace("{member}", marker).replace("{level}", str(level))
    text = neutralise_mentions(text, user_name, role_name)[:1800]
    return text.replace(marker, f"<@{user_id}>")


async def on_level_change(
    ctx: PluginContext, service: LevelingService, change: LevelChange, channel_id: str | None = None
) -> None:
    """Announce a level-up (message XP only) and bring the member's reward roles in line."""
    settings = await service.settings(change.server_id)
    if change.new_level > change.old_level and change.source == "message" and settings.announce != "off":
        target = channel_id if settings.announce == "here" else settings.announce
        if target is None:
            target = service.last_channel.get((change.server_id, change.user_id))
        if target is not None:
            text = render_announcement(ctx, settings, change.server_id, change.user_id, change.new_level)
            try:
                await ctx.api.send_message(target, text)
            except StoatAPIError as exc:
                ctx.logger.warning("leveling: could not announce a level-up in {}: {}", target, exc)
    if change.new_level != change.old_level and settings.rewards:
        with contextlib.suppress(StoatAPIError):
            await apply_rewards(ctx, service, change.server_id, change.user_id, change.new_xp)
