"""The web dashboard end to end over HTTP: a real bot on the Stoat double with the embedded
storage, its dashboard on a loopback port, driven with aiohttp's client."""

from __future__ import annotations

import dataclasses
import re
import socket
from pathlib import Path

import pytest
from dashboard_support import (
    CSRF,
    EVIL_NAME,
    OPS_TOKEN,
    StoredTranscript,
    TranscriptsPlugin,
    TranscriptStore,
    add_member,
    cached_roles,
    dashboard_url,
    dm_link,
    new_client,
    seed_balances,
    seed_giveaway,
    seed_levels,
    sign_in,
    web_config,
)

from logiq_core.app.web.config import WebConfig, parse_web_config
from logiq_core.framework.errors import ConfigurationError
from logiq_core.plugin import FeatureInfo, Phase, WebPage, hookimpl
from logiq_core.stoat.permissions import Permission


def stable(*features: str) -> dict[str, str]:
    return dict.fromkeys(features, "stable")


ESCAPED = "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"


def member_order(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r'<span class="member">(.*?)</span>', html)]


async def test_leaderboard_lists_members_in_order_and_escapes_names(logiq_harness):
    async with logiq_harness(["leveling"], rollout=stable("leveling"), web=web_config()) as h:
        evil = add_member(h, EVIL_NAME)
        d = h.demo
        await seed_levels(h, {d.alice: 120, d.bob: 5000, d.carol: 800, evil: 2500})
        base, server = dashboard_url(h), d.server_id
        async with new_client() as client:
            async with client.get(f"{base}/s/{server}/leveling/leaderboard") as response:
                assert response.status == 401  # public pages are off by default: members only
            reply = await h.command(d.ada, "!dashboard public on")
            assert "anyone can see" in reply["content"]
            async with client.get(f"{base}/s/{server}/leveling/leaderboard") as response:
                assert response.status == 200
                html = await response.text()
                assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert member_order(html) == ["bob", ESCAPED, "carol", "alice"]
            assert "<script>" not in html
            assert html.count("<progress ") == 4
            reply = await h.command(d.alice, "!dashboard public off")
            assert "ManageServer" in reply["content"]


async def test_economy_leaderboard(logiq_harness):
    async with logiq_harness(["economy"], rollout=stable("economy"), web=web_config()) as h:
        evil = add_member(h, EVIL_NAME)
        d = h.demo
        await seed_balances(h, {d.alice: 40, d.bob: 7, evil: 90})
        await h.command(d.ada, "!dashboard public on")
        async with new_client() as client:
            async with client.get(f"{dashboard_url(h)}/s/{d.server_id}/economy/leaderboard") as response:
                assert response.status == 200
                assert member_order(await response.text()) == [ESCAPED, "alice", "bob"]
            # A page number that is not one (a superscript digit, 5,000 digits) or is past the
            # end shows a page of the board, never an error.
            for page in ("%C2%B2", "9" * 5000, "7"):
                url = f"{dashboard_url(h)}/s/{d.server_id}/economy/leaderboard?page={page}"
                async with client.get(url) as response:
                    assert response.status == 200, page[:10]
                    assert member_order(await response.text()) == [ESCAPED, "alice", "bob"]


