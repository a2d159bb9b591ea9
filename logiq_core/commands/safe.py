"""Safe output: echoed text never pings anyone, and long replies are split into pages."""

from __future__ import annotations

import re
from collections.abc import Callable

ZERO_WIDTH_SPACE = "\u200b"
USER_MENTION = re.compile(r"<@([0-9A-HJKMNP-TV-Z]{26})>")
_ROLE_MENTION = re.compile(r"<%([0-9A-HJKMNP-TV-Z]{26})>")
_MASS_MENTION = re.compile(r"@(everyone|online)", re.IGNORECASE)
PAGE_BYTES = 1900  # room for the page footer within Stoat's 2000-byte limit


def neutralise_mentions(
    text: str,
    user_name: Callable[[str], str | None] | None = None,
    role_name: Callable[[str], str | None] | None = None,
) -> str:
    """Make ``text`` unable to mention: ``@everyone``/``@online`` get a zero-width space, and
    ``<@id>``/``<%id>`` become plain ``@name`` text (which Stoat does not parse as a mention).
    """
    if "@" not in text and "<%" not in text:
        return text  # nothing that could mention (most replies): skip the three scans
    text = _MASS_MENTION.sub(lambda m: f"@{ZERO_WIDTH_SPACE}{m.group(1)}", text)
    text = USER_MENTION.sub(
        lambda m: f"@{(user_name(m.group(1)) if user_name else None) or m.group(1)}", text
    )
    text = _ROLE_MENTION.sub(lambda m: f"@{(role_name(m.group(1)) if role_name else None) or 'role'}", text)
    return text


def paginate(text: str, limit: int = PAGE_BYTES) -> list[str]:
    """Split ``text`` into pages of at most ``limit`` UTF-8 bytes, at line breaks when possible."""
    if len(text.encode()) <= limit:
        return [text]
    pages: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:  # a single very long line: cut by characters
            head, line = _cut(line, limit - len(current.encode()))
            current += head
            pages.append(current)
            current = ""
        if len((current + line).encode()) > limit:
            pages.append(current)
            current = ""
        current += line
    if current:
        pages.append(current)
    return [page.rstrip("\n") or "\u200b" for page in pages if page]


def _cut(text: str, budget: int) -> tuple[str, str]:
    size = 0
    for index, char in enumerate(text):
        size += len(char.encode())
        if size > budget:
            return text[:index], text[index:]
    return text, ""
