"""Each event type knows which server it belongs to (the bot asks the event, not a switch)."""

from __future__ import annotations

import json

import pytest

from logiq_core.stoat.events import decode_frame

SERVER, CHANNEL, DM = "S" * 26, "C" * 26, "D" * 26
CHANNELS = {CHANNEL: SERVER}


class Lookup:
    def server_of_channel(self, channel_id: str) -> str | None:
        return CHANNELS.get(channel_id)


MEMBER = {"_id": {"server": SERVER, "user": "U" * 26}, "joined_at": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("frame", "server"),
    [
        ({"type": "Message", "_id": "M" * 26, "channel": CHANNEL, "author": "U" * 26}, SERVER),
        ({"type": "Message", "_id": "M" * 26, "channel": DM, "author": "U" * 26}, None),
        ({"type": "MessageUpdate", "id": "M" * 26, "channel": CHANNEL}, SERVER),
        ({"type": "MessageAppend", "id": "M" * 26, "channel": CHANNEL}, SERVER),
        ({"type": "MessageDelete", "id": "M" * 26, "channel": CHANNEL}, SERVER),
        ({"type": "BulkMessageDelete", "channel": CHANNEL, "ids": []}, SERVER),
        (
            {"type": "MessageReact", "id": "M" * 26, "channel_id": CHANNEL, "user_id": "U", "emoji_id": "E"},
            SERVER,
        ),
        (
            {
                "type": "MessageUnreact",
                "id": "M" * 26,
                "channel_id": CHANNEL,
                "user_id": "U",
                "emoji_id": "E",
            },
            SERVER,
        ),
        ({"type": "MessageRemoveReaction", "id": "M" * 26, "channel_id": CHANNEL, "emoji_id": "E"}, SERVER),
        ({"type": "ChannelCreate", "_id": "N" * 26, "channel_type": "TextChannel", "server": SERVER}, SERVER),
        ({"type": "ChannelUpdate", "id": CHANNEL}, SERVER),
        ({"type": "ChannelDelete", "id": CHANNEL}, SERVER),
        ({"type": "ChannelStartTyping", "id": CHANNEL, "user": "U"}, SERVER),
        ({"type": "ChannelStopTyping", "id": DM, "user": "U"}, None),
        ({"type": "ServerUpdate", "id": SERVER}, SERVER),
        ({"type": "ServerDelete", "id": SERVER}, SERVER),
        ({"type": "ServerMemberJoin", "id": SERVER, "user": "U"}, SERVER),
        ({"type": "ServerMemberLeave", "id": SERVER, "user": "U"}, SERVER),
        ({"type": "ServerMemberUpdate", "id": MEMBER["_id"]}, SERVER),
        ({"type": "ServerRoleUpdate", "id": SERVER, "role_id": "R"}, SERVER),
        ({"type": "ServerRoleDelete", "id": SERVER, "role_id": "R"}, SERVER),
        ({"type": "ServerRoleRanksUpdate", "id": SERVER, "ranks": []}, SERVER),
        ({"type": "UserUpdate", "id": "U" * 26}, None),
        ({"type": "ChannelAck", "id": CHANNEL, "user": "U", "message_id": "M"}, None),
        ({"type": "Pong", "data": 1}, None),
    ],
    ids=lambda value: value["type"] if isinstance(value, dict) else None,
)
def test_an_event_names_its_server(frame: dict[str, object], server: str | None) -> None:
    decoded = decode_frame(json.dumps(frame))
    assert isinstance(decoded, list), decoded
    (event,) = decoded
    assert event.server_in(Lookup()) == server
