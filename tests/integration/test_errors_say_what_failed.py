"""An infrastructure failure is reported as one, never turned into a wrong answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from logiq_core.stoat.cache import Cache
from logiq_core.stoat.rest import StoatAPI, StoatUnavailable
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.stoat import StoatDouble, build_demo, new_ulid


async def test_a_503_is_not_an_unknown_user(stoat_double: StoatDouble) -> None:
    demo = build_demo(stoat_double)
    async with StoatAPI(stoat_double.api_url, demo.bot_token, max_retries=1, backoff_seconds=0.01) as api:
        cache = Cache(fetch_user=api.fetch_user)
        assert await cache.ensure_user(new_ulid()) is None  # Stoat says: no such user
        stoat_double.fail_next("GET", r"^/users/", 503, times=2)
        with pytest.raises(StoatUnavailable):
            await cache.ensure_user(demo.member_ids[0])
        known = await cache.ensure_user(demo.member_ids[0])  # Stoat answers again
        assert known is not None and known.id == demo.member_ids[0]


async def test_a_503_while_finding_a_member_is_not_bad_input(tmp_path: Path) -> None:
    # The retries' backoff is not the claim: wait 0.01 s between them, not 0.2 s doubling.
    async with BotHarness(["moderation"], data_dir=tmp_path, rest_backoff_seconds=0.01) as h:
        d = h.demo
        assert h.bot is not None
        h.bot.cache.members[d.server_id].pop(d.member_ids[0], None)  # the kick must fetch them
        h.double.fail_next("GET", rf"^/servers/{d.server_id}/members/{d.member_ids[0]}$", 503, times=10)
        reply = await h.command(d.moderator_id, f"!kick <@{d.member_ids[0]}> spamming")
        assert reply["content"] == "Stoat is not answering right now; try again in a moment."
        assert (d.server_id, d.member_ids[0]) in h.double.world.members
