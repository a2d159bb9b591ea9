"""Stoat's permission model against PROTOCOL.md §7, exhaustively and with properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logiq_core.stoat.permissions import (
    ALLOW_IN_TIMEOUT,
    DEFAULT_PERMISSION,
    DEFAULT_PERMISSION_SERVER,
    GRANT_ALL_SAFE,
    NO_ROLES_RANKING,
    OWNER_RANKING,
    Override,
    Permission,
    RoleGrant,
    can_grant,
    channel_permissions,
    check_hierarchy,
    member_ranking,
    permission_names,
    server_permissions,
)

# The bit table of PROTOCOL.md §7, copied by hand: name -> (bit, value).
TABLE = {
    "ManageChannel": (0, 1),
    "ManageServer": (1, 2),
    "ManagePermissions": (2, 4),
    "ManageRole": (3, 8),
    "ManageCustomisation": (4, 16),
    "KickMembers": (6, 64),
    "BanMembers": (7, 128),
    "TimeoutMembers": (8, 256),
    "AssignRoles": (9, 512),
    "ChangeNickname": (10, 1024),
    "ManageNicknames": (11, 2048),
    "ChangeAvatar": (12, 4096),
    "RemoveAvatars": (13, 8192),
    "ViewChannel": (20, 1048576),
    "ReadMessageHistory": (21, 2097152),
    "SendMessage": (22, 4194304),
    "ManageMessages": (23, 8388608),
    "ManageWebhooks": (24, 16777216),
    "InviteOthers": (25, 33554432),
    "SendEmbeds": (26, 67108864),
    "UploadFiles": (27, 134217728),
    "Masquerade": (28, 268435456),
    "React": (29, 536870912),
    "Connect": (30, 1073741824),
    "Speak": (31, 2147483648),
    "Video": (32, 4294967296),
    "MuteMembers": (33, 8589934592),
    "DeafenMembers": (34, 17179869184),
    "MoveMembers": (35, 34359738368),
    "Listen": (36, 68719476736),
    "MentionEveryone": (37, 137438953472),
    "MentionRoles": (38, 274877906944),
    "BypassSlowmode": (39, 549755813888),
    "ViewAuditLogs": (40, 1099511627776),
}


@pytest.mark.parametrize(("name", "bit_value"), TABLE.items())
def test_every_bit_matches_the_table(name: str, bit_value: tuple[int, int]) -> None:
    bit, value = bit_value
    assert Permission[name].value == value == 1 << bit


def test_the_table_is_complete_and_the_constants_match() -> None:
    assert {p.name for p in Permission} == set(TABLE)
    assert GRANT_ALL_SAFE == 4503599627370495
    assert ALLOW_IN_TIMEOUT == 3145728
    assert DEFAULT_PERMISSION == 76477890560
    assert DEFAULT_PERMISSION_SERVER == 77014766592
    assert permission_names(64 | 128) == ["KickMembers", "BanMembers"]


def role(role_id: str, rank: int, allow: int = 0, deny: int = 0) -> RoleGrant:
    return RoleGrant(role_id, rank, Override(allow, deny))


K, B, S, V = (
    Permission.KickMembers,
    Permission.BanMembers,
    Permission.SendMessage,
    Permission.ViewChannel,
)


def test_the_owner_has_everything_everywhere() -> None:
    assert server_permissions(0, [], is_owner=True) == GRANT_ALL_SAFE
    assert (
        channel_permissions(0, [], channel_default=Override(0, GRANT_ALL_SAFE), is_owner=True)
        == GRANT_ALL_SAFE
    )


def test_roles_apply_from_lowest_priority_so_the_top_role_wins() -> None:
    top, low = role("top", 0, allow=K), role("low", 5, deny=K)
    assert server_permissions(0, [low, top]) & K  # rank 0 applied last
    top_denies, low_allows = role("top", 0, deny=K), role("low", 5, allow=K)
    assert not server_permissions(0, [low_allows, top_denies]) & K


def test_timeout_keeps_only_view_and_history() -> None:
    everything = role("admin", 0, allow=GRANT_ALL_SAFE)
    assert server_permissions(0, [everything], timed_out=True) == ALLOW_IN_TIMEOUT
    assert channel_permissions(DEFAULT_PERMISSION_SERVER, [], timed_out=True) == ALLOW_IN_TIMEOUT


def test_publish_and_receive_masks() -> None:
    p = server_permissions(DEFAULT_PERMISSION_SERVER, [], can_publish=False, can_receive=False)
    assert not p & (Permission.Speak | Permission.Video | Permission.Listen)


def test_channel_default_then_role_overrides_then_view_rule() -> None:
    member_role = role("m", 3)
    base = DEFAULT_PERMISSION_SERVER
    locked = channel_permissions(base, [member_role], channel_default=Override(0, S))
    assert not locked & S and locked & V
    unlocked_for_role = channel_permissions(
        base,
        [member_role],
        channel_default=Override(0, S),
        channel_role_overrides={"m": Override(S, 0)},
    )
    assert unlocked_for_role & S
    # In stoat.js 7.3.4's order a server-role allow cannot undo a channel-default deny.
    server_allow = role("m", 3, allow=S)
    assert not channel_permissions(base, [server_allow], channel_default=Override(0, S)) & S
    hidden = channel_permissions(base, [member_role], channel_default=Override(0, V))
    assert hidden == 0  # no ViewChannel, no permission at all


def test_rankings_and_the_hierarchy_rule() -> None:
    assert member_ranking([]) == NO_ROLES_RANKING
    assert member_ranking([role("a", 4), role("b", 2)]) == 2
    assert member_ranking([role("a", 4)], is_owner=True) == OWNER_RANKING
    assert check_hierarchy(actor_ranking=1, target_ranking=2, target_is_owner=False).allowed
    same = check_hierarchy(actor_ranking=2, target_ranking=2, target_is_owner=False)
    assert not same.allowed and same.reason == "their top role is the same as yours"
    above = check_hierarchy(actor_ranking=3, target_ranking=2, target_is_owner=False)
    assert above.reason == "their top role is above yours"
    owner = check_hierarchy(actor_ranking=OWNER_RANKING, target_ranking=0, target_is_owner=True)
    assert owner.reason == "they own this server"
    assert not check_hierarchy(
        actor_ranking=NO_ROLES_RANKING, target_ranking=NO_ROLES_RANKING, target_is_owner=False
    ).allowed  # a bot with no roles moderates nobody


def test_the_grant_rule() -> None:
    assert can_grant(S | V, Override(0, 0), Override(S, 0)) == (True, 0)
    assert can_grant(S, Override(0, 0), Override(K, 0)) == (False, K)
    assert can_grant(S, Override(0, K), Override(0, 0)) == (False, K)  # un-denying counts too
    assert can_grant(S, 0, int(S)) == (True, 0)


bits = st.integers(min_value=0, max_value=GRANT_ALL_SAFE)


@given(default=bits, allow=bits, deny=bits)
def test_a_single_role_is_allow_then_deny(default: int, allow: int, deny: int) -> None:
    assert server_permissions(default, [role("r", 1, allow, deny)]) == (default | allow) & ~deny


@given(
    default=bits,
    roles=st.lists(st.tuples(st.integers(0, 50), bits, bits), max_size=6, unique_by=lambda r: r[0]),
)
def test_role_order_is_by_rank_not_by_list_order(default: int, roles: list[tuple[int, int, int]]) -> None:
    grants = [role(f"r{rank}", rank, a, d) for rank, a, d in roles]
    expected = default
    for rank, a, d in sorted(roles, reverse=True):
        expected = (expected | a) & ~d
    assert server_permissions(default, grants) == expected
    assert server_permissions(default, list(reversed(grants))) == expected


@given(default=bits, allow=bits, deny=bits)
def test_deny_always_beats_allow_within_one_override(default: int, allow: int, deny: int) -> None:
    result = Override(allow, deny).apply(default)
    assert result & deny == 0
    assert result & (allow & ~deny) == allow & ~deny


# --- issue 10: server-level actions and role assignment --------------------------------------
def test_a_channel_override_never_grants_or_denies_server_level_permissions() -> None:
    from logiq_core.stoat.permissions import effective_permissions

    server_level = int(DEFAULT_PERMISSION_SERVER)
    channel_level = server_level | Permission.KickMembers | Permission.BanMembers | Permission.ManageMessages
    held = effective_permissions(server_level, channel_level)
    assert not held & Permission.KickMembers and not held & Permission.BanMembers
    assert held & Permission.ManageMessages  # channel bits still come from the channel
    held = effective_permissions(server_level | Permission.KickMembers, int(DEFAULT_PERMISSION))
    assert held & Permission.KickMembers  # a channel deny cannot take a server action away


def test_role_assignment_needs_assign_roles_and_a_higher_top_role_unless_owner() -> None:
    from logiq_core.stoat.permissions import check_role_assignable

    assign = int(Permission.AssignRoles)
    assert check_role_assignable(5, actor_ranking=2, actor_permissions=assign).allowed
    assert not check_role_assignable(2, actor_ranking=2, actor_permissions=assign).allowed
    assert not check_role_assignable(1, actor_ranking=2, actor_permissions=assign).allowed
    assert not check_role_assignable(
        5, actor_ranking=2, actor_permissions=int(Permission.ManageServer)
    ).allowed
    assert check_role_assignable(
        0, actor_ranking=OWNER_RANKING, actor_permissions=0, actor_is_owner=True
    ).allowed
