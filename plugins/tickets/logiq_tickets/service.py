"""The tickets service: opening, access, relaying, closing, transcripts, ratings, auto-close.

One :class:`TicketsService` per bot (``context.provide``); commands, listeners and timers all go
through it. Stoat has no per-member channel overrides, so a channel-mode ticket is a channel
hidden from everyone (the default override denies ViewChannel) and opened to the staff roles, to
the bot's access role and to one role of the server's ticket role pool, given to the opener and
to anyone added. A relay-mode ticket is a conversation in the opener's DM with the bot, relayed
with masquerade to one staff channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId, SortDirection
from pymongo.errors import DuplicateKeyError

from logiq_core.plugin import (
    File,
    InvalidRequest,
    MessageEvent,
    MessageReact,
    MessageUpdate,
    PluginContext,
    StoatAPIError,
    UploadRefused,
    format_duration,
    neutralise_mentions,
    strip_invisible,
    truncate_utf8,
    upsert_increment,
)
from logiq_core.plugin import Permission as P
from logiq_tickets.config import TicketsConfig
from logiq_tickets.models import (
    CHANNEL,
    CLOSED,
    CLOSING,
    FREE,
    OPEN,
    OPENING,
    RELAY,
    Counter,
    LoggedMessage,
    Panel,
    PoolRole,
    RelayLink,
    StoredTranscript,
    Ticket,
    TicketSettings,
    TicketSlot,
    TranscriptDoc,
)
from logiq_tickets.transcript import Entry, Summary, render_html, render_text

MAX_CHANNELS = 200  # Stoat's per-server limits (PROTOCOL.md §1)
MAX_ROLES = 200
MAX_LIMIT = 10
PANEL_EMOJI = "🎫"
CLOSE_EMOJI = "🔒"
RATING_EMOJI = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣"]
IDLE_TIMER = "idle"
BOT_ROLE_NAME = "Logiq tickets"
POOL_ROLE_PREFIX = "ticket-"
MAX_FALLBACK_MESSAGES = 25  # transcript text posted when the upload fails, at most
STUCK_CLOSE_SECONDS = 120.0  # a close older than this was interrupted (a crash), not still running

# What a ticket's participants may do in its channel; the bot also manages it.
PARTICIPANT_ALLOW = (
    P.ViewChannel | P.ReadMessageHistory | P.SendMessage | P.React | P.UploadFiles | P.SendEmbeds
)
BOT_ALLOW = PARTICIPANT_ALLOW | P.ManageChannel | P.ManagePermissions | P.ManageMessages | P.Masquerade


class TicketError(Exception):
    """Something the member should be told plainly (no traceback, no error count)."""


def now() -> float:
    """Unix seconds to the millisecond (what the storage keeps exactly)."""
    return round(time.time(), 3)


def normalise_emoji(emoji: str) -> str:
    return emoji.replace("\ufe0f", "")


@dataclass(frozen=True)
class Budget:
    """How many more tickets the server's channel and role limits allow (channel mode)."""

    channels_used: int
    roles_used: int
    free_pool_roles: int

    @property
    def channels_left(self) -> int:
        return max(MAX_CHANNELS - self.channels_used, 0)

    @property
    def roles_left(self) -> int:
        return max(MAX_ROLES - self.roles_used, 0)

    @property
    def capacity(self) -> int:
        return min(self.channels_left, self.free_pool_roles + self.roles_left)

    def refusal(self) -> str:
        if self.channels_left == 0:
            return (
                f"This server has {self.channels_used} of Stoat's {MAX_CHANNELS} channels, so no ticket "
                "channel can be made. Close a ticket or delete a channel, or ask a manager to switch "
                "to relay mode (`!tickets setup ... --mode relay`)."
            )
        return (
            f"This server has {self.roles_used} of Stoat's {MAX_ROLES} roles and every ticket role is in "
            "use, so no ticket can be opened. Close a ticket or delete a role, or ask a manager to "
            "switch to relay mode (`!tickets setup ... --mode relay`)."
        )


STALE_OPENING_SECONDS = 600.0


def object_id_age(object_id: str) -> float:
    """Seconds since an ObjectId was made (its first 4 bytes are Unix seconds)."""
    try:
        return now() - PydanticObjectId(object_id).generation_time.timestamp()
    except Exception:
        return float("inf")


