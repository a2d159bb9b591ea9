"""AI chat's logic: prompts, conversations, limits, streaming and splitting.

The pure parts (:func:`render_prompt`, :func:`split_at_boundary`,
:class:`MemberRateLimiter`, :func:`seconds_until_utc_midnight`) need no Stoat and no storage;
:class:`AiChatService` ties them to the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from logiq_ai_chat.config import AiConfig
from logiq_ai_chat.models import (
    ANSWER_KEEP_DAYS,
    USAGE_KEEP_DAYS,
    AiChatAnswer,
    AiChatReset,
    AiChatSettings,
    AiChatUsage,
)
from logiq_ai_chat.provider import ChatProvider, ProviderError, Usage, estimate_tokens
from logiq_core.plugin import USER_MENTION, Message, StoatAPIError, neutralise_mentions, ulid_time

try:  # economy is optional: without it (or off on a server) answers are free
    from logiq_economy.service import EconomyService
except ImportError:  # pragma: no cover - depends on what the operator installed
    EconomyService = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from logiq_core.plugin import PluginContext

MAX_MESSAGE_BYTES = 2000
STREAMING_MARK = " ▌"  # shown at the end of an answer while it is still being written
NOT_SET_UP = (
    "AI chat is not set up on this bot yet: the operator has to configure a model provider "
    "(`base_url` in plugins.toml)."
)


# --- pure helpers -------------------------------------------------------------------------------
def render_prompt(template: str, *, server: str, member: str, now: datetime) -> str:
    """Fill ``{date}``, ``{time}``, ``{server}`` and ``{member}``; other braces stay as typed."""
    values = {
        "date": now.strftime("%Y-%m-%d (%A)"),
        "time": now.strftime("%H:%M"),
        "server": server,
        "member": member,
    }
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def _size(text: str) -> int:
    return len(text.encode())


def split_at_boundary(text: str, limit: int) -> tuple[str, str]:
    """Cut ``text`` into a head of at most ``limit`` bytes and the rest, at the best boundary:
    a paragraph, then a line, then a sentence, then a word, else anywhere (never inside a
    character). Code fences cut open are closed in the head and reopened in the rest."""
    if _size(text) <= limit:
        return text, ""
    budget = limit - 4  # room to close a code fence
    window = text.encode()[:budget].decode(errors="ignore")
    cut = -1
    for separator in ("\n\n", "\n", ". ", "! ", "? ", " "):
        position = window.rfind(separator)
        if position > len(window) // 3:
            cut = position + len(separator)
            break
    if cut <= 0:
        cut = len(window)
    head, rest = text[:cut].rstrip(), text[cut:].lstrip(" ")
    if head.count("```") % 2 == 1:
        head, rest = head + "\n```", "```\n" + rest
    return head, rest


def split_message(text: str, limit: int = MAX_MESSAGE_BYTES) -> list[str]:
    """``text`` as messages of at most ``limit`` bytes each, cut at sensible boundaries."""
    parts: list[str] = []
    while _size(text) > limit:
        head, text = split_at_boundary(text, limit)
        parts.append(head)
    if text.strip():
        parts.append(text)
    return parts


def seconds_until_utc_midnight(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


def format_wait(seconds: float) -> str:
    seconds = max(1, int(seconds + 0.999))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class MemberRateLimiter:
    """At most ``limit`` requests per member in any ``window`` seconds (sliding window)."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._hits: dict[tuple[str | None, str], deque[float]] = {}

    def check(self, key: tuple[str | None, str], limit: int, now: float) -> float | None:
        """Count a request; None if allowed, else the seconds until one is allowed again."""
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if len(hits) >= limit:
            return self.window - (now - hits[0])
        hits.append(now)
        return None


