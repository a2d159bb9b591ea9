"""Settings read from the environment (and a ``.env`` file when present).

Every variable is prefixed ``LOGIQ_``. A bad value raises :class:`ConfigurationError` naming the
variable and what was expected, never a pydantic traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from logiq_core.framework.errors import ConfigurationError

OFFICIAL_API_URL = "https://api.stoat.chat"

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Logiq's environment. Build with :func:`load_settings` to get operator-friendly errors."""

    model_config = SettingsConfigDict(
        env_prefix="LOGIQ_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    token: SecretStr | None = Field(
        default=None, description="The Stoat bot token. Without it, `logiq run` starts the sandbox."
    )
    api_url: str = Field(default=OFFICIAL_API_URL, description="Base URL of the Stoat REST API.")
    ws_url: str | None = Field(
        default=None, description="Events WebSocket URL; default: the `ws` field of GET {api_url}/."
    )
    mongodb_uri: str | None = Field(
        default=None, description="MongoDB URI; unset means the embedded nx-27017 server."
    )
    data_dir: Path = Field(default=Path(".logiq"), description="Where embedded data lives.")
    log_level: LogLevel = Field(default="INFO", description="Least severe level logged.")
    plugins_file: Path = Field(default=Path("plugins.toml"), description="The plugin policy.")
    heartbeat_seconds: float = Field(default=30.0, gt=0, description="Ping interval.")
    pong_timeout_seconds: float = Field(default=10.0, gt=0, description="Max wait for a Pong.")
    rest_backoff_seconds: float = Field(
        default=0.2, gt=0, description="First wait before a failed REST call is retried; doubles per retry."
    )

    @field_validator("api_url", "ws_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError("a ws:// or wss:// URL")
        return value

    def token_value(self) -> str | None:
        """The raw token, for the two places that must send it (REST header, WS auth)."""
        return self.token.get_secret_value() if self.token else None


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            expected = error["msg"].removeprefix("Value error, ")
            problems.append(f"LOGIQ_{field.upper()}: expected {expected}")
        raise ConfigurationError("invalid setting: " + "; ".join(problems)) from None
