"""The dashboard's web server: an aiohttp application on the bot's own event loop.

:class:`Dashboard` owns the listening socket, the templates and the link signer; the pages are
in :mod:`logiq_core.app.web.views` (members, managers, plugins' pages) and
:mod:`logiq_core.app.web.ops` (operators). Nothing here can stop the bot: a page that fails is
logged and answered with a 500, every request has a deadline, and a server that cannot start
is one error line while the bot runs on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from loguru import logger

from logiq_core.app.web.config import WebConfig
from logiq_core.app.web.sessions import CSRF_COOKIE, forget_expired_sessions, is_https, new_csrf_cookie
from logiq_core.app.web.tokens import LinkSigner, forget_expired_links, load_secret
from logiq_core.framework.errors import LogiqError
from logiq_core.framework.tasks import cancel_and_wait, raise_if_cancel_was_swallowed
from logiq_core.framework.web.pages import WebPage, WebSettings

if TYPE_CHECKING:
    from logiq_core.app.bot import Bot

_log = logger.bind(component="web")
TEMPLATES = Path(__file__).parent / "templates"
REQUEST_DEADLINE = 15.0
CONCURRENT_REQUESTS = 32  # pages rendered at once; more wait their turn (the bot's events come first)
CLEANUP_SECONDS = 600.0
BOT_KEY = web.AppKey("dashboard", object)
SECURITY_HEADERS = {
    # Member text can never run: no script runs but the dashboard's own (none, or the few
    # lines a plugin's page ships under 'self'), nothing is framed, forms post only here.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; frame-src 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a link's token never leaks to another site
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class DashboardError(LogiqError):
    """The dashboard cannot start (the message says what to change)."""


class Dashboard:
    """The web dashboard of one bot."""

    def __init__(self, bot: Bot, config: WebConfig) -> None:
        self.bot = bot
        self.config = config
        self.signer: LinkSigner | None = None
        self.runner: web.AppRunner | None = None
        self.port: int | None = None
        self.app: web.Application | None = None
        self._cleanup: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(CONCURRENT_REQUESTS)

    # --- what plugins registered ----------------------------------------------------------------
    def pages(self) -> dict[str, dict[str, WebPage]]:
        """feature -> page name -> page, for loaded plugins (failed ones registered nothing)."""
        found: dict[str, dict[str, WebPage]] = {}
        for record in self.bot.plugins.loaded():
            for item in record.web_items:
                if isinstance(item, WebPage):
                    found.setdefault(record.name, {})[item.name] = item
        return found

    def settings_readers(self) -> dict[str, WebSettings]:
        found: dict[str, WebSettings] = {}
        for record in self.bot.plugins.loaded():
            for item in record.web_items:
                if isinstance(item, WebSettings):
                    found[record.name] = item
        return found

    @property
    def base_url(self) -> str:
        return self.config.base_url(self.port)

    # --- links ----------------------------------------------------------------------------------
    def signin_link(self, server_id: str, user_id: str) -> str:
        assert self.signer is not None
        token = self.signer.make(
            "signin", user_id=user_id, server_id=server_id, ttl_seconds=self.config.link_minutes * 60
        )
        return f"{self.base_url}/signin/{token}"

    def page_link(
        self,
        feature: str,
        page: str,
        *,
        server_id: str,
        user_id: str,
        params: dict[str, Any],
        ttl_seconds: float | None = None,
    ) -> str:
        assert self.signer is not None
        ttl = ttl_seconds if ttl_seconds is not None else self.config.link_minutes * 60
        token = self.signer.make(
            "page", user_id=user_id, server_id=server_id, ttl_seconds=ttl, f=feature, p=page, a=params
        )
        return f"{self.base_url}/l/{token}"

    # --- lifecycle ------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        from logiq_core.app.web import ops, views

        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        app[BOT_KEY] = self
        loaders: dict[str, jinja2.BaseLoader] = {}
        for feature, pages in self.pages().items():
            folders = sorted({str(p.templates) for p in pages.values() if p.templates is not None})
            if folders:
                loaders[feature] = jinja2.FileSystemLoader(folders)
        environment = aiohttp_jinja2.setup(
            app,
            loader=jinja2.ChoiceLoader(
                [jinja2.FileSystemLoader(str(TEMPLATES)), jinja2.PrefixLoader(loaders)]
            ),
            autoescape=True,  # every {{ value }} is escaped: member text shows as text
            undefined=jinja2.StrictUndefined,
        )
        environment.filters["thousands"] = lambda n: f"{int(n):,}"
        views.add_routes(app)
        ops.add_routes(app)
        return app

    async def start(self) -> None:
        """Listen on ``[web] listen``; raises :class:`DashboardError` with one clear line."""
        try:
            self.signer = LinkSigner(await load_secret())
        except Exception as exc:
            raise DashboardError(f"the dashboard cannot read its signing key from storage: {exc}") from None
        self.app = self.build_app()
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            self.runner = None
            reason = exc.strerror or str(exc)
            raise DashboardError(
                f"the dashboard cannot listen on {self.config.listen} ({reason}); set [web] listen "
                "in plugins.toml to a free host:port"
            ) from None
        addresses = self.runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.config.port
        self._cleanup = asyncio.create_task(self._forget_expired(), name="web-cleanup")
        _log.info("dashboard at {}", self.base_url)

    async def stop(self) -> None:
        if self._cleanup is not None:
            await cancel_and_wait([self._cleanup], what="dashboard cleanup")
            self._cleanup = None
        if self.runner is not None:
            with contextlib.suppress(Exception):
                await self.runner.cleanup()
            self.runner = None

    async def _forget_expired(self) -> None:
        while True:
            try:
                await forget_expired_sessions()
                await forget_expired_links()
            except Exception as exc:
                _log.warning("could not forget expired sessions and links: {}", exc)
            raise_if_cancel_was_swallowed()  # by a storage call above
            await asyncio.sleep(CLEANUP_SECONDS)

    # --- every request --------------------------------------------------------------------------
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.monotonic()
        made_csrf: list[str] = []
        new_csrf_cookie.set(made_csrf)
        try:
            async with asyncio.timeout(REQUEST_DEADLINE), self._slots:
                response = await handler(request)
        except web.HTTPException as exc:  # raised by aiohttp or a page: answer with our page
            if exc.status >= 400:
                response = error_page(request, exc.status, exc.text or exc.reason)
            else:
                response = web.Response(status=exc.status, headers=exc.headers)
        except TimeoutError:
            _log.warning(
                "{} {} took longer than {:.0f}s",
                request.method,
                loggable_path(request.path),
                REQUEST_DEADLINE,
            )
            response = error_page(request, 503, "This page took too long. Try again in a moment.")
        except Exception as exc:
            _log.opt(exception=exc).error(
                "{} {} failed: {}", request.method, loggable_path(request.path), exc
            )
            response = error_page(request, 500, "Something went wrong on this page; it was logged.")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if made_csrf:
            response.set_cookie(
                CSRF_COOKIE,
                made_csrf[0],
                httponly=True,
                samesite="Strict",
                path="/",
                max_age=3600,
                secure=is_https(request, self.config.public_url),
            )
        _log.debug(
            "{} {} {} {:.0f} ms",
            request.method,
            loggable_path(request.path),
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response


def dashboard_of(request: web.Request) -> Dashboard:
    found = request.app[BOT_KEY]
    assert isinstance(found, Dashboard)
    return found


def loggable_path(path: str) -> str:
    """The path without a link's token (links sign people in: they never go to the log)."""
    for prefix in ("/signin/", "/l/"):
        if path.startswith(prefix):
            return prefix + "…"
    return path


