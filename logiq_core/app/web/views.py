"""Members' and managers' pages: sign-in by link, a server's pages, plugins' pages.

Every page works out the visitor afresh: the session says who signed in, the bot's cache says
what they may see now (:mod:`logiq_core.framework.web.access`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from logiq_core.app.web.server import Dashboard, dashboard_of, error_page, redirect
from logiq_core.app.web.sessions import (
    CSRF_FIELD,
    Session,
    anonymous_csrf,
    create_session,
    csrf_ok,
    end_session,
    read_session,
)
from logiq_core.app.web.tokens import LinkError
from logiq_core.framework.web.access import server_permissions_now
from logiq_core.framework.web.pages import Access, PageRequest, Render, WebError, WebPage
from logiq_core.framework.web.public import is_public
from logiq_core.stoat.permissions import Permission

MANAGER_PAGES = (("settings", "Settings"), ("rollout", "Rollout"))


@dataclass
class Viewer:
    """The visitor as seen on one server, now."""

    session: Session | None
    user_id: str | None = None  # a member of this server, signed in
    is_manager: bool = False
    other_server: str | None = None  # signed in, but for another server
    nav: list[tuple[str, str]] = field(default_factory=list)

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session is not None else ""


def user_name(dashboard: Dashboard, server_id: str, user_id: str) -> str:
    cache = dashboard.bot.cache
    member = cache.cached_member(server_id, user_id)
    if member is not None and member.nickname:
        return member.nickname
    user = cache.users.get(user_id)
    return user.username if user is not None else user_id


def server_name(dashboard: Dashboard, server_id: str) -> str:
    server = dashboard.bot.cache.servers.get(server_id)
    return server.name if server is not None else server_id


async def viewer_on(request: web.Request, server_id: str) -> Viewer:
    dashboard = dashboard_of(request)
    session = await read_session(request, "member")
    if session is None:
        return Viewer(None)
    if session.server_id != server_id:
        return Viewer(session, other_server=session.server_id)
    held = await server_permissions_now(dashboard.bot.cache, server_id, session.user_id)
    if held is None:  # left, or was kicked: the session is worth nothing here now
        return Viewer(session)
    return Viewer(session, session.user_id, bool(held & Permission.ManageServer))


def can_open(page: WebPage, viewer: Viewer, public: bool) -> bool:
    if page.access is Access.PUBLIC:
        return public or viewer.user_id is not None
    if page.access is Access.MEMBER:
        return viewer.user_id is not None
    if page.access is Access.MANAGER:
        return viewer.is_manager
    return False  # LINK pages open only through their link


def navigation(dashboard: Dashboard, server_id: str, viewer: Viewer, public: bool) -> list[tuple[str, str]]:
    items = []
    for feature, pages in dashboard.pages().items():
        if not dashboard.bot.gate.is_enabled(feature, server_id):
            continue
        for page in pages.values():
            if can_open(page, viewer, public):
                items.append((page.title, f"/s/{server_id}/{feature}/{page.name}"))
    if viewer.is_manager:
        items.extend((title, f"/s/{server_id}/{name}") for name, title in MANAGER_PAGES)
    return items


def base_context(
    request: web.Request, server_id: str | None, viewer: Viewer | None, **values: Any
) -> dict[str, Any]:
    dashboard = dashboard_of(request)
    session = viewer.session if viewer is not None else None
    signed_in_as = None
    if session is not None and session.user_id:
        signed_in_as = user_name(dashboard, session.server_id, session.user_id)
    return {
        "server_id": server_id,
        "server_name": server_name(dashboard, server_id) if server_id else None,
        "nav": viewer.nav if viewer is not None else [],
        "csrf": viewer.csrf if viewer is not None and viewer.session else anonymous_csrf(request),
        "csrf_field": CSRF_FIELD,
        "signed_in_as": signed_in_as,
        "path": request.path,
        **values,
    }


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def known_server(request: web.Request) -> str:
    server_id = request.match_info["server"]
    if server_id not in dashboard_of(request).bot.cache.servers:
        raise web.HTTPNotFound(text="The bot is not on this server.")
    return server_id


async def checked_form(request: web.Request, session: Session | None) -> dict[str, str]:
    form = {key: str(value) for key, value in (await request.post()).items() if isinstance(value, str)}
    if not csrf_ok(request, form.get(CSRF_FIELD), session):
        raise web.HTTPForbidden(text="This form expired or did not come from this page: reload and retry.")
    return form


# --- pages ---------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.Response:
    session = await read_session(request, "member")
    viewer = Viewer(session)
    server_id = session.server_id if session is not None else None
    return render(
        request,
        "index.html",
        base_context(request, None, viewer, title="Logiq dashboard", home_server=server_id),
    )


async def signin_form(request: web.Request) -> web.Response:
    """The link from ``!dashboard`` opens this page; the button (a POST) uses the link, so a
    chat's link preview fetching the address does not spend it."""
    dashboard = dashboard_of(request)
    assert dashboard.signer is not None
    try:
        body = dashboard.signer.read(request.match_info["token"], "signin")
    except LinkError as exc:
        return error_page(request, 403, str(exc))
    context = base_context(
        request, body["s"], None, title="Sign in", who=user_name(dashboard, body["s"], body["u"])
    )
    return render(request, "signin.html", context)


