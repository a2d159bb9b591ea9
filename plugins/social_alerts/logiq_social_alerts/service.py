"""Social alerts' logic: following sources and polling them right. Testable without Stoat.

One :class:`AlertFeed` per distinct URL is fetched once per interval however many servers
follow it (a conditional GET, so an unchanged feed costs a 304), its new items are found against
a bounded stored seen set, and each active subscription gets them through a :class:`Poster`
(the plugin's posts to Stoat; the benchmark's counter).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from beanie import SortDirection
from pymongo import UpdateOne

from logiq_core.plugin import OutboundHttp, OutboundHttpError, OutboundRefused, ResponseTooLarge, Validators
from logiq_social_alerts.config import AlertSettings
from logiq_social_alerts.feeds import (
    FeedError,
    Item,
    ParsedFeed,
    Source,
    expand_source,
    parse_feed,
    passes,
    stream_item,
)
from logiq_social_alerts.models import AlertFeed, AlertSubscription
from logiq_social_alerts.twitch import PREFIX as TWITCH_PREFIX
from logiq_social_alerts.twitch import (
    WHAT_TO_CONFIGURE,
    TwitchClient,
    TwitchError,
    TwitchUser,
    login_of,
)

GONE = (404, 410)


class Poster(Protocol):
    async def post_items(
        self, sub: AlertSubscription, items: list[Item], source: str, skipped: int, *, test: bool = False
    ) -> None: ...

    async def warn(self, sub: AlertSubscription, text: str) -> None: ...


@dataclass
class RoundStats:
    polled: int = 0
    not_modified: int = 0
    unchanged: int = 0
    new_items: int = 0
    failed: int = 0
    paused: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Outcome:
    feed: AlertFeed
    kind: str  # "same" (304 or unchanged body), "changed", "failed"
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    body_hash: str | None = None
    validators: Validators | None = None
    parsed: ParsedFeed | None = None
    body: bytes | None = None  # a changed feed's body until it is parsed
    content_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # more fields to store (a Twitch user's id)


class AlertsService:
    """Subscriptions and polling. ``clock`` returns an aware datetime (the timers' clock)."""

    def __init__(
        self,
        http: OutboundHttp,
        poster: Poster,
        settings: AlertSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        logger: Any = None,
    ) -> None:
        self.http = http
        self.poster = poster
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self._round_lock = asyncio.Lock()
        credentials = settings.twitch_credentials
        self.twitch = TwitchClient(http, credentials, clock=self.now) if credentials is not None else None
        self.last_round: RoundStats | None = None  # the last round that polled anything

    def now(self) -> float:
        return self.clock().timestamp()

    # --- subscriptions --------------------------------------------------------------------------
    def interval_for(self, source: Source, every: float | None) -> float:
        interval = every if every is not None else self.settings.default_interval_seconds
        return max(interval, self.settings.min_interval_seconds, source.min_interval)

    async def subscriptions(self, server_id: str) -> list[AlertSubscription]:
        return (
            await AlertSubscription.find(AlertSubscription.server_id == server_id)
            .sort([("number", SortDirection.ASCENDING)])
            .to_list()
        )

    async def subscription(self, server_id: str, number: int) -> AlertSubscription | None:
        return await AlertSubscription.find_one(
            AlertSubscription.server_id == server_id, AlertSubscription.number == number
        )

    async def feed(self, url: str) -> AlertFeed | None:
        return await AlertFeed.find_one(AlertFeed.url == url)

    async def add(
        self,
        server_id: str,
        typed: str,
        channel_id: str,
        *,
        created_by: str = "",
        role_id: str | None = None,
        template: str | None = None,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        every: float | None = None,
    ) -> tuple[AlertSubscription, AlertFeed]:
        """Follow ``typed`` in ``channel_id``. The feed is fetched now: a URL the guard refuses or
        that is not a feed is refused (ValueError with the reason); its current items are
        recorded, not posted."""
        source = expand_source(typed, twitch_configured=self.settings.twitch_configured)
        existing = await self.subscriptions(server_id)
        if len(existing) >= self.settings.max_alerts_per_server:
            raise ValueError(f"this server already has {len(existing)} alerts (the most allowed)")
        if any(sub.url == source.url and sub.channel_id == channel_id for sub in existing):
            raise ValueError("that source is already announced in that channel")
        feed = await self.feed(source.url)
        if feed is None or not feed.initialized:
            feed = feed or AlertFeed(url=source.url)
            outcome = await self._parse(await self._fetch(feed, conditional=False), frozenset())
            if outcome.kind == "failed":
                shown = source.typed if source.kind == "twitch" else source.url
                raise ValueError(f"I could not follow {shown}: {outcome.error}")
            if feed.id is None:
                try:
                    await feed.insert()
                except Exception:  # another server added it meanwhile
                    feed = await self.feed(source.url) or feed
                outcome.feed = feed
            await self._apply([outcome], RoundStats(), asyncio.Semaphore(1), loaded_seen=True)
            feed = await self.feed(source.url) or feed
        number = max((sub.number for sub in existing), default=0) + 1
        sub = AlertSubscription(
            server_id=server_id,
            number=number,
            source=typed,
            url=source.url,
            channel_id=channel_id,
            name=(feed.title or source.name or source.url)[:32],
            role_id=role_id,
            template=template,
            include=include or [],
            exclude=exclude or [],
            interval_seconds=self.interval_for(source, every),
            created_by=created_by,
            created_ts=self.now(),
        )
        await sub.insert()
        await self.refresh_feed(source.url)
        return sub, feed

    async def remove(self, sub: AlertSubscription) -> None:
        await sub.delete()
        await self.refresh_feed(sub.url)

    async def set_paused(self, sub: AlertSubscription, paused: bool, reason: str | None = None) -> None:
        sub.paused = paused
        sub.paused_reason = reason if paused else None
        await AlertSubscription.get_pymongo_collection().update_one(
            {"_id": sub.id}, {"$set": {"paused": paused, "paused_reason": sub.paused_reason}}
        )
        if not paused:  # a resumed feed starts afresh: no backoff, polled at the next tick
            await AlertFeed.get_pymongo_collection().update_one(
                {"url": sub.url, "subscribers": 0},
                {"$set": {"failures": 0, "failing_since_ts": None, "next_poll_ts": self.now()}},
            )
        await self.refresh_feed(sub.url)

    async def refresh_feed(self, url: str) -> None:
        """Recount a feed's active subscriptions and take the shortest interval among them."""
        active = await AlertSubscription.find(
            AlertSubscription.url == url,
            AlertSubscription.paused == False,  # noqa: E712 (a query, not a comparison)
        ).to_list()
        fields: dict[str, Any] = {"subscribers": len(active)}
        if active:
            fields["interval_seconds"] = min(sub.interval_seconds for sub in active)
        collection = AlertFeed.get_pymongo_collection()
        await collection.update_one({"url": url}, {"$set": fields})
        if active:  # a shorter interval takes effect now, not after the old one
            latest = self.now() + fields["interval_seconds"]
            await collection.update_one(
                {"url": url, "next_poll_ts": {"$gt": latest}, "failures": 0},
                {"$set": {"next_poll_ts": latest}},
            )

    async def latest(self, sub: AlertSubscription) -> tuple[Item | None, str]:
        """The feed's newest item now (for ``!alerts test``), fetched without conditions."""
        feed = await self.feed(sub.url) or AlertFeed(url=sub.url)
        outcome = await self._parse(await self._fetch(feed, conditional=False), frozenset())
        if outcome.kind == "failed" or outcome.parsed is None:
            raise ValueError(outcome.error or "the feed did not answer")
        items = outcome.parsed.items
        return (items[-1] if items else None), (sub.name or outcome.parsed.title or sub.url)

    # --- polling --------------------------------------------------------------------------------
    # A round costs few storage round trips however many feeds are due: one query for the due
    # feeds (without their seen sets: a 304 needs none), one bulk update for every unchanged
    # feed of an interval, and for the feeds that changed or failed one query for their seen
    # sets, one for their subscriptions and one bulk write. A 304 is never parsed; a changed
    # feed builds only its new items.
    async def poll_round(self) -> RoundStats:
        """Poll every feed that is due, each once, concurrently; returns what happened."""
        async with self._round_lock:
            started = time.perf_counter()
            stats = RoundStats()
            now = self.now()
            due = await self._due(now)
            if not due:
                return stats
            slots = asyncio.Semaphore(self.settings.concurrency)

            async def fetch(feed: AlertFeed) -> _Outcome:
                async with slots:
                    return await self._fetch(feed, conditional=True)

            twitch = [feed for feed in due if feed.url.startswith(TWITCH_PREFIX)]
            web = [feed for feed in due if not feed.url.startswith(TWITCH_PREFIX)]
            fetched = await asyncio.gather(
                self._fetch_twitch(twitch, conditional=True), asyncio.gather(*(fetch(feed) for feed in web))
            )
            outcomes = [*fetched[0], *fetched[1]]
            stats.polled = len(outcomes)
            same = [o for o in outcomes if o.kind == "same"]
            stats.not_modified = sum(1 for o in same if o.status == 304)
            stats.unchanged = len(same) - stats.not_modified
            await self._mark_same(same, now)
            others = [o for o in outcomes if o.kind != "same"]
            if others:
                await self._apply(others, stats, slots, loaded_seen=False)
            stats.seconds = time.perf_counter() - started
            self.last_round = stats
            return stats

    async def _due(self, now: float) -> list[AlertFeed]:
        cursor = AlertFeed.get_pymongo_collection().find(
            {"subscribers": {"$gt": 0}, "next_poll_ts": {"$lte": now}}, {"seen": 0}
        )
        # our own documents, written by this service: constructed without validating each field
        return [AlertFeed.model_construct(**document) async for document in cursor]

    async def _fetch(self, feed: AlertFeed, *, conditional: bool) -> _Outcome:
        """Fetch a feed; a changed body is kept for :meth:`_parse` (which needs the seen set)."""
        if feed.url.startswith(TWITCH_PREFIX):
            return (await self._fetch_twitch([feed], conditional=conditional))[0]
        validators = Validators(feed.etag, feed.last_modified) if conditional else None
        try:
            response = await self.http.get_conditional(
                feed.url, validators, max_bytes=self.settings.max_bytes
            )
        except ResponseTooLarge as exc:
            return _Outcome(feed, "failed", error=f"the response is too large ({exc})")
        except OutboundRefused as exc:
            return _Outcome(feed, "failed", error=str(exc))
        except OutboundHttpError as exc:
            return _Outcome(feed, "failed", error=str(exc) or type(exc).__name__)
        if response.not_modified:
            return _Outcome(feed, "same", status=304)
        if response.status >= 400:
            return _Outcome(
                feed,
                "failed",
                status=response.status,
                retry_after=response.retry_after,
                error=f"the site answered {response.status}",
            )
        if response.status >= 300:
            return _Outcome(feed, "failed", status=response.status, error=f"unexpected {response.status}")
        body_hash = hashlib.blake2b(response.body, digest_size=16).hexdigest()
        if conditional and feed.initialized and body_hash == feed.body_hash:
            return _Outcome(feed, "same", status=response.status, validators=response.validators)
        return _Outcome(
            feed,
            "changed",
            status=response.status,
            body_hash=body_hash,
            validators=response.validators,
            body=response.body,
            content_type=response.headers.get("Content-Type", ""),
        )

    async def _parse(self, outcome: _Outcome, known: frozenset[str]) -> _Outcome:
        """A changed feed's items (those in ``known`` only as keys); a body that is no feed fails."""
        if outcome.kind != "changed" or outcome.parsed is not None or outcome.body is None:
            return outcome
        body, outcome.body = outcome.body, None
        try:
            if len(body) > 64 * 1024:  # keep the event loop (and the gateway) responsive
                outcome.parsed = await asyncio.to_thread(parse_feed, body, outcome.content_type, known)
            else:
                outcome.parsed = parse_feed(body, outcome.content_type, known)
        except FeedError as exc:
            return _Outcome(outcome.feed, "failed", status=outcome.status, error=str(exc))
        return outcome

    async def _fetch_twitch(self, feeds: list[AlertFeed], *, conditional: bool) -> list[_Outcome]:
        """Twitch channels: users looked up once (100 a request), live streams 100 a request. A
        live stream is one item keyed by its stream id; an unchanged state costs no write."""
        if not feeds:
            return []
        if self.twitch is None:
            return [_Outcome(feed, "failed", error=WHAT_TO_CONFIGURE) for feed in feeds]
        users: dict[str, TwitchUser] = {}
        try:
            unknown = [login_of(feed.url) for feed in feeds if not feed.twitch_user_id]
            if unknown:
                users = await self.twitch.users(unknown)
            found = {login: user.id for login, user in users.items()}
            ids = [feed.twitch_user_id or found.get(login_of(feed.url), "") for feed in feeds]
            live = await self.twitch.streams(uid for uid in ids if uid)
        except TwitchError as exc:
            return [
                _Outcome(feed, "failed", status=exc.status, retry_after=exc.retry_after, error=str(exc))
                for feed in feeds
            ]
        outcomes = []
        for feed, uid in zip(feeds, ids, strict=True):
            login = login_of(feed.url)
            if not uid:
                error = f"there is no Twitch user named {login}"
                outcomes.append(_Outcome(feed, "failed", status=404, error=error))
                continue
            stream = live.get(uid)
            body_hash = hashlib.blake2b(
                f"live:{stream.id}".encode() if stream else b"offline", digest_size=16
            ).hexdigest()
            if conditional and feed.initialized and body_hash == feed.body_hash:
                outcomes.append(_Outcome(feed, "same", status=200))
                continue
            user = users.get(login)
            name = stream.user_name if stream else (user.display_name if user else "")
            items = [stream_item(stream)] if stream else []
            parsed = ParsedFeed(
                f"{name} (Twitch)" if name else "",
                f"https://www.twitch.tv/{login}",
                items,
                tuple(item.key for item in items),
            )
            outcomes.append(
                _Outcome(
                    feed,
                    "changed",
                    status=200,
                    body_hash=body_hash,
                    validators=Validators(),
                    parsed=parsed,
                    extra={"twitch_user_id": uid},
                )
            )
        return outcomes

    async def _mark_same(self, same: list[_Outcome], now: float) -> None:
        """Unchanged feeds: one bulk update per interval (a round of 304s costs a few writes)."""
        by_interval: dict[float, list[Any]] = defaultdict(list)
        fresh: list[UpdateOne] = []
        for outcome in same:
            feed = outcome.feed
            validators = outcome.validators
            if validators is not None and validators != Validators(feed.etag, feed.last_modified):
                fresh.append(
                    UpdateOne(
                        {"_id": feed.id},
                        {"$set": {"etag": validators.etag, "last_modified": validators.last_modified}},
                    )
                )
            by_interval[feed.interval_seconds].append(feed.id)
        collection = AlertFeed.get_pymongo_collection()
        if fresh:
            await collection.bulk_write(fresh, ordered=False)
        for interval, ids in by_interval.items():
            await collection.update_many(
                {"_id": {"$in": ids}},
                {
                    "$set": {
                        "last_check_ts": now,
                        "last_ok_ts": now,
                        "next_poll_ts": now + interval,
                        "failures": 0,
                        "failing_since_ts": None,
                        "last_error": None,
                    }
                },
            )

    async def _apply(
        self, outcomes: list[_Outcome], stats: RoundStats, slots: asyncio.Semaphore, *, loaded_seen: bool
    ) -> None:
        """Record changed and failed feeds in one bulk write, then post and warn."""
        collection = AlertFeed.get_pymongo_collection()
        if not loaded_seen:  # the round loaded the feeds without their seen sets
            ids = [o.feed.id for o in outcomes if o.kind == "changed" and o.feed.initialized]
            if ids:
                seen = {
                    doc["_id"]: doc.get("seen") or []
                    async for doc in collection.find({"_id": {"$in": ids}}, {"seen": 1})
                }
                for outcome in outcomes:
                    if outcome.feed.id in seen:
                        outcome.feed.seen = seen[outcome.feed.id]
        outcomes = [
            await self._parse(o, frozenset(o.feed.seen) if o.feed.initialized else frozenset())
            for o in outcomes
        ]
        now = self.now()
        writes: list[UpdateOne] = []
        posts: list[tuple[_Outcome, list[Item]]] = []
        pauses: list[tuple[_Outcome, str]] = []
        for outcome in outcomes:
            feed = outcome.feed
            if outcome.kind == "failed":
                stats.failed += 1
                fields, why = self._failure(outcome, now, stats)
                if why is not None:
                    pauses.append((outcome, why))
            else:
                fields, new_items = self._changed(outcome, now)
                if new_items:
                    stats.new_items += len(new_items)
                    posts.append((outcome, new_items))
            where = {"_id": feed.id} if feed.id is not None else {"url": feed.url}
            writes.append(UpdateOne(where, {"$set": fields}))
        await collection.bulk_write(writes, ordered=False)  # recorded before posting: never posted twice
        if not posts and not pauses:
            return
        subs_by_url: dict[str, list[AlertSubscription]] = defaultdict(list)
        urls = [o.feed.url for o, _ in posts] + [o.feed.url for o, _ in pauses]
        async for sub in AlertSubscription.find({"url": {"$in": urls}, "paused": False}):
            subs_by_url[sub.url].append(sub)

        async def deliver(sub: AlertSubscription, items: list[Item], feed_title: str) -> None:
            async with slots:
                await self._deliver(sub, items, feed_title)

        await asyncio.gather(
            *(
                deliver(sub, items, outcome.parsed.title if outcome.parsed else "")
                for outcome, items in posts
                for sub in subs_by_url[outcome.feed.url]
            )
        )
        for outcome, why in pauses:
            for sub in subs_by_url[outcome.feed.url]:
                await self._pause_and_warn(sub, why, stats)

    def _changed(self, outcome: _Outcome, now: float) -> tuple[dict[str, Any], list[Item]]:
        """What a changed feed stores, and its new items (none on its first poll)."""
        feed = outcome.feed
        parsed = outcome.parsed
        assert parsed is not None and outcome.validators is not None
        current = list(reversed(parsed.keys))  # newest first
        known = set(feed.seen)
        new_items = [item for item in parsed.items if item.key not in known] if feed.initialized else []
        keep = max(self.settings.seen_limit, len(current))
        current_set = set(current)
        seen = current + [key for key in feed.seen if key not in current_set]
        fields: dict[str, Any] = {
            "seen": seen[:keep],
            "initialized": True,
            "title": parsed.title or feed.title,
            "etag": outcome.validators.etag,
            "last_modified": outcome.validators.last_modified,
            "body_hash": outcome.body_hash,
            "last_check_ts": now,
            "last_ok_ts": now,
            "last_status": outcome.status,
            "last_error": None,
            "failures": 0,
            "failing_since_ts": None,
            "next_poll_ts": now + feed.interval_seconds,
            **outcome.extra,
        }
        if new_items:
            fields["last_new_ts"] = now
        return fields, new_items

    async def _deliver(self, sub: AlertSubscription, items: list[Item], feed_title: str) -> None:
        wanted = [item for item in items if passes(item, sub.include, sub.exclude)]
        if not wanted:
            return
        limit = self.settings.max_items_per_poll
        skipped = max(0, len(wanted) - limit)
        shown = wanted[-limit:] if limit > 0 else []  # the newest N, posted oldest first
        try:
            await self.poster.post_items(sub, shown, sub.name or feed_title or sub.url, skipped)
        except Exception as exc:  # one channel's trouble must not stop the others
            if self.logger is not None:
                self.logger.warning("could not post alert {} on {}: {}", sub.number, sub.server_id, exc)
            return
        # No write per subscription: the feed's last_new_ts (saved before posting) is what
        # !alerts status shows, and a round of 500 changed feeds stays 500 writes, not 1,000.

    def _failure(self, outcome: _Outcome, now: float, stats: RoundStats) -> tuple[dict[str, Any], str | None]:
        """What a failed poll stores (backoff), and why its subscriptions pause (None: not yet)."""
        feed = outcome.feed
        failures = feed.failures + 1
        since = feed.failing_since_ts if feed.failing_since_ts is not None else now
        error = outcome.error or "unknown error"
        stats.errors.append(f"{feed.url}: {error}")
        fields: dict[str, Any] = {
            "failures": failures,
            "failing_since_ts": since,
            "last_error": error,
            "last_status": outcome.status,
            "last_check_ts": now,
        }
        gone = outcome.status in GONE
        if gone or now - since >= self.settings.pause_after_failing_seconds:
            why = (
                f"the feed is gone ({error})"
                if gone
                else f"the feed has failed for {_ago(now - since)} (last error: {error})"
            )
            fields["next_poll_ts"] = now + self.settings.max_backoff_seconds
            return fields, why
        backoff = min(feed.interval_seconds * (2 ** min(failures, 20)), self.settings.max_backoff_seconds)
        if outcome.retry_after is not None:
            backoff = max(backoff, min(outcome.retry_after, self.settings.max_backoff_seconds))
        # never wait past the moment the feed has failed for a day: that poll decides the pause
        until_pause = since + self.settings.pause_after_failing_seconds - now
        backoff = min(backoff, max(feed.interval_seconds, until_pause))
        fields["next_poll_ts"] = now + backoff
        return fields, None

    async def _pause_and_warn(self, sub: AlertSubscription, why: str, stats: RoundStats) -> None:
        await self.set_paused(sub, True, why)
        stats.paused += 1
        try:
            await self.poster.warn(
                sub,
                (
                    f"Alert #{sub.number} ({sub.source}) is paused: {why}. "
                    f"A manager can try again with `!alerts resume {sub.number}`."
                ),
            )
        except Exception as exc:
            if self.logger is not None:
                self.logger.warning("could not warn about alert {}: {}", sub.number, exc)


def _ago(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def describe_time(ts: float | None, now: float) -> str:
    return "never" if ts is None else f"{_ago(max(0.0, now - ts))} ago"
