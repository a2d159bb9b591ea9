"""Tickets end to end: the Stoat test double (with its permission computation), the real bot and
the real embedded storage. No mocks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import logiq_tickets.service as tickets_service
import pytest
from logiq_tickets.models import CLOSED, OPEN, LoggedMessage, PoolRole, Ticket, TicketSlot
from logiq_tickets.service import PANEL_EMOJI, RATING_EMOJI, TicketsService
from logiq_tickets.transcript import read_html, verify_html
from tickets_support import bot_messages, can, dm_of, setup_channel_mode, tickets_harness

from logiq_core.plugin import Permission as P
from logiq_core.testing.clock import FakeClock
from logiq_core.testing.harness import BotHarness, LogiqHarness


def service(h: BotHarness) -> TicketsService:
    assert h.bot is not None
    return h.bot.contexts["tickets"].get(TicketsService)


async def ticket_no(number: int) -> Ticket:
    found = await Ticket.find_one(Ticket.number == number)
    assert found is not None
    return found


async def test_open_by_command_gives_access_to_opener_added_member_and_staff_only(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    bot_role = next(
        r
        for r, role in h.double.world.servers[d.server_id]["roles"].items()
        if role["name"] == "Logiq tickets"
    )
    assert bot_role in h.double.world.member_roles(d.server_id, d.bot_id)

    reply = await h.command(d.alice, "!ticket My order never arrived @everyone")
    t = await ticket_no(1)
    assert t.status == OPEN and t.channel_id and t.role_id
    assert reply["content"] == f"Your ticket #1 is open: <#{t.channel_id}>."
    channel = h.double.world.channels[t.channel_id]
    assert channel["name"] == "ticket-1"
    assert t.topic == "My order never arrived @\u200beveryone"
    # Stoat's model, computed by the double: opener, staff and bot in; everyone else out.
    assert can(h, t.channel_id, d.alice) and can(h, t.channel_id, d.mo)
    assert can(h, t.channel_id, d.bot_id, P.ViewChannel | P.SendMessage | P.ManageChannel)
    assert not can(h, t.channel_id, d.bob, P.ViewChannel) and not can(h, t.channel_id, d.carol, P.ViewChannel)
    assert t.role_id in h.double.world.member_roles(d.server_id, d.alice)
    welcome = bot_messages(h, t.channel_id)[0]["content"]
    assert "Ticket #1" in welcome and "@\u200beveryone" in welcome

    # Staff add bob: he sees it; remove him: he does not. Alice (not staff) cannot add.
    refused = await h.command(d.alice, f"!ticket add <@{d.carol}>", channel=t.channel_id)
    assert refused["content"] == "`!ticket add` is for staff."
    await h.command(d.mo, f"!ticket add <@{d.bob}>", channel=t.channel_id)
    assert can(h, t.channel_id, d.bob)
    assert (await ticket_no(1)).added == [d.bob]
    await h.command(d.mo, f"!ticket remove <@{d.bob}>", channel=t.channel_id)
    assert not can(h, t.channel_id, d.bob, P.ViewChannel)
    await h.command(d.mo, f"!ticket add <@{d.bob}>", channel=t.channel_id)

    claimed = await h.command(d.mo, "!ticket claim", channel=t.channel_id)
    assert claimed["content"] == "🙋 mo claimed this ticket."
    renamed = await h.command(d.mo, "!ticket rename Lost Parcel", channel=t.channel_id)
    assert renamed["content"] == "Renamed to #lost-parcel."
    assert h.double.world.channels[t.channel_id]["name"] == "lost-parcel"

    status = await h.command(d.ada, "!tickets status")
    assert "Open tickets: 1; limit per member: 1" in status["content"]
    used_channels = len(h.double.world.servers[d.server_id]["channels"])
    used_roles = len(h.double.world.servers[d.server_id]["roles"])
    assert f"channels {used_channels}/200, roles {used_roles}/200, 0 free of 1 pooled" in status["content"]
    assert f"Capacity: {min(200 - used_channels, 200 - used_roles)} more" in status["content"]


async def test_per_member_limit_holds_under_concurrent_opens(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    for _ in range(4):  # four `!ticket` at once from one member
        await h.say(d.alice, "!ticket help")

    def current_answers() -> list[str]:
        texts = [m["content"] for m in bot_messages(h, h.channel_id(None))]
        return [t for t in texts if t.startswith(("Your ticket #", "You already have"))]

    await h.eventually(lambda: len(current_answers()) >= 4, timeout=15)
    answers = current_answers()
    assert sum(a.startswith("Your ticket #") for a in answers) == 1, answers
    assert sum("You already have 1 open ticket here" in a for a in answers) == 3, answers
    assert await Ticket.find(Ticket.status == OPEN).count() == 1
    assert await Ticket.find(Ticket.status != OPEN).count() == 0  # the refused left nothing
    assert await TicketSlot.find_all().count() == 1
    # A higher limit lets a second one open; bob is unaffected by alice's.
    await h.command(d.ada, "!tickets limit 2")
    assert (await h.command(d.alice, "!ticket again"))["content"].startswith("Your ticket #2 is open")
    assert (await h.command(d.bob, "!ticket"))["content"].startswith("Your ticket #3 is open")
    # A slot left by an opening that died midway (no ticket, made long ago) is taken back.
    from bson import ObjectId

    long_ago = ObjectId.from_datetime(datetime.now(UTC) - timedelta(hours=1))
    await TicketSlot(server_id=d.server_id, user_id=d.carol, slot=0, ticket_id=str(long_ago)).insert()
    assert (await h.command(d.carol, "!ticket"))["content"].startswith("Your ticket #4 is open")
    # But a fresh one (an opening under way) is respected.
    for slot in (0, 1):  # the limit is 2 now
        await TicketSlot(server_id=d.server_id, user_id=d.mo, slot=slot, ticket_id=str(ObjectId())).insert()
    assert (await h.command(d.mo, "!ticket"))["content"].startswith("You already have 2 open tickets")


async def test_panel_reaction_opens_and_close_posts_a_verifiable_transcript_and_asks_a_rating(
    h: BotHarness,
) -> None:
    d = h.demo
    await setup_channel_mode(h)
    await h.command(d.ada, "!tickets panel #lounge Need help? React below.")
    panel = bot_messages(h, d.channels["lounge"])[-1]
    assert panel["interactions"] == {"reactions": [PANEL_EMOJI], "restrict_reactions": True}
    await h.double.react_as(d.alice, d.channels["lounge"], panel["_id"], PANEL_EMOJI, enforce=True)
    t = await h.eventually(lambda: Ticket.find_one(Ticket.status == OPEN), timeout=10)
    assert t.opener_id == d.alice and can(h, t.channel_id, d.alice)
    dm = await h.eventually(lambda: dm_of(h, d.alice))
    await h.eventually(lambda: any("is open" in m["content"] for m in bot_messages(h, dm)))

    await h.say(d.alice, "Hello, my parcel is lost", channel=t.channel_id)
    first = await h.say(d.alice, "It was order 42", channel=t.channel_id)
    await h.eventually(lambda: LoggedMessage.find(LoggedMessage.ticket_id == str(t.id)).count())
    # The member edits a message: the transcript keeps both versions.
    await h.double.inject_event(
        {
            "type": "MessageUpdate",
            "id": first["_id"],
            "channel": t.channel_id,
            "data": {"content": "It was order 43", "edited": "2026-01-01T00:00:00Z"},
        }
    )
    h.double.world.messages[first["_id"]].update(content="It was order 43", edited="2026-01-01T00:00:00Z")
    await h.eventually(lambda: LoggedMessage.find(LoggedMessage.version == 1).count())
    await h.say(d.mo, "We found it, it ships today", channel=t.channel_id)
    await h.command(d.mo, "!ticket claim", channel=t.channel_id)
    await h.say(d.alice, "!ticket close thanks, solved", channel=t.channel_id)

    log = d.channels["mod-log"]
    summary = await h.eventually(
        lambda: next((m for m in bot_messages(h, log) if m.get("attachments")), None), timeout=10
    )
    t = await h.eventually(lambda: Ticket.find_one(Ticket.status == CLOSED, Ticket.rating_message_id != None))  # noqa: E711
    assert "Ticket #1" in summary["content"] and "Closed by alice" in summary["content"]
    assert "Claimed by: mo" in summary["content"] and "Reason: thanks, solved" in summary["content"]
    assert f"SHA-256 chain: {t.transcript_hash}" in summary["content"]
    [file] = h.double.attachments_of(summary)
    assert file.filename == "ticket-1.html"
    document = file.data.decode()
    parsed = read_html(document)
    contents = [m["content"] for m, _, _ in parsed["messages"]]
    assert "Hello, my parcel is lost" in contents and "We found it, it ships today" in contents
    edited = next(m for m, _, _ in parsed["messages"] if m["id"] == first["_id"])
    assert edited["content"] == "It was order 43" and edited["edits"] == ["It was order 42"]
    assert verify_html(document, t.transcript_hash)
    tampered = document.replace("We found it", "We lost it", 1)
    assert not verify_html(tampered, t.transcript_hash)
    # Access is gone: the channel is deleted, the role taken back and returned to the pool.
    assert t.channel_id not in h.double.world.channels
    assert t.role_id not in h.double.world.member_roles(d.server_id, d.alice)
    pool = await PoolRole.find_one(PoolRole.role_id == t.role_id)
    assert pool is not None and pool.ticket_id == ""
    # The dashboard's view.
    stored = await service(h).transcript(d.server_id, str(t.id))
    assert stored is not None and stored.html == document and stored.opener_id == d.alice
    assert stored.member_ids == [d.alice] and stored.closed_at == t.closed_at
    assert await service(h).transcript(d.server_id, "0" * 24) is None

    # Rating: only the opener's counts, once; shown in status and kept as rollout feedback.
    rating = h.double.world.messages[t.rating_message_id]
    assert rating["interactions"]["restrict_reactions"] is True
    await h.double.react_as(d.bob, t.rating_channel_id, t.rating_message_id, RATING_EMOJI[0])
    await h.double.react_as(
        d.alice, t.rating_channel_id, t.rating_message_id, RATING_EMOJI[3].replace("\ufe0f", "")
    )
    await h.eventually(lambda: Ticket.find_one(Ticket.rating == 4))
    assert "Ratings: 1, mean 4.0/5" in (await h.command(d.ada, "!tickets status"))["content"]
    assert h.bot is not None
    await h.bot.metrics.flush()
    feedback = Ticket.get_pymongo_collection().database["core_rollout_feedback"]  # the core's collection
    rows = await feedback.find({"feature": "tickets"}).to_list()
    assert [(f["rating"], f["user_id"], f["server_id"]) for f in rows] == [(4, d.alice, d.server_id)]
    # The slot is free again: alice may open another.
    assert (await h.command(d.alice, "!ticket again"))["content"].startswith("Your ticket #2")
    again = await ticket_no(2)
    assert again.role_id == t.role_id  # the pool role is reused, no new role


async def test_upload_failure_falls_back_to_text_messages(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    await h.command(d.alice, "!ticket broken")
    t = await ticket_no(1)
    await h.say(d.alice, "line one", channel=t.channel_id)
    await h.eventually(lambda: LoggedMessage.find_one(LoggedMessage.content == "line one"))
    await h.double.autumn.stop()  # the file server is down: the upload fails
    assert h.bot is not None
    h.bot.api.backoff_seconds = 0.01  # ...after retries: what is tried matters here, not the waits
    await h.say(d.mo, "!ticket close done", channel=t.channel_id)
    log = d.channels["mod-log"]
    texts = await h.eventually(
        lambda: [m["content"] for m in bot_messages(h, log) if m["content"].startswith("Transcript:")],
        timeout=20,
    )
    assert "alice: line one" in texts[0]
    assert any("SHA-256 chain:" in m["content"] and not m.get("attachments") for m in bot_messages(h, log))


async def test_deleting_the_channel_by_hand_closes_the_ticket(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    await h.command(d.alice, "!ticket")
    t = await ticket_no(1)
    await h.say(d.alice, "anyone there?", channel=t.channel_id)
    await h.eventually(lambda: LoggedMessage.find_one(LoggedMessage.content == "anyone there?"))
    channel = h.double.world.channels.pop(t.channel_id)
    h.double.world.servers[d.server_id]["channels"].remove(t.channel_id)
    h.double.broadcast({"type": "ChannelDelete", "id": t.channel_id}, server_id=channel["server"])
    closed = await h.eventually(lambda: Ticket.find_one(Ticket.status == CLOSED), timeout=10)
    assert closed.close_reason == "the ticket channel was deleted"
    assert t.role_id not in h.double.world.member_roles(d.server_id, d.alice)
    stored = await service(h).transcript(d.server_id, str(t.id))
    assert stored is not None and "anyone there?" in stored.html


async def test_a_server_at_its_channel_or_role_limit_is_refused_and_nothing_is_made(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    world = h.double.world
    while len(world.servers[d.server_id]["channels"]) < 200:
        h.double.create_channel(d.server_id, "filler")
    await h.eventually(lambda: h.bot is not None and len(h.bot.cache.servers[d.server_id].channels) == 200)
    roles_before = set(world.servers[d.server_id]["roles"])
    reply = await h.command(d.alice, "!ticket")
    assert "200 channels" in reply["content"] and "relay mode" in reply["content"]
    assert await Ticket.find_all().count() == 0 and await TicketSlot.find_all().count() == 0
    assert set(world.servers[d.server_id]["roles"]) == roles_before
    status = await h.command(d.ada, "!tickets status")
    assert "Capacity: 0 more concurrent tickets (channels 200/200" in status["content"]

    # Free the channels, fill the roles instead (no pool role free).
    for channel_id in [
        c for c in world.servers[d.server_id]["channels"] if world.channels[c]["name"] == "filler"
    ]:
        world.channels.pop(channel_id)
        world.servers[d.server_id]["channels"].remove(channel_id)
        h.double.broadcast({"type": "ChannelDelete", "id": channel_id}, server_id=d.server_id)
    while len(world.servers[d.server_id]["roles"]) < 200:
        h.double.create_role(d.server_id, "filler")
    await h.eventually(
        lambda: (
            h.bot is not None
            and len(h.bot.cache.servers[d.server_id].roles) == 200
            and len(h.bot.cache.servers[d.server_id].channels) < 10
        )
    )
    channels_before = set(world.servers[d.server_id]["channels"])
    reply = await h.command(d.alice, "!ticket")
    assert "200 roles" in reply["content"]
    assert set(world.servers[d.server_id]["channels"]) == channels_before
    assert await Ticket.find_all().count() == 0 and await TicketSlot.find_all().count() == 0


async def test_a_failure_midway_leaves_nothing_behind(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    world = h.double.world
    channels_before = set(world.servers[d.server_id]["channels"])
    roles_before = set(world.servers[d.server_id]["roles"])
    alice_roles = world.member_roles(d.server_id, d.alice)
    # Stoat refuses the member edit (the last step before the welcome): everything is undone.
    h.double.fail_next(
        "PATCH",
        rf"/servers/{d.server_id}/members/{d.alice}$",
        403,
        {"type": "MissingPermission", "permission": "AssignRoles"},
    )
    reply = await h.command(d.alice, "!ticket")
    assert "failed midway, so I removed what I had made" in reply["content"]
    assert set(world.servers[d.server_id]["channels"]) == channels_before
    assert set(world.servers[d.server_id]["roles"]) == roles_before
    assert world.member_roles(d.server_id, d.alice) == alice_roles
    assert await Ticket.find_all().count() == 0 and await TicketSlot.find_all().count() == 0
    assert await PoolRole.find_all().count() == 0
    # A failure after the role was given (the welcome message) takes the role back too.
    h.double.fail_next(
        "POST",
        r"/channels/[0-9A-Z]+/messages$",
        403,
        {"type": "MissingPermission", "permission": "SendMessage"},
    )
    reply = await h.command(d.alice, "!ticket")
    assert "failed midway" in reply["content"]
    assert set(world.servers[d.server_id]["channels"]) == channels_before
    assert set(world.servers[d.server_id]["roles"]) == roles_before
    assert world.member_roles(d.server_id, d.alice) == alice_roles
    assert await Ticket.find_all().count() == 0
    # And then it works.
    assert (await h.command(d.alice, "!ticket"))["content"].startswith("Your ticket #")


async def test_autoclose_warns_then_closes_across_a_restart_and_only_the_opener_resets_it(
    logiq_harness: LogiqHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Idle time passes on a clock moved by hand: the timers and the plugin's idea of "now" read
    # the same FakeClock, so the 8 s are not waited out.
    clock = FakeClock()
    monkeypatch.setattr(tickets_service, "now", lambda: round(clock().timestamp(), 3))
    async with tickets_harness(logiq_harness, clock=clock) as h:
        d = h.demo
        await setup_channel_mode(h)
        await h.command(d.alice, "!ticket")
        t = await ticket_no(1)
        assert (await h.command(d.ada, "!tickets autoclose 8s"))["content"].startswith(
            "Tickets close after 8s"
        )

        def warnings() -> list[dict[str, Any]]:
            return [m for m in bot_messages(h, t.channel_id) if m["content"].startswith("⏰")]

        async def after(seconds: float) -> None:
            clock.advance(seconds)
            assert h.bot is not None
            await h.bot.timers.run_due()

        # Staff talking does not keep it open; the warning comes (at 6 s idle, 2 s before closing).
        await h.say(d.mo, "still there?", channel=t.channel_id)
        await h.settle()
        await after(5.9)
        assert warnings() == []  # not before 6 s idle
        await after(0.11)
        warning = await h.eventually(lambda: next(iter(warnings()), None))
        assert "unless alice replies" in warning["content"]
        # The opener answers: the clock starts again, then the bot restarts mid-wait.
        await h.say(d.alice, "yes, here", channel=t.channel_id)
        await h.eventually(lambda: Ticket.find_one(Ticket.warned_at == 0, Ticket.status == OPEN))
        await after(3)
        await h.restart()
        await after(3.01)
        await h.eventually(lambda: len(warnings()) == 2)
        assert await Ticket.find_one(Ticket.status == OPEN) is not None  # warned, not closed yet
        await after(2)
        closed = await h.eventually(lambda: Ticket.find_one(Ticket.status == CLOSED))
        assert closed.close_reason == "no reply from the opener for 8s"
        assert closed.closed_at - closed.opener_active_at >= 8 - 0.1
        assert t.channel_id not in h.double.world.channels
        assert h.double.violations == []


async def test_relay_mode_relays_both_ways_with_masquerade(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h, "--mode relay")
    staff = d.channels["mod-log"]
    reply = await h.command(d.alice, "!ticket billing question")
    assert reply["content"] == "Your ticket #1 is open: I wrote to you in direct messages."
    dm = dm_of(h, d.alice)
    assert dm is not None
    greeting = bot_messages(h, dm)[0]
    assert greeting["masquerade"] == {"name": "Stoat Garden Support"}
    notice = bot_messages(h, staff)[-1]
    assert "Ticket #1" in notice["content"] and "billing question" in notice["content"]
    channels_before = len(h.double.world.servers[d.server_id]["channels"])

    # Member -> staff: relayed with the member's name. (Tickets are beta: DMs stay gated, and
    # the plugin routes them to the server whose ticket they belong to.)
    await h.say(d.alice, "I was charged twice", channel=dm)
    relayed = await h.eventually(
        lambda: next((m for m in bot_messages(h, staff) if "charged twice" in m["content"]), None)
    )
    assert relayed["masquerade"] == {"name": "alice"} and relayed["content"] == "**#1** I was charged twice"
    # Staff -> member: a reply to the relayed message goes back under the persona.
    await h.double.send_message_as(d.mo, staff, "Refunded, sorry!", replies=[relayed["_id"]])
    back = await h.eventually(
        lambda: next((m for m in bot_messages(h, dm) if m["content"] == "Refunded, sorry!"), None)
    )
    assert back["masquerade"] == {"name": "Stoat Garden Support"}
    # A non-staff member's reply in the staff channel is not relayed.
    await h.double.send_message_as(d.bob, staff, "spam", replies=[relayed["_id"]])
    # Staff close by replying.
    await h.double.send_message_as(d.mo, staff, "!ticket close refunded", replies=[relayed["_id"]])
    closed = await h.eventually(lambda: Ticket.find_one(Ticket.status == CLOSED), timeout=10)
    assert closed.close_reason == "refunded"
    assert not any(m["content"] == "spam" for m in bot_messages(h, dm))
    assert any(m["content"].startswith("🔒 Ticket #1 is closed") for m in bot_messages(h, dm))
    summary = await h.eventually(
        lambda: next((m for m in bot_messages(h, staff) if m.get("attachments")), None)
    )
    [file] = h.double.attachments_of(summary)
    parsed = read_html(file.data.decode())
    assert [m["content"] for m, _, _ in parsed["messages"]] == ["I was charged twice", "Refunded, sorry!"]
    assert verify_html(file.data.decode(), closed.transcript_hash)
    assert len(h.double.world.servers[d.server_id]["channels"]) == channels_before  # no channel per ticket

    # The member closes their next ticket by reacting 🔒 to the greeting.
    await h.command(d.alice, "!ticket another")
    second = await ticket_no(2)
    greeting = next(m for m in bot_messages(h, dm) if "#2" in m["content"])
    await h.double.react_as(d.alice, dm, greeting["_id"], "🔒")
    await h.eventually(lambda: Ticket.find_one(Ticket.number == 2, Ticket.status == CLOSED), timeout=10)
    assert second.opener_id == d.alice


async def test_only_opener_or_staff_close_and_a_double_close_is_refused(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    await h.command(d.alice, "!ticket")
    t = await ticket_no(1)
    await h.command(d.mo, f"!ticket add <@{d.bob}>", channel=t.channel_id)
    refused = await h.command(d.bob, "!ticket close", channel=t.channel_id)
    assert refused["content"] == "Only the opener or staff can close this ticket."
    outside = await h.command(d.alice, "!ticket close")
    assert outside["content"].startswith("Use this in a ticket channel")
    svc = service(h)
    results = await asyncio.gather(svc.close(t, d.mo, "a"), svc.close(await ticket_no(1), d.alice, "b"))
    assert sorted(results) == [False, True]
    assert await Ticket.find(Ticket.status == CLOSED).count() == 1
    assert len([m for m in bot_messages(h, d.channels["mod-log"]) if m.get("attachments")]) == 1
    assert d.bob not in [
        u
        for u in h.double.world.server_member_ids(d.server_id)
        if t.role_id in h.double.world.member_roles(d.server_id, u)
    ]


async def test_setup_refuses_a_staff_role_the_manager_could_not_assign(h: BotHarness) -> None:
    d = h.demo
    reply = await h.command(d.mo, f"!tickets setup <%{d.roles['Admin']}>")
    assert "ManageServer" in reply["content"] or "role" in reply["content"].lower()
    assert "Tickets are set up" not in reply["content"]
    not_set = await h.command(d.alice, "!ticket")
    assert "not set up" in not_set["content"]
    # A staff role above the bot's: Stoat would refuse its channel overrides, so setup says so.
    above = await h.command(d.ada, f"!tickets setup <%{d.roles['Admin']}> <#{d.channels['mod-log']}>")
    assert "ranks at or above my top role" in above["content"]
    assert "Logiq tickets" not in [r["name"] for r in h.double.world.servers[d.server_id]["roles"].values()]


async def test_category_only_when_asked(h: BotHarness) -> None:
    d = h.demo
    server_path = f"/servers/{d.server_id}"
    await setup_channel_mode(h)
    await h.command(d.alice, "!ticket first")
    assert not [r for r in h.double.requests if r["method"] == "PATCH" and r["path"] == server_path]
    assert not h.double.world.servers[d.server_id].get("categories")

    reply = await setup_channel_mode(h, '--category "Support desk"')
    assert "category `Support desk`" in reply["content"]
    await h.command(d.bob, "!ticket second")
    await h.command(d.carol, "!ticket third")
    second, third = await ticket_no(2), await ticket_no(3)
    [category] = h.double.world.servers[d.server_id]["categories"]
    assert category["title"] == "Support desk"
    assert category["channels"] == [second.channel_id, third.channel_id]
    await h.say(d.mo, "!ticket close done", channel=second.channel_id)
    await h.eventually(lambda: Ticket.find_one(Ticket.number == 2, Ticket.status == CLOSED))
    assert h.double.world.servers[d.server_id]["categories"][0]["channels"] == [third.channel_id]


async def test_a_close_interrupted_by_a_crash_is_finished_later(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    await h.command(d.alice, "!ticket")
    t = await ticket_no(1)
    # The process died right after winning the close (status "closing", nothing else done).
    await Ticket.get_pymongo_collection().update_one(
        {"_id": t.id}, {"$set": {"status": "closing", "closer_id": d.mo, "closed_at": t.opened_at - 300}}
    )
    assert await service(h).recover(d.server_id) == 1
    closed = await ticket_no(1)
    assert closed.status == CLOSED and t.channel_id not in h.double.world.channels
    assert any(m.get("attachments") for m in bot_messages(h, d.channels["mod-log"]))
    assert await service(h).recover(d.server_id) == 0


async def test_a_panel_text_longer_than_one_message_is_refused(h: BotHarness) -> None:
    d = h.demo
    await setup_channel_mode(h)
    reply = await h.command(d.ada, "!tickets panel #lounge " + "help " * 400)
    assert "at most 1,900 bytes" in reply["content"]
    assert not bot_messages(h, d.channels["lounge"])
