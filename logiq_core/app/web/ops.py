"""The operators' pages under ``/ops/``: rollout status and the monitor, with charts.

Every ``/ops/`` page answers 401 unless the request carries ``Authorization: Bearer <token>``
(the token is read from the variable ``[web] operator_token_env`` names) or an operator
session made by the sign-in form at ``/ops/signin``. Without a configured token, no one gets in.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from aiohttp import web

from logiq_core.app.rollout.monitor import build_report
from logiq_core.app.web.chart import hourly_series, legend, line_chart
from logiq_core.app.web.server import dashboard_of, error_page, redirect
from logiq_core.app.web.sessions import (
    CSRF_FIELD,
    anonymous_csrf,
    create_session,
    csrf_ok,
    end_session,
    read_session,
)
from logiq_core.app.web.views import Viewer, base_context, render
from logiq_core.framework.rollout.status import describe, kept_percentage_note

WINDOW = timedelta(hours=24)
REALM = 'Bearer realm="logiq-ops"'


def _token_matches(given: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), str(expected).encode())


async def operator(request: web.Request) -> tuple[bool, str]:
    """(allowed, csrf token for its forms)."""
    expected = dashboard_of(request).config.operator_token()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and _token_matches(header[7:].strip(), expected):
        return True, ""
    session = await read_session(request, "ops")
    if session is not None and expected:
        return True, session.csrf
    return False, ""


def refused(request: web.Request) -> web.Response:
    configured = dashboard_of(request).config.operator_token() is not None
    message = (
        "Operators only: send Authorization: Bearer <token>, or sign in at /ops/signin."
        if configured
        else "Operators only, and no operator token is configured ([web] operator_token_env)."
    )
    return error_page(request, 401, message, www_authenticate=REALM, ops_signin=configured)


async def ops_home(request: web.Request) -> web.Response:
    allowed, csrf = await operator(request)
    if not allowed:
        return refused(request)
    dashboard = dashboard_of(request)
    bot = dashboard.bot
    snapshot = bot.gate.snapshot
    installed = {record.name for record in bot.plugins.loaded()}
    order = [*bot.rollout_config.names()]
    order += [name for name in snapshot.features if name not in order]
    features = [name for name in order if name in snapshot.features]
    reports = []
    for name in features:
        report = await build_report(name, snapshot, WINDOW)
        state = snapshot.features[name]
        reports.append(
            {
                "report": report,
                "installed": name in installed,
                "note": kept_percentage_note(name, state),
                "state": describe(state),
                "whitelist": len(state.whitelist),
                "blacklist": len(state.blacklist),
                "guard": state.guard,
            }
        )
    series = await hourly_series(features)
    charts = {
        "error": line_chart("Error rate per feature, per hour (%)", "%", series, "error_rate"),
        "p95": line_chart("p95 response time per feature, per hour (ms)", " ms", series, "p95_ms"),
    }
    table = [
        {
            "feature": s.feature,
            "cells": [
                (h.strftime("%H:00"), e, p) for h, e, p in zip(s.hours, s.error_rate, s.p95_ms, strict=True)
            ],
        }
        for s in series
    ]
    viewer = Viewer(None)
    context = base_context(
        request,
        None,
        viewer,
        title="Operations",
        reports=reports,
        charts=charts,
        legend=legend(series),
        table=table,
        version=snapshot.version,
        internal=len(snapshot.internal_servers),
        servers=len(bot.cache.servers),
        ops_csrf=csrf,
    )
    return render(request, "ops.html", context)


async def ops_signin_form(request: web.Request) -> web.Response:
    context = base_context(request, None, Viewer(None), title="Operator sign-in", failed=False)
    return render(request, "ops_signin.html", context)


async def ops_signin(request: web.Request) -> web.StreamResponse:
    dashboard = dashboard_of(request)
    form = await request.post()
    token, csrf = str(form.get("token", "")), str(form.get(CSRF_FIELD, ""))
    if not csrf_ok(request, csrf, None):
        raise web.HTTPForbidden(text="This form expired: reload the page and retry.")
    if not _token_matches(token.strip(), dashboard.config.operator_token()):
        anonymous_csrf(request)
        context = base_context(request, None, Viewer(None), title="Operator sign-in", failed=True)
        return render(request, "ops_signin.html", context, status=401)
    response = redirect("/ops/")
    await create_session(
        response,
        request,
        kind="ops",
        hours=dashboard.config.session_hours,
        public_url=dashboard.config.public_url,
    )
    return response


async def ops_signout(request: web.Request) -> web.StreamResponse:
    session = await read_session(request, "ops")
    form = await request.post()
    if not csrf_ok(request, str(form.get(CSRF_FIELD, "")), session):
        raise web.HTTPForbidden(text="This form expired: reload the page and retry.")
    response = redirect("/ops/signin")
    await end_session(request, response, "ops")
    return response


async def ops_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ops/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ops", ops_redirect)
    app.router.add_get("/ops/", ops_home)
    app.router.add_get("/ops/signin", ops_signin_form)
    app.router.add_post("/ops/signin", ops_signin)
    app.router.add_post("/ops/signout", ops_signout)
