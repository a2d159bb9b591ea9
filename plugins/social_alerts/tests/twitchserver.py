"""A local fake of Twitch's token endpoint and the Helix API parts social alerts uses, on loopback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeStream:
    id: str
    title: str = "Planting tomatoes"
    game_name: str = "Gardening"
    started_at: str = "2026-12-01T20:00:00Z"


@dataclass
class FakeTwitch:
    client_id: str = "test-client-id"
    secret: str = "not-a-real-secret-9f2c"
    expires_in: int = 3600
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # login -> (id, display name)
    live: dict[str, FakeStream] = field(default_factory=dict)  # user id -> its stream
    valid_tokens: set[str] = field(default_factory=set)
    token_requests: list[dict[str, str]] = field(default_factory=list)  # the form and query of each
    api_requests: list[tuple[str, list[tuple[str, str]], dict[str, str]]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth2/token"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/helix"

    def requests_to(self, path: str) -> list[tuple[str, list[tuple[str, str]], dict[str, str]]]:
        return [r for r in self.api_requests if r[0] == path]

    def revoke_all(self) -> None:
        self.valid_tokens.clear()

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({**{k: str(v) for k, v in form.items()}, "query": request.query_string})
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"status": 400, "message": "invalid grant type"}, status=400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.secret:
            return web.json_response({"status": 403, "message": "invalid client secret"}, status=403)
        token = f"token-{len(self.token_requests)}"
        self.valid_tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "bearer"}
        )

    def _authorised(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return request.headers.get("Client-Id") == self.client_id and bearer in self.valid_tokens

    def _record(self, request: web.Request) -> None:
        self.api_requests.append(
            (request.path.rsplit("/", 1)[-1], list(request.query.items()), dict(request.headers))
        )

    async def _users(self, request: web.Request) -> web.Response:
        self._record(request)
        if not self._authorised(request):
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"}, status=401
            )
        data: list[dict[str, Any]] = []
        for login in request.query.getall("login", []):
            if login.lower() in self.users:
                uid, name = self.users[login.lower()]
                data.append({"id": uid, "login": login.lower(), "display_name": name, "type": ""})
        return web.json_response({"data": data})

    async def _streams(self, request: web.Request) -> web.Response:
        self._record(request)
        if not self._authorised(request):
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"}, status=401
            )
        by_id = {uid: (login, name) for login, (uid, name) in self.users.items()}
        data = []
        for uid in request.query.getall("user_id", []):
            stream = self.live.get(uid)
            if stream is not None and uid in by_id:
                login, name = by_id[uid]
                data.append(
                    {
                        "id": stream.id,
                        "user_id": uid,
                        "user_login": login,
                        "user_name": name,
                        "game_name": stream.game_name,
                        "type": "live",
                        "title": stream.title,
                        "started_at": stream.started_at,
                        "viewer_count": 3,
                    }
                )
        return web.json_response({"data": data, "pagination": {}})

    async def start(self) -> FakeTwitch:
        app = web.Application()
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_get("/helix/users", self._users)
        app.router.add_get("/helix/streams", self._streams)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
