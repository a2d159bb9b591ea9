"""The Stoat REST client (aiohttp): one session, bot-token auth, rate limits, retries, typed errors.

Choices worth knowing:

* Message content is validated before sending: empty content with nothing else, or content
  over 2000 UTF-8 bytes (with embed descriptions), raises :class:`InvalidRequest` instead of
  reaching Stoat. Callers that may produce long text (the command framework) paginate first.
* Every message send carries an ``Idempotency-Key``, reused across retries of that one send, so
  a retried send can never post twice.
* 429s wait ``retry_after`` and retry; 502/503/504 and connection errors retry with backoff a
  bounded number of times; other errors raise :class:`StoatAPIError` carrying Stoat's ``type``.
* A 5xx or a lost connection may come *after* Stoat applied the request. So on a retry, a
  ``DuplicateNonce`` (the message was sent) and a ``NotFound`` to a ``DELETE`` (the member was
  kicked, the ban lifted, the message deleted) mean the first attempt worked: success.
* Files go to Autumn (the URL in ``GET /``'s ``features.autumn.url``) with :meth:`StoatAPI.upload`,
  each checked against its tag's limits first (:func:`~logiq_core.stoat.uploads.check_upload`) and
  rate limited in its own bucket per tag; ``send_message(..., attachments=[File(...)])`` uploads
  the files, then sends their ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
from loguru import logger

from logiq_core.stoat.models import (
    Channel,
    Member,
    Message,
    Role,
    Server,
    User,
    format_timestamp,
)
from logiq_core.stoat.ratelimits import RateLimiter, route_key
from logiq_core.stoat.uploads import ATTACHMENTS, File, check_upload
from logiq_core.stoat.uploads import UploadRefused as UploadRefused  # re-exported for callers

MAX_CONTENT_BYTES = 2000
MAX_BULK_DELETE = 100
MAX_REPLIES = 5
MAX_EMBEDS = 5
MAX_REACTIONS = 20
MAX_ATTACHMENTS = 5
RETRYABLE_STATUSES = frozenset({502, 503, 504})
USER_AGENT = "Logiq (stoat.chat bot)"

T = TypeVar("T")


class StoatAPIError(Exception):
    """Stoat refused a request. ``type`` is Stoat's error type (``MissingPermission``...)."""

    def __init__(self, status: int, error_type: str, data: Mapping[str, Any], route: str) -> None:
        self.status = status
        self.type = error_type
        self.data = dict(data)
        self.route = route
        detail = f" ({data['permission']})" if "permission" in data else ""
        super().__init__(f"{route} failed: {status} {error_type}{detail}")

    @property
    def not_found(self) -> bool:
        """Stoat does not know the thing asked for (as opposed to failing to answer)."""
        return self.status == 404 or self.type == "NotFound"

    @property
    def permission(self) -> str | None:
        value = self.data.get("permission")
        return str(value) if value is not None else None


class StoatUnavailable(StoatAPIError):
    """Stoat kept failing (5xx, connection errors or 429s) after every retry."""


class AlreadyApplied(StoatAPIError):
    """A retried request that Stoat answered as already done: the first attempt took effect."""


class InvalidRequest(ValueError):
    """Logiq refused to send a request Stoat would refuse (checked before sending)."""


