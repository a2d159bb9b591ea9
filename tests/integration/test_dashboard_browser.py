"""The dashboard's pages in a real browser: Playwright driving the system's headless Chromium.

Screenshots of every page go to ``test-artifacts/dashboard/`` (git-ignored; CI keeps them).
The tests skip only when no Chromium binary exists (``apt install chromium``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from dashboard_support import (
    EVIL_NAME,
    OPS_TOKEN,
    StoredTranscript,
    TranscriptsPlugin,
    TranscriptStore,
    add_member,
    cached_roles,
    dashboard_url,
    dm_link,
    seed_balances,
    seed_giveaway,
    seed_levels,
    web_config,
)
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from logiq_core.stoat.permissions import Permission

CHROMIUM = os.environ.get("LOGIQ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
PHONE = {"width": 390, "height": 844}
pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"no Chromium binary at {CHROMIUM} (apt install chromium)"
    ),
    # One Chromium for the module (starting one is most of a test's time): the tests run on the
    # module's event loop, which the browser's connection belongs to.
    pytest.mark.asyncio(loop_scope="module"),
]


def stable(*features: str) -> dict[str, str]:
    return dict.fromkeys(features, "stable")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


class FreshBrowser:
    """The module's Chromium as one test sees it: every page in a context of its own (no cookie
    or storage shared with another test or page), all closed when the test ends."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []

    async def new_context(self, **options: Any) -> BrowserContext:
        context = await self.browser.new_context(**options)
        self.contexts.append(context)
        return context

    async def new_page(self, **options: Any) -> Page:
        return await (await self.new_context(**options)).new_page()

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def browser(module_browser: Browser) -> AsyncIterator[FreshBrowser]:
    fresh = FreshBrowser(module_browser)
    try:
        yield fresh
    finally:
        await fresh.close()


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def sign_in(h, page: Page, user_id: str) -> None:
    await page.goto(await dm_link(h, user_id))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**/s/{h.demo.server_id}/")


async def test_leaderboards_in_order_with_a_script_name_shown_as_text(logiq_harness, browser):
    async with logiq_harness(["leveling"], rollout=stable("leveling"), web=web_config()) as h:
        d = h.demo
        evil = add_member(h, EVIL_NAME)
        await seed_levels(h, {d.alice: 120, d.bob: 5000, d.carol: 800, evil: 2500})
        await h.command(d.ada, "!dashboard public on")
        page = await browser.new_page(viewport=PHONE)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await page.goto(f"{dashboard_url(h)}/s/{d.server_id}/")
        await screenshot(page, "server-home")
        await page.get_by_role("link", name="Levels").first.click()
        names = await page.locator(".member").all_inner_texts()
        assert names == ["bob", EVIL_NAME, "carol", "alice"]
        assert await page.locator("progress").count() == 4
        await screenshot(page, "leveling-leaderboard")
        assert dialogs == []  # the <script> in the name never ran


async def test_transcript_link_works_once_and_not_for_another_member(logiq_harness, browser):
    plugins = {"transcripts": TranscriptsPlugin()}
    async with logiq_harness(extra_plugins=plugins, web=web_config()) as h:
        d = h.demo
        assert h.bot is not None
        store = h.bot.contexts["transcripts"].get(TranscriptStore)
        html = (
            "<html><body><h1>Ticket t1</h1><p><b>alice</b>: my order never came</p>"
            "<p><b>mo</b>: looking into it</p><script>alert('x')</script></body></html>"
        )
        store.transcripts[(d.server_id, "t1")] = StoredTranscript(html, d.alice, [d.alice], 1.0)

        async def link_for(member: str) -> str:
            reply = await h.command(d.ada, f"!transcript t1 {member}")
            return reply["content"].split("link: ", 1)[1].strip()

        alice = await browser.new_page()
        dialogs: list[str] = []
        alice.on("dialog", lambda dialog: dialogs.append(dialog.message))
        link = await link_for(d.alice)
        await alice.goto(link)
        await alice.get_by_role("button", name="Open").click()
        frame = alice.frame_locator("iframe.transcript")
        await frame.get_by_text("my order never came").wait_for()
        await screenshot(alice, "transcript")
        await alice.goto(link)
        await alice.get_by_role("button", name="Open").click()
        await alice.get_by_text("already used").wait_for()
        assert dialogs == []

        bob_context = await browser.new_context()
        bob = await bob_context.new_page()
        await sign_in(h, bob, d.bob)
        await bob.goto(await link_for(d.alice))
        await bob.get_by_role("button", name="Open").click()
        await bob.get_by_text("made for another member").wait_for()
        await screenshot(bob, "transcript-other-member")
        await bob.goto(await link_for(d.bob))  # a link for bob himself: he is not in the ticket
        await bob.get_by_role("button", name="Open").click()
        await bob.get_by_text("members and staff").wait_for()


