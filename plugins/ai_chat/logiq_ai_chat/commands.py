"""AI chat's commands: ``!ai ask``/``reset``/``privacy`` for members, the rest for managers."""

from __future__ import annotations

from yarl import URL

from logiq_ai_chat.models import ANSWER_KEEP_DAYS, USAGE_KEEP_DAYS, AiChatSettings
from logiq_ai_chat.service import AiChatService, Trigger
from logiq_core.plugin import Channel, CommandContext, CommandError, Member, Rest, convert, group
from logiq_core.plugin import Permission as P

MAX_PROMPT_CHARS = 4000
MAX_COST = 1_000_000


def service(ctx: CommandContext) -> AiChatService:
    return ctx.plugin.get(AiChatService)


def server(ctx: CommandContext) -> str:
    assert ctx.server_id is not None  # every ai command is server-only (dm=False)
    return ctx.server_id


ai = group("ai", description="Talk with a language model (mention me or reply to my answers)")


@ai.subcommand("ask", description="Ask the model (mentioning me or replying to my answer works too)")
async def ask(ctx: CommandContext, text: Rest) -> None:
    svc = service(ctx)
    trigger = Trigger(
        server(ctx), ctx.channel_id, ctx.message, svc.clean_input(ctx.server_id, text), listener=False
    )
    await svc.answer(trigger)


@ai.subcommand("reset", description="Forget this channel's conversation (earlier replies are left out)")
async def reset(ctx: CommandContext) -> None:
    await service(ctx).reset(ctx.channel_id)
    await ctx.reply("Done: conversations in this channel start afresh from here.")


@ai.subcommand("privacy", description="What AI chat stores and for how long")
async def privacy(ctx: CommandContext) -> None:
    await ctx.reply(
        "AI chat stores no conversation text. The conversation is the chain of replies, read "
        "from Stoat when you ask, from this channel only, and sent to the model provider the "
        "operator configured. Stored: this server's AI settings (until changed), tokens used "
        f"per member per day (numbers only, {USAGE_KEEP_DAYS} days), the ids of my AI answers "
        f"({ANSWER_KEEP_DAYS} days) and the time of the last `ai reset` per channel."
    )


@ai.subcommand(
    "channel",
    description="Make a channel an AI channel (every message is answered) or not",
    user_permissions=P.ManageServer,
    usage="<add|remove> <#channel>",
)
async def channel(ctx: CommandContext, action: str, target: Channel) -> None:
    action = action.lower()
    if action not in ("add", "remove"):
        raise CommandError("Usage: `ai channel add #channel` or `ai channel remove #channel`.")

    def change(settings: AiChatSettings) -> None:
        if action == "add" and target.id not in settings.ai_channels:
            settings.ai_channels.append(target.id)
        if action == "remove" and target.id in settings.ai_channels:
            settings.ai_channels.remove(target.id)

    await service(ctx).update(server(ctx), change)
    if action == "add":
        await ctx.reply(f"#{target.name}: I answer every message there now.")
    else:
        await ctx.reply(f"#{target.name} is no longer an AI channel.")


@ai.subcommand(
    "prompt",
    description="Set the system prompt of the server or of one channel "
    "({date} {time} {server} {member}; 'reset' for the default)",
    user_permissions=P.ManageServer,
)
async def prompt(ctx: CommandContext, target: Channel | None = None, text: Rest = "") -> None:
    text = text.strip()
    if not text:
        settings = await service(ctx).settings(server(ctx))
        current = (settings.channel_prompts.get(target.id) if target else None) or settings.server_prompt
        shown = current or service(ctx).config.system_prompt
        raise CommandError(f"The prompt is: {shown}\nUsage: `ai prompt [#channel] <text|reset>`")
    if len(text) > MAX_PROMPT_CHARS:
        raise CommandError(f"A prompt is at most {MAX_PROMPT_CHARS:,} characters.")
    clear = text.lower() == "reset"

    def change(settings: AiChatSettings) -> None:
        if target is not None:
            if clear:
                settings.channel_prompts.pop(target.id, None)
            else:
                settings.channel_prompts[target.id] = text
        else:
            settings.server_prompt = None if clear else text

    await service(ctx).update(server(ctx), change)
    where = f"#{target.name}" if target is not None else "this server"
    await ctx.reply(f"The prompt for {where} is {'back to the default' if clear else 'set'}.")


@ai.subcommand(
    "persona",
    description="Answer under another name and avatar ('off' to stop)",
    user_permissions=P.ManageServer,
    bot_permissions=P.Masquerade,
)
async def persona(ctx: CommandContext, name: str, avatar: str | None = None) -> None:
    off = name.lower() == "off"
    if not off and not 1 <= len(name) <= 32:
        raise CommandError("A persona's name is 1-32 characters.")
    if avatar is not None:
        url = URL(avatar)
        if url.scheme != "https" or not url.host or len(avatar) > 256:
            raise CommandError("The avatar must be an https URL (at most 256 characters).")

    def change(settings: AiChatSettings) -> None:
        settings.persona_name = None if off else name
        settings.persona_avatar = None if off else avatar

    await service(ctx).update(server(ctx), change)
    await ctx.reply("Persona off." if off else f"I answer as {name} now.")


