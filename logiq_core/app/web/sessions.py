"""Sessions (an HttpOnly cookie naming a stored session) and CSRF tokens for every form.

The cookie holds 32 random bytes; storage keeps only their SHA-256, so a copy of the database
signs no one in. Cookies are HttpOnly and SameSite=Lax (Strict for the operator's), and Secure
whenever the dashboard is reached over HTTPS. Every form carries the session's CSRF token (or,
before signing in, the token of a short ``logiq_csrf`` cookie) and a POST without the right one
is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web

from logiq_core.app.web.models import WebSession

MEMBER_COOKIE = "logiq_session"
OPS_COOKIE = "logiq_ops"
CSRF_COOKIE = "logiq_csrf"
CSRF_FIELD = "csrf"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_https(request: web.Request, public_url: str | None) -> bool:
    return request.secure or bool(public_url and public_url.startswith("https://"))


@dataclass
class Session:
    kind: str
    user_id: str
    server_id: str
    csrf: str
    expires_at: float


async def create_session(
    response: web.StreamResponse,
    request: web.Request,
    *,
    kind: str,
    hours: float,
    public_url: str | None,
    user_id: str = "",
    server_id: str = "",
) -> Session:
    token = secrets.token_urlsafe(32)
    expires = time.time() + hours * 3600
    doc = WebSession(
        token_hash=_hash(token),
        kind=kind,
        user_id=user_id,
        server_id=server_id,
        csrf=secrets.token_urlsafe(24),
        expires_at=expires,
    )
    await doc.insert()
    cookie = OPS_COOKIE if kind == "ops" else MEMBER_COOKIE
    response.set_cookie(
        cookie,
        token,
        max_age=int(hours * 3600),
        httponly=True,
        path="/",
        samesite="Strict" if kind == "ops" else "Lax",
        secure=is_https(request, public_url),
    )
    return Session(kind, user_id, server_id, doc.csrf, expires)


async def read_session(request: web.Request, kind: str) -> Session | None:
    token = request.cookies.get(OPS_COOKIE if kind == "ops" else MEMBER_COOKIE)
    if not token:
        return None
    doc = await WebSession.find_one(WebSession.token_hash == _hash(token))
    if doc is None or doc.kind != kind:
        return None
    if doc.expires_at < time.time():
        await doc.delete()
        return None
    return Session(doc.kind, doc.user_id, doc.server_id, doc.csrf, doc.expires_at)


async def end_session(request: web.Request, response: web.StreamResponse, kind: str) -> None:
    cookie = OPS_COOKIE if kind == "ops" else MEMBER_COOKIE
    token = request.cookies.get(cookie)
    if token:
        await WebSession.get_pymongo_collection().delete_one({"token_hash": _hash(token)})
    response.del_cookie(cookie, path="/")


async def forget_expired_sessions(now: float | None = None) -> None:
    await WebSession.get_pymongo_collection().delete_many({"expires_at": {"$lt": now or time.time()}})


# The signed-out CSRF token this request made (the middleware sets it as a cookie): each
# request runs in its own task, so a context variable the middleware resets is per request.
new_csrf_cookie: ContextVar[list[str] | None] = ContextVar("new_csrf_cookie", default=None)


def anonymous_csrf(request: web.Request) -> str:
    """The CSRF token for forms shown before signing in (set as a cookie by the middleware)."""
    made = new_csrf_cookie.get()
    if made:
        return made[0]
    token = request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(24)
        if made is not None:
            made.append(token)
    return token


def csrf_ok(request: web.Request, form_token: str | None, session: Session | None) -> bool:
    """A POST's CSRF token matches its session's, or (signed out) the ``logiq_csrf`` cookie."""
    if not form_token:
        return False
    expected = session.csrf if session is not None else request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(form_token, expected)
