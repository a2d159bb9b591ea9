"""``ctx.http.stream``: responses read as they arrive (a model's streamed answer), guarded."""

from __future__ import annotations

import json

import pytest

from logiq_core.framework.outbound import OutboundHttp, OutboundRefused, OutboundTimeout, ResponseTooLarge
from logiq_core.testing.fake_llm import FakeLLM

BODY = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hello there"}]}


async def test_stream_reads_server_sent_events_line_by_line() -> None:
    async with FakeLLM(chunk_chars=4) as llm, OutboundHttp() as http:
        async with http.stream(
            "POST", f"{llm.base_url}/chat/completions", json=BODY, trusted=True
        ) as response:
            assert response.ok and response.headers["Content-Type"].startswith("text/event-stream")
            events = [line async for line in response.lines() if line.startswith(b"data: ")]
        assert events[-1] == b"data: [DONE]"
        pieces = [json.loads(e[6:])["choices"][0]["delta"].get("content", "") for e in events[:-1]]
        assert "".join(pieces) == "echo(1 messages): hello there"


async def test_stream_is_guarded_capped_and_timed() -> None:
    async with FakeLLM(chunk_chars=4) as llm, OutboundHttp() as http:
        url = f"{llm.base_url}/chat/completions"
        with pytest.raises(OutboundRefused):  # loopback, not trusted: refused before connecting
            async with http.stream("POST", url, json=BODY):
                pass
        assert llm.requests == []
        with pytest.raises(ResponseTooLarge):
            async with http.stream("POST", url, json=BODY, trusted=True, max_bytes=100) as response:
                async for _ in response.lines():
                    pass
        llm.hang_next()
        with pytest.raises(OutboundTimeout):
            async with http.stream("POST", url, json=BODY, trusted=True, read_timeout=0.3):
                pass
        llm.fail_next(429, retry_after=3)
        async with http.stream("POST", url, json=BODY, trusted=True) as response:
            assert (response.status, response.retry_after) == (429, 3.0)
            assert b"injected failure" in await response.read()