@ai.subcommand(
    "model",
    description="Choose this server's model among those the operator allows",
    user_permissions=P.ManageServer,
)
async def model(ctx: CommandContext, name: str | None = None) -> None:
    svc = service(ctx)
    allowed = svc.config.allowed_models
    if name is None or name not in allowed:
        current = svc.model_for(await svc.settings(server(ctx)))
        unknown = f"`{ctx.neutralise(name)[:60]}` is not allowed. " if name else ""
        raise CommandError(f"{unknown}Model: {current}. Allowed: {', '.join(allowed)}.")

    def change(settings: AiChatSettings) -> None:
        settings.model = name

    await svc.update(server(ctx), change)
    await ctx.reply(f"This server uses {name} now.")


@ai.subcommand(
    "limits",
    description="Requests per member per minute and tokens per day for the server",
    user_permissions=P.ManageServer,
)
async def limits(ctx: CommandContext, per_minute: int, tokens_per_day: int) -> None:
    if not 1 <= per_minute <= 120:
        raise CommandError("Requests per member per minute: 1-120.")
    ceiling = service(ctx).config.tokens_per_day
    if not 1 <= tokens_per_day <= ceiling:
        raise CommandError(f"Tokens per day: 1-{ceiling:,} (the operator's ceiling).")

    def change(settings: AiChatSettings) -> None:
        settings.requests_per_minute = per_minute
        settings.tokens_per_day = tokens_per_day

    await service(ctx).update(server(ctx), change)
    await ctx.reply(f"Limits: {per_minute} requests per member per minute, {tokens_per_day:,} tokens a day.")


@ai.subcommand(
    "cost",
    description="Coins each answer costs a member, through economy ('off': free)",
    user_permissions=P.ManageServer,
    usage="[coins|off]",
)
async def cost(ctx: CommandContext, coins: str | None = None) -> None:
    svc = service(ctx)
    if coins is None:
        await ctx.reply(await svc.price(server(ctx), await svc.settings(server(ctx))))
        return
    word = coins.strip().lower()
    if word in ("off", "free", "0"):
        value = None
    elif word.isascii() and word.isdigit() and 1 <= int(word) <= MAX_COST:
        value = int(word)
    else:
        raise CommandError(f"`coins`: a whole number from 1 to {MAX_COST:,}, or `off`.")

    def change(settings: AiChatSettings) -> None:
        settings.cost_per_answer = value

    settings = await svc.update(server(ctx), change)
    await ctx.reply(await svc.price(server(ctx), settings))


async def _member_or_channel(ctx: CommandContext, word: str) -> tuple[str, str]:
    for kind in (Member, Channel):
        try:
            found = await convert(ctx, kind, word)
        except (ValueError, TypeError, LookupError):
            continue
        if isinstance(found, Member):
            return "member", found.user_id
        return "channel", found.id
    raise CommandError("Name a member (@mention) or a channel (#channel).")


@ai.subcommand(
    "block",
    description="Block a member or channel from AI chat (again to unblock)",
    user_permissions=P.ManageServer,
)
async def block(ctx: CommandContext, target: str) -> None:
    kind, target_id = await _member_or_channel(ctx, target)
    blocked = False

    def change(settings: AiChatSettings) -> None:
        nonlocal blocked
        listed = settings.blocked_members if kind == "member" else settings.blocked_channels
        if target_id in listed:
            listed.remove(target_id)
        else:
            listed.append(target_id)
            blocked = True

    await service(ctx).update(server(ctx), change)
    name = ctx.display_name(target_id) if kind == "member" else f"#{ctx.cache.channels[target_id].name}"
    await ctx.reply(f"{name} is {'blocked from' if blocked else 'allowed in'} AI chat.")


@ai.subcommand(
    "usage", description="Tokens used today, per member and for the server", user_permissions=P.ManageServer
)
async def usage(ctx: CommandContext) -> None:
    svc = service(ctx)
    rows = await svc.usage_today(server(ctx))
    settings = await svc.settings(server(ctx))
    _, per_day = svc.limits(settings)
    total = sum(row.tokens for row in rows)
    price = await svc.price(server(ctx), settings)
    lines = [f"AI usage today (UTC): {total:,} of {per_day:,} tokens. {price}"]
    for row in rows[:20]:
        lines.append(f"• {ctx.display_name(row.member_id)}: {row.tokens:,} tokens, {row.requests} request(s)")
    await ctx.reply("\n".join(lines))


ALL_COMMANDS = [ai]
