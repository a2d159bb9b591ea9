"""The Stoat test double's server: REST and the events socket on one loopback port (aiohttp).

Every request is checked against the official OpenAPI spec (violations are recorded and the
request refused as Stoat would), authenticated by ``X-Bot-Token``, rate limited with Stoat's
buckets and headers, and authorised with Stoat's permission model and role ranking. Tests
drive it: build a world, inject messages and events, cut sockets, inject 429s, 5xx and latency,
then assert on what the bot sent and on the world's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from logiq_core.stoat.permissions import Override, can_grant
from logiq_core.stoat.permissions import Permission as P
from logiq_core.testing.stoat import handlers
from logiq_core.testing.stoat.autumn import AutumnDouble, StoredFile
from logiq_core.testing.stoat.ratelimit import DoubleRateLimiter
from logiq_core.testing.stoat.spec import SpecValidator
from logiq_core.testing.stoat.ulid import new_ulid
from logiq_core.testing.stoat.world import User, World

_SPEC: SpecValidator | None = None


def shared_spec() -> SpecValidator:
    """The spec is parsed once per process (it is large)."""
    global _SPEC
    if _SPEC is None:
        _SPEC = SpecValidator()
    return _SPEC


class StoatError(Exception):
    """Raised by handlers: becomes Stoat's error body ``{type, location, ...}``."""

    def __init__(self, status: int, error_type: str, **extra: Any) -> None:
        super().__init__(error_type)
        self.status = status
        self.type = error_type
        self.extra = extra


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any] | None
    times: int
    after_handling: bool


@dataclass
class Connection:
    user_id: str
    socket: web.WebSocketResponse
    queue: asyncio.Queue[str | None]
    writer: asyncio.Task[None] | None = None


