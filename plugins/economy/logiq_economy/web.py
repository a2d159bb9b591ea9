"""Economy's dashboard pages: the balance leaderboard (paged), and its settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from logiq_core.plugin import PageRequest, Render, WebPage, WebSettings, format_duration
from logiq_economy.service import EconomyService

TEMPLATES = Path(__file__).parent / "templates"
PER_PAGE = 25


async def leaderboard(request: PageRequest) -> Render:
    service = request.context.get(EconomyService)
    server_id = request.server_id
    total = await service.board_size(server_id)
    page, last = request.page_of(total, PER_PAGE)
    rows = await service.leaderboard(server_id, page, PER_PAGE)
    await request.learn_names([user_id for user_id, _ in rows])
    currency = (await service.settings(server_id)).currency
    entries = [
        {
            "rank": (page - 1) * PER_PAGE + offset + 1,
            "name": request.name_of(user_id),
            "balance": balance,
            "shown": currency.format(balance),
        }
        for offset, (user_id, balance) in enumerate(rows)
    ]
    return Render(
        "leaderboard.html",
        {"entries": entries, "page": page, "last": last, "total": total, "currency": currency.name},
    )


async def settings(request: PageRequest) -> list[tuple[str, str]]:
    found = await request.context.get(EconomyService).settings(request.server_id)
    return [
        ("Currency", f"{found.currency.symbol} {found.currency.name}"),
        ("Daily reward", found.currency.format(found.daily)),
        ("Work reward", f"{found.work_min:,}-{found.work_max:,}"),
        ("Work cooldown", format_duration(timedelta(seconds=found.work_cooldown_seconds))),
        ("Starting balance", found.currency.format(found.start_balance)),
    ]


WEB_ITEMS = [WebPage("leaderboard", "Richest", leaderboard, templates=TEMPLATES), WebSettings(settings)]
