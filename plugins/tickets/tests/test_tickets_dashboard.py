"""A closed ticket's transcript on the web dashboard: a signed link, by DM, that opens once and
only for the ticket's members and staff (the real bot, the double, the embedded storage)."""

from __future__ import annotations

import html
import re

import aiohttp
from logiq_tickets.models import CLOSED, OPEN, Ticket
from tickets_support import bot_messages, dm_of, setup_channel_mode, tickets_harness

from logiq_core.app.web.config import WebConfig
from logiq_core.testing.harness import BotHarness, LogiqHarness

LINK = re.compile(r"(http://\S+/l/\S+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def open_link(link: str) -> tuple[int, str]:
    """Open a signed link as a fresh browser would: the page, then its sign-in button's POST."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with client.get(link) as response:
            token = CSRF.search(await response.text())
            assert token is not None, await response.text()
        async with client.post(link, data={"csrf": token.group(1)}) as response:
            return response.status, await response.text()


def last_link_to(h: BotHarness, user_id: str) -> str:
    dm = dm_of(h, user_id)
    assert dm is not None
    found = [LINK.search(m["content"] or "") for m in bot_messages(h, dm)]
    links = [f.group(1) for f in found if f is not None]
    assert links, "no link was sent"
    return links[-1]


async def rated_ticket_asked() -> bool:
    """The ticket is closed and its opener was asked for a rating (the message with the link)."""
    found = await Ticket.find_one(Ticket.status == CLOSED)
    return found is not None and bool(found.rating_message_id)


async def test_transcript_link_by_dm_opens_once_and_only_for_members_and_staff(
    logiq_harness: LogiqHarness,
) -> None:
    web = WebConfig(enabled=True, host="127.0.0.1", port=0)
    async with tickets_harness(logiq_harness, web=web) as h:
        d = h.demo
        await setup_channel_mode(h)
        opened = await h.command(d.alice, "!ticket my parcel is lost", timeout=20)
        assert opened["content"].startswith("Your ticket #1"), opened
        t = await h.eventually(lambda: Ticket.find_one(Ticket.status == OPEN))
        await h.say(d.mo, "Found it <script>alert(1)</script>", channel=t.channel_id)
        await h.say(d.mo, "!ticket close shipped", channel=t.channel_id)
        await h.eventually(lambda: rated_ticket_asked())

        # The rating message carries the opener's own link.
        rating_link = last_link_to(h, d.alice)
        status, page = await open_link(rating_link)
        assert status == 200 and "Ticket #1" in page and "srcdoc=" in page
        srcdoc = re.search(r'srcdoc="([^"]*)"', page)
        assert srcdoc is not None
        document = html.unescape(srcdoc.group(1))  # the stored transcript, as the frame gets it
        assert "&lt;script&gt;alert(1)" in document and "<script>alert(1)" not in document
        status, page = await open_link(rating_link)
        assert status == 403 and "already used" in page

        # Asked for again: a new link by DM; an outsider is refused before any link is made.
        reply = await h.command(d.alice, "!ticket transcript #1")
        assert "direct messages" in reply["content"]
        again = last_link_to(h, d.alice)
        assert again != rating_link and (await open_link(again))[0] == 200
        reply = await h.command(d.bob, "!ticket transcript #1")
        assert "members and staff" in reply["content"] and dm_of(h, d.bob) is None
        assert "no transcript" in (await h.command(d.alice, "!ticket transcript #7"))["content"]
        # Staff (the Moderator role set up as staff) may read it.
        assert "direct messages" in (await h.command(d.mo, "!ticket transcript 1"))["content"]
        assert (await open_link(last_link_to(h, d.mo)))[0] == 200
        assert h.double.violations == []


async def test_without_the_dashboard_the_transcript_is_in_the_log_channel(
    logiq_harness: LogiqHarness,
) -> None:
    async with tickets_harness(logiq_harness) as h:
        d = h.demo
        await setup_channel_mode(h)
        await h.command(d.alice, "!ticket help")
        t = await h.eventually(lambda: Ticket.find_one(Ticket.status == OPEN))
        await h.say(d.alice, "!ticket close", channel=t.channel_id)
        await h.eventually(lambda: rated_ticket_asked())
        assert "dashboard is not turned on" in (await h.command(d.alice, "!ticket transcript #1"))["content"]
        dm = dm_of(h, d.alice)
        assert dm is not None and not any("/l/" in (m["content"] or "") for m in bot_messages(h, dm))
