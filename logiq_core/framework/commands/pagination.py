"""Paging through long replies with ⬅️ ➡️ reactions (Stoat has no buttons)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from logiq_core.stoat.models import Message
from logiq_core.stoat.permissions import Permission

if TYPE_CHECKING:
    from logiq_core.framework.commands.context import CommandContext
    from logiq_core.framework.commands.router import CommandRouter
    from logiq_core.stoat.events import MessageReact
    from logiq_core.stoat.uploads import File

PREVIOUS, NEXT = "⬅️", "➡️"
PAGE_TIMEOUT_SECONDS = 120.0


@dataclass
class PagedReply:
    channel_id: str
    owner_id: str
    pages: list[str]
    index: int
    expires_at: float


def render(pages: list[str], index: int) -> str:
    return f"{pages[index]}\n\n(page {index + 1}/{len(pages)}: react {PREVIOUS} {NEXT})"


class Pagination:
    """Open paged replies, by message id; only the invoking member can turn the pages."""

    def __init__(self, router: CommandRouter, timeout: float = PAGE_TIMEOUT_SECONDS) -> None:
        self.router = router
        self.timeout = timeout
        self.sessions: dict[str, PagedReply] = {}

    async def send(
        self, ctx: CommandContext, pages: list[str], *, attachments: Sequence[File | str] = ()
    ) -> Message:
        message = await ctx.api.send_message(
            ctx.channel_id,
            render(pages, 0),
            replies=[(ctx.message.id, False)],
            reactions=[PREVIOUS, NEXT],
            attachments=attachments,
        )
        self._expire()
        self.sessions[message.id] = PagedReply(
            ctx.channel_id, ctx.author_id, pages, 0, time.monotonic() + self.timeout
        )
        return message

    def wants(self, event: MessageReact) -> bool:
        return event.id in self.sessions

    async def turn(self, event: MessageReact) -> None:
        session = self.sessions.get(event.id)
        if session is None or event.user_id == self.router.host.user_id:
            return
        if time.monotonic() > session.expires_at:
            del self.sessions[event.id]
            return
        emoji = event.emoji_id.replace("\ufe0f", "")
        if event.user_id != session.owner_id or emoji not in ("⬅", "➡"):
            return
        step = -1 if emoji == "⬅" else 1
        new_index = max(0, min(len(session.pages) - 1, session.index + step))
        api = self.router.host.api
        if new_index != session.index:
            session.index = new_index
            session.expires_at = time.monotonic() + self.timeout
            await api.edit_message(session.channel_id, event.id, render(session.pages, new_index))
        if self._bot_can_manage_messages(session.channel_id):
            await api.remove_reaction(session.channel_id, event.id, event.emoji_id, user_id=event.user_id)

    def _bot_can_manage_messages(self, channel_id: str) -> bool:
        cache = self.router.host.cache
        server_id = cache.server_of_channel(channel_id)
        if server_id is None:
            return False
        bot = cache.cached_member(server_id, self.router.host.user_id)
        if bot is None:
            return False
        return bool(cache.channel_permissions_of(bot, channel_id) & Permission.ManageMessages)

    def _expire(self) -> None:
        now = time.monotonic()
        for message_id in [m for m, s in self.sessions.items() if s.expires_at < now]:
            del self.sessions[message_id]