class EditPacer:
    """Spaces the bot's writes (sends and edits of answers) per channel, ``interval`` apart.

    Stoat allows 15 requests per 10 s per channel for edits (and 10 for sends), shared with
    message fetches (PROTOCOL.md §6); one write a second keeps every answer in a channel,
    together, well inside that, so streaming never meets a 429.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}

    def ready(self, channel_id: str) -> bool:
        return time.monotonic() >= self._next.get(channel_id, 0.0)

    async def wait(self, channel_id: str) -> None:
        while True:
            now = time.monotonic()
            due = self._next.get(channel_id, 0.0)
            if now >= due:
                self._next[channel_id] = now + self.interval
                return
            await asyncio.sleep(due - now)


@dataclass
class Trigger:
    """A request for an answer: from a mention, a reply, an AI channel or ``!ai ask``."""

    server_id: str | None
    channel_id: str
    message: Message  # the member's message (the answer replies to it)
    text: str  # what the member asked (bot mention removed)
    listener: bool = True  # True: counts as a use here (commands are counted by the core)


@dataclass
class Outcome:
    """What :meth:`AiChatService.answer` did (for tests and logs)."""

    kind: str  # "answered", "refused", "blocked", "failed", "not_configured"
    text: str = ""
    message_ids: list[str] = field(default_factory=list)
    tokens: int = 0
    charged: int = 0  # coins the member paid for this answer (0: free, or refunded)


@dataclass
class Charge:
    """The price of one answer, taken from the member through economy's service."""

    economy: Any  # logiq_economy's EconomyService
    server_id: str
    entry_id: str  # the ledger entry (reversed if the answer fails)
    amount: int
    delivered: bool = False  # the whole answer reached the member: no refund after that


def charge_key(message_id: str) -> str:
    """Economy's idempotency key for the answer to one member message: the same message is
    never charged twice, whatever retries or redeliveries happen."""
    return f"ai_chat:answer:{message_id}"


