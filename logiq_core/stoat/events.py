"""Typed events parsed from the Stoat events socket (PROTOCOL.md §2-4).

Decoding is one msgspec pass straight from the frame's bytes into the right struct, chosen by
the ``type`` tag. Unknown event types are reported to the caller (logged once, skipped); a frame
that fails to decode never raises out of :func:`decode_frame`.

Every decoded event is a :data:`StoatEvent` (the union of the classes here), the one type the
gateway, the cache, the dispatcher and listeners pass along. Update events carry typed partial
objects (:class:`~logiq_core.stoat.models.PartialServer` ...) and ``clear`` lists of the field
names the spec allows, so a malformed update is refused whole at decoding.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, final, get_args

import msgspec

from logiq_core.stoat.models import (
    Channel,
    FieldsChannel,
    FieldsMember,
    FieldsRole,
    FieldsServer,
    FieldsUser,
    Member,
    MemberId,
    Message,
    PartialChannel,
    PartialMember,
    PartialMessage,
    PartialRole,
    PartialServer,
    PartialUser,
    Server,
    User,
)


class ChannelLookup(Protocol):
    """Where a channel lives (the cache): how an event naming only its channel finds its server."""

    def server_of_channel(self, channel_id: str) -> str | None: ...


class Event(msgspec.Struct, tag_field="type", kw_only=True):
    """Base of every event; ``type`` on the wire selects the subclass."""

    # Which field names the event's server: one holding the server's id, or one holding a
    # channel's id (looked up in the cache). Neither: the event belongs to no server.
    server_field: ClassVar[str | None] = None
    channel_field: ClassVar[str | None] = None

    @property
    def event_type(self) -> str:
        return str(self.__struct_config__.tag)

    server_id_hint: str | None = None
    """Filled in by the bot after decoding: the server this event belongs to (None: no server)."""

    def server_in(self, channels: ChannelLookup) -> str | None:
        """The server this event belongs to, looked up before the cache applies the event."""
        if self.server_field is not None:
            server_id: str = getattr(self, self.server_field)
            return server_id
        if self.channel_field is not None:
            return channels.server_of_channel(getattr(self, self.channel_field))
        return None


# --- connection -------------------------------------------------------------------------------
class Authenticated(Event, tag="Authenticated"):
    pass


class Ready(Event, tag="Ready"):
    """Every field is optional on the wire (PROTOCOL.md §3): an absent one (None) means "not
    sent", and the cache keeps what it knew for it instead of wiping it."""

    users: list[User] | None = None
    servers: list[Server] | None = None
    channels: list[Channel] | None = None
    members: list[Member] | None = None
    # Emojis are not modelled: the core never reads them, and a Ready must not fail on them.
    emojis: list[dict[str, Any]] | None = None


class Pong(Event, tag="Pong"):
    data: int | None = None


class ErrorEvent(Event, tag="Error"):
    # Left open: an Error ends the session whatever it carries (only ``type`` is read).
    data: dict[str, Any] | None = None
    error: str | None = None  # the older, Revolt-era shape

    @property
    def error_type(self) -> str:
        if self.data and isinstance(self.data.get("type"), str):
            return str(self.data["type"])
        return self.error or "Unknown"


class Logout(Event, tag="Logout"):
    pass


class Auth(Event, tag="Auth"):
    event_type_name: str | None = msgspec.field(default=None, name="event_type")


class Bulk(Event, tag="Bulk"):
    v: list[msgspec.Raw] = msgspec.field(default_factory=list)


class UserSlowmodes(Event, tag="UserSlowmodes"):
    # Not in the spec (a newer server's event); parsed so it is not "unknown", never read.
    slowmodes: list[dict[str, Any]] = msgspec.field(default_factory=list)


# --- messages ---------------------------------------------------------------------------------
class MessageEvent(Message, tag_field="type", tag="Message", kw_only=True):
    """A new message (the full Message object with ``type: "Message"``)."""

    server_id_hint: str | None = None

    @property
    def event_type(self) -> str:
        return "Message"

    def server_in(self, channels: ChannelLookup) -> str | None:
        return channels.server_of_channel(self.channel)


class MessageUpdate(Event, tag="MessageUpdate"):
    channel_field = "channel"  # the id is the message\'s
    id: str
    channel: str
    data: PartialMessage = msgspec.field(default_factory=PartialMessage)
    clear: list[str] = msgspec.field(default_factory=list)  # the spec names no message fields


class MessageAppend(Event, tag="MessageAppend"):
    channel_field = "channel"  # the id is the message\'s
    id: str
    channel: str
    # ``{"embeds": [...]}``: embeds are an open union of shapes (website, image, video, text)
    # that the core passes on unread.
    append: dict[str, Any] = msgspec.field(default_factory=dict)


class MessageDelete(Event, tag="MessageDelete"):
    channel_field = "channel"  # the id is the message\'s
    id: str
    channel: str


class BulkMessageDelete(Event, tag="BulkMessageDelete"):
    channel_field = "channel"  # the id is the message\'s
    channel: str
    ids: list[str] = msgspec.field(default_factory=list)


