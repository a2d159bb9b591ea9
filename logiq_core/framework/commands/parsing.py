"""Splitting a command line into words, and reading durations."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_DURATION = timedelta(days=3650)
DURATION_FORMS = "a number and a unit: w, d, h, m or s (like 30s, 10m, 1h30m, 2d, 1w)"
# A word a member most likely meant as a duration: digits followed by a time unit. Such a word
# that is not a valid duration is an error, never silently the first word of a reason.
_DURATION_LIKE = re.compile(
    r"^[+-]?\d[\d.,]*\s*(?:s|secs?|seconds?|m|mins?|minutes?|mo|mos|months?|h|hrs?|hours?|d|days?|"
    r"w|wks?|weeks?|y|yrs?|years?)(?:\d[\d.,]*\s*[a-z]+)*$",
    re.IGNORECASE,
)
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


def looks_like_duration(word: str) -> bool:
    """Whether ``word`` reads as an attempt at a duration (``99999y``, ``1mo``, ``0s``...)."""
    return bool(_DURATION_LIKE.match(word.strip()))


def duration_problem(word: str, maximum: timedelta) -> str | None:
    """What is wrong with a duration-like ``word`` (None when it is valid and within ``maximum``)."""
    cleaned = word.strip().lower().replace(" ", "")
    position, seconds = 0, 0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != position:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2).lower()]
        position = match.end()
    limit = f"at most {format_duration(maximum)}"
    if position != len(cleaned) or not cleaned:
        return f"`{word[:20]}` is not a duration I understand: use {DURATION_FORMS}, {limit}"
    if seconds <= 0:
        return f"`{word[:20]}` is not a duration: it must be longer than 0s ({limit})"
    if seconds > maximum.total_seconds():
        return f"`{word[:20]}` is too long: {limit}"
    return None


def format_duration(value: timedelta) -> str:
    """A short human form: ``1h 30m``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"