class Undo:
    """Steps that undo what an opening created, run newest first if a later step fails."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []

    def add(self, what: str, step: Callable[[], Awaitable[Any]]) -> None:
        self.steps.append((what, step))

    async def run(self, logger: Any) -> None:
        for what, step in reversed(self.steps):
            try:
                await step()
            except Exception as exc:  # keep undoing the rest
                logger.warning("tickets: could not undo {}: {}", what, exc)
        self.steps.clear()


class TicketsService:
    """Everything tickets do, for one bot."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.min_autoclose = TicketsConfig.of(ctx).min_autoclose_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        self._avatars: dict[str, str | None] = {}
        self._settings: dict[str, TicketSettings | None] = {}
        self.failpoint: Callable[[str], Awaitable[None]] | None = None  # tests: fail a step

    # --- small helpers --------------------------------------------------------------------------
    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _step(self, name: str) -> None:
        if self.failpoint is not None:
            await self.failpoint(name)

    def name_of(self, server_id: str | None, user_id: str) -> str:
        """A member's nickname, display name or username (text, never a mention)."""
        cache = self.ctx.cache
        if server_id:
            member = cache.cached_member(server_id, user_id)
            if member is not None and member.nickname:
                return member.nickname
        user = cache.users.get(user_id)
        if user is None:
            return user_id
        return user.display_name or user.username

    async def learn(self, server_id: str, *user_ids: str) -> None:
        """Make sure the cache knows these members' names (one fetch each, at most)."""
        for user_id in dict.fromkeys(u for u in user_ids if u):
            try:
                await self.ctx.cache.member(server_id, user_id)
            except (LookupError, StoatAPIError):
                await self.ctx.cache.ensure_user(user_id)  # they left: the user still has a name

    async def avatar_url(self, user_id: str) -> str | None:
        """The user's avatar on Stoat's file server (for masquerade), if they have one."""
        if user_id in self._avatars:
            return self._avatars[user_id]
        url = None
        try:
            data = await self.ctx.api.request("GET", f"/users/{user_id}")
            avatar = data.get("avatar") if isinstance(data, dict) else None
            if isinstance(avatar, dict) and avatar.get("_id"):
                if self.ctx.api.autumn_url is None:
                    await self.ctx.api.fetch_root()
                if self.ctx.api.autumn_url:
                    url = f"{self.ctx.api.autumn_url}/avatars/{avatar['_id']}"
        except StoatAPIError:
            return None
        url = url if url and len(url) <= 256 else None  # masquerade avatars are at most 256 characters
        self._avatars[user_id] = url
        return url

    def safe(self, server_id: str | None, text: str) -> str:
        server = self.ctx.cache.servers.get(server_id or "")

        def role_name(role_id: str) -> str | None:
            return server.roles[role_id].name if server and role_id in server.roles else None

        return neutralise_mentions(strip_invisible(text), lambda u: self.name_of(server_id, u), role_name)

    def server_name(self, server_id: str) -> str:
        server = self.ctx.cache.servers.get(server_id)
        return server.name if server else server_id

    def persona(self, server_id: str) -> dict[str, str]:
        return {"name": truncate_utf8(f"{self.server_name(server_id)} Support", 32) or "Support"}

    async def settings(self, server_id: str) -> TicketSettings | None:
        """The server's settings (kept in memory: every message on the server asks)."""
        if server_id not in self._settings:
            self._settings[server_id] = await TicketSettings.find_one(TicketSettings.server_id == server_id)
        return self._settings[server_id]

    async def _save_settings(self, settings: TicketSettings) -> None:
        await settings.save()
        self._settings[settings.server_id] = settings

    async def ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return await Ticket.get(PydanticObjectId(ticket_id))
        except Exception:
            return None

    async def find(self, server_id: str, number: int) -> Ticket | None:
        return await Ticket.find_one(Ticket.server_id == server_id, Ticket.number == number)

    async def by_channel(self, channel_id: str) -> Ticket | None:
        return await Ticket.find_one(Ticket.channel_id == channel_id, Ticket.status == OPEN)

    async def by_link(self, message_id: str) -> Ticket | None:
        link = await RelayLink.find_one(RelayLink.message_id == message_id)
        return await self.ticket(link.ticket_id) if link else None

    async def link(self, message_id: str, ticket: Ticket) -> None:
        if message_id:
            with contextlib.suppress(DuplicateKeyError):
                await RelayLink(message_id=message_id, ticket_id=str(ticket.id)).insert()

    async def is_staff_here(self, server_id: str, user_id: str) -> bool:
        """Staff on ``server_id`` by its ticket settings (the owner and ManageServer always)."""
        settings = await self.settings(server_id)
        return await self.is_staff(settings or TicketSettings(server_id=server_id), server_id, user_id)

    def transcript_link(self, server_id: str, ticket_id: str, user_id: str) -> str | None:
        """A signed, single-use dashboard link to a closed ticket's transcript for ``user_id``
        (None when the operator has not turned the dashboard on)."""
        from logiq_core.plugin import dashboard_link

        return dashboard_link(
            self.ctx, "transcript", server_id=server_id, user_id=user_id, params={"ticket": ticket_id}
        )

    async def is_staff(self, settings: TicketSettings, server_id: str, user_id: str) -> bool:
        cache = self.ctx.cache
        if cache.is_owner(server_id, user_id):
            return True
        try:
            member = await cache.member(server_id, user_id)
        except (LookupError, StoatAPIError):
            return False
        if set(member.roles) & set(settings.staff_roles):
            return True
        return bool(cache.server_permissions_of(member) & P.ManageServer)

    async def _bot_server_permissions(self, server_id: str) -> int:
        member = await self.ctx.cache.member(server_id, self.ctx.bot_user_id)
        return int(self.ctx.cache.server_permissions_of(member))

    # --- setup ----------------------------------------------------------------------------------
    async def setup(
        self,
        server_id: str,
        staff_role: str,
        log_channel: str | None,
        mode: str,
        category: str | None,
        staff_channel: str | None,
    ) -> TicketSettings:
        existing = await self.settings(server_id)  # changed on a copy: a refusal changes nothing
        settings = existing.model_copy(deep=True) if existing else TicketSettings(server_id=server_id)
        settings.mode = mode
        settings.staff_roles = [staff_role]
        settings.log_channel = log_channel
        settings.staff_channel = staff_channel or log_channel
        settings.category = category
        if mode == RELAY and not settings.staff_channel:
            raise TicketError(
                "Relay mode needs a staff channel: give a log channel (or `--staff-channel #ch`)."
            )
        if mode == CHANNEL:
            server = self.ctx.cache.servers.get(server_id)
            me = await self.ctx.cache.member(server_id, self.ctx.bot_user_id)
            role = server.roles.get(staff_role) if server else None
            if role is not None and role.rank <= self.ctx.cache.ranking(me):
                raise TicketError(
                    "The staff role ranks at or above mine, so Stoat will not let me open ticket "
                    "channels to it: move my role above it (or use `--mode relay`)."
                )
            settings.bot_role = await self._ensure_bot_role(server_id, settings.bot_role)
        await self._save_settings(settings)
        return settings

    async def _ensure_bot_role(self, server_id: str, existing: str | None) -> str:
        """The bot's access role for ticket channels (a bot cannot set an override on its own
        top role, so it gives itself a role below it)."""
        server = self.ctx.cache.servers.get(server_id)
        me = await self.ctx.cache.member(server_id, self.ctx.bot_user_id)
        if existing and server is not None and existing in server.roles:
            role_id = existing
        else:
            if server is not None and len(server.roles) >= MAX_ROLES:
                raise TicketError(
                    f"This server has {len(server.roles)} of Stoat's {MAX_ROLES} roles; "
                    "tickets need one for the bot."
                )
            role_id = (await self.ctx.api.create_role(server_id, BOT_ROLE_NAME)).id
        if role_id not in me.roles:
            try:
                await self.ctx.api.edit_member(server_id, self.ctx.bot_user_id, roles=[*me.roles, role_id])
            except StoatAPIError as exc:
                raise TicketError(
                    f"I could not give myself the `{BOT_ROLE_NAME}` role ({exc.type}); I need AssignRoles."
                ) from None
        return role_id

    async def set_limit(self, server_id: str, limit: int) -> None:
        settings = await self._require_settings(server_id)
        settings.limit = limit
        await self._save_settings(settings)

    async def set_autoclose(self, server_id: str, seconds: float | None) -> None:
        settings = await self._require_settings(server_id)
        settings.autoclose_seconds = seconds
        await self._save_settings(settings)
        async for ticket in Ticket.find(Ticket.server_id == server_id, Ticket.status == OPEN):
            await self._schedule_idle(ticket, settings)

    async def _require_settings(self, server_id: str) -> TicketSettings:
        settings = await self.settings(server_id)
        if settings is None:
            raise TicketError(
                "Tickets are not set up here yet: a manager runs `!tickets setup @StaffRole #log`."
            )
        return settings

    def budget(self, server_id: str, free_pool_roles: int) -> Budget:
        server = self.ctx.cache.servers.get(server_id)
        if server is None:
            return Budget(0, 0, free_pool_roles)
        return Budget(len(server.channels), len(server.roles), free_pool_roles)

    async def free_pool_roles(self, server_id: str) -> int:
        server = self.ctx.cache.servers.get(server_id)
        pool = await PoolRole.find(PoolRole.server_id == server_id, PoolRole.ticket_id == FREE).to_list()
        return sum(1 for role in pool if server is None or role.role_id in server.roles)

    # --- panels ---------------------------------------------------------------------------------
    async def post_panel(self, server_id: str, channel_id: str, text: str) -> str:
        await self._require_settings(server_id)
        body = text or "Need help from the staff? React 🎫 to open a private ticket."
        message = await self.ctx.api.send_message(
            channel_id, self.safe(server_id, body), reactions=[PANEL_EMOJI], restrict_reactions=True
        )
        await Panel(server_id=server_id, channel_id=channel_id, message_id=message.id, text=body).insert()
        return message.id

    # --- opening --------------------------------------------------------------------------------
    async def open(self, server_id: str, opener_id: str, topic: str = "") -> Ticket:
        """Open a ticket for ``opener_id`` or raise :class:`TicketError` (nothing half-made)."""
        settings = await self._require_settings(server_id)
        await self.learn(server_id, opener_id)
        topic = truncate_utf8(self.safe(server_id, topic.strip()), 200)
        ticket_id = PydanticObjectId()
        undo = Undo()
        try:
            # The slot first: a refused opening uses up no ticket number.
            await self._take_slot(settings, opener_id, str(ticket_id), undo)
            counter = await upsert_increment(
                Counter.get_pymongo_collection(), {"server_id": server_id}, {"value": 1}, return_document=True
            )
            assert counter is not None
            ticket = Ticket(
                id=ticket_id,
                server_id=server_id,
                number=int(counter["value"]),
                mode=settings.mode,
                opener_id=opener_id,
                topic=topic,
                status=OPENING,
                opened_at=now(),
                opener_active_at=now(),
            )
            await ticket.insert()
            undo.add("the ticket record", ticket.delete)
            if settings.mode == RELAY:
                await self._open_relay(settings, ticket, undo)
            else:
                await self._open_channel(settings, ticket, undo)
            await self._step("activate")
            ticket.status = OPEN
            await ticket.save()
        except BaseException as exc:
            await undo.run(self.ctx.logger)
            if isinstance(exc, TicketError | asyncio.CancelledError):
                raise
            if isinstance(exc, StoatAPIError) and exc.type in ("TooManyChannels", "TooManyRoles"):
                budget = self.budget(server_id, await self.free_pool_roles(server_id))
                raise TicketError(budget.refusal()) from None
            self.ctx.logger.warning("tickets: opening a ticket failed and was undone: {}", exc)
            raise TicketError(
                "Opening the ticket failed midway, so I removed what I had made. "
                "Try again in a moment; if it keeps failing, tell the staff."
            ) from None
        await self._schedule_idle(ticket, settings)
        return ticket

    async def _take_slot(self, settings: TicketSettings, opener_id: str, ticket_id: str, undo: Undo) -> None:
        """One of the opener's ``limit`` slots, by a unique insert: two concurrent openings can
        never both get the last one. A slot left by an opening that died midway (its ticket
        missing or still opening after ten minutes) is taken back."""
        if settings.limit <= 0:
            raise TicketError("Members cannot open tickets here right now (the limit is 0).")
        for slot in range(settings.limit):
            doc = TicketSlot(server_id=settings.server_id, user_id=opener_id, slot=slot, ticket_id=ticket_id)
            for _ in range(2):
                try:
                    await doc.insert()
                except DuplicateKeyError:
                    if await self._free_stale_slot(settings.server_id, opener_id, slot):
                        continue
                    break
                undo.add("the opener's slot", doc.delete)
                return
        where = await Ticket.find(
            Ticket.server_id == settings.server_id,
            Ticket.opener_id == opener_id,
            Ticket.status == OPEN,
        ).to_list()
        shown = ", ".join(f"<#{t.channel_id}>" if t.channel_id else f"#{t.number}" for t in where)
        plural = "ticket" if settings.limit == 1 else "tickets"
        raise TicketError(
            f"You already have {settings.limit} open {plural} here (the limit)"
            f"{': ' + shown if shown else ''}. Close one first."
        )

    async def _free_stale_slot(self, server_id: str, user_id: str, slot: int) -> bool:
        taken = await TicketSlot.find_one(
            TicketSlot.server_id == server_id, TicketSlot.user_id == user_id, TicketSlot.slot == slot
        )
        if taken is None:
            return True  # freed meanwhile: try again
        owner = await self.ticket(taken.ticket_id)
        stale = owner is None and object_id_age(taken.ticket_id) > STALE_OPENING_SECONDS
        stale = stale or (
            owner is not None and owner.status == OPENING and now() - owner.opened_at > STALE_OPENING_SECONDS
        )
        stale = stale or (owner is not None and owner.status == CLOSED)
        if not stale:
            return False
        await TicketSlot.get_pymongo_collection().delete_one({"_id": taken.id, "ticket_id": taken.ticket_id})
        return True

    async def _open_channel(self, settings: TicketSettings, ticket: Ticket, undo: Undo) -> None:
        api, server_id = self.ctx.api, ticket.server_id
        if not settings.bot_role:
            raise TicketError("Tickets need `!tickets setup` again (the bot's access role is missing).")
        async with self._lock(f"budget:{server_id}"):
            budget = self.budget(server_id, await self.free_pool_roles(server_id))
            if budget.capacity < 1:
                raise TicketError(budget.refusal())
            role_id = await self._claim_pool_role(ticket, budget, undo)
            await self._step("create_channel")
            channel = await api.create_channel(
                server_id, f"ticket-{ticket.number}", description=truncate_utf8(ticket.topic, 1024) or None
            )
            undo.add("the ticket channel", lambda: self._delete_channel(channel.id))
        if settings.category:  # without one, the server's categories are left alone
            await self._step("category")
            await self._add_to_category(server_id, settings.category, channel.id)
        ticket.channel_id, ticket.role_id = channel.id, role_id
        await ticket.save()
        held = await self._bot_server_permissions(server_id)
        # The bot's access first: once the default hides the channel, only overrides let it in.
        await self._step("bot_override")
        await api.set_channel_role_permissions(channel.id, settings.bot_role, allow=BOT_ALLOW & held, deny=0)
        for staff in settings.staff_roles:
            await self._step("staff_override")
            await api.set_channel_role_permissions(channel.id, staff, allow=PARTICIPANT_ALLOW & held, deny=0)
        await self._step("ticket_override")
        await api.set_channel_role_permissions(channel.id, role_id, allow=PARTICIPANT_ALLOW & held, deny=0)
        await self._step("default_override")
        await api.set_channel_default_permissions(channel.id, allow=0, deny=P.ViewChannel)
        await self._step("give_role")
        await self._give_role(server_id, ticket.opener_id, role_id)
        undo.add("the opener's ticket role", lambda: self._take_role(server_id, ticket.opener_id, role_id))
        await self._step("welcome")
        name = self.name_of(server_id, ticket.opener_id)
        topic = f"\n**Topic:** {ticket.topic}" if ticket.topic else ""
        await api.send_message(
            channel.id,
            f"🎫 **Ticket #{ticket.number}** opened by {self.safe(server_id, name)}.{topic}\n"
            "Staff will answer here. `!ticket close [reason]` closes it; staff can `!ticket claim`, "
            "`!ticket add @member`, `!ticket remove @member` and `!ticket rename <name>`.",
        )

    async def _add_to_category(self, server_id: str, title: str, channel_id: str) -> None:
        """Put the channel in the category titled ``title`` (made if missing). Categories are
        one list on the server, replaced whole, so edits are serialised per server."""
        async with self._lock(f"categories:{server_id}"):
            server = await self.ctx.api.request("GET", f"/servers/{server_id}")
            categories = [dict(c) for c in (server or {}).get("categories") or []]
            target = next((c for c in categories if c.get("title") == title), None)
            if target is None:
                target = {"id": secrets.token_hex(13), "title": title, "channels": []}
                categories.append(target)
            target["channels"] = [*target.get("channels", []), channel_id]
            await self.ctx.api.request("PATCH", f"/servers/{server_id}", json={"categories": categories})

    async def _claim_pool_role(self, ticket: Ticket, budget: Budget, undo: Undo) -> str:
        """A free role of the pool, or a new one; released (or deleted, if new) on failure."""
        server_id = ticket.server_id
        server = self.ctx.cache.servers.get(server_id)
        collection = PoolRole.get_pymongo_collection()
        while True:
            claimed = await collection.find_one_and_update(
                {"server_id": server_id, "ticket_id": FREE}, {"$set": {"ticket_id": str(ticket.id)}}
            )
            if claimed is None:
                break
            if server is not None and claimed["role_id"] not in server.roles:
                await collection.delete_one({"_id": claimed["_id"]})  # deleted by hand: forget it
                continue
            claimed_id = str(claimed["role_id"])
            undo.add("the pool role", functools.partial(self._release_role, claimed_id))
            return claimed_id
        if budget.roles_left < 1:
            raise TicketError(budget.refusal())
        await self._step("create_role")
        role_id = (await self.ctx.api.create_role(server_id, f"{POOL_ROLE_PREFIX}{ticket.number}")).id
        undo.add("the new pool role", lambda: self.ctx.api.delete_role(server_id, role_id))
        await PoolRole(server_id=server_id, role_id=role_id, ticket_id=str(ticket.id)).insert()
        undo.add("the pool record", lambda: PoolRole.find(PoolRole.role_id == role_id).delete())
        return role_id

    async def _retire_role(self, server_id: str, role_id: str) -> None:
        """Take a pool role out of the pool for good (deleted on the server where possible)."""
        await PoolRole.find(PoolRole.role_id == role_id).delete()
        try:
            await self.ctx.api.delete_role(server_id, role_id)
        except StoatAPIError as exc:
            self.ctx.logger.warning("tickets: could not delete the retired role {}: {}", role_id, exc.type)

    async def _release_role(self, role_id: str) -> None:
        await PoolRole.get_pymongo_collection().update_one(
            {"role_id": role_id}, {"$set": {"ticket_id": FREE}}
        )

    async def _delete_channel(self, channel_id: str) -> None:
        try:
            await self.ctx.api.delete_channel(channel_id)
        except StoatAPIError as exc:
            if exc.status != 404:
                raise

    async def _give_role(self, server_id: str, user_id: str, role_id: str) -> None:
        member = await self.ctx.api.fetch_member(server_id, user_id)
        if role_id not in member.roles:
            await self.ctx.api.edit_member(server_id, user_id, roles=[*member.roles, role_id])

    async def _take_role(self, server_id: str, user_id: str, role_id: str) -> None:
        try:
            member = await self.ctx.api.fetch_member(server_id, user_id)
        except StoatAPIError as exc:
            if exc.status == 404:
                return  # they left: the role went with them
            raise
        if role_id in member.roles:
            await self.ctx.api.edit_member(
                server_id, user_id, roles=[r for r in member.roles if r != role_id]
            )

    async def _open_relay(self, settings: TicketSettings, ticket: Ticket, undo: Undo) -> None:
        api, server_id = self.ctx.api, ticket.server_id
        assert settings.staff_channel is not None
        await self._step("open_dm")
        dm = await api.open_dm(ticket.opener_id)
        ticket.dm_channel_id = dm.id
        await ticket.save()
        name = self.safe(server_id, self.name_of(server_id, ticket.opener_id))
        topic = f"\n**Topic:** {ticket.topic}" if ticket.topic else ""
        await self._step("staff_notice")
        notice = await api.send_message(
            settings.staff_channel,
            f"🎫 **Ticket #{ticket.number}** opened by {name} (relay).{topic}\nReply to this message, or to "
            "any message relayed for this ticket, to answer; `!ticket close [reason]` as such a reply "
            f"(or `!ticket close #{ticket.number} [reason]`) closes it.",
        )
        await self.link(notice.id, ticket)
        undo.add("the staff notice", lambda: api.delete_message(settings.staff_channel or "", notice.id))
        await self._step("greeting")
        greeting = await api.send_message(
            dm.id,
            f"🎫 Your ticket #{ticket.number} on {self.safe(server_id, self.server_name(server_id))} "
            "is open. "
            f"Write here and the staff will answer here. React {CLOSE_EMOJI} to close it.",
            masquerade=self.persona(server_id),
            reactions=[CLOSE_EMOJI],
            restrict_reactions=True,
        )
        await self.link(greeting.id, ticket)

    # --- in a ticket ----------------------------------------------------------------------------
    async def claim(self, ticket: Ticket, staff_id: str) -> str | None:
        """Claim for ``staff_id``; the earlier claimer's id if someone already had it."""
        previous = ticket.claimer_id
        ticket.claimer_id = staff_id
        await ticket.save()
        await self._announce(
            ticket,
            f"🙋 {self.safe(ticket.server_id, self.name_of(ticket.server_id, staff_id))} "
            "claimed this ticket.",
        )
        return previous

    async def add(self, ticket: Ticket, user_id: str) -> None:
        if ticket.mode != CHANNEL or not ticket.role_id:
            raise TicketError(
                "Members can be added to channel tickets only (relay tickets are one member's DM)."
            )
        if user_id == ticket.opener_id or user_id in ticket.added:
            raise TicketError("They are already in this ticket.")
        # Recorded before the role is given, so that a close at the same moment takes it back.
        collection = Ticket.get_pymongo_collection()
        await collection.update_one({"_id": ticket.id}, {"$addToSet": {"added": user_id}})
        try:
            await self._give_role(ticket.server_id, user_id, ticket.role_id)
        except BaseException:
            await collection.update_one({"_id": ticket.id}, {"$pull": {"added": user_id}})
            raise
        ticket.added.append(user_id)

    async def remove(self, ticket: Ticket, user_id: str) -> None:
        if ticket.mode != CHANNEL or not ticket.role_id:
            raise TicketError("Only channel tickets have members to remove.")
        if user_id == ticket.opener_id:
            raise TicketError("The opener cannot be removed; close the ticket instead.")
        if user_id not in ticket.added:
            raise TicketError("They were not added to this ticket.")
        await self._take_role(ticket.server_id, user_id, ticket.role_id)
        await Ticket.get_pymongo_collection().update_one({"_id": ticket.id}, {"$pull": {"added": user_id}})
        ticket.added.remove(user_id)

    async def rename(self, ticket: Ticket, name: str) -> str:
        if ticket.mode != CHANNEL or not ticket.channel_id:
            raise TicketError("Relay tickets have no channel to rename.")
        cleaned = "-".join(strip_invisible(name).lower().split())[:32].strip("-")
        if not cleaned:
            raise TicketError("A channel name needs 1 to 32 visible characters.")
        await self.ctx.api.edit_channel(ticket.channel_id, name=cleaned)
        return cleaned

    async def _announce(self, ticket: Ticket, text: str) -> None:
        """Tell a ticket's participants (its channel, or the staff channel and the DM)."""
        if ticket.mode == CHANNEL and ticket.channel_id:
            await self.ctx.api.send_message(ticket.channel_id, text)
            return
        settings = await self.settings(ticket.server_id)
        if settings and settings.staff_channel:
            sent = await self.ctx.api.send_message(settings.staff_channel, f"#{ticket.number}: {text}")
            await self.link(sent.id, ticket)
        if ticket.dm_channel_id:
            with contextlib.suppress(StoatAPIError):
                await self.ctx.api.send_message(
                    ticket.dm_channel_id, text, masquerade=self.persona(ticket.server_id)
                )

    # --- messages: activity, logging, relaying ----------------------------------------------------
    async def on_message(self, event: MessageEvent) -> None:
        server_id = event.server_id_hint
        if server_id is None:
            await self._from_dm(event)
            return
        ticket = await self.by_channel(event.channel)
        if ticket is not None:
            await self._log(ticket, event)
            if event.author == ticket.opener_id:
                await self._touch(ticket)
            return
        settings = await self.settings(server_id)
        if (
            settings is not None
            and settings.mode == RELAY
            and event.channel == settings.staff_channel
            and event.replies
            and not await self.ctx.is_command(server_id, (event.content or "").lstrip())
        ):
            await self._from_staff(settings, event)

    async def _touch(self, ticket: Ticket) -> None:
        await Ticket.get_pymongo_collection().update_one(
            {"_id": ticket.id}, {"$set": {"opener_active_at": now(), "warned_at": 0.0}}
        )

    def _attachment_names(self, event: MessageEvent) -> list[str]:
        return [a.filename or a.id for a in event.attachments or []]

    async def _log(
        self, ticket: Ticket, event: MessageEvent, direction: str = "", content: str | None = None
    ) -> None:
        await LoggedMessage(
            ticket_id=str(ticket.id),
            message_id=event.id,
            author_id=event.author,
            author_name=self.name_of(ticket.server_id, event.author),
            content=event.content or "" if content is None else content,
            attachments=self._attachment_names(event),
            at=now(),
            direction=direction,
        ).insert()

    async def on_edit(self, event: MessageUpdate) -> None:
        content = event.data.content
        if not isinstance(content, str):
            return
        ticket = await self.by_channel(event.channel)
        if ticket is None:
            return
        versions = await LoggedMessage.find(LoggedMessage.message_id == event.id).count()
        first = await LoggedMessage.find_one(LoggedMessage.message_id == event.id)
        await LoggedMessage(
            ticket_id=str(ticket.id),
            message_id=event.id,
            author_id=first.author_id if first else "",
            author_name=first.author_name if first else "",
            content=content,
            at=now(),
            version=versions,
        ).insert()

    async def _from_dm(self, event: MessageEvent) -> None:
        found = (
            await Ticket.find(
                Ticket.dm_channel_id == event.channel, Ticket.status == OPEN, Ticket.opener_id == event.author
            )
            .sort([("opener_active_at", SortDirection.DESCENDING)])
            .to_list()
        )
        ticket = next((t for t in found if self.ctx.is_enabled(t.server_id)), None)
        if ticket is None or await self.ctx.is_command(None, (event.content or "").lstrip()):
            return  # a command the member typed to the bot is not relayed to staff
        settings = await self.settings(ticket.server_id)
        if settings is None or not settings.staff_channel:
            return
        self.ctx.record_use(ticket.server_id)
        await self.learn(ticket.server_id, event.author)
        text = event.content or ""
        files = self._attachment_names(event)
        if files:
            text += f"\n📎 {', '.join(files)}"
        text = self.safe(ticket.server_id, text)  # file names are member text too
        name = truncate_utf8(self.name_of(ticket.server_id, event.author), 32) or "member"
        masquerade = {"name": name}
        avatar = await self.avatar_url(event.author)
        if avatar:
            masquerade["avatar"] = avatar
        sent = await self.ctx.api.send_message(
            settings.staff_channel,
            truncate_utf8(f"**#{ticket.number}** {text}", 2000) or "(empty)",
            masquerade=masquerade,
        )
        await self.link(sent.id, ticket)
        await self.link(event.id, ticket)
        await self._log(ticket, event, "in")
        await self._touch(ticket)

    async def _from_staff(self, settings: TicketSettings, event: MessageEvent) -> None:
        ticket = None
        for replied in event.replies or []:
            ticket = await self.by_link(replied)
            if ticket is not None:
                break
        if ticket is None or ticket.status != OPEN or not ticket.dm_channel_id:
            return
        if not await self.is_staff(settings, ticket.server_id, event.author):
            return
        text = event.content or ""
        files = self._attachment_names(event)
        if files:
            text += f"\n📎 {', '.join(files)}"
        text = self.safe(ticket.server_id, text)  # file names are member text too
        if not text.strip():
            return
        sent = await self.ctx.api.send_message(
            ticket.dm_channel_id, truncate_utf8(text, 2000), masquerade=self.persona(ticket.server_id)
        )
        await self.link(sent.id, ticket)
        await self.link(event.id, ticket)
        await self._log(ticket, event, "out")
        with contextlib.suppress(StoatAPIError):
            await self.ctx.api.add_reaction(event.channel, event.id, "📨")

    async def on_react(self, event: MessageReact) -> None:
        if event.user_id == self.ctx.bot_user_id:
            return
        emoji = normalise_emoji(event.emoji_id)
        if event.server_id_hint is not None:
            if emoji != normalise_emoji(PANEL_EMOJI):
                return
            panel = await Panel.find_one(Panel.message_id == event.id)
            if panel is None:
                return
            user = await self.ctx.cache.ensure_user(event.user_id)
            if user is None or user.is_bot:
                return  # bots do not open tickets
            self.ctx.record_use(panel.server_id)
            with contextlib.suppress(StoatAPIError):  # the reaction is a button: reset it
                await self.ctx.api.remove_reaction(
                    event.channel_id, event.id, PANEL_EMOJI, user_id=event.user_id
                )
            try:
                ticket = await self.open(panel.server_id, event.user_id, "")
            except TicketError as exc:
                await self._tell(event.user_id, str(exc), panel.server_id)
                return
            where = f"<#{ticket.channel_id}>" if ticket.channel_id else "our direct messages"
            if ticket.mode == CHANNEL:
                await self._tell(
                    event.user_id, f"Your ticket #{ticket.number} is open: {where}.", panel.server_id
                )
            return
        # Outside servers: a rating, or the opener closing a relay ticket.
        rated = await Ticket.find_one(Ticket.rating_message_id == event.id)
        if rated is not None:
            if emoji in [normalise_emoji(e) for e in RATING_EMOJI] and self.ctx.is_enabled(rated.server_id):
                await self.rate(
                    rated, event.user_id, [normalise_emoji(e) for e in RATING_EMOJI].index(emoji) + 1
                )
            return
        linked = await self.by_link(event.id)
        if (
            linked is not None
            and linked.status == OPEN
            and event.user_id == linked.opener_id
            and emoji == normalise_emoji(CLOSE_EMOJI)
            and self.ctx.is_enabled(linked.server_id)
        ):
            self.ctx.record_use(linked.server_id)
            await self.close(linked, event.user_id, "closed by the member")

    async def _tell(self, user_id: str, text: str, server_id: str) -> None:
        """A private word to a member (their DM with the bot)."""
        try:
            dm = await self.ctx.api.open_dm(user_id)
            await self.ctx.api.send_message(dm.id, text, masquerade=self.persona(server_id))
        except StoatAPIError as exc:
            self.ctx.logger.info("tickets: could not tell {} privately: {}", user_id, exc.type)

    # --- ratings --------------------------------------------------------------------------------
    async def rate(self, ticket: Ticket, user_id: str, rating: int) -> bool:
        if user_id != ticket.opener_id or not 1 <= rating <= 5:
            return False
        result = await Ticket.get_pymongo_collection().update_one(
            {"_id": ticket.id, "rating": 0}, {"$set": {"rating": rating}}
        )
        if result.modified_count != 1:
            return False
        self.ctx.record_use(ticket.server_id)
        self.ctx.record_feedback(ticket.server_id, user_id, rating, f"ticket #{ticket.number}")
        if ticket.rating_channel_id:
            with contextlib.suppress(StoatAPIError):
                await self.ctx.api.send_message(
                    ticket.rating_channel_id,
                    f"Thank you! You rated ticket #{ticket.number} {rating}/5.",
                    masquerade=self.persona(ticket.server_id),
                )
        return True

    async def ratings(self, server_id: str) -> list[int]:
        rated = await Ticket.find(Ticket.server_id == server_id, Ticket.rating > 0).to_list()
        return [int(t.rating) for t in rated if t.rating]

    # --- closing --------------------------------------------------------------------------------
    async def close(self, ticket: Ticket, closer_id: str, reason: str, *, channel_gone: bool = False) -> bool:
        """Close (once: a second closer gets False): transcript, log, access removed, rating."""
        closed_at = now()
        reason = truncate_utf8(self.safe(ticket.server_id, reason.strip()), 500)
        won = await Ticket.get_pymongo_collection().update_one(
            {"_id": ticket.id, "status": OPEN},
            {
                "$set": {
                    "status": CLOSING,
                    "closer_id": closer_id,
                    "close_reason": reason,
                    "closed_at": closed_at,
                }
            },
        )
        if won.modified_count != 1:
            return False
        fresh = await self.ticket(str(ticket.id))  # what others changed meanwhile (members added...)
        if fresh is not None:
            ticket = fresh
        await self.finish_close(ticket, channel_gone=channel_gone)
        return True

    async def finish_close(self, ticket: Ticket, *, channel_gone: bool = False) -> None:
        """The rest of a close (also what a retry after a crash runs for a ``closing`` ticket)."""
        server_id = ticket.server_id
        settings = await self.settings(server_id)
        await self.learn(
            server_id, ticket.opener_id, ticket.claimer_id or "", ticket.closer_id or "", *ticket.added
        )
        entries = await self.entries(ticket, from_api=not channel_gone)
        closer = ticket.closer_id or self.ctx.bot_user_id
        summary = Summary(
            ticket_id=str(ticket.id),
            number=ticket.number,
            server_name=self.server_name(server_id),
            opener=self.name_of(server_id, ticket.opener_id),
            claimer=self.name_of(server_id, ticket.claimer_id) if ticket.claimer_id else "nobody",
            closer=self.name_of(server_id, closer),
            reason=ticket.close_reason or "",
            opened_at=ticket.opened_at,
            closed_at=ticket.closed_at or now(),
            topic=ticket.topic,
            members=[self.name_of(server_id, u) for u in [ticket.opener_id, *ticket.added]],
        )
        document, digest = render_html(summary, entries)
        existing = await TranscriptDoc.find_one(TranscriptDoc.ticket_id == str(ticket.id))
        if existing is None:
            with contextlib.suppress(DuplicateKeyError):
                await TranscriptDoc(
                    server_id=server_id,
                    ticket_id=str(ticket.id),
                    number=ticket.number,
                    html=document,
                    opener_id=ticket.opener_id,
                    member_ids=[ticket.opener_id, *ticket.added],
                    closed_at=summary.closed_at,
                    hash=digest,
                ).insert()
        if settings is not None and settings.log_channel:
            await self._post_transcript(settings.log_channel, summary, entries, document, digest)
        await self._remove_access(ticket, channel_gone=channel_gone)
        await Ticket.get_pymongo_collection().update_one(
            {"_id": ticket.id}, {"$set": {"status": CLOSED, "transcript_hash": digest}}
        )
        ticket.status, ticket.transcript_hash = CLOSED, digest
        await TicketSlot.find(TicketSlot.ticket_id == str(ticket.id)).delete()
        with contextlib.suppress(Exception):
            await self.ctx.timers.cancel(f"{IDLE_TIMER}:{ticket.id}")
        await self._ask_rating(ticket)

    async def _post_transcript(
        self, log_channel: str, summary: Summary, entries: list[Entry], document: str, digest: str
    ) -> None:
        api = self.ctx.api
        head = "\n".join(summary.lines(digest, len(entries)))
        text = truncate_utf8(self.safe(None, f"📄 **Transcript**\n{head}"), 2000)
        file = File(document.encode(), f"ticket-{summary.number}.html", "text/html")
        try:
            await api.send_message(log_channel, text, attachments=[file])
            return
        except (UploadRefused, InvalidRequest, StoatAPIError) as exc:
            self.ctx.logger.info("tickets: transcript upload failed ({}); posting it as text", exc)
        try:
            await api.send_message(log_channel, text)
            lines, _ = render_text(summary, entries)
            chunk = "Transcript:"
            posted = 0
            for line in lines or ["(no messages)"]:
                line = truncate_utf8(self.safe(None, line), 1800)
                if len((chunk + "\n" + line).encode()) > 1900:
                    if posted >= MAX_FALLBACK_MESSAGES - 1:
                        chunk += "\n(… the rest is kept by the bot)"
                        break
                    await api.send_message(log_channel, chunk)
                    posted += 1
                    chunk = line
                else:
                    chunk += "\n" + line
            await api.send_message(log_channel, chunk)
        except StoatAPIError as exc:
            self.ctx.logger.warning("tickets: could not post transcript #{}: {}", summary.number, exc.type)

    async def _remove_access(self, ticket: Ticket, *, channel_gone: bool) -> None:
        if ticket.mode == CHANNEL:
            if ticket.channel_id and not channel_gone:
                with contextlib.suppress(StoatAPIError):
                    await self._delete_channel(ticket.channel_id)
            if ticket.role_id:
                kept = False
                for user_id in [ticket.opener_id, *ticket.added]:
                    try:
                        await self._take_role(ticket.server_id, user_id, ticket.role_id)
                    except StoatAPIError as exc:
                        kept = True
                        self.ctx.logger.warning(
                            "tickets: could not take the ticket role from {}: {}", user_id, exc.type
                        )
                if kept:  # reusing it would open the next ticket to a member of this one
                    await self._retire_role(ticket.server_id, ticket.role_id)
                else:
                    await self._release_role(ticket.role_id)
        elif ticket.dm_channel_id:
            why = f" ({ticket.close_reason})" if ticket.close_reason else ""
            with contextlib.suppress(StoatAPIError):
                await self.ctx.api.send_message(
                    ticket.dm_channel_id,
                    f"🔒 Ticket #{ticket.number} is closed{why}.",
                    masquerade=self.persona(ticket.server_id),
                )
            settings = await self.settings(ticket.server_id)
            if settings and settings.staff_channel:
                with contextlib.suppress(StoatAPIError):
                    await self.ctx.api.send_message(
                        settings.staff_channel, f"🔒 Ticket #{ticket.number} is closed{why}."
                    )

    def _transcript_line(self, ticket: Ticket) -> str:
        link = self.transcript_link(ticket.server_id, str(ticket.id), ticket.opener_id)
        return f"\nYour transcript (the link works once, for you): {link}" if link else ""

    async def _ask_rating(self, ticket: Ticket) -> None:
        try:
            dm = await self.ctx.api.open_dm(ticket.opener_id)
            sent = await self.ctx.api.send_message(
                dm.id,
                f"Your ticket #{ticket.number} on {self.safe(None, self.server_name(ticket.server_id))} "
                "is closed. "
                "How was the help you got? React from 1 (poor) to 5 (great)." + self._transcript_line(ticket),
                masquerade=self.persona(ticket.server_id),
                reactions=RATING_EMOJI,
                restrict_reactions=True,
            )
        except StoatAPIError as exc:
            self.ctx.logger.info("tickets: could not ask {} for a rating: {}", ticket.opener_id, exc.type)
            return
        await Ticket.get_pymongo_collection().update_one(
            {"_id": ticket.id}, {"$set": {"rating_channel_id": dm.id, "rating_message_id": sent.id}}
        )
        ticket.rating_channel_id, ticket.rating_message_id = dm.id, sent.id

    async def entries(self, ticket: Ticket, *, from_api: bool = True) -> list[Entry]:
        """The transcript's messages, oldest first, with their edits."""
        logged = await LoggedMessage.find(LoggedMessage.ticket_id == str(ticket.id)).sort("at").to_list()
        versions: dict[str, list[LoggedMessage]] = {}
        for doc in logged:
            versions.setdefault(doc.message_id, []).append(doc)
        for docs in versions.values():
            docs.sort(key=lambda d: (d.version, d.at))
        if ticket.mode == CHANNEL and ticket.channel_id and from_api:
            try:
                return await self._entries_from_channel(ticket, versions)
            except StoatAPIError as exc:
                self.ctx.logger.info(
                    "tickets: reading #{}'s channel failed ({}); using the log", ticket.number, exc.type
                )
        entries = []
        for docs in sorted(versions.values(), key=lambda d: d[0].at):
            first, last = docs[0], docs[-1]
            entries.append(
                Entry(
                    message_id=first.message_id,
                    author_id=first.author_id,
                    author_name=first.author_name or self.name_of(ticket.server_id, first.author_id),
                    at=first.at,
                    content=last.content,
                    edits=[d.content for d in docs[:-1]],
                    edited_at=last.at if len(docs) > 1 else None,
                    attachments=first.attachments,
                )
            )
        return entries

    async def _entries_from_channel(
        self, ticket: Ticket, versions: dict[str, list[LoggedMessage]]
    ) -> list[Entry]:
        from logiq_core.plugin import parse_timestamp, ulid_time

        assert ticket.channel_id is not None
        messages = []
        after: str | None = None
        while True:
            page = await self.ctx.api.fetch_messages(
                ticket.channel_id, limit=100, oldest_first=True, after=after
            )
            if not page:
                break
            messages.extend(page)
            after = page[-1].id
            if len(page) < 100 or len(messages) >= 10_000:
                break
        await self.learn(ticket.server_id, *{message.author for message in messages})
        entries = []
        for message in messages:
            content = message.content or ""
            docs = versions.get(message.id, [])
            earlier = [d.content for d in docs if d.content != content]
            edited = parse_timestamp(message.edited).timestamp() if message.edited else None
            entries.append(
                Entry(
                    message_id=message.id,
                    author_id=message.author,
                    author_name=self.name_of(ticket.server_id, message.author),
                    at=ulid_time(message.id).timestamp(),
                    content=content,
                    edits=earlier,
                    edited_at=edited,
                    attachments=[a.filename or a.id for a in message.attachments or []],
                )
            )
        return entries

    async def recover(self, server_id: str) -> int:
        """Finish closes a crash interrupted (tickets left ``closing`` for over two minutes)."""
        stuck = await Ticket.find(Ticket.server_id == server_id, Ticket.status == CLOSING).to_list()
        done = 0
        for ticket in stuck:
            if ticket.closed_at and now() - ticket.closed_at > STUCK_CLOSE_SECONDS:
                await self.finish_close(ticket, channel_gone=ticket.channel_id not in self.ctx.cache.channels)
                done += 1
        return done

    # --- channel deleted by hand ----------------------------------------------------------------
    async def channel_deleted(self, channel_id: str) -> None:
        ticket = await self.by_channel(channel_id)
        if ticket is not None:
            await self.close(
                ticket, self.ctx.bot_user_id, "the ticket channel was deleted", channel_gone=True
            )

    # --- auto-close -----------------------------------------------------------------------------
    def warn_before(self, autoclose: float) -> float:
        return min(autoclose / 4, 86400.0)

    async def _schedule_idle(self, ticket: Ticket, settings: TicketSettings) -> None:
        key = f"{IDLE_TIMER}:{ticket.id}"
        if not settings.autoclose_seconds:
            with contextlib.suppress(Exception):
                await self.ctx.timers.cancel(key)
            return
        due = (
            ticket.opener_active_at
            + settings.autoclose_seconds
            - self.warn_before(settings.autoclose_seconds)
        )
        await self.ctx.timers.schedule(
            IDLE_TIMER,
            key,
            timedelta(seconds=max(due - now(), 0.0)),
            server_id=ticket.server_id,
            payload={"ticket": str(ticket.id)},
        )

    async def idle_check(self, ticket_id: str) -> None:
        """The auto-close timer: warn, then close, unless the opener wrote since (idempotent)."""
        ticket = await self.ticket(ticket_id)
        if ticket is None:
            return
        if ticket.status == CLOSING:
            # A close that a crash interrupted, not one still running (as recover() decides).
            if ticket.closed_at and now() - ticket.closed_at > STUCK_CLOSE_SECONDS:
                await self.finish_close(ticket)
            return
        if ticket.status != OPEN:
            return
        settings = await self.settings(ticket.server_id)
        if settings is None or not settings.autoclose_seconds:
            return
        limit = settings.autoclose_seconds
        idle = now() - ticket.opener_active_at
        key = f"{IDLE_TIMER}:{ticket.id}"
        if idle >= limit - 0.05 and ticket.warned_at:
            await self.close(
                ticket, self.ctx.bot_user_id, f"no reply from the opener for {human_duration(limit)}"
            )
            return
        warn_at = limit - self.warn_before(limit)
        if idle >= warn_at - 0.05:
            if not ticket.warned_at:
                await Ticket.get_pymongo_collection().update_one(
                    {"_id": ticket.id}, {"$set": {"warned_at": now()}}
                )
                left = limit - idle
                await self._announce(
                    ticket,
                    f"⏰ This ticket closes in {human_duration(left)} unless "
                    f"{self.safe(ticket.server_id, self.name_of(ticket.server_id, ticket.opener_id))} "
                    "replies.",
                )
                ticket.warned_at = now()
            await self.ctx.timers.schedule(
                IDLE_TIMER,
                key,
                timedelta(seconds=max(ticket.opener_active_at + limit - now(), 0.0)),
                server_id=ticket.server_id,
                payload={"ticket": str(ticket.id)},
            )
            return
        await self._schedule_idle(ticket, settings)

    # --- status and the dashboard ---------------------------------------------------------------
    async def status(self, server_id: str) -> dict[str, Any]:
        settings = await self._require_settings(server_id)
        open_tickets = await Ticket.find(Ticket.server_id == server_id, Ticket.status == OPEN).count()
        budget = self.budget(server_id, await self.free_pool_roles(server_id))
        pool = await PoolRole.find(PoolRole.server_id == server_id).count()
        return {
            "settings": settings,
            "open": open_tickets,
            "budget": budget,
            "pool": pool,
            "ratings": await self.ratings(server_id),
        }

    async def transcript(self, server_id: str, ticket_id: str) -> StoredTranscript | None:
        """A closed ticket's stored transcript (for the dashboard), or None."""
        doc = await TranscriptDoc.find_one(
            TranscriptDoc.server_id == server_id, TranscriptDoc.ticket_id == ticket_id
        )
        if doc is None:
            return None
        return StoredTranscript(
            server_id=doc.server_id,
            ticket_id=doc.ticket_id,
            number=doc.number,
            html=doc.html,
            opener_id=doc.opener_id,
            member_ids=list(doc.member_ids),
            closed_at=doc.closed_at,
            hash=doc.hash,
        )


def human_duration(seconds: float) -> str:
    """A duration in words for members ("10m"), never below one second."""
    return format_duration(timedelta(seconds=max(round(seconds), 1)))
