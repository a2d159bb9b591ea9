"""The bot never goes deaf: malformed events are skipped, the socket survives, silence is noticed.

Everything runs against the Stoat test double over real sockets, with the real embedded storage.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logiq_core.stoat import events as ev
from logiq_core.stoat.gateway import Gateway
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.stoat import StoatDouble, build_demo, new_ulid

PAYLOAD_MARKER = "fuzz-payload-marker-0123456789"


async def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


async def test_malformed_updates_are_skipped_and_the_cache_keeps_its_last_good_state(
    tmp_path: Path, logiq_log_lines: list[str]
) -> None:
    async with BotHarness(data_dir=tmp_path) as h:
        assert h.bot is not None and h.bot.gateway is not None
        d = h.demo
        cache = h.bot.cache
        before_permissions = cache.servers[d.server_id].default_permissions
        before_rank = cache.servers[d.server_id].roles[d.roles["Member"]].rank
        await h.double.inject_event(
            {
                "type": "ServerRoleUpdate",
                "id": d.server_id,
                "role_id": d.roles["Member"],
                "data": {"rank": "top"},
            }
        )
        await h.double.inject_event(
            {"type": "ChannelUpdate", "id": d.channels["general"], "data": {"default_permissions": 5}}
        )
        await h.double.inject_event(
            {"type": "ServerUpdate", "id": d.server_id, "data": {"default_permissions": "lots"}}
        )
        reply = await h.command(d.member_ids[0], "!ping")
        assert reply["content"].startswith("Pong")
        # a permission-gated command still computes permissions (no "Something went wrong")
        reply = await h.command(d.member_ids[0], "!prefix ?")
        assert reply["content"] == "You need the ManageServer permission to change the prefix."
        assert cache.servers[d.server_id].default_permissions == before_permissions
        assert cache.servers[d.server_id].roles[d.roles["Member"]].rank == before_rank
        assert h.bot.gateway.connections == 1  # the socket was never closed
        skipped = [line for line in logiq_log_lines if "skipping" in line]
        assert len(skipped) == 3
        for kind in ("ServerRoleUpdate", "ChannelUpdate", "ServerUpdate"):
            assert sum(kind in line for line in skipped) == 1


async def test_a_gateway_that_ends_unexpectedly_stops_the_bot_with_an_error(
    tmp_path: Path, logiq_log_lines: list[str]
) -> None:
    from logiq_core.app.bot import GatewayStopped

    async with BotHarness(data_dir=tmp_path) as h:
        assert h.bot is not None and h.bot.gateway is not None
        gateway = h.bot.gateway

        async def broken_session() -> None:  # a fault no reconnect logic knows about
            raise RuntimeError("an unforeseen bug")

        gateway._session = broken_session  # type: ignore[method-assign]
        await h.double.drop_connections()
        with pytest.raises(GatewayStopped):
            await asyncio.wait_for(h.bot.wait_closed(), 5)
        assert any("events socket stopped unexpectedly" in line for line in logiq_log_lines)


async def test_silence_is_logged_after_two_ping_intervals(logiq_log_lines: list[str]) -> None:
    async with StoatDouble() as double:
        demo = build_demo(double)
        gateway = Gateway(
            double.ws_url, demo.bot_token, lambda event: None, heartbeat_seconds=0.1, pong_timeout_seconds=5
        )
        runner = asyncio.create_task(gateway.run())
        try:
            await asyncio.wait_for(gateway.ready.wait(), 5)
            double.answer_pings = False
            await eventually(lambda: any("no event or Pong" in line for line in logiq_log_lines))
            assert gateway.connections == 1
        finally:
            await gateway.close()
            await runner


async def test_the_time_of_the_last_event_is_written_to_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logiq_core.app import bot

    monkeypatch.setattr(bot, "HEARTBEAT_WRITE_SECONDS", 0.05)  # the file is rewritten sooner, not otherwise
    async with BotHarness(data_dir=tmp_path) as h:
        heartbeat = tmp_path / "heartbeat"
        await eventually(heartbeat.exists)
        first = heartbeat.read_text().strip()
        assert first.endswith("+00:00")
        await h.command(h.demo.member_ids[0], "!ping")
        await eventually(lambda: heartbeat.read_text().strip() > first, timeout=5)


# --- the fuzz test ---------------------------------------------------------------------------
UNFUZZED = {"Error", "Logout"}  # connection-level by design: they end the session


def base_events(h: BotHarness) -> list[dict[str, Any]]:
    """One valid event of every type, each mirroring the double's current state (or aimed at
    ids no one knows) so that a variant that still decodes changes nothing that matters."""
    d, world = h.demo, h.double.world
    sid, lounge, alice = d.server_id, d.channels["lounge"], d.member_ids[0]
    ghost_user, ghost_channel, ghost_server = new_ulid(), new_ulid(), new_ulid()
    server = copy.deepcopy(world.servers[sid])
    role_id = d.roles["Member"]
    channel = world.channels[lounge]
    bot_member = world.members[(sid, d.bot_id)]
    ranks = [r for r, _ in sorted(server["roles"].items(), key=lambda item: item[1].get("rank", 0))]
    alice_member = copy.deepcopy(world.members[(sid, alice)])
    message = {
        "type": "Message",
        "_id": new_ulid(),
        "channel": lounge,
        "author": alice,
        "content": PAYLOAD_MARKER,
        "user": world.users[alice].wire(d.bot_id),
        "member": alice_member,
    }
    # fmt: off
    return [
        {"type": "Authenticated"},
        {**h.double.ready_payload(d.bot_id)},
        {"type": "Pong", "data": 0},
        {"type": "Auth", "event_type": "DeleteSession", "user_id": ghost_user},
        {"type": "Bulk", "v": [{"type": "UserPresence", "id": ghost_user, "online": True}]},
        {"type": "UserSlowmodes", "slowmodes": [{"channel_id": lounge, "duration": 0}]},
        message,
        {"type": "MessageUpdate", "id": message["_id"], "channel": lounge,
         "data": {"content": PAYLOAD_MARKER}, "clear": []},
        {"type": "MessageAppend", "id": message["_id"], "channel": lounge, "append": {"embeds": []}},
        {"type": "MessageDelete", "id": new_ulid(), "channel": lounge},
        {"type": "BulkMessageDelete", "channel": lounge, "ids": [new_ulid()]},
        {"type": "MessageReact", "id": new_ulid(), "channel_id": lounge, "user_id": alice, "emoji_id": "👍"},
        {"type": "MessageUnreact", "id": new_ulid(), "channel_id": lounge, "user_id": alice,
         "emoji_id": "👍"},
        {"type": "MessageRemoveReaction", "id": new_ulid(), "channel_id": lounge, "emoji_id": "👍"},
        {"type": "ChannelCreate", "_id": ghost_channel, "channel_type": "TextChannel", "server": sid,
         "name": "ghost", "role_permissions": {}},
        {"type": "ChannelUpdate", "id": lounge, "clear": [],
         "data": {"name": channel["name"], "role_permissions": copy.deepcopy(channel["role_permissions"]),
                  "default_permissions": channel.get("default_permissions") or {"a": 0, "d": 0}}},
        {"type": "ChannelDelete", "id": new_ulid()},
        {"type": "ChannelGroupJoin", "id": new_ulid(), "user": alice},
        {"type": "ChannelGroupLeave", "id": new_ulid(), "user": alice},
        {"type": "ChannelStartTyping", "id": lounge, "user": alice},
        {"type": "ChannelStopTyping", "id": lounge, "user": alice},
        {"type": "ChannelAck", "id": lounge, "user": d.bot_id, "message_id": new_ulid()},
        {"type": "ServerCreate", "id": ghost_server, "channels": [], "emojis": [],
         "server": {"_id": ghost_server, "owner": alice, "name": "Ghost", "channels": [], "roles": {},
                    "default_permissions": 0}},
        {"type": "ServerUpdate", "id": sid, "clear": [],
         "data": {"name": server["name"], "owner": server["owner"],
                  "default_permissions": server["default_permissions"]}},
        {"type": "ServerDelete", "id": new_ulid()},
        {"type": "ServerMemberJoin", "id": sid, "user": ghost_user},
        {"type": "ServerMemberLeave", "id": sid, "user": ghost_user, "reason": "Leave"},
        {"type": "ServerMemberUpdate", "id": {"server": sid, "user": d.bot_id}, "clear": [],
         "data": {"roles": list(bot_member["roles"]), "can_publish": True, "can_receive": True,
                  "timeout": "2001-01-01T00:00:00.000Z"}},
        {"type": "ServerRoleUpdate", "id": sid, "role_id": role_id, "clear": [],
         "data": copy.deepcopy(server["roles"][role_id])},
        {"type": "ServerRoleDelete", "id": sid, "role_id": new_ulid()},
        {"type": "ServerRoleRanksUpdate", "id": sid, "ranks": ranks},
        {"type": "UserUpdate", "id": alice, "clear": [],
         "data": {"username": world.users[alice].username, "online": False}},
        {"type": "UserPlatformWipe", "user_id": ghost_user, "flags": 0},
        {"type": "UserRelationship", "user": {"_id": ghost_user, "username": "ghost"}, "status": "None"},
        {"type": "UserSettingsUpdate", "id": d.bot_id, "update": {"theme": [0, "{}"]}},
        {"type": "UserPresence", "id": alice, "online": True},
        {"type": "EmojiCreate", "_id": new_ulid(), "name": "ghost"},
        {"type": "EmojiDelete", "id": new_ulid()},
        {"type": "EmojiUpdate", "id": new_ulid(), "data": {"name": "ghost"}},
        {"type": "VoiceChannelJoin", "id": new_ulid(), "state": {"id": alice}},
        {"type": "VoiceChannelLeave", "id": new_ulid(), "user": alice},
        {"type": "VoiceChannelMove", "user": alice, "from": new_ulid(), "to": new_ulid()},
        {"type": "UserVoiceStateUpdate", "id": alice, "channel_id": new_ulid(), "data": {}},
        {"type": "UserMoveVoiceChannel", "node": "ghost", "token": "ghost"},
    ]
    # fmt: on


WRONG_TYPE = {str: 12345, int: "lots", float: "lots", bool: "yes", list: {"x": 1}, dict: 5}


def field_paths(event: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Every field, and every field of a nested object (or of a list's first object)."""
    for key, value in event.items():
        if key == "type":
            continue
        yield (key,)
        inner = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else value
        prefix = (key, 0) if inner is not value else (key,)
        if isinstance(inner, dict):
            for inner_key in inner:
                yield (*prefix, inner_key)


