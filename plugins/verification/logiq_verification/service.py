"""Verification's logic: joins, role swaps, challenges, account age, deadlines, raid guard.

Stoat replaces a member's whole role list on every edit, so each role change reads the member's
roles fresh from Stoat right before writing and changes only the roles it means to: a role that
someone else added in the meantime is kept.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from logiq_core.plugin import StoatAPIError, StoatUnavailable, check_role_assignable, ulid_time
from logiq_verification.config import VerificationConfig
from logiq_verification.models import PendingMember, VerificationSettings

if TYPE_CHECKING:
    from logiq_core.plugin import PluginContext

CHECK_MARK = "✅"
KICK_DEADLINE = "kick-deadline"


def deadline_key(server_id: str, user_id: str) -> str:
    return f"kick:{server_id}:{user_id}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_challenge(rng: random.Random) -> tuple[str, str]:
    """A short question a person answers at a glance: (question, answer)."""
    left, right = rng.randint(2, 9), rng.randint(2, 9)
    return f"What is {left} + {right}?", str(left + right)


class VerificationService:
    """One bot's verification state and actions."""

    def __init__(self, context: PluginContext, clock: Callable[[], datetime] = utcnow) -> None:
        self.context = context
        self.clock = clock
        self.rng = random.Random()
        self._joins: dict[str, deque[datetime]] = defaultdict(lambda: deque(maxlen=1000))
        self._settings: dict[str, VerificationSettings] = {}

    # --- settings -----------------------------------------------------------------------------
    async def settings(self, server_id: str) -> VerificationSettings:
        cached = self._settings.get(server_id)
        if cached is not None:
            return cached
        found = await VerificationSettings.find_one(VerificationSettings.server_id == server_id)
        if found is None:
            config = VerificationConfig.of(self.context)
            found = VerificationSettings(
                server_id=server_id,
                max_attempts=config.challenge_attempts,
                min_account_age_seconds=config.min_account_age_seconds,
            )
        self._settings[server_id] = found
        return found

    async def save(self, settings: VerificationSettings) -> None:
        await settings.save()
        self._settings[settings.server_id] = settings

    def effective_mode(self, settings: VerificationSettings) -> str:
        """Challenge while a raid guard is active, else the configured mode."""
        if settings.raid_until is not None and as_utc(settings.raid_until) > self.clock():
            return "challenge"
        return settings.mode

    async def modlog(self, settings: VerificationSettings, text: str) -> None:
        if settings.modlog_channel is None:
            return
        try:
            await self.context.api.send_message(settings.modlog_channel, text)
        except StoatAPIError as exc:
            self.context.logger.warning("cannot post to the verification log: {}", exc)

    # --- roles --------------------------------------------------------------------------------
    async def change_roles(self, server_id: str, user_id: str, add: set[str], remove: set[str]) -> list[str]:
        """Read the member's roles fresh, then write them back changed only by add/remove."""
        member = await self.context.api.fetch_member(server_id, user_id)
        roles = [r for r in member.roles if r not in remove]
        roles.extend(r for r in add if r not in roles)
        if roles != member.roles:
            await self.context.api.edit_member(server_id, user_id, roles=roles)
        return roles

    async def refusal(self, settings: VerificationSettings, role_ids: set[str]) -> str | None:
        """Why these roles may not be handed out now (None: they may).

        Checked at every hand-out, not only at set-up: the bot must outrank each role, and so
        must whoever configured it (they may have lost rank or AssignRoles since).
        """
        cache = self.context.cache
        server_id = settings.server_id
        server = cache.servers.get(server_id)
        configurer = settings.configured_by
        for role_id in role_ids:
            role = server.roles.get(role_id) if server else None
            if role is None:
                return "a verification role no longer exists; set verification up again"
            bot = await cache.member(server_id, self.context.bot_user_id)
            verdict = check_role_assignable(
                role.rank,
                actor_ranking=cache.ranking(bot),
                actor_permissions=cache.server_permissions_of(bot),
            )
            if not verdict.allowed:
                return f"I cannot assign @{role.name}: {verdict.reason.replace('the top', 'my top')}"
            if configurer is None or cache.is_owner(server_id, configurer):
                continue
            try:
                member = await cache.member(server_id, configurer)
            except StoatUnavailable:
                return "Stoat did not answer while I checked the roles; try again"
            except StoatAPIError:
                return f"@{role.name} was set up by someone who is no longer a member; set it up again"
            verdict = check_role_assignable(
                role.rank,
                actor_ranking=cache.ranking(member),
                actor_permissions=cache.server_permissions_of(member),
            )
            if not verdict.allowed:
                return (
                    f"@{role.name} was set up by someone who can no longer assign it "
                    f"({verdict.reason}); a manager must set verification up again"
                )
        return None

    async def _refuse(self, settings: VerificationSettings, user_id: str, why: str) -> str:
        self.context.logger.warning("verification of {} refused: {}", user_id, why)
        await self.modlog(settings, f"Did not change <@{user_id}>'s roles: {why}.")
        return why

    async def pending(self, server_id: str, user_id: str) -> PendingMember | None:
        return await PendingMember.find_one(
            PendingMember.server_id == server_id, PendingMember.user_id == user_id
        )

    async def verify(self, server_id: str, user_id: str, *, by_moderator: bool = False) -> str | None:
        """Give the verified role (and take the unverified one); returns why not, if refused."""
        settings = await self.settings(server_id)
        add = {settings.verified_role} if settings.verified_role else set()
        remove = {settings.unverified_role} if settings.unverified_role else set()
        record = await self.pending(server_id, user_id)
        if record is not None and record.state == "revoked" and not by_moderator:
            return "a moderator took their verification back"
        why = await self.refusal(settings, add | remove)
        if why is not None:
            return await self._refuse(settings, user_id, why)
        await self.change_roles(server_id, user_id, add, remove)
        if record is not None:
            for message_id in record.cleanup:
                try:
                    await self.context.api.delete_message(str(settings.channel_id), message_id)
                except StoatAPIError:
                    pass  # already gone
            record.state, record.cleanup, record.deadline = "verified", [], None
            await record.save()
        await self.context.timers.cancel(deadline_key(server_id, user_id))
        return None

    async def unverify(self, server_id: str, user_id: str) -> str | None:
        """A moderator's decision: it stands until a moderator verifies them again."""
        settings = await self.settings(server_id)
        add = {settings.unverified_role} if settings.unverified_role else set()
        remove = {settings.verified_role} if settings.verified_role else set()
        why = await self.refusal(settings, add | remove)
        if why is not None:
            return await self._refuse(settings, user_id, why)
        record = await self.pending(server_id, user_id) or PendingMember(
            server_id=server_id, user_id=user_id, joined_at=self.clock()
        )
        record.state, record.deadline, record.answer = "revoked", None, None
        await record.save()
        await self.change_roles(server_id, user_id, add, remove)
        return None

    # --- joins --------------------------------------------------------------------------------
    def register_join(self, settings: VerificationSettings, now: datetime) -> bool:
        """Count a join; True when this join starts a raid (more than N joins in M seconds)."""
        joins = self._joins[settings.server_id]
        joins.append(now)
        if not settings.raid_joins:
            return False
        window = timedelta(seconds=settings.raid_seconds)
        recent = sum(1 for t in joins if now - t <= window)
        already = settings.raid_until is not None and as_utc(settings.raid_until) > now
        return recent > settings.raid_joins and not already

    async def on_join(self, server_id: str, user_id: str) -> str:
        """Handle a newcomer; returns what happened (for logs and tests)."""
        settings = await self.settings(server_id)
        if not settings.enabled:
            return "off"
        now = self.clock()
        if self.register_join(settings, now):
            settings.raid_until = now + timedelta(seconds=settings.raid_duration_seconds)
            await self.save(settings)
            await self.modlog(
                settings,
                f"⚠️ Raid guard: more than {settings.raid_joins} joins in {settings.raid_seconds}s;"
                f" challenge mode until {settings.raid_until:%H:%M} UTC.",
            )
        age = now - ulid_time(user_id)
        young = age < timedelta(seconds=settings.min_account_age_seconds)
        record = await self.pending(server_id, user_id) or PendingMember(
            server_id=server_id, user_id=user_id, joined_at=now
        )
        record.joined_at, record.attempts, record.cleanup = now, 0, []
        if record.state == "revoked":  # leaving and rejoining does not undo a moderator
            await record.save()
            if settings.unverified_role and await self.refusal(settings, {settings.unverified_role}) is None:
                await self.change_roles(server_id, user_id, {settings.unverified_role}, set())
            return "revoked"
        if young:
            days = settings.min_account_age_seconds / 86400
            reason = f"account is {age.days} day(s) old; the minimum is {days:g}"
            if settings.young_action == "kick":
                record.state = "kicked"
                await record.save()
                await self.context.api.kick_member(server_id, user_id)
                await self.modlog(settings, f"Kicked <@{user_id}> on join: {reason}.")
                return "kicked: young account"
            record.state = "held"
            await record.save()
            await self.modlog(settings, f"Holding <@{user_id}> unverified: {reason}.")
            return "held: young account"
        if settings.unverified_role:
            why = await self.refusal(settings, {settings.unverified_role})
            if why is None:
                await self.change_roles(server_id, user_id, {settings.unverified_role}, set())
            else:
                await self._refuse(settings, user_id, why)
        record.state = "pending"
        record.deadline = (
            now + timedelta(seconds=settings.kick_after_seconds) if settings.kick_after_seconds else None
        )
        if self.effective_mode(settings) == "challenge" and settings.channel_id:
            question, answer = make_challenge(self.rng)
            record.question, record.answer = question, answer
            sent = await self.context.api.send_message(
                settings.channel_id,
                f"Welcome <@{user_id}>! To get in, answer here: {question}",
            )
            record.cleanup = [sent.id]
        await record.save()
        if record.deadline is not None:  # a durable core timer: survives restarts, runs once
            await self.context.timers.schedule(
                KICK_DEADLINE,
                deadline_key(server_id, user_id),
                as_utc(record.deadline),
                server_id=server_id,
                payload={"user_id": user_id},
            )
        else:
            await self.context.timers.cancel(deadline_key(server_id, user_id))
        return "pending"

    async def on_leave(self, server_id: str, user_id: str) -> None:
        record = await self.pending(server_id, user_id)
        if record is not None and record.state in ("pending", "held"):
            record.state, record.deadline = "left", None
            await record.save()
        await self.context.timers.cancel(deadline_key(server_id, user_id))

    # --- answers and reactions ----------------------------------------------------------------
    async def on_reaction(self, server_id: str, message_id: str, user_id: str, emoji: str) -> bool:
        settings = await self.settings(server_id)
        if not settings.enabled or message_id != settings.message_id:
            return False
        if emoji.replace("\ufe0f", "") != CHECK_MARK or self.effective_mode(settings) != "reaction":
            return False
        record = await self.pending(server_id, user_id)
        if record is not None and record.state in ("held", "revoked"):
            return False
        return await self.verify(server_id, user_id) is None

    async def on_answer(
        self, server_id: str, channel_id: str, message_id: str, user_id: str, text: str
    ) -> str | None:
        """A message in the verification channel from someone with an open challenge."""
        settings = await self.settings(server_id)
        if not settings.enabled or channel_id != settings.channel_id:
            return None
        record = await self.pending(server_id, user_id)
        if record is None or record.state != "pending" or record.answer is None:
            return None
        record.cleanup.append(message_id)
        if text.strip() == record.answer:
            await record.save()
            refused = await self.verify(server_id, user_id)
            return "verified" if refused is None else "refused"
        record.attempts += 1
        if record.attempts >= settings.max_attempts:
            record.state = "kicked"
            await record.save()
            await self.context.api.kick_member(server_id, user_id)
            await self.modlog(settings, f"Kicked <@{user_id}>: {record.attempts} wrong answers.")
            return "kicked"
        await record.save()
        left = settings.max_attempts - record.attempts
        reply = await self.context.api.send_message(
            channel_id,
            f"That is not right; {left} attempt(s) left. {record.question}",
            replies=[(message_id, False)],
        )
        record.cleanup.append(reply.id)
        await record.save()
        return "wrong"

    # --- deadlines (durable core timers: each runs once, across restarts and processes) -------
    async def kick_if_unverified(self, server_id: str, user_id: str) -> bool:
        """The deadline's timer is due: kick the member if still pending. Safe to run again
        after a crash: kicking a member who already left is fine, the log line is written once."""
        record = await self.pending(server_id, user_id)
        if record is None or record.state != "pending":
            return False  # verified, left or already kicked meanwhile
        try:
            await self.context.api.kick_member(server_id, user_id)
        except StoatAPIError as exc:
            if exc.type != "NotFound":
                raise
        collection = PendingMember.get_pymongo_collection()
        result = await collection.update_one(
            {"server_id": server_id, "user_id": user_id, "state": "pending"},
            {"$set": {"state": "kicked", "deadline": None}},
        )
        if result.modified_count:
            settings = await self.settings(server_id)
            await self.modlog(settings, f"Kicked <@{user_id}>: not verified in time.")
        return True

    async def adopt_legacy_deadlines(self) -> int:
        """Give deadlines stored by versions before core timers a timer (existing ones kept)."""
        adopted = 0
        async for record in PendingMember.find(
            PendingMember.state == "pending",
            PendingMember.deadline != None,  # noqa: E711
        ):
            assert record.deadline is not None
            await self.context.timers.schedule(
                KICK_DEADLINE,
                deadline_key(record.server_id, record.user_id),
                as_utc(record.deadline),
                server_id=record.server_id,
                payload={"user_id": record.user_id},
                keep_existing=True,
            )
            adopted += 1
        return adopted
