"""Outbound HTTP for plugins, safe by default: ``ctx.http``.

Social alerts fetch feeds whose URLs server managers type in chat; a URL typed by a member must
never reach the bot's own machine or network. :class:`OutboundHttp` is the one client the core
hands every plugin (``ctx.http``), so every such request goes through the same guard:

* **Addresses are checked after DNS resolution**, on the first hop and on every redirect:
  loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT
  (100.64.0.0/10), multicast, reserved and unspecified addresses are refused, IPv4 and IPv6,
  including IPv4 addresses inside IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64). Legacy IPv4
  spellings (``2130706433``, ``0177.0.0.1``) are refused outright.
* **The connection goes to the address that was checked.** The guard is an aiohttp resolver:
  it filters what DNS answered and aiohttp connects to what it returns, so there is no second
  lookup for a rebinding DNS server to answer differently.
* The operator may allow hosts or networks in ``plugins.toml``::

      [http]
      allow = ["127.0.0.0/8", "::1", "feeds.example.org", "*.internal.example"]

* ``trusted=True`` is for URLs from the operator's own configuration (a model server in
  ``plugins.toml``), never for anything a member typed: its first hop skips the address check
  and uses a separate connection pool, so a trusted connection is never reused for a member's
  URL. Redirects from it are checked like any other.

Every request has connect and read timeouts, a response size cap (:class:`ResponseTooLarge`),
a descriptive User-Agent, a per-host connection limit, at most :data:`MAX_REDIRECTS` redirects
(credentials dropped when the origin changes), no cookies shared between plugins, and helpers
for conditional GET (:class:`Validators`, ``response.not_modified``) and ``Retry-After``
(:func:`parse_retry_after`, ``retries=``). Failures raise :class:`OutboundHttpError` subclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_TOTAL_TIMEOUT = 30.0
DEFAULT_PER_HOST = 4
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


class OutboundHttpError(Exception):
    """An outbound request failed; the message says why and what can be done."""


class OutboundRefused(OutboundHttpError):
    """The guard refused a URL (an address the bot must not reach, or a bad scheme)."""


class ResponseTooLarge(OutboundHttpError):
    """The response was bigger than the request's size cap."""


class OutboundTimeout(OutboundHttpError):
    """The server did not connect or answer in time."""


class OutboundConnectionError(OutboundHttpError):
    """The connection failed (refused, reset, TLS, DNS name not found...)."""


class TooManyRedirects(OutboundHttpError):
    """More redirects than :data:`MAX_REDIRECTS`."""


