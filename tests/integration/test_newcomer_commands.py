"""Commands as a newcomer meets them: help for what they may not use, unknown commands, hints."""

from __future__ import annotations

from pathlib import Path

from logiq_core.testing.harness import BotHarness


async def assert_no_hint(h: BotHarness, since: int) -> None:
    """No "No command" answer among the bot's messages after its first ``since``, once the bot
    has handled everything said so far and finished what it started (``settle``: a barrier, not
    a window a slow hint could arrive after)."""
    await h.settle()
    hints = [m for m in h.double.sent_messages[since:] if str(m.get("content", "")).startswith("No command")]
    assert not hints, f"unexpected hint: {hints[0]['content']}"


async def test_help_says_a_command_exists_and_which_permission_it_needs(tmp_path: Path) -> None:
    async with BotHarness(["verification", "moderation"], data_dir=tmp_path) as h:
        d = h.demo
        reply = await h.command(d.moderator_id, "!help verification")
        assert reply["content"] == (
            "`verification` exists, but it needs the ManageServer permission, which you do not have here."
        )
        reply = await h.command(d.owner_id, "!help verification")
        assert reply["content"].startswith("**verification**")
        reply = await h.command(d.member_ids[0], "!help frobnicate")
        assert reply["content"].startswith("No command `frobnicate` here.")


async def test_an_unknown_command_gets_one_short_hint_a_minute(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        reply = await h.command(d.moderator_id, "!kik @bob")
        assert reply["content"] == "No command `kik`; did you mean `!kick`?"
        reply = await h.command(d.member_ids[0], "!frobnicate")
        assert reply["content"] == "No command `frobnicate`; `!help` lists the commands you can use."
        # A member only gets hints about commands they may use.
        reply = await h.command(d.member_ids[1], "!kik @carol")
        assert reply["content"] == "No command `kik`; `!help` lists the commands you can use."
        # Once a minute per member: the same member's next unknown command is met with silence.
        sent = len(h.double.sent_messages)
        await h.say(d.member_ids[0], "!frobnicate again")
        await h.say(d.member_ids[2], "!! not a command")
        await h.say(d.member_ids[2], "! hello")
        await assert_no_hint(h, since=sent)


async def test_hints_can_be_turned_off_per_server(tmp_path: Path) -> None:
    async with BotHarness(["moderation"], data_dir=tmp_path) as h:
        d = h.demo
        reply = await h.command(d.member_ids[0], "!hints off")
        assert reply["content"] == "You need the ManageServer permission to change hints."
        reply = await h.command(d.owner_id, "!hints off")
        assert reply["content"].startswith("Done: I stay silent on unknown commands here")
        sent = len(h.double.sent_messages)
        await h.say(d.member_ids[1], "!frobnicate")
        await assert_no_hint(h, since=sent)
        # Stored: a restarted bot stays silent too.
        await h.restart()
        reply = await h.command(d.owner_id, "!hints")
        assert reply["content"].startswith("Hints for unknown commands are off here")
