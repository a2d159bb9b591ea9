"""``plugins.toml``: the operator's policy of which installed plugins run, and their configuration.

Format::

    [logiq]
    enable_unlisted = true    # installed plugins not listed below run too (pip install = on)

    [plugins.moderation]
    enabled = true
    required = true           # refuse to start without it
    [plugins.moderation.config]
    warning_decay_days = 30

    [http]                    # outbound HTTP (ctx.http): what member-typed URLs may reach anyway
    allow = ["127.0.0.0/8", "::1", "feeds.example.org"]

The order of the ``[plugins.*]`` tables is the order features are listed everywhere.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logiq_core.framework.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class PluginPolicy:
    """What plugins.toml says about one plugin."""

    name: str
    enabled: bool = True
    required: bool = False
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole plugins.toml (an absent file means: every installed plugin, no configuration)."""

    plugins: dict[str, PluginPolicy] = field(default_factory=dict)
    enable_unlisted: bool = True
    source: Path | None = None
    http_allow: tuple[str, ...] = ()  # [http] allow: networks and hosts ctx.http may reach

    def for_plugin(self, name: str) -> PluginPolicy:
        listed = self.plugins.get(name)
        if listed is not None:
            return listed
        return PluginPolicy(name, enabled=self.enable_unlisted)

    def order(self) -> list[str]:
        return list(self.plugins)


def load_policy(path: Path) -> Policy:
    """Read plugins.toml, or return the permissive default when the file does not exist."""
    if not path.exists():
        return Policy(source=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read plugin policy: {exc}") from None
    settings = data.get("logiq", {})
    enable_unlisted = settings.get("enable_unlisted", True)
    if not isinstance(enable_unlisted, bool):
        raise ConfigurationError(f"{path}: [logiq] enable_unlisted must be true or false")
    tables = data.get("plugins", {})
    if not isinstance(tables, dict):
        raise ConfigurationError(f"{path}: [plugins] must be a table of [plugins.<name>] tables")
    plugins: dict[str, PluginPolicy] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: [plugins.{name}] must be a table")
        unknown = set(table) - {"enabled", "required", "config"}
        if unknown:
            raise ConfigurationError(
                f"{path}: [plugins.{name}] has unknown key(s) {', '.join(sorted(unknown))}; "
                "expected enabled, required, config"
            )
        enabled, required = table.get("enabled", True), table.get("required", False)
        config = table.get("config", {})
        if not isinstance(enabled, bool) or not isinstance(required, bool):
            raise ConfigurationError(f"{path}: [plugins.{name}] enabled/required must be booleans")
        if not isinstance(config, dict):
            raise ConfigurationError(f"{path}: [plugins.{name}.config] must be a table")
        plugins[name] = PluginPolicy(name, enabled, required, config)
    http_allow = _http_allow(path, data.get("http", {}))
    return Policy(plugins=plugins, enable_unlisted=enable_unlisted, source=path, http_allow=http_allow)


def _http_allow(path: Path, table: object) -> tuple[str, ...]:
    """``[http] allow``: networks and host names outbound HTTP may reach though private."""
    from logiq_core.framework.outbound import Allowances

    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [http] must be a table")
    unknown = set(table) - {"allow"}
    if unknown:
        keys = ", ".join(sorted(unknown))
        raise ConfigurationError(f"{path}: [http] has unknown key(s) {keys}; expected allow")
    allow = table.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(entry, str) for entry in allow):
        raise ConfigurationError(f'{path}: [http] allow must be a list of strings, like ["127.0.0.0/8"]')
    try:
        Allowances.parse(allow)
    except ValueError as exc:
        raise ConfigurationError(f"{path}: [http] allow: {exc}") from None
    return tuple(allow)
