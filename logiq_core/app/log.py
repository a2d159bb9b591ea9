"""Logging with loguru: one format, the plugin name on every plugin line, secrets redacted.

Redaction happens in the sink, on the fully formatted text, so a token can leak neither through a
message, an ``extra`` field nor a traceback's local variables.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from loguru import logger

LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {extra[component]: <14} | {message}"
REDACTED = "[redacted]"


class RedactingSink:
    """A loguru sink that replaces every known secret before writing."""

    def __init__(self, stream: TextIO, secrets: Iterable[str]) -> None:
        self._stream = stream
        # Very short strings would redact ordinary words; tokens are 64 chars.
        self._secrets = [s for s in secrets if s and len(s) >= 8]

    def add_secret(self, secret: str) -> None:
        if secret and len(secret) >= 8 and secret not in self._secrets:
            self._secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def write(self, message: str) -> None:
        self._stream.write(self.redact(message))
        self._stream.flush()


def configure_logging(
    level: str = "INFO", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> RedactingSink:
    """Replace loguru's handlers with Logiq's single redacting handler and return its sink."""
    sink = RedactingSink(stream or sys.stderr, secrets)
    logger.remove()
    logger.configure(extra={"component": "core"})
    logger.add(sink.write, level=level, format=LOG_FORMAT, backtrace=False, diagnose=False)
    return sink