class MessageReact(Event, tag="MessageReact"):
    channel_field = "channel_id"
    id: str
    channel_id: str
    user_id: str
    emoji_id: str


class MessageUnreact(Event, tag="MessageUnreact"):
    channel_field = "channel_id"
    id: str
    channel_id: str
    user_id: str
    emoji_id: str


class MessageRemoveReaction(Event, tag="MessageRemoveReaction"):
    channel_field = "channel_id"
    id: str
    channel_id: str
    emoji_id: str


# --- channels ---------------------------------------------------------------------------------
class ChannelCreate(Channel, tag_field="type", tag="ChannelCreate", kw_only=True):
    """A channel the bot can now see (the full Channel object)."""

    server_id_hint: str | None = None

    @property
    def event_type(self) -> str:
        return "ChannelCreate"

    def server_in(self, channels: ChannelLookup) -> str | None:
        return self.server


class ChannelUpdate(Event, tag="ChannelUpdate"):
    channel_field = "id"
    id: str
    data: PartialChannel = msgspec.field(default_factory=PartialChannel)
    clear: list[FieldsChannel] = msgspec.field(default_factory=list)


class ChannelDelete(Event, tag="ChannelDelete"):
    channel_field = "id"
    id: str


class ChannelGroupJoin(Event, tag="ChannelGroupJoin"):
    id: str
    user: str


class ChannelGroupLeave(Event, tag="ChannelGroupLeave"):
    id: str
    user: str


class ChannelStartTyping(Event, tag="ChannelStartTyping"):
    channel_field = "id"
    id: str
    user: str


class ChannelStopTyping(Event, tag="ChannelStopTyping"):
    channel_field = "id"
    id: str
    user: str


class ChannelAck(Event, tag="ChannelAck"):
    id: str
    user: str
    message_id: str


# --- servers and members ----------------------------------------------------------------------
class ServerCreate(Event, tag="ServerCreate"):
    server_field = "id"
    id: str
    server: Server
    channels: list[Channel] = msgspec.field(default_factory=list)
    emojis: list[dict[str, Any]] = msgspec.field(default_factory=list)  # not modelled, as in Ready


class ServerUpdate(Event, tag="ServerUpdate"):
    server_field = "id"
    id: str
    data: PartialServer = msgspec.field(default_factory=PartialServer)
    clear: list[FieldsServer] = msgspec.field(default_factory=list)


class ServerDelete(Event, tag="ServerDelete"):
    server_field = "id"
    id: str


class ServerMemberJoin(Event, tag="ServerMemberJoin"):
    server_field = "id"
    id: str
    user: str
    member: Member | None = None


class ServerMemberLeave(Event, tag="ServerMemberLeave"):
    server_field = "id"
    id: str
    user: str
    reason: str | None = None


class ServerMemberUpdate(Event, tag="ServerMemberUpdate"):
    id: MemberId
    data: PartialMember = msgspec.field(default_factory=PartialMember)
    clear: list[FieldsMember] = msgspec.field(default_factory=list)

    def server_in(self, channels: ChannelLookup) -> str | None:
        return self.id.server


class ServerRoleUpdate(Event, tag="ServerRoleUpdate"):
    server_field = "id"
    id: str
    role_id: str
    data: PartialRole = msgspec.field(default_factory=PartialRole)
    clear: list[FieldsRole] = msgspec.field(default_factory=list)


class ServerRoleDelete(Event, tag="ServerRoleDelete"):
    server_field = "id"
    id: str
    role_id: str


class ServerRoleRanksUpdate(Event, tag="ServerRoleRanksUpdate"):
    server_field = "id"
    id: str
    ranks: list[str] = msgspec.field(default_factory=list)


# --- users ------------------------------------------------------------------------------------
class UserUpdate(Event, tag="UserUpdate"):
    id: str
    data: PartialUser = msgspec.field(default_factory=PartialUser)
    clear: list[FieldsUser] = msgspec.field(default_factory=list)


class UserPlatformWipe(Event, tag="UserPlatformWipe"):
    user_id: str
    flags: int = 0


class UserRelationship(Event, tag="UserRelationship"):
    # A user object or an id depending on the server's age; bots have no relationships to read.
    user: dict[str, Any] | str | None = None
    status: str | None = None


class UserSettingsUpdate(Event, tag="UserSettingsUpdate"):
    id: str
    # Open by design: settings keys are chosen by clients (``{key: [timestamp, value]}``).
    update: dict[str, Any] = msgspec.field(default_factory=dict)


class UserPresence(Event, tag="UserPresence"):
    id: str
    online: bool = False


# --- emojis and voice (parsed for completeness; the core does not act on them) ----------------
# Their payloads (voice states) are kept as plain objects: not modelled, never read.
class EmojiCreate(Event, tag="EmojiCreate"):
    id: str = msgspec.field(name="_id", default="")


class EmojiDelete(Event, tag="EmojiDelete"):
    id: str


class EmojiUpdate(Event, tag="EmojiUpdate"):
    id: str = ""


class VoiceChannelJoin(Event, tag="VoiceChannelJoin"):
    id: str
    state: dict[str, Any] = msgspec.field(default_factory=dict)


