"""AI chat's pure parts: configuration, prompts, splitting, limits (no Stoat, no storage)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from logiq_ai_chat.provider import ProviderConfig
from logiq_ai_chat.service import (
    AiConfig,
    MemberRateLimiter,
    format_wait,
    render_prompt,
    seconds_until_utc_midnight,
    split_at_boundary,
    split_message,
)


def test_config_defaults_and_checks() -> None:
    config = AiConfig.model_validate({"model": "llama3", "models": ["qwen", "llama3"]})
    assert config.base_url is None and config.provider() is None
    assert config.allowed_models == ("llama3", "qwen")
    assert (config.requests_per_minute, config.timeout_seconds, config.max_chain_messages) == (5, 60.0, 25)
    with pytest.raises(ValueError, match="edit_interval_seconds"):
        AiConfig.model_validate({"edit_interval_seconds": 0.1})


def test_the_key_comes_from_the_environment_at_request_time(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ProviderConfig("http://127.0.0.1:1/v1", api_key_env="LOGIQ_UNIT_KEY")
    monkeypatch.delenv("LOGIQ_UNIT_KEY", raising=False)
    assert "Authorization" not in config.headers()
    monkeypatch.setenv("LOGIQ_UNIT_KEY", "k-1")
    assert config.headers()["Authorization"] == "Bearer k-1"
    assert "k-1" not in repr(config)


def test_prompt_placeholders() -> None:
    now = datetime(2026, 12, 1, 22, 5, tzinfo=UTC)
    text = render_prompt("{server}/{member} {date} {time} {other}", server="Stoat", member="alice", now=now)
    assert text == "Stoat/alice 2026-12-01 (Tuesday) 22:05 {other}"


def test_splitting_prefers_paragraphs_then_lines_then_sentences_then_words() -> None:
    head, rest = split_at_boundary("a" * 50 + "\n\n" + "b" * 50, 80)
    assert (head, rest) == ("a" * 50, "b" * 50)
    assert split_at_boundary("one. two three four five six", 20) == ("one. two three", "four five six")
    assert (
        split_at_boundary("First line is long enough\nThe end. More words follow here", 40)[0]
        == "First line is long enough"
    )
    assert (
        split_at_boundary("The first sentence ends. And more words follow it", 40)[0]
        == "The first sentence ends."
    )
    head, _ = split_at_boundary("é" * 1500, 2000)  # never inside a character
    assert len(head.encode()) <= 2000 and set(head) == {"é"}
    parts = split_message("```py\n" + "x = 1\n" * 500 + "```", 1000)
    assert all(len(p.encode()) <= 1000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts), "code fences are closed and reopened"


def test_member_rate_limit_is_a_sliding_window() -> None:
    limiter = MemberRateLimiter(window=60)
    key = ("server", "member")
    assert limiter.check(key, 2, 0.0) is None and limiter.check(key, 2, 10.0) is None
    assert limiter.check(key, 2, 20.0) == pytest.approx(40.0)
    assert limiter.check(key, 2, 60.5) is None  # the first request left the window
    assert limiter.check(("server", "other"), 2, 20.0) is None


def test_waits_are_said_plainly() -> None:
    assert seconds_until_utc_midnight(datetime(2026, 1, 1, 23, 0, tzinfo=UTC)) == 3600
    assert (format_wait(0.2), format_wait(42), format_wait(125), format_wait(3 * 3600 + 720)) == (
        "1 s",
        "42 s",
        "2 min",
        "3 h 12 min",
    )
