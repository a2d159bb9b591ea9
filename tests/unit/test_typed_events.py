"""Events are typed from the frame to the plugin: partial updates decode into typed objects that
the cache merges, and mypy follows an event's class from ``Listener`` to the handler."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from msgspec import UNSET

from logiq_core.stoat import events as ev
from logiq_core.stoat.cache import Cache
from logiq_core.stoat.models import (
    Channel,
    Member,
    MemberId,
    OverrideField,
    PartialMember,
    Role,
    Server,
    User,
)

SERVER, CHANNEL, USER, ROLE = "S" * 26, "C" * 26, "U" * 26, "R" * 26
ROOT = Path(__file__).resolve().parents[2]


def decode_one(frame: dict[str, object]) -> ev.StoatEvent | ev.DecodeProblem:
    decoded = ev.decode_frame(json.dumps(frame))
    if isinstance(decoded, ev.DecodeProblem):
        return decoded
    (event,) = decoded
    return event


def known_cache() -> Cache:
    cache = Cache()
    cache.servers[SERVER] = Server(
        id=SERVER, owner=USER, name="Old", channels=[CHANNEL], roles={ROLE: Role(name="Member", colour="red")}
    )
    cache.channels[CHANNEL] = Channel(
        id=CHANNEL,
        channel_type="TextChannel",
        server=SERVER,
        name="general",
        default_permissions=OverrideField(1, 2),
    )
    cache.users[USER] = User(id=USER, username="alice", display_name="Alice")
    cache.members[SERVER] = {
        USER: Member(
            id=MemberId(server=SERVER, user=USER),
            nickname="Al",
            roles=[ROLE],
            timeout="2001-01-01T00:00:00Z",
            can_publish=False,
        )
    }
    return cache


def apply(cache: Cache, frame: dict[str, object]) -> None:
    event = decode_one(frame)
    assert not isinstance(event, ev.DecodeProblem), event
    cache.apply(event)


def test_an_update_decodes_into_a_typed_partial_and_ignores_fields_logiq_does_not_model() -> None:
    event = decode_one(
        {
            "type": "ServerMemberUpdate",
            "id": {"server": SERVER, "user": USER},
            "data": {
                "nickname": None,
                "roles": [ROLE],
                "avatar": {"_id": "F", "sparkle": True},
                "brand_new": [1],
            },
            "clear": ["Timeout"],
        }
    )
    assert isinstance(event, ev.ServerMemberUpdate)
    assert event.data == PartialMember(nickname=None, roles=[ROLE])
    assert event.data.timeout is UNSET  # absent: not the same as null
    assert event.clear == ["Timeout"]


def test_a_clear_naming_a_field_logiq_does_not_know_keeps_the_rest_of_the_update() -> None:
    event = decode_one(
        {
            "type": "ChannelUpdate",
            "id": CHANNEL,
            "data": {"name": "renamed"},
            "clear": ["Sparkles", "DefaultPermissions"],
        }
    )
    assert isinstance(event, ev.ChannelUpdate)
    assert event.data.name == "renamed"
    assert event.clear == ["DefaultPermissions"]


@pytest.mark.parametrize(
    ("frame", "where"),
    [
        (
            {"type": "ServerUpdate", "id": SERVER, "data": {"default_permissions": "lots"}},
            "$.data.default_permissions",
        ),
        (
            {"type": "ServerUpdate", "id": SERVER, "data": {"name": None}},
            "$.data.name",
        ),  # a name is never null
        (
            {"type": "ChannelUpdate", "id": CHANNEL, "data": {"default_permissions": 5}},
            "$.data.default_permissions",
        ),
        ({"type": "ServerRoleUpdate", "id": SERVER, "role_id": ROLE, "data": {"rank": "top"}}, "$.data.rank"),
        ({"type": "UserUpdate", "id": USER, "data": {"online": "yes"}}, "$.data.online"),
        (
            {"type": "MessageUpdate", "id": "M", "channel": CHANNEL, "data": {"content": 12345}},
            "$.data.content",
        ),
        ({"type": "ServerMemberUpdate", "id": {"server": SERVER, "user": USER}, "clear": [5]}, "$.clear[0]"),
        ({"type": "ServerUpdate", "id": SERVER, "data": {"name": 5}, "clear": ["Sparkles"]}, "$.data.name"),
    ],
    ids=lambda value: value["type"] if isinstance(value, dict) else None,
)
def test_a_field_of_the_wrong_type_makes_the_update_a_decode_problem(
    frame: dict[str, object], where: str
) -> None:
    problem = decode_one(frame)
    assert isinstance(problem, ev.DecodeProblem)
    assert problem.event_type == frame["type"]
    assert not problem.unknown
    assert where in problem.reason


def test_the_cache_merges_a_partial_update_keeping_what_it_does_not_carry() -> None:
    cache = known_cache()
    apply(cache, {"type": "ServerUpdate", "id": SERVER, "data": {"name": "New", "icon": {"_id": "F"}}})
    apply(
        cache,
        {"type": "ChannelUpdate", "id": CHANNEL, "data": {"role_permissions": {ROLE: {"a": 4, "d": 0}}}},
    )
    apply(cache, {"type": "ServerRoleUpdate", "id": SERVER, "role_id": ROLE, "data": {"hoist": True}})
    apply(cache, {"type": "UserUpdate", "id": USER, "data": {"online": True, "status": {"presence": "Busy"}}})
    apply(
        cache, {"type": "ServerMemberUpdate", "id": {"server": SERVER, "user": USER}, "data": {"roles": []}}
    )
    server, channel = cache.servers[SERVER], cache.channels[CHANNEL]
    assert (server.name, server.owner, server.channels) == ("New", USER, [CHANNEL])
    assert (channel.name, channel.default_permissions) == ("general", OverrideField(1, 2))
    assert channel.role_permissions == {ROLE: OverrideField(4, 0)}
    assert server.roles[ROLE] == Role(name="Member", colour="red", hoist=True)
    user = cache.users[USER]
    assert (user.username, user.display_name, user.online) == ("alice", "Alice", True)
    member = cache.members[SERVER][USER]
    assert (member.nickname, member.roles, member.timeout, member.can_publish) == (
        "Al",
        [],
        "2001-01-01T00:00:00Z",
        False,
    )


def test_a_cleared_field_is_removed_from_the_cache() -> None:
    cache = known_cache()
    apply(cache, {"type": "ChannelUpdate", "id": CHANNEL, "clear": ["DefaultPermissions"]})
    apply(
        cache,
        {
            "type": "ServerRoleUpdate",
            "id": SERVER,
            "role_id": ROLE,
            "data": {"colour": "blue"},
            "clear": ["Colour"],
        },
    )
    apply(cache, {"type": "UserUpdate", "id": USER, "clear": ["DisplayName", "Avatar"]})
    apply(
        cache,
        {
            "type": "ServerMemberUpdate",
            "id": {"server": SERVER, "user": USER},
            "clear": ["Nickname", "Timeout", "Roles", "CanPublish"],
        },
    )
    assert cache.channels[CHANNEL].default_permissions is None
    assert cache.channels[CHANNEL].name == "general"
    assert cache.servers[SERVER].roles[ROLE].colour is None
    assert cache.users[USER].display_name is None
    assert cache.users[USER].username == "alice"
    member = cache.members[SERVER][USER]
    assert (member.nickname, member.timeout, member.roles, member.can_publish) == (None, None, [], True)


def test_mypy_follows_the_event_class_from_listener_to_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler registered for MessageReact gets a MessageReact (a mismatch is a type error),
    and an update's data and clear list are typed to their fields."""
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "typed_listener.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from logiq_core.plugin import Listener, MessageEvent, MessageReact, PluginContext, ServerMemberUpdate

            async def on_react(ctx: PluginContext, event: MessageReact) -> None:
                reveal_type(event)

            async def on_member(ctx: PluginContext, event: ServerMemberUpdate) -> None:
                reveal_type(event.data.nickname)
                reveal_type(event.clear)

            reveal_type(Listener(MessageReact, on_react))
            Listener(MessageEvent, on_react)
            Listener(ServerMemberUpdate, on_member)
            """
        )
    )
    monkeypatch.chdir(ROOT)  # the project's settings and cache (warm after `mypy logiq_core`)
    out, _, _ = api.run([str(snippet), "--no-error-summary", "--show-error-codes"])
    revealed = [line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type is" in line]
    assert revealed[0] == '"logiq_core.stoat.events.MessageReact"', out
    assert all(part in revealed[1] for part in ("str", "UnsetType", "None")), out  # absent, null or a name
    assert revealed[2].startswith('"list[') or revealed[2].startswith('"builtins.list['), out
    assert "Literal['Nickname']" in revealed[2] and "Literal['Timeout']" in revealed[2], out
    assert revealed[3] == '"logiq_core.framework.listeners.Listener[logiq_core.stoat.events.MessageReact]"', (
        out
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out
    assert 'Argument 2 to "Listener"' in errors[0] and "[arg-type]" in errors[0], out