async def signin(request: web.Request) -> web.StreamResponse:
    dashboard = dashboard_of(request)
    assert dashboard.signer is not None
    await checked_form(request, None)
    try:
        body = dashboard.signer.read(request.match_info["token"], "signin")
        await dashboard.signer.use(body)
    except LinkError as exc:
        return error_page(request, 403, str(exc))
    response = redirect(f"/s/{body['s']}/")
    await create_session(
        response,
        request,
        kind="member",
        hours=dashboard.config.session_hours,
        public_url=dashboard.config.public_url,
        user_id=body["u"],
        server_id=body["s"],
    )
    return response


async def signout(request: web.Request) -> web.StreamResponse:
    session = await read_session(request, "member")
    await checked_form(request, session)
    response = redirect("/")
    await end_session(request, response, "member")
    return response


async def server_home(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    server_id = known_server(request)
    viewer = await viewer_on(request, server_id)
    public = await is_public(server_id)
    viewer.nav = navigation(dashboard, server_id, viewer, public)
    context = base_context(
        request,
        server_id,
        viewer,
        title=server_name(dashboard, server_id),
        public=public,
        is_manager=viewer.is_manager,
        member=viewer.user_id is not None,
        other_server=viewer.other_server,
    )
    return render(request, "server.html", context)


async def require_manager(request: web.Request) -> tuple[str, Viewer]:
    dashboard = dashboard_of(request)
    server_id = known_server(request)
    viewer = await viewer_on(request, server_id)
    if viewer.user_id is None:
        raise SignInNeeded(server_id)
    if not viewer.is_manager:
        raise web.HTTPForbidden(text="This page is for members with the ManageServer permission.")
    viewer.nav = navigation(dashboard, server_id, viewer, await is_public(server_id))
    return server_id, viewer


class SignInNeeded(Exception):
    def __init__(self, server_id: str) -> None:
        self.server_id = server_id


def sign_in_needed(request: web.Request, server_id: str) -> web.Response:
    return error_page(
        request,
        401,
        "Sign in first: type !dashboard on the server and open the link the bot sends you by direct message.",
        server_id=server_id,
    )


async def settings_page(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    try:
        server_id, viewer = await require_manager(request)
    except SignInNeeded as exc:
        return sign_in_needed(request, exc.server_id)
    readers = dashboard.settings_readers()
    sections = []
    for record in dashboard.bot.plugins.loaded():
        feature = record.name
        enabled = dashboard.bot.gate.is_enabled(feature, server_id)
        lines: list[tuple[str, str]] = []
        error = None
        reader = readers.get(feature)
        context = dashboard.bot.contexts.get(feature)
        if reader is not None and context is not None and enabled:
            try:
                lines = list(
                    await reader.read(page_request(request, context, server_id, feature, viewer, {}))
                )
            except Exception as exc:
                context.logger.opt(exception=exc).warning("dashboard settings failed")
                error = "could not be read (logged)"
        sections.append(
            {
                "feature": feature,
                "enabled": enabled,
                "lines": lines,
                "error": error,
                "description": record.feature.description if record.feature else "",
            }
        )
    context_vars = base_context(request, server_id, viewer, title="Settings", sections=sections)
    return render(request, "settings.html", context_vars)


async def rollout_page(request: web.Request) -> web.Response:
    from logiq_core.framework.rollout.status import describe

    dashboard = dashboard_of(request)
    try:
        server_id, viewer = await require_manager(request)
    except SignInNeeded as exc:
        return sign_in_needed(request, exc.server_id)
    gate = dashboard.bot.gate
    installed = {record.name for record in dashboard.bot.plugins.loaded()}
    rows = []
    for feature, state in gate.snapshot.features.items():
        decision = gate.explain(feature, server_id)
        rows.append(
            {
                "feature": feature,
                "state": describe(state),
                "enabled": decision.enabled,
                "reason": decision.reason,
                "installed": feature in installed,
            }
        )
    context = base_context(
        request,
        server_id,
        viewer,
        title="Rollout",
        rows=rows,
        internal=server_id in gate.snapshot.internal_servers,
    )
    return render(request, "rollout.html", context)


def page_request(
    request: web.Request,
    context: Any,
    server_id: str,
    feature: str,
    viewer: Viewer | None,
    form: dict[str, str],
    *,
    viewer_id: str | None = None,
    link: dict[str, Any] | None = None,
) -> PageRequest:
    return PageRequest(
        context=context,
        server_id=server_id,
        feature=feature,
        method=request.method,
        query=dict(request.query),
        form={k: v for k, v in form.items() if k != CSRF_FIELD},
        viewer_id=viewer_id if viewer_id is not None else (viewer.user_id if viewer else None),
        is_manager=bool(viewer and viewer.is_manager),
        link=link or {},
    )


async def run_page(
    request: web.Request, page: WebPage, page_req: PageRequest, viewer: Viewer | None, server_id: str
) -> web.Response:
    try:
        result = await page.handler(page_req)
    except WebError as exc:
        return error_page(request, exc.status, exc.message)
    if not isinstance(result, Render):
        raise TypeError(f"page {page_req.feature}/{page.name} returned {type(result).__name__}, not Render")
    context = base_context(
        request, server_id, viewer, title=result.title or page.title, **dict(result.context)
    )
    context.setdefault("page_action", request.path)
    template = result.template
    template = template[5:] if template.startswith("core:") else f"{page_req.feature}/{template}"
    return render(request, template, context)


async def plugin_page(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    server_id = known_server(request)
    feature, name = request.match_info["feature"], request.match_info["page"]
    page = dashboard.pages().get(feature, {}).get(name)
    context = dashboard.bot.contexts.get(feature)
    if page is None or context is None or page.access is Access.LINK:
        return error_page(request, 404, "There is no such page.")
    if request.method == "POST" and not page.post:
        raise web.HTTPMethodNotAllowed(request.method, ["GET"])
    if not dashboard.bot.gate.is_enabled(feature, server_id):
        return error_page(request, 404, f"{feature} is not enabled on this server.")
    viewer = await viewer_on(request, server_id)
    public = await is_public(server_id)
    if not can_open(page, viewer, public):
        if viewer.user_id is None:
            return sign_in_needed(request, server_id)
        return error_page(request, 403, "This page is for members with the ManageServer permission.")
    viewer.nav = navigation(dashboard, server_id, viewer, public)
    form = await checked_form(request, viewer.session) if request.method == "POST" else {}
    return await run_page(
        request, page, page_request(request, context, server_id, feature, viewer, form), viewer, server_id
    )


def _link_target(request: web.Request) -> tuple[dict[str, Any], WebPage, Any]:
    dashboard = dashboard_of(request)
    assert dashboard.signer is not None
    body = dashboard.signer.read(request.match_info["token"], "page")
    page = dashboard.pages().get(str(body.get("f")), {}).get(str(body.get("p")))
    context = dashboard.bot.contexts.get(str(body.get("f")))
    if page is None or context is None or page.access is not Access.LINK:
        raise LinkError("This link opens a page that no longer exists.")
    return body, page, context


async def link_form(request: web.Request) -> web.Response:
    """A signed page link shows a button first (a POST spends it), like the sign-in link."""
    try:
        body, page, _ = _link_target(request)
    except LinkError as exc:
        return error_page(request, 403, str(exc))
    context = base_context(request, body["s"], None, title=page.title, page_title=page.title)
    return render(request, "link.html", context)


async def link_page(request: web.Request) -> web.Response:
    dashboard = dashboard_of(request)
    assert dashboard.signer is not None
    session = await read_session(request, "member")
    await checked_form(request, None)
    try:
        body, page, context = _link_target(request)
        server_id, user_id = str(body["s"]), str(body["u"])
        if session is not None and session.user_id and session.user_id != user_id:
            # Signed in as someone else: this link was sent to another member.
            return error_page(request, 403, "This link was made for another member.")
        if not dashboard.bot.gate.is_enabled(page_feature(body), server_id):
            return error_page(request, 404, "This page is not available on this server now.")
        held = await server_permissions_now(dashboard.bot.cache, server_id, user_id)
        if held is None:
            return error_page(request, 403, "This link is for a member of the server.")
        await dashboard.signer.use(body)
    except LinkError as exc:
        return error_page(request, 403, str(exc))
    viewer = Viewer(None)
    viewer.is_manager = bool(held and held & Permission.ManageServer)
    params = body.get("a") if isinstance(body.get("a"), dict) else {}
    page_req = page_request(
        request, context, server_id, page_feature(body), viewer, {}, viewer_id=user_id, link=params
    )
    return await run_page(request, page, page_req, viewer, server_id)


def page_feature(body: dict[str, Any]) -> str:
    return str(body.get("f"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/favicon.ico", _no_content)
    app.router.add_get("/signin/{token}", signin_form)
    app.router.add_post("/signin/{token}", signin)
    app.router.add_post("/signout", signout)
    app.router.add_get("/l/{token}", link_form)
    app.router.add_post("/l/{token}", link_page)
    app.router.add_get("/s/{server}/", server_home)
    app.router.add_get("/s/{server}", _slash)
    app.router.add_get("/s/{server}/settings", settings_page)
    app.router.add_get("/s/{server}/rollout", rollout_page)
    app.router.add_route("*", "/s/{server}/{feature}/{page}", plugin_page)


async def _no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"/s/{request.match_info['server']}/")
