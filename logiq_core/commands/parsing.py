"""Splitting a command line into words, and reading durations."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_DURATION = timedelta(days=3650)
_QUOTES = {'"': '"', "'": "'", "“": "”"}


def tokenize(text: str) -> list[tuple[str, int]]:
    """Words with the offset where each starts; "double" or 'single' quotes group words.

    An unbalanced quote simply runs to the end of the text (no error).
    """
    tokens: list[tuple[str, int]] = []
    index, length = 0, len(text)
    while index < length:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            break
        start = index
        if text[index] in _QUOTES:
            closing = _QUOTES[text[index]]
            end = text.find(closing, index + 1)
            if end == -1:
                tokens.append((text[index + 1 :], start))
                break
            tokens.append((text[index + 1 : end], start))
            index = end + 1
            continue
        while index < length and not text[index].isspace():
            index += 1
        tokens.append((text[start:index], start))
    return tokens


def parse_duration(text: str) -> timedelta | None:
    """``10m``, ``1h30m``, ``2d``, ``1w 2d``, ``90s``; a unit is required (``3`` is not a
    duration, so ``!ban @x 3 strikes`` does not ban for three minutes)."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        return None
    position, seconds = 0, 0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != position:
            return None
        seconds += int(match.group(1)) * _UNITS[match.group(2).lower()]
        position = match.end()
    if position != len(cleaned):
        return None
    duration = timedelta(seconds=seconds)
    if duration <= timedelta(0) or duration > MAX_DURATION:
        return None
    return duration


def format_duration(value: timedelta) -> str:
    """A short human form: ``1h 30m``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"
