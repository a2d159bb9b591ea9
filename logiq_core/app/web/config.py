"""``[web]`` in plugins.toml: whether the dashboard is served, where, and who operates it.

::

    [web]
    listen = "127.0.0.1:8080"         # host:port to serve on (this is the default)
    public_url = "https://logiq.example.org"   # the address in links the bot sends
    operator_token_env = "LOGIQ_OPERATOR_TOKEN" # the variable holding the /ops/ token

The dashboard is off unless plugins.toml has a ``[web]`` table (``enabled = false`` in it
turns it off again). Without ``public_url`` links point at ``http://<listen>``. Without an
operator token, ``/ops/`` refuses everyone.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logiq_core.framework.errors import ConfigurationError

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_SESSION_HOURS = 12.0
DEFAULT_LINK_MINUTES = 10.0
LIMITS = {"session_hours": 24.0 * 90, "link_minutes": 24.0 * 60}  # finite: a session ends, a link too
KEYS = {"enabled", "listen", "public_url", "operator_token_env", "session_hours", "link_minutes"}


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The ``[web]`` table; ``enabled`` is False when plugins.toml has none."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    operator_token_env: str | None = None
    session_hours: float = DEFAULT_SESSION_HOURS
    link_minutes: float = DEFAULT_LINK_MINUTES

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"

    def base_url(self, bound_port: int | None = None) -> str:
        """Where links point: ``public_url``, else the address served on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{bound_port or self.port}"

    def operator_token(self) -> str | None:
        """The operator's token, read from its environment variable (never stored here)."""
        if not self.operator_token_env:
            return None
        value = os.environ.get(self.operator_token_env, "").strip()
        return value or None


def parse_listen(text: str, where: str) -> tuple[str, int]:
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigurationError(f'{where}: listen must be "host:port", like "{DEFAULT_LISTEN}"')
    return host, int(port_text)


def parse_web_config(data: dict[str, Any], path: Path | None) -> WebConfig:
    where = f"{path or 'plugins.toml'}: [web]"
    if "web" not in data:
        return WebConfig()
    table = data["web"]
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table")
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigurationError(
            f"{where} has unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(KEYS))}"
        )
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigurationError(f"{where} enabled must be true or false")
    listen = table.get("listen", DEFAULT_LISTEN)
    if not isinstance(listen, str):
        raise ConfigurationError(f'{where}: listen must be "host:port", like "{DEFAULT_LISTEN}"')
    host, port = parse_listen(listen, where)
    public_url = table.get("public_url") or None
    if public_url is not None and (
        not isinstance(public_url, str) or not public_url.startswith(("http://", "https://"))
    ):
        raise ConfigurationError(f"{where} public_url must start with http:// or https://")
    token_env = table.get("operator_token_env") or None
    if token_env is not None and (not isinstance(token_env, str) or not token_env.replace("_", "").isalnum()):
        raise ConfigurationError(f"{where} operator_token_env must name an environment variable")
    numbers = {}
    for key, default in (("session_hours", DEFAULT_SESSION_HOURS), ("link_minutes", DEFAULT_LINK_MINUTES)):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= LIMITS[key]:
            raise ConfigurationError(f"{where} {key} must be a number above 0 and at most {LIMITS[key]:g}")
        numbers[key] = float(value)
    return WebConfig(enabled, host, port, public_url, token_env, **numbers)


def load_web_config(path: Path | None) -> WebConfig:
    """Read ``[web]`` from plugins.toml (no file or no table: the dashboard is off)."""
    if path is None or not path.exists():
        return WebConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the web configuration: {exc}") from None
    return parse_web_config(data, path)
