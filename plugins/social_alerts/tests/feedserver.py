"""A local feed server on loopback for the social alerts tests and benchmark."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web


@dataclass
class FeedItem:
    title: str
    link: str = ""
    guid: str | None = None
    published: datetime | None = None
    author: str = ""
    summary: str = ""


@dataclass
class Feed:
    title: str = "Test feed"
    items: list[FeedItem] = field(default_factory=list)  # newest first, as feeds list them
    status: int = 200
    raw: bytes | None = None  # served as is (malformed XML...)
    headers: dict[str, str] = field(default_factory=dict)
    huge: int = 0  # stream this many bytes of filler (no Content-Length)
    conditional: bool = True  # ETag/Last-Modified and 304s

    def add(self, title: str, *, guid: bool = True, when: datetime | None = None, **extra: Any) -> FeedItem:
        number = len(self.items) + 1
        item = FeedItem(
            title,
            link=extra.pop("link", f"https://example.org/{number}"),
            guid=f"urn:item:{number}:{title}" if guid else None,
            published=when or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=number),
            **extra,
        )
        self.items.insert(0, item)
        return item

    def rss(self) -> bytes:
        parts = [
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(self.title)}</title>'
            "<link>https://example.org/</link><description>d</description>"
        ]
        for item in self.items:
            parts.append("<item>")
            parts.append(f"<title>{escape(item.title)}</title>")
            if item.link:
                parts.append(f"<link>{escape(item.link)}</link>")
            if item.guid:
                parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
            if item.published:
                parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
            if item.author:
                parts.append(f"<author>{escape(item.author)}</author>")
            if item.summary:
                parts.append(f"<description>{escape(item.summary)}</description>")
            parts.append("</item>")
        parts.append("</channel></rss>")
        return "".join(parts).encode()


class FeedServer:
    """Serves ``/<name>`` from :attr:`feeds`; records every request's headers."""

    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def hits(self, name: str) -> list[dict[str, str]]:
        return [headers for path, headers in self.requests if path == name]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append((name, dict(request.headers)))
        feed = self.feeds.get(name)
        if feed is None:
            return web.Response(status=404)
        if feed.status != 200:
            return web.Response(status=feed.status, headers=feed.headers)
        if feed.huge:
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            await response.prepare(request)
            chunk = b"<!-- filler -->" * 4096
            sent = 0
            try:
                while sent < feed.huge:
                    await response.write(chunk)
                    sent += len(chunk)
            except (ConnectionResetError, RuntimeError):
                pass
            return response
        body = feed.raw if feed.raw is not None else feed.rss()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if feed.conditional and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"} if feed.conditional else {}
        return web.Response(
            body=body, content_type="application/rss+xml", headers={**headers, **feed.headers}
        )

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
