"""A small feed that ``logiq sandbox`` serves itself on loopback, so a manager can try alerts
offline: ``!alerts add <url> #lounge``, then ``/feed Hello`` publishes an item that the bot
announces once, within seconds (the sandbox polls every few seconds)."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

SANDBOX_INTERVALS = {"default_interval_seconds": 5, "min_interval_seconds": 2}


class SandboxFeed:
    def __init__(self) -> None:
        self.items: list[tuple[str, datetime]] = [("Welcome to the sandbox feed", datetime.now(UTC))]
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def allow(self) -> str:
        """The ``[http] allow`` entry the sandbox adds: loopback only (its own feed)."""
        return "127.0.0.1/32"

    def plugin_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**config, **SANDBOX_INTERVALS}

    def publish(self, title: str) -> None:
        self.items.append((title, datetime.now(UTC)))

    def rss(self) -> bytes:
        entries = "".join(
            f"<item><title>{escape(title)}</title><link>https://example.org/sandbox/{n}</link>"
            f"<guid>sandbox-{n}</guid><pubDate>{format_datetime(when)}</pubDate></item>"
            for n, (title, when) in reversed(list(enumerate(self.items)))
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<title>Sandbox feed</title><link>https://example.org/sandbox</link>"
            "<description>a feed served by logiq sandbox</description>"
            f"{entries}</channel></rss>"
        ).encode()

    async def _handle(self, request: web.Request) -> web.Response:
        body = self.rss()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    async def start(self) -> SandboxFeed:
        app = web.Application()
        app.router.add_get("/feed.xml", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
