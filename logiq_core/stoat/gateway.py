"""The Stoat events socket (``websockets``): authenticate, heartbeat, reconnect, decode.

* connects to ``<ws>?version=1&format=json`` and authenticates with an ``Authenticate`` frame
  (the token never appears in a URL, so it cannot leak through a logged URL);
* pings every ``heartbeat_seconds`` with an integer counter; no matching ``Pong`` within
  ``pong_timeout_seconds`` means a dead socket, which is closed and reconnected;
* reconnects after any drop with exponential backoff and jitter (first retry ~0.1 s, capped);
  Stoat has no resume, so every connection starts with a fresh ``Ready``;
* an ``InvalidSession`` error or a ``Logout`` is fatal: :class:`GatewayAuthError`, no retry.

Decoded events go to ``on_event`` synchronously and in order; the callback must not block.
A frame that does not decode, or an event whose handling raises, is logged once (its type and
what was wrong, never the payload) and skipped: one bad event never closes the socket.

Liveness: :attr:`Gateway.last_frame_at` is the wall-clock time of the last frame received (an
event or a Pong); when nothing arrived for two ping intervals the log says so, once per silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

import msgspec
import websockets
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect

from logiq_core.stoat import events as ev

_log = logger.bind(component="gateway")


class GatewayAuthError(Exception):
    """Stoat refused the token (InvalidSession) or revoked it (Logout): retrying cannot help."""


class Gateway:
    """One events-socket connection, kept alive until :meth:`close`."""

    def __init__(
        self,
        ws_url: str,
        token: str,
        on_event: Callable[[ev.StoatEvent], None],
        *,
        heartbeat_seconds: float = 30.0,
        pong_timeout_seconds: float = 10.0,
        connect_timeout_seconds: float = 10.0,
        backoff_first: float = 0.1,
        backoff_cap: float = 30.0,
    ) -> None:
        self.ws_url = ws_url
        self._token = token
        self._on_event = on_event
        self.heartbeat_seconds = heartbeat_seconds
        self.pong_timeout_seconds = pong_timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.backoff_first = backoff_first
        self.backoff_cap = backoff_cap
        self._socket: ClientConnection | None = None
        self._closing = False
        self._ping_counter = 0
        self._last_pong = 0
        self._pong_waiters: list[tuple[int, asyncio.Future[None]]] = []  # round_trip()s waiting
        self._unknown_types: set[str] = set()
        self._reached_ready = False
        self.connections = 0
        self.ready = asyncio.Event()
        self.disconnected_at: float | None = None
        self.last_outage_seconds: float | None = None
        self.last_frame_at: float | None = None  # time.time() of the last frame received
        self._last_frame_monotonic = time.monotonic()
        self._silence_reported = False
        self.skipped_events = 0  # events that failed to decode or to apply

    def __repr__(self) -> str:
        return f"Gateway({self.ws_url!r})"

    @property
    def url(self) -> str:
        separator = "&" if "?" in self.ws_url else "?"
        return f"{self.ws_url}{separator}version=1&format=json"

    async def run(self) -> None:
        """Connect and keep reconnecting until :meth:`close`; raise on a refused token."""
        self._last_frame_monotonic = time.monotonic()
        liveness = asyncio.create_task(self._watch_liveness())
        try:
            await self._run()
        finally:
            liveness.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await liveness

    async def _watch_liveness(self) -> None:
        """Say in the log when no event and no Pong arrived for two ping intervals."""
        interval = self.heartbeat_seconds
        while True:
            await asyncio.sleep(interval / 2)
            silent = time.monotonic() - self._last_frame_monotonic
            if silent > 2 * interval and not self._silence_reported:
                self._silence_reported = True
                _log.warning(
                    "no event or Pong from Stoat for {:.1f}s (2 ping intervals); the bot may be deaf",
                    silent,
                )

    def _frame_arrived(self) -> None:
        self._last_frame_monotonic = time.monotonic()
        self.last_frame_at = time.time()
        if self._silence_reported:
            self._silence_reported = False
            _log.info("events are arriving again")

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            self._reached_ready = False
            try:
                await self._session()
                failures = 0
            except GatewayAuthError:
                raise
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                if self._closing:
                    break
                # A connection that worked resets the backoff: the first retry is fast again.
                failures = 1 if self._reached_ready else failures + 1
                if self.disconnected_at is None:
                    self.disconnected_at = time.monotonic()
                delay = self._backoff(failures)
                _log.warning(
                    "events socket lost ({}: {}); reconnecting in {:.2f}s",
                    type(exc).__name__,
                    str(exc) or "closed",
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if not self._closing:
                if self.disconnected_at is None:
                    self.disconnected_at = time.monotonic()
                await asyncio.sleep(self._backoff(1))

    def _backoff(self, failures: int) -> float:
        base = min(self.backoff_cap, self.backoff_first * (2 ** (failures - 1)))
        return float(base * random.uniform(0.8, 1.2))

    async def _session(self) -> None:
        async with connect(
            self.url,
            open_timeout=self.connect_timeout_seconds,
            ping_interval=None,  # Stoat's own Ping/Pong frames are the heartbeat
            max_size=None,
            compression=None,
            close_timeout=1,
        ) as socket:
            self._socket = socket
            self.connections += 1
            await socket.send(msgspec.json.encode({"type": "Authenticate", "token": self._token}).decode())
            heartbeat = asyncio.create_task(self._heartbeat(socket))
            try:
                await self._receive(socket)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                self._socket = None
                self.ready.clear()
                if not self._closing and self.disconnected_at is None:
                    self.disconnected_at = time.monotonic()

    async def _receive(self, socket: ClientConnection) -> None:
        authenticated = False
        deadline = asyncio.get_running_loop().time() + self.connect_timeout_seconds
        while True:
            if not authenticated:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError("no Authenticated frame within the connect timeout")
                frame = await asyncio.wait_for(socket.recv(), remaining)
            else:
                frame = await socket.recv()
            self._frame_arrived()
            decoded = ev.decode_frame(frame)
            if isinstance(decoded, ev.DecodeProblem):
                self._report_problem(decoded)
                continue
            for event in decoded:
                # ``type(event) is`` (not isinstance): exact classes, and mypy narrows on it.
                if type(event) is ev.DecodeProblem:
                    self._report_problem(event)
                    continue
                if type(event) is ev.Pong:
                    if isinstance(event.data, int):
                        self._last_pong = max(self._last_pong, event.data)
                        self._wake_pong_waiters()
                    continue
                if type(event) is ev.Authenticated:
                    authenticated = True
                    continue
                if type(event) is ev.ErrorEvent:
                    if event.error_type in ("InvalidSession", "UnknownUser"):
                        raise GatewayAuthError(
                            f"Stoat refused the bot token ({event.error_type}); check LOGIQ_TOKEN"
                        )
                    raise websockets.ConnectionClosedError(None, None)
                if type(event) is ev.Logout:
                    raise GatewayAuthError("Stoat revoked this bot's session (Logout)")
                if type(event) is ev.Ready:
                    self._on_ready()
                try:
                    self._on_event(event)
                except Exception as exc:  # one bad event must never close the socket
                    self.skipped_events += 1
                    _log.warning(
                        "skipping a {} event that could not be applied: {}: {}",
                        event.event_type,
                        type(exc).__name__,
                        _short(str(exc)),
                    )

    def _on_ready(self) -> None:
        self._reached_ready = True
        if self.disconnected_at is not None:
            self.last_outage_seconds = time.monotonic() - self.disconnected_at
            _log.info("reconnected after {:.2f}s away; rebuilt state from Ready", self.last_outage_seconds)
            self.disconnected_at = None
        self.ready.set()

    def _report_problem(self, problem: ev.DecodeProblem) -> None:
        if problem.unknown:
            if problem.event_type not in self._unknown_types and len(self._unknown_types) < 256:
                self._unknown_types.add(problem.event_type)
                _log.debug("skipping unknown event type {}", _short(problem.event_type, 40))
            return
        self.skipped_events += 1
        _log.warning(
            "skipping a malformed {} event: {}", _short(problem.event_type, 40), _short(problem.reason)
        )

    async def _heartbeat(self, socket: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            self._ping_counter += 1
            sent = self._ping_counter
            await socket.send(msgspec.json.encode({"type": "Ping", "data": sent}).decode())
            waited = 0.0
            while self._last_pong < sent and waited < self.pong_timeout_seconds:
                await asyncio.sleep(0.05)
                waited += 0.05
            if self._last_pong < sent:
                _log.warning("no Pong within {:.0f}s: the socket is dead", self.pong_timeout_seconds)
                await socket.close(code=4000, reason="heartbeat timeout")
                return

    async def round_trip(self, timeout: float = 5.0) -> None:
        """Send a Ping and wait for its Pong. Stoat answers in order on the socket, so once it
        is back every event sent before it has been received and handed on (a barrier: "the bot
        has seen everything so far"). Raises ``ConnectionError`` when no socket is open."""
        socket = self._socket
        if socket is None:
            raise ConnectionError("the events socket is not open")
        self._ping_counter += 1
        sent = self._ping_counter
        try:
            await socket.send(msgspec.json.encode({"type": "Ping", "data": sent}).decode())
        except websockets.ConnectionClosed as exc:
            raise ConnectionError("the events socket closed") from exc
        if self._last_pong >= sent:
            return
        answered = asyncio.get_running_loop().create_future()
        self._pong_waiters.append((sent, answered))
        try:
            async with asyncio.timeout(timeout):
                await answered
        finally:
            self._pong_waiters = [(n, f) for n, f in self._pong_waiters if f is not answered]

    def _wake_pong_waiters(self) -> None:
        for sent, answered in self._pong_waiters:
            if sent <= self._last_pong and not answered.done():
                answered.set_result(None)

    @property
    def last_pong(self) -> int:
        """The highest heartbeat counter Stoat has answered with a Pong."""
        return self._last_pong

    @property
    def connected(self) -> bool:
        """Whether an events socket is open now."""
        return self._socket is not None

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called (a requested stop)."""
        return self._closing

    async def close(self) -> None:
        self._closing = True
        if self._socket is not None:
            await self._socket.close()


def _short(text: str, limit: int = 200) -> str:
    """Log text cut to ``limit`` characters: a reason, never a whole payload."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
