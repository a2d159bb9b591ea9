"""What a command handler is given: the message, who and where, and safe ways to answer.

Public: ``author_id``, ``author_member``, ``channel_id``, ``server_id``, ``in_server``,
``message``, ``command``, ``prefix``, ``api``, ``cache``, ``state``, ``author_state``,
``config``, ``logger``, ``get``, ``display_name``, ``reply``, ``send``, ``ensure_can_act_on``,
``member_permissions``, ``bot_member``, ``bot_permissions``. ``router`` and ``plugin`` are the
core's own objects: internal, and may change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from logiq_core.framework.commands.model import Command, CommandError
from logiq_core.framework.commands.safe import (
    PAGE_BYTES,
    USER_MENTION,
    neutralise_mentions,
    paginate,
    strip_invisible,
    truncate_utf8,
)
from logiq_core.stoat.events import MessageEvent
from logiq_core.stoat.models import Member, Message
from logiq_core.stoat.permissions import GRANT_ALL_SAFE, check_hierarchy, check_role_assignable
from logiq_core.stoat.rest import MAX_CONTENT_BYTES, SendableEmbed
from logiq_core.stoat.uploads import File

MAX_EMBED_TITLE = 100  # characters (OpenAPI SendableEmbed.title)

if TYPE_CHECKING:
    from logiq_core.framework.commands.router import CommandRouter
    from logiq_core.framework.config import PluginConfig
    from logiq_core.framework.context import PluginContext
    from logiq_core.framework.outbound import OutboundHttp
    from logiq_core.framework.state import PluginState, StateScope
    from logiq_core.stoat.cache import Cache
    from logiq_core.stoat.rest import StoatAPI

T = TypeVar("T")


class CommandContext:
    """One invocation of one command."""

    def __init__(
        self,
        router: CommandRouter,
        message: MessageEvent,
        command: Command,
        plugin: PluginContext,
        prefix: str,
        author_member: Member | None,
    ) -> None:
        self.router = router
        self.message = message
        self.command = command
        self.plugin = plugin
        self.prefix = prefix
        self.author_member = author_member

    @property
    def api(self) -> StoatAPI:
        return self.router.host.api

    @property
    def cache(self) -> Cache:
        return self.router.host.cache

    @property
    def http(self) -> OutboundHttp:
        """The plugin's outbound HTTP client (``PluginContext.http``)."""
        return self.plugin.http

    @property
    def author_id(self) -> str:
        return self.message.author

    @property
    def channel_id(self) -> str:
        return self.message.channel

    @property
    def server_id(self) -> str:
        """The server the command was used on.

        Never None: a command that is not ``dm=True`` only runs on a server. A DM command asks
        :attr:`in_server` first; reading this in a DM answers "only works on a server".
        """
        server_id = self.message.server_id_hint
        if server_id is None:
            raise CommandError(f"`{self.command.qualified_name}` only works on a server.")
        return server_id

    @property
    def in_server(self) -> bool:
        return self.message.server_id_hint is not None

    @property
    def state(self) -> PluginState:
        """The plugin's stored values (``ctx.state.member(server_id, user_id).inc("flips")``)."""
        return self.plugin.state

    @property
    def author_state(self) -> StateScope:
        """The invoking member's values on this server (their per-user values in a DM)."""
        if self.in_server:
            return self.plugin.state.member(self.server_id, self.author_id)
        return self.plugin.state.user(self.author_id)

    @property
    def config(self) -> PluginConfig | dict[str, Any]:
        """The plugin's configuration, as on its ``PluginContext`` (``MyConfig.of(ctx)``: typed)."""
        return self.plugin.config

    @property
    def logger(self) -> Any:
        return self.plugin.logger

    def get(self, kind: type[T]) -> T:
        """The plugin's service of class ``kind`` (given to ``provide`` at start-up)."""
        return self.plugin.get(kind)

    def service_of(self, feature: str, kind: type[T]) -> T | None:
        """Another plugin's service, or None unless it is loaded and enabled on this server.

        See :meth:`PluginContext.service_of <logiq_core.framework.context.PluginContext.service_of>`.
        """
        return self.plugin.service_of(feature, kind, server_id=self.server_id)

    @property
    def bot_user_id(self) -> str:
        return self.router.host.user_id

    def display_name(self, user_id: str) -> str:
        """A member's nickname or username (for text, never a mention)."""
        server_id = self.message.server_id_hint
        if server_id:
            member = self.cache.cached_member(server_id, user_id)
            if member is not None and member.nickname:
                return member.nickname
        user = self.cache.users.get(user_id)
        return user.username if user else user_id

    def neutralise(self, text: str) -> str:
        server = self.cache.servers.get(self.message.server_id_hint or "")

        def role_name(role_id: str) -> str | None:
            return server.roles[role_id].name if server and role_id in server.roles else None

        return neutralise_mentions(strip_invisible(text), self.display_name, role_name)

    def safe_embeds(self, embeds: Sequence[SendableEmbed], content: str | None = None) -> list[SendableEmbed]:
        """Embeds as safe as content: member text neutralised and stripped of invisible
        characters, titles cut to Stoat's 100 characters, descriptions cut by UTF-8 bytes so
        that content and descriptions stay within the 2000-byte limit."""
        if not embeds:
            return []
        budget = (MAX_CONTENT_BYTES - len((content or "").encode())) // len(embeds)
        safe = []
        for embed in embeds:
            title = self.neutralise(embed.title) if embed.title else embed.title
            description = self.neutralise(embed.description) if embed.description else embed.description
            safe.append(
                msgspec.structs.replace(
                    embed,
                    title=title[:MAX_EMBED_TITLE] if title else None,
                    description=truncate_utf8(description, max(budget, 1)) if description else None,
                )
            )
        return safe

    async def reply(
        self,
        text: str = "",
        *,
        embeds: Sequence[SendableEmbed] = (),
        allow_mentions: bool = False,
        attachments: Sequence[File | str] = (),
    ) -> Message | None:
        """Answer as a Stoat reply (no ping). Long text is paginated with ⬅️ ➡️ reactions.

        ``attachments`` (:class:`~logiq_core.stoat.uploads.File` objects, or ids already uploaded)
        are uploaded first and attached to the reply (to its first page when paginated).
        """
        if not allow_mentions:
            await self._learn_mentioned_users(text)
            text = self.neutralise(text)
            embeds = self.safe_embeds(embeds, text if len(text.encode()) <= PAGE_BYTES else None)
        pages = paginate(text) if text else [""]
        if len(pages) == 1:
            return await self.api.send_message(
                self.channel_id,
                pages[0] or None,
                replies=[(self.message.id, False)],
                embeds=embeds,
                attachments=attachments,
            )
        return await self.router.pagination.send(self, pages, attachments=attachments)

    async def _learn_mentioned_users(self, text: str, limit: int = 10) -> None:
        """Fetch the names of users mentioned in ``text`` so they can be shown as plain names."""
        if "<@" not in text:
            return
        for user_id in USER_MENTION.findall(text)[:limit]:
            await self.cache.ensure_user(user_id)

    async def send(
        self,
        channel_id: str,
        text: str = "",
        *,
        embeds: Sequence[SendableEmbed] = (),
        allow_mentions: bool = False,
        attachments: Sequence[File | str] = (),
    ) -> Message:
        """Send to another channel (e.g. a mod log); text over a page is cut to one page."""
        if text and not allow_mentions:
            text = self.neutralise(text)
        if not allow_mentions:
            embeds = self.safe_embeds(embeds, paginate(text)[0] if text else None)
        return await self.api.send_message(
            channel_id, paginate(text)[0] if text else None, embeds=embeds, attachments=attachments
        )

    def member_permissions(self, member: Member, channel_id: str | None = None) -> int:
        """What ``member`` may do here: server-level bits (kick, ban, timeout, roles, server
        settings) from the server's permissions, never from this channel's overrides."""
        if member.server_id and self.cache.is_owner(member.server_id, member.user_id):
            return GRANT_ALL_SAFE
        return self.cache.effective_permissions_of(member, channel_id or self.channel_id)

    async def bot_member(self) -> Member:
        return await self.cache.member(self.server_id, self.bot_user_id)

    async def bot_permissions(self, channel_id: str | None = None) -> int:
        return self.member_permissions(await self.bot_member(), channel_id)

    async def ensure_can_act_on(self, target: Member, action: str = "act on") -> None:
        """Stoat's hierarchy, checked for the invoker and for the bot before calling Stoat."""
        if self.author_member is None:
            raise CommandError("that only works on a server")
        name = self.display_name(target.user_id)
        owner = self.cache.is_owner(self.server_id, target.user_id)
        verdict = check_hierarchy(
            actor_ranking=self.cache.ranking(self.author_member),
            target_ranking=self.cache.ranking(target),
            target_is_owner=owner,
            actor_is_self_target=target.user_id == self.author_id,
        )
        if not verdict.allowed:
            raise CommandError(f"You cannot {action} @{name}: {verdict.reason}.")
        bot = await self.bot_member()
        verdict = check_hierarchy(
            actor_ranking=self.cache.ranking(bot),
            target_ranking=self.cache.ranking(target),
            target_is_owner=owner,
            actor_is_self_target=target.user_id == self.bot_user_id,
        )
        if not verdict.allowed:
            reason = verdict.reason.replace("yours", "mine").replace("yourself", "me")
            raise CommandError(f"I cannot {action} @{name}: {reason}.")

    async def ensure_can_assign_role(self, role_id: str) -> None:
        """Refuse to configure a role the invoker could not assign themselves, or the bot cannot.

        For every command that sets up a role the bot hands out later: the invoker holds
        AssignRoles and the role ranks below their top role (the owner excepted), and the role
        ranks below the bot's top role. Check again at hand-out time with
        :func:`logiq_core.stoat.permissions.check_role_assignable`.
        """
        if self.server_id is None or self.author_member is None:
            raise CommandError("that only works on a server")
        server = self.cache.servers.get(self.server_id)
        role = server.roles.get(role_id) if server else None
        if role is None:
            raise CommandError("There is no such role on this server.")
        verdict = check_role_assignable(
            role.rank,
            actor_ranking=self.cache.ranking(self.author_member),
            actor_permissions=self.cache.server_permissions_of(self.author_member),
            actor_is_owner=self.cache.is_owner(self.server_id, self.author_id),
        )
        if not verdict.allowed:
            raise CommandError(
                f"You cannot hand out @{role.name}: you could not assign it yourself "
                f"({verdict.reason.replace('the top role', 'your top role')})."
            )
        bot = await self.bot_member()
        verdict = check_role_assignable(
            role.rank,
            actor_ranking=self.cache.ranking(bot),
            actor_permissions=self.cache.server_permissions_of(bot),
        )
        if not verdict.allowed:
            raise CommandError(
                f"I cannot assign @{role.name}: {verdict.reason.replace('the top role', 'my top role')}. "
                "Move my role above it first."
            )

    def __repr__(self) -> str:
        return f"CommandContext({self.command.qualified_name!r}, author={self.author_id!r})"
