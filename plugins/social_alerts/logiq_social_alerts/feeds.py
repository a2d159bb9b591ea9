"""Pure helpers: sources and their shortcuts, parsing feeds into items, templates, filters.

Nothing here talks to Stoat, storage or the network, so it is tested on its own.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import html
import re
import string
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import quote

from logiq_social_alerts.twitch import PREFIX as TWITCH_PREFIX
from logiq_social_alerts.twitch import WHAT_TO_CONFIGURE, TwitchStream

PLACEHOLDERS = ("title", "link", "author", "published", "source")
DEFAULT_TEMPLATE = "{title}"
MAX_TEMPLATE = 500
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_BROKEN_XML = re.compile(r"mismatched tag|not well-formed|unclosed token|no element found|junk after", re.I)


class SourceError(ValueError):
    """A source the plugin cannot follow; the message says what to type instead."""


class FeedError(Exception):
    """A response that is not a feed (malformed XML, HTML page, empty body)."""


@dataclass(frozen=True, slots=True)
class Source:
    """A source as typed, and the public feed URL it expands to."""

    typed: str
    url: str
    kind: str  # feed, youtube, reddit, mastodon, bluesky, github, twitch
    name: str = ""  # a name to show until the feed's own title is known
    min_interval: float = 0.0  # the site's own floor (Reddit: 15 min)


REDDIT_MIN_INTERVAL = 900.0


def expand_source(typed: str, *, twitch_configured: bool = False) -> Source:
    """Expand a shortcut (``youtube:``, ``reddit:``, ``mastodon:``, ``bluesky:``, ``github:``,
    and ``twitch:`` when the operator configured Twitch) or accept an http(s) URL. Raises
    :class:`SourceError` with what to type instead. A Twitch source's "URL" is ``twitch:<login>``
    (polled through Helix, not fetched)."""
    text = typed.strip().strip("<>")
    scheme, _, rest = text.partition(":")
    kind = scheme.lower()
    rest = rest.strip()
    if kind in ("http", "https"):
        if not rest.startswith("//") or len(text) > 2000:
            raise SourceError(f"{typed!r} is not a valid URL")
        return Source(typed, text, "feed")
    if kind == "youtube":
        channel = rest.rsplit("/", 1)[-1]
        if not re.fullmatch(r"UC[A-Za-z0-9_-]{22}", channel):
            raise SourceError(
                "youtube: takes a channel id (24 characters starting with UC), "
                "e.g. youtube:UCXuqSBlHAE6Xw-yeJA0Tunw"
            )
        return Source(
            typed,
            f"https://www.youtube.com/feeds/videos.xml?channel_id={channel}",
            kind,
            f"YouTube {channel}",
        )
    if kind == "reddit":
        name = rest.removeprefix("/").removeprefix("r/")
        if not re.fullmatch(r"[A-Za-z0-9_]{2,21}", name):
            raise SourceError("reddit: takes a subreddit name, e.g. reddit:python")
        return Source(typed, f"https://www.reddit.com/r/{name}/.rss", kind, f"r/{name}", REDDIT_MIN_INTERVAL)
    if kind == "mastodon":
        match = re.fullmatch(r"@?([A-Za-z0-9_]{1,30})@([A-Za-z0-9.-]+\.[A-Za-z]{2,})", rest)
        if not match:
            raise SourceError("mastodon: takes @user@instance, e.g. mastodon:@Gargron@mastodon.social")
        user, instance = match.groups()
        return Source(typed, f"https://{instance.lower()}/@{user}.rss", kind, f"@{user}@{instance}")
    if kind == "bluesky":
        handle = rest.removeprefix("@")
        if not (
            re.fullmatch(r"did:[a-z]+:[A-Za-z0-9._:%-]{1,200}", handle)
            or re.fullmatch(r"([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,}", handle)
        ):
            raise SourceError("bluesky: takes a handle or a DID, e.g. bluesky:bsky.app")
        return Source(typed, f"https://bsky.app/profile/{quote(handle, safe=':')}/rss", kind, f"@{handle}")
    if kind == "github":
        parts = rest.strip("/").split("/")
        if len(parts) != 2 or not all(_NAME.match(part) for part in parts):
            raise SourceError("github: takes owner/repository, e.g. github:python/cpython")
        return Source(
            typed,
            f"https://github.com/{parts[0]}/{parts[1]}/releases.atom",
            kind,
            f"{parts[0]}/{parts[1]} releases",
        )
    if kind == "twitch":
        if not twitch_configured:
            raise SourceError(WHAT_TO_CONFIGURE)
        login = rest.rstrip("/").rsplit("/", 1)[-1].removeprefix("@")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,25}", login):
            raise SourceError("twitch: takes a channel's login name, e.g. twitch:twitchdev")
        return Source(typed, f"{TWITCH_PREFIX}{login.lower()}", kind, f"{login} (Twitch)")
    raise SourceError(
        f"{typed!r} is neither an http(s) feed URL nor a shortcut "
        "(youtube:, reddit:, mastodon:, bluesky:, github:, twitch:)"
    )


# --- items ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Item:
    key: str  # what dedupes it: guid, else link, else title and date (hashed)
    title: str
    link: str
    author: str
    published: str
    summary: str
    published_ts: float | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    link: str
    items: list[Item]  # oldest first, without those whose key the caller already knew
    keys: tuple[str, ...]  # every item's key, oldest first (known ones included)


# One entry while parsing: its key, its date, and how to build its Item (None: known, not built).
_Entry = tuple[str, float | None, Callable[[], Item] | None]


def _given(item: Item) -> Callable[[], Item]:
    return lambda: item


def _finish(title: str, link: str, entries_in_document_order: list[_Entry]) -> ParsedFeed:
    """Feeds list newest first; when every item is dated, the dates decide. Only the items
    not known yet are built (their text cleaned): a changed feed usually has one new item."""
    entries = list(reversed(entries_in_document_order))
    if entries and all(ts is not None for _key, ts, _make in entries):
        entries.sort(key=lambda entry: entry[1] or 0.0)
    items = [make() for _key, _ts, make in entries if make is not None]
    return ParsedFeed(title, link, items, tuple(key for key, _ts, _make in entries))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).hexdigest()


def item_key(guid: str, link: str, title: str, published: str) -> str:
    """Dedupe by guid, else link, else a hash of title and date (stored as a short digest).

    A guid and a link share one key space: parsers that fill a missing guid with the link
    then agree with those that do not."""
    if guid or link:
        return _digest(guid or link)
    return _digest("\0" + title + "\0" + published)


def plain(text: str, limit: int | None = None) -> str:
    """Feed HTML as one line of plain text (tags dropped, entities decoded)."""
    result = _SPACES.sub(" ", html.unescape(_TAG.sub(" ", text or ""))).strip()
    if limit is not None and len(result) > limit:
        result = result[: limit - 1].rstrip() + "…"
    return result


def _timestamp(entry: Mapping[str, Any]) -> float | None:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(field)
        if value:
            try:
                return float(calendar.timegm(value))
            except (TypeError, ValueError, OverflowError):
                continue
    return None


@functools.cache
def _xml() -> tuple[ModuleType, Any]:
    """lxml and the strict parser, imported at the first parse rather than at the bot's start
    (the feed libraries are a tenth of ``logiq run``'s time to the sandbox prompt)."""
    from lxml import etree

    return etree, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_feed(body: bytes, content_type: str = "", known: Container[str] = frozenset()) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0, Atom or JSON Feed into items, oldest first (FeedError if it is none).

    Well-formed XML goes through fastfeedparser (lxml, about 30 times faster than feedparser);
    XML with entities only HTML knows (``&nbsp;``) or an odd dialect goes through feedparser;
    XML with a broken structure is an error, not a guess. Items whose key is in ``known`` (the
    feed's seen set) are only counted in ``keys``, not built: cleaning their text is most of
    the cost of a parse.
    """
    stripped = body.lstrip()
    if stripped[:1] in (b"{", b"[") or "json" in content_type.lower():
        return _parse_json_feed(body, known)
    etree, strict = _xml()
    try:
        etree.fromstring(stripped, strict)
    except etree.XMLSyntaxError as exc:
        if "entity" in str(exc).lower():
            return _parse_with_feedparser(body, content_type, known)
        raise FeedError(f"not a valid feed (malformed XML: {plain(str(exc), 120)})") from None
    import fastfeedparser

    try:
        # content stays (an Atom entry's summary may come only from it); tags and media are not used
        data = fastfeedparser.parse(body, include_tags=False, include_media=False, include_enclosures=False)
    except Exception:
        return _parse_with_feedparser(body, content_type, known)
    entries: list[_Entry] = []
    for entry in data.get("entries") or []:
        link = str(entry.get("link") or "")
        guid = str(entry.get("id") or "")
        raw_published = str(entry.get("published") or entry.get("updated") or "")
        title = "" if guid or link else plain(entry.get("title") or "", 300)  # a key without ids needs it
        key = item_key(guid, link, title, raw_published)
        published_ts = _iso_ts(raw_published)

        def make(
            entry: Mapping[str, Any] = entry,
            key: str = key,
            link: str = link,
            raw: str = raw_published,
            ts: float | None = published_ts,
        ) -> Item:
            return Item(
                key=key,
                title=plain(entry.get("title") or "", 300),
                link=link,
                author=plain(entry.get("author") or "", 100),
                published=_shown(ts, raw),
                summary=plain(entry.get("description") or "", 400),
                published_ts=ts,
            )

        entries.append((key, published_ts, None if key in known else make))
    feed = data.get("feed") or {}
    return _finish(plain(feed.get("title") or "", 100), str(feed.get("link") or ""), entries)


def _iso_ts(text: str) -> float | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _shown(published_ts: float | None, raw: str) -> str:
    if published_ts is None:
        return raw
    return datetime.fromtimestamp(published_ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _parse_with_feedparser(body: bytes, content_type: str, known: Container[str] = frozenset()) -> ParsedFeed:
    import feedparser  # the fallback: imported only when a feed needs it

    parsed = feedparser.parse(
        body,
        response_headers={"content-type": content_type} if content_type else None,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if error is not None and (not parsed.entries or _BROKEN_XML.search(str(error))):
        # an undefined entity or a wrong charset is recovered; a broken structure is not a feed
        raise FeedError(f"not a valid feed ({type(error).__name__}: {plain(str(error), 120)})")
    if not parsed.get("version") and not parsed.entries:
        raise FeedError("not a feed (no RSS, Atom or JSON Feed found)")
    entries: list[_Entry] = []
    for entry in parsed.entries:
        title = plain(entry.get("title", ""), 300)
        link = str(entry.get("link", "") or "")
        published_ts = _timestamp(entry)
        raw_published = str(entry.get("published", "") or entry.get("updated", "") or "")
        item = Item(
            key=item_key(str(entry.get("id", "") or ""), link, title, raw_published),
            title=title,
            link=link,
            author=plain(entry.get("author", ""), 100),
            published=_shown(published_ts, raw_published),
            summary=plain(entry.get("summary", ""), 400),
            published_ts=published_ts,
        )
        entries.append((item.key, published_ts, None if item.key in known else _given(item)))
    feed = parsed.get("feed", {})
    return _finish(plain(feed.get("title", ""), 100), str(feed.get("link", "") or ""), entries)


def _parse_json_feed(body: bytes, known: Container[str] = frozenset()) -> ParsedFeed:
    import json

    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FeedError(f"not a valid JSON Feed ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedError("not a JSON Feed (no items list)")
    entries: list[_Entry] = []
    for raw in data["items"]:
        if not isinstance(raw, dict):
            continue
        title = plain(str(raw.get("title") or ""), 300)
        link = str(raw.get("url") or raw.get("external_url") or "")
        published = str(raw.get("date_published") or raw.get("date_modified") or "")
        published_ts = None
        if published:
            try:
                published_ts = datetime.fromisoformat(published.replace("Z", "+00:00")).timestamp()
            except ValueError:
                published_ts = None
        authors = raw.get("authors") or ([raw["author"]] if isinstance(raw.get("author"), dict) else [])
        author = ", ".join(str(a.get("name", "")) for a in authors if isinstance(a, dict))
        summary = str(raw.get("summary") or raw.get("content_text") or raw.get("content_html") or "")
        item = Item(
            key=item_key(str(raw.get("id") or ""), link, title, published),
            title=title,
            link=link,
            author=plain(author, 100),
            published=published,
            summary=plain(summary, 400),
            published_ts=published_ts,
        )
        entries.append((item.key, published_ts, None if item.key in known else _given(item)))
    return _finish(plain(str(data.get("title") or ""), 100), str(data.get("home_page_url") or ""), entries)


def stream_item(stream: TwitchStream) -> Item:
    """A live Twitch stream as an item: keyed by the stream's id, so it is announced once."""
    ts = _iso_ts(stream.started_at)
    name = stream.user_name or stream.user_login
    return Item(
        key=item_key(f"twitch-stream:{stream.id}", "", "", ""),
        title=plain(f"{name} is live: {stream.title}" if stream.title else f"{name} is live", 300),
        link=f"https://www.twitch.tv/{stream.user_login}",
        author=plain(name, 100),
        published=_shown(ts, stream.started_at),
        summary=plain(
            f"Streaming {stream.game_name} on Twitch" if stream.game_name else "Live on Twitch", 400
        ),
        published_ts=ts,
    )


# --- what a subscription posts ------------------------------------------------------------------
def validate_template(template: str) -> str:
    """The template if every ``{placeholder}`` is one we fill; ValueError saying which is not."""
    if len(template) > MAX_TEMPLATE:
        raise ValueError(f"a template has at most {MAX_TEMPLATE} characters")
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"the template is not valid ({exc}); write braces as {{{{ and }}}}") from None
    for _literal, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{field}}} in the template; use {known}")
    return template


def render(template: str | None, item: Item, source: str) -> str:
    """Fill a validated template with the item's fields (not yet neutralised)."""
    values = {
        "title": item.title or "(untitled)",
        "link": item.link,
        "author": item.author,
        "published": item.published,
        "source": source,
    }
    return (template or DEFAULT_TEMPLATE).format_map(values)


def words(text: str | None) -> list[str]:
    """``--include``/``--exclude`` words: separated by commas, or by spaces when there are none."""
    if not text:
        return []
    parts = text.split(",") if "," in text else text.split()
    return [part.strip().lower() for part in parts if part.strip()][:50]


def passes(item: Item, include: Iterable[str], exclude: Iterable[str]) -> bool:
    """Include: any of the words must appear (title or summary); exclude: none may."""
    haystack = f"{item.title}\n{item.summary}".lower()
    include = [word.lower() for word in include]
    if include and not any(word in haystack for word in include):
        return False
    return not any(word.lower() in haystack for word in exclude)
