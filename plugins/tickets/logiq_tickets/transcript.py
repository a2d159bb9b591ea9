"""A ticket's transcript: every message with its author, time, edits and attachments' names,
hash-chained (each message's hash covers the previous one) and rendered as one plain,
self-contained HTML file, or as text for the log channel when uploads are unavailable.

The chain: ``h0 = sha256("logiq-tickets:" + ticket id)``, then for each message in order
``h = sha256(previous h + canonical JSON of the message)``. The summary publishes the last hash;
anyone holding the HTML recomputes it from the ``data-canonical`` attributes (see
:func:`verify_html`), so an altered, added or removed message shows.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any


@dataclass
class Entry:
    """One message of the transcript."""

    message_id: str
    author_id: str
    author_name: str
    at: float  # Unix seconds
    content: str
    edits: list[str] = field(default_factory=list)  # earlier versions, oldest first
    edited_at: float | None = None
    attachments: list[str] = field(default_factory=list)  # file names

    def canonical(self) -> str:
        return json.dumps(
            {
                "id": self.message_id,
                "author": self.author_id,
                "name": self.author_name,
                "at": round(self.at, 3),
                "content": self.content,
                "edits": self.edits,
                "edited_at": None if self.edited_at is None else round(self.edited_at, 3),
                "attachments": self.attachments,
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )


def genesis(ticket_id: str) -> str:
    return hashlib.sha256(f"logiq-tickets:{ticket_id}".encode()).hexdigest()


def chain(ticket_id: str, canonicals: list[str]) -> list[str]:
    """Each message's hash; the last is the transcript's."""
    hashes: list[str] = []
    previous = genesis(ticket_id)
    for text in canonicals:
        previous = hashlib.sha256((previous + text).encode()).hexdigest()
        hashes.append(previous)
    return hashes


def final_hash(ticket_id: str, entries: list[Entry]) -> str:
    hashes = chain(ticket_id, [entry.canonical() for entry in entries])
    return hashes[-1] if hashes else genesis(ticket_id)


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Summary:
    ticket_id: str
    number: int
    server_name: str
    opener: str
    claimer: str
    closer: str
    reason: str
    opened_at: float
    closed_at: float
    topic: str = ""
    members: list[str] = field(default_factory=list)

    def lines(self, digest: str, count: int) -> list[str]:
        return [
            f"Ticket #{self.number} ({self.ticket_id}) on {self.server_name}",
            f"Topic: {self.topic or '-'}",
            f"Opened by {self.opener} at {when(self.opened_at)}",
            f"Members: {', '.join(self.members) or '-'}",
            f"Claimed by: {self.claimer}",
            f"Closed by {self.closer} at {when(self.closed_at)}",
            f"Reason: {self.reason or '-'}",
            f"Messages: {count}",
            f"SHA-256 chain: {digest}",
        ]


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:50em;margin:2em auto;padding:0 1em;color:#222}"
    "header{border-bottom:1px solid #ccc;margin-bottom:1em}"
    ".msg{border-bottom:1px solid #eee;padding:.5em 0}.who{font-weight:bold}"
    ".time,.hash{color:#777;font-size:.85em}.content{white-space:pre-wrap;margin:.3em 0}"
    ".edits{color:#555;font-size:.9em}.files{font-size:.9em}code{word-break:break-all}"
)


def render_html(summary: Summary, entries: list[Entry]) -> tuple[str, str]:
    """The transcript as a self-contained HTML page, and its final hash."""
    canonicals = [entry.canonical() for entry in entries]
    hashes = chain(summary.ticket_id, canonicals)
    digest = hashes[-1] if hashes else genesis(summary.ticket_id)
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Ticket #{summary.number} transcript</title>",
        f"<style>{STYLE}</style></head><body>",
        f'<header data-ticket="{e(summary.ticket_id)}" data-hash="{digest}">',
        f"<h1>Ticket #{summary.number}</h1><ul>",
    ]
    out.extend(f"<li>{e(line)}</li>" for line in summary.lines(digest, len(entries)))
    out.append("</ul></header><main>")
    for entry, canonical, digest_i in zip(entries, canonicals, hashes, strict=True):
        out.append(
            f'<article class="msg" id="m-{e(entry.message_id)}" data-canonical="{e(canonical)}" '
            f'data-hash="{digest_i}">'
        )
        out.append(
            f'<div><span class="who">{e(entry.author_name or entry.author_id)}</span> '
            f'<span class="time">{when(entry.at)}</span></div>'
        )
        out.append(f'<div class="content">{e(entry.content)}</div>')
        if entry.edits:
            shown = "".join(f"<li>{e(text)}</li>" for text in entry.edits)
            edited = f" (last edit {when(entry.edited_at)})" if entry.edited_at else ""
            out.append(f'<div class="edits">Earlier versions{edited}:<ol>{shown}</ol></div>')
        elif entry.edited_at:
            out.append(f'<div class="edits">Edited at {when(entry.edited_at)}</div>')
        if entry.attachments:
            names = ", ".join(e(name) for name in entry.attachments)
            out.append(f'<div class="files">Attachments: {names}</div>')
        out.append(f'<div class="hash">hash <code>{digest_i}</code></div></article>')
    out.append("</main></body></html>")
    return "\n".join(out), digest


def render_text(summary: Summary, entries: list[Entry]) -> tuple[list[str], str]:
    """The summary and transcript as text lines (the fallback when uploads fail)."""
    digest = final_hash(summary.ticket_id, entries)
    lines = []
    for entry in entries:
        line = f"[{when(entry.at)}] {entry.author_name or entry.author_id}: {entry.content}"
        if entry.edits:
            line += f" (edited; earlier: {' | '.join(entry.edits)})"
        if entry.attachments:
            line += f" [attachments: {', '.join(entry.attachments)}]"
        lines.append(line)
    return lines, digest


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ticket_id = ""
        self.published = ""
        self.messages: list[tuple[str, str]] = []  # (canonical, hash)
        self.shown: list[str] = []  # each message's visible content
        self._in_content = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "header" and "data-ticket" in found:
            self.ticket_id = found["data-ticket"] or ""
            self.published = found.get("data-hash") or ""
        elif tag == "article" and "data-canonical" in found:
            self.messages.append((found["data-canonical"] or "", found.get("data-hash") or ""))
            self.shown.append("")
        elif tag == "div" and found.get("class") == "content" and self.shown:
            self._in_content = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._in_content = False

    def handle_data(self, data: str) -> None:
        if self._in_content:
            self.shown[-1] += data


def read_html(document: str) -> dict[str, Any]:
    """The ticket id, published hash and messages (parsed canonical JSON with their hashes)."""
    reader = _Reader()
    reader.feed(document)
    return {
        "ticket_id": reader.ticket_id,
        "hash": reader.published,
        "messages": [(json.loads(canonical), canonical, digest) for canonical, digest in reader.messages],
        "shown": reader.shown,
    }


def verify_html(document: str, expected_hash: str | None = None) -> bool:
    """Whether the transcript's chain holds, the visible text is the hashed text, and the chain
    ends in ``expected_hash`` when given."""
    parsed = read_html(document)
    canonicals = [canonical for _, canonical, _ in parsed["messages"]]
    hashes = chain(parsed["ticket_id"], canonicals)
    if [digest for _, _, digest in parsed["messages"]] != hashes:
        return False
    if [message["content"] for message, _, _ in parsed["messages"]] != parsed["shown"]:
        return False  # the visible text was changed, not the hashed one
    last = hashes[-1] if hashes else genesis(parsed["ticket_id"])
    return last == parsed["hash"] and (expected_hash is None or last == expected_hash)
