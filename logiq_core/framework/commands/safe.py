"""Safe output: echoed text never pings anyone, and long replies are split into pages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

ZERO_WIDTH_SPACE = "\u200b"
USER_MENTION = re.compile(r"<@([0-9A-HJKMNP-TV-Z]{26})>")
_ROLE_MENTION = re.compile(r"<%([0-9A-HJKMNP-TV-Z]{26})>")
_MASS_MENTION = re.compile(r"@(everyone|online)", re.IGNORECASE)
PAGE_BYTES = 1900  # room for the page footer within Stoat's 2000-byte limit
# Characters that change text direction (U+202A-U+202E, U+2066-U+2069, marks) or are invisible
# (zero-width space, non-joiner, word joiner, BOM...): echoed text could otherwise be made to
# read backwards or hide words. A zero-width joiner inside an emoji sequence is kept.
_INVISIBLE = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u200c\u2060-\u2064\ufeff\u180e]"
    "|\u200d(?![\U0001f000-\U0001faff\u2600-\u27bf\u2640\u2642\u2695\u2708\u2764])"
)


def strip_invisible(text: str) -> str:
    """``text`` without direction-changing or zero-width characters."""
    return _INVISIBLE.sub("", text)


def is_visible(text: str) -> bool:
    """Whether ``text`` has at least one character a reader can see."""
    return any(
        not (unicodedata.category(c).startswith(("C", "Z")) or c in "\u2800\u3164")
        for c in strip_invisible(text)
    )


def truncate_utf8(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    if len(text.encode()) <= limit:
        return text
    budget = limit - len(ellipsis.encode())
    head, _ = _cut(text, max(budget, 0))
    return head + ellipsis if budget >= 0 else head


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
