"""Social alerts polling: 1,000 followed feeds from a local feed server, time per round.

Half the feeds are unchanged (answered 304 to the conditional GET), half have one new item per
round. Each round polls every feed once through the real service (the core's guarded
``OutboundHttp``, feedparser, dedupe, the embedded storage); posting goes to a counter instead
of Stoat. The feed server runs in its own process so its CPU is not counted. Prints the wall
time per round and the bot process's CPU per feed; the goal is a round under 10 s on 2 cores.
Run: ``python benchmarks/social_alerts.py [feeds] [rounds]``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from logiq_social_alerts.models import DOCUMENTS, AlertFeed, AlertSubscription
from logiq_social_alerts.service import AlertSettings, AlertsService
from loguru import logger

from logiq_core.framework.outbound import OutboundHttp
from logiq_core.framework.storage import Storage

GOAL_SECONDS = 10.0
ITEMS_PER_FEED = 20
HOSTS = 25  # the server listens on this many ports: 25 "sites" of 40 feeds (ctx.http keeps 4 connections per site)


def _rss(feed: int, newest: int) -> bytes:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for n in range(newest, max(0, newest - ITEMS_PER_FEED), -1):
        items.append(
            f"<item><title>Feed {feed} post {n}</title><link>https://example.org/{feed}/{n}</link>"
            f"<guid>urn:{feed}:{n}</guid><pubDate>{format_datetime(base + timedelta(minutes=n))}</pubDate>"
            f"<description>Post number {n} of feed {feed}, with a &lt;b&gt;summary&lt;/b&gt;.</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {feed}</title>'
        f"<link>https://example.org/{feed}</link><description>d</description>{''.join(items)}"
        "</channel></rss>"
    ).encode()


def serve(port_out: Any) -> None:
    """The feed server (its own process): even feeds never change, odd feeds grow per request."""
    from aiohttp import web

    requests: dict[int, int] = {}

    async def handle(request: web.Request) -> web.Response:
        feed = int(request.match_info["n"])
        if feed % 2 == 0:
            etag = f'"static-{feed}"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(
                body=_rss(feed, ITEMS_PER_FEED), content_type="application/rss+xml", headers={"ETag": etag}
            )
        requests[feed] = requests.get(feed, 0) + 1
        newest = ITEMS_PER_FEED + requests[feed]
        return web.Response(
            body=_rss(feed, newest),
            content_type="application/rss+xml",
            headers={"ETag": f'"v{newest}-{feed}"'},
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/f/{n}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ports = []
        for _ in range(HOSTS):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
            ports.append(sock.getsockname()[1])
        port_out.put(ports)
        await asyncio.Event().wait()

    asyncio.run(main())


class CountingPoster:
    def __init__(self) -> None:
        self.posts = 0

    async def post_items(
        self, sub: Any, items: list[Any], source: str, skipped: int, *, test: bool = False
    ) -> None:
        self.posts += len(items)

    async def warn(self, sub: Any, text: str) -> None:
        raise AssertionError(f"no feed should fail: {text}")


def _child_cpu(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(feeds: int, rounds: int, ports: list[int]) -> None:
    logger.remove()
    with tempfile.TemporaryDirectory(prefix="logiq-bench-") as data_dir:
        storage = Storage(os.environ.get("LOGIQ_MONGODB_URI"), Path(data_dir))
        await storage.start(list(DOCUMENTS))
        db_pid = storage.embedded._process.pid if storage.embedded and storage.embedded._process else None
        now = [datetime.now(UTC)]
        interval = 900.0
        poster = CountingPoster()
        async with OutboundHttp(allow=["127.0.0.0/8"]) as http:
            service = AlertsService(
                http, poster, AlertSettings(default_interval_seconds=interval), clock=lambda: now[0]
            )
            urls = [f"http://127.0.0.1:{ports[n % len(ports)]}/f/{n}" for n in range(feeds)]
            await AlertFeed.insert_many(
                [AlertFeed(url=url, subscribers=1, interval_seconds=interval) for url in urls]
            )
            await AlertSubscription.insert_many(
                [
                    AlertSubscription(
                        server_id=f"S{n % 100}",
                        number=n // 100 + 1,
                        source=url,
                        url=url,
                        channel_id=f"C{n % 100}",
                        interval_seconds=interval,
                    )
                    for n, url in enumerate(urls)
                ]
            )
            print(
                f"Social alerts polling: {feeds} feeds on {len(ports)} local sites (half 304, half one new item per round), "
                f"{machine()}, storage {storage.description}"
            )
            for number in range(rounds + 1):
                cpu, db_cpu, posts = time.process_time(), _child_cpu(db_pid), poster.posts
                stats = await service.poll_round()
                cpu, db_cpu = time.process_time() - cpu, _child_cpu(db_pid) - db_cpu
                label = "first poll (records, posts nothing)" if number == 0 else f"round {number}"
                assert stats.polled == feeds and stats.failed == 0, stats
                print(
                    f"  {label:38} {stats.seconds:6.2f} s  (goal < {GOAL_SECONDS:g} s)  "
                    f"304: {stats.not_modified}, new items: {stats.new_items}, posts: {poster.posts - posts}; "
                    f"CPU per feed {cpu / feeds * 1000:.2f} ms (bot), {db_cpu / feeds * 1000:.2f} ms (storage)"
                )
                now[0] += timedelta(seconds=interval + 1)
        await storage.stop()


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    try:
        asyncio.run(run(feeds, rounds, ports.get(timeout=30)))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