async def test_signin_link_works_once_and_settings_need_manage_server(logiq_harness):
    async with logiq_harness(
        ["leveling", "giveaways", "moderation"],
        rollout=stable("leveling", "giveaways", "moderation"),
        web=web_config(),
    ) as h:
        d = h.demo
        base, server = dashboard_url(h), d.server_id
        manager_role = h.double.create_role(server, "Manager", rank=2, allow=Permission.ManageServer)
        roles = [d.roles["Moderator"], d.roles["Member"]]
        await h.bot.cache.member(server, d.mo)  # cached, so Stoat's updates to it apply
        h.double.set_member_roles(server, d.mo, [*roles, manager_role])
        assert h.bot is not None
        await h.eventually(lambda: manager_role in cached_roles(h, d.mo))
        async with new_client() as client:
            link = await dm_link(h, d.mo)
            async with client.get(link) as response:
                token = CSRF.search(await response.text())
            assert token is not None
            async with client.post(link, data={"csrf": "forged"}) as response:
                assert response.status == 403  # no CSRF token, no sign-in
            async with client.post(link, data={"csrf": token.group(1)}, allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"] == f"/s/{server}/"
                cookie = response.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
            async with client.post(link, data={"csrf": token.group(1)}) as response:
                assert response.status == 403
                assert "already used" in await response.text()
            async with client.get(f"{base}/s/{server}/settings") as response:
                assert response.status == 200
                html = await response.text()
                assert "XP per message" in html and "Host role" in html and "Warning decay days" in html
            async with client.get(f"{base}/s/{server}/rollout") as response:
                assert response.status == 200
                assert "internal" in (await response.text()) or "stable" in (await response.text())
            # Demoted: the very next request is refused, with the same session.
            h.double.set_member_roles(server, d.mo, roles)
            await h.eventually(lambda: manager_role not in cached_roles(h, d.mo))
            async with client.get(f"{base}/s/{server}/settings") as response:
                assert response.status == 403
            async with client.get(f"{base}/s/{server}/") as response:
                assert "/settings" not in await response.text()
        async with new_client() as other:
            await sign_in(h, other, d.alice)
            async with other.get(f"{base}/s/{server}/settings") as response:
                assert response.status == 403
            async with other.get(f"{base}/s/{server}/leveling/leaderboard") as response:
                assert response.status == 200  # signed-in members see the public pages
            html = await (await other.get(f"{base}/s/{server}/")).text()
            csrf = CSRF.search(html)
            assert csrf is not None
            async with other.post(f"{base}/signout", data={"csrf": csrf.group(1)}) as response:
                assert response.status == 200
            async with other.get(f"{base}/s/{server}/leveling/leaderboard") as response:
                assert response.status == 401


async def test_transcript_link_opens_once_and_only_for_its_member(logiq_harness):
    plugins = {"transcripts": TranscriptsPlugin()}
    async with logiq_harness(extra_plugins=plugins, web=web_config()) as h:
        d = h.demo
        assert h.bot is not None
        store = h.bot.contexts["transcripts"].get(TranscriptStore)
        html = (
            "<html><body><p>alice: my order never came <b>help</b></p><script>alert(1)</script></body></html>"
        )
        store.transcripts[(d.server_id, "t1")] = StoredTranscript(html, d.alice, [d.alice], 1.0)

        async def link_for(member: str) -> str:
            reply = await h.command(d.ada, f"!transcript t1 {member}")
            found = re.search(r"(http://\S+)", reply["content"])
            assert found is not None
            return found.group(1)

        async def open_link(client, link: str) -> tuple[int, str]:
            async with client.get(link) as response:
                token = CSRF.search(await response.text())
                assert token is not None, await response.text()
            async with client.post(link, data={"csrf": token.group(1)}) as response:
                return response.status, await response.text()

        async with new_client() as client:
            link = await link_for(d.alice)
            status, page = await open_link(client, link)
            assert status == 200
            assert 'sandbox referrerpolicy="no-referrer" srcdoc="&lt;html&gt;' in page
            status, page = await open_link(client, link)
            assert status == 403 and "already used" in page
        async with new_client() as client:  # a link made for bob, who is not in the ticket
            status, page = await open_link(client, await link_for(d.bob))
            assert status == 403 and "for the ticket" in page
        async with new_client() as client:  # bob signed in, holding alice's link
            await sign_in(h, client, d.bob)
            status, page = await open_link(client, await link_for(d.alice))
            assert status == 403 and "another member" in page
        async with new_client() as client:  # staff (ManageMessages) may read it
            status, page = await open_link(client, await link_for(d.mo))
            assert status == 200
        async with new_client() as client:  # a forged link
            async with client.get(f"{dashboard_url(h)}/l/eyJrIjoicGFnZSJ9.AAAA") as response:
                assert response.status == 403


async def test_ops_pages_need_the_operator_token(logiq_harness):
    async with logiq_harness(["leveling"], rollout=stable("leveling"), web=web_config()) as h:
        d = h.demo
        await h.command(d.alice, "!rank")
        assert h.bot is not None
        await h.bot.metrics.flush()
        base = dashboard_url(h)
        async with new_client() as client:
            async with client.get(f"{base}/ops/") as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
            async with client.get(f"{base}/ops/", headers={"Authorization": "Bearer wrong"}) as response:
                assert response.status == 401
            async with client.get(
                f"{base}/ops/", headers={"Authorization": f"Bearer {OPS_TOKEN}"}
            ) as response:
                assert response.status == 200
                html = await response.text()
            assert "<svg" in html and "Error rate" in html and "leveling" in html
            # the !rank above was counted (the command, and the XP listener seeing its message)
            [(errors, invocations)] = re.findall(r"\((\d+) errors in (\d+) invocations\)", html)
            assert errors == "0" and int(invocations) >= 1
            form = await (await client.get(f"{base}/ops/signin")).text()
            token = CSRF.search(form)
            assert token is not None
            async with client.post(f"{base}/ops/signin", data={"csrf": token.group(1), "token": "nope"}) as r:
                assert r.status == 401
            async with client.post(
                f"{base}/ops/signin", data={"csrf": token.group(1), "token": OPS_TOKEN}
            ) as r:
                assert r.status == 200 and "Monitor" in await r.text()


async def test_giveaway_results_verify_on_the_server(logiq_harness):
    async with logiq_harness(["giveaways"], rollout=stable("giveaways"), web=web_config()) as h:
        d = h.demo
        g = await seed_giveaway(h, {d.alice: 1, d.bob: 3, d.carol: 2})
        await h.command(d.ada, "!dashboard public on")
        base = f"{dashboard_url(h)}/s/{d.server_id}/giveaways/results"
        async with new_client() as client:
            html = await (await client.get(base)).text()
            assert "A shiny stoat" in html and "?number=1" in html
            html = await (await client.get(f"{base}?number=1")).text()
            assert g.seed in html and g.entrants_hash in html
            token = CSRF.search(html)
            assert token is not None
            fields = {
                "csrf": token.group(1),
                "number": "1",
                "seed": g.seed,
                "commitment": g.commitment,
                "hash": g.entrants_hash,
                "list": "".join(f"{e.user_id} {e.weight}\n" for e in g.entrants),
            }
            async with client.post(base, data=fields) as response:
                assert response.status == 200
                assert "<h2>Verified</h2>" in await response.text()
            tampered = {**fields, "list": fields["list"].replace(" 3\n", " 30\n")}
            async with client.post(base, data=tampered) as response:
                assert "<h2>Mismatch</h2>" in await response.text()
            async with client.post(base, data={**fields, "csrf": ""}) as response:
                assert response.status == 403


async def test_dashboard_off_by_default_and_a_taken_port_is_one_error(logiq_harness, tmp_path: Path):
    async with logiq_harness(["leveling"]) as h:
        reply = await h.command(h.demo.alice, "!dashboard")
        assert "not turned on" in reply["content"]
        assert h.bot is not None and h.bot.web is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = WebConfig(enabled=True, host="127.0.0.1", port=port)
        async with logiq_harness(["leveling"], web=config) as h:
            assert h.bot is not None and h.bot.web is None  # the bot runs on without it
            reply = await h.command(h.demo.alice, "!ping")
            assert "Pong" in reply["content"]


def test_web_config_parsing(tmp_path: Path):
    assert parse_web_config({}, None).enabled is False
    config = parse_web_config({"web": {"public_url": "https://x.example", "operator_token_env": "OPS"}}, None)
    assert config.enabled and config.listen == "127.0.0.1:8080" and config.base_url() == "https://x.example"
    assert parse_web_config({"web": {"listen": "0.0.0.0:9000"}}, None).base_url() == "http://127.0.0.1:9000"
    for bad in ({"listen": "nope"}, {"public_url": "ftp://x"}, {"colour": "red"}, {"session_hours": 0}):
        with pytest.raises(ConfigurationError):
            parse_web_config({"web": bad}, None)


async def broken_page(request):
    raise RuntimeError("this page is broken")


class BrokenPagePlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(description="A broken page (test)", default_phase=Phase.STABLE)

    @hookimpl
    def logiq_register_web_pages(self, register) -> None:
        register(WebPage("broken", "Broken", broken_page))


async def test_a_failing_page_is_a_500_and_the_bot_answers_on(logiq_harness):
    async with logiq_harness(extra_plugins={"broken": BrokenPagePlugin()}, web=web_config()) as h:
        d = h.demo
        await h.command(d.ada, "!dashboard public on")
        async with new_client() as client:
            async with client.get(f"{dashboard_url(h)}/s/{d.server_id}/broken/broken") as response:
                assert response.status == 500
                assert "it was logged" in await response.text()
            async with client.get(f"{dashboard_url(h)}/s/NOTASERVER/") as response:
                assert response.status == 404
        assert "Pong" in (await h.command(d.alice, "!ping"))["content"]


async def test_cookies_are_secure_when_the_dashboard_is_served_over_https(logiq_harness):
    config = dataclasses.replace(web_config(), public_url="https://dash.example.org")
    async with logiq_harness(["leveling"], web=config) as h:
        assert h.bot is not None and h.bot.web is not None
        link = await dm_link(h, h.demo.alice)
        assert link.startswith("https://dash.example.org/signin/")
        local = link.replace("https://dash.example.org", f"http://127.0.0.1:{h.bot.web.port}")
        async with new_client() as client:
            page = await client.get(local)
            assert "Secure" in page.headers["Set-Cookie"]  # the CSRF cookie too
            token = CSRF.search(await page.text())
            assert token is not None
            # Over plain HTTP a client keeps Secure cookies to itself: hand it back as HTTPS would.
            cookie = {"Cookie": f"logiq_csrf={page.cookies['logiq_csrf'].value}"}
            data = {"csrf": token.group(1)}
            async with client.post(local, data=data, headers=cookie, allow_redirects=False) as response:
                assert response.status == 303
                assert "Secure" in response.headers["Set-Cookie"]
