"""What a plugin hands the dashboard: its pages and its settings, through one hook.

::

    from logiq_core.plugin import Access, PageRequest, Render, WebPage, WebSettings, hookimpl

    async def leaderboard(request: PageRequest) -> Render:
        rows = await request.context.get(MyService).top(request.server_id)
        return Render("leaderboard.html", {"rows": rows})

    @hookimpl
    def logiq_register_web_pages(register) -> None:
        register(WebPage("leaderboard", "Leaderboard", leaderboard, templates=TEMPLATES))

A page lives at ``/s/<server id>/<feature>/<name>``. ``Render`` names a Jinja template in the
page's ``templates`` folder (autoescaped: member text is always shown as text), which usually
starts with ``{% extends "base.html" %}`` and fills ``{% block content %}``. Who may open the
page is its :class:`Access`; the core checks it (from the bot's cache, on every request) before
the handler runs, and only where the rollout gate enables the feature on that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logiq_core.stoat.rest import StoatAPIError

if TYPE_CHECKING:
    from logiq_core.framework.context import PluginContext

PAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
LEARN_NAMES_SECONDS = 3.0
"""How long a page may spend learning members' names before showing the rest as ids."""


class Access(StrEnum):
    """Who may open a page."""

    PUBLIC = "public"
    """Anyone, on servers whose managers turned public pages on (``!dashboard public on``);
    elsewhere a signed-in member of the server."""
    MEMBER = "member"
    """A member of the server, signed in through ``!dashboard``."""
    MANAGER = "manager"
    """A signed-in member who has ManageServer there now."""
    LINK = "link"
    """Only through a signed, single-use link the plugin made with :func:`dashboard_link` for
    one member (e.g. a ticket transcript); the handler checks that member may see it."""


