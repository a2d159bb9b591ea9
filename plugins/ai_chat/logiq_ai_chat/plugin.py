"""The AI chat plugin's hooks: thin wiring from the core's hooks to the service."""

from __future__ import annotations

from collections.abc import Callable

from beanie import Document
from yarl import URL

from logiq_ai_chat.commands import ALL_COMMANDS
from logiq_ai_chat.config import AiConfig
from logiq_ai_chat.models import DOCUMENTS
from logiq_ai_chat.service import AiChatService, Trigger
from logiq_core.plugin import (
    FeatureInfo,
    Job,
    Listener,
    MessageEvent,
    PageRequest,
    Phase,
    PluginContext,
    Register,
    WebSettings,
    hookimpl,
)


async def _is_command(ctx: PluginContext, server_id: str, content: str) -> bool:
    """Whether the command router takes this message (then it is not a question for the model):
    anything after the prefix, or a known command after the bot's mention."""
    return content.startswith(await ctx.command_prefix(server_id)) or await ctx.is_command(server_id, content)


async def on_message(ctx: PluginContext, event: MessageEvent) -> None:
    """Answer a mention, a reply to one of the bot's AI answers, or a message in an AI channel."""
    server_id = event.server_id_hint
    content = event.content or ""
    if server_id is None or not content.strip() or event.system is not None or event.webhook:
        return
    if event.author == ctx.bot_user_id:
        return
    author = ctx.cache.users.get(event.author)
    if author is not None and author.is_bot:
        return
    if await _is_command(ctx, server_id, content):
        return
    svc = ctx.get(AiChatService)
    mentioned = f"<@{ctx.bot_user_id}>" in content or ctx.bot_user_id in (event.mentions or [])
    if not mentioned:
        replied = bool(event.replies) and await svc.is_ai_answer(event.replies[0])  # type: ignore[index]
        if not replied and event.channel not in (await svc.settings(server_id)).ai_channels:
            return
    await svc.answer(Trigger(server_id, event.channel, event, svc.clean_input(server_id, content)))


async def prune(ctx: PluginContext, server_id: str | None) -> None:
    await ctx.get(AiChatService).prune()


class AiChatPlugin:
    """Conversations with a language model, streamed, within rate limits and budgets."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "ai_chat",
            "Talk with a language model: mention the bot or reply to it; per-server prompts and budgets",
            Phase.INTERNAL,
            10.0,
            config=AiConfig,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_listeners(self, register: Callable[[Listener], None], config: AiConfig) -> None:
        register(Listener(MessageEvent, on_message, timeout=config.max_answer_seconds + 30))

    @hookimpl
    def logiq_register_jobs(self, register: Callable[[Job], None]) -> None:
        register(Job("prune-usage", 3600, prune, per_server=False))

    @hookimpl
    def logiq_register_web_pages(self, register: Register) -> None:
        async def settings(request: PageRequest) -> list[tuple[str, str]]:
            found = await request.context.get(AiChatService).settings(request.server_id)
            return request.describe(found, skip=())

        register(WebSettings(settings))

    @hookimpl
    def logiq_startup(self, context: PluginContext) -> None:
        config = AiConfig.of(context)
        context.provide(AiChatService(context, config))
        if not config.base_url:
            context.logger.warning(
                "AI chat has no model provider: members are told it is not set up. Set base_url "
                "(an OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 for Ollama), model and, "
                "if the provider needs a key, api_key_env (the name of the environment variable "
                "holding it) under [plugins.ai_chat.config] in plugins.toml"
            )
        else:
            key_note = f"key from ${config.api_key_env}" if config.api_key_env else "no API key"
            shown = URL(config.base_url).with_user(None).with_query(None)
            context.logger.info("AI chat uses {} at {} ({})", config.model, shown, key_note)
