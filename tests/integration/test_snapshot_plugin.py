"""A plugin built only on the core's services: it fetches a URL a member typed with ``ctx.http``
and answers with what it got as a file (an upload to Autumn), end to end through a real bot and
the Stoat test double. The operator allowed one loopback address (``[http] allow``); any other
address on this machine is refused before a connection is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from logiq_core.framework.commands import CommandContext, CommandError, File, command
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.outbound import OutboundHttpError, OutboundRefused

FEED = b"<rss><channel><item><title>Stoat 0.15 is out</title></item></channel></rss>"


class SnapshotPlugin:
    """``!snapshot <url>``: fetch a page and post it back as a file."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("snapshot", "posts a copy of a web page as a file", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_commands(self, register: Callable[[Any], None]) -> None:
        @command("snapshot", description="Post a copy of a web page as a file")
        async def snapshot(ctx: CommandContext, url: str) -> None:
            try:
                page = await ctx.http.get(url, max_bytes=1_000_000)
            except OutboundRefused as exc:
                raise CommandError(f"I will not fetch that: {exc}.") from None
            except OutboundHttpError as exc:
                raise CommandError(f"I could not fetch that: {exc}.") from None
            content_type = page.headers.get("Content-Type", "text/plain").split(";")[0]
            await ctx.reply(
                f"Fetched {len(page.body)} bytes (HTTP {page.status}).",
                attachments=[File(page.body, "snapshot.xml", content_type)],
            )

        register(snapshot)


class CountingSite:
    """A loopback web server that counts the connections it accepts."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.connections = 0
        self.port = 0

    async def start(self) -> CountingSite:
        async def feed(request: web.Request) -> web.Response:
            return web.Response(body=FEED, content_type="application/rss+xml")

        app = web.Application()
        app.router.add_get("/feed", feed)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        factory = self.runner.server
        assert factory is not None

        def counting() -> Any:
            self.connections += 1
            return factory()

        self.server = await asyncio.get_running_loop().create_server(counting, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.server.close()
        await self.runner.cleanup()


@pytest.fixture
async def sites() -> AsyncIterator[tuple[CountingSite, CountingSite]]:
    allowed, private = await CountingSite("127.0.0.2").start(), await CountingSite("127.0.0.1").start()
    yield allowed, private
    await allowed.stop()
    await private.stop()


async def test_the_plugin_uploads_what_it_fetched_and_is_refused_loopback(
    logiq_harness: Any, sites: tuple[CountingSite, CountingSite]
) -> None:
    allowed, private = sites
    harness = logiq_harness(extra_plugins={"snapshot": SnapshotPlugin()}, http_allow=["127.0.0.2/32"])
    async with harness as h:
        member = h.demo.member_ids[0]
        reply = await h.command(member, f"!snapshot http://127.0.0.2:{allowed.port}/feed")
        assert reply["content"] == f"Fetched {len(FEED)} bytes (HTTP 200)."
        [attached] = h.double.attachments_of(reply)
        assert (attached.filename, attached.content_type, attached.data) == (
            "snapshot.xml",
            "application/rss+xml",
            FEED,
        )
        assert allowed.connections == 1

        for url in (f"http://127.0.0.1:{private.port}/feed", f"http://localhost:{private.port}/feed"):
            refused = await h.command(member, f"!snapshot {url}")
            assert refused["content"].startswith("I will not fetch that: refused")
            assert "a loopback address" in refused["content"]
            assert not h.double.attachments_of(refused)
        assert private.connections == 0
