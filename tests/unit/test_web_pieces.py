"""The dashboard's pure pieces: link signing and the SVG chart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from logiq_core.app.web.chart import Series, line_chart
from logiq_core.app.web.tokens import LinkError, LinkSigner
from logiq_core.framework.web.pages import Access, WebPage, WebSettings, check_web_item


def test_a_signed_link_reads_back_and_refuses_tampering_other_kinds_and_expiry() -> None:
    signer = LinkSigner(b"k" * 32)
    token = signer.make("signin", user_id="U", server_id="S", ttl_seconds=60)
    body = signer.read(token, "signin")
    assert (body["u"], body["s"], body["k"]) == ("U", "S", "signin") and body["e"] > time.time()
    with pytest.raises(LinkError, match="not valid here"):
        signer.read(token, "page")
    payload, signature = token.split(".")
    with pytest.raises(LinkError):
        signer.read(payload[:-2] + "AA." + signature, "signin")
    with pytest.raises(LinkError):
        LinkSigner(b"x" * 32).read(token, "signin")  # another bot's key
    expired = signer.make("signin", user_id="U", server_id="S", ttl_seconds=-1)
    with pytest.raises(LinkError, match="expired"):
        signer.read(expired, "signin")
    assert signer.make("signin", user_id="U", server_id="S", ttl_seconds=60) != token  # a fresh nonce


def test_the_chart_draws_a_line_per_feature_and_escapes_names() -> None:
    hours = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(24)]
    rates: list[float | None] = [None] * 24
    rates[3], rates[4], rates[10] = 0.5, 1.5, 0.0
    series = [Series("<b>evil</b>", hours, rates, [None] * 24), Series("ok", hours, [1.0] * 24, [None] * 24)]
    svg = line_chart("Error rate", "%", series, "error_rate")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and svg.count("<circle") == 1
    assert "<b>" not in svg and "&lt;b&gt;evil&lt;/b&gt;" in svg
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    empty = line_chart("p95", " ms", series, "p95_ms")
    assert "<polyline" not in empty and "no data" in empty


def test_web_items_are_checked_at_registration() -> None:
    async def handler(request):  # pragma: no cover - never called
        raise AssertionError

    assert check_web_item(WebPage("board", "Board", handler, access=Access.MEMBER))
    assert check_web_item(WebSettings(handler))
    for bad in (WebPage("Bad Name", "x", handler), "a page", WebPage("ok", "x", handler, templates="/nope")):
        with pytest.raises(TypeError):
            check_web_item(bad)