# --- what may be reached ------------------------------------------------------------------------
def address_refusal(address: IPAddress) -> str | None:
    """Why the bot must not connect to ``address`` (None: it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(embedded)
            return f"which carries the IPv4 address {embedded}, {inner}" if inner else None
    if address.is_unspecified:
        return "the unspecified address (it means this machine)"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private network address"
    if not address.is_global:
        return "not a public internet address"
    return None


@dataclass(frozen=True, slots=True)
class Allowances:
    """The operator's exceptions to the guard: networks and host names (``[http] allow``)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()  # from "*.example.org": any name under it

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowances:
        """Parse ``allow`` entries; ValueError names the entry that is neither a network nor a host."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        domains: list[str] = []
        for entry in entries:
            if not isinstance(entry, str) or not entry.strip():
                raise ValueError(f"{entry!r} is not a network or host name")
            text = entry.strip().lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOSTNAME.match(text) or _LEGACY_IPV4.match(text):
                raise ValueError(
                    f"{entry!r} is neither a network (like 127.0.0.0/8 or ::1) nor a host name "
                    "(like feeds.example.org or *.example.org)"
                )
            if text.startswith("*."):
                domains.append(text[1:])
            else:
                hosts.add(text)
        return cls(tuple(networks), frozenset(hosts), tuple(domains))

    def allows_host(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.hosts or any(name.endswith(domain) for domain in self.domains)

    def allows_address(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(candidate in network for candidate in candidates for network in self.networks)

    def refusal(self, address: IPAddress) -> str | None:
        if self.allows_address(address):
            return None
        return address_refusal(address)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check_url(url: URL, allowances: Allowances) -> None:
    """The checks that need no DNS: scheme, host, and addresses written in the URL itself."""
    if url.scheme not in ("http", "https"):
        raise OutboundRefused(f"refused {url}: only http and https URLs can be fetched")
    host = (url.raw_host or "").lower()
    if not host:
        raise OutboundRefused(f"refused {url}: the URL has no host")
    if url.user is not None or url.password is not None:
        raise OutboundRefused(f"refused {url.with_user(None)}: URLs with credentials are not fetched")
    if allowances.allows_host(host):
        return
    literal = _literal_address(host)
    if literal is not None:
        reason = allowances.refusal(literal)
        if reason:
            raise OutboundRefused(f"refused {url}: {literal} is {reason}")
        return
    if _LEGACY_IPV4.match(host.rstrip(".")):
        try:
            meant = ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            meant = None
        raise OutboundRefused(
            f"refused {url}: {host} is a non-standard way of writing an IPv4 address"
            + (f" ({meant}, {address_refusal(meant) or 'a public address'})" if meant else "")
            + "; write the address in the usual dotted form"
        )


class GuardedResolver(AbstractResolver):
    """DNS for the guarded pool: keeps only addresses the guard allows, so aiohttp connects to
    exactly the addresses that were checked (no second lookup)."""

    def __init__(self, allowances: Allowances, inner: AbstractResolver | None = None) -> None:
        self.allowances = allowances
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if self.allowances.allows_host(host):
            return results
        kept: list[ResolveResult] = []
        refused: list[tuple[str, str]] = []
        for result in results:
            address = _literal_address(result["host"])
            reason = "not an IP address" if address is None else self.allowances.refusal(address)
            if reason is None:
                kept.append(result)
            else:
                refused.append((result["host"], reason))
        if not kept:
            shown, reason = refused[0] if refused else ("nothing", "no address")
            raise OutboundRefused(f"refused {host.rstrip('.')}: it resolves to {shown}, {reason}")
        return kept

    async def close(self) -> None:
        await self.inner.close()


# --- responses and the helpers around them ------------------------------------------------------
def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class Validators:
    """What a conditional GET sends back (``ETag``/``Last-Modified``); store it with the data."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A response read in full (within the size cap)."""

    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    redirects: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def not_modified(self) -> bool:
        """True for 304: the copy you already have (from a conditional GET) is current."""
        return self.status == 304

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("ETag"), self.headers.get("Last-Modified"))

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (``Retry-After``), or None."""
        return parse_retry_after(self.headers.get("Retry-After"))

    def text(self, encoding: str | None = None) -> str:
        charset = encoding
        if charset is None:
            match = re.search(r"charset=([\w-]+)", self.headers.get("Content-Type", ""), re.I)
            charset = match.group(1) if match else "utf-8"
        return self.body.decode(charset, errors="replace")

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    def raise_for_status(self) -> HttpResponse:
        if self.status >= 400:
            raise OutboundHttpError(f"{self.url} answered {self.status}")
        return self


@dataclass(slots=True)
class StreamingResponse:
    """A response read as it arrives (:meth:`OutboundHttp.stream`), within the size cap."""

    url: str
    status: int
    headers: CIMultiDictProxy[str]
    max_bytes: int
    _response: aiohttp.ClientResponse = field(repr=False)
    received: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))

    def _count(self, size: int) -> None:
        self.received += size
        if self.received > self.max_bytes:
            raise ResponseTooLarge(f"{self.url} sent more than the cap of {self.max_bytes:,} bytes")

    async def lines(self) -> AsyncIterator[bytes]:
        """The body line by line (server-sent events, JSON lines), without line endings."""
        async for line in self._response.content:
            self._count(len(line))
            yield line.rstrip(b"\r\n")

    async def read(self) -> bytes:
        """The rest of the body (e.g. an error's), within the cap."""
        body = bytearray()
        async for chunk in self._response.content.iter_chunked(64 * 1024):
            self._count(len(chunk))
            body.extend(chunk)
        return bytes(body)


# --- the client ---------------------------------------------------------------------------------
def default_user_agent() -> str:
    from logiq_core import __version__

    return f"Logiq/{__version__} (Stoat community bot; +https://stoat.chat) aiohttp/{aiohttp.__version__}"


class OutboundHttp:
    """The guarded HTTP client the core shares with plugins (``ctx.http``)."""

    def __init__(
        self,
        *,
        allow: Iterable[str] | Allowances = (),
        user_agent: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        per_host: int = DEFAULT_PER_HOST,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.allowances = allow if isinstance(allow, Allowances) else Allowances.parse(allow)
        self.user_agent = user_agent or default_user_agent()
        self.timeout = aiohttp.ClientTimeout(
            total=total_timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self.max_bytes = max_bytes
        self.per_host = per_host
        self._resolver = resolver  # DNS to filter (tests give a fixed table); default: the system's
        self._guarded: aiohttp.ClientSession | None = None
        self._trusted: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"OutboundHttp(allow={self.allowances})"

    def _session(self, trusted: bool) -> aiohttp.ClientSession:
        session = self._trusted if trusted else self._guarded
        if session is None or session.closed:
            resolver: AbstractResolver = self._resolver or aiohttp.ThreadedResolver()
            if not trusted:
                resolver = GuardedResolver(self.allowances, resolver)
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver, limit=100, limit_per_host=self.per_host),
                headers={"User-Agent": self.user_agent},
                timeout=self.timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # plugins must not share cookies
                trust_env=False,  # no proxy from the environment: the guard must see the real peer
            )
            if trusted:
                self._trusted = session
            else:
                self._guarded = session
        return session

    async def close(self) -> None:
        for session in (self._guarded, self._trusted):
            if session is not None:
                await session.close()
        self._guarded = self._trusted = None

    async def __aenter__(self) -> OutboundHttp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        trusted: bool = False,
        max_bytes: int | None = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        retries: int = 0,
        max_retry_wait: float = 30.0,
    ) -> HttpResponse:
        """Send a request and read the response (at most ``max_bytes``).

        ``trusted=True`` only for a URL from the operator's configuration. With ``retries``, a
        429 or 503 carrying ``Retry-After`` (at most ``max_retry_wait`` seconds) is waited out
        and retried. Raises :class:`OutboundRefused`, :class:`ResponseTooLarge`,
        :class:`OutboundTimeout`, :class:`OutboundConnectionError` or :class:`TooManyRedirects`.
        """
        current = URL(url) if isinstance(url, str) else url
        if params:
            current = current.update_query(params)
        cap = self.max_bytes if max_bytes is None else max_bytes
        send_headers = CIMultiDict(headers or {})
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = aiohttp.ClientTimeout(
                total=timeout, sock_connect=self.timeout.sock_connect, sock_read=self.timeout.sock_read
            )
        redirects = attempts = 0
        first_hop_trusted = trusted
        while True:
            if not first_hop_trusted:
                check_url(current, self.allowances)
            session = self._session(first_hop_trusted)
            try:
                async with session.request(
                    method,
                    current,
                    headers=send_headers,
                    json=json,
                    data=data,
                    allow_redirects=False,
                    **extra,
                ) as response:
                    location = response.headers.get("Location")
                    if follow_redirects and response.status in REDIRECT_STATUSES and location:
                        redirects += 1
                        if redirects > MAX_REDIRECTS:
                            raise TooManyRedirects(f"{url}: more than {MAX_REDIRECTS} redirects")
                        target = current.join(URL(location))
                        if target.origin() != current.origin():
                            for name in CREDENTIAL_HEADERS:
                                send_headers.popall(name, None)
                        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                            method, json, data = "GET", None, None
                        current, first_hop_trusted = target, False  # a redirect is never trusted
                        continue
                    body = await _read_capped(response, cap, current)
                    result = HttpResponse(str(current), response.status, response.headers, body, redirects)
            except OutboundHttpError:
                raise
            except TimeoutError:
                raise OutboundTimeout(f"{current.with_query(None)} did not answer in time") from None
            except aiohttp.ClientError as exc:
                raise OutboundConnectionError(
                    f"{current.with_query(None)}: {type(exc).__name__}: {exc}"
                ) from None
            wait = result.retry_after if result.status in (429, 503) else None
            if wait is not None and wait <= max_retry_wait and attempts < retries:
                attempts += 1
                await asyncio.sleep(wait)
                continue
            return result

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | URL,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        trusted: bool = False,
        max_bytes: int | None = None,
        timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Send a request and read its response as it arrives (``async with``).

        For long responses such as a model's streamed answer: ``timeout`` bounds the whole
        exchange, ``read_timeout`` the silence between two pieces. The same guard as
        :meth:`request` applies; redirects are not followed (a 3xx is returned as it is).
        Errors, also those raised while reading, are :class:`OutboundHttpError` subclasses.
        """
        current = URL(url) if isinstance(url, str) else url
        if not trusted:
            check_url(current, self.allowances)
        client_timeout = aiohttp.ClientTimeout(
            total=timeout if timeout is not None else self.timeout.total,
            sock_connect=self.timeout.sock_connect,
            sock_read=read_timeout if read_timeout is not None else self.timeout.sock_read,
        )
        cap = self.max_bytes if max_bytes is None else max_bytes
        shown = current.with_query(None)
        try:
            async with self._session(trusted).request(
                method, current, headers=headers, json=json, allow_redirects=False, timeout=client_timeout
            ) as response:
                yield StreamingResponse(str(current), response.status, response.headers, cap, response)
        except OutboundHttpError:
            raise
        except TimeoutError:
            raise OutboundTimeout(f"{shown} did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise OutboundConnectionError(f"{shown}: {type(exc).__name__}: {exc}") from None

    async def get(self, url: str | URL, **options: Any) -> HttpResponse:
        return await self.request("GET", url, **options)

    async def post(self, url: str | URL, **options: Any) -> HttpResponse:
        return await self.request("POST", url, **options)

    async def get_conditional(
        self, url: str | URL, validators: Validators | None, **options: Any
    ) -> HttpResponse:
        """GET with ``If-None-Match``/``If-Modified-Since`` from the last response's validators.

        ``response.not_modified`` (304) means keep what you have; otherwise store the new body
        with ``response.validators`` for next time.
        """
        headers = dict(options.pop("headers", None) or {})
        if validators is not None:
            headers.update(validators.headers())
        return await self.request("GET", url, headers=headers, **options)


async def _read_capped(response: aiohttp.ClientResponse, cap: int, url: URL) -> bytes:
    declared = response.content_length
    if declared is not None and declared > cap:
        raise ResponseTooLarge(f"{url.with_query(None)} sent {declared:,} bytes; the cap is {cap:,}")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body.extend(chunk)
        if len(body) > cap:
            raise ResponseTooLarge(f"{url.with_query(None)} sent more than the cap of {cap:,} bytes")
    return bytes(body)


__all__ = [
    "MAX_REDIRECTS",
    "Allowances",
    "GuardedResolver",
    "HttpResponse",
    "OutboundConnectionError",
    "OutboundHttp",
    "OutboundHttpError",
    "OutboundRefused",
    "OutboundTimeout",
    "ResponseTooLarge",
    "StreamingResponse",
    "TooManyRedirects",
    "Validators",
    "address_refusal",
    "check_url",
    "parse_retry_after",
]