def redirect(location: str) -> web.Response:
    """A 303 to ``location`` (a Response, so cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": location})


def error_page(request: web.Request, status: int, message: str, **extra: Any) -> web.Response:
    from logiq_core.app.web.views import base_context

    title = {401: "Sign-in needed", 403: "Not allowed", 404: "Not found"}.get(status, "Error")
    server_id = extra.pop("server_id", None)
    authenticate = extra.pop("www_authenticate", None)
    try:
        context = base_context(
            request,
            server_id,
            None,
            title=title,
            message=message,
            status=status,
            ops_signin=bool(extra.pop("ops_signin", False)),
            **extra,
        )
        response = aiohttp_jinja2.render_template("message.html", request, context, status=status)
    except Exception as exc:  # the templates themselves failed: plain text, still not markup
        _log.opt(exception=exc).error("the error page could not be rendered")
        response = web.Response(text=message, status=status)
    if authenticate is not None:
        response.headers["WWW-Authenticate"] = str(authenticate)
    return response


async def start_dashboard(bot: Bot, config: WebConfig) -> Dashboard | None:
    """Start the dashboard if ``[web]`` turns it on; on failure log one line and go on without."""
    if not config.enabled:
        return None
    dashboard = Dashboard(bot, config)
    try:
        await dashboard.start()
    except DashboardError as exc:
        _log.error("{}", exc)
        return None
    except Exception as exc:
        _log.error("the dashboard could not start: {}: {}", type(exc).__name__, exc)
        await dashboard.stop()
        return None
    return dashboard
