"""Typed partial updates over the real socket: unknown fields never cost an update, a wrong type
costs only that update (logged once, skipped), and a cleared field leaves the cache.

Against the Stoat test double with the real embedded storage; events are handled in order, so a
later update that visibly applied is the barrier for everything sent before it.
"""

from __future__ import annotations

from pathlib import Path

from logiq_core.testing.harness import BotHarness


async def barrier(h: BotHarness, name: str) -> None:
    """Rename the server and wait for the cache to show it: every earlier event was handled."""
    assert h.bot is not None
    server_id = h.demo.server_id
    await h.double.inject_event({"type": "ServerUpdate", "id": server_id, "data": {"name": name}})
    await h.eventually(lambda: h.bot is not None and h.bot.cache.servers[server_id].name == name)


async def test_updates_with_fields_logiq_does_not_model_still_apply(tmp_path: Path) -> None:
    async with BotHarness(data_dir=tmp_path) as h:
        assert h.bot is not None
        d, cache = h.demo, h.bot.cache
        alice = d.member_ids[0]
        await cache.member(d.server_id, alice)  # cached (and her user learnt)
        general, member_role = d.channels["general"], d.roles["Member"]
        events = [
            {
                "type": "ServerUpdate",
                "id": d.server_id,
                "data": {
                    "owner": d.owner_id,
                    "banner": {"_id": "F", "tag": "banners"},
                    "future_flag": [1, {}],
                },
                "clear": ["Banner", "SomethingNew"],
            },
            {
                "type": "ChannelUpdate",
                "id": general,
                "data": {"name": "chat", "voice": {"max_users": 3}, "glow": "bright"},
            },
            {
                "type": "ServerRoleUpdate",
                "id": d.server_id,
                "role_id": member_role,
                "data": {"hoist": True, "icon": {"_id": "F"}},
                "clear": ["Icon"],  # not a clearable role field by the spec: dropped, the rest applies
            },
            {
                "type": "ServerMemberUpdate",
                "id": {"server": d.server_id, "user": alice},
                "data": {"nickname": "Ally", "avatar": {"_id": "F"}, "voice_channel": None},
            },
            {
                "type": "UserUpdate",
                "id": alice,
                "data": {"display_name": "Alice A.", "status": {"text": "hi"}},
            },
        ]
        for event in events:
            await h.double.inject_event(event)
        await barrier(h, "after unknown fields")
        assert cache.channels[general].name == "chat"
        assert cache.servers[d.server_id].roles[member_role].hoist is True
        assert cache.cached_member(d.server_id, alice) is not None
        assert cache.cached_member(d.server_id, alice).nickname == "Ally"  # type: ignore[union-attr]
        assert cache.users[alice].display_name == "Alice A."
        assert h.bot.gateway is not None and h.bot.gateway.skipped_events == 0


async def test_a_wrong_type_in_an_update_is_logged_and_skipped_and_the_next_one_applies(
    tmp_path: Path, logiq_log_lines: list[str]
) -> None:
    async with BotHarness(data_dir=tmp_path) as h:
        assert h.bot is not None and h.bot.gateway is not None
        d, cache, gateway = h.demo, h.bot.cache, h.bot.gateway
        general = d.channels["general"]
        name_before = cache.channels[general].name
        await h.double.inject_event(
            {"type": "ChannelUpdate", "id": general, "data": {"name": "never", "role_permissions": {"x": 7}}}
        )
        await h.double.inject_event(
            {
                "type": "MessageUpdate",
                "id": "M" * 26,
                "channel": general,
                "data": {"content": ["not", "text"]},
            }
        )
        await barrier(h, "after wrong types")
        assert cache.channels[general].name == name_before  # the whole update was refused
        assert gateway.skipped_events == 2
        assert gateway.connections == 1  # the socket was never closed
        skipped = [line for line in logiq_log_lines if "skipping" in line]
        assert len(skipped) == 2, skipped
        assert "malformed ChannelUpdate" in skipped[0] and "$.data.role_permissions" in skipped[0]
        assert "malformed MessageUpdate" in skipped[1] and "$.data.content" in skipped[1]
        assert not [line for line in logiq_log_lines if "Traceback" in line or "not, text" in line]
        await h.double.inject_event({"type": "ChannelUpdate", "id": general, "data": {"name": "fine"}})
        await h.eventually(lambda: cache.channels[general].name == "fine")
        reply = await h.command(d.member_ids[0], "!ping")
        assert reply["content"].startswith("Pong")


async def test_a_cleared_field_is_removed_and_the_others_are_kept(tmp_path: Path) -> None:
    async with BotHarness(data_dir=tmp_path) as h:
        assert h.bot is not None
        d, cache = h.demo, h.bot.cache
        alice = d.member_ids[0]
        member = await cache.member(d.server_id, alice)
        general, member_role = d.channels["general"], d.roles["Member"]
        member_id = {"server": d.server_id, "user": alice}
        for event in (
            {
                "type": "ServerMemberUpdate",
                "id": member_id,
                "data": {"nickname": "Ally", "timeout": "2001-01-01T00:00:00Z"},
            },
            {"type": "UserUpdate", "id": alice, "data": {"display_name": "Alice A."}},
            {
                "type": "ServerRoleUpdate",
                "id": d.server_id,
                "role_id": member_role,
                "data": {"colour": "#ff0000"},
            },
            {"type": "ChannelUpdate", "id": general, "data": {"default_permissions": {"a": 1, "d": 2}}},
        ):
            await h.double.inject_event(event)
        await barrier(h, "set")
        assert (member.nickname, member.timeout) == ("Ally", "2001-01-01T00:00:00Z")
        assert cache.users[alice].display_name == "Alice A."
        assert cache.servers[d.server_id].roles[member_role].colour == "#ff0000"
        assert cache.channels[general].default_permissions is not None
        roles_before = list(member.roles)
        for event in (
            {"type": "ServerMemberUpdate", "id": member_id, "clear": ["Nickname", "Timeout"]},
            {"type": "UserUpdate", "id": alice, "clear": ["DisplayName"]},
            {"type": "ServerRoleUpdate", "id": d.server_id, "role_id": member_role, "clear": ["Colour"]},
            {"type": "ChannelUpdate", "id": general, "clear": ["DefaultPermissions"]},
        ):
            await h.double.inject_event(event)
        await barrier(h, "cleared")
        assert (member.nickname, member.timeout, member.roles) == (None, None, roles_before)
        assert cache.users[alice].display_name is None
        assert cache.users[alice].username == h.double.world.users[alice].username
        assert cache.servers[d.server_id].roles[member_role].colour is None
        assert cache.servers[d.server_id].roles[member_role].name == "Member"
        assert cache.channels[general].default_permissions is None
