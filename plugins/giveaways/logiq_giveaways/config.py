"""``[plugins.giveaways.config]``: giveaways take no operator settings (servers set theirs by chat)."""

from __future__ import annotations

from logiq_core.plugin import PluginConfig


class GiveawaysConfig(PluginConfig):
    """No keys: a ``[plugins.giveaways.config]`` table with any key fails the plugin, naming it."""
