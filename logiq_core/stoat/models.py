"""Stoat's wire objects as typed, fast structs (msgspec).

Only the fields Logiq reads are declared; unknown fields are ignored, so a newer server adding
fields never breaks decoding. Field names follow the wire (``_id`` is exposed as ``id``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from logiq_core.stoat.permissions import Override, RoleGrant


class OverrideField(msgspec.Struct, frozen=True):
    """``{"a": allow, "d": deny}`` as stored on roles and channels."""

    a: int = 0
    d: int = 0

    def to_override(self) -> Override:
        return Override(self.a, self.d)


class BotInfo(msgspec.Struct, frozen=True):
    owner: str


class User(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")
    username: str
    discriminator: str = "0000"
    display_name: str | None = None
    bot: BotInfo | None = None
    online: bool = False

    @property
    def is_bot(self) -> bool:
        return self.bot is not None


class MemberId(msgspec.Struct, frozen=True):
    server: str
    user: str


class Member(msgspec.Struct, kw_only=True):
    id: MemberId = msgspec.field(name="_id")
    joined_at: str = ""
    nickname: str | None = None
    roles: list[str] = msgspec.field(default_factory=list)
    timeout: str | None = None
    can_publish: bool = True
    can_receive: bool = True

    @property
    def server_id(self) -> str:
        return self.id.server

    @property
    def user_id(self) -> str:
        return self.id.user

    def timed_out_at(self, now: datetime | None = None) -> bool:
        """Whether a timeout is in force at ``now`` (default: the current time)."""
        if not self.timeout:
            return False
        until = parse_timestamp(self.timeout)
        return until > (now or datetime.now(UTC))


class Role(msgspec.Struct, kw_only=True):
    name: str
    permissions: OverrideField = OverrideField()
    colour: str | None = None
    hoist: bool = False
    rank: int = 0

    def grant(self, role_id: str) -> RoleGrant:
        return RoleGrant(role_id, self.rank, self.permissions.to_override())


class Server(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")
    owner: str
    name: str
    channels: list[str] = msgspec.field(default_factory=list)
    roles: dict[str, Role] = msgspec.field(default_factory=dict)
    default_permissions: int = 0


class Channel(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")
    channel_type: str
    server: str | None = None
    name: str | None = None
    recipients: list[str] | None = None
    default_permissions: OverrideField | None = None
    role_permissions: dict[str, OverrideField] = msgspec.field(default_factory=dict)
    user: str | None = None

    @property
    def is_dm(self) -> bool:
        return self.channel_type in ("DirectMessage", "Group", "SavedMessages")


class Masquerade(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str | None = None
    avatar: str | None = None
    colour: str | None = None


class Reply(msgspec.Struct, kw_only=True):
    id: str
    mention: bool = False


class SystemMessage(msgspec.Struct, kw_only=True):
    type: str


class Attachment(msgspec.Struct, kw_only=True):
    """A file on Stoat's file server (Autumn), as attached to a message."""

    id: str = msgspec.field(name="_id")
    tag: str = "attachments"
    filename: str = ""
    content_type: str = ""
    size: int = 0


class Message(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="_id")
    channel: str
    author: str
    content: str | None = None
    system: SystemMessage | None = None
    mentions: list[str] | None = None
    role_mentions: list[str] | None = None
    replies: list[str] | None = None
    masquerade: Masquerade | None = None
    user: User | None = None
    member: Member | None = None
    webhook: dict[str, object] | None = None
    reactions: dict[str, list[str]] | None = None
    edited: str | None = None
    attachments: list[Attachment] | None = None


# --- partial objects: the ``data`` of update events -------------------------------------------
# Each field is UNSET when the update does not carry it (the cache keeps what it knew); a field
# sent as null is None where Stoat's object allows null. Fields Logiq does not model are ignored,
# so Stoat adding one never breaks decoding; a modelled field of the wrong type makes the whole
# event a decode problem (logged once and skipped by the gateway), never a half-applied update.
# Nested objects the core never reads (icons, avatars, banners, categories, embeds) are left out,
# and the fields it does not merge into its cache also accept null: they never cost an update.

