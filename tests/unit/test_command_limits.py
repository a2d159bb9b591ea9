"""Cooldowns and notices forget what has expired: the tables stay bounded."""

from __future__ import annotations

from logiq_core.framework.commands.limits import PRUNE_EVERY, Cooldowns, Notices


def test_expired_cooldowns_are_dropped() -> None:
    cooldowns = Cooldowns()
    for member in range(PRUNE_EVERY * 3):
        cooldowns.hold(("daily", "server", str(member)), 5.0, now=float(member))
    assert (
        cooldowns.remaining(("daily", "server", str(PRUNE_EVERY * 3 - 1)), now=PRUNE_EVERY * 3 - 1.0) == 5.0
    )
    assert cooldowns.remaining(("daily", "server", "0"), now=PRUNE_EVERY * 3.0) == 0.0
    assert len(cooldowns) <= PRUNE_EVERY + 5  # only the last ones are still running


def test_a_notice_is_given_once_per_interval() -> None:
    notices = Notices(60.0)
    assert notices.first(("server", "member", "topic"))
    assert not notices.first(("server", "member", "topic"))
    assert notices.first(("server", "member", "another topic"))
