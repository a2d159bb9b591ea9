"""``[plugins.social_alerts.config]``: polling pace, limits and the Twitch application, checked at load."""

from __future__ import annotations

import os
from typing import Any, Self

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from logiq_core.plugin import PluginConfig
from logiq_social_alerts.twitch import DEFAULT_API_URL, DEFAULT_AUTH_URL, TwitchCredentials

DAY = 86400.0


class AlertSettings(PluginConfig):
    """How often feeds are fetched and how much is kept; Twitch's application, if any."""

    default_interval_seconds: PositiveFloat = Field(
        default=900.0, description="How often a new alert's feed is fetched"
    )
    min_interval_seconds: PositiveFloat = Field(
        default=300.0, description="The shortest interval a manager may ask for (--every)"
    )
    max_items_per_poll: PositiveInt = Field(
        default=5, description="New items posted per poll; the rest in one line"
    )
    max_bytes: PositiveInt = Field(
        default=2 * 1024 * 1024, description="A feed response over this is cut off"
    )
    seen_limit: PositiveInt = Field(
        default=500, description="Item ids remembered per feed (not to post twice)"
    )
    max_backoff_seconds: PositiveFloat = Field(
        default=DAY, description="The longest wait after a failing fetch"
    )
    pause_after_failing_seconds: PositiveFloat = Field(
        default=DAY, description="A feed failing this long is paused (resumed with !alerts resume)"
    )
    concurrency: PositiveInt = Field(default=32, description="Feeds fetched at once")
    max_alerts_per_server: PositiveInt = Field(default=50, description="Alerts one server may have")
    twitch_client_id: str | None = Field(
        default=None, min_length=1, description="The Twitch application's client id"
    )
    twitch_client_secret_env: str | None = Field(
        default=None,
        min_length=1,
        description="The NAME of the environment variable holding the Twitch secret",
    )
    twitch_auth_url: str = Field(
        default=DEFAULT_AUTH_URL, description="Twitch's token endpoint (tests change it)"
    )
    twitch_api_url: str = Field(default=DEFAULT_API_URL, description="Twitch's Helix API (tests change it)")

    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "twitch_client_secret" in data:
            raise ValueError(
                "the Twitch client secret does not belong in plugins.toml; put it in an environment "
                "variable and name that variable in twitch_client_secret_env"
            )
        return data

    @field_validator("twitch_auth_url", "twitch_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _intervals(self) -> Self:
        if self.min_interval_seconds > self.default_interval_seconds:
            raise ValueError(
                f"min_interval_seconds ({self.min_interval_seconds:g}) must not be above "
                f"default_interval_seconds ({self.default_interval_seconds:g})"
            )
        return self

    @property
    def twitch_credentials(self) -> TwitchCredentials | None:
        """Where the Twitch application's credentials are (None: Twitch is not configured)."""
        if not (self.twitch_client_id and self.twitch_client_secret_env):
            return None
        return TwitchCredentials(
            self.twitch_client_id, self.twitch_client_secret_env, self.twitch_auth_url, self.twitch_api_url
        )

    @property
    def twitch_configured(self) -> bool:
        """Configured, and the secret's environment variable is set (read now, never kept)."""
        credentials = self.twitch_credentials
        return credentials is not None and bool(os.environ.get(credentials.secret_env, "").strip())

    @property
    def tick_seconds(self) -> float:
        """How often the polling timer looks for due feeds."""
        return min(60.0, self.min_interval_seconds)
