"""Settings errors name the variable; the token never reaches a log line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from loguru import logger

from logiq_core.app.log import REDACTED, configure_logging
from logiq_core.app.settings import OFFICIAL_API_URL, load_settings
from logiq_core.framework.errors import ConfigurationError

TOKEN = "tok_" + "A1b2C3d4" * 7 + "xyz"  # 63 chars, token-shaped


def test_defaults_without_environment(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.token is None
    assert settings.api_url == OFFICIAL_API_URL
    assert settings.ws_url is None
    assert settings.data_dir == Path(".logiq")
    assert settings.plugins_file == Path("plugins.toml")


def test_dotenv_file_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text("LOGIQ_LOG_LEVEL=debug\nLOGIQ_API_URL=http://127.0.0.1:9/\n")
    settings = load_settings()
    assert settings.log_level == "DEBUG"
    assert settings.api_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LOGIQ_API_URL", "ftp://x", "LOGIQ_API_URL: expected an http:// or https:// URL"),
        ("LOGIQ_WS_URL", "http://x", "LOGIQ_WS_URL: expected a ws:// or wss:// URL"),
        ("LOGIQ_LOG_LEVEL", "LOUD", "LOGIQ_LOG_LEVEL"),
        ("LOGIQ_HEARTBEAT_SECONDS", "-1", "LOGIQ_HEARTBEAT_SECONDS"),
    ],
)
def test_bad_value_names_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert expected in str(raised.value)


def test_token_is_secret_in_reprs(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGIQ_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.token_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.model_dump())


def test_token_never_reaches_a_log_line_or_traceback() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", secrets=[TOKEN], stream=stream)
    logger.info("connecting with token {}", TOKEN)
    logger.bind(component="gateway", token=TOKEN).warning("extra: {extra}", extra={"t": TOKEN})
    try:
        secret = TOKEN
        raise RuntimeError(f"auth failed for {secret}")
    except RuntimeError:
        logger.exception("request failed")
    output = stream.getvalue()
    assert TOKEN not in output
    assert output.count(REDACTED) >= 3
    assert "RuntimeError" in output  # the traceback itself is kept
