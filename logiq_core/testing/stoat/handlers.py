"""The double's REST routes: what a bot can call (PROTOCOL.md §5), with Stoat's checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from logiq_core.stoat.permissions import Override
from logiq_core.stoat.permissions import Permission as P
from logiq_core.testing.stoat.ulid import new_ulid

if TYPE_CHECKING:
    from logiq_core.testing.stoat.autumn import StoredFile
    from logiq_core.testing.stoat.server import StoatDouble

MAX_CONTENT = 2000
MAX_ATTACHMENTS = 5
SEVEN_DAYS = timedelta(days=7)


def _error(status: int, error_type: str, **extra: Any) -> Exception:
    from logiq_core.testing.stoat.server import StoatError

    return StoatError(status, error_type, **extra)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _no_content() -> web.Response:
    return web.Response(status=204)


def register_routes(app: web.Application, double: StoatDouble) -> None:
    world = double.world
    r = app.router

    def me(request: web.Request) -> str:
        return str(request["user_id"])

    def body(request: web.Request) -> dict[str, Any]:
        value = request["json"]
        return value if isinstance(value, dict) else {}

    # --- root and users ---------------------------------------------------------------------
    async def root(request: web.Request) -> web.Response:
        return _json(
            {
                "revolt": "0.8.9-double",
                "ws": double.ws_url,
                "app": "http://127.0.0.1/app",
                "vapid": "",
                "features": {
                    "captcha": {"enabled": False, "key": ""},
                    "email": False,
                    "invite_only": False,
                    "autumn": {"enabled": True, "url": double.autumn_url},
                    "january": {"enabled": False, "url": ""},
                },
                "build": {
                    "commit_sha": "double",
                    "commit_timestamp": "",
                    "semver": "0.8.9",
                    "origin_url": "",
                    "timestamp": "",
                },
            }
        )

    async def users_me(request: web.Request) -> web.Response:
        return _json(world.users[me(request)].wire(me(request)))

    async def user(request: web.Request) -> web.Response:
        found = world.users.get(request.match_info["target"])
        if found is None:
            raise _error(404, "NotFound")
        return _json(found.wire())

    async def open_dm(request: web.Request) -> web.Response:
        target = request.match_info["target"]
        if target not in world.users:
            raise _error(404, "NotFound")
        mine = {s for (s, u) in world.members if u == me(request)}
        theirs = {s for (s, u) in world.members if u == target}
        if not mine & theirs:
            raise _error(403, "MissingUserPermission", permission="SendMessage")
        return _json(world.open_dm(me(request), target))

    r.add_get("/", root)
    r.add_get("/users/@me", users_me)
    r.add_get("/users/{target}/dm", open_dm)
    r.add_get("/users/{target}", user)

    # --- messages ---------------------------------------------------------------------------
    async def send_message(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        double.require_channel(channel_id)
        data = body(request)
        needed = P.SendMessage
        if data.get("embeds"):
            needed |= P.SendEmbeds
        if data.get("masquerade"):
            needed |= P.Masquerade
        if (data.get("interactions") or {}).get("reactions"):
            needed |= P.React
        attachment_ids = data.get("attachments") or []
        if attachment_ids:
            needed |= P.UploadFiles
        double.require_channel_permission(channel_id, me(request), needed)
        if len(attachment_ids) > MAX_ATTACHMENTS:
            raise _error(400, "TooManyAttachments", max=MAX_ATTACHMENTS)
        content = data.get("content") or ""
        embeds = data.get("embeds") or []
        if not content and not embeds and not data.get("attachments"):
            raise _error(422, "EmptyMessage")
        size = len(content.encode()) + sum(len((embed.get("description") or "").encode()) for embed in embeds)
        if size > MAX_CONTENT:
            raise _error(422, "PayloadTooLarge")
        interactions = data.get("interactions") or {}
        if interactions.get("restrict_reactions") and not interactions.get("reactions"):
            raise _error(400, "InvalidOperation")
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            if len(key) > 64:
                raise _error(400, "FailedValidation", error="Idempotency-Key over 64 characters")
            if not world.remember_idempotency_key(me(request), key):
                raise _error(409, "DuplicateNonce")
        files: list[StoredFile] = []
        for file_id in attachment_ids:
            stored = double.autumn.find_unused_attachment(file_id, me(request))
            if stored is None or any(f.id == stored.id for f in files):
                raise _error(400, "UnknownAttachment")
            files.append(stored)
        replies = []
        for reply in data.get("replies") or []:
            if reply["id"] not in world.messages:
                if reply.get("fail_if_not_exists", True) is not False:
                    raise _error(404, "NotFound")
                continue
            replies.append(reply["id"])
        message: dict[str, Any] = {"_id": new_ulid(), "channel": channel_id, "author": me(request)}
        if key is not None:
            message["nonce"] = key  # Stoat keeps the Idempotency-Key as the message's nonce
        if content:
            message["content"] = content
        if files:
            for stored in files:
                stored.message_id = message["_id"]
            message["attachments"] = [stored.wire() for stored in files]
        if embeds:
            message["embeds"] = [{"type": "Text", **embed} for embed in embeds]
        if replies:
            message["replies"] = replies
        if data.get("masquerade"):
            message["masquerade"] = data["masquerade"]
        if interactions:
            message["interactions"] = interactions
            message["reactions"] = {emoji: [] for emoji in interactions.get("reactions") or []}
        double.record_bot_message(message)
        double.broadcast({"type": "Message", **message}, channel_id=channel_id)
        return _json(message)

    def require_message(channel_id: str, message_id: str) -> dict[str, Any]:
        message = world.messages.get(message_id)
        if message is None or message["channel"] != channel_id:
            raise _error(404, "NotFound")
        return message

    async def fetch_messages(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        double.require_channel(channel_id)
        double.require_channel_permission(channel_id, me(request), P.ReadMessageHistory)
        query = request.query
        limit = int(query.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise _error(400, "FailedValidation", error="limit")
        messages = world.channel_messages(channel_id)
        if "before" in query:
            messages = [m for m in messages if m["_id"] < query["before"]]
        if "after" in query:
            messages = [m for m in messages if m["_id"] > query["after"]]
        sort = query.get("sort", "Latest")
        if sort == "Relevance":
            raise _error(400, "InvalidOperation")
        messages = sorted(messages, key=lambda m: m["_id"], reverse=sort != "Oldest")
        return _json(messages[:limit])

    async def fetch_message(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        double.require_channel(channel_id)
        double.require_channel_permission(channel_id, me(request), P.ViewChannel)
        return _json(require_message(channel_id, request.match_info["msg"]))

    async def edit_message(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        message = require_message(channel_id, request.match_info["msg"])
        if message["author"] != me(request):
            raise _error(403, "CannotEditMessage")
        data = body(request)
        double.require_channel_permission(
            channel_id, me(request), P.SendMessage | (P.SendEmbeds if data.get("embeds") else 0)
        )
        if "content" in data:
            message["content"] = data["content"]
        if "embeds" in data:
            message["embeds"] = [{"type": "Text", **e} for e in data["embeds"] or []]
        message["edited"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        double.broadcast(
            {
                "type": "MessageUpdate",
                "id": message["_id"],
                "channel": channel_id,
                "data": {k: message[k] for k in ("content", "embeds", "edited") if k in message},
            },
            channel_id=channel_id,
        )
        return _json(message)

    def delete_one(channel_id: str, message_id: str) -> None:
        world.messages.pop(message_id, None)
        log = world.channel_log.get(channel_id, [])
        if message_id in log:
            log.remove(message_id)

    async def delete_message(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        message = require_message(channel_id, request.match_info["msg"])
        if message["author"] != me(request):
            double.require_channel_permission(channel_id, me(request), P.ManageMessages)
        delete_one(channel_id, message["_id"])
        double.broadcast(
            {"type": "MessageDelete", "id": message["_id"], "channel": channel_id},
            channel_id=channel_id,
        )
        return _no_content()

    async def bulk_delete(request: web.Request) -> web.Response:
        from logiq_core.testing.stoat.server import message_age

        channel_id = request.match_info["target"]
        double.require_channel(channel_id)
        double.require_channel_permission(channel_id, me(request), P.ManageMessages)
        ids = list(body(request).get("ids") or [])
        if not 1 <= len(ids) <= 100:
            raise _error(400, "FailedValidation", error="ids")
        if any(message_age(message_id) >= SEVEN_DAYS for message_id in ids):
            raise _error(400, "InvalidOperation")
        for message_id in ids:
            delete_one(channel_id, message_id)
        double.broadcast(
            {"type": "BulkMessageDelete", "channel": channel_id, "ids": ids},
            channel_id=channel_id,
        )
        return _no_content()

    async def react(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        message = require_message(channel_id, request.match_info["msg"])
        double.require_channel_permission(channel_id, me(request), P.React)
        emoji = unquote(request.match_info["emoji"]).replace("\ufe0f", "")
        interactions = message.get("interactions") or {}
        allowed = [e.replace("\ufe0f", "") for e in interactions.get("reactions") or []]
        if interactions.get("restrict_reactions") and emoji not in allowed:
            raise _error(400, "InvalidOperation")
        reactions = message.setdefault("reactions", {})
        if emoji not in reactions and len(reactions) >= 20:
            raise _error(400, "InvalidOperation")
        users = reactions.setdefault(emoji, [])
        if me(request) not in users:
            users.append(me(request))
        double.broadcast(
            {
                "type": "MessageReact",
                "id": message["_id"],
                "channel_id": channel_id,
                "user_id": me(request),
                "emoji_id": emoji,
            },
            channel_id=channel_id,
        )
        return _no_content()

    async def unreact(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        message = require_message(channel_id, request.match_info["msg"])
        emoji = unquote(request.match_info["emoji"]).replace("\ufe0f", "")
        target = request.query.get("user_id", me(request))
        if target != me(request) or request.query.get("remove_all") == "true":
            double.require_channel_permission(channel_id, me(request), P.ManageMessages)
        else:
            double.require_channel_permission(channel_id, me(request), P.React)
        users = message.get("reactions", {}).get(emoji, [])
        if request.query.get("remove_all") == "true":
            users.clear()
        elif target in users:
            users.remove(target)
        double.broadcast(
            {
                "type": "MessageUnreact",
                "id": message["_id"],
                "channel_id": channel_id,
                "user_id": target,
                "emoji_id": emoji,
            },
            channel_id=channel_id,
        )
        return _no_content()

    async def clear_reactions(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        message = require_message(channel_id, request.match_info["msg"])
        double.require_channel_permission(channel_id, me(request), P.ManageMessages)
        message["reactions"] = {}
        return _no_content()

    r.add_delete("/channels/{target}/messages/bulk", bulk_delete)
    r.add_post("/channels/{target}/messages", send_message)
    r.add_get("/channels/{target}/messages", fetch_messages)
    r.add_get("/channels/{target}/messages/{msg}", fetch_message)
    r.add_patch("/channels/{target}/messages/{msg}", edit_message)
    r.add_delete("/channels/{target}/messages/{msg}", delete_message)
    r.add_put("/channels/{target}/messages/{msg}/reactions/{emoji}", react)
    r.add_delete("/channels/{target}/messages/{msg}/reactions/{emoji}", unreact)
    r.add_delete("/channels/{target}/messages/{msg}/reactions", clear_reactions)

    # --- members, kicks, bans ---------------------------------------------------------------
    def require_member(server_id: str, user_id: str) -> dict[str, Any]:
        member = world.members.get((server_id, user_id))
        if member is None:
            raise _error(404, "NotFound")
        return member

    async def fetch_member(request: web.Request) -> web.Response:
        server_id = request.match_info["server"]
        double.require_server_member(server_id, me(request))
        member = require_member(server_id, request.match_info["member"])
        if request.query.get("roles") == "true":
            roles = world.servers[server_id]["roles"]
            return _json({"member": member, "roles": {r: roles[r] for r in member["roles"] if r in roles}})
        return _json(member)

    async def fetch_members(request: web.Request) -> web.Response:
        server_id = request.match_info["target"]
        double.require_server_member(server_id, me(request))
        ids = world.server_member_ids(server_id)
        return _json(
            {
                "members": [world.members[(server_id, u)] for u in ids],
                "users": [world.users[u].wire() for u in ids],
            }
        )

    async def edit_member(request: web.Request) -> web.Response:
        server_id = request.match_info["server"]
        target = request.match_info["member"]
        actor = me(request)
        double.require_server_member(server_id, actor)
        member = require_member(server_id, target)
        data = body(request)
        remove = list(data.get("remove") or [])
        needed = 0
        if "nickname" in data or "Nickname" in remove:
            needed |= P.ChangeNickname if target == actor else P.ManageNicknames
        if "roles" in data or "Roles" in remove:
            needed |= P.AssignRoles
        if "timeout" in data or "Timeout" in remove:
            needed |= P.TimeoutMembers
        double.require_server_permission(server_id, actor, needed)
        if target != actor:
            double.require_outranks(server_id, actor, target)
        if "timeout" in data:
            if target == actor:
                raise _error(400, "CannotTimeoutYourself")
            if world.server_permissions(server_id, target) & P.TimeoutMembers:
                raise _error(403, "IsElevated")
        if "roles" in data:
            for role_id in set(data["roles"]) - set(member["roles"]):
                double.require_role_below(server_id, actor, role_id)
            for role_id in data["roles"]:
                if role_id not in world.servers[server_id]["roles"]:
                    raise _error(404, "InvalidRole")
        changed: dict[str, Any] = {}
        for field in ("nickname", "roles", "timeout"):
            if field in data:
                member[field] = data[field]
                changed[field] = data[field]
        for field in remove:
            member.pop(field.lower(), None)
        double.broadcast(
            {
                "type": "ServerMemberUpdate",
                "id": {"server": server_id, "user": target},
                "data": changed,
                "clear": remove,
            },
            server_id=server_id,
        )
        return _json(member)

    def remove_member(request: web.Request, permission: int) -> tuple[str, str]:
        server_id = request.match_info["server"]
        target = request.match_info["member"]
        actor = me(request)
        server = double.require_server_member(server_id, actor)
        double.require_server_permission(server_id, actor, permission)
        if target == server["owner"]:
            raise _error(400, "InvalidOperation")
        if target == actor:
            raise _error(400, "CannotRemoveYourself")
        return server_id, target

    async def kick(request: web.Request) -> web.Response:
        server_id, target = remove_member(request, P.KickMembers)
        require_member(server_id, target)
        double.require_outranks(server_id, me(request), target)
        del world.members[(server_id, target)]
        double.broadcast(
            {"type": "ServerMemberLeave", "id": server_id, "user": target, "reason": "Kick"},
            server_id=server_id,
        )
        return _no_content()

    async def ban(request: web.Request) -> web.Response:
        server_id = request.match_info["server"]
        target = request.match_info["target"]
        actor = me(request)
        server = double.require_server_member(server_id, actor)
        double.require_server_permission(server_id, actor, P.BanMembers)
        if target == server["owner"]:
            raise _error(400, "InvalidOperation")
        if target == actor:
            raise _error(400, "CannotRemoveYourself")
        if target not in world.users:
            raise _error(404, "NotFound")
        was_member = (server_id, target) in world.members
        if was_member:
            double.require_outranks(server_id, actor, target)
        reason = body(request).get("reason")
        entry: dict[str, Any] = {"_id": {"server": server_id, "user": target}}
        if reason:
            entry["reason"] = reason
        world.bans[(server_id, target)] = entry
        if was_member:
            del world.members[(server_id, target)]
            double.broadcast(
                {"type": "ServerMemberLeave", "id": server_id, "user": target, "reason": "Ban"},
                server_id=server_id,
            )
        return _json(entry)

    async def unban(request: web.Request) -> web.Response:
        server_id = request.match_info["server"]
        double.require_server_permission(server_id, me(request), P.BanMembers)
        if world.bans.pop((server_id, request.match_info["target"]), None) is None:
            raise _error(404, "NotFound")
        return _no_content()

    async def list_bans(request: web.Request) -> web.Response:
        server_id = request.match_info["target"]
        double.require_server_permission(server_id, me(request), P.BanMembers)
        bans = [b for (s, _), b in world.bans.items() if s == server_id]
        users = [
            {"_id": u.id, "username": u.username, "discriminator": "0001"}
            for u in (world.users[b["_id"]["user"]] for b in bans)
        ]
        return _json({"users": users, "bans": bans})

    r.add_get("/servers/{target}/members", fetch_members)
    r.add_get("/servers/{server}/members/{member}", fetch_member)
    r.add_patch("/servers/{server}/members/{member}", edit_member)
    r.add_delete("/servers/{server}/members/{member}", kick)
    r.add_put("/servers/{server}/bans/{target}", ban)
    r.add_delete("/servers/{server}/bans/{target}", unban)
    r.add_get("/servers/{target}/bans", list_bans)

    # --- servers, roles, channels, permissions ----------------------------------------------
    async def fetch_server(request: web.Request) -> web.Response:
        return _json(double.require_server_member(request.match_info["target"], me(request)))

    async def edit_server(request: web.Request) -> web.Response:
        """``PATCH /servers/{id}``: categories need ManageChannel, everything else ManageServer
        (SRV routes/servers/server_edit.rs); a category may list only the server's channels,
        each channel in at most one category."""
        server_id = request.match_info["target"]
        actor = me(request)
        server = double.require_server_member(server_id, actor)
        data = body(request)
        needed = 0
        if "categories" in data:
            needed |= P.ManageChannel
        if set(data) - {"categories"}:
            needed |= P.ManageServer
        double.require_server_permission(server_id, actor, needed)
        changed: dict[str, Any] = {}
        if "categories" in data:
            seen: set[str] = set()
            for category in data["categories"] or []:
                for channel_id in category["channels"]:
                    if channel_id not in server["channels"] or channel_id in seen:
                        raise _error(400, "InvalidOperation")
                    seen.add(channel_id)
            server["categories"] = data["categories"] or []
            changed["categories"] = server["categories"]
        for field in ("name", "description", "discoverable", "analytics"):
            if field in data:
                server[field] = changed[field] = data[field]
        for field in data.get("remove") or []:
            server.pop(field.lower(), None)
        double.broadcast(
            {"type": "ServerUpdate", "id": server_id, "data": changed, "clear": data.get("remove") or []},
            server_id=server_id,
        )
        return _json(server)

    async def create_role(request: web.Request) -> web.Response:
        server_id = request.match_info["target"]
        double.require_server_permission(server_id, me(request), P.ManageRole)
        if len(world.servers[server_id]["roles"]) >= 200:
            raise _error(400, "TooManyRoles", max=200)
        role_id = double.create_role(server_id, body(request)["name"])
        return _json({"id": role_id, "role": world.servers[server_id]["roles"][role_id]})

    async def fetch_role(request: web.Request) -> web.Response:
        server = double.require_server_member(request.match_info["target"], me(request))
        role = server["roles"].get(request.match_info["role_id"])
        if role is None:
            raise _error(404, "NotFound")
        return _json(role)

    async def edit_role(request: web.Request) -> web.Response:
        server_id, role_id = request.match_info["target"], request.match_info["role_id"]
        double.require_server_permission(server_id, me(request), P.ManageRole)
        double.require_role_below(server_id, me(request), role_id)
        role = world.servers[server_id]["roles"][role_id]
        data = body(request)
        for field in ("name", "colour", "hoist"):
            if field in data:
                role[field] = data[field]
        for field in data.get("remove") or []:
            role.pop(field.lower(), None)
        double.broadcast(
            {
                "type": "ServerRoleUpdate",
                "id": server_id,
                "role_id": role_id,
                "data": data,
                "clear": data.get("remove") or [],
            },
            server_id=server_id,
        )
        return _json(role)

    async def delete_role(request: web.Request) -> web.Response:
        server_id, role_id = request.match_info["target"], request.match_info["role_id"]
        double.require_server_permission(server_id, me(request), P.ManageRole)
        double.require_role_below(server_id, me(request), role_id)
        del world.servers[server_id]["roles"][role_id]
        for (server, _), member in world.members.items():
            if server == server_id and role_id in member["roles"]:
                member["roles"].remove(role_id)
        double.broadcast(
            {"type": "ServerRoleDelete", "id": server_id, "role_id": role_id},
            server_id=server_id,
        )
        return _no_content()

    async def set_server_role_permissions(request: web.Request) -> web.Response:
        server_id, role_id = request.match_info["target"], request.match_info["role_id"]
        actor = me(request)
        double.require_server_permission(server_id, actor, P.ManagePermissions)
        if role_id == "default":
            return await set_server_default(request)
        double.require_role_below(server_id, actor, role_id)
        role = world.servers[server_id]["roles"][role_id]
        wanted = body(request)["permissions"]
        after = Override(int(wanted["allow"]), int(wanted["deny"]))
        double.require_grant(
            world.server_permissions(server_id, actor),
            Override.from_wire(role["permissions"]),
            after,
        )
        role["permissions"] = {"a": after.allow, "d": after.deny}
        double.broadcast(
            {
                "type": "ServerRoleUpdate",
                "id": server_id,
                "role_id": role_id,
                "data": {"permissions": role["permissions"]},
                "clear": [],
            },
            server_id=server_id,
        )
        return _json(world.servers[server_id])

    async def set_server_default(request: web.Request) -> web.Response:
        server_id = request.match_info["target"]
        actor = me(request)
        double.require_server_permission(server_id, actor, P.ManagePermissions)
        server = world.servers[server_id]
        value = int(body(request)["permissions"])
        double.require_grant(
            world.server_permissions(server_id, actor), int(server["default_permissions"]), value
        )
        server["default_permissions"] = value
        double.broadcast(
            {"type": "ServerUpdate", "id": server_id, "data": {"default_permissions": value}, "clear": []},
            server_id=server_id,
        )
        return _json(server)

    async def create_channel(request: web.Request) -> web.Response:
        server_id = request.match_info["server"]
        double.require_server_permission(server_id, me(request), P.ManageChannel)
        if len(world.servers[server_id]["channels"]) >= 200:
            raise _error(400, "TooManyChannels", max=200)
        data = body(request)
        channel = double.create_channel(server_id, data["name"])
        if data.get("description"):
            channel["description"] = data["description"]
        return _json(channel)

    async def fetch_channel(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        channel = double.require_channel(channel_id)
        double.require_channel_permission(channel_id, me(request), P.ViewChannel)
        return _json(channel)

    async def edit_channel(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        channel = double.require_channel(channel_id)
        double.require_channel_permission(channel_id, me(request), P.ManageChannel)
        data = body(request)
        for field in ("name", "description", "nsfw", "archived"):
            if field in data:
                channel[field] = data[field]
        double.broadcast(
            {"type": "ChannelUpdate", "id": channel_id, "data": data, "clear": []},
            server_id=channel.get("server"),
        )
        return _json(channel)

    async def delete_channel(request: web.Request) -> web.Response:
        channel_id = request.match_info["target"]
        channel = double.require_channel(channel_id)
        double.require_channel_permission(channel_id, me(request), P.ManageChannel)
        server_id = channel.get("server")
        double.broadcast({"type": "ChannelDelete", "id": channel_id}, server_id=server_id)
        del world.channels[channel_id]
        if server_id:
            world.servers[server_id]["channels"].remove(channel_id)
            for category in world.servers[server_id].get("categories") or []:
                if channel_id in category["channels"]:  # Stoat takes it out of its category too
                    category["channels"].remove(channel_id)
        return _no_content()

    async def set_channel_permissions(request: web.Request) -> web.Response:
        channel_id, role_id = request.match_info["target"], request.match_info["role_id"]
        channel = double.require_channel(channel_id)
        actor = me(request)
        double.require_channel_permission(channel_id, actor, P.ManagePermissions)
        server_id = str(channel["server"])
        wanted = body(request)["permissions"]
        after = Override(int(wanted["allow"]), int(wanted["deny"]))
        held = world.channel_permissions(channel_id, actor)
        if role_id == "default":
            before = Override.from_wire(channel.get("default_permissions"))
            double.require_grant(held, before, after)
            channel["default_permissions"] = {"a": after.allow, "d": after.deny}
            data: dict[str, Any] = {"default_permissions": channel["default_permissions"]}
        else:
            double.require_role_below(server_id, actor, role_id)
            before = Override.from_wire(channel.get("role_permissions", {}).get(role_id))
            double.require_grant(held, before, after)
            channel.setdefault("role_permissions", {})[role_id] = {"a": after.allow, "d": after.deny}
            data = {"role_permissions": channel["role_permissions"]}
        double.broadcast(
            {"type": "ChannelUpdate", "id": channel_id, "data": data, "clear": []},
            server_id=server_id,
        )
        return _json(channel)

    r.add_get("/servers/{target}", fetch_server)
    r.add_patch("/servers/{target}", edit_server)
    r.add_post("/servers/{target}/roles", create_role)
    r.add_get("/servers/{target}/roles/{role_id}", fetch_role)
    r.add_patch("/servers/{target}/roles/{role_id}", edit_role)
    r.add_delete("/servers/{target}/roles/{role_id}", delete_role)
    r.add_put("/servers/{target}/permissions/{role_id}", set_server_role_permissions)
    r.add_post("/servers/{server}/channels", create_channel)
    r.add_get("/channels/{target}", fetch_channel)
    r.add_patch("/channels/{target}", edit_channel)
    r.add_delete("/channels/{target}", delete_channel)
    r.add_put("/channels/{target}/permissions/{role_id}", set_channel_permissions)
