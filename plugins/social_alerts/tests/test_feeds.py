"""Social alerts' pure parts: shortcuts, parsing, dedupe keys, templates and filters."""

from __future__ import annotations

import pytest
from logiq_social_alerts.feeds import (
    FeedError,
    SourceError,
    expand_source,
    parse_feed,
    passes,
    render,
    validate_template,
    words,
)


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        (
            "youtube:UCXuqSBlHAE6Xw-yeJA0Tunw",
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCXuqSBlHAE6Xw-yeJA0Tunw",
        ),
        ("reddit:python", "https://www.reddit.com/r/python/.rss"),
        ("reddit:r/python", "https://www.reddit.com/r/python/.rss"),
        ("mastodon:@Gargron@mastodon.social", "https://mastodon.social/@Gargron.rss"),
        ("bluesky:bsky.app", "https://bsky.app/profile/bsky.app/rss"),
        (
            "bluesky:did:plc:z72i7hdynmk6r22z27h6tvur",
            "https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur/rss",
        ),
        ("github:python/cpython", "https://github.com/python/cpython/releases.atom"),
        ("https://example.org/feed.xml", "https://example.org/feed.xml"),
    ],
)
def test_each_shortcut_expands_to_the_right_url(typed: str, url: str) -> None:
    assert expand_source(typed).url == url


def test_reddit_is_polled_no_faster_than_every_15_minutes() -> None:
    assert expand_source("reddit:python").min_interval == 900


@pytest.mark.parametrize(
    "typed",
    [
        "youtube:nope",
        "reddit:a b",
        "mastodon:nobody",
        "github:only",
        "ftp://example.org/x",
        "twitch:someone",
        "file:///etc/passwd",
    ],
)
def test_bad_sources_are_refused_with_what_to_type(typed: str) -> None:
    with pytest.raises(SourceError):
        expand_source(typed)


def test_twitch_says_what_to_configure() -> None:
    with pytest.raises(SourceError, match="twitch_client_id"):
        expand_source("twitch:someone")


ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><id>b</id><title>second</title><link href="https://x/2"/><updated>2026-01-02T00:00:00Z</updated></entry>
<entry><id>a</id><title>first</title><link href="https://x/1"/><updated>2026-01-01T00:00:00Z</updated></entry>
</feed>"""


def test_atom_and_json_feed_parse_oldest_first() -> None:
    parsed = parse_feed(ATOM)
    assert parsed.title == "T" and [i.title for i in parsed.items] == ["first", "second"]
    json_feed = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
        b'{"id": "2", "title": "new", "url": "https://j/2", "date_published": "2026-01-02T00:00:00Z"},'
        b'{"id": "1", "title": "old", "url": "https://j/1", "date_published": "2026-01-01T00:00:00Z"}]}'
    )
    parsed = parse_feed(json_feed, "application/feed+json")
    assert parsed.title == "J" and [i.title for i in parsed.items] == ["old", "new"]


def test_dedupe_keys_prefer_guid_then_link_then_title_and_date() -> None:
    rss = (
        b'<rss version="2.0"><channel><title>R</title>'
        b"<item><title>A</title><link>https://r/1</link></item>"
        b"<item><title>A edited</title><link>https://r/1</link></item>"
        b"<item><title>B</title><pubDate>Mon, 05 Jan 2026 00:00:00 GMT</pubDate></item>"
        b"</channel></rss>"
    )
    items = parse_feed(rss).items
    keys = {item.title: item.key for item in items}
    assert keys["A"] == keys["A edited"]  # same link
    assert keys["B"] != keys["A"]


def test_malformed_xml_and_html_are_feed_errors() -> None:
    with pytest.raises(FeedError):
        parse_feed(b"<rss><channel><item><title>broken</item></rss")
    with pytest.raises(FeedError):
        parse_feed(b"<html><body>hello</body></html>")


def test_templates_are_validated_and_rendered() -> None:
    assert validate_template("{source}: {title} {link}")
    for bad in ("{nope}", "{title.__class__}", "{title!r}", "{title:>99999}", "{", "{0}"):
        with pytest.raises(ValueError):
            validate_template(bad)
    item = parse_feed(ATOM).items[0]
    assert render("{source}: {title} {link}", item, "S") == "S: first https://x/1"


def test_include_and_exclude_words() -> None:
    item = parse_feed(ATOM).items[0]
    assert words("a, b c") == ["a", "b c"] and words("a b") == ["a", "b"]
    assert passes(item, ["FIRST"], []) and not passes(item, ["zzz"], [])
    assert not passes(item, [], ["first"])


def test_html_entities_fall_back_to_feedparser_with_the_same_keys() -> None:
    clean = b'<rss version="2.0"><channel><title>x</title><item><title>a b</title><link>https://r/1</link></item></channel></rss>'
    entity = clean.replace(b"a b", b"a&nbsp;b")
    fast, slow = parse_feed(clean).items[0], parse_feed(entity).items[0]
    assert slow.title == "a b" and fast.key == slow.key  # a guid-less item: keyed by its link either way