class StoatDouble:
    """A running fake Stoat. ``async with StoatDouble() as double: ...``"""

    def __init__(self, *, rate_limits: bool = True, window_seconds: float = 10.0) -> None:
        self.world = World()
        self.spec = shared_spec()
        self.violations: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.sent_messages: list[dict[str, Any]] = []
        self.rate_limiter = DoubleRateLimiter(window_seconds, enabled=rate_limits)
        self.rate_limited_responses = 0
        self.latency = 0.0
        self.requests_arrived = 0  # REST requests received, counted before their latency
        self.rejected_tokens: set[str] = set()
        self.answer_pings = True  # False: a socket that silently died (no Pong ever comes)
        self._faults: list[Fault] = []
        self._connections: list[Connection] = []
        self.pongs_sent = 0  # Pongs answered on the events socket (all connections)
        self._observers: list[Callable[[dict[str, Any]], None]] = []
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[Any]]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.autumn = AutumnDouble(self)  # the file server, on its own port
        self.owner = self.world.add_user("Stoat Team")  # owns the bots the double creates

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> StoatDouble:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        app.router.add_get("/events", self._events_socket)
        handlers.register_routes(app, self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        await self.autumn.start()
        return self

    async def stop(self) -> None:
        await self.drop_connections()
        await self.autumn.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StoatDouble:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/events"

    @property
    def autumn_url(self) -> str:
        """The file server's URL (``features.autumn.url`` in ``GET /``)."""
        return self.autumn.url

    @property
    def files(self) -> dict[str, StoredFile]:
        """Every file uploaded to the double's Autumn, by id."""
        return self.autumn.files

    def attachments_of(self, message: dict[str, Any] | str) -> list[StoredFile]:
        """The files a message carries (with their bytes), given the message or its id."""
        return self.autumn.attachments_of(message)

    # --- knobs for tests ----------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: dict[str, Any] | None = None,
        *,
        times: int = 1,
        after_handling: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (a 429, a 502...).

        With ``after_handling`` the request is carried out first and only the answer is lost,
        like a proxy failing after the server wrote: the case idempotency keys exist for.
        """
        self._faults.append(
            Fault(method.upper(), re.compile(path_regex), status, body, times, after_handling)
        )

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def set_rate_limits(
        self,
        *,
        window_seconds: float | None = None,
        limits: dict[str, int] | None = None,
        enabled: bool = True,
    ) -> None:
        if window_seconds is not None:
            self.rate_limiter.window_seconds = window_seconds
        if limits:
            self.rate_limiter.limits.update(limits)
        self.rate_limiter.enabled = enabled

    def reject_token(self, token: str) -> None:
        """Make Stoat forget a bot token (as if it were reset)."""
        self.rejected_tokens.add(token)

    def add_observer(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(event)`` for every event the double broadcasts."""
        self._observers.append(callback)

    # --- world builders that also tell connected clients --------------------------------------
    def create_user(self, username: str, *, at: datetime | None = None) -> User:
        """A human user (``at`` back-dates the account: its ULID encodes its creation time)."""
        return self.world.add_user(username, at=at)

    def create_bot(self, username: str = "Logiq") -> tuple[User, str]:
        return self.world.add_bot(username, self.owner.id)

    def create_server(self, owner_id: str, name: str) -> dict[str, Any]:
        server = self.world.add_server(owner_id, name)
        self.world.add_channel(server["_id"], "general")
        return server

    def create_role(
        self, server_id: str, name: str, *, rank: int | None = None, allow: int = 0, deny: int = 0
    ) -> str:
        role_id = self.world.add_role(server_id, name, rank, allow, deny)
        role = self.world.servers[server_id]["roles"][role_id]
        self.broadcast(
            {"type": "ServerRoleUpdate", "id": server_id, "role_id": role_id, "data": role, "clear": []},
            server_id=server_id,
        )
        return role_id

    def create_channel(self, server_id: str, name: str) -> dict[str, Any]:
        channel = self.world.add_channel(server_id, name)
        self.broadcast({"type": "ChannelCreate", **channel}, server_id=server_id)
        return channel

    def add_member(self, server_id: str, user_id: str, roles: list[str] | None = None) -> dict[str, Any]:
        member = self.world.add_member(server_id, user_id, roles)
        self.broadcast(
            {"type": "ServerMemberJoin", "id": server_id, "user": user_id, "member": member},
            server_id=server_id,
        )
        if self.world.users[user_id].bot_owner is not None:
            server = self.world.servers[server_id]
            channels = [self.world.channels[c] for c in server["channels"]]
            self.broadcast(
                {
                    "type": "ServerCreate",
                    "id": server_id,
                    "server": server,
                    "channels": channels,
                    "emojis": [],
                },
                user_id=user_id,
            )
        return member

    def set_member_roles(self, server_id: str, user_id: str, roles: list[str]) -> None:
        self.world.members[(server_id, user_id)]["roles"] = list(roles)
        self.broadcast(
            {
                "type": "ServerMemberUpdate",
                "id": {"server": server_id, "user": user_id},
                "data": {"roles": list(roles)},
                "clear": [],
            },
            server_id=server_id,
        )

    def set_channel_override(
        self, channel_id: str, role_id: str | None, allow: int = 0, deny: int = 0
    ) -> None:
        """Set a channel's default (``role_id=None``) or role override."""
        channel = self.world.channels[channel_id]
        value = {"a": allow, "d": deny}
        if role_id is None:
            channel["default_permissions"] = value
            data: dict[str, Any] = {"default_permissions": value}
        else:
            channel.setdefault("role_permissions", {})[role_id] = value
            data = {"role_permissions": channel["role_permissions"]}
        self.broadcast(
            {"type": "ChannelUpdate", "id": channel_id, "data": data, "clear": []},
            server_id=channel.get("server"),
        )

    # --- driving the bot ----------------------------------------------------------------------
    async def send_message_as(
        self,
        user_id: str,
        channel_id: str,
        content: str,
        *,
        replies: list[str] | None = None,
        message_id: str | None = None,
        enforce: bool = False,
    ) -> dict[str, Any]:
        """A member posts ``content``: stored and pushed to sockets that can see the channel.

        With ``enforce`` the member is held to the rules the double applies to a bot's request
        (Stoat's): they must see the channel and hold SendMessage there (not timed out), and the
        message must be 1-2000 bytes; a :class:`StoatError` says what failed. Tests leave it off
        to inject any message; the sandbox turns it on.
        """
        if enforce:
            self.require_channel(channel_id)
            self.require_channel_permission(channel_id, user_id, P.SendMessage)
            if not content.strip():
                raise StoatError(422, "EmptyMessage")
            if len(content.encode()) > handlers.MAX_CONTENT:
                raise StoatError(422, "PayloadTooLarge", max=handlers.MAX_CONTENT)
        message: dict[str, Any] = {
            "_id": message_id or new_ulid(),
            "channel": channel_id,
            "author": user_id,
            "content": content,
        }
        if replies:
            message["replies"] = replies
        self._store_message(message)
        self.broadcast({"type": "Message", **message}, channel_id=channel_id)
        await asyncio.sleep(0)
        return message

    async def react_as(
        self, user_id: str, channel_id: str, message_id: str, emoji: str, *, enforce: bool = False
    ) -> None:
        """A member reacts (``enforce``: only with React in a channel they can see)."""
        if enforce:
            self.require_channel(channel_id)
            self.require_channel_permission(channel_id, user_id, P.React)
            message = self.world.messages.get(message_id)
            restricted = (message or {}).get("interactions", {}).get("restrict_reactions")
            if message is None or (restricted and emoji not in message.get("reactions", {})):
                raise StoatError(404, "NotFound")
        message = self.world.messages[message_id]
        users = message.setdefault("reactions", {}).setdefault(emoji, [])
        if user_id not in users:
            users.append(user_id)
        self.broadcast(
            {
                "type": "MessageReact",
                "id": message_id,
                "channel_id": channel_id,
                "user_id": user_id,
                "emoji_id": emoji,
            },
            channel_id=channel_id,
        )
        await asyncio.sleep(0)

    async def inject_event(self, event: dict[str, Any]) -> None:
        """Push any raw event to every connected socket."""
        self.broadcast(event)
        await asyncio.sleep(0)

    async def push_raw_frames(self, frames: list[str]) -> None:
        """Write pre-serialised text frames to every socket as fast as possible (benchmarks).

        The frames are encoded once (server frames are unmasked) and handed to each socket's
        transport in one write, so the double is never the bottleneck of a client benchmark.
        """
        payload = b"".join(_text_frame(frame.encode()) for frame in frames)
        for connection in list(self._connections):
            writer = connection.socket._writer
            transport = writer.transport if writer is not None else None
            if transport is None:
                continue
            transport.write(payload)
            while transport.get_write_buffer_size() > 0:
                await asyncio.sleep(0.001)

    async def drop_connections(self) -> None:
        """Cut every events socket abruptly (no close handshake from the client's view)."""
        for connection in list(self._connections):
            await self._close_connection(connection, abort=True)

    async def wait_for_message(
        self,
        channel_id: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """The next message a bot sends (in ``channel_id``, matching ``predicate``)."""

        def matches(message: dict[str, Any]) -> bool:
            if channel_id is not None and message["channel"] != channel_id:
                return False
            return predicate is None or predicate(message)

        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = (matches, future)
        self._waiters.append(entry)
        try:
            return dict(await asyncio.wait_for(future, timeout))
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def messages_in(self, channel_id: str) -> list[dict[str, Any]]:
        return self.world.channel_messages(channel_id)

    @property
    def connection_count(self) -> int:
        """How many authenticated events sockets are open now."""
        return len(self._connections)

    def clear_faults(self) -> None:
        """Forget every injected fault not yet used up: Stoat answers normally again."""
        self._faults.clear()

    def store_message(self, message: dict[str, Any]) -> None:
        """Put a message into the world as is (no event, no checks): history for tests."""
        self._store_message(message)

    def ready_payload(self, user_id: str) -> dict[str, Any]:
        """The ``Ready`` event ``user_id`` would get on connecting now."""
        return self._ready_payload(user_id)

    # --- internals: storage and broadcast -----------------------------------------------------
    def _store_message(self, message: dict[str, Any]) -> None:
        self.world.messages[message["_id"]] = message
        self.world.channel_log.setdefault(message["channel"], []).append(message["_id"])

    def record_bot_message(self, message: dict[str, Any]) -> None:
        self._store_message(message)
        self.sent_messages.append(message)
        for matches, future in list(self._waiters):
            if not future.done() and matches(message):
                future.set_result(message)
                break

    def broadcast(
        self,
        event: dict[str, Any],
        *,
        server_id: str | None = None,
        channel_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Queue ``event`` for every socket allowed to see it (in order, never blocking)."""
        frame = json.dumps(event)
        for observer in self._observers:
            with contextlib.suppress(Exception):
                observer(event)
        for connection in self._connections:
            if user_id is not None and connection.user_id != user_id:
                continue
            if channel_id is not None:
                if channel_id not in self.world.channels:
                    continue
                if not self.world.channel_permissions(channel_id, connection.user_id) & (P.ViewChannel):
                    continue
            elif server_id is not None and (server_id, connection.user_id) not in (self.world.members):
                continue
            connection.queue.put_nowait(frame)

    # --- the events socket --------------------------------------------------------------------
    def _ready_payload(self, user_id: str) -> dict[str, Any]:
        world = self.world
        server_ids = [s for (s, u) in world.members if u == user_id]
        channels = [
            channel
            for channel in world.channels.values()
            if (
                channel.get("server") in server_ids
                and world.channel_permissions(channel["_id"], user_id) & P.ViewChannel
            )
            or user_id in channel.get("recipients", [])
        ]
        dm_users = {
            other for channel in channels for other in channel.get("recipients", []) if other != user_id
        }
        return {
            "type": "Ready",
            "users": [world.users[u].wire(user_id) for u in [user_id, *sorted(dm_users)]],
            "servers": [world.servers[s] for s in server_ids],
            "channels": channels,
            "members": [world.members[(s, user_id)] for s in server_ids],
            "emojis": [],
        }

    async def _events_socket(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await socket.prepare(request)
        if request.query.get("version", "1") != "1" or request.query.get("format", "json") != ("json"):
            self.violations.append(f"events socket: unsupported query {dict(request.query)}")
        token = request.query.get("token")
        connection: Connection | None = None
        try:
            if token is not None:
                connection = await self._authenticate(socket, token)
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(frame.data)
                except ValueError:
                    continue  # Stoat drops undecodable frames silently
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "Authenticate" and connection is None:
                    connection = await self._authenticate(socket, str(data.get("token", "")))
                    if connection is None:
                        break
                elif connection is None:
                    continue  # ignored until authenticated
                elif kind == "Ping" and self.answer_pings:
                    value = data.get("data")
                    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                        connection.queue.put_nowait(json.dumps({"type": "Pong", "data": value}))
                        self.pongs_sent += 1
        finally:
            if connection is not None:
                await self._close_connection(connection, abort=False)
        return socket

    async def _authenticate(self, socket: web.WebSocketResponse, token: str) -> Connection | None:
        user_id = self.world.tokens.get(token)
        if user_id is None or token in self.rejected_tokens:
            await socket.send_str(
                json.dumps({"type": "Error", "data": {"type": "InvalidSession", "location": "double"}})
            )
            await socket.close()
            return None
        connection = Connection(user_id, socket, asyncio.Queue())
        connection.writer = asyncio.create_task(self._write(connection))
        self._connections.append(connection)
        connection.queue.put_nowait(json.dumps({"type": "Authenticated"}))
        connection.queue.put_nowait(json.dumps(self._ready_payload(user_id)))
        return connection

    async def _write(self, connection: Connection) -> None:
        while True:
            frame = await connection.queue.get()
            if frame is None or connection.socket.closed:
                return
            try:
                await connection.socket.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    async def _close_connection(self, connection: Connection, *, abort: bool) -> None:
        if connection in self._connections:
            self._connections.remove(connection)
        connection.queue.put_nowait(None)
        if abort and connection.socket._writer is not None:
            transport = connection.socket._writer.transport
            if transport is not None:
                transport.abort()
        else:
            with contextlib.suppress(Exception):
                await connection.socket.close()
        if connection.writer is not None and connection.writer is not asyncio.current_task():
            connection.writer.cancel()

    # --- the REST middleware ------------------------------------------------------------------
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path == "/events":
            response: web.StreamResponse = await handler(request)
            return response
        self.requests_arrived += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return web.Response(status=400, text="malformed JSON")
        path = request.raw_path.split("?", 1)[0]
        decoded_path = unquote(path)
        self.requests.append(
            {
                "method": request.method,
                "path": decoded_path,
                "query": dict(request.query),
                "json": body,
                "headers": {k: v for k, v in request.headers.items() if k != "X-Bot-Token"},
            }
        )
        problems = self.spec.check(request.method, path, dict(request.query), body, has_body=bool(raw))
        if problems:
            self.violations.extend(problems)
            return web.json_response(
                {"type": "FailedValidation", "error": problems[0], "location": "double"},
                status=400,
            )
        if request.method != "GET" or path != "/":
            token = request.headers.get("X-Bot-Token", "")
            user_id = self.world.tokens.get(token)
            if user_id is None or token in self.rejected_tokens:
                return web.Response(status=401, text="Unauthorized")
            request["user_id"] = user_id
            identity = request.remote or "ip"
        else:
            identity = request.remote or "ip"
        allowed, headers, reset_after = self.rate_limiter.hit(identity, request.method, path)
        if not allowed:
            self.rate_limited_responses += 1
            return web.json_response({"retry_after": int(reset_after * 1000)}, status=429, headers=headers)
        fault = self._take_fault(request.method, decoded_path)
        if fault is not None and not fault.after_handling:
            return web.json_response(fault.body or {}, status=fault.status, headers=headers)
        request["json"] = body
        try:
            response = await handler(request)
        except StoatError as exc:
            response = web.json_response(
                {"type": exc.type, "location": "double", **exc.extra}, status=exc.status
            )
        if fault is not None:
            return web.json_response(fault.body or {}, status=fault.status, headers=headers)
        response.headers.update(headers)
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.pattern.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # --- authorisation helpers used by the handlers -------------------------------------------
    def require_channel(self, channel_id: str) -> dict[str, Any]:
        channel = self.world.channels.get(channel_id)
        if channel is None:
            raise StoatError(404, "NotFound")
        return channel

    def require_server_member(self, server_id: str, user_id: str) -> dict[str, Any]:
        server = self.world.servers.get(server_id)
        if server is None or (server_id, user_id) not in self.world.members:
            raise StoatError(404, "NotFound")
        return server

    def require_channel_permission(self, channel_id: str, user_id: str, needed: int) -> None:
        held = self.world.channel_permissions(channel_id, user_id)
        if not held & P.ViewChannel:
            raise StoatError(404, "NotFound")
        self._check_bits(held, needed)

    def require_server_permission(self, server_id: str, user_id: str, needed: int) -> None:
        self.require_server_member(server_id, user_id)
        self._check_bits(self.world.server_permissions(server_id, user_id), needed)

    @staticmethod
    def _check_bits(held: int, needed: int) -> None:
        for permission in P:
            if needed & permission and not held & permission:
                raise StoatError(403, "MissingPermission", permission=permission.name)

    def require_outranks(self, server_id: str, actor_id: str, target_id: str) -> None:
        """Stoat's rule: the target's ranking must be strictly below the actor's."""
        if self.world.ranking(server_id, target_id) <= self.world.ranking(server_id, actor_id):
            raise StoatError(403, "NotElevated")

    def require_role_below(self, server_id: str, actor_id: str, role_id: str) -> None:
        role = self.world.servers[server_id]["roles"].get(role_id)
        if role is None:
            raise StoatError(404, "InvalidRole")
        if int(role.get("rank", 0)) <= self.world.ranking(server_id, actor_id):
            raise StoatError(403, "NotElevated")

    def require_grant(self, held: int, before: Override | int, after: Override | int) -> None:
        ok, _ = can_grant(held, before, after)
        if not ok:
            raise StoatError(403, "CannotGiveMissingPermissions")


def _text_frame(data: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2)."""
    length = len(data)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 1 << 16:
        header = bytes((0x81, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + length.to_bytes(8, "big")
    return header + data


def message_age(message_id: str) -> timedelta:
    from logiq_core.stoat.models import ulid_time

    return datetime.now(UTC) - ulid_time(message_id)
