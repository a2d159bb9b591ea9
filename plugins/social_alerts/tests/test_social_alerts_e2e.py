"""Social alerts end to end: a real bot on the Stoat double, the embedded storage, and a local
feed server on loopback (allowed in the test's plugins.toml ``[http] allow``). Time is an
injected clock; polls run when a test asks, never after a sleep."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from feedserver import Feed, FeedServer
from logiq_social_alerts.service import AlertsService

from logiq_core.testing.clock import FakeClock

CONFIG = {"default_interval_seconds": 60, "min_interval_seconds": 1}


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    server = await FeedServer().start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def running(
    logiq_harness: Any, *, allow: bool = True, config: dict[str, Any] | None = None, h: Any = None
) -> AsyncIterator[tuple[Any, FakeClock]]:
    harness = h or logiq_harness(
        ["social_alerts"],
        plugin_config={"social_alerts": {**CONFIG, **(config or {})}},
        http_allow=["127.0.0.0/8"] if allow else (),
    )
    async with harness as h:
        clock = FakeClock()
        h.bot.timers.clock = clock
        await h.count_as_internal()  # a team server: the feature (internal 5%) is on there
        yield h, clock


def service(h: Any) -> AlertsService:
    return h.bot.contexts["social_alerts"].get(AlertsService)


async def poll(h: Any, clock: FakeClock, seconds: float = 61) -> Any:
    """Move the clock on and run what is due: the round timer, then a round of our own."""
    svc = service(h)
    svc.last_round = None
    clock.advance(seconds)
    await h.bot.timers.run_due()
    stats = await svc.poll_round()
    return stats if stats.polled or svc.last_round is None else svc.last_round


def posts(h: Any, channel: str = "lounge") -> list[dict[str, Any]]:
    """What alerts posted (they masquerade as their source; command replies do not)."""
    return [
        m
        for m in h.double.messages_in(h.channel_id(channel))
        if m["author"] == h.demo.bot_id and m.get("masquerade")
    ]


async def add(h: Any, args: str) -> dict[str, Any]:
    return await h.command(h.demo.owner_id, f"!alerts add {args}", timeout=10)


async def test_first_poll_records_then_new_items_post_once_oldest_first_and_survive_restart(
    logiq_harness, feeds, tmp_path
):
    feed = feeds.feeds["news"] = Feed(title="Garden News")
    for n in range(3):
        feed.add(f"old {n}")
    async with running(logiq_harness) as (h, clock):
        reply = await add(h, f"{feeds.url('news')} #lounge")
        assert "Alert #1" in reply["content"] and "3 current item(s)" in reply["content"], reply
        assert (await poll(h, clock)).polled == 1
        assert posts(h) == []  # existing items are recorded, not posted
        feed.add("first new")
        feed.add("second new")
        stats = await poll(h, clock)
        assert stats.new_items == 2
        titles = [m["embeds"][0]["title"] for m in posts(h)]
        assert titles == ["first new", "second new"]
        message = posts(h)[0]
        assert message["masquerade"]["name"] == "Garden News"
        assert message["embeds"][0]["url"].startswith("https://example.org/")
        await poll(h, clock)
        assert len(posts(h)) == 2  # each once
        # the second request carried the validators, and the 304 posted nothing
        last = feeds.hits("news")[-1]
        assert last.get("If-None-Match", "").startswith('"') and last.get("If-Modified-Since")
        assert (await poll(h, clock)).not_modified == 1
        assert len(posts(h)) == 2
        await h.restart()
        h.bot.timers.clock = clock
        await poll(h, clock)
        assert len(posts(h)) == 2  # a restart reposts nothing


async def test_one_fetch_per_url_for_many_servers_and_status(logiq_harness, feeds):
    feed = feeds.feeds["shared"] = Feed()
    feed.add("a")
    async with running(logiq_harness) as (h, clock):
        await add(h, f"{feeds.url('shared')} #lounge")
        await add(h, f"{feeds.url('shared')} #general")
        before = len(feeds.hits("shared"))
        feed.add("b")
        stats = await poll(h, clock)
        assert stats.polled == 1 and len(feeds.hits("shared")) == before + 1
        assert len(posts(h, "lounge")) == 1 and len(posts(h, "general")) == 1
        listing = await h.command(h.demo.owner_id, "!alerts list")
        assert "#1" in listing["content"] and "#2" in listing["content"]
        status = await h.command(h.demo.owner_id, "!alerts status")
        assert "last check" in status["content"] and "active" in status["content"]
        # members without ManageServer cannot manage alerts
        denied = await h.command(h.demo.member_ids[0], f"!alerts add {feeds.url('shared')} #lounge")
        assert "permission" in denied["content"].lower() or "manage" in denied["content"].lower()


async def test_dedupe_by_link_filters_template_role_and_no_pings(logiq_harness, feeds):
    feed = feeds.feeds["f"] = Feed(title="@everyone feed")
    feed.add("seed", guid=False, link="https://example.org/seed")
    async with running(logiq_harness) as (h, clock):
        role = h.demo.roles["Member"]
        reply = await add(
            h,
            f'{feeds.url("f")} #lounge --role <%{role}> --include "release,launch" '
            '--exclude beta --template "New: {title} by {author} {link}"',
        )
        assert "Alert #1" in reply["content"], reply
        bad = await add(h, f'{feeds.url("f")} #general --template "{{title.__class__}} {{nope}}"')
        assert "placeholder" in bad["content"]
        feed.add(
            "Big release @everyone <@01ARZ3NDEKTSV4RRFFQ69G5FAV>",
            guid=False,
            link="https://example.org/r1",
            author="ann",
        )
        feed.add("launch beta", guid=False, link="https://example.org/r2")
        feed.add("nothing here", guid=False, link="https://example.org/r3")
        await poll(h, clock)
        shown = posts(h)
        assert len(shown) == 1
        content = shown[0]["content"]
        assert content.startswith(f"<%{role}> New: Big release")  # the chosen role only
        assert "@everyone" not in content and "@\u200beveryone" in content
        assert "<@01ARZ3NDEKTSV4RRFFQ69G5FAV>" not in content and "by ann https://example.org/r1" in content
        assert "@everyone" not in shown[0]["embeds"][0]["title"]
        assert "@everyone" not in shown[0]["masquerade"]["name"]
        # items without guid dedupe by link: a changed title on the same link is not new
        feed.items[-1].title = "seed (edited)"
        await poll(h, clock)
        assert len(posts(h)) == 1


async def test_at_most_n_per_poll_with_a_summary_line(logiq_harness, feeds):
    feed = feeds.feeds["flood"] = Feed()
    async with running(logiq_harness, config={"max_items_per_poll": 3}) as (h, clock):
        feed.add("seed")
        await add(h, f"{feeds.url('flood')} #lounge")
        for n in range(7):
            feed.add(f"item {n}")
        await poll(h, clock)
        shown = posts(h)
        assert "4 older new item(s)" in shown[0]["content"]
        assert [m["embeds"][0]["title"] for m in shown[1:]] == ["item 4", "item 5", "item 6"]


async def test_failures_back_off_then_warn_and_pause_and_404_pauses(logiq_harness, feeds):
    broken = feeds.feeds["broken"] = Feed()
    gone = feeds.feeds["gone"] = Feed()
    broken.add("x")
    gone.add("y")
    async with running(logiq_harness) as (h, clock):
        await add(h, f"{feeds.url('broken')} #lounge")
        await add(h, f"{feeds.url('gone')} #general")
        broken.status = 500
        gone.status = 410
        await poll(h, clock)
        assert "is paused" in posts(h, "general")[-1]["content"]  # 410: warned, then paused
        hits = len(feeds.hits("broken"))
        stored = await service(h).feed(feeds.url("broken"))
        assert stored is not None and stored.failures == 1
        waits = [stored.next_poll_ts - clock().timestamp()]
        for _ in range(3):
            clock.advance(waits[-1] + 1)
            await service(h).poll_round()
            stored = await service(h).feed(feeds.url("broken"))
            assert stored is not None
            waits.append(stored.next_poll_ts - clock().timestamp())
        assert waits == sorted(waits) and waits[-1] > 2 * waits[0]  # exponential backoff
        assert len(feeds.hits("broken")) == hits + 3
        await poll(h, clock, 5)  # not due yet: no request during the backoff
        assert len(feeds.hits("broken")) == hits + 3
        assert posts(h, "lounge") == []
        await poll(h, clock, 25 * 3600)  # a day of failures: warned in the channel, then paused
        assert "is paused" in posts(h, "lounge")[-1]["content"]
        status = await h.command(h.demo.owner_id, "!alerts status")
        assert status["content"].count("PAUSED") == 2 and "500" in status["content"]
        hits = len(feeds.hits("broken"))
        await poll(h, clock, 2 * 86400)
        assert len(feeds.hits("broken")) == hits  # paused feeds are not fetched
        broken.status = 200
        await h.command(h.demo.owner_id, "!alerts resume 1")
        await poll(h, clock)
        assert len(feeds.hits("broken")) == hits + 1


async def test_retry_after_is_honoured(logiq_harness, feeds):
    feed = feeds.feeds["limited"] = Feed()
    feed.add("x")
    async with running(logiq_harness) as (h, clock):
        await add(h, f"{feeds.url('limited')} #lounge")
        feed.status = 429
        feed.headers = {"Retry-After": "7200"}
        await poll(h, clock)
        stored = await service(h).feed(feeds.url("limited"))
        assert (
            stored is not None and stored.next_poll_ts - clock().timestamp() >= 7200 - 60
        )  # not the 15 min default


async def test_malformed_feed_is_an_error_in_status_and_huge_response_is_cut(logiq_harness, feeds):
    feed = feeds.feeds["bad"] = Feed()
    feed.add("ok")
    huge = feeds.feeds["huge"] = Feed()
    huge.add("ok")
    async with running(logiq_harness) as (h, clock):
        await add(h, f"{feeds.url('bad')} #lounge")
        await add(h, f"{feeds.url('huge')} #lounge")
        feed.raw = b"<rss><channel><item><title>broken</item></rss"
        huge.huge = 50 * 1024 * 1024
        stats = await poll(h, clock)
        assert stats.failed == 2
        status = await h.command(h.demo.owner_id, "!alerts status")
        assert "not a valid feed" in status["content"] and "too large" in status["content"]
        assert h.bot is not None and posts(h) == []
        # adding a malformed feed is refused with the reason
        feeds.feeds["bad2"] = Feed(raw=b"<html><body>not a feed</body></html>")
        reply = await add(h, f"{feeds.url('bad2')} #general")
        assert "could not follow" in reply["content"]


async def test_loopback_url_typed_by_a_member_is_refused_without_the_operators_allowance(
    logiq_harness, feeds
):
    feed = feeds.feeds["local"] = Feed()
    feed.add("x")
    async with running(logiq_harness, allow=False) as (h, _clock):
        reply = await add(h, f"{feeds.url('local')} #lounge")
        assert "loopback" in reply["content"], reply
        reply = await add(h, f"http://localhost:{feeds.port}/local #lounge")
        assert "loopback" in reply["content"] or "refused" in reply["content"], reply
        assert feeds.hits("local") == []
        twitch = await add(h, "twitch:somebody #lounge")
        assert "twitch_client_id" in twitch["content"]


async def test_test_command_posts_latest_item_marked_as_test_and_timer_polls(logiq_harness, feeds):
    feed = feeds.feeds["t"] = Feed()
    feed.add("older")
    feed.add("latest")
    async with running(logiq_harness) as (h, clock):
        await add(h, f"{feeds.url('t')} #lounge --every 5m")
        reply = await h.command(h.demo.owner_id, "!alerts test 1")
        assert "as a test" in reply["content"]
        shown = posts(h)
        assert shown[-1]["content"].startswith("(test) latest")
        # the durable round timer polls on its own once the clock passes the interval
        feed.add("newest")
        clock.advance(301)
        await h.bot.timers.run_due()
        assert posts(h)[-1]["embeds"][0]["title"] == "newest"
        await h.command(h.demo.owner_id, "!alerts pause 1")
        feed.add("while paused")
        await poll(h, clock, 400)
        assert posts(h)[-1]["embeds"][0]["title"] == "newest"
        await h.command(h.demo.owner_id, "!alerts remove 1")
        listing = await h.command(h.demo.owner_id, "!alerts list")
        assert "No alerts" in listing["content"]


async def test_only_a_manager_who_may_ping_a_role_can_have_posts_ping_it(logiq_harness, feeds):
    from logiq_core.plugin import Permission as P

    feeds.feeds["r"] = Feed(title="roles")
    async with running(logiq_harness) as (h, _clock):
        d = h.demo
        manager_role = h.double.create_role(d.server_id, "Feeds", rank=2, allow=int(P.ManageServer))
        manager = h.double.create_user("fen")
        h.double.add_member(d.server_id, manager.id, [manager_role])
        refused = await h.command(
            manager.id, f"!alerts add {feeds.url('r')} #lounge --role <%{d.roles['Member']}>", timeout=10
        )
        assert "MentionRoles" in refused["content"] and "Alert #" not in refused["content"]
        allowed = await h.command(manager.id, f"!alerts add {feeds.url('r')} #lounge", timeout=10)
        assert "Alert #1" in allowed["content"], allowed
