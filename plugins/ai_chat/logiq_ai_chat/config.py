"""``[plugins.ai_chat.config]``: the model provider, limits and pacing, checked at load."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from logiq_ai_chat.provider import ProviderConfig
from logiq_core.plugin import PluginConfig

DEFAULT_PROMPT = (
    "You are Logiq, a helpful assistant in the Stoat server {server}. You are talking with "
    "{member}. Today is {date}, the time is {time} UTC. Answer concisely."
)


class AiConfig(PluginConfig):
    """The operator's provider and the ceilings servers' managers work within (``!ai limits``)."""

    base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 (absent: not set up)",
    )
    model: str = Field(
        default="fake-model", min_length=1, description="The model answers come from by default"
    )
    models: tuple[str, ...] = Field(
        default=(), description="Other models server managers may pick with !ai model"
    )
    api_key_env: str | None = Field(
        default=None, min_length=1, description="The NAME of the environment variable holding the API key"
    )
    timeout_seconds: PositiveFloat = Field(
        default=60.0, description="Silence from the provider before giving up"
    )
    max_answer_seconds: PositiveFloat = Field(default=180.0, description="The longest one answer may take")
    max_tokens: PositiveInt | None = Field(
        default=None, description="Most tokens in one answer (absent: no limit)"
    )
    max_chain_messages: PositiveInt = Field(default=25, description="Messages of the reply chain sent")
    max_chain_chars: PositiveInt = Field(default=100_000, description="Characters of the reply chain sent")
    max_input_chars: PositiveInt = Field(default=4000, description="The longest question a member may ask")
    requests_per_minute: PositiveInt = Field(default=5, description="Questions per member per minute")
    tokens_per_day: PositiveInt = Field(
        default=200_000, description="Tokens per server per day (!ai limits' ceiling)"
    )
    edit_interval_seconds: float = Field(
        default=1.0,
        ge=0.7,  # channels bucket: 15 requests / 10 s per channel, shared with fetches (PROTOCOL.md §6)
        description="Seconds between two edits of a streamed answer (Stoat's edit rate limit: 0.7 or more)",
    )
    system_prompt: str = Field(default=DEFAULT_PROMPT, description="The prompt a server starts with")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, like http://127.0.0.1:11434/v1")
        return value

    @property
    def allowed_models(self) -> tuple[str, ...]:
        return (self.model, *[m for m in self.models if m != self.model])

    def provider(self) -> ProviderConfig | None:
        if not self.base_url:
            return None
        return ProviderConfig(
            self.base_url, self.api_key_env, self.timeout_seconds, self.max_answer_seconds, self.max_tokens
        )
