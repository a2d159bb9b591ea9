"""Who the visitor is allowed to be, recomputed from the bot's cache on every request.

A session only says "this browser signed in as member U of server S". What U may see is
worked out afresh each time from the cache (which Stoat's events keep current), so a member
who lost a role, was kicked or left loses the pages at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logiq_core.permissions import Permission
from logiq_core.rest import StoatAPIError

if TYPE_CHECKING:
    from logiq_core.bot import Bot


async def server_permissions_now(bot: Bot, server_id: str, user_id: str) -> int | None:
    """``user_id``'s server-level permissions now, or None when not a member (or unknown)."""
    if server_id not in bot.cache.servers:
        return None
    member = bot.cache.cached_member(server_id, user_id)
    if member is None:
        try:
            member = await bot.cache.member(server_id, user_id)
        except StoatAPIError:
            return None
    return bot.cache.server_permissions_of(member)


async def is_manager_now(bot: Bot, server_id: str, user_id: str) -> bool:
    held = await server_permissions_now(bot, server_id, user_id)
    return held is not None and bool(held & Permission.ManageServer)