class WebError(Exception):
    """Raise in a page handler to answer with ``status`` and a short message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Render:
    """A page's answer: a template from the page's ``templates`` folder and its variables.

    ``Render("core:document.html", {"document": html, "note": "..."})`` shows a stored,
    self-contained HTML document (a ticket transcript, say) in a sandboxed frame: no script in
    it runs, and it cannot reach the dashboard's page or cookies.
    """

    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    title: str | None = None


@dataclass
class PageRequest:
    """One request to a plugin's page, after the core checked who may see it."""

    context: PluginContext
    server_id: str
    feature: str
    method: str
    query: Mapping[str, str]
    form: Mapping[str, str]  # a POST's fields, CSRF already checked; empty for GET
    viewer_id: str | None  # the signed-in member (for LINK pages: the member the link is for)
    is_manager: bool  # the viewer has ManageServer on this server now
    link: Mapping[str, Any] = field(default_factory=dict)  # a LINK page's parameters

    def name_of(self, user_id: str) -> str:
        """A member's display name from the cache (nickname, username, or the id)."""
        member = self.context.cache.cached_member(self.server_id, user_id)
        if member is not None and member.nickname:
            return member.nickname
        user = self.context.cache.users.get(user_id)
        return user.username if user is not None else user_id

    async def learn_names(self, user_ids: list[str], limit: int = 50) -> None:
        """Learn the names the cache does not know yet, so :meth:`name_of` shows names rather
        than ids on a page of members.

        The server's member list is fetched once (one request for everyone); users no longer
        on the server are then fetched one by one, up to ``limit``. All of it within
        :data:`LEARN_NAMES_SECONDS`: users share one Stoat rate-limit bucket with the bot's
        chat work, and a name not learnt in time (or while Stoat fails) is shown as its id
        rather than holding up or failing the page.
        """
        cache = self.context.cache
        if all(user_id in cache.users for user_id in user_ids):
            return
        with contextlib.suppress(StoatAPIError, TimeoutError):
            async with asyncio.timeout(LEARN_NAMES_SECONDS):
                if self.server_id not in cache.fully_loaded:
                    await cache.learn_member_names(self.server_id)
                for user_id in [u for u in user_ids if u not in cache.users][:limit]:
                    await cache.ensure_user(user_id)

    def role_name(self, role_id: str) -> str:
        server = self.context.cache.servers.get(self.server_id)
        return server.roles[role_id].name if server and role_id in server.roles else "deleted role"

    def channel_name(self, channel_id: str) -> str:
        channel = self.context.cache.channels.get(channel_id)
        return f"#{channel.name}" if channel is not None and channel.name else channel_id

    def describe(
        self, settings: Any, *, skip: tuple[str, ...] = (), limit: int = 300
    ) -> list[tuple[str, str]]:
        """A settings object's fields (a pydantic model or a dataclass) as label/value lines,
        role and channel ids shown by name, for :class:`WebSettings`. Ids and bookkeeping
        fields (``server_id``, ``id``, ``revision_id``, and ``skip``) are left out."""
        if hasattr(settings, "model_dump"):
            values = settings.model_dump()
        elif dataclasses.is_dataclass(settings) and not isinstance(settings, type):
            values = dataclasses.asdict(settings)
        else:
            values = dict(vars(settings))
        left_out = {"id", "_id", "revision_id", "server_id", *skip}
        return [
            (key.replace("_", " ").capitalize(), self._shown(value)[:limit])
            for key, value in values.items()
            if key not in left_out and not key.startswith("_")
        ]

    def _shown(self, value: Any) -> str:
        if value is None or value == [] or value == {}:
            return "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, str):
            server = self.context.cache.servers.get(self.server_id)
            if server is not None and value in server.roles:
                return self.role_name(value)
            if value in self.context.cache.channels:
                return self.channel_name(value)
            return value
        if isinstance(value, dict):
            return ", ".join(f"{self._shown(k)}: {self._shown(v)}" for k, v in value.items())
        if isinstance(value, list | tuple | set | frozenset):
            return ", ".join(self._shown(item) for item in value)
        return str(value)

    def page_number(self, key: str = "page", last: int = 100_000) -> int:
        """A positive page number from the query (1 when absent or not a number)."""
        text = self.query.get(key, "1")
        if not (text.isascii() and text.isdigit() and len(text) <= 9):  # "²" or 5,000 digits: 1
            return 1
        return min(last, max(1, int(text)))

    def page_of(self, total: int, per_page: int) -> tuple[int, int]:
        """For ``total`` rows shown ``per_page`` at a time: the page asked for (kept within the
        pages there are) and the last page (1 when there are no rows)."""
        last = max(1, -(-total // per_page))
        return self.page_number(last=last), last

    async def has_permission(self, user_id: str, permission: int) -> bool:
        """Whether ``user_id`` holds ``permission`` on this server now (from the bot's cache)."""
        from logiq_core.framework.web.access import server_permissions_now

        held = await server_permissions_now(self.context.cache, self.server_id, user_id)
        return held is not None and bool(held & permission)


PageHandler = Callable[[PageRequest], Awaitable[Render]]
SettingsReader = Callable[[PageRequest], Awaitable[list[tuple[str, str]]]]


@dataclass(frozen=True, slots=True)
class WebPage:
    """One page a plugin adds to the dashboard."""

    name: str  # the last part of its address, a-z 0-9 and dashes
    title: str
    handler: PageHandler
    access: Access = Access.PUBLIC
    templates: Path | None = None  # the folder of this page's templates
    post: bool = False  # also answers POST (forms; the core checks their CSRF token)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The plugin's settings on a server, as label/value lines for the managers' page."""

    read: SettingsReader


def check_web_item(item: object) -> WebPage | WebSettings:
    if isinstance(item, WebSettings):
        return item
    if not isinstance(item, WebPage):
        raise TypeError(
            f"logiq_register_web_pages registers WebPage(...) or WebSettings(...), not {type(item).__name__}"
        )
    if not PAGE_NAME.match(item.name):
        raise TypeError(f"web page name {item.name!r}: use 1-40 of a-z, 0-9 and dashes")
    if item.templates is not None and not Path(item.templates).is_dir():
        raise TypeError(f"web page {item.name}: templates folder {item.templates} does not exist")
    return item
