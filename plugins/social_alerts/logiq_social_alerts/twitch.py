"""Twitch live alerts through the Helix API, with the operator's application credentials.

Twitch has no public feed, so ``twitch:<login>`` works only when the operator configures an
application in ``plugins.toml``::

    [plugins.social_alerts.config]
    twitch_client_id = "abcd1234"
    twitch_client_secret_env = "LOGIQ_TWITCH_SECRET"   # the NAME of the variable holding the secret

The secret is read from that environment variable when a token is needed and is never stored,
logged or shown. An app access token comes from the client-credentials flow, is cached until
shortly before it expires and is fetched again when Helix answers 401. Users are looked up by
login once (their id is stored with the feed); live status is polled for up to 100 users per
request. A live stream becomes one item keyed by its stream id, so it is announced once.

The token and API URLs are the operator's configuration (tests point them at a local fake), so
they are requested with ``trusted=True``; nothing a member types is ever put in their host.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from logiq_core.plugin import HttpResponse, OutboundHttp, OutboundHttpError

PREFIX = "twitch:"
DEFAULT_AUTH_URL = "https://id.twitch.tv/oauth2/token"
DEFAULT_API_URL = "https://api.twitch.tv/helix"
BATCH = 100  # Helix takes up to 100 logins or user ids per request
MAX_BYTES = 1024 * 1024
WHAT_TO_CONFIGURE = (
    "twitch: needs a Twitch application, which this bot's operator has not configured "
    "(plugins.toml [plugins.social_alerts.config] twitch_client_id, and twitch_client_secret_env "
    "naming the environment variable that holds the client secret)"
)


class TwitchError(Exception):
    """Twitch could not be asked (credentials refused, an error status, a broken answer)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class TwitchUser:
    id: str
    login: str
    display_name: str


@dataclass(frozen=True, slots=True)
class TwitchStream:
    id: str
    user_id: str
    user_login: str
    user_name: str
    title: str
    game_name: str
    started_at: str


@dataclass(frozen=True, slots=True)
class TwitchCredentials:
    """Where the application's credentials are; the secret itself stays in the environment."""

    client_id: str
    secret_env: str
    auth_url: str = DEFAULT_AUTH_URL
    api_url: str = DEFAULT_API_URL

    def secret(self) -> str:
        value = os.environ.get(self.secret_env, "").strip()
        if not value:
            raise TwitchError(
                f"the environment variable {self.secret_env} (twitch_client_secret_env) is not set"
            )
        return value


def login_of(url: str) -> str:
    """``twitch:<login>`` → the login."""
    return url.removeprefix(PREFIX)


def _retry_after(response: HttpResponse, now: float) -> float | None:
    """Twitch says when its rate limit bucket refills in ``Ratelimit-Reset`` (epoch seconds)."""
    if response.retry_after is not None:
        return response.retry_after
    reset = response.headers.get("Ratelimit-Reset", "")
    return max(0.0, float(reset) - now) if reset.isdigit() else None


class TwitchClient:
    """Helix with an app access token (client-credentials flow), cached until it expires.

    ``clock`` gives wall-clock seconds (the plugin's timer clock, so tests can move it)."""

    def __init__(
        self, http: OutboundHttp, credentials: TwitchCredentials, clock: Callable[[], float] = time.time
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0

    def __repr__(self) -> str:  # never shows the token
        return f"TwitchClient(client_id={self.credentials.client_id!r}, api={self.credentials.api_url!r})"

    async def token(self, *, stale: str | None = None) -> str:
        """The cached app token, or a new one when it expired or ``stale`` was refused."""
        async with self._lock:
            if self._token is not None and self._token != stale and self.clock() < self._expires_at:
                return self._token
            if stale is not None and self._token == stale:
                self._token = None
            form = urlencode(
                {
                    "client_id": self.credentials.client_id,
                    "grant_type": "client_credentials",
                    "client_secret": self.credentials.secret(),
                }
            )
            try:
                response = await self.http.post(
                    self.credentials.auth_url,
                    data=form,
                    trusted=True,
                    follow_redirects=False,  # never re-send the secret to a redirect's target
                    max_bytes=MAX_BYTES,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                    },
                )
            except OutboundHttpError as exc:
                raise TwitchError(f"Twitch's token endpoint could not be reached ({exc})") from None
            if response.status in (400, 401, 403):
                raise TwitchError(
                    f"Twitch refused the application credentials ({response.status}); the "
                    "operator should check twitch_client_id and the client secret",
                    status=response.status,
                )
            if not response.ok:
                raise TwitchError(
                    f"Twitch's token endpoint answered {response.status}",
                    status=response.status,
                    retry_after=_retry_after(response, self.clock()),
                )
            try:
                data = response.json()
                token = str(data["access_token"])
                lifetime = float(data.get("expires_in") or 3600)
            except (ValueError, TypeError, KeyError):
                raise TwitchError("Twitch's token endpoint sent an answer without a token") from None
            self.tokens_fetched += 1
            self._token = token
            self._expires_at = self.clock() + lifetime * 0.9  # renewed a little before it expires
            return token

    async def _get(self, path: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        url = f"{self.credentials.api_url.rstrip('/')}/{path}?{urlencode(params)}"
        token = await self.token()
        for attempt in range(2):
            try:
                response = await self.http.get(
                    url,
                    trusted=True,
                    max_bytes=MAX_BYTES,
                    headers={"Client-Id": self.credentials.client_id, "Authorization": f"Bearer {token}"},
                )
            except OutboundHttpError as exc:
                raise TwitchError(f"Twitch could not be reached ({exc})") from None
            if response.status == 401 and attempt == 0:  # revoked or expired early: a new token, once
                token = await self.token(stale=token)
                continue
            break
        if not response.ok:
            raise TwitchError(
                f"Twitch answered {response.status}",
                status=response.status,
                retry_after=_retry_after(response, self.clock()),
            )
        try:
            data = response.json()["data"]
        except (ValueError, TypeError, KeyError):
            raise TwitchError("Twitch sent an answer without data") from None
        if not isinstance(data, list):
            raise TwitchError("Twitch sent an answer without data")
        return [entry for entry in data if isinstance(entry, dict)]

    async def users(self, logins: Iterable[str]) -> dict[str, TwitchUser]:
        """The users with these logins, by lowercased login (missing ones are absent)."""
        wanted = sorted({login.lower() for login in logins})
        found: dict[str, TwitchUser] = {}
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            for entry in await self._get("users", [("login", login) for login in batch]):
                user = TwitchUser(
                    str(entry.get("id", "")),
                    str(entry.get("login", "")).lower(),
                    str(entry.get("display_name") or entry.get("login") or ""),
                )
                if user.id and user.login:
                    found[user.login] = user
        return found

    async def streams(self, user_ids: Iterable[str]) -> dict[str, TwitchStream]:
        """The live streams of these users, by user id (offline users are absent)."""
        wanted = sorted(set(user_ids))
        live: dict[str, TwitchStream] = {}
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            params = [("user_id", uid) for uid in batch] + [("first", str(BATCH))]
            for entry in await self._get("streams", params):
                if entry.get("type", "live") != "live" or not entry.get("id"):
                    continue
                stream = TwitchStream(
                    str(entry["id"]),
                    str(entry.get("user_id", "")),
                    str(entry.get("user_login", "")),
                    str(entry.get("user_name") or entry.get("user_login") or ""),
                    str(entry.get("title") or ""),
                    str(entry.get("game_name") or ""),
                    str(entry.get("started_at") or ""),
                )
                live[stream.user_id] = stream
        return live
