"""Decoding and applying events in-process, without a socket: the per-event cost of the typed path.

For each frame shape (a ``Message`` as Stoat sends it, and each partial update the cache merges),
the best of several runs of ``decode_frame`` alone, then of ``decode_frame`` plus ``Cache.apply``,
in microseconds per event. Compare runs on the same machine (before and after a change); the
socket throughput of the whole bot is ``benchmarks/gateway.py``.

Run: ``python benchmarks/decoding.py``
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine

from logiq_core.stoat.cache import Cache
from logiq_core.stoat.events import DecodeProblem, decode_frame
from logiq_core.stoat.models import Channel, Member, MemberId, OverrideField, Role, Server, User

SERVER, CHANNEL, USER, ROLE, MESSAGE = (
    "01" + "S" * 24,
    "01" + "C" * 24,
    "01" + "U" * 24,
    "01" + "R" * 24,
    "01" + "M" * 24,
)
ROUNDS = 20_000
REPEATS = 5

FRAMES: dict[str, dict[str, object]] = {
    "Message": {
        "type": "Message",
        "_id": MESSAGE,
        "channel": CHANNEL,
        "author": USER,
        "content": "hello there, this is an ordinary chat message of ordinary length",
        "mentions": [],
        "user": {
            "_id": USER,
            "username": "alice",
            "discriminator": "1234",
            "online": True,
            "relationship": "None",
        },
        "member": {
            "_id": {"server": SERVER, "user": USER},
            "joined_at": "2026-01-01T00:00:00.000Z",
            "roles": [ROLE],
        },
    },
    "MessageUpdate": {
        "type": "MessageUpdate",
        "id": MESSAGE,
        "channel": CHANNEL,
        "data": {"content": "edited", "edited": "2026-01-01T00:00:01.000Z"},
        "clear": [],
    },
    "ServerUpdate": {
        "type": "ServerUpdate",
        "id": SERVER,
        "data": {"name": "Renamed", "default_permissions": 12345, "description": "a server"},
        "clear": ["Icon"],
    },
    "ChannelUpdate": {
        "type": "ChannelUpdate",
        "id": CHANNEL,
        "data": {"name": "general", "role_permissions": {ROLE: {"a": 1, "d": 2}}},
        "clear": ["DefaultPermissions"],
    },
    "ServerMemberUpdate": {
        "type": "ServerMemberUpdate",
        "id": {"server": SERVER, "user": USER},
        "data": {"roles": [ROLE], "nickname": "Al"},
        "clear": ["Timeout"],
    },
    "ServerRoleUpdate": {
        "type": "ServerRoleUpdate",
        "id": SERVER,
        "role_id": ROLE,
        "data": {"name": "Member", "permissions": {"a": 1, "d": 0}, "hoist": True},
        "clear": [],
    },
    "UserUpdate": {
        "type": "UserUpdate",
        "id": USER,
        "data": {"online": False, "status": {"presence": "Idle"}},
        "clear": [],
    },
}


def fresh_cache() -> Cache:
    cache = Cache()
    cache.servers[SERVER] = Server(
        id=SERVER, owner=USER, name="S", channels=[CHANNEL], roles={ROLE: Role(name="R")}
    )
    cache.channels[CHANNEL] = Channel(
        id=CHANNEL, channel_type="TextChannel", server=SERVER, default_permissions=OverrideField()
    )
    cache.users[USER] = User(id=USER, username="alice")
    cache.members[SERVER] = {USER: Member(id=MemberId(server=SERVER, user=USER))}
    return cache


def best_of(run: Callable[[], None]) -> float:
    """Microseconds per event, best of REPEATS runs of ROUNDS events."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / ROUNDS * 1e6


def main() -> None:
    print(f"Logiq event decoding ({machine()}), best of {REPEATS} x {ROUNDS:,} events, µs per event")
    print(f"{'event':<20} {'decode':>8} {'decode+apply':>13}")
    for name, payload in FRAMES.items():
        frame = json.dumps(payload).encode()
        decoded = decode_frame(frame)
        assert isinstance(decoded, list) and len(decoded) == 1, decoded
        cache = fresh_cache()

        def decode(frame: bytes = frame) -> None:
            for _ in range(ROUNDS):
                decode_frame(frame)

        def decode_and_apply(frame: bytes = frame, cache: Cache = cache) -> None:
            for _ in range(ROUNDS):
                decoded = decode_frame(frame)
                assert isinstance(decoded, list)
                for event in decoded:
                    if not isinstance(event, DecodeProblem):
                        cache.apply(event)

        print(f"{name:<20} {best_of(decode):>8.2f} {best_of(decode_and_apply):>13.2f}")


if __name__ == "__main__":
    main()
