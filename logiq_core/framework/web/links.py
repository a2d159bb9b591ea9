"""Signed links a plugin sends a member (by DM) to open one of its ``Access.LINK`` pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logiq_core.framework.commands.context import CommandContext
    from logiq_core.framework.context import PluginContext


def dashboard_link(
    context: PluginContext | CommandContext,
    page: str,
    *,
    server_id: str,
    user_id: str,
    params: dict[str, Any] | None = None,
    ttl_seconds: float | None = None,
) -> str | None:
    """A single-use, short-lived link to this plugin's ``Access.LINK`` page ``page``, for
    ``user_id`` on ``server_id``; ``params`` reach the handler as ``request.link`` (keep them
    small: ids, not content). None when the dashboard is off. Send it privately (a DM)::

        link = dashboard_link(ctx, "transcript", server_id=sid, user_id=member,
                              params={"ticket": ticket_id})
    """
    plugin: Any = getattr(context, "plugin", context)  # a CommandContext's plugin context
    dashboard = getattr(plugin.bot, "web", None)
    if dashboard is None or dashboard.signer is None:
        return None
    return str(
        dashboard.page_link(
            plugin.name,
            page,
            server_id=server_id,
            user_id=user_id,
            params=dict(params or {}),
            ttl_seconds=ttl_seconds,
        )
    )
