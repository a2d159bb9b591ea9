"""The bot's Stoat connection against the Stoat test double: real sockets, real HTTP."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from logiq_core.app.log import configure_logging
from logiq_core.stoat import events as ev
from logiq_core.stoat.gateway import Gateway, GatewayAuthError
from logiq_core.stoat.rest import InvalidRequest, StoatAPI, StoatAPIError
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.poll import eventually
from logiq_core.testing.stoat import StoatDouble, build_demo


@pytest.fixture
async def double() -> Any:
    async with StoatDouble() as running:
        yield running


async def collect_until(gateway: Gateway, seen: list[Any], kind: type, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in seen:
            if isinstance(event, kind):
                return event
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no {kind.__name__} within {timeout}s")


async def test_login_ready_and_heartbeat(double: StoatDouble) -> None:
    demo = build_demo(double)
    seen: list[Any] = []
    gateway = Gateway(
        double.ws_url, demo.bot_token, seen.append, heartbeat_seconds=0.02, pong_timeout_seconds=1
    )
    runner = asyncio.create_task(gateway.run())
    try:
        ready = await collect_until(gateway, seen, ev.Ready)
        assert [server.id for server in ready.servers] == [demo.server_id]
        # Ready carries only the bot's own member, as Stoat does.
        assert {m.id.user for m in ready.members} == {demo.bot_id}
        # Pings answered with pongs carrying the same counter, five in a row...
        await eventually(lambda: gateway.last_pong >= 5, message="no pongs for the pings")
        assert gateway.connections == 1  # ...and the socket was never considered dead
    finally:
        await gateway.close()
        await runner


async def test_reconnects_fast_after_a_cut_and_rebuilds_from_ready(double: StoatDouble) -> None:
    demo = build_demo(double)
    seen: list[Any] = []
    gateway = Gateway(double.ws_url, demo.bot_token, seen.append)
    runner = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 5)
        seen.clear()
        started = time.monotonic()
        await double.drop_connections()
        await collect_until(gateway, seen, ev.Ready)
        assert time.monotonic() - started < 1.0
        assert gateway.connections == 2
        assert gateway.last_outage_seconds is not None and gateway.last_outage_seconds < 1.0
    finally:
        await gateway.close()
        await runner


async def test_invalid_token_stops_with_a_clear_error(double: StoatDouble) -> None:
    build_demo(double)
    gateway = Gateway(double.ws_url, "x" * 64, lambda event: None)
    with pytest.raises(GatewayAuthError, match="refused the bot token"):
        await asyncio.wait_for(gateway.run(), 5)
    assert gateway.connections == 1  # no retry loop


async def test_unknown_event_type_is_skipped_not_fatal(double: StoatDouble) -> None:
    demo = build_demo(double)
    seen: list[Any] = []
    gateway = Gateway(double.ws_url, demo.bot_token, seen.append)
    runner = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 5)
        await double.inject_event({"type": "SomethingNew", "x": 1})
        await double.inject_event({"type": "ServerMemberJoin"})  # known type, bad shape
        await double.inject_event({"type": "UserPresence", "id": demo.member_ids[0], "online": True})
        presence = await collect_until(gateway, seen, ev.UserPresence)
        assert presence.online is True
        assert gateway.connections == 1
    finally:
        await gateway.close()
        await runner


async def test_429_waits_retry_after_then_succeeds(double: StoatDouble) -> None:
    demo = build_demo(double)
    double.fail_next("POST", r"/channels/.+/messages$", 429, {"retry_after": 300})
    async with StoatAPI(double.api_url, demo.bot_token) as api:
        started = time.monotonic()
        message = await api.send_message(demo.channels["general"], "after a 429")
        assert time.monotonic() - started >= 0.29
    sent = [m for m in double.sent_messages if m["content"] == "after a 429"]
    assert [m["_id"] for m in sent] == [message.id]


async def test_spent_bucket_waits_instead_of_collecting_429s(double: StoatDouble) -> None:
    demo = build_demo(double)
    double.set_rate_limits(window_seconds=0.3, limits={"messaging": 3})
    async with StoatAPI(double.api_url, demo.bot_token) as api:
        started = time.monotonic()
        for index in range(5):
            await api.send_message(demo.channels["general"], f"burst {index}")
        elapsed = time.monotonic() - started
        assert api.rate_limiter.waits >= 1
    assert elapsed >= 0.25  # the client waited for the window to reset
    assert double.rate_limited_responses == 0  # and never earned a 429


async def test_502_is_retried_once_without_a_duplicate_message(double: StoatDouble) -> None:
    demo = build_demo(double)
    # The double stores the message, then answers 502 (a proxy failure after the write):
    # the retry reuses the Idempotency-Key, so Stoat refuses the duplicate, which means the
    # first attempt worked: a success, with the message found again by its nonce.
    double.fail_next("POST", r"/channels/.+/messages$", 502, times=1, after_handling=True)
    async with StoatAPI(double.api_url, demo.bot_token, backoff_seconds=0.01) as api:
        message = await api.send_message(demo.channels["general"], "exactly once")
    sent = [m for m in double.sent_messages if m["content"] == "exactly once"]
    assert [m["_id"] for m in sent] == [message.id]


async def test_502_before_handling_is_retried_and_sent_once(double: StoatDouble) -> None:
    demo = build_demo(double)
    double.fail_next("POST", r"/channels/.+/messages$", 502, times=1)
    async with StoatAPI(double.api_url, demo.bot_token, backoff_seconds=0.01) as api:
        await api.send_message(demo.channels["general"], "retried")
    assert len([m for m in double.sent_messages if m["content"] == "retried"]) == 1


async def test_content_over_2000_bytes_is_refused_before_sending(double: StoatDouble) -> None:
    demo = build_demo(double)
    async with StoatAPI(double.api_url, demo.bot_token) as api:
        with pytest.raises(InvalidRequest, match="2001 bytes"):
            await api.send_message(demo.channels["general"], "é" * 1000 + "x")
        await api.send_message(demo.channels["general"], "é" * 1000)  # exactly 2000 bytes
        with pytest.raises(InvalidRequest):
            await api.send_message(demo.channels["general"], "")
        with pytest.raises(InvalidRequest):
            await api.bulk_delete_messages(demo.channels["general"], ["0" * 26] * 101)
    assert double.violations == []


async def test_typed_errors_carry_stoat_error_types(double: StoatDouble) -> None:
    demo = build_demo(double)
    async with StoatAPI(double.api_url, demo.bot_token) as api:
        with pytest.raises(StoatAPIError) as raised:
            await api.kick_member(demo.server_id, demo.owner_id)
        assert raised.value.type == "InvalidOperation"
        with pytest.raises(StoatAPIError) as raised:
            await api.fetch_user("7" + "0" * 25)
        assert raised.value.status == 404


async def test_bot_answers_survives_a_cut_and_never_logs_its_token(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)  # no secrets registered: the bot must not log it
    async with BotHarness(data_dir=tmp_path) as h:
        reply = await h.command(h.demo.member_ids[0], "!ping")
        assert "Pong" in reply["content"]
        await h.double.drop_connections()
        assert h.bot is not None and h.bot.gateway is not None
        gateway = h.bot.gateway
        for _ in range(500):  # events sent while the bot is away are lost: wait for it
            if gateway.connections == 2 and gateway.ready.is_set():
                break
            await asyncio.sleep(0.01)
        reply = await h.command(h.demo.member_ids[0], "!ping")
        assert "Pong" in reply["content"]
        token = h.token
        assert h.double.violations == []
    logger.remove()
    output = stream.getvalue()
    assert "reconnected after" in output
    assert token not in output


async def test_graceful_shutdown_lets_a_running_command_finish(tmp_path: Path) -> None:
    async with BotHarness(data_dir=tmp_path) as h:
        assert h.bot is not None
        bot = h.bot
        h.double.set_latency(0.2)  # the command's REST calls (three, one after another) are slow...
        arrived = h.double.requests_arrived
        await h.say(h.demo.member_ids[0], "!ping")
        # ...and the first is in flight when the stop comes (the double has it, its answer is
        # 0.2 s off): the command has 0.4 s or more of work left, far more than the stop takes to
        # reach the commands (a stop that cancelled them would lose the Pong)
        await h.eventually(lambda: h.double.requests_arrived > arrived, timeout=5)
        started = time.monotonic()
        await bot.stop()
        h.bot = None
        assert time.monotonic() - started < 6
        assert bot.gateway is not None and not bot.gateway.connected
        assert any("Pong" in (m.get("content") or "") for m in h.double.sent_messages)


async def test_a_missing_pong_means_a_dead_socket_and_a_reconnect(double: StoatDouble) -> None:
    demo = build_demo(double)
    seen: list[Any] = []
    gateway = Gateway(
        double.ws_url, demo.bot_token, seen.append, heartbeat_seconds=0.05, pong_timeout_seconds=0.15
    )
    runner = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 5)
        double.answer_pings = False
        for _ in range(300):
            if gateway.connections >= 2:
                break
            await asyncio.sleep(0.01)
        assert gateway.connections >= 2
    finally:
        await gateway.close()
        await runner


async def test_sigterm_stops_the_bot_cleanly_and_the_token_is_never_printed(
    double: StoatDouble, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    demo = build_demo(double)
    env = {
        **os.environ,
        "LOGIQ_TOKEN": demo.bot_token,
        "LOGIQ_API_URL": double.api_url,
        "LOGIQ_DATA_DIR": str(tmp_path / "data"),
        "LOGIQ_PLUGINS_FILE": str(tmp_path / "plugins.toml"),
        "LOGIQ_LOG_LEVEL": "DEBUG",
    }
    (tmp_path / "plugins.toml").write_text("[logiq]\nenable_unlisted = false\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "logiq_core", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = ""
    try:
        # Up means connected, Ready handled and every task started: then the stop is requested.
        while "Logiq is up as" not in output:
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
            assert line, f"the bot exited before it was up:\n{output}"
            output += line
        assert double.connection_count, output
        process.send_signal(signal.SIGTERM)
        output += await asyncio.wait_for(asyncio.to_thread(process.stdout.read), 15)
        code = await asyncio.to_thread(process.wait, 15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, output
    assert "Logiq is up as Logiq" in output
    assert demo.bot_token not in output
