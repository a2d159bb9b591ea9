"""The OpenAI-compatible chat completions client (OpenAI, OpenRouter, Ollama, LM Studio, vLLM).

Answers are streamed (server-sent events) through the core's outbound client; the base URL
comes from the operator's plugins.toml, so it is requested as trusted. The API key is read from
the environment variable the operator named, at request time; it is never stored or logged,
and error messages never include request headers.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from logiq_core.plugin import OutboundHttp, OutboundHttpError, OutboundTimeout, ResponseTooLarge

MAX_STREAM_BYTES = 4 * 1024 * 1024


class ProviderError(Exception):
    """The model provider failed; ``str()`` is a short text a member may see."""

    def __init__(self, text: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(text)
        self.kind = kind  # "down", "timeout", "rate_limited", "malformed", "refused", "not_configured"
        self.retry_after = retry_after


@dataclass
class Usage:
    """Tokens of one answer: from the provider's ``usage``, or estimated (``estimated``)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = True

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def estimate_tokens(text: str) -> int:
    """A rough count for providers that send no usage: about four characters per token."""
    return max(1, (len(text) + 3) // 4)


@dataclass(frozen=True)
class ProviderConfig:
    base_url: str
    api_key_env: str | None = None
    timeout_seconds: float = 60.0
    max_answer_seconds: float = 180.0
    max_tokens: int | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers


class ChatProvider:
    """Streams answers from ``{base_url}/chat/completions``."""

    def __init__(self, http: OutboundHttp, config: ProviderConfig) -> None:
        self.http = http
        self.config = config

    def _scrub(self, text: str) -> str:
        """Provider error texts sometimes quote the key: never pass it on."""
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        return text.replace(key, "[key]") if key and len(key) >= 4 else text

    @property
    def url(self) -> str:
        return self.config.base_url.rstrip("/") + "/chat/completions"

    async def stream(
        self, model: str, messages: Sequence[dict[str, str]], usage: Usage
    ) -> AsyncIterator[str]:
        """Yield pieces of the answer; fills ``usage`` when the provider reports it.

        Raises :class:`ProviderError` for every failure (down, timeout, 429, an HTTP error,
        a malformed or truncated stream).
        """
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.config.max_tokens:
            body["max_tokens"] = self.config.max_tokens
        try:
            async with self.http.stream(
                "POST",
                self.url,
                json=body,
                headers=self.config.headers(),
                trusted=True,
                timeout=self.config.max_answer_seconds,
                read_timeout=self.config.timeout_seconds,
                max_bytes=MAX_STREAM_BYTES,
            ) as response:
                if response.status == 429:
                    raise ProviderError(
                        "The AI provider is busy (rate limited)" + _retry_text(response.retry_after) + ".",
                        kind="rate_limited",
                        retry_after=response.retry_after,
                    )
                if not response.ok:
                    detail = self._scrub(_error_detail(await _safe_read(response)))
                    raise ProviderError(
                        f"The AI provider answered with an error ({response.status}{detail}).", kind="down"
                    )
                finished = False
                async for line in response.lines():
                    if not line.startswith(b"data:"):
                        continue  # comments, event names, blank separators
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        finished = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        chunk = None
                    if not isinstance(chunk, dict):
                        raise ProviderError("The AI provider sent a broken answer.", kind="malformed")
                    if chunk.get("error"):
                        raise ProviderError("The AI provider stopped with an error.", kind="down")
                    if isinstance(chunk.get("usage"), dict):
                        reported = chunk["usage"]
                        usage.prompt_tokens = int(reported.get("prompt_tokens") or 0)
                        usage.completion_tokens = int(reported.get("completion_tokens") or 0)
                        usage.estimated = False
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if isinstance(piece, str) and piece:
                            yield piece
                        if choice.get("finish_reason"):
                            finished = True
                if not finished:
                    raise ProviderError("The AI provider's answer broke off.", kind="malformed")
        except ProviderError:
            raise
        except OutboundTimeout:
            raise ProviderError("The AI provider did not answer in time.", kind="timeout") from None
        except ResponseTooLarge:
            raise ProviderError("The AI provider's answer was too long.", kind="malformed") from None
        except OutboundHttpError:
            raise ProviderError("The AI provider cannot be reached.", kind="down") from None


async def _safe_read(response: Any) -> bytes:
    try:
        return bytes(await response.read())[:2000]
    except Exception:
        return b""


def _error_detail(body: bytes) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except Exception:
        return ""
    return f": {str(message)[:120]}" if message else ""


def _retry_text(seconds: float | None) -> str:
    return f"; it asks to wait {int(seconds)} s" if seconds else ""
