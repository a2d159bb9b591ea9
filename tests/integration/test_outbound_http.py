"""Outbound HTTP for plugins (``ctx.http``): member-typed URLs never reach this machine's network.

Every test stays on loopback. A loopback web server counts the TCP connections it accepts, so a
refusal is shown to happen before any connection, not after one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.outbound import (
    Allowances,
    OutboundHttp,
    OutboundRefused,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
    parse_retry_after,
)
from logiq_core.framework.policy import load_policy

FEED = b"<rss><channel><title>Stoat news</title></channel></rss>"


class LoopbackSite:
    """A web server on 127.0.0.1 and ::1 (same port) that counts accepted connections."""

    def __init__(self, host: str = "127.0.0.1", ipv6: bool = True) -> None:
        self.host = host
        self.ipv6 = ipv6
        self.connections = 0
        self.paths: list[str] = []
        self.user_agents: list[str] = []
        self.limited_hits = 0
        self.in_flight = self.most_in_flight = 0
        self.release = asyncio.Event()  # lets /slow finish when the site stops
        self._servers: list[asyncio.AbstractServer] = []
        self.port = 0

    async def start(self) -> LoopbackSite:
        app = web.Application()
        app.router.add_get("/feed", self.feed)
        app.router.add_get("/big", self.big)
        app.router.add_get("/stream", self.stream)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/redirect", self.redirect)
        app.router.add_get("/limited", self.limited)
        app.router.add_get("/secret", self.secret)
        app.router.add_get("/held", self.held)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        handler_factory = self.runner.server
        assert handler_factory is not None

        def counting_factory() -> Any:
            self.connections += 1
            return handler_factory()

        loop = asyncio.get_running_loop()
        server = await loop.create_server(counting_factory, self.host, 0)
        self._servers.append(server)
        self.port = server.sockets[0].getsockname()[1]
        if self.ipv6:
            self._servers.append(await loop.create_server(counting_factory, "::1", self.port))
        return self

    async def stop(self) -> None:
        self.release.set()
        for server in self._servers:
            server.close()
        await self.runner.cleanup()

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def _seen(self, request: web.Request) -> None:
        self.paths.append(request.path)
        self.user_agents.append(request.headers.get("User-Agent", ""))

    async def feed(self, request: web.Request) -> web.Response:
        self._seen(request)
        etag, modified = '"v1"', "Tue, 01 Dec 2026 10:00:00 GMT"
        if (
            request.headers.get("If-None-Match") == etag
            or request.headers.get("If-Modified-Since") == modified
        ):
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=FEED, content_type="application/rss+xml", headers={"ETag": etag, "Last-Modified": modified}
        )

    async def big(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(body=b"x" * 100_000)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """No Content-Length: the cap must hold while reading."""
        self._seen(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"y" * 10_000)
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self._seen(request)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), 10)
        return web.Response(text="too late")

    async def redirect(self, request: web.Request) -> web.Response:
        self._seen(request)
        raise web.HTTPFound(request.query["to"])

    async def limited(self, request: web.Request) -> web.Response:
        self._seen(request)
        self.limited_hits += 1
        if self.limited_hits == 1:
            return web.Response(status=429, headers={"Retry-After": "0"})
        return web.Response(text="fresh")

    async def held(self, request: web.Request) -> web.Response:
        """Holds its connection a moment, so concurrent requests overlap."""
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.05)  # a slow server, not a wait in the test
        self.in_flight -= 1
        return web.Response(text="done")

    async def secret(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(text="internal admin page")


class FixedDNS(AbstractResolver):
    """Answers listed names from a table (as a hostile DNS server might); others from the system."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.system = aiohttp.ThreadedResolver()
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        self.lookups.append(name)
        if name not in self.table:
            return await self.system.resolve(host, port, family)
        return [
            ResolveResult(
                hostname=name,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.table[name]
        ]

    async def close(self) -> None:
        await self.system.close()


@pytest.fixture
async def site() -> AsyncIterator[LoopbackSite]:
    running = await LoopbackSite().start()
    yield running
    await running.stop()


def client(allow: list[str] | None = None, **options: Any) -> OutboundHttp:
    dns = FixedDNS(
        {
            "loopback.example": ["127.0.0.1"],
            "feeds.example.org": ["127.0.0.1"],
            "mixed.example": ["10.1.2.3", "::1"],
        }
    )
    return OutboundHttp(allow=allow or [], resolver=dns, **options)


REFUSED = [
    ("http://127.0.0.1:{port}/feed", "127.0.0.1 is a loopback address"),
    ("http://localhost:{port}/feed", "localhost: it resolves to"),  # the system's own DNS
    ("http://[::1]:{port}/feed", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]:{port}/feed", "carries the IPv4 address 127.0.0.1, a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address (where cloud metadata"),
    ("http://10.0.0.1/", "a private network address"),
    ("http://0.0.0.0:{port}/feed", "the unspecified address"),
    ("http://loopback.example:{port}/feed", "loopback.example: it resolves to 127.0.0.1, a loopback address"),
    ("http://mixed.example:{port}/feed", "it resolves to 10.1.2.3, a private network address"),
    ("http://2130706433:{port}/feed", "non-standard way of writing an IPv4 address (127.0.0.1, a loopback"),
    ("http://0177.0.0.1:{port}/feed", "non-standard way of writing an IPv4 address (127.0.0.1, a loopback"),
    ("http://0x7f.1:{port}/feed", "non-standard way of writing an IPv4 address (127.0.0.1"),
    ("http://100.64.0.1/", "a carrier-grade NAT address"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://240.0.0.1/", "a reserved address"),
    ("http://[fd00::1]/", "a private network address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://[2002:7f00:1::]/", "carries the IPv4 address 127.0.0.1"),
    ("http://[64:ff9b::a00:1]/", "carries the IPv4 address 10.0.0.1"),
    ("ftp://127.0.0.1/", "only http and https"),
    ("http://user:pw@example.org/", "credentials"),
]


@pytest.mark.parametrize(("template", "reason"), REFUSED, ids=[t.split("//")[1][:28] for t, _ in REFUSED])
async def test_member_typed_urls_to_this_machine_or_private_networks_are_refused_before_connecting(
    site: LoopbackSite, template: str, reason: str
) -> None:
    async with client() as http:
        started = time.monotonic()
        with pytest.raises(OutboundRefused) as refused:
            await http.get(template.format(port=site.port))
        assert reason in str(refused.value)
        assert time.monotonic() - started < 5  # refused at once, never tried and timed out
    assert site.connections == 0 and site.paths == []


async def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(site: LoopbackSite) -> None:
    async with client(allow=["feeds.example.org"]) as http:
        for target in (site.url("/secret"), site.url("/secret", "loopback.example"), "http://[::1]/secret"):
            start = site.url(f"/redirect?to={target}", "feeds.example.org")
            with pytest.raises(OutboundRefused, match="loopback address"):
                await http.get(start)
    assert site.paths == ["/redirect"] * 3  # the allowed hop ran; the refused hop never connected
    assert "/secret" not in site.paths


async def test_allowed_networks_and_hosts_are_fetched_with_a_descriptive_user_agent(
    site: LoopbackSite,
) -> None:
    async with client(allow=["127.0.0.0/8", "::1"]) as http:
        response = await http.get(site.url("/feed"))
        assert (response.status, response.body) == (200, FEED)
        assert response.text().startswith("<rss>")
        assert (await http.get(site.url("/feed", "[::1]"))).body == FEED
        assert (await http.get(site.url("/feed", "localhost"))).ok
    assert site.user_agents[0].startswith("Logiq/") and "Stoat" in site.user_agents[0]
    async with client(allow=["feeds.example.org"]) as http:
        assert (await http.get(site.url("/feed", "feeds.example.org"))).body == FEED


async def test_operator_urls_are_trusted_only_for_their_first_hop(site: LoopbackSite) -> None:
    async with client() as http:
        assert (await http.get(site.url("/feed"), trusted=True)).body == FEED
        with pytest.raises(OutboundRefused):
            await http.get(site.url("/feed"))  # the same URL typed by a member
        with pytest.raises(OutboundRefused):
            await http.get(site.url(f"/redirect?to={site.url('/secret')}"), trusted=True)
    assert "/secret" not in site.paths


async def test_responses_over_the_size_cap_are_refused(site: LoopbackSite) -> None:
    async with client(allow=["127.0.0.1"], max_bytes=50_000) as http:
        with pytest.raises(ResponseTooLarge, match="100,000 bytes; the cap is 50,000"):
            await http.get(site.url("/big"))
        with pytest.raises(ResponseTooLarge, match="more than the cap of 50,000"):
            await http.get(site.url("/stream"))  # no Content-Length: cut while reading
        assert len((await http.get(site.url("/big"), max_bytes=200_000)).body) == 100_000


async def test_a_server_that_does_not_answer_times_out(site: LoopbackSite) -> None:
    # /slow answers after 10 s: any timeout well under 3 s shows it is kept; short ones save time.
    async with client(allow=["127.0.0.1"], read_timeout=0.1) as http:
        started = time.monotonic()
        with pytest.raises(OutboundTimeout, match="did not answer in time"):
            await http.get(site.url("/slow"))
        assert time.monotonic() - started < 3
        with pytest.raises(OutboundTimeout):
            await http.get(site.url("/slow"), timeout=0.05)


async def test_conditional_get_returns_304_when_nothing_changed(site: LoopbackSite) -> None:
    async with client(allow=["127.0.0.1"]) as http:
        first = await http.get_conditional(site.url("/feed"), None)
        assert first.status == 200 and not first.not_modified
        assert first.validators.etag == '"v1"' and first.validators.last_modified is not None
        again = await http.get_conditional(site.url("/feed"), first.validators)
        assert again.not_modified and again.body == b""


async def test_retry_after_is_read_and_can_be_waited_out(site: LoopbackSite) -> None:
    async with client(allow=["127.0.0.1"]) as http:
        limited = await http.get(site.url("/limited"))
        assert (limited.status, limited.retry_after) == (429, 0.0)
        site.limited_hits = 0
        retried = await http.get(site.url("/limited"), retries=1)
        assert (retried.status, retried.body) == (200, b"fresh")
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


async def test_one_host_gets_at_most_per_host_connections_at_once(site: LoopbackSite) -> None:
    async with client(allow=["127.0.0.1"], per_host=2) as http:
        answers = await asyncio.gather(*(http.get(site.url("/held")) for _ in range(6)))
    assert [a.body for a in answers] == [b"done"] * 6
    assert site.most_in_flight == 2


async def test_redirect_loops_stop(site: LoopbackSite) -> None:
    async with client(allow=["127.0.0.1"]) as http:
        url = site.url("/feed")
        for _ in range(7):
            url = site.url(f"/redirect?to={url}")
        with pytest.raises(TooManyRedirects):
            await http.get(url)


def test_plugins_toml_http_allow_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text('[http]\nallow = ["127.0.0.0/8", "::1", "feeds.example.org", "*.corp.example"]\n')
    policy = load_policy(path)
    assert policy.http_allow == ("127.0.0.0/8", "::1", "feeds.example.org", "*.corp.example")
    allowances = Allowances.parse(policy.http_allow)
    assert allowances.allows_host("FEEDS.example.org.") and allowances.allows_host("a.corp.example")
    assert not allowances.allows_host("corp.example.evil")
    path.write_text('[http]\nallow = ["not a host!"]\n')
    with pytest.raises(ConfigurationError, match="neither a network"):
        load_policy(path)
    path.write_text('[http]\nallow = "127.0.0.1"\n')
    with pytest.raises(ConfigurationError, match="list of strings"):
        load_policy(path)
    path.write_text("[http]\nallowed = []\n")
    with pytest.raises(ConfigurationError, match="unknown key"):
        load_policy(path)