# --- the service --------------------------------------------------------------------------------
class AiChatService:
    """Per-bot state: settings cache, limits, provider, pacing."""

    def __init__(self, ctx: PluginContext, config: AiConfig) -> None:
        self.ctx = ctx
        self.config = config
        provider_config = config.provider()
        self.provider = ChatProvider(ctx.http, provider_config) if provider_config else None
        self.rate = MemberRateLimiter()
        self.pacer = EditPacer(config.edit_interval_seconds)
        self._settings: dict[str, AiChatSettings] = {}
        self._answers: OrderedDict[str, None] = OrderedDict()  # recent AI answer ids
        self._notified: dict[tuple[str | None, str, str], float] = {}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # --- settings ----------------------------------------------------------------------------
    async def settings(self, server_id: str | None) -> AiChatSettings:
        key = server_id or ""
        cached = self._settings.get(key)
        if cached is not None:
            return cached
        found = await AiChatSettings.find_one(AiChatSettings.server_id == key)
        settings = found or AiChatSettings(server_id=key)
        self._settings[key] = settings
        return settings

    async def update(self, server_id: str, change: Callable[[AiChatSettings], None]) -> AiChatSettings:
        settings = await self.settings(server_id)
        change(settings)
        await settings.save()
        self._settings[server_id] = settings
        return settings

    def limits(self, settings: AiChatSettings) -> tuple[int, int]:
        per_minute = settings.requests_per_minute or self.config.requests_per_minute
        per_day = settings.tokens_per_day or self.config.tokens_per_day
        return per_minute, per_day

    # --- the price of an answer (economy's service, when installed and on here) ------------
    def economy(self, server_id: str | None) -> Any | None:
        """Economy's service where it is installed and enabled on ``server_id``, else None."""
        if EconomyService is None or server_id is None:
            return None
        return self.ctx.service_of("economy", EconomyService, server_id=server_id)

    async def price(self, server_id: str, settings: AiChatSettings) -> str:
        """What an answer costs here, in words (for ``!ai cost`` and ``!ai usage``)."""
        cost = settings.cost_per_answer
        if not cost:
            return "Answers are free."
        economy = self.economy(server_id)
        if economy is None:
            return f"Answers would cost {cost:,} coins, but economy is not on here, so they are free."
        currency = (await economy.settings(server_id)).currency
        return f"Each answer costs {currency.format(cost)} (refunded if the AI provider fails)."

    async def charge(self, trigger: Trigger, settings: AiChatSettings) -> Charge | str | None:
        """Take the price of this answer from the member: the :class:`Charge`, None when
        answers are free here, or why the member cannot pay (their balance and the price)."""
        cost = settings.cost_per_answer
        economy = self.economy(trigger.server_id) if cost else None
        if economy is None or trigger.server_id is None or not cost:
            return None
        server_id, member = trigger.server_id, trigger.message.author
        outcome = await economy.burn(
            server_id,
            member,
            cost,
            key=charge_key(trigger.message.id),
            memo="AI chat answer",
            cause=trigger.message.id,
        )
        if outcome.ok:
            return Charge(economy, server_id, outcome.entry_id, cost)
        currency = (await economy.settings(server_id)).currency
        balance = await economy.balance(server_id, member)
        return (
            f"An AI answer costs {currency.format(cost)} here; you have {currency.format(balance)}. "
            "Earn more with `daily` or `work`."
        )

    async def refund(self, charge: Charge, why: str) -> None:
        """Give the price back (a reversal of the charge's entry: once, whatever retries)."""
        try:
            await charge.economy.reverse(
                charge.server_id, charge.entry_id, actor=self.ctx.bot_user_id, reason=why
            )
        except Exception as exc:  # the ledger recovers pending entries; a manager can reverse it
            self.ctx.logger.opt(exception=exc).error(
                "AI chat could not refund entry {} on server {}", charge.entry_id, charge.server_id
            )

    def model_for(self, settings: AiChatSettings) -> str:
        if settings.model and settings.model in self.config.allowed_models:
            return settings.model
        return self.config.model

    # --- usage -------------------------------------------------------------------------------
    def today(self) -> str:
        return self.clock().strftime("%Y-%m-%d")

    async def tokens_today(self, server_id: str) -> int:
        return sum(row.tokens for row in await self.usage_today(server_id))

    async def usage_today(self, server_id: str) -> list[AiChatUsage]:
        query = AiChatUsage.find(AiChatUsage.server_id == server_id, AiChatUsage.day == self.today())
        return sorted(await query.to_list(), key=lambda row: -row.tokens)

    async def add_usage(self, server_id: str, member_id: str, tokens: int) -> None:
        collection = AiChatUsage.get_pymongo_collection()
        await collection.update_one(
            {"server_id": server_id, "day": self.today(), "member_id": member_id},
            {"$inc": {"tokens": tokens, "requests": 1}},
            upsert=True,
        )

    async def prune(self) -> None:
        """Delete usage older than USAGE_KEEP_DAYS and answer ids older than ANSWER_KEEP_DAYS."""
        now = self.clock()
        oldest_day = (now - timedelta(days=USAGE_KEEP_DAYS)).strftime("%Y-%m-%d")
        await AiChatUsage.get_pymongo_collection().delete_many({"day": {"$lt": oldest_day}})
        await AiChatAnswer.get_pymongo_collection().delete_many(
            {"created_at": {"$lt": now - timedelta(days=ANSWER_KEEP_DAYS)}}
        )

    # --- answers and resets ------------------------------------------------------------------
    async def remember_answer(self, message: Message, server_id: str | None) -> None:
        self._answers[message.id] = None
        while len(self._answers) > 5000:
            self._answers.popitem(last=False)
        await AiChatAnswer(
            message_id=message.id, channel_id=message.channel, server_id=server_id, created_at=self.clock()
        ).insert()

    async def is_ai_answer(self, message_id: str) -> bool:
        if message_id in self._answers:
            return True
        return await AiChatAnswer.find_one(AiChatAnswer.message_id == message_id) is not None

    async def reset(self, channel_id: str) -> None:
        collection = AiChatReset.get_pymongo_collection()
        await collection.update_one({"channel_id": channel_id}, {"$set": {"at": self.clock()}}, upsert=True)

    async def reset_time(self, channel_id: str) -> datetime | None:
        found = await AiChatReset.find_one(AiChatReset.channel_id == channel_id)
        if found is None:
            return None
        at = found.at
        return at if at.tzinfo else at.replace(tzinfo=UTC)

    # --- names -------------------------------------------------------------------------------
    def display_name(self, server_id: str | None, user_id: str) -> str:
        if server_id:
            member = self.ctx.cache.cached_member(server_id, user_id)
            if member is not None and member.nickname:
                return member.nickname
        user = self.ctx.cache.users.get(user_id)
        return user.username if user else user_id

    def neutralise(self, server_id: str | None, text: str) -> str:
        server = self.ctx.cache.servers.get(server_id or "")

        def role_name(role_id: str) -> str | None:
            return server.roles[role_id].name if server and role_id in server.roles else None

        return neutralise_mentions(text, lambda uid: self.display_name(server_id, uid), role_name)

    def clean_input(self, server_id: str | None, text: str) -> str:
        """A member's message as the model sees it: the bot's mention removed, mentions as names."""
        text = text.replace(f"<@{self.ctx.bot_user_id}>", " ").strip()
        return self.neutralise(server_id, text)

    # --- the conversation --------------------------------------------------------------------
    async def conversation(self, trigger: Trigger, settings: AiChatSettings) -> list[dict[str, str]]:
        """System prompt, then the reply chain oldest first, ending with the member's message.

        The chain is walked through Stoat's ``replies`` in the trigger's own channel only (so it
        never leaves the server), up to ``max_chain_messages`` / ``max_chain_chars``, and stops
        at the channel's last ``!ai reset``.
        """
        config = self.config
        bot_id = self.ctx.bot_user_id
        turns: list[tuple[str, str]] = [("user", trigger.text)]
        used = len(trigger.text)
        reset_at = await self.reset_time(trigger.channel_id)
        parent = next(iter(trigger.message.replies or []), None)
        seen = {trigger.message.id}
        while parent and parent not in seen and len(turns) < config.max_chain_messages:
            seen.add(parent)
            try:
                message = await self.ctx.api.fetch_message(trigger.channel_id, parent)
            except StoatAPIError:
                break  # deleted, or not in this channel
            if message.channel != trigger.channel_id:
                break
            if reset_at is not None and ulid_time(message.id) < reset_at:
                break
            if message.author == bot_id:
                role, text = "assistant", (message.content or "").removesuffix(STREAMING_MARK)
            else:
                role, text = "user", self.clean_input(trigger.server_id, message.content or "")
            if text and not message.system:
                if used + len(text) > config.max_chain_chars:
                    break
                used += len(text)
                if turns and turns[-1][0] == role == "assistant":
                    turns[-1] = (role, text + "\n" + turns[-1][1])  # one answer split in parts
                else:
                    turns.append((role, text))
            parent = next(iter(message.replies or []), None)
        await self.ctx.cache.ensure_user(trigger.message.author)  # its name, for {member}
        server_name = ""
        if trigger.server_id:
            with contextlib.suppress(StoatAPIError):
                await self.ctx.cache.member(trigger.server_id, trigger.message.author)
            server = self.ctx.cache.servers.get(trigger.server_id)
            server_name = server.name if server else ""
        template = (
            settings.channel_prompts.get(trigger.channel_id) or settings.server_prompt or config.system_prompt
        )
        prompt = render_prompt(
            template,
            server=server_name,
            member=self.display_name(trigger.server_id, trigger.message.author),
            now=self.clock(),
        )
        return [
            {"role": "system", "content": prompt},
            *({"role": role, "content": text} for role, text in reversed(turns)),
        ]

    # --- limits ------------------------------------------------------------------------------
    async def refusal(self, trigger: Trigger, settings: AiChatSettings) -> str | None:
        """Why this request may not go to the model now (which limit and until when), or None."""
        now = self.clock()
        if len(trigger.text) > self.config.max_input_chars:
            return (
                f"Your message is too long for AI chat ({len(trigger.text):,} characters; "
                f"the limit is {self.config.max_input_chars:,})."
            )
        if not trigger.text:
            return "Ask me something after the mention."
        per_minute, per_day = self.limits(settings)
        if trigger.server_id is not None:
            used = await self.tokens_today(trigger.server_id)
            if used >= per_day:
                wait = seconds_until_utc_midnight(now)
                return (
                    f"This server has used its AI budget for today ({used:,} of {per_day:,} tokens); "
                    f"it renews at 00:00 UTC, in {format_wait(wait)}."
                )
        wait_for = self.rate.check((trigger.server_id, trigger.message.author), per_minute, time.monotonic())
        if wait_for is not None:
            until = now + timedelta(seconds=wait_for)
            return (
                f"You have reached the limit of {per_minute} AI requests per minute; "
                f"try again in {format_wait(wait_for)} (at {until:%H:%M:%S} UTC)."
            )
        return None

    def should_tell(self, trigger: Trigger, text: str) -> bool:
        """Tell a member about a limit once per minute, not on every message."""
        key = (trigger.server_id, trigger.message.author, text.split(";")[0])
        now = time.monotonic()
        if now - self._notified.get(key, -1e9) < 60:
            return False
        self._notified[key] = now
        return True

    # --- answering ---------------------------------------------------------------------------
    async def answer(self, trigger: Trigger) -> Outcome:
        """Answer ``trigger``: checks, the conversation, the streamed answer, usage."""
        ctx = self.ctx
        settings = await self.settings(trigger.server_id)
        blocked = trigger.message.author in settings.blocked_members
        if blocked or trigger.channel_id in settings.blocked_channels:
            return Outcome("blocked")
        if trigger.listener:
            ctx.record_use(trigger.server_id)
        if self.provider is None:
            ctx.logger.warning(
                "AI chat was asked for an answer but no provider is configured: set base_url (an "
                "OpenAI-compatible API such as http://127.0.0.1:11434/v1), model and, if the "
                "provider needs a key, api_key_env under [plugins.ai_chat.config] in plugins.toml"
            )
            await self._reply(trigger, NOT_SET_UP)
            return Outcome("not_configured", NOT_SET_UP)
        refusal = await self.refusal(trigger, settings)
        if refusal is not None:
            if self.should_tell(trigger, refusal):
                await self._reply(trigger, refusal)
            return Outcome("refused", refusal)
        charge = await self.charge(trigger, settings)
        if isinstance(charge, str):
            if self.should_tell(trigger, charge):
                await self._reply(trigger, charge)
            return Outcome("refused", charge)
        try:
            return await self._answer(trigger, settings, charge)
        except BaseException:
            if charge is not None and not charge.delivered:  # a crash or shutdown mid-answer
                await self.refund(charge, "the answer failed")
            raise

    async def _answer(self, trigger: Trigger, settings: AiChatSettings, charge: Charge | None) -> Outcome:
        ctx = self.ctx
        assert self.provider is not None
        messages = await self.conversation(trigger, settings)
        writer = AnswerWriter(self, trigger, self._masquerade(settings))
        usage = Usage()
        try:
            async with asyncio.timeout(self.config.max_answer_seconds + 5):
                async for piece in self.provider.stream(self.model_for(settings), messages, usage):
                    await writer.add(piece)
        except (ProviderError, TimeoutError) as exc:
            text = str(exc) if isinstance(exc, ProviderError) else "The AI provider did not answer in time."
            kind = exc.kind if isinstance(exc, ProviderError) else "timeout"
            ctx.logger.warning("AI provider failure ({}) on server {}: {}", kind, trigger.server_id, text)
            ctx.record_error()
            if charge is not None:  # before the note, so the member never sees it unrefunded
                await self.refund(charge, f"the AI provider failed ({kind})")
                text += " You were not charged."
            await writer.fail(text)
            await self._count(trigger, usage, messages, writer.text)
            return Outcome("failed", text, writer.message_ids)
        await writer.finish()
        if charge is not None:
            charge.delivered = True
        tokens = await self._count(trigger, usage, messages, writer.text)
        return Outcome("answered", writer.text, writer.message_ids, tokens, charge.amount if charge else 0)

    async def _count(
        self, trigger: Trigger, usage: Usage, messages: list[dict[str, str]], answer: str
    ) -> int:
        if usage.estimated:
            usage.prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
            usage.completion_tokens = estimate_tokens(answer) if answer else 0
        if trigger.server_id is not None and usage.total:
            await self.add_usage(trigger.server_id, trigger.message.author, usage.total)
        return usage.total

    def _masquerade(self, settings: AiChatSettings) -> dict[str, str] | None:
        if not settings.persona_name:
            return None
        masquerade = {"name": settings.persona_name[:32]}
        if settings.persona_avatar:
            masquerade["avatar"] = settings.persona_avatar
        return masquerade

    async def _reply(self, trigger: Trigger, text: str) -> None:
        await self.pacer.wait(trigger.channel_id)
        await self.ctx.api.send_message(
            trigger.channel_id,
            self.neutralise(trigger.server_id, text),
            replies=[(trigger.message.id, False)],
        )


