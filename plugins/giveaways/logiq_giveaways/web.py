"""Giveaways' dashboard pages: finished giveaways with their verification, and a form that
recomputes a draw on the server from the seed and entrant list (edit them to see it fail)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from logiq_core.plugin import PageRequest, Render, WebError, WebPage, WebSettings
from logiq_giveaways.models import Giveaway
from logiq_giveaways.service import (
    GiveawayService,
    entrants_text,
    parse_entrants_text,
    verify_draw,
    when,
)

TEMPLATES = Path(__file__).parent / "templates"
PER_PAGE = 10


def summary(request: PageRequest, g: Giveaway) -> dict[str, Any]:
    ended = datetime.fromtimestamp(g.ended_ts, UTC) if g.ended_ts else g.ends_at
    return {
        "number": g.number,
        "prize": g.prize,
        "ended": when(ended),
        "winners": [request.name_of(u) for u in g.winners],
        "rerolls": [(r.round, [request.name_of(u) for u in r.winners]) for r in g.rerolls],
        "entrants": len(g.entrants),
        "entries": sum(e.weight for e in g.entrants),
        "reacted": g.reacted,
        "excluded": sorted(g.excluded.items()),
    }


async def results(request: PageRequest) -> Render:
    service = request.context.get(GiveawayService)
    if "number" in request.query or "number" in request.form:
        return await detail(request, service)
    page = request.page_number()
    found, total = await service.finished(request.server_id, page, PER_PAGE)
    within, last = request.page_of(total, PER_PAGE)
    if within != page:  # past the last page: show the last one (one more read, only then)
        page = within
        found, total = await service.finished(request.server_id, page, PER_PAGE)
    await request.learn_names(
        [u for g in found for u in [*g.winners, *(w for r in g.rerolls for w in r.winners)]]
    )
    return Render(
        "results.html",
        {"giveaways": [summary(request, g) for g in found], "page": page, "last": last, "total": total},
    )


async def detail(request: PageRequest, service: GiveawayService) -> Render:
    text = request.form.get("number") or request.query.get("number", "")
    g = await service.find(request.server_id, text) if text.isdigit() else None
    if g is None or g.status != "ended":
        raise WebError(404, "There is no finished giveaway with that number here.")
    published = {
        "seed": g.seed,
        "commitment": g.commitment,
        "hash": g.entrants_hash or "",
        "list": entrants_text((e.user_id, e.weight) for e in g.entrants),
    }
    checked = None
    values = dict(published)
    if request.method == "POST":
        values = {key: request.form.get(key, "").strip() for key in published}
        values["list"] = request.form.get("list", "")
        try:
            entries = parse_entrants_text(values["list"])
        except ValueError as exc:
            checked = {"ok": False, "lines": [f"the entrant list is malformed: {exc}"]}
        else:
            result = verify_draw(
                commitment=values["commitment"],
                seed=values["seed"],
                entries=entries,
                published_hash=values["hash"],
                count=g.winners_count,
                winners=g.winners,
                rerolls=[(r.round, r.count, r.winners) for r in g.rerolls],
            )
            checked = {"ok": result.ok, "lines": result.lines}
    await request.learn_names([e.user_id for e in g.entrants], limit=200)
    names = {e.user_id: request.name_of(e.user_id) for e in g.entrants}
    return Render(
        "result.html",
        {
            "g": summary(request, g),
            "values": values,
            "checked": checked,
            "names": sorted(names.items(), key=lambda item: item[0]),
            "winner_ids": g.winners,
        },
        title=f"Giveaway #{g.number}",
    )


async def settings(request: PageRequest) -> list[tuple[str, str]]:
    service = request.context.get(GiveawayService)
    found = await service.settings(request.server_id)
    running = await service.running(request.server_id)
    host = request.role_name(found.host_role) if found.host_role else "none (ManageServer only)"
    return [("Host role", host), ("Running giveaways", str(len(running)))]


WEB_ITEMS = [
    WebPage("results", "Giveaways", results, templates=TEMPLATES, post=True),
    WebSettings(settings),
]
