"""Logiq tickets: private support conversations between a member and staff.

Other plugins (the dashboard) read closed tickets' transcripts through the service::

    try:
        from logiq_tickets import TicketsService
    except ImportError:
        TicketsService = None
    tickets = TicketsService and ctx.service_of("tickets", TicketsService, server_id=server_id)
    stored = await tickets.transcript(server_id, ticket_id) if tickets else None  # StoredTranscript
"""

from logiq_tickets.models import StoredTranscript
from logiq_tickets.service import TicketsService

__all__ = ["StoredTranscript", "TicketsService"]
