"""The transcript's HTML and hash chain, on their own."""

from __future__ import annotations

import hashlib

from logiq_tickets.transcript import Entry, Summary, chain, genesis, read_html, render_html, verify_html


def sample() -> tuple[Summary, list[Entry]]:
    summary = Summary("t1", 7, "Garden", "alice", "mo", "mo", "done <b>", 1_700_000_000.0, 1_700_000_600.0)
    entries = [
        Entry("m1", "u1", "alice", 1_700_000_001.0, "Hi <script>alert(1)</script>", attachments=["a.png"]),
        Entry(
            "m2", "u2", "mo", 1_700_000_002.0, "Hello & welcome", edits=["Helo"], edited_at=1_700_000_003.0
        ),
    ]
    return summary, entries


def test_each_hash_covers_the_previous_one_and_the_summary_publishes_the_last() -> None:
    summary, entries = sample()
    document, digest = render_html(summary, entries)
    first = hashlib.sha256((genesis("t1") + entries[0].canonical()).encode()).hexdigest()
    second = hashlib.sha256((first + entries[1].canonical()).encode()).hexdigest()
    assert chain("t1", [e.canonical() for e in entries]) == [first, second] and digest == second
    assert verify_html(document, second)
    parsed = read_html(document)
    assert parsed["hash"] == second and [m["id"] for m, _, _ in parsed["messages"]] == ["m1", "m2"]
    assert parsed["messages"][1][0]["edits"] == ["Helo"]
    assert parsed["messages"][0][0]["attachments"] == ["a.png"]


def test_the_page_is_self_contained_and_shows_text_not_markup() -> None:
    summary, entries = sample()
    document, _ = render_html(summary, entries)
    assert "<script>" not in document and "&lt;script&gt;" in document
    assert "done &lt;b&gt;" in document
    assert "http" not in document.split("</head>")[0]  # no external style or script


def test_altering_removing_or_reordering_a_message_breaks_the_chain() -> None:
    summary, entries = sample()
    document, digest = render_html(summary, entries)
    assert document.count("Hello &amp; welcome") == 2  # the hashed copy, then the visible text
    assert not verify_html(document.replace("Hello &amp; welcome", "Bye", 1), digest)
    assert not verify_html("Bye".join(document.rsplit("Hello &amp; welcome", 1)), digest)
    altered, _ = render_html(summary, [entries[0]])  # re-rendered without a message
    assert verify_html(altered) and not verify_html(altered, digest)
    swapped, _ = render_html(summary, [entries[1], entries[0]])
    assert not verify_html(swapped, digest)
