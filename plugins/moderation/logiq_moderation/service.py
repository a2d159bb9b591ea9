"""Moderation's logic: cases, warnings and escalation, temporary bans, settings, automod state.

The service talks to Stoat only through the core's API client and to storage only through its
Beanie documents, and takes ``now`` explicitly where time matters so tests need no sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pymongo import ReturnDocument

from logiq_core.plugin import (
    SendableEmbed,
    StoatAPIError,
    StoatUnavailable,
    neutralise_mentions,
    strip_invisible,
    truncate_utf8,
)
from logiq_moderation.automod import CompiledRules, Rule
from logiq_moderation.config import ModerationConfig
from logiq_moderation.models import (
    AutomodRuleModel,
    CaseCounter,
    EscalationRule,
    ModCase,
    ModSettings,
    TempBan,
)

if TYPE_CHECKING:
    from logiq_core.plugin import PluginContext

ACTION_COLOURS = {
    "ban": "#d64545",
    "tempban": "#d64545",
    "kick": "#e08a2c",
    "timeout": "#e0c02c",
    "warn": "#e0c02c",
    "unban": "#3fa35b",
    "untimeout": "#3fa35b",
    "purge": "#5b7bd6",
    "lock": "#5b7bd6",
    "unlock": "#5b7bd6",
}


LIFT_BAN = "lift-ban"
MAX_EMBED_BYTES = 1900  # within Stoat's 2000 bytes of content plus embed descriptions
MAX_REASON_BYTES = 1500


def unban_key(server_id: str, user_id: str) -> str:
    return f"unban:{server_id}:{user_id}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ModerationService:
    """One bot's moderation state and actions."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context
        self.config = ModerationConfig.of(context)
        self._rules: dict[str, tuple[CompiledRules, ModSettings]] = {}

    # --- settings -----------------------------------------------------------------------------
    async def settings(self, server_id: str) -> ModSettings:
        found = await ModSettings.find_one(ModSettings.server_id == server_id)
        if found is not None:
            return found
        defaults = [EscalationRule(**rule.model_dump()) for rule in self.config.escalation]
        return ModSettings(
            server_id=server_id, escalation=defaults, warning_decay_days=self.config.warning_decay_days
        )

    async def save_settings(self, settings: ModSettings) -> None:
        await settings.save()
        self._rules.pop(settings.server_id, None)

    # --- cases --------------------------------------------------------------------------------
    async def next_case_number(self, server_id: str) -> int:
        """Atomic: one ``$inc`` on the server's counter, so two moderators never share one."""
        collection = CaseCounter.get_pymongo_collection()
        counter = await collection.find_one_and_update(
            {"server_id": server_id},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # an upsert returning the document after always finds one
        return int(counter["value"])

    async def record(
        self,
        server_id: str,
        action: str,
        moderator_id: str,
        target_id: str | None,
        reason: str,
        *,
        expires_at: datetime | None = None,
        automod_rule: str | None = None,
        now: datetime | None = None,
        awaiting_confirmation: bool = False,
    ) -> ModCase:
        settings = await self.settings(server_id)
        case = ModCase(
            server_id=server_id,
            number=await self.next_case_number(server_id),
            action=action,
            target_id=target_id,
            moderator_id=moderator_id,
            reason=reason,
            created_at=now or utcnow(),
            expires_at=expires_at,
            automod_rule=automod_rule,
            confirmed=False if awaiting_confirmation else None,
            # In the outbox from the start: a crash before the post is delivered on restart.
            modlog_pending=settings.modlog_channel is not None,
        )
        await case.insert()
        await self.post_to_modlog(case)
        return case

    async def mark_confirmed(self, server_id: str, number: int) -> None:
        await ModCase.get_pymongo_collection().update_one(
            {"server_id": server_id, "number": number, "confirmed": False}, {"$set": {"confirmed": True}}
        )

    async def deliver_outbox(self, server_id: str) -> int:
        """Post every case still waiting for the mod log (after a crash or a failed post)."""
        delivered = 0
        pending = (
            await ModCase.find(
                ModCase.server_id == server_id,
                ModCase.modlog_pending == True,  # noqa: E712 - a query expression
            )
            .sort("number")
            .to_list()
        )
        for case in pending:
            if not await self.post_to_modlog(case):
                break  # Stoat is unavailable: try again on the next run
            delivered += 1
        return delivered

    async def case(self, server_id: str, number: int) -> ModCase | None:
        return await ModCase.find_one(ModCase.server_id == server_id, ModCase.number == number)

    def describe_user(self, server_id: str, user_id: str | None) -> str:
        if user_id is None:
            return "-"
        cache = self.context.cache
        member = cache.cached_member(server_id, user_id)
        user = cache.users.get(user_id)
        name = (member.nickname if member else None) or (user.username if user else user_id)
        return f"{name} ({user_id})"

    def neutralise(self, server_id: str, text: str) -> str:
        """Member text made unable to ping and stripped of invisible characters (for embeds,
        which Stoat renders with mentions just like content)."""
        cache = self.context.cache
        server = cache.servers.get(server_id)

        def user_name(user_id: str) -> str | None:
            user = cache.users.get(user_id)
            return user.username if user else None

        def role_name(role_id: str) -> str | None:
            return server.roles[role_id].name if server and role_id in server.roles else None

        return neutralise_mentions(strip_invisible(text), user_name, role_name)

    def case_embed(self, case: ModCase) -> SendableEmbed:
        reason = self.neutralise(case.server_id, case.reason) if case.reason else "none given"
        target = self.describe_user(case.server_id, case.target_id)
        moderator = self.describe_user(case.server_id, case.moderator_id)
        lines = [
            f"Member: {self.neutralise(case.server_id, target)}",
            f"Moderator: {self.neutralise(case.server_id, moderator)}",
            f"Reason: {truncate_utf8(reason, MAX_REASON_BYTES)}",
        ]
        if case.expires_at:
            lines.append(f"Until: {as_utc(case.expires_at):%Y-%m-%d %H:%M} UTC")
        if case.deleted:
            lines.append("(removed)")
        return SendableEmbed(
            title=f"Case {case.number}: {case.action}",
            description=truncate_utf8("\n".join(lines), MAX_EMBED_BYTES),
            colour=ACTION_COLOURS.get(case.action, "#888888"),
        )

    async def post_to_modlog(self, case: ModCase) -> bool:
        """Post the case to the mod log and take it out of the outbox; False if it stays in."""
        settings = await self.settings(case.server_id)
        if settings.modlog_channel is not None:
            try:
                await self.context.api.send_message(
                    settings.modlog_channel,
                    embeds=[self.case_embed(case)],
                    idempotency_key=f"case-{case.id}",  # a redelivery never posts twice
                )
            except StoatUnavailable as exc:  # try again later: the case stays in the outbox
                self.context.logger.warning("cannot post case {} to the mod log yet: {}", case.number, exc)
                return False
            except StoatAPIError as exc:
                if exc.type != "DuplicateNonce":  # DuplicateNonce: an earlier post got through
                    self.context.logger.warning("cannot post case {} to the mod log: {}", case.number, exc)
        if case.modlog_pending:
            await ModCase.get_pymongo_collection().update_one(
                {"_id": case.id}, {"$set": {"modlog_pending": False}}
            )
            case.modlog_pending = False
        return True

    # --- warnings and escalation --------------------------------------------------------------
    async def active_warnings(
        self, server_id: str, user_id: str, now: datetime | None = None
    ) -> list[ModCase]:
        settings = await self.settings(server_id)
        warnings = await ModCase.find(
            ModCase.server_id == server_id,
            ModCase.target_id == user_id,
            ModCase.action == "warn",
            ModCase.deleted == False,  # noqa: E712 - a query expression, not a comparison
        ).to_list()
        if settings.warning_decay_days is None:
            return warnings
        cutoff = (now or utcnow()) - timedelta(days=settings.warning_decay_days)
        return [w for w in warnings if as_utc(w.created_at) > cutoff]

    async def escalation_for(
        self, server_id: str, user_id: str, now: datetime | None = None
    ) -> tuple[int, EscalationRule | None]:
        """How many active warnings, and the rule that this count triggers (if any)."""
        count = len(await self.active_warnings(server_id, user_id, now))
        settings = await self.settings(server_id)
        rule = next((r for r in settings.escalation if r.warnings == count), None)
        return count, rule

    # --- temporary bans (durable core timers, one per banned user and server) ------------------
    async def schedule_unban(self, server_id: str, user_id: str, until: datetime, case_number: int) -> None:
        """Lift the ban at ``until``; banning the same user again moves the one timer."""
        await self.context.timers.schedule(
            LIFT_BAN,
            unban_key(server_id, user_id),
            until,
            server_id=server_id,
            payload={"user_id": user_id, "case_number": case_number},
        )

    async def cancel_unban(self, server_id: str, user_id: str) -> bool:
        """Forget a pending automatic unban (the ban was lifted by hand or made permanent)."""
        return await self.context.timers.cancel(unban_key(server_id, user_id))

    async def lift_ban(self, server_id: str, user_id: str, case_number: int) -> None:
        """The timer's work, safe to repeat: the case is recorded once (first, so whoever sees
        the ban gone finds it), then the unban (already unbanned is fine) until it succeeds."""
        reason = f"temporary ban (case {case_number}) ended"
        already = await ModCase.find_one(
            ModCase.server_id == server_id,
            ModCase.action == "unban",
            ModCase.target_id == user_id,
            ModCase.reason == reason,
        )
        if already is None:
            await self.record(server_id, "unban", self.context.bot_user_id, user_id, reason)
        try:
            await self.context.api.unban_user(server_id, user_id)
        except StoatAPIError as exc:
            if exc.type != "NotFound":  # already unbanned by hand: nothing to do
                raise

    async def adopt_legacy_tempbans(self) -> int:
        """Move temporary bans stored by versions before core timers onto timers (once)."""
        moved = 0
        async for ban in TempBan.find(TempBan.lifted == False):  # noqa: E712 - a query expression
            await self.context.timers.schedule(
                LIFT_BAN,
                unban_key(ban.server_id, ban.user_id),
                as_utc(ban.until),
                server_id=ban.server_id,
                keep_existing=True,
                payload={"user_id": ban.user_id, "case_number": ban.case_number},
            )
            ban.lifted = True
            await ban.save()
            moved += 1
        return moved

    # --- automod ------------------------------------------------------------------------------
    async def compiled_rules(self, server_id: str) -> tuple[CompiledRules, ModSettings]:
        """The server's automod rules, compiled once and kept until its settings change."""
        cached = self._rules.get(server_id)
        if cached is None:
            settings = await self.settings(server_id)
            compiled = CompiledRules(
                [Rule(**r.model_dump()) for r in settings.automod],
                timeout_counts_as_hit=self.config.pattern_timeout_is_hit,
            )
            cached = self._rules[server_id] = (compiled, settings)
        return cached

    async def add_rule(
        self, server_id: str, kind: str, value: str, action: str, duration_seconds: int | None
    ) -> AutomodRuleModel:
        settings = await self.settings(server_id)
        rule = AutomodRuleModel(
            id=settings.next_rule_id,
            kind=kind,
            value=value,
            action=action,
            duration_seconds=duration_seconds,
        )
        settings.automod.append(rule)
        settings.next_rule_id += 1
        await self.save_settings(settings)
        return rule
