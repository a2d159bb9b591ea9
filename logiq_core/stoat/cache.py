"""Servers, channels, roles, members and users as the bot knows them, kept current from events.

Ready carries only the bot's own member per server, so other members are fetched on demand
(:meth:`Cache.member`) and cached; nothing fetches every member at start-up.

An update event is validated as a whole when it is decoded (its ``data`` is a typed partial
object, see :mod:`logiq_core.stoat.models`): a malformed one never reaches the cache, which keeps
its last good state, so one bad frame can never leave, say, a server's default permissions as a
string. A field the update does not carry keeps what the cache knew; a field it clears is removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar, cast

import msgspec
from msgspec import UNSET

from logiq_core.stoat import events as ev
from logiq_core.stoat.models import (
    Channel,
    Member,
    MemberId,
    PartialChannel,
    PartialMember,
    PartialRole,
    PartialServer,
    PartialUser,
    Role,
    Server,
    User,
    parse_timestamp,
)
from logiq_core.stoat.permissions import (
    Override,
    RoleGrant,
    channel_permissions,
    effective_permissions,
    member_ranking,
    server_permissions,
)
from logiq_core.stoat.rest import StoatAPIError

# What each update event merges into the cached object: fields of the partial object that the
# cache keeps (the others, like a server's description, are not held and so not merged).
SERVER_FIELDS = ("name", "owner", "default_permissions", "channels")
CHANNEL_FIELDS = ("name", "default_permissions", "role_permissions")
MEMBER_FIELDS = ("roles", "nickname", "timeout", "can_publish", "can_receive")
ROLE_FIELDS = ("name", "permissions", "colour", "hoist", "rank")
USER_FIELDS = ("username", "display_name", "online")


def _merge(target: msgspec.Struct, data: msgspec.Struct, fields: tuple[str, ...]) -> None:
    """Copy every one of ``fields`` that ``data`` carries onto ``target`` (an absent field,
    UNSET, keeps what the cache knew)."""
    for name in fields:
        value = getattr(data, name)
        if value is not UNSET:
            setattr(target, name, value)


def _check_merged_fields() -> None:
    """Each merged field exists on both sides (a typo would otherwise merge nothing, silently)."""
    for fields, target, partial in (
        (SERVER_FIELDS, Server, PartialServer),
        (CHANNEL_FIELDS, Channel, PartialChannel),
        (MEMBER_FIELDS, Member, PartialMember),
        (ROLE_FIELDS, Role, PartialRole),
        (USER_FIELDS, User, PartialUser),
    ):
        missing = set(fields) - (set(target.__struct_fields__) & set(partial.__struct_fields__))
        if missing:
            raise TypeError(f"{partial.__name__} -> {target.__name__}: no field {sorted(missing)}")


_check_merged_fields()

MemberFetcher = Callable[[str, str], Awaitable[Member]]
UserFetcher = Callable[[str], Awaitable[User]]
AllMembersFetcher = Callable[[str], Awaitable[tuple[list[Member], list[User]]]]


class Cache:
    """The bot's view of Stoat. All reads are in memory; :meth:`member` may fetch once."""

    def __init__(
        self,
        fetch_member: MemberFetcher | None = None,
        fetch_user: UserFetcher | None = None,
        fetch_all_members: AllMembersFetcher | None = None,
    ) -> None:
        self.self_user: User | None = None
        self.servers: dict[str, Server] = {}
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.members: dict[str, dict[str, Member]] = {}  # server id -> user id -> member
        self._fetch_member = fetch_member
        self._fetch_user = fetch_user
        self._fetch_all_members = fetch_all_members
        self.fully_loaded: set[str] = set()  # servers whose whole member list was fetched

    # --- lifecycle ----------------------------------------------------------------------------
    def load_ready(self, ready: ev.Ready, self_user_id: str | None = None) -> None:
        """Rebuild from a Ready (Stoat has no resume: each connect starts afresh).

        A field the Ready does not carry keeps what the cache knew for it.
        """
        if ready.servers is not None:
            self.servers = {server.id: server for server in ready.servers}
            self.members = {server.id: {} for server in ready.servers}
            self.fully_loaded.clear()
        if ready.channels is not None:
            self.channels = {channel.id: channel for channel in ready.channels}
        if ready.users is not None:
            self.users = {user.id: user for user in ready.users}
        for member in ready.members or ():
            self.members.setdefault(member.id.server, {})[member.id.user] = member
        if self_user_id and self_user_id in self.users:
            self.self_user = self.users[self_user_id]

    @property
    def bot_id(self) -> str | None:
        return self.self_user.id if self.self_user else None

    # --- reads --------------------------------------------------------------------------------
    def server_of_channel(self, channel_id: str) -> str | None:
        channel = self.channels.get(channel_id)
        return channel.server if channel else None

    def cached_member(self, server_id: str, user_id: str) -> Member | None:
        return self.members.get(server_id, {}).get(user_id)

    async def member(self, server_id: str, user_id: str) -> Member:
        """A member, from the cache or fetched once over REST (and cached)."""
        cached = self.cached_member(server_id, user_id)
        if cached is not None:
            return cached
        if self._fetch_member is None:
            raise LookupError(f"member {user_id} of {server_id} is not cached")
        member = await self._fetch_member(server_id, user_id)
        self.members.setdefault(server_id, {})[user_id] = member
        # Members carry no names; replies address people by name, so learn it now, once. The
        # member is known either way: Stoat failing on the name does not fail the lookup.
        with contextlib.suppress(StoatAPIError):
            await self.ensure_user(user_id)
        return member

    async def load_all_members(self, server_id: str) -> bool:
        """Fetch a server's whole member list once (for lookups by name); False if unavailable.

        Never done at start-up: only when a command needs to find a member by name.
        """
        if server_id in self.fully_loaded:
            return True
        if self._fetch_all_members is None:
            return False
        members, users = await self._fetch_all_members(server_id)
        for user in users:
            self.users.setdefault(user.id, user)
        for member in members:
            self.members.setdefault(server_id, {}).setdefault(member.user_id, member)
        self.fully_loaded.add(server_id)
        return True

    async def learn_member_names(self, server_id: str, individually_up_to: int = 25) -> bool:
        """Make every member of a server findable by name; False when nothing new was learnt.

        The first time, the whole member list is fetched once. Later, members who joined since
        (join events carry no user object) have their users fetched one by one, or the list is
        fetched again when there are many of them.
        """
        if server_id not in self.fully_loaded:
            return await self.load_all_members(server_id)
        nameless = [u for u in self.members.get(server_id, {}) if u not in self.users]
        if not nameless:
            return False
        if len(nameless) <= individually_up_to:
            for user_id in nameless:
                await self.ensure_user(user_id)
            return True
        self.fully_loaded.discard(server_id)
        return await self.load_all_members(server_id)

    async def ensure_user(self, user_id: str) -> User | None:
        """The user, fetched once if not known yet (None if Stoat does not know them).

        Raises :class:`StoatAPIError` (e.g. :class:`StoatUnavailable`) when Stoat cannot say.
        """
        user = self.users.get(user_id)
        if user is None and self._fetch_user is not None:
            try:
                user = self.users[user_id] = await self._fetch_user(user_id)
            except StoatAPIError as exc:
                if exc.not_found:
                    return None
                raise  # Stoat failing to answer is not "no such user"
        return user

    def role_grants(self, server_id: str, role_ids: list[str]) -> list[RoleGrant]:
        server = self.servers.get(server_id)
        if server is None:
            return []
        return [server.roles[r].grant(r) for r in role_ids if r in server.roles]

    def is_owner(self, server_id: str, user_id: str) -> bool:
        server = self.servers.get(server_id)
        return server is not None and server.owner == user_id

    def ranking(self, member: Member) -> int:
        return member_ranking(
            self.role_grants(member.server_id, member.roles),
            is_owner=self.is_owner(member.server_id, member.user_id),
        )

    def default_permissions(self, server_id: str) -> int:
        server = self.servers.get(server_id)
        return server.default_permissions if server else 0

    def channel_overrides(self, channel_id: str) -> tuple[Override | None, dict[str, Override]]:
        channel = self.channels.get(channel_id)
        if channel is None:
            return None, {}
        default = channel.default_permissions.to_override() if channel.default_permissions else None
        return default, {r: o.to_override() for r, o in channel.role_permissions.items()}

    def _member_state(self, member: Member, now: datetime | None) -> dict[str, bool]:
        """What about the member changes their permissions besides roles (the keyword arguments
        of :func:`server_permissions` and :func:`channel_permissions`)."""
        return {
            "is_owner": self.is_owner(member.server_id, member.user_id),
            "timed_out": member.timed_out_at(now),
            "can_publish": member.can_publish,
            "can_receive": member.can_receive,
        }

    def server_permissions_of(self, member: Member, now: datetime | None = None) -> int:
        return server_permissions(
            self.default_permissions(member.server_id),
            self.role_grants(member.server_id, member.roles),
            **self._member_state(member, now),
        )

    def channel_permissions_of(self, member: Member, channel_id: str, now: datetime | None = None) -> int:
        default, role_overrides = self.channel_overrides(channel_id)
        return channel_permissions(
            self.default_permissions(member.server_id),
            self.role_grants(member.server_id, member.roles),
            channel_default=default,
            channel_role_overrides=role_overrides,
            **self._member_state(member, now),
        )

    def effective_permissions_of(self, member: Member, channel_id: str, now: datetime | None = None) -> int:
        """Server-level bits from the server, channel bits from the channel (see permissions)."""
        return effective_permissions(
            self.server_permissions_of(member, now), self.channel_permissions_of(member, channel_id, now)
        )

    # --- writes from events -------------------------------------------------------------------
    def apply(self, event: ev.StoatEvent) -> None:
        """Update the cache from one event (events the cache does not track are ignored)."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def remember_member(self, member: Member) -> None:
        self.members.setdefault(member.id.server, {})[member.id.user] = member

    def remember_user(self, user: User) -> None:
        self.users[user.id] = user

    def _server_create(self, event: ev.ServerCreate) -> None:
        self.servers[event.id] = event.server
        self.members.setdefault(event.id, {})
        for channel in event.channels:
            self.channels[channel.id] = channel

    def _server_update(self, event: ev.ServerUpdate) -> None:
        server = self.servers.get(event.id)
        if server is None:
            return
        _merge(server, event.data, SERVER_FIELDS)

    def _server_delete(self, event: ev.ServerDelete) -> None:
        server = self.servers.pop(event.id, None)
        self.members.pop(event.id, None)
        if server is not None:
            for channel_id in server.channels:
                self.channels.pop(channel_id, None)

    def _channel_create(self, event: ev.ChannelCreate) -> None:
        channel = msgspec.convert(msgspec.to_builtins(event), Channel, from_attributes=False)
        self.channels[channel.id] = channel
        if channel.server and channel.server in self.servers:
            server = self.servers[channel.server]
            if channel.id not in server.channels:
                server.channels.append(channel.id)

    def _channel_update(self, event: ev.ChannelUpdate) -> None:
        channel = self.channels.get(event.id)
        if channel is None:
            return
        _merge(channel, event.data, CHANNEL_FIELDS)
        if "DefaultPermissions" in event.clear:
            channel.default_permissions = None

    def _channel_delete(self, event: ev.ChannelDelete) -> None:
        channel = self.channels.pop(event.id, None)
        if channel and channel.server in self.servers:
            server = self.servers[channel.server]
            if event.id in server.channels:
                server.channels.remove(event.id)

    def _member_join(self, event: ev.ServerMemberJoin) -> None:
        member = event.member or Member(id=MemberId(server=event.id, user=event.user), joined_at="", roles=[])
        self.remember_member(member)

    def _member_leave(self, event: ev.ServerMemberLeave) -> None:
        self.members.get(event.id, {}).pop(event.user, None)
        if event.user == self.bot_id:
            self._server_delete(ev.ServerDelete(id=event.id))

    def _member_update(self, event: ev.ServerMemberUpdate) -> None:
        member = self.cached_member(event.id.server, event.id.user)
        if member is None:
            return  # not cached: it will be fetched fresh when needed
        data = event.data
        if isinstance(data.timeout, str):
            parse_timestamp(data.timeout)  # an unreadable time would break every check later
        for field in event.clear:
            if field == "Nickname":
                member.nickname = None
            elif field == "Roles":
                member.roles = []
            elif field == "Timeout":
                member.timeout = None
            elif field == "CanPublish":
                member.can_publish = True  # removed means the default: not voice-muted
            elif field == "CanReceive":
                member.can_receive = True
        _merge(member, data, MEMBER_FIELDS)

    def _role_update(self, event: ev.ServerRoleUpdate) -> None:
        server = self.servers.get(event.id)
        if server is None:
            return
        existing = server.roles.get(event.role_id)
        role = msgspec.structs.replace(existing) if existing else Role(name="")  # a new role: created
        _merge(role, event.data, ROLE_FIELDS)
        if "Colour" in event.clear:
            role.colour = None
        server.roles[event.role_id] = role

    def _role_delete(self, event: ev.ServerRoleDelete) -> None:
        server = self.servers.get(event.id)
        if server is not None:
            server.roles.pop(event.role_id, None)
        for member in self.members.get(event.id, {}).values():
            if event.role_id in member.roles:
                member.roles.remove(event.role_id)

    def _role_ranks(self, event: ev.ServerRoleRanksUpdate) -> None:
        server = self.servers.get(event.id)
        if server is None:
            return
        for rank, role_id in enumerate(event.ranks):
            if role_id in server.roles:
                server.roles[role_id].rank = rank

    def _user_update(self, event: ev.UserUpdate) -> None:
        user = self.users.get(event.id)
        if user is None:
            return
        _merge(user, event.data, USER_FIELDS)
        if "DisplayName" in event.clear:
            user.display_name = None

    def _message(self, event: ev.MessageEvent) -> None:
        # Messages carry the author's user and member objects: a free cache fill.
        if event.user is not None and event.user.id not in self.users:
            self.users[event.user.id] = event.user
        if event.member is not None:
            self.remember_member(event.member)

    def _wipe(self, event: ev.UserPlatformWipe) -> None:
        self.users.pop(event.user_id, None)
        for members in self.members.values():
            members.pop(event.user_id, None)


E = TypeVar("E", bound=ev.StoatEvent)

_Handler = Callable[[Cache, ev.StoatEvent], None]
_HANDLERS: dict[type, _Handler] = {}
"""The cache's handler for each event class, looked up by the event's exact class (one dict
lookup per event: this is on every event's path)."""


def _handles(event_class: type[E], handler: Callable[[Cache, E], None]) -> None:
    """Register ``handler`` for ``event_class``; mypy checks that it takes that class. It is only
    ever called with events of exactly that class (the lookup is by ``type(event)``), so it is
    stored as taking any event."""
    _HANDLERS[event_class] = cast(_Handler, handler)


_handles(ev.ServerCreate, Cache._server_create)
_handles(ev.ServerUpdate, Cache._server_update)
_handles(ev.ServerDelete, Cache._server_delete)
_handles(ev.ChannelCreate, Cache._channel_create)
_handles(ev.ChannelUpdate, Cache._channel_update)
_handles(ev.ChannelDelete, Cache._channel_delete)
_handles(ev.ServerMemberJoin, Cache._member_join)
_handles(ev.ServerMemberLeave, Cache._member_leave)
_handles(ev.ServerMemberUpdate, Cache._member_update)
_handles(ev.ServerRoleUpdate, Cache._role_update)
_handles(ev.ServerRoleDelete, Cache._role_delete)
_handles(ev.ServerRoleRanksUpdate, Cache._role_ranks)
_handles(ev.UserUpdate, Cache._user_update)
_handles(ev.MessageEvent, Cache._message)
_handles(ev.UserPlatformWipe, Cache._wipe)