def variants(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The event with each field in turn given a wrong type, null, or removed."""
    for path in field_paths(event):
        for change in ("wrong", "null", "removed"):
            mutated = copy.deepcopy(event)
            parent: Any = mutated
            for step in path[:-1]:
                parent = parent[step]
            current = parent[path[-1]]
            if change == "removed":
                del parent[path[-1]]
            elif change == "null":
                parent[path[-1]] = None
            else:
                parent[path[-1]] = WRONG_TYPE.get(type(current), "x")
            yield mutated


async def test_fuzzed_events_of_every_type_never_make_the_bot_deaf(
    tmp_path: Path, logiq_log_lines: list[str]
) -> None:
    async with BotHarness(["moderation", "verification"], data_dir=tmp_path) as h:
        assert h.bot is not None and h.bot.gateway is not None
        d, bot = h.demo, h.bot
        bases = base_events(h)
        assert {e["type"] for e in bases} == set(ev.EVENT_TYPES) - UNFUZZED
        frames = [json.dumps(v) for base in bases for v in [base, *variants(base)]]
        started = time.monotonic()
        await h.double.push_raw_frames(frames)
        # Events are handled in order, so the answer to this !ping is the barrier: every
        # fuzzed frame before it has been decoded and applied (or skipped).
        reply = await h.command(d.member_ids[0], "!ping", timeout=30)
        elapsed = time.monotonic() - started
        print(
            f"\nfuzz: {len(frames)} frames from {len(bases)} event types handled in {elapsed:.2f}s; "
            f"{bot.gateway.skipped_events} skipped"
        )
        assert reply["content"].startswith("Pong")
        assert bot.gateway.connections == 1
        assert len(frames) > 500
        assert bot.gateway.skipped_events > 300
        # permissions still compute, and agree with Stoat's
        for user_id in (d.owner_id, d.moderator_id, *d.member_ids, d.bot_id):
            member = await bot.cache.member(d.server_id, user_id)
            assert bot.cache.server_permissions_of(member) == h.double.world.server_permissions(
                d.server_id, user_id
            )
            assert bot.cache.channel_permissions_of(member, d.channels["general"]) == (
                h.double.world.channel_permissions(d.channels["general"], user_id)
            )
        reply = await h.command(d.member_ids[0], f"!kick {mention(d.member_ids[1])}")
        assert reply["content"] == "You need the KickMembers permission to use `kick`."
        reply = await h.command(d.moderator_id, f"!warnings {mention(d.member_ids[1])}")
        assert reply["content"] == "bob has no active warnings."
        # each skipped event was logged once, by type and reason, never with its payload
        assert not [line for line in logiq_log_lines if PAYLOAD_MARKER in line]
        assert not [line for line in logiq_log_lines if "Traceback" in line]