class SendableEmbed(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A text embed to send (OpenAPI ``SendableEmbed``)."""

    title: str | None = None
    description: str | None = None
    url: str | None = None
    icon_url: str | None = None
    colour: str | None = None


class NewRole(msgspec.Struct):
    id: str
    role: Role


class MembersPage(msgspec.Struct):
    members: list[Member]
    users: list[User]


class BanEntry(msgspec.Struct):
    id: dict[str, str] = msgspec.field(name="_id")
    reason: str | None = None


class BannedUser(msgspec.Struct):
    id: str = msgspec.field(name="_id")
    username: str = ""


class BanList(msgspec.Struct):
    users: list[BannedUser]
    bans: list[BanEntry]


ApiObserver = Callable[[str, float, bool], None]
"""Called after every request with (route key, seconds, succeeded); used for metrics."""


def content_size(content: str | None, embeds: Sequence[SendableEmbed] = ()) -> int:
    """Bytes Stoat counts against the 2000 limit: content plus embed descriptions (UTF-8)."""
    size = len(content.encode()) if content else 0
    for embed in embeds:
        if embed.description:
            size += len(embed.description.encode())
    return size


class StoatAPI:
    """Typed access to the Stoat REST calls a bot needs (PROTOCOL.md §5)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        max_retries: int = 3,
        backoff_seconds: float = 0.2,
        request_timeout: float = 15.0,
        observer: ApiObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session: aiohttp.ClientSession | None = None
        self.rate_limiter = RateLimiter()
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.request_timeout = request_timeout
        self.observer = observer
        self.last_round_trip: float | None = None  # seconds, of the last successful request
        self.autumn_url: str | None = None  # learnt from GET / (features.autumn.url)

    def __repr__(self) -> str:  # never show the token
        return f"StoatAPI({self.base_url!r})"

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
                json_serialize=lambda value: msgspec.json.encode(value).decode(),
                cookie_jar=aiohttp.DummyCookieJar(),  # Stoat sets no cookies: skip the jar per request
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> StoatAPI:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- the request engine -------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        """Send one logical request (with waits and retries); return the decoded JSON or None."""
        await self.open()
        assert self._session is not None
        key = route_key(method, path)
        route = f"{method} {path}"
        all_headers = {"X-Bot-Token": self._token} if auth else {}
        if headers:
            all_headers.update(headers)
        body = _encode_json(json) if json is not None else None
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        attempt = 0
        maybe_applied = False  # an earlier attempt may have reached Stoat and been carried out
        started = time.perf_counter()
        while True:
            await self.rate_limiter.acquire(key)
            try:
                async with self._session.request(
                    method, self.base_url + path, data=body, params=params, headers=all_headers
                ) as response:
                    self.rate_limiter.update(key, response.headers)
                    raw = await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                maybe_applied = True
                attempt += 1
                if attempt > self.max_retries:
                    self._observe(key, started, False)
                    raise StoatUnavailable(
                        0, "ConnectionFailed", {"error": type(exc).__name__}, route
                    ) from None
                await asyncio.sleep(self._backoff(attempt))
                continue
            if status < 300:
                self.last_round_trip = time.perf_counter() - started
                self._observe(key, started, True)
                return msgspec.json.decode(raw) if raw else None
            payload = _decode_error_body(raw)
            if status == 429:
                attempt = await self._wait_out_rate_limit(key, payload, attempt, started, route)
                continue
            if status in RETRYABLE_STATUSES:
                maybe_applied = True
                attempt += 1
                if attempt > self.max_retries:
                    self._observe(key, started, False)
                    raise StoatUnavailable(status, str(payload.get("type", status)), payload, route)
                await asyncio.sleep(self._backoff(attempt))
                continue
            error_type = str(payload.get("type") or _status_type(status))
            if maybe_applied and (
                (error_type == "DuplicateNonce" and "Idempotency-Key" in all_headers)
                or (method == "DELETE" and error_type == "NotFound")
            ):
                self._observe(key, started, True)
                raise AlreadyApplied(status, error_type, payload, route)
            self._observe(key, started, False)
            raise StoatAPIError(status, error_type, payload, route)

    def _backoff(self, attempt: int) -> float:
        return float(self.backoff_seconds * (2 ** (attempt - 1)) * random.uniform(0.8, 1.2))

    async def _wait_out_rate_limit(
        self, key: str, payload: dict[str, Any], attempt: int, started: float, route: str
    ) -> int:
        """A 429: spend the bucket, wait Stoat's ``retry_after``; the next attempt's number."""
        retry_after = _retry_after_seconds(payload)
        self.rate_limiter.spend(key, retry_after)
        attempt += 1
        if attempt > self.max_retries + 2:
            self._observe(key, started, False)
            raise StoatUnavailable(429, "RateLimited", payload, route)
        await asyncio.sleep(retry_after)
        return attempt

    def _observe(self, key: str, started: float, ok: bool) -> None:
        if self.observer is not None:
            try:
                self.observer(key, time.perf_counter() - started, ok)
            except Exception as exc:  # metrics must never fail a request
                logger.opt(exception=exc).warning("the API call observer failed on {}", key)

    async def _get(self, path: str, into: type[T], params: Mapping[str, str] | None = None) -> T:
        data = await self.request("GET", path, params=params)
        return msgspec.convert(data, into)

    # --- discovery and users ------------------------------------------------------------------
    async def fetch_root(self) -> dict[str, Any]:
        """``GET /``: the server's configuration, including the events socket URL (``ws``).

        Also remembers the file server's URL (``features.autumn.url``) for :meth:`upload`.
        """
        root = dict(await self.request("GET", "/", auth=False))
        autumn = (root.get("features") or {}).get("autumn") or {}
        if autumn.get("enabled") and autumn.get("url"):
            self.autumn_url = str(autumn["url"]).rstrip("/")
        return root

    # --- files (Autumn) -----------------------------------------------------------------------
    async def upload(self, tag: str, file: File) -> str:
        """Upload ``file`` to Autumn under ``tag`` (``attachments``, ``avatars``...); return its id.

        Raises :class:`~logiq_core.stoat.uploads.UploadRefused` before sending anything for a file the
        tag refuses (too large, empty, not an image where images are required), and
        :class:`InvalidRequest` when this Stoat server has no file server.
        """
        check_upload(tag, file)
        if self.autumn_url is None:
            await self.fetch_root()
            if self.autumn_url is None:
                raise InvalidRequest("this Stoat server has file uploads switched off (no Autumn URL)")
        await self.open()
        assert self._session is not None
        key = f"upload:{tag}"  # Autumn's own bucket: 10 uploads per 10 s per tag
        route = f"POST {{autumn}}/{tag}"
        headers = {"X-Bot-Token": self._token}
        attempt = 0
        started = time.perf_counter()
        while True:
            await self.rate_limiter.acquire(key)
            form = aiohttp.FormData()  # one per attempt: aiohttp consumes a form when sending it
            form.add_field("file", bytes(file.data), filename=file.filename, content_type=file.content_type)
            try:
                async with self._session.post(
                    f"{self.autumn_url}/{tag}", data=form, headers=headers
                ) as response:
                    self.rate_limiter.update(key, response.headers)
                    raw = await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                attempt += 1
                if attempt > self.max_retries:
                    self._observe(key, started, False)
                    raise StoatUnavailable(
                        0, "ConnectionFailed", {"error": type(exc).__name__}, route
                    ) from None
                await asyncio.sleep(self._backoff(attempt))
                continue
            payload = _decode_error_body(raw)
            if status < 300:
                self._observe(key, started, True)
                file_id = payload.get("id")
                if not isinstance(file_id, str):
                    raise StoatAPIError(status, "InvalidUploadResponse", payload, route)
                return file_id
            if status == 429:
                attempt = await self._wait_out_rate_limit(key, payload, attempt, started, route)
                continue
            error_type = str(payload.get("type") or _status_type(status))
            if status in RETRYABLE_STATUSES:
                attempt += 1
                if attempt > self.max_retries:
                    self._observe(key, started, False)
                    raise StoatUnavailable(status, error_type, payload, route)
                await asyncio.sleep(self._backoff(attempt))
                continue
            self._observe(key, started, False)
            raise StoatAPIError(status, error_type, payload, route)

    async def _attachment_ids(self, attachments: Sequence[str | File]) -> list[str]:
        """Check every file first (nothing is uploaded if one is refused), then upload in order."""
        if len(attachments) > MAX_ATTACHMENTS:
            raise InvalidRequest(f"at most {MAX_ATTACHMENTS} attachments per message")
        for item in attachments:
            if isinstance(item, File):
                check_upload(ATTACHMENTS, item)
            elif not isinstance(item, str):
                raise InvalidRequest(f"an attachment is a File or an uploaded file's id, not {item!r}")
        return [
            item if isinstance(item, str) else await self.upload(ATTACHMENTS, item) for item in attachments
        ]

    async def fetch_self(self) -> User:
        return await self._get("/users/@me", User)

    async def fetch_user(self, user_id: str) -> User:
        return await self._get(f"/users/{user_id}", User)

    async def open_dm(self, user_id: str) -> Channel:
        return await self._get(f"/users/{user_id}/dm", Channel)

    # --- messages -----------------------------------------------------------------------------
    async def send_message(
        self,
        channel_id: str,
        content: str | None = None,
        *,
        replies: Sequence[tuple[str, bool]] = (),
        embeds: Sequence[SendableEmbed] = (),
        masquerade: Mapping[str, str] | None = None,
        reactions: Sequence[str] = (),
        restrict_reactions: bool = False,
        idempotency_key: str | None = None,
        attachments: Sequence[str | File] = (),
    ) -> Message:
        """Send a message. ``replies`` are ``(message_id, mention)`` pairs.

        ``attachments`` are :class:`~logiq_core.stoat.uploads.File` objects (uploaded first, under the
        ``attachments`` tag) or ids of files already uploaded. Raises :class:`InvalidRequest` for
        what Stoat would refuse (empty, over 2000 bytes, too many replies/embeds/reactions/
        attachments, ``restrict_reactions`` without reactions) and
        :class:`~logiq_core.stoat.uploads.UploadRefused` for a file its tag refuses.
        """
        if not content and not embeds and not attachments:
            raise InvalidRequest("a message needs content, an embed or an attachment")
        size = content_size(content, embeds)
        if size > MAX_CONTENT_BYTES:
            raise InvalidRequest(
                f"message is {size} bytes; Stoat accepts at most {MAX_CONTENT_BYTES} "
                "(content plus embed descriptions)"
            )
        if len(replies) > MAX_REPLIES or len(embeds) > MAX_EMBEDS:
            raise InvalidRequest(f"at most {MAX_REPLIES} replies and {MAX_EMBEDS} embeds")
        if len(reactions) > MAX_REACTIONS:
            raise InvalidRequest(f"at most {MAX_REACTIONS} reactions")
        if restrict_reactions and not reactions:
            raise InvalidRequest("restrict_reactions needs at least one reaction")
        body: dict[str, Any] = {}
        if content:
            body["content"] = content
        if attachments:
            body["attachments"] = await self._attachment_ids(attachments)
        if replies:
            body["replies"] = [{"id": mid, "mention": mention} for mid, mention in replies]
        if embeds:
            body["embeds"] = [msgspec.to_builtins(embed) for embed in embeds]
        if masquerade:
            body["masquerade"] = dict(masquerade)
        if reactions:
            body["interactions"] = {
                "reactions": list(reactions),
                "restrict_reactions": restrict_reactions,
            }
        key = idempotency_key or os.urandom(16).hex()  # 32 hex characters, like a UUID's
        try:
            data = await self.request(
                "POST",
                f"/channels/{channel_id}/messages",
                json=body,
                headers={"Idempotency-Key": key},
            )
        except AlreadyApplied:
            return await self._sent_with_nonce(channel_id, key, content)
        return msgspec.convert(data, Message)

    async def _sent_with_nonce(self, channel_id: str, nonce: str, content: str | None) -> Message:
        """The message an earlier attempt of this send created (Stoat keeps the key as its
        ``nonce``); if it cannot be found, a stand-in without an id: the send did happen."""
        with contextlib.suppress(StoatAPIError, msgspec.ValidationError):
            data = await self.request(
                "GET", f"/channels/{channel_id}/messages", params={"limit": "20", "sort": "Latest"}
            )
            for item in data or []:
                if isinstance(item, dict) and item.get("nonce") == nonce:
                    return msgspec.convert(item, Message)
        return Message(id="", channel=channel_id, author="", content=content)

    async def edit_message(
        self,
        channel_id: str,
        message_id: str,
        content: str | None = None,
        *,
        embeds: Sequence[SendableEmbed] | None = None,
    ) -> Message:
        if content is not None and not 1 <= len(content.encode()) <= MAX_CONTENT_BYTES:
            raise InvalidRequest(f"edited content must be 1-{MAX_CONTENT_BYTES} bytes")
        body = _given(
            content=content,
            embeds=None if embeds is None else [msgspec.to_builtins(embed) for embed in embeds],
        )
        data = await self.request("PATCH", f"/channels/{channel_id}/messages/{message_id}", json=body)
        return msgspec.convert(data, Message)

    async def delete_message(self, channel_id: str, message_id: str) -> None:
        with contextlib.suppress(AlreadyApplied):
            await self.request("DELETE", f"/channels/{channel_id}/messages/{message_id}")

    async def bulk_delete_messages(self, channel_id: str, message_ids: Sequence[str]) -> None:
        """Delete 1-100 messages, each under 7 days old (Stoat refuses older ones)."""
        if not 1 <= len(message_ids) <= MAX_BULK_DELETE:
            raise InvalidRequest(f"bulk delete takes 1-{MAX_BULK_DELETE} ids, not {len(message_ids)}")
        await self.request("DELETE", f"/channels/{channel_id}/messages/bulk", json={"ids": list(message_ids)})

    async def fetch_message(self, channel_id: str, message_id: str) -> Message:
        return await self._get(f"/channels/{channel_id}/messages/{message_id}", Message)

    async def fetch_messages(
        self,
        channel_id: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        oldest_first: bool = False,
    ) -> list[Message]:
        if not 1 <= limit <= 100:
            raise InvalidRequest("limit must be within 1-100")
        params = {"limit": str(limit), "sort": "Oldest" if oldest_first else "Latest"}
        if before:
            params["before"] = before
        if after:
            params["after"] = after
        return await self._get(f"/channels/{channel_id}/messages", list[Message], params)

    async def add_reaction(self, channel_id: str, message_id: str, emoji: str) -> None:
        await self.request(
            "PUT", f"/channels/{channel_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}"
        )

    async def remove_reaction(
        self, channel_id: str, message_id: str, emoji: str, *, user_id: str | None = None
    ) -> None:
        params = {"user_id": user_id} if user_id else None
        await self.request(
            "DELETE",
            f"/channels/{channel_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}",
            params=params,
        )

    async def clear_reactions(self, channel_id: str, message_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/messages/{message_id}/reactions")

    # --- members, kicks and bans --------------------------------------------------------------
    async def fetch_member(self, server_id: str, user_id: str) -> Member:
        return await self._get(f"/servers/{server_id}/members/{user_id}", Member)

    async def fetch_members(self, server_id: str) -> MembersPage:
        return await self._get(f"/servers/{server_id}/members", MembersPage)

    async def edit_member(
        self,
        server_id: str,
        user_id: str,
        *,
        nickname: str | None = None,
        roles: Sequence[str] | None = None,
        timeout_until: datetime | None = None,
        remove: Sequence[str] = (),
    ) -> Member:
        """Edit a member. ``roles`` REPLACES the whole list: read, change, then write."""
        if nickname is not None and not 1 <= len(nickname) <= 32:
            raise InvalidRequest("nickname must be 1-32 characters")
        body = _given(
            nickname=nickname,
            roles=None if roles is None else list(roles),
            timeout=None if timeout_until is None else format_timestamp(timeout_until),
            remove=list(remove) or None,
        )
        data = await self.request("PATCH", f"/servers/{server_id}/members/{user_id}", json=body)
        return msgspec.convert(data, Member)

    async def kick_member(self, server_id: str, user_id: str) -> None:
        with contextlib.suppress(AlreadyApplied):  # a retry found them gone: the kick worked
            await self.request("DELETE", f"/servers/{server_id}/members/{user_id}")

    async def ban_user(self, server_id: str, user_id: str, reason: str | None = None) -> None:
        if reason is not None and len(reason) > 1024:
            raise InvalidRequest("a ban reason is at most 1024 characters")
        body = {"reason": reason} if reason else {}
        await self.request("PUT", f"/servers/{server_id}/bans/{user_id}", json=body)

    async def unban_user(self, server_id: str, user_id: str) -> None:
        with contextlib.suppress(AlreadyApplied):  # a retry found no ban: the unban worked
            await self.request("DELETE", f"/servers/{server_id}/bans/{user_id}")

    async def fetch_bans(self, server_id: str) -> BanList:
        return await self._get(f"/servers/{server_id}/bans", BanList)

    # --- servers, roles and channels ----------------------------------------------------------
    async def fetch_server(self, server_id: str) -> Server:
        return await self._get(f"/servers/{server_id}", Server)

    async def fetch_role(self, server_id: str, role_id: str) -> Role:
        return await self._get(f"/servers/{server_id}/roles/{role_id}", Role)

    async def create_role(self, server_id: str, name: str) -> NewRole:
        if not 1 <= len(name) <= 32:
            raise InvalidRequest("a role name is 1-32 characters")
        data = await self.request("POST", f"/servers/{server_id}/roles", json={"name": name})
        return msgspec.convert(data, NewRole)

    async def edit_role(
        self,
        server_id: str,
        role_id: str,
        *,
        name: str | None = None,
        colour: str | None = None,
        hoist: bool | None = None,
    ) -> Role:
        body = _given(name=name, colour=colour, hoist=hoist)
        data = await self.request("PATCH", f"/servers/{server_id}/roles/{role_id}", json=body)
        return msgspec.convert(data, Role)

    async def delete_role(self, server_id: str, role_id: str) -> None:
        await self.request("DELETE", f"/servers/{server_id}/roles/{role_id}")

    async def set_role_permissions(self, server_id: str, role_id: str, *, allow: int, deny: int) -> Server:
        data = await self.request(
            "PUT",
            f"/servers/{server_id}/permissions/{role_id}",
            json={"permissions": {"allow": allow, "deny": deny}},
        )
        return msgspec.convert(data, Server)

    async def set_server_default_permissions(self, server_id: str, permissions: int) -> Server:
        data = await self.request(
            "PUT", f"/servers/{server_id}/permissions/default", json={"permissions": permissions}
        )
        return msgspec.convert(data, Server)

    async def fetch_channel(self, channel_id: str) -> Channel:
        return await self._get(f"/channels/{channel_id}", Channel)

    async def create_channel(
        self, server_id: str, name: str, *, description: str | None = None, voice: bool = False
    ) -> Channel:
        if not 1 <= len(name) <= 32:
            raise InvalidRequest("a channel name is 1-32 characters")
        body = {"type": "Voice" if voice else "Text", "name": name, **_given(description=description)}
        data = await self.request("POST", f"/servers/{server_id}/channels", json=body)
        return msgspec.convert(data, Channel)

    async def edit_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        archived: bool | None = None,
    ) -> Channel:
        body = _given(name=name, description=description, archived=archived)
        data = await self.request("PATCH", f"/channels/{channel_id}", json=body)
        return msgspec.convert(data, Channel)

    async def delete_channel(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}")

    async def set_channel_role_permissions(
        self, channel_id: str, role_id: str, *, allow: int, deny: int
    ) -> Channel:
        data = await self.request(
            "PUT",
            f"/channels/{channel_id}/permissions/{role_id}",
            json={"permissions": {"allow": allow, "deny": deny}},
        )
        return msgspec.convert(data, Channel)

    async def set_channel_default_permissions(self, channel_id: str, *, allow: int, deny: int) -> Channel:
        data = await self.request(
            "PUT",
            f"/channels/{channel_id}/permissions/default",
            json={"permissions": {"allow": allow, "deny": deny}},
        )
        return msgspec.convert(data, Channel)


_encode_json = msgspec.json.Encoder().encode


def _given(**fields: Any) -> dict[str, Any]:
    """A request body of the fields that were given (None: leave it as it is)."""
    return {name: value for name, value in fields.items() if value is not None}


def _decode_error_body(raw: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(raw) if raw else {}
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after_seconds(payload: Mapping[str, Any]) -> float:
    """The rate limiter sends ``retry_after`` in ms; InSlowmode sends seconds (PROTOCOL.md §6)."""
    value = payload.get("retry_after")
    if not isinstance(value, int | float):
        return 1.0
    seconds = float(value) if payload.get("type") == "InSlowmode" else float(value) / 1000
    return min(max(seconds, 0.0), 60.0)


def _status_type(status: int) -> str:
    return {401: "InvalidSession", 403: "Forbidden", 404: "NotFound"}.get(status, f"HTTP{status}")