FieldsServer = Literal["Description", "Categories", "SystemMessages", "Icon", "Banner"]
"""What a ``ServerUpdate`` may ``clear`` (OpenAPI ``FieldsServer``)."""
FieldsChannel = Literal["Description", "Icon", "DefaultPermissions", "Voice"]
"""What a ``ChannelUpdate`` may ``clear`` (OpenAPI ``FieldsChannel``)."""
FieldsMember = Literal["Nickname", "Avatar", "Roles", "Timeout", "CanReceive", "CanPublish", "JoinedAt"]
"""What a ``ServerMemberUpdate`` may ``clear`` (OpenAPI ``FieldsMember``)."""
FieldsRole = Literal["Colour"]
"""What a ``ServerRoleUpdate`` may ``clear`` (OpenAPI ``FieldsRole``)."""
FieldsUser = Literal[
    "Avatar", "StatusText", "StatusPresence", "ProfileContent", "ProfileBackground", "DisplayName", "Internal"
]
"""What a ``UserUpdate`` may ``clear`` (OpenAPI ``FieldsUser``)."""


class PartialServer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The changed fields of a :class:`Server` (``ServerUpdate.data``)."""

    owner: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    channels: list[str] | UnsetType = UNSET
    default_permissions: int | UnsetType = UNSET
    flags: int | UnsetType | None = UNSET
    nsfw: bool | UnsetType | None = UNSET
    discoverable: bool | UnsetType | None = UNSET
    analytics: bool | UnsetType | None = UNSET


class PartialChannel(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The changed fields of a :class:`Channel` (``ChannelUpdate.data``)."""

    name: str | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET
    owner: str | UnsetType | None = UNSET
    nsfw: bool | UnsetType | None = UNSET
    active: bool | UnsetType | None = UNSET
    default_permissions: OverrideField | UnsetType | None = UNSET
    role_permissions: dict[str, OverrideField] | UnsetType = UNSET


class PartialMember(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The changed fields of a :class:`Member` (``ServerMemberUpdate.data``)."""

    joined_at: str | UnsetType | None = UNSET
    nickname: str | UnsetType | None = UNSET
    roles: list[str] | UnsetType = UNSET
    timeout: str | UnsetType | None = UNSET
    can_publish: bool | UnsetType = UNSET
    can_receive: bool | UnsetType = UNSET


class PartialRole(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The changed fields of a :class:`Role` (``ServerRoleUpdate.data``; also sent for a new role)."""

    name: str | UnsetType = UNSET
    permissions: OverrideField | UnsetType = UNSET
    colour: str | UnsetType | None = UNSET
    hoist: bool | UnsetType = UNSET
    rank: int | UnsetType = UNSET


class PartialUser(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The changed fields of a :class:`User` (``UserUpdate.data``)."""

    username: str | UnsetType = UNSET
    discriminator: str | UnsetType | None = UNSET
    display_name: str | UnsetType | None = UNSET
    badges: int | UnsetType | None = UNSET
    flags: int | UnsetType | None = UNSET
    online: bool | UnsetType = UNSET


class PartialMessage(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The changed fields of a :class:`Message` (``MessageUpdate.data``, e.g. an edit)."""

    content: str | UnsetType | None = UNSET
    edited: str | UnsetType | None = UNSET
    mentions: list[str] | UnsetType | None = UNSET
    role_mentions: list[str] | UnsetType | None = UNSET
    reactions: dict[str, list[str]] | UnsetType | None = UNSET
    pinned: bool | UnsetType | None = UNSET


def parse_timestamp(value: str) -> datetime:
    """Parse Stoat's ISO 8601 timestamps (``Z`` suffix, optional fraction)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    """Format a timestamp the way Stoat accepts it: ISO 8601, UTC, ``Z`` suffix."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_VALUES = {char: index for index, char in enumerate(ULID_ALPHABET)}


def is_ulid(value: str) -> bool:
    """Whether ``value`` has the shape of a Stoat id (26 Crockford base32 characters)."""
    return len(value) == 26 and all(char in _ULID_VALUES for char in value) and value[0] <= "7"


def ulid_time(value: str) -> datetime:
    """The creation time encoded in a ULID's first 10 characters."""
    millis = 0
    for char in value[:10]:
        millis = millis * 32 + _ULID_VALUES[char]
    return datetime.fromtimestamp(millis / 1000, tz=UTC)
