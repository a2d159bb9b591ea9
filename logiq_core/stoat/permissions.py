"""Stoat's permission model, pure: no I/O, no cache, no clock of its own.

Follows PROTOCOL.md §7 (stoat.js 7.3.4 and the Stoat server up to 0.15.1):

* server level: owner → everything; else ``server.default_permissions``, then each of the
  member's roles from the lowest priority (largest rank) to the highest (smallest rank),
  ``p = (p | allow) & ~deny``; ``can_publish``/``can_receive`` masks; a timeout keeps only
  ``ALLOW_IN_TIMEOUT``;
* channel level: the server-level result, the channel's default override, then the channel's
  overrides for the member's roles in the same rank order, the timeout mask, and finally no
  ``ViewChannel`` means no permission at all;
* hierarchy: a member's ranking is the smallest rank among their roles (no roles: +∞, the owner:
  −∞). An actor may act on a target only if ``target.ranking > actor.ranking`` strictly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntFlag

NO_ROLES_RANKING = 2**63 - 1  # the server's i64::MAX
OWNER_RANKING = -(2**63)


class Permission(IntFlag):
    """Channel/server permission bits (PROTOCOL.md §7)."""

    ManageChannel = 1 << 0
    ManageServer = 1 << 1
    ManagePermissions = 1 << 2
    ManageRole = 1 << 3
    ManageCustomisation = 1 << 4
    KickMembers = 1 << 6
    BanMembers = 1 << 7
    TimeoutMembers = 1 << 8
    AssignRoles = 1 << 9
    ChangeNickname = 1 << 10
    ManageNicknames = 1 << 11
    ChangeAvatar = 1 << 12
    RemoveAvatars = 1 << 13
    ViewChannel = 1 << 20
    ReadMessageHistory = 1 << 21
    SendMessage = 1 << 22
    ManageMessages = 1 << 23
    ManageWebhooks = 1 << 24
    InviteOthers = 1 << 25
    SendEmbeds = 1 << 26
    UploadFiles = 1 << 27
    Masquerade = 1 << 28
    React = 1 << 29
    Connect = 1 << 30
    Speak = 1 << 31
    Video = 1 << 32
    MuteMembers = 1 << 33
    DeafenMembers = 1 << 34
    MoveMembers = 1 << 35
    Listen = 1 << 36
    MentionEveryone = 1 << 37
    MentionRoles = 1 << 38
    BypassSlowmode = 1 << 39
    ViewAuditLogs = 1 << 40


GRANT_ALL_SAFE = 0x000FFFFFFFFFFFFF
ALLOW_IN_TIMEOUT = Permission.ViewChannel | Permission.ReadMessageHistory
DEFAULT_PERMISSION = (
    Permission.ViewChannel
    | Permission.ReadMessageHistory
    | Permission.SendMessage
    | Permission.InviteOthers
    | Permission.SendEmbeds
    | Permission.UploadFiles
    | Permission.Connect
    | Permission.Speak
    | Permission.Video
    | Permission.Listen
)
DEFAULT_PERMISSION_SERVER = (
    DEFAULT_PERMISSION | Permission.React | Permission.ChangeNickname | Permission.ChangeAvatar
)


SERVER_LEVEL = (
    Permission.ManageServer
    | Permission.ManageRole
    | Permission.ManageCustomisation
    | Permission.KickMembers
    | Permission.BanMembers
    | Permission.TimeoutMembers
    | Permission.AssignRoles
    | Permission.ChangeNickname
    | Permission.ManageNicknames
    | Permission.ChangeAvatar
    | Permission.RemoveAvatars
    | Permission.ViewAuditLogs
)
"""Bits that act on the server or its members, not on a channel: Stoat checks them against the
server-level permissions (PROTOCOL.md §7), so a channel override can neither grant nor deny them."""


def effective_permissions(server_level: int, channel_level: int) -> int:
    """What a member may do from a channel: server-level bits from the server-level result,
    channel bits from the channel's (a channel override never grants a kick or a ban)."""
    return (server_level & SERVER_LEVEL) | (channel_level & ~SERVER_LEVEL)


def permission_names(value: int) -> list[str]:
    """The names of the bits set in ``value``, in bit order (for messages to people)."""
    return [p.name for p in Permission if value & p.value and p.name]


@dataclass(frozen=True, slots=True)
class Override:
    """An allow/deny pair, as Stoat stores it (``{"a": allow, "d": deny}``)."""

    allow: int = 0
    deny: int = 0

    def apply(self, permissions: int) -> int:
        return (permissions | self.allow) & ~self.deny

    @classmethod
    def from_wire(cls, value: Mapping[str, int] | None) -> Override:
        if not value:
            return cls()
        return cls(int(value.get("a", 0)), int(value.get("d", 0)))


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """What permission computation needs of a role: its id, rank and server-level override."""

    id: str
    rank: int
    permissions: Override = Override()