class AnswerWriter:
    """Shows a streamed answer: sends, then edits the bot's message at the pacer's rate; past
    2000 bytes the message is closed at a sensible boundary and the answer goes on in a new one
    (which replies to the previous part, so the reply chain stays whole)."""

    def __init__(self, service: AiChatService, trigger: Trigger, masquerade: dict[str, str] | None) -> None:
        self.service = service
        self.trigger = trigger
        self.masquerade = masquerade
        self.text = ""  # the whole raw answer so far
        self.pending = ""  # the raw text of the part being written
        self.current: Message | None = None  # the message being written
        self.shown = ""  # what it shows now
        self.message_ids: list[str] = []

    def _show(self, raw: str) -> str:
        return self.service.neutralise(self.trigger.server_id, raw)

    async def add(self, piece: str) -> None:
        self.text += piece
        self.pending += piece
        while _size(self._show(self.pending)) > MAX_MESSAGE_BYTES - _size(STREAMING_MARK):
            await self._close_part()
        if self.pending.strip() and self.service.pacer.ready(self.trigger.channel_id):
            await self._write(self._show(self.pending) + STREAMING_MARK)

    async def _close_part(self) -> None:
        budget = MAX_MESSAGE_BYTES - _size(STREAMING_MARK)  # the size that made the part close
        while True:
            head, rest = split_at_boundary(self.pending, budget)
            if _size(self._show(head)) <= MAX_MESSAGE_BYTES or budget < 200:
                break
            budget -= 100
        await self._write(self._show(head))
        self.pending, self.current, self.shown = rest, None, ""

    async def _write(self, content: str) -> None:
        content = content.strip() or "…"
        if content == self.shown:
            return
        api = self.service.ctx.api
        channel = self.trigger.channel_id
        await self.service.pacer.wait(channel)
        if self.current is None:
            reply_to = self.message_ids[-1] if self.message_ids else self.trigger.message.id
            self.current = await api.send_message(
                channel, content, replies=[(reply_to, False)], masquerade=self.masquerade
            )
            self.message_ids.append(self.current.id)
            await self.service.remember_answer(self.current, self.trigger.server_id)
        else:
            await api.edit_message(channel, self.current.id, content)
        self.shown = content

    async def finish(self) -> None:
        """Show the end of the answer, without the streaming mark."""
        if not self.text.strip():
            self.text = self.pending = "(the model sent an empty answer)"
        for user_id in sorted(set(USER_MENTION.findall(self.pending)))[:10]:  # show names, not ids
            with contextlib.suppress(StoatAPIError):
                await self.service.ctx.cache.ensure_user(user_id)
        for index, part in enumerate(split_message(self._show(self.pending))):
            if index:
                self.current, self.shown = None, ""
            await self._write(part)

    async def fail(self, reason: str) -> None:
        """Close what was shown with a short note, or answer with the note alone."""
        note = f"⚠️ {reason}"
        shown = self._show(self.pending).strip() if self.pending.strip() else ""
        if not shown:
            self.current, self.shown = None, ""
            await self._write(note)
            return
        combined = f"{shown}\n\n*(cut short)* {note}"
        if _size(combined) > MAX_MESSAGE_BYTES:
            await self._write(shown)
            self.current, self.shown = None, ""
            await self._write(note)
        else:
            await self._write(combined)
