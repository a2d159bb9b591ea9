"""``[plugins.tickets.config]``, checked at load."""

from __future__ import annotations

from pydantic import Field

from logiq_core.plugin import PluginConfig


class TicketsConfig(PluginConfig):
    """What the operator decides for every server."""

    min_autoclose_seconds: float = Field(
        default=600.0,
        ge=1,
        description="The shortest auto-close a server manager may set with !tickets autoclose",
    )
