"""A price per AI answer through economy's service, end to end: the Stoat test double, the fake
model server, the real bot with ai_chat and economy, and the real embedded storage."""

from __future__ import annotations

from typing import Any

from logiq_ai_chat.service import STREAMING_MARK, AiChatService, charge_key
from logiq_economy.models import Entry

from logiq_core.testing.fake_llm import FakeLLM
from logiq_core.testing.harness import BotHarness, LogiqHarness

MARK = STREAMING_MARK.strip()
BOTH_ON = {"ai_chat": "stable", "economy": "stable"}


def ai_config(llm: FakeLLM) -> dict[str, dict[str, Any]]:
    return {"ai_chat": {"base_url": llm.base_url, "edit_interval_seconds": 0.7, "requests_per_minute": 50}}


def pace_edits_quickly(h: BotHarness) -> None:
    """The double's rate limits are relaxed here and no test of this file checks the pace of
    edits: answers are paced 0.05 s apart, not Stoat's 0.7 s, so none waits out real time."""
    assert h.bot is not None
    h.bot.contexts["ai_chat"].get(AiChatService).pacer.interval = 0.05


def bot_messages(h: BotHarness) -> list[dict[str, Any]]:
    return [m for m in h.double.messages_in(h.channel_id(None)) if m["author"] == h.demo.bot_id]


async def ask(h: BotHarness, user: str, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mention the bot with ``text``; the member's message and the bot's finished reply to it."""
    question = await h.double.send_message_as(user, h.channel_id(None), f"<@{h.demo.bot_id}> {text}")

    def reply() -> dict[str, Any] | None:
        for message in bot_messages(h):
            if question["_id"] in (message.get("replies") or []) and not message["content"].endswith(MARK):
                return message
        return None

    return question, await h.eventually(reply, timeout=10, message=f"no finished reply to {text!r}")


async def balance(h: BotHarness, user: str) -> str:
    return (await h.command(user, "!balance"))["content"]


async def entries(h: BotHarness, key: str) -> list[Entry]:
    return await Entry.find({"server_id": h.demo.server_id, "key": key}).to_list()


async def test_answers_cost_coins_once_refused_without_them_and_refunded_when_the_provider_fails(
    logiq_harness: LogiqHarness,
) -> None:
    async with (
        FakeLLM() as llm,
        logiq_harness(["ai_chat", "economy"], rollout=BOTH_ON, plugin_config=ai_config(llm)) as h,
    ):
        pace_edits_quickly(h)
        d = h.demo
        alice = d.member_ids[0]
        refused = await h.command(alice, "!ai cost 5")
        assert refused["content"].startswith("You need")  # ManageServer
        for bad in ("-3", "abc", "1000001"):
            answer = await h.command(d.owner_id, f"!ai cost {bad}")
            assert answer["content"].startswith("`coins`: a whole number from 1 to 1,000,000, or `off`.")
        set_ = await h.command(d.owner_id, "!ai cost 5")
        assert set_["content"] == "Each answer costs 🪙 5 coins (refunded if the AI provider fails)."

        # No coins: refused with the price and the balance; the model is never asked.
        _, no_money = await ask(h, alice, "hello?")
        assert no_money["content"].startswith("An AI answer costs 🪙 5 coins here; you have 🪙 0 coins.")
        assert llm.requests == []

        await h.command(alice, "!daily")
        assert await balance(h, alice) == "alice has 🪙 100 coins."
        question, answer = await ask(h, alice, "what is Stoat?")
        assert answer["content"] == "echo(2 messages): what is Stoat?"
        assert await balance(h, alice) == "alice has 🪙 95 coins."
        [charged] = await entries(h, charge_key(question["_id"]))
        assert charged.kind == "burn" and charged.status == "applied"

        # The same message delivered again (a retry) is answered from the same charge.
        await h.double.inject_event({"type": "Message", **question})
        await h.eventually(lambda: len(llm.requests) == 2, timeout=10, message="the redelivered question")
        await h.eventually(
            lambda: (
                sum(question["_id"] in (m.get("replies") or []) for m in bot_messages(h)) == 2
                and not bot_messages(h)[-1]["content"].endswith(MARK)
            ),
            timeout=10,
        )
        assert len(await entries(h, charge_key(question["_id"]))) == 1
        assert await balance(h, alice) == "alice has 🪙 95 coins."

        # The provider fails: the price comes back, and the member is told.
        llm.fail_next(500)
        question, failed = await ask(h, alice, "and now?")
        assert failed["content"] == (
            "⚠️ The AI provider answered with an error (500: injected failure). You were not charged."
        )
        assert await balance(h, alice) == "alice has 🪙 95 coins."
        [charge] = await entries(h, charge_key(question["_id"]))
        [refund] = await entries(h, f"reverse:{charge.id}")
        assert refund.kind == "reversal" and refund.status == "applied"

        usage = await h.command(d.owner_id, "!ai usage")
        assert "Each answer costs 🪙 5 coins" in usage["content"] and "alice" in usage["content"]
        free = await h.command(d.owner_id, "!ai cost off")
        assert free["content"] == "Answers are free."
        await ask(h, alice, "free now?")
        assert await balance(h, alice) == "alice has 🪙 95 coins."


async def test_with_economy_off_or_missing_answers_stay_free(logiq_harness: LogiqHarness) -> None:
    async with FakeLLM() as llm:
        # Economy installed but off on this server by the rollout gate.
        async with logiq_harness(
            ["ai_chat", "economy"],
            rollout={"ai_chat": "stable", "economy": "beta"},
            plugin_config=ai_config(llm),
        ) as h:
            pace_edits_quickly(h)
            d = h.demo
            set_ = await h.command(d.owner_id, "!ai cost 5")
            note = "Answers would cost 5 coins, but economy is not on here, so they are free."
            assert set_["content"] == note
            _, answer = await ask(h, d.member_ids[0], "hello")
            assert answer["content"] == "echo(2 messages): hello"
            assert note in (await h.command(d.owner_id, "!ai usage"))["content"]
            await h.rollout("economy", "stable")  # economy on: the same setting charges now
            _, refused = await ask(h, d.member_ids[0], "and now?")
            assert refused["content"].startswith("An AI answer costs 🪙 5 coins here; you have 🪙 0 coins.")
        # Economy not loaded at all.
        async with logiq_harness(
            ["ai_chat"], rollout={"ai_chat": "stable"}, plugin_config=ai_config(llm)
        ) as h:
            pace_edits_quickly(h)
            assert (await h.command(h.demo.owner_id, "!ai cost 7"))["content"].startswith(
                "Answers would cost 7"
            )
            _, answer = await ask(h, h.demo.member_ids[0], "hi")
            assert answer["content"] == "echo(2 messages): hi"
