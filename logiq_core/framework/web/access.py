"""What a member may do on a server now, worked out from the bot's cache on every call.

A dashboard session only says "this browser signed in as member U of server S". What U may
see is recomputed each time from the cache (which Stoat's events keep current), so a member
who lost a role, was kicked or left loses the pages at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logiq_core.stoat.permissions import Permission
from logiq_core.stoat.rest import StoatAPIError

if TYPE_CHECKING:
    from logiq_core.stoat.cache import Cache


async def server_permissions_now(cache: Cache, server_id: str, user_id: str) -> int | None:
    """``user_id``'s server-level permissions now, or None when not a member (or unknown)."""
    if server_id not in cache.servers:
        return None
    try:
        member = await cache.member(server_id, user_id)  # from the cache; fetched once if not there
    except StoatAPIError:
        return None
    return cache.server_permissions_of(member)


async def is_manager_now(cache: Cache, server_id: str, user_id: str) -> bool:
    held = await server_permissions_now(cache, server_id, user_id)
    return held is not None and bool(held & Permission.ManageServer)
