"""Twitch alerts end to end: a real bot on the Stoat double, the embedded storage, and a local
fake of Twitch's token endpoint and Helix on loopback (the operator's configured URLs, allowed
in the test's plugins.toml ``[http] allow``). Time is an injected clock; polls run when a test
asks, never after a sleep."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from logiq_social_alerts.service import AlertSettings, AlertsService
from twitchserver import FakeStream, FakeTwitch

from logiq_core.testing.clock import FakeClock

SECRET_ENV = "LOGIQ_TEST_TWITCH_SECRET"


@pytest.fixture
async def twitch() -> AsyncIterator[FakeTwitch]:
    server = await FakeTwitch().start()
    server.users = {
        "gardencam": ("1001", "GardenCam"),
        "potterybarn": ("1002", "PotteryBarn"),
        "quietfern": ("1003", "QuietFern"),
    }
    yield server
    await server.stop()


def config(twitch: FakeTwitch, **extra: Any) -> dict[str, Any]:
    return {
        "default_interval_seconds": 60,
        "min_interval_seconds": 1,
        "twitch_client_id": twitch.client_id,
        "twitch_client_secret_env": SECRET_ENV,
        "twitch_auth_url": twitch.auth_url,
        "twitch_api_url": twitch.api_url,
        **extra,
    }


@contextlib.asynccontextmanager
async def running(logiq_harness: Any, cfg: dict[str, Any]) -> AsyncIterator[tuple[Any, FakeClock]]:
    async with logiq_harness(
        ["social_alerts"], plugin_config={"social_alerts": cfg}, http_allow=["127.0.0.0/8"]
    ) as h:
        clock = FakeClock()
        h.bot.timers.clock = clock
        await h.count_as_internal()  # a team server: the feature (internal 5%) is on there
        yield h, clock


def service(h: Any) -> AlertsService:
    return h.bot.contexts["social_alerts"].get(AlertsService)


async def poll(h: Any, clock: FakeClock, seconds: float = 61) -> Any:
    clock.advance(seconds)
    return await service(h).poll_round()


def posts(h: Any, channel: str = "lounge") -> list[dict[str, Any]]:
    return [
        m
        for m in h.double.messages_in(h.channel_id(channel))
        if m["author"] == h.demo.bot_id and m.get("masquerade")
    ]


async def add(h: Any, args: str) -> dict[str, Any]:
    return await h.command(h.demo.owner_id, f"!alerts add {args}", timeout=10)


async def test_a_stream_going_live_is_announced_once_per_stream_id(
    logiq_harness, twitch, logiq_log_lines, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, twitch.secret)
    twitch.live["1002"] = FakeStream("s-already-live")  # live when added: recorded, not announced
    async with running(logiq_harness, config(twitch)) as (h, clock):
        reply = await add(h, "twitch:GardenCam #lounge")
        assert "Alert #1" in reply["content"] and "GardenCam" in reply["content"], reply
        assert "Alert #2" in (await add(h, "twitch:potterybarn #lounge"))["content"]
        assert "Alert #3" in (await add(h, "twitch:https://www.twitch.tv/QuietFern #general"))["content"]
        # the client-credentials flow: the secret goes in the form body, never in a URL
        token_request = twitch.token_requests[0]
        assert (
            token_request["client_id"] == twitch.client_id and token_request["client_secret"] == twitch.secret
        )
        assert (
            token_request["grant_type"] == "client_credentials"
            and twitch.secret not in token_request["query"]
        )
        assert (await poll(h, clock)).polled == 3
        assert posts(h) == [] and posts(h, "general") == []
        # one Helix request for the three channels' live status, with the app token
        _path, params, headers = twitch.requests_to("streams")[-1]
        assert sorted(v for k, v in params if k == "user_id") == ["1001", "1002", "1003"]
        assert headers["Client-Id"] == twitch.client_id and headers["Authorization"] == "Bearer token-1"

        twitch.live["1001"] = FakeStream("s1", title="Planting @everyone tomatoes")
        stats = await poll(h, clock)
        assert stats.new_items == 1
        [message] = posts(h)
        embed = message["embeds"][0]
        assert embed["title"].startswith("GardenCam is live: Planting") and "@everyone" not in embed["title"]
        assert embed["url"] == "https://www.twitch.tv/gardencam"
        assert "@everyone" not in message["content"]
        assert message["masquerade"]["name"].startswith("GardenCam")
        for _ in range(2):  # still the same stream: announced once
            assert (await poll(h, clock)).new_items == 0
        assert len(posts(h)) == 1
        del twitch.live["1001"]  # offline, then a new stream: announced again
        await poll(h, clock)
        twitch.live["1001"] = FakeStream("s2", title="Watering")
        await poll(h, clock)
        assert [m["embeds"][0]["title"] for m in posts(h)][-1] == "GardenCam is live: Watering"
        assert len(posts(h)) == 2 and posts(h, "general") == []
        # users are looked up once (their ids are stored); the token is cached
        assert len(twitch.requests_to("users")) == 3 and len(twitch.token_requests) == 1
        await h.restart()
        h.bot.timers.clock = clock
        await poll(h, clock)
        assert len(posts(h)) == 2  # a restart reposts nothing
        status = await h.command(h.demo.owner_id, "!alerts status")
        assert "#1 twitch:GardenCam: active" in status["content"] and "error" not in status["content"]
        test = await h.command(h.demo.owner_id, "!alerts test 3")
        assert "not live right now" in test["content"]
    assert logiq_log_lines and not any(twitch.secret in line for line in logiq_log_lines)
    assert not any(twitch.secret in str(m) for m in h.double.messages_in(h.channel_id("lounge")))


async def test_the_token_is_cached_until_it_expires_and_fetched_again_on_401(
    logiq_harness, twitch, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, twitch.secret)
    twitch.expires_in = 3600
    async with running(logiq_harness, config(twitch)) as (h, clock):
        assert "Alert #1" in (await add(h, "twitch:gardencam #lounge"))["content"]
        for _ in range(3):
            await poll(h, clock)
        assert len(twitch.token_requests) == 1
        twitch.revoke_all()  # Helix answers 401: one new token, and the poll still succeeds
        twitch.live["1001"] = FakeStream("s1")
        stats = await poll(h, clock)
        assert stats.failed == 0 and stats.new_items == 1 and len(twitch.token_requests) == 2
        assert len(posts(h)) == 1
        await poll(h, clock, 3600)  # past the token's lifetime: fetched again before use
        assert len(twitch.token_requests) == 3
        assert twitch.requests_to("streams")[-1][2]["Authorization"] == "Bearer token-3"


async def test_refused_credentials_unknown_users_and_a_missing_secret_say_why(
    logiq_harness, twitch, logiq_log_lines, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, "a-wrong-secret-77")
    async with running(logiq_harness, config(twitch)) as (h, _clock):
        refused = await add(h, "twitch:gardencam #lounge")
        assert "refused the application credentials" in refused["content"], refused
        assert "a-wrong-secret-77" not in refused["content"]
        monkeypatch.setenv(SECRET_ENV, twitch.secret)
        unknown = await add(h, "twitch:nobody_here #lounge")
        assert "no Twitch user named nobody_here" in unknown["content"], unknown
        bad = await add(h, "twitch:not/a/login! #lounge")
        assert "login" in bad["content"]
        monkeypatch.delenv(SECRET_ENV)  # configured, but the secret's variable is not set
        missing = await add(h, "twitch:gardencam #lounge")
        assert "twitch_client_id" in missing["content"] and "Alert #" not in missing["content"]
    assert logiq_log_lines and not any(
        "a-wrong-secret-77" in line or twitch.secret in line for line in logiq_log_lines
    )


def test_a_secret_in_plugins_toml_is_refused_and_urls_are_checked() -> None:
    with pytest.raises(ValueError, match="twitch_client_secret_env"):
        AlertSettings.model_validate({"twitch_client_id": "x", "twitch_client_secret": "s"})
    with pytest.raises(ValueError, match="twitch_api_url"):
        AlertSettings.model_validate({"twitch_api_url": "ftp://example.org"})
    settings = AlertSettings.model_validate(
        {"twitch_client_id": "x", "twitch_client_secret_env": "NOPE_NOT_SET"}
    )
    assert settings.twitch_credentials is not None and not settings.twitch_configured
