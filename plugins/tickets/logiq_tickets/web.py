"""Tickets' dashboard page: a closed ticket's transcript, opened only through a signed,
single-use link sent by DM to the opener, an added member or staff (``!ticket transcript #N``,
and in the rating message after a close)."""

from __future__ import annotations

from logiq_core.plugin import Access, PageRequest, Render, WebError, WebPage
from logiq_tickets.service import TicketsService

TRANSCRIPT_PAGE = "transcript"


async def transcript(request: PageRequest) -> Render:
    service = request.context.get(TicketsService)
    found = await service.transcript(request.server_id, str(request.link.get("ticket", "")))
    if found is None:
        raise WebError(404, "This ticket has no transcript.")
    viewer = request.viewer_id or ""
    if viewer not in found.member_ids and not await service.is_staff_here(request.server_id, viewer):
        raise WebError(403, "This transcript is for the ticket's members and staff.")
    return Render(
        "core:document.html",
        {"document": found.html, "note": f"Ticket #{found.number} (hash {found.hash[:16]}…)"},
        title=f"Ticket #{found.number}",
    )


WEB_ITEMS = [WebPage(TRANSCRIPT_PAGE, "Ticket transcript", transcript, access=Access.LINK)]
