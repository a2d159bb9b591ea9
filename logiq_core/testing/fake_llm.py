"""A small fake OpenAI-compatible model server, for tests and ``logiq sandbox`` (no network).

It is a stand-in, not a model: its answers are deterministic and say what it was sent, so a
test can check the conversation that reached it::

    async with FakeLLM() as llm:          # llm.base_url == "http://127.0.0.1:PORT/v1"
        llm.fail_next(429, retry_after=7)  # the next request answers 429 with Retry-After
        ...
        assert llm.requests[-1]["body"]["messages"][-1]["content"] == "hello"

Routes: ``POST /v1/chat/completions`` (JSON, or server-sent events with ``"stream": true``),
``GET /v1/models``. The default answer is ``echo(<n> messages): <last user message>``; queue
other answers with :meth:`FakeLLM.reply_with`. Usage is counted as one token per four
characters (at least one) and reported unless ``report_usage`` is false. Faults: an HTTP
status (with ``Retry-After``), a malformed stream, latency before the first byte and a delay
between streamed pieces.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

FAKE_MODELS = ("fake-model", "fake-model-large")


def count_tokens(text: str) -> int:
    """The fake's token count: one per four characters, at least one."""
    return max(1, len(text) // 4)


def default_answer(messages: list[dict[str, Any]]) -> str:
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    said = str(last.get("content", "")) if last else ""
    return f"echo({len(messages)} messages): {said}"


@dataclass
class Fault:
    status: int | None = None  # an HTTP error status
    message: str = "injected failure"
    retry_after: float | None = None
    malformed: bool = False  # a stream that breaks off with invalid JSON
    hang: bool = False  # never answer (until the server stops)


class FakeLLM:
    """The fake model server on loopback. ``base_url`` ends in ``/v1`` like real providers."""

    def __init__(self, *, chunk_chars: int = 8, chunk_delay: float = 0.0, latency: float = 0.0) -> None:
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay
        self.latency = latency
        self.report_usage = True
        self.models = list(FAKE_MODELS)
        self.requests: list[dict[str, Any]] = []
        self._answers: deque[str] = deque()
        self._faults: deque[Fault] = deque()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- control --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reply_with(self, *answers: str) -> None:
        """The next requests get these answers, in order (then the echo again)."""
        self._answers.extend(answers)

    def fail_next(
        self,
        status: int = 500,
        *,
        retry_after: float | None = None,
        count: int = 1,
        message: str = "injected failure",
    ) -> None:
        """The next ``count`` requests answer ``status`` (429/503 with ``Retry-After`` if given)."""
        self._faults.extend(Fault(status, message, retry_after) for _ in range(count))

    def malformed_next(self) -> None:
        """The next streamed answer sends a few pieces, then a line that is not JSON, then stops."""
        self._faults.append(Fault(malformed=True))

    def hang_next(self) -> None:
        """The next request is never answered (a provider that timed out)."""
        self._faults.append(Fault(hang=True))

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> FakeLLM:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLM:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- routes ---------------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": name, "object": "model", "owned_by": "logiq-fake"} for name in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON")
        self.requests.append({"body": body, "headers": dict(request.headers), "at": time.monotonic()})
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "messages must be a non-empty list")
        if body.get("model") not in self.models:
            return _error(404, f"model {body.get('model')!r} does not exist")
        fault = self._faults.popleft() if self._faults else Fault()
        if fault.hang:
            await self._release.wait()
            return _error(503, "shutting down")
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault.status is not None:
            headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
            return _error(fault.status, fault.message, headers)
        answer = self._answers.popleft() if self._answers else default_answer(messages)
        prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": count_tokens(answer),
            "total_tokens": prompt_tokens + count_tokens(answer),
        }
        model = body["model"]
        if not body.get("stream"):
            payload: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}
                ],
            }
            if self.report_usage:
                payload["usage"] = usage
            return web.json_response(payload)
        sse = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        response = web.StreamResponse(headers=sse)
        await response.prepare(request)
        pieces = [answer[i : i + self.chunk_chars] for i in range(0, len(answer), self.chunk_chars)]
        for index, piece in enumerate(pieces):
            if fault.malformed and index == 2:
                await response.write(b'data: {"choices": [{"delta": {"content": "bro\n\n')
                return response
            delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            await _event(
                response,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [choice],
                },
            )
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        final: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        if self.report_usage and (body.get("stream_options") or {}).get("include_usage"):
            await _event(response, final)
            final = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": usage,
            }
        await _event(response, final)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


async def _event(response: web.StreamResponse, data: dict[str, Any]) -> None:
    await response.write(b"data: " + json.dumps(data).encode() + b"\n\n")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "fake_error", "code": status}}
    return web.json_response(body, status=status, headers=headers)


__all__ = ["FAKE_MODELS", "FakeLLM", "count_tokens", "default_answer"]
