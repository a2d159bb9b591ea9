"""AI chat end to end: the Stoat test double, the fake model server, the real bot and storage."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from logiq_ai_chat.models import AiChatUsage
from logiq_ai_chat.service import STREAMING_MARK, AiChatService
from loguru import logger

from logiq_core.framework.rollout.models import MetricBucketDoc
from logiq_core.testing.clock import FakeClock
from logiq_core.testing.fake_llm import FakeLLM
from logiq_core.testing.harness import BotHarness, LogiqHarness
from logiq_core.testing.stoat import new_ulid

T = TypeVar("T")
MARK = STREAMING_MARK.strip()
# The double's rate limits are relaxed in these tests: where the pace of edits is not what a
# test checks, answers are paced this far apart instead of Stoat's 0.7 s (the configured
# minimum, which the tests of pacing keep), so an answer does not wait out real time.
TEST_EDIT_INTERVAL = 0.05


def pace_edits_quickly(h: BotHarness) -> None:
    assert h.bot is not None
    h.bot.contexts["ai_chat"].get(AiChatService).pacer.interval = TEST_EDIT_INTERVAL


async def until(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def until_stored(query: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll a storage query until it finds something."""
    deadline = time.monotonic() + timeout
    while not (found := await query()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for stored data")
        await asyncio.sleep(0.02)
    return found


@contextlib.asynccontextmanager
async def ai_bot(
    logiq_harness: LogiqHarness,
    llm: FakeLLM | None = None,
    *,
    config: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[BotHarness, FakeLLM]]:
    """A bot with ai_chat (the demo server internal, as ai_chat ships internal) and a fake model;
    edits are paced quickly unless ``config`` sets ``edit_interval_seconds``."""
    async with contextlib.AsyncExitStack() as stack:
        if llm is None:
            llm = await stack.enter_async_context(FakeLLM())
        settings = {"base_url": llm.base_url, "edit_interval_seconds": 0.7, **(config or {})}
        if config is not None and config.get("base_url") is None and "base_url" in config:
            settings.pop("base_url")
        h = await stack.enter_async_context(
            logiq_harness(["ai_chat"], plugin_config={"ai_chat": settings}, **options)
        )
        await h.count_as_internal()
        if "edit_interval_seconds" not in (config or {}):
            pace_edits_quickly(h)
        yield h, llm


def bot_messages(h: BotHarness, channel: str = "general") -> list[dict[str, Any]]:
    return [m for m in h.double.messages_in(h.channel_id(channel)) if m["author"] == h.demo.bot_id]


async def answered(
    h: BotHarness, count: int, channel: str = "general", timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Wait for ``count`` bot messages in ``channel``, all finished (no streaming mark)."""

    def done() -> list[dict[str, Any]] | None:
        messages = bot_messages(h, channel)
        if len(messages) >= count and not any((m.get("content") or "").endswith(MARK) for m in messages):
            return messages
        return None

    return await until(done, timeout, f"{count} finished answer(s)")


async def ask(h: BotHarness, user: str, text: str, channel: str = "general", **kwargs: Any) -> dict[str, Any]:
    """Mention the bot with ``text`` and return the member's message."""
    return await h.double.send_message_as(user, h.channel_id(channel), f"<@{h.demo.bot_id}> {text}", **kwargs)


async def feature_totals(h: BotHarness) -> tuple[int, int, int]:
    """(invocations, errors, uses) of ai_chat as the rollout monitor sees them."""
    assert h.bot is not None
    await h.bot.metrics.flush()
    buckets = await MetricBucketDoc.find(MetricBucketDoc.feature == "ai_chat").to_list()
    return (sum(b.invocations for b in buckets), sum(b.errors for b in buckets), sum(b.uses for b in buckets))


async def test_a_mention_gets_a_streamed_answer(logiq_harness: LogiqHarness) -> None:
    async with FakeLLM(chunk_chars=6, chunk_delay=0.04) as llm, ai_bot(logiq_harness, llm) as (h, _):
        d = h.demo
        shown: list[str] = []  # what members saw: the bot's message, then its edits
        h.double.add_observer(
            lambda e: shown.extend(
                [e["data"]["content"]]
                if e.get("type") == "MessageUpdate" and "content" in e.get("data", {})
                else [e["content"]]
                if e.get("type") == "Message" and e.get("author") == d.bot_id
                else []
            )
        )
        question = await ask(h, d.member_ids[0], "tell me about Stoat and its community bots please")
        [answer] = await answered(h, 1)
        assert answer["content"] == "echo(2 messages): tell me about Stoat and its community bots please"
        assert answer["replies"] == [question["_id"]]
        assert len(shown) >= 2 and shown[0].endswith(MARK), "the answer was shown while it was written"
        assert shown[-1] == answer["content"]
        body = llm.requests[-1]["body"]
        assert body["stream"] is True and body["model"] == "fake-model"
        system = body["messages"][0]
        assert system["role"] == "system" and "alice" in system["content"] and "UTC" in system["content"]
        usage = await until_stored(lambda: AiChatUsage.find_all().to_list())
        assert usage and usage[0].member_id == d.member_ids[0] and usage[0].tokens > 0
        invocations, errors, uses = await feature_totals(h)
        assert invocations >= 1 and errors == 0 and uses >= 1
        assert h.double.violations == []


async def test_a_reply_chain_of_five_turns_reaches_the_model_in_order(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness) as (h, llm):
        d = h.demo
        alice = d.member_ids[0]
        previous: str | None = None
        for turn in range(1, 6):
            llm.reply_with(f"answer {turn}")
            text = f"question {turn}"
            if previous is None:
                await ask(h, alice, text)
            else:  # a plain reply to the bot's answer, no mention
                await h.double.send_message_as(alice, h.channel_id(None), text, replies=[previous])
            messages = await answered(h, turn)
            previous = messages[-1]["_id"]
            assert messages[-1]["content"] == f"answer {turn}"
        sent = llm.requests[-1]["body"]["messages"]
        assert [m["role"] for m in sent] == ["system", *["user", "assistant"] * 4, "user"]
        assert [m["content"] for m in sent[1:]] == [
            "question 1",
            "answer 1",
            "question 2",
            "answer 2",
            "question 3",
            "answer 3",
            "question 4",
            "answer 4",
            "question 5",
        ]


async def test_an_ai_channel_answers_every_message_and_reset_forgets(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness) as (h, llm):
        d = h.demo
        reply = await h.command(d.owner_id, "!ai channel add #general")
        assert reply["content"] == "#general: I answer every message there now."
        await h.double.send_message_as(d.member_ids[1], h.channel_id("general"), "no mention here")
        messages = await answered(h, 2)
        assert messages[-1]["content"] == "echo(2 messages): no mention here"
        # a message in another channel without a mention is not for the model
        await h.double.send_message_as(d.member_ids[1], h.channel_id("lounge"), "not for you")
        await ask(h, d.member_ids[1], "but this is", channel="lounge")
        [other] = await answered(h, 1, channel="lounge")
        assert other["content"] == "echo(2 messages): but this is"
        assert [r["body"]["messages"][-1]["content"] for r in llm.requests] == [
            "no mention here",
            "but this is",
        ]
        # !ai reset: a reply to an older answer starts afresh
        await h.command(d.member_ids[1], "!ai reset")
        await h.double.send_message_as(
            d.member_ids[1], h.channel_id("general"), "again", replies=[messages[-1]["_id"]]
        )
        await until(lambda: len(llm.requests) == 3, what="the third request")
        assert [m["role"] for m in llm.requests[-1]["body"]["messages"]] == ["system", "user"]


async def test_a_long_answer_is_split_at_sensible_boundaries(logiq_harness: LogiqHarness) -> None:
    paragraph = ("Stoat is a chat platform. " * 30).strip()
    long_answer = "\n\n".join(f"Part {i}. {paragraph}" for i in range(6))  # about 4.7 kB
    async with FakeLLM(chunk_chars=400) as llm, ai_bot(logiq_harness, llm) as (h, _):
        llm.reply_with(long_answer)
        question = await ask(h, h.demo.member_ids[0], "write a lot")
        messages = await until(
            lambda: (
                (m := bot_messages(h))
                and sum(len(x["content"]) for x in m) >= len(long_answer) - 40
                and not m[-1]["content"].endswith(MARK)
                and m
            ),
            what="the whole answer",
        )
        assert len(messages) >= 3
        assert all(len(m["content"].encode()) <= 2000 for m in messages)
        assert all(m["content"].endswith(".") for m in messages), "cut at sentence or paragraph ends"
        assert "\n\n".join(m["content"] for m in messages).split() == long_answer.split()
        assert messages[0]["replies"] == [question["_id"]]
        for earlier, later in itertools.pairwise(messages):
            assert later["replies"] == [earlier["_id"]]  # the reply chain stays whole


async def test_streamed_edits_stay_within_the_doubles_rate_limits(logiq_harness: LogiqHarness) -> None:
    answer = " ".join(f"word{i}" for i in range(400))  # about 3 kB: edits, a split and a send
    async with (
        FakeLLM(chunk_chars=24, chunk_delay=0.025) as llm,
        ai_bot(logiq_harness, llm, config={"edit_interval_seconds": 0.7}, realistic_rate_limits=True) as (
            h,
            _,
        ),
    ):
        writes: list[float] = []
        channel = h.channel_id(None)
        h.double.add_observer(
            lambda e: (
                writes.append(time.monotonic())
                if (e.get("type") == "MessageUpdate" and "content" in e.get("data", {}))
                or (e.get("type") == "Message" and e.get("author") == h.demo.bot_id)
                else None
            )
        )
        llm.reply_with(answer)
        await ask(h, h.demo.member_ids[0], "count for me")
        await until(
            lambda: (
                (m := bot_messages(h))
                and not m[-1]["content"].endswith(MARK)
                and " ".join(x["content"] for x in m).split() == answer.split()
            ),
            timeout=20,
            what="the whole answer",
        )
        assert h.double.rate_limited_responses == 0
        assert h.bot is not None and h.bot.api.rate_limiter.waits == 0, "pacing alone kept within the limits"
        gaps = [b - a for a, b in itertools.pairwise(writes)]
        # The tightest pace the config allows (0.7 s) stays within Stoat's limits on its own.
        assert len(writes) >= 5 and min(gaps) >= 0.63  # a write every 0.7 s at most
        stoat_calls = [r for r in h.double.requests if r["path"].startswith(f"/channels/{channel}")]
        assert len(stoat_calls) <= 15 * (max(writes) - min(writes) + 10) / 10


async def test_mentions_in_the_answer_ping_nobody(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness) as (h, llm):
        d = h.demo
        llm.reply_with(f"Hello @everyone and @online, <@{d.owner_id}> and <%{d.roles['Member']}>!")
        await ask(h, d.member_ids[0], "greet everybody")
        [answer] = await answered(h, 1)
        content = answer["content"]
        assert "@everyone" not in content and "@online" not in content
        assert "<@" not in content and "<%" not in content
        assert "@ada" in content and "@Member" in content
        assert not answer.get("mentions") and not answer.get("role_mentions")


async def test_member_rate_limit_and_server_budget_refusals(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness) as (h, llm):
        assert h.bot is not None
        # Today at noon, UTC: the day's budget cannot roll over at 00:00 UTC mid-test.
        noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        h.bot.contexts["ai_chat"].get(AiChatService).clock = FakeClock(noon, ticking=True)
        d = h.demo
        await h.command(d.owner_id, "!ai limits 2 1000")
        for n in range(2):
            await ask(h, d.member_ids[0], f"q{n}")
            await answered(h, n + 2)  # the limits confirmation, then the answers
        await ask(h, d.member_ids[0], "q3")
        refusal = await until(lambda: len(bot_messages(h)) == 4 and bot_messages(h)[-1], what="the refusal")
        assert refusal["content"].startswith(
            "You have reached the limit of 2 AI requests per minute; try again in "
        )
        assert "UTC" in refusal["content"] and len(llm.requests) == 2
        # the server's daily budget
        await h.command(d.owner_id, "!ai limits 10 5")
        await ask(h, d.member_ids[1], "anything")
        budget = await until(
            lambda: len(bot_messages(h)) == 6 and bot_messages(h)[-1], what="the budget refusal"
        )
        assert budget["content"].startswith("This server has used its AI budget for today (")
        assert "of 5 tokens); it renews at 00:00 UTC, in " in budget["content"]
        assert len(llm.requests) == 2
        usage = await h.command(d.owner_id, "!ai usage")
        assert usage["content"].startswith("AI usage today (UTC): ") and "alice" in usage["content"]


async def test_provider_errors_and_timeouts_are_answered_briefly_and_counted(
    logiq_harness: LogiqHarness,
) -> None:
    async with ai_bot(logiq_harness, config={"timeout_seconds": 0.5, "requests_per_minute": 50}) as (h, llm):
        d = h.demo
        llm.fail_next(500)
        await ask(h, d.member_ids[0], "one")
        [first] = await answered(h, 1)
        assert first["content"] == "⚠️ The AI provider answered with an error (500: injected failure)."
        llm.fail_next(429, retry_after=7)
        await ask(h, d.member_ids[0], "two")
        second = (await answered(h, 2))[-1]
        assert second["content"] == "⚠️ The AI provider is busy (rate limited); it asks to wait 7 s."
        llm.hang_next()
        started = time.monotonic()
        await ask(h, d.member_ids[0], "three")
        third = (await answered(h, 3))[-1]
        assert third["content"] == "⚠️ The AI provider did not answer in time."
        assert time.monotonic() - started < 5
        llm.reply_with("this answer will break off half way")
        llm.malformed_next()
        await ask(h, d.member_ids[0], "four")
        fourth = (await answered(h, 4))[-1]
        assert fourth["content"].endswith("⚠️ The AI provider sent a broken answer.")
        errors_seen = 0
        deadline = time.monotonic() + 10
        while errors_seen < 4 and time.monotonic() < deadline:  # the last run ends after its reply
            _, errors_seen, _ = await feature_totals(h)  # stored totals (flush adds to them)
            await asyncio.sleep(0.02)
        assert errors_seen == 4, "each provider failure counts as an error for the rollout monitor"
        # it still answers afterwards
        await ask(h, d.member_ids[0], "five")
        assert (await answered(h, 5))[-1]["content"] == "echo(2 messages): five"


async def test_the_api_key_never_appears_in_logs_or_replies(
    logiq_harness: LogiqHarness, monkeypatch: Any
) -> None:
    secret = "sk-test-" + new_ulid()
    monkeypatch.setenv("LOGIQ_TEST_AI_KEY", secret)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    try:
        async with ai_bot(logiq_harness, config={"api_key_env": "LOGIQ_TEST_AI_KEY"}) as (h, llm):
            d = h.demo
            await ask(h, d.member_ids[0], "hello")
            await answered(h, 1)
            llm.fail_next(401, message=f"Incorrect API key provided: {secret}")  # some providers quote it
            await ask(h, d.member_ids[0], "again")
            failed = (await answered(h, 2))[-1]
            assert (
                failed["content"]
                == "⚠️ The AI provider answered with an error (401: Incorrect API key provided: [key])."
            )
            assert llm.requests[0]["headers"]["Authorization"] == f"Bearer {secret}"
            assert all(
                secret not in (m.get("content") or "") for m in h.double.messages_in(h.channel_id(None))
            )
    finally:
        logger.remove(sink)
    assert any("LOGIQ_TEST_AI_KEY" in line for line in lines)  # the variable's name is fine
    assert any("AI provider failure" in line for line in lines)
    assert not any(secret in line for line in lines)


async def test_blocked_members_and_channels_get_nothing(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness) as (h, llm):
        d = h.demo
        reply = await h.command(d.owner_id, f"!ai block <@{d.member_ids[0]}>")
        assert reply["content"] == "alice is blocked from AI chat."
        await ask(h, d.member_ids[0], "answer me")
        await ask(h, d.member_ids[1], "and me")
        messages = await answered(h, 2)
        assert messages[-1]["content"] == "echo(2 messages): and me"
        assert [r["body"]["messages"][-1]["content"] for r in llm.requests] == ["and me"]
        assert (await h.command(d.owner_id, f"!ai block <@{d.member_ids[0]}>"))[
            "content"
        ] == "alice is allowed in AI chat."


async def test_the_model_never_sees_another_servers_messages(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness) as (h, llm):
        d = h.demo
        other = h.double.create_server(d.owner_id, "Elsewhere")
        channel = h.double.create_channel(other["_id"], "secret")
        h.double.add_member(other["_id"], d.bot_id)
        foreign = await h.double.send_message_as(d.owner_id, channel["_id"], "the other server's secret")
        await ask(h, d.member_ids[0], "what did they say?", replies=[foreign["_id"]])
        await answered(h, 1)
        sent = llm.requests[-1]["body"]["messages"]
        assert [m["role"] for m in sent] == ["system", "user"]
        assert all("secret" not in m["content"] for m in sent)


async def test_prompts_persona_and_model_per_server_and_channel(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness, config={"models": ["fake-model-large"]}) as (h, llm):
        d = h.demo
        await h.command(d.owner_id, "!ai prompt You serve {server}.")
        await h.command(d.owner_id, "!ai prompt #lounge Off topic for {member} on {date} at {time}.")
        assert (await h.command(d.owner_id, "!ai model gpt-9"))["content"].startswith(
            "`gpt-9` is not allowed."
        )
        assert (await h.command(d.owner_id, "!ai model fake-model-large"))[
            "content"
        ] == "This server uses fake-model-large now."
        reply = await h.command(d.owner_id, "!ai persona Sage https://example.org/sage.png")
        assert reply["content"] == "I answer as Sage now."
        await ask(h, d.member_ids[0], "hi")
        [answer] = [m for m in await answered(h, 6) if m.get("masquerade")]
        assert answer["masquerade"] == {"name": "Sage", "avatar": "https://example.org/sage.png"}
        first = llm.requests[-1]["body"]
        server_name = h.double.world.servers[d.server_id]["name"]
        assert first["model"] == "fake-model-large"
        assert first["messages"][0]["content"] == f"You serve {server_name}."
        await ask(h, d.member_ids[0], "hi there", channel="lounge")
        await answered(h, 1, channel="lounge")
        system = llm.requests[-1]["body"]["messages"][0]["content"]
        assert system.startswith("Off topic for alice on 20") and "{" not in system
        privacy = await h.command(d.member_ids[0], "!ai privacy")
        assert "stores no conversation text" in privacy["content"]


async def test_without_a_provider_members_are_told_and_the_operator_is_told_what_to_set(
    logiq_harness: LogiqHarness,
) -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO")
    try:
        async with ai_bot(logiq_harness, config={"base_url": None}) as (h, llm):
            await ask(h, h.demo.member_ids[0], "hello?")
            [reply] = await answered(h, 1)
            assert reply["content"].startswith("AI chat is not set up on this bot yet")
            assert llm.requests == []
    finally:
        logger.remove(sink)
    assert any("base_url" in line and "[plugins.ai_chat.config]" in line for line in lines)


async def test_ai_ask_command_and_commands_are_not_questions(logiq_harness: LogiqHarness) -> None:
    async with ai_bot(logiq_harness) as (h, llm):
        d = h.demo
        await h.command(d.owner_id, "!ai channel add #general")
        await h.double.send_message_as(d.member_ids[0], h.channel_id(None), "!ai ask what is 2+2?")
        messages = await answered(h, 2)
        assert messages[-1]["content"] == "echo(2 messages): what is 2+2?"
        assert len(llm.requests) == 1  # the command message was not also answered as a question
        invocations, errors, _ = await feature_totals(h)
        assert errors == 0 and invocations >= 2


def test_the_sandbox_uses_the_fake_model_and_says_so(tmp_path: Path) -> None:
    """`logiq sandbox` with no base_url: the fake model server stands in, and says it does."""
    import os
    import subprocess
    import sys

    plugins = tmp_path / "plugins.toml"
    plugins.write_text(
        "[logiq]\nenable_unlisted = false\n[plugins.ai_chat]\nenabled = true\n"
        '[plugins.ai_chat.config]\nmodel = "fake-model"\n'
    )
    env = {
        **os.environ,
        "LOGIQ_PLUGINS_FILE": str(plugins),
        "LOGIQ_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
    }
    env.pop("LOGIQ_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "logiq_core", "sandbox", "--script", "!ai ask hello sandbox"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "fake model" in done.stdout and "stand-in" in done.stdout
    assert "Plugins loaded: ai_chat" in done.stdout
    assert "Logiq #general:" in done.stdout and "echo(2 m ▌" in done.stdout  # streamed: shown early...
    assert (
        "Logiq (edited):" in done.stdout and "echo(2 messages): hello sandbox" in done.stdout
    )  # ...then whole
