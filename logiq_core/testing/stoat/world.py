"""The double's in-memory Stoat: users, servers, roles, channels, members, bans, messages.

Objects are stored in their wire shape (plain dicts) so what the double sends is exactly what
Stoat would send. Permission questions are answered with Logiq's own pure permission model,
which follows PROTOCOL.md §7.
"""

from __future__ import annotations

import secrets
import string
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from logiq_core.stoat.permissions import (
    DEFAULT_PERMISSION,
    DEFAULT_PERMISSION_SERVER,
    Override,
    Permission,
    RoleGrant,
    channel_permissions,
    member_ranking,
    server_permissions,
)
from logiq_core.testing.stoat.ulid import new_ulid

TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class User:
    id: str
    username: str
    bot_owner: str | None = None
    online: bool = True

    def wire(self, viewer: str | None = None) -> dict[str, Any]:
        """The user as ``viewer`` sees them (Stoat marks one's own user ``relationship: User``)."""
        data: dict[str, Any] = {
            "_id": self.id,
            "username": self.username,
            "discriminator": "0001",
            "online": self.online,
            "relationship": "User" if viewer == self.id else "None",
        }
        if self.bot_owner is not None:
            data["bot"] = {"owner": self.bot_owner}
        return data


@dataclass
class World:
    """Everything the double knows. Mutate through :class:`StoatDouble` builders so events go out."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # bot token -> user id
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    bans: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_log: dict[str, list[str]] = field(default_factory=dict)
    idempotency: OrderedDict[str, None] = field(default_factory=OrderedDict)

    # --- builders -----------------------------------------------------------------------------
    def add_user(self, username: str, *, bot_owner: str | None = None, at: datetime | None = None) -> User:
        user = User(new_ulid(at), username, bot_owner)
        self.users[user.id] = user
        return user

    def add_bot(self, username: str, owner_id: str) -> tuple[User, str]:
        user = self.add_user(username, bot_owner=owner_id)
        token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(64))
        self.tokens[token] = user.id
        return user, token

    def add_server(self, owner_id: str, name: str) -> dict[str, Any]:
        server: dict[str, Any] = {
            "_id": new_ulid(),
            "owner": owner_id,
            "name": name,
            "channels": [],
            "roles": {},
            "default_permissions": int(DEFAULT_PERMISSION_SERVER),
        }
        self.servers[server["_id"]] = server
        self.add_member(server["_id"], owner_id)
        return server

    def add_channel(self, server_id: str, name: str) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "_id": new_ulid(),
            "channel_type": "TextChannel",
            "server": server_id,
            "name": name,
            "role_permissions": {},
        }
        self.channels[channel["_id"]] = channel
        self.servers[server_id]["channels"].append(channel["_id"])
        self.channel_log[channel["_id"]] = []
        return channel

    def add_role(
        self, server_id: str, name: str, rank: int | None = None, allow: int = 0, deny: int = 0
    ) -> str:
        roles = self.servers[server_id]["roles"]
        role_id = new_ulid()
        roles[role_id] = {
            "name": name,
            "permissions": {"a": allow, "d": deny},
            "rank": len(roles) if rank is None else rank,
            "hoist": False,
        }
        return role_id

    def add_member(self, server_id: str, user_id: str, roles: list[str] | None = None) -> dict[str, Any]:
        member = {
            "_id": {"server": server_id, "user": user_id},
            "joined_at": now_iso(),
            "roles": list(roles or []),
        }
        self.members[(server_id, user_id)] = member
        return member

    def open_dm(self, user_a: str, user_b: str) -> dict[str, Any]:
        for existing in self.channels.values():
            if existing["channel_type"] == "DirectMessage" and set(existing["recipients"]) == {
                user_a,
                user_b,
            }:
                return existing
        channel: dict[str, Any] = {
            "_id": new_ulid(),
            "channel_type": "DirectMessage",
            "active": True,
            "recipients": [user_a, user_b],
        }
        self.channels[channel["_id"]] = channel
        self.channel_log[channel["_id"]] = []
        return channel

    # --- reads --------------------------------------------------------------------------------
    def server_member_ids(self, server_id: str) -> list[str]:
        return [user for (server, user) in self.members if server == server_id]

    def member_roles(self, server_id: str, user_id: str) -> list[str]:
        member = self.members.get((server_id, user_id))
        return list(member["roles"]) if member else []

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        return [self.messages[m] for m in self.channel_log.get(channel_id, []) if m in self.messages]

    def role_grants(self, server_id: str, role_ids: list[str]) -> list[RoleGrant]:
        roles = self.servers[server_id]["roles"]
        return [
            RoleGrant(r, int(roles[r].get("rank", 0)), Override.from_wire(roles[r]["permissions"]))
            for r in role_ids
            if r in roles
        ]

    def timed_out(self, member: dict[str, Any]) -> bool:
        timeout = member.get("timeout")
        if not timeout:
            return False
        until = datetime.fromisoformat(str(timeout).replace("Z", "+00:00"))
        return until > datetime.now(UTC)

    def ranking(self, server_id: str, user_id: str) -> int:
        server = self.servers[server_id]
        return member_ranking(
            self.role_grants(server_id, self.member_roles(server_id, user_id)),
            is_owner=server["owner"] == user_id,
        )

    def server_permissions(self, server_id: str, user_id: str) -> int:
        member = self.members.get((server_id, user_id))
        if member is None:
            return 0
        server = self.servers[server_id]
        return server_permissions(
            int(server["default_permissions"]),
            self.role_grants(server_id, member["roles"]),
            is_owner=server["owner"] == user_id,
            timed_out=self.timed_out(member),
        )

    def channel_permissions(self, channel_id: str, user_id: str) -> int:
        channel = self.channels[channel_id]
        if channel["channel_type"] == "DirectMessage":
            # PROTOCOL.md §7: DEFAULT + React + ManageChannel (+ Masquerade on the server).
            dm = DEFAULT_PERMISSION | Permission.React | Permission.ManageChannel | Permission.Masquerade
            return int(dm) if user_id in channel["recipients"] else 0
        server_id = channel["server"]
        member = self.members.get((server_id, user_id))
        if member is None:
            return 0
        server = self.servers[server_id]
        default = channel.get("default_permissions")
        return channel_permissions(
            int(server["default_permissions"]),
            self.role_grants(server_id, member["roles"]),
            channel_default=Override.from_wire(default) if default else None,
            channel_role_overrides={
                role: Override.from_wire(value) for role, value in channel.get("role_permissions", {}).items()
            },
            is_owner=server["owner"] == user_id,
            timed_out=self.timed_out(member),
        )

    def remember_idempotency_key(self, user_id: str, key: str) -> bool:
        """False when the key was seen (Stoat keeps the last 1000 keys)."""
        scoped = f"{user_id}:{key}"
        if scoped in self.idempotency:
            return False
        self.idempotency[scoped] = None
        while len(self.idempotency) > 1000:
            self.idempotency.popitem(last=False)
        return True