async def test_operator_pages_refuse_without_the_token(logiq_harness, browser):
    async with logiq_harness(["leveling"], rollout=stable("leveling"), web=web_config()) as h:
        await h.command(h.demo.alice, "!rank")
        assert h.bot is not None
        await h.bot.metrics.flush()
        page = await browser.new_page()
        response = await page.goto(f"{dashboard_url(h)}/ops/")
        assert response is not None and response.status == 401
        await screenshot(page, "ops-refused")
        await page.get_by_role("link", name="Operator sign-in").click()
        await page.get_by_label("Operator token").fill(OPS_TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Monitor").wait_for()
        assert await page.locator("svg.chart").count() == 2
        await screenshot(page, "ops-monitor")
        with_header = await browser.new_context(extra_http_headers={"Authorization": f"Bearer {OPS_TOKEN}"})
        response = await (await with_header.new_page()).goto(f"{dashboard_url(h)}/ops/")
        assert response is not None and response.status == 200


async def test_demoted_moderator_loses_the_settings_page_at_once(logiq_harness, browser):
    async with logiq_harness(
        ["leveling", "giveaways"],
        rollout=stable("leveling", "giveaways"),
        web=web_config(),
    ) as h:
        d = h.demo
        assert h.bot is not None
        manager = h.double.create_role(d.server_id, "Manager", rank=2, allow=Permission.ManageServer)
        roles = [d.roles["Moderator"], d.roles["Member"]]
        await h.bot.cache.member(d.server_id, d.mo)  # cached, so Stoat's updates to it apply
        h.double.set_member_roles(d.server_id, d.mo, [*roles, manager])
        await h.eventually(lambda: manager in cached_roles(h, d.mo))
        page = await browser.new_page(viewport=PHONE)
        await sign_in(h, page, d.mo)
        await page.get_by_role("link", name="Settings").first.click()
        await page.get_by_role("heading", name="leveling").wait_for()
        await screenshot(page, "manager-settings")
        await page.goto(f"{dashboard_url(h)}/s/{d.server_id}/rollout")
        await page.get_by_role("rowheader", name="leveling").first.wait_for()
        await screenshot(page, "manager-rollout")
        await page.goto(f"{dashboard_url(h)}/s/{d.server_id}/settings")
        h.double.set_member_roles(d.server_id, d.mo, roles)
        await h.eventually(lambda: manager not in cached_roles(h, d.mo))
        response = await page.reload()
        assert response is not None and response.status == 403
        await page.get_by_text("ManageServer").wait_for()
        await screenshot(page, "manager-settings-after-demotion")


async def test_giveaway_results_verify_in_the_page_and_the_economy_board(logiq_harness, browser):
    async with logiq_harness(
        ["giveaways", "economy"], rollout=stable("giveaways", "economy"), web=web_config()
    ) as h:
        d = h.demo
        await seed_giveaway(h, {d.alice: 1, d.bob: 3, d.carol: 2})
        evil = add_member(h, EVIL_NAME)
        await seed_balances(h, {d.alice: 40, d.bob: 7, evil: 90})
        await h.command(d.ada, "!dashboard public on")
        page = await browser.new_page(viewport=PHONE)
        await page.goto(f"{dashboard_url(h)}/s/{d.server_id}/economy/leaderboard")
        assert await page.locator(".member").all_inner_texts() == [EVIL_NAME, "alice", "bob"]
        await screenshot(page, "economy-leaderboard")
        await page.goto(f"{dashboard_url(h)}/s/{d.server_id}/giveaways/results")
        await screenshot(page, "giveaways-results")
        await page.get_by_role("link", name="Verification of #1").click()
        await page.get_by_role("button", name="Verify").click()
        await page.get_by_role("heading", name="Verified").wait_for()
        await screenshot(page, "giveaway-verified")
        seed = page.get_by_label("Seed", exact=True)
        value = await seed.input_value()
        await seed.fill(("0" if value[0] != "0" else "1") + value[1:])
        await page.get_by_role("button", name="Verify").click()
        await page.get_by_role("heading", name="Mismatch").wait_for()