class VoiceChannelLeave(Event, tag="VoiceChannelLeave"):
    id: str
    user: str


class VoiceChannelMove(Event, tag="VoiceChannelMove"):
    user: str
    to: str = ""
    from_: str = msgspec.field(default="", name="from")


class UserVoiceStateUpdate(Event, tag="UserVoiceStateUpdate"):
    id: str
    channel_id: str = ""
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class UserMoveVoiceChannel(Event, tag="UserMoveVoiceChannel"):
    node: str = ""
    token: str = ""


StoatEvent = (
    Authenticated
    | Ready
    | Pong
    | ErrorEvent
    | Logout
    | Auth
    | Bulk
    | UserSlowmodes
    | MessageEvent
    | MessageUpdate
    | MessageAppend
    | MessageDelete
    | BulkMessageDelete
    | MessageReact
    | MessageUnreact
    | MessageRemoveReaction
    | ChannelCreate
    | ChannelUpdate
    | ChannelDelete
    | ChannelGroupJoin
    | ChannelGroupLeave
    | ChannelStartTyping
    | ChannelStopTyping
    | ChannelAck
    | ServerCreate
    | ServerUpdate
    | ServerDelete
    | ServerMemberJoin
    | ServerMemberLeave
    | ServerMemberUpdate
    | ServerRoleUpdate
    | ServerRoleDelete
    | ServerRoleRanksUpdate
    | UserUpdate
    | UserPlatformWipe
    | UserRelationship
    | UserSettingsUpdate
    | UserPresence
    | EmojiCreate
    | EmojiDelete
    | EmojiUpdate
    | VoiceChannelJoin
    | VoiceChannelLeave
    | VoiceChannelMove
    | UserVoiceStateUpdate
    | UserMoveVoiceChannel
)
"""Every event decoded from the socket: the one type the gateway, the cache, the dispatcher and
listeners pass along (narrow it with ``isinstance`` or ``type(event) is ...``)."""

EVENT_TYPES: dict[str, type[StoatEvent]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(StoatEvent)
}

# What each update event may clear, by the spec: a name outside these (a field Stoat learnt to
# clear after this was written) is dropped on decoding instead of failing the whole event.
CLEARABLE: dict[type[StoatEvent], frozenset[str]] = {
    ServerUpdate: frozenset(get_args(FieldsServer)),
    ChannelUpdate: frozenset(get_args(FieldsChannel)),
    ServerMemberUpdate: frozenset(get_args(FieldsMember)),
    ServerRoleUpdate: frozenset(get_args(FieldsRole)),
    UserUpdate: frozenset(get_args(FieldsUser)),
}

_decoder: msgspec.json.Decoder[StoatEvent] = msgspec.json.Decoder(StoatEvent)


class _TypeOnly(msgspec.Struct):
    type: str = ""


_type_decoder = msgspec.json.Decoder(_TypeOnly)


@final
class DecodeProblem(msgspec.Struct, frozen=True):
    """Why a frame produced no event: an unknown type, or a known type with a bad shape."""

    event_type: str
    reason: str
    unknown: bool


def decode_frame(frame: str | bytes) -> list[StoatEvent | DecodeProblem] | DecodeProblem:
    """Decode one socket frame into its events (a ``Bulk`` is flattened, in order).

    Returns a :class:`DecodeProblem` instead of raising for anything undecodable; an undecodable
    event inside a ``Bulk`` appears in the list as a :class:`DecodeProblem` in its place.
    """
    try:
        event = _decoder.decode(frame)
    except msgspec.DecodeError as exc:
        try:
            kind = _type_decoder.decode(frame).type
        except msgspec.DecodeError:
            return DecodeProblem("?", f"not a JSON event object: {exc}", unknown=False)
        if kind not in EVENT_TYPES:
            return DecodeProblem(kind or "?", "unknown event type", unknown=True)
        retried = _without_unknown_clears(frame, EVENT_TYPES[kind])
        if retried is None:
            return DecodeProblem(kind, str(exc), unknown=False)
        event = retried
    if isinstance(event, Bulk):
        flattened: list[StoatEvent | DecodeProblem] = []
        for raw in event.v:
            inner = decode_frame(raw)
            if isinstance(inner, list):
                flattened.extend(inner)
            else:
                flattened.append(inner)
        return flattened
    return [event]


def _without_unknown_clears(frame: str | bytes, kind: type[StoatEvent]) -> StoatEvent | None:
    """The update event decoded without the ``clear`` names Logiq does not know; None when
    those were not what kept it from decoding (only runs for a frame that failed to decode)."""
    known = CLEARABLE.get(kind)
    if known is None:
        return None
    try:
        raw = msgspec.json.decode(frame)
    except msgspec.DecodeError:
        return None
    clear = raw.get("clear") if isinstance(raw, dict) else None
    if not isinstance(clear, list):
        return None
    kept = [name for name in clear if not isinstance(name, str) or name in known]
    if len(kept) == len(clear):
        return None
    raw["clear"] = kept
    try:
        return _decoder.decode(msgspec.json.encode(raw))
    except msgspec.DecodeError:
        return None