def ranked(roles: Iterable[RoleGrant]) -> list[RoleGrant]:
    """Roles from the highest priority (smallest rank) to the lowest; ties broken by id."""
    return sorted(roles, key=lambda role: (role.rank, role.id))


def member_ranking(roles: Iterable[RoleGrant], *, is_owner: bool = False) -> int:
    """The member's ranking: smallest rank of their roles; +∞ with none; −∞ for the owner."""
    if is_owner:
        return OWNER_RANKING
    return min((role.rank for role in roles), default=NO_ROLES_RANKING)


def server_permissions(
    default_permissions: int,
    roles: Sequence[RoleGrant],
    *,
    is_owner: bool = False,
    timed_out: bool = False,
    can_publish: bool = True,
    can_receive: bool = True,
) -> int:
    """A member's permissions at server level (PROTOCOL.md §7, steps 1-5)."""
    if is_owner:
        return GRANT_ALL_SAFE
    permissions = default_permissions
    for role in reversed(ranked(roles)):  # lowest priority first: the top role is applied last
        permissions = role.permissions.apply(permissions)
    if not can_publish:
        permissions &= ~(Permission.Speak | Permission.Video)
    if not can_receive:
        permissions &= ~Permission.Listen
    if timed_out:
        permissions &= ALLOW_IN_TIMEOUT
    return permissions


def channel_permissions(
    default_permissions: int,
    roles: Sequence[RoleGrant],
    *,
    channel_default: Override | None = None,
    channel_role_overrides: Mapping[str, Override] | None = None,
    is_owner: bool = False,
    timed_out: bool = False,
    can_publish: bool = True,
    can_receive: bool = True,
) -> int:
    """A member's permissions in a server text channel (stoat.js 7.3.4 order)."""
    if is_owner:
        return GRANT_ALL_SAFE
    permissions = server_permissions(
        default_permissions,
        roles,
        can_publish=can_publish,
        can_receive=can_receive,
    )
    if channel_default is not None:
        permissions = channel_default.apply(permissions)
    overrides = channel_role_overrides or {}
    for role in reversed(ranked(roles)):
        override = overrides.get(role.id)
        if override is not None:
            permissions = override.apply(permissions)
    if timed_out:
        permissions &= ALLOW_IN_TIMEOUT
    if not permissions & Permission.ViewChannel:
        return 0
    return permissions


def missing(required: int, held: int) -> int:
    """The bits of ``required`` that ``held`` lacks (0 when nothing is missing)."""
    return required & ~held


@dataclass(frozen=True, slots=True)
class HierarchyVerdict:
    """Whether an actor may act on a target, and if not, which rule failed."""

    allowed: bool
    reason: str = ""


def check_hierarchy(
    *,
    actor_ranking: int,
    target_ranking: int,
    target_is_owner: bool,
    actor_is_self_target: bool = False,
) -> HierarchyVerdict:
    """Stoat's rule: act only on targets ranked strictly below you; never on the owner."""
    if target_is_owner:
        return HierarchyVerdict(False, "they own this server")
    if actor_is_self_target:
        return HierarchyVerdict(False, "that is yourself")
    if actor_ranking == OWNER_RANKING:
        return HierarchyVerdict(True)
    if target_ranking > actor_ranking:
        return HierarchyVerdict(True)
    if target_ranking == actor_ranking:
        return HierarchyVerdict(False, "their top role is the same as yours")
    return HierarchyVerdict(False, "their top role is above yours")


def can_grant(held: int, before: Override | int, after: Override | int) -> tuple[bool, int]:
    """The grant rule: one may newly allow, or stop denying, only bits one holds.

    Returns ``(ok, offending_bits)``. Plain ints (server default permissions) are treated as an
    allow with no deny.
    """
    old = before if isinstance(before, Override) else Override(int(before), 0)
    new = after if isinstance(after, Override) else Override(int(after), 0)
    newly_allowed = new.allow & ~old.allow
    no_longer_denied = old.deny & ~new.deny
    offending = (newly_allowed | no_longer_denied) & ~held
    return offending == 0, offending


def check_role_assignable(
    role_rank: int,
    *,
    actor_ranking: int,
    actor_permissions: int,
    actor_is_owner: bool = False,
) -> HierarchyVerdict:
    """Whether an actor could hand out a role themselves: they hold AssignRoles (server level)
    and the role ranks strictly below their top role; the owner may assign any role.

    Used for the invoker when a command configures a role the bot will hand out later, for the
    bot itself, and again at hand-out time for whoever configured the role.
    """
    if actor_is_owner:
        return HierarchyVerdict(True)
    if not actor_permissions & Permission.AssignRoles:
        return HierarchyVerdict(False, "it needs the AssignRoles permission")
    if role_rank <= actor_ranking:
        return HierarchyVerdict(False, "it ranks at or above the top role")
    return HierarchyVerdict(True)
