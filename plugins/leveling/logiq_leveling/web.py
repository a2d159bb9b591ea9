"""Leveling's dashboard pages: the XP leaderboard (paged, levels, progress), and its settings."""

from __future__ import annotations

from pathlib import Path

from logiq_core.plugin import PageRequest, Render, WebPage, WebSettings
from logiq_leveling.service import LevelingService

TEMPLATES = Path(__file__).parent / "templates"
PER_PAGE = 25


async def leaderboard(request: PageRequest) -> Render:
    service = request.context.get(LevelingService)
    server_id = request.server_id
    total = await service.board_size(server_id)
    page, last = request.page_of(total, PER_PAGE)
    rows = await service.leaderboard(server_id, page, PER_PAGE)
    await request.learn_names([user_id for user_id, _ in rows])
    curve = service.curve(await service.settings(server_id))
    entries = []
    for offset, (user_id, xp) in enumerate(rows):
        level, into, needed = curve.progress(xp)
        entries.append(
            {
                "rank": (page - 1) * PER_PAGE + offset + 1,
                "name": request.name_of(user_id),
                "user_id": user_id,
                "level": level,
                "xp": xp,
                "into": into,
                "needed": needed,
                "percent": round(100 * into / needed) if needed else 100,
            }
        )
    return Render("leaderboard.html", {"entries": entries, "page": page, "last": last, "total": total})


async def settings(request: PageRequest) -> list[tuple[str, str]]:
    service = request.context.get(LevelingService)
    found = await service.settings(request.server_id)
    low, high = service.xp_range(found)
    announce = {"here": "in the channel of the message", "off": "off"}.get(
        found.announce, request.channel_name(found.announce)
    )
    rewards = ", ".join(f"level {r.level}: {request.role_name(r.role_id)}" for r in found.rewards) or "none"
    lines = [
        ("XP per message", f"{low}-{high} (messages of at least {found.min_length} characters)"),
        ("Cooldown", f"{service.cooldown(found):g} s"),
        ("Curve", service.curve(found).describe()),
        ("Level-up announcements", announce),
        ("Level-up message", found.template),
        ("Reward roles", f"{rewards} ({found.reward_mode})"),
        ("Channels without XP", ", ".join(map(request.channel_name, found.noxp_channels)) or "none"),
        ("Roles without XP", ", ".join(map(request.role_name, found.noxp_roles)) or "none"),
    ]
    if found.role_multipliers:
        lines.append(
            (
                "Role multipliers",
                ", ".join(f"{request.role_name(r)} ×{m:g}" for r, m in found.role_multipliers.items()),
            )
        )
    if found.channel_multipliers:
        lines.append(
            (
                "Channel multipliers",
                ", ".join(f"{request.channel_name(c)} ×{m:g}" for c, m in found.channel_multipliers.items()),
            )
        )
    return lines


WEB_ITEMS = [WebPage("leaderboard", "Levels", leaderboard, templates=TEMPLATES), WebSettings(settings)]
