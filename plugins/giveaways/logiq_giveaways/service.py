"""Giveaways' logic: the verifiable draw (pure functions) and the service that runs giveaways.

The draw, step by step (anyone can redo it from what the bot publishes):

1. At start the bot takes a seed of 32 random bytes (``secrets``), written as 64 lowercase hex
   characters, and publishes its commitment: the SHA-256 (hex) of that hex text (ASCII).
2. At the end it reads the 🎉 reactions, keeps the eligible entrants and gives each a weight
   (1 entry, plus each bonus role's extra entries, summed). The entrant list is the lines
   ``"<user id> <weight>\\n"`` sorted by user id; its hash is the SHA-256 (hex) of that text
   (UTF-8). ``!giveaway entrants`` sends exactly that text as a file.
3. Winners are drawn one after another without replacement. For draw number ``k`` (0, 1, ...,
   counted across the whole round, retries included) take
   ``x = SHA-256("<seed>:<list hash>:<round>:<k>")`` as a 256-bit big-endian integer; with
   ``T`` the total weight of the entrants still in the pool, redraw (``k + 1``) while
   ``x >= 2**256 - 2**256 % T`` (no modulo bias), else ``r = x % T`` picks the entrant whose
   cumulative weight range (in list order) contains ``r``; they leave the pool.
4. The first draw is round 0. Each reroll is the next round (1, 2, ...) over the same list,
   with every earlier winner (the first draw's and earlier rerolls') out of the pool.

Since the commitment is public before anyone enters, the bot cannot pick a seed that favours
someone; since the list and the procedure are public, anyone can check the winners.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from logiq_core.plugin import (
    USER_MENTION,
    Message,
    StoatAPIError,
    count_matching,
    format_duration,
    neutralise_mentions,
    parse_timestamp,
    ulid_time,
)
from logiq_giveaways.models import Giveaway, GiveawayCounter, GiveawaySettings, Reroll

try:  # leveling is optional: `--level` needs it installed and enabled on the server
    from logiq_leveling.service import LevelingService
except ImportError:  # pragma: no cover - depends on what the operator installed
    LevelingService = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from logiq_core.plugin import PluginContext

EMOJI = "🎉"
END_GIVEAWAY = "end-giveaway"
MIN_DURATION = timedelta(seconds=10)
MAX_DURATION = timedelta(weeks=4)
MAX_WINNERS = 50
MAX_RUNNING = 25
MAX_PRIZE = 200
MAX_BONUS = 100
MAX_LEVEL = 1000  # the highest `--level` requirement
ANNOUNCE_GRACE_SECONDS = 90.0  # an ended giveaway still unannounced this long after: announce
MESSAGE_BUDGET = 1900  # bytes; Stoat accepts 2000
_TWO_256 = 1 << 256


# --- the pure, verifiable draw -------------------------------------------------------------------
def new_seed() -> str:
    """32 random bytes from the OS's CSPRNG, as 64 lowercase hex characters."""
    return secrets.token_bytes(32).hex()


def commitment_of(seed: str) -> str:
    """What is published at start: SHA-256 (hex) of the seed's hex text."""
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def canonical(entries: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """The entrant list in its published order (by user id); weights are whole numbers ≥ 1."""
    ordered = sorted((str(user_id), int(weight)) for user_id, weight in entries)
    for index, (user_id, weight) in enumerate(ordered):
        if weight < 1:
            raise ValueError(f"{user_id} has weight {weight}; every entrant has at least 1")
        if index and ordered[index - 1][0] == user_id:
            raise ValueError(f"{user_id} is listed twice")
    return ordered


def entrants_text(entries: Iterable[tuple[str, int]]) -> str:
    """The published entrant list: one ``<user id> <weight>`` line each, sorted by user id."""
    return "".join(f"{user_id} {weight}\n" for user_id, weight in canonical(entries))


def entrants_hash(entries: Iterable[tuple[str, int]]) -> str:
    return hashlib.sha256(entrants_text(entries).encode()).hexdigest()


def parse_entrants_text(text: str) -> list[tuple[str, int]]:
    """Read the published list back (what ``!giveaway entrants`` sends)."""
    entries = []
    for line in text.splitlines():
        if line.strip():
            user_id, weight = line.split()
            entries.append((user_id, int(weight)))
    return canonical(entries)


def draw(
    seed: str,
    entries: Iterable[tuple[str, int]],
    count: int,
    *,
    round: int = 0,
    exclude: Iterable[str] = (),
) -> list[str]:
    """Draw up to ``count`` distinct winners (fewer if the pool runs out); see the module doc."""
    ordered = canonical(entries)
    list_hash = entrants_hash(ordered)
    excluded = set(exclude)
    pool = [(user_id, weight) for user_id, weight in ordered if user_id not in excluded]
    winners: list[str] = []
    k = 0
    while len(winners) < count and pool:
        total = sum(weight for _, weight in pool)
        limit = _TWO_256 - _TWO_256 % total
        while True:
            digest = hashlib.sha256(f"{seed}:{list_hash}:{round}:{k}".encode()).digest()
            k += 1
            x = int.from_bytes(digest, "big")
            if x < limit:
                break
        r = x % total
        for index, (user_id, weight) in enumerate(pool):
            if r < weight:
                winners.append(user_id)
                del pool[index]
                break
            r -= weight
    return winners


@dataclass
class Verification:
    """``ok`` and the figures, or what differs."""

    ok: bool
    lines: list[str] = field(default_factory=list)


def verify_draw(
    *,
    commitment: str,
    seed: str,
    entries: Sequence[tuple[str, int]],
    published_hash: str,
    count: int,
    winners: Sequence[str],
    rerolls: Sequence[tuple[int, int, Sequence[str]]] = (),
) -> Verification:
    """Recompute everything from the seed and the list and compare with what was published.

    ``rerolls`` are ``(round, count, winners)`` in order.
    """
    problems: list[str] = []
    if commitment_of(seed) != commitment:
        problems.append(f"the seed's SHA-256 is {commitment_of(seed)}, the published commitment {commitment}")
    try:
        list_hash = entrants_hash(entries)
    except ValueError as exc:
        problems.append(f"the entrant list is malformed: {exc}")
        return Verification(False, problems)
    if list_hash != published_hash:
        problems.append(f"the entrant list hashes to {list_hash}, the published hash is {published_hash}")
    expected = draw(seed, entries, count)
    if expected != list(winners):
        problems.append(
            f"round 0 draws {', '.join(expected) or 'nobody'}, published {', '.join(winners) or 'nobody'}"
        )
    earlier = list(winners)
    for round_number, reroll_count, reroll_winners in rerolls:
        again = draw(seed, entries, reroll_count, round=round_number, exclude=earlier)
        if again != list(reroll_winners):
            problems.append(
                f"reroll {round_number} draws {', '.join(again) or 'nobody'}, "
                f"published {', '.join(reroll_winners) or 'nobody'}"
            )
        earlier.extend(reroll_winners)
    if problems:
        return Verification(False, problems)
    weight = sum(w for _, w in entries)
    return Verification(
        True,
        [
            f"commitment {commitment} = SHA-256 of seed {seed}",
            f"{len(entries)} entrant(s), {weight} entries, list hash {list_hash}",
            f"winners recomputed: round 0 {len(winners)}"
            + "".join(f", reroll {r} {len(w)}" for r, _, w in rerolls),
        ],
    )


# --- what the giveaway message says ------------------------------------------------------------------
def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


Clean = Callable[[str], str]  # member text made unable to mention (names instead of ids)


def requirement_lines(g: Giveaway, role_name: Any) -> list[str]:
    req = g.requirements
    lines = []
    if req.roles:
        lines.append("Required role(s): " + ", ".join(f"@{role_name(r)}" for r in req.roles))
    if req.min_account_age_seconds:
        age = format_duration(timedelta(seconds=req.min_account_age_seconds))
        lines.append(f"Account age at least {age}")
    if req.min_member_age_seconds:
        age = format_duration(timedelta(seconds=req.min_member_age_seconds))
        lines.append(f"Member for at least {age}")
    if req.min_level:
        lines.append(f"Level {req.min_level} or higher (leveling)")
    if req.bonus:
        lines.append("Bonus entries: " + ", ".join(f"@{role_name(r)} +{n}" for r, n in req.bonus.items()))
    return lines


def start_text(g: Giveaway, host_name: str, role_name: Any, safe: Clean = neutralise_mentions) -> str:
    lines = [
        f"{EMOJI} **Giveaway #{g.number}**: {safe(g.prize)}",
        f"{g.winners_count} winner(s) · ends {when(g.ends_at)} · hosted by @{safe(host_name)}",
        *requirement_lines(g, role_name),
        *g.notes,
        f"React with {EMOJI} to enter.",
        f"Draw commitment (SHA-256 of the seed): `{g.commitment}`",
    ]
    return "\n".join(lines)


def _names_within(names: list[str], budget: int) -> str:
    shown: list[str] = []
    for index, name in enumerate(names):
        rest = len(names) - index - 1
        candidate = ", ".join([*shown, name]) + (f" and {rest} more" if rest else "")
        if len(candidate.encode()) > budget:
            return ", ".join(shown) + f" and {len(names) - len(shown)} more"
        shown.append(name)
    return ", ".join(shown)


def result_text(g: Giveaway, name_of: Any, safe: Clean = neutralise_mentions) -> str:
    entries = sum(e.weight for e in g.entrants)
    excluded = sum(g.excluded.values())
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(g.excluded.items()))
    head = [
        f"{EMOJI} **Giveaway #{g.number} ended**: {safe(g.prize)}",
        f"Eligible entrants: {len(g.entrants)} ({entries} entries) of {g.reacted} who reacted"
        + (f"; excluded: {excluded} ({why})" if excluded else ""),
    ]
    tail = [
        *g.notes,
        f"Seed: `{g.seed}` (commitment `{g.commitment}`)",
        f"Entrant list SHA-256: `{g.entrants_hash}`",
        f"Check it: `!giveaway verify {g.number}`; the list: `!giveaway entrants {g.number}`",
    ]
    used = len("\n".join([*head, *tail]).encode()) + 40
    if g.winners:
        winners = [f"@{safe(name_of(u))}" for u in g.winners]
        body = [f"Winner(s): {_names_within(winners, (MESSAGE_BUDGET - used) // 2)}"]
    else:
        body = ["No winner: nobody eligible entered."]
    for reroll in g.rerolls:
        names = [f"@{safe(name_of(u))}" for u in reroll.winners]
        budget = max(60, (MESSAGE_BUDGET - used) // (2 * len(g.rerolls)))
        body.append(f"Reroll {reroll.round}: {_names_within(names, budget) or 'nobody left to draw'}")
    return "\n".join([*head, *body, *tail])


def cancelled_text(g: Giveaway, safe: Clean = neutralise_mentions) -> str:
    reason = safe(g.cancel_reason or "by a host")
    return f"{EMOJI} ~~Giveaway #{g.number}~~: {safe(g.prize)}\nCancelled: {reason}."


def winners_announcement(
    g: Giveaway, winners: Sequence[str], reroll: int | None = None, safe: Clean = neutralise_mentions
) -> str:
    """The reply that mentions the winners and no one else (the prize is neutralised)."""
    if not winners:
        if reroll is not None:
            return f"Reroll of giveaway #{g.number}: nobody eligible is left to draw."
        return f"Giveaway #{g.number} has no winner: nobody eligible entered."
    mentions = ", ".join(f"<@{user_id}>" for user_id in winners)
    what = f"reroll {reroll} of giveaway #{g.number}" if reroll is not None else f"giveaway #{g.number}"
    return f"{EMOJI} Congratulations {mentions}! You won {safe(g.prize)} ({what})."


# --- the service ---------------------------------------------------------------------------------------
def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_REF = re.compile(r"^#?(\d{1,9})$")


class GiveawayError(Exception):
    """Something a host asked for that cannot be done (the text says why)."""


class GiveawayService:
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        # (giveaway, member) pairs already told why their entry was refused: toggling 🎉 again
        # must not become a stream of DMs (or channel pings when their DMs are closed).
        self._told: set[tuple[str, str]] = set()

    # --- lookups ----------------------------------------------------------------------------------
    async def find(self, server_id: str, ref: str) -> Giveaway | None:
        """By short number (``12`` or ``#12``) or by the giveaway message's id."""
        match = _REF.match(ref.strip())
        if match:
            return await Giveaway.find_one({"server_id": server_id, "number": int(match.group(1))})
        return await Giveaway.find_one({"server_id": server_id, "message_id": ref.strip()})

    async def running(self, server_id: str) -> list[Giveaway]:
        return await Giveaway.find({"server_id": server_id, "status": "running"}).sort("number").to_list()

    async def recent(self, server_id: str, limit: int = 5) -> list[Giveaway]:
        found = Giveaway.find({"server_id": server_id, "status": {"$ne": "running"}})
        return await found.sort("-number").limit(limit).to_list()

    async def finished(self, server_id: str, page: int = 1, per_page: int = 10) -> tuple[list[Giveaway], int]:
        """Ended giveaways, newest first, one page of them, and how many there are in all."""
        query = {"server_id": server_id, "status": "ended"}
        total = await count_matching(Giveaway.get_pymongo_collection(), query)
        found = Giveaway.find(query).sort("-number").skip((page - 1) * per_page).limit(per_page)
        return await found.to_list(), total

    async def settings(self, server_id: str) -> GiveawaySettings:
        found = await GiveawaySettings.find_one({"server_id": server_id})
        return found or GiveawaySettings(server_id=server_id)

    async def set_host_role(self, server_id: str, role_id: str | None) -> None:
        settings = await self.settings(server_id)
        settings.host_role = role_id
        await settings.save()

    async def next_number(self, server_id: str) -> int:
        counter = await GiveawayCounter.get_pymongo_collection().find_one_and_update(
            {"server_id": server_id},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # upserted
        return int(counter["value"])

    def role_name(self, server_id: str) -> Any:
        server = self.ctx.cache.servers.get(server_id)

        def name(role_id: str) -> str:
            return server.roles[role_id].name if server and role_id in server.roles else "deleted role"

        return name

    def user_name(self, server_id: str) -> Any:
        def name(user_id: str) -> str:
            member = self.ctx.cache.cached_member(server_id, user_id)
            if member is not None and member.nickname:
                return member.nickname
            user = self.ctx.cache.users.get(user_id)
            return user.username if user else user_id

        return name

    def clean(self, server_id: str) -> Clean:
        """Neutralise member text, showing mentioned users and roles by name."""
        user_name, role_name = self.user_name(server_id), self.role_name(server_id)
        return lambda text: neutralise_mentions(text, user_name, role_name)

    # --- levels (the leveling plugin's service, when it is installed and on here) -------------
    def leveling(self, server_id: str) -> Any | None:
        """Leveling's service where it is installed and enabled on ``server_id``, else None."""
        if LevelingService is None:
            return None
        return self.ctx.service_of("leveling", LevelingService, server_id=server_id)

    def leveling_missing(self, server_id: str) -> str | None:
        """Why levels cannot be read on ``server_id`` (None: they can)."""
        if LevelingService is None or self.ctx.service_of("leveling", LevelingService) is None:
            return "leveling is not installed"
        if self.leveling(server_id) is None:
            return "leveling is off on this server"
        return None

    @staticmethod
    async def level_of(leveling: Any, server_id: str, user_id: str) -> int:
        """A member's level on the server's own curve (pending XP included)."""
        curve = leveling.curve(await leveling.settings(server_id))
        return int(curve.level_for(await leveling.xp_of(server_id, user_id)))

    async def entered(self, channel_id: str, message_id: str, user_id: str) -> str | None:
        """A member reacted 🎉 to a giveaway message: check the level requirement now.

        Below the level, the reaction is removed (when the bot may) and the member is told why,
        by DM, or in the channel if their DMs are closed. Returns that reason, else None. The
        draw checks every requirement again, so an entry that slips through never wins.
        """
        if user_id == self.ctx.bot_user_id:
            return None
        g = await Giveaway.find_one({"message_id": message_id, "status": "running"})
        if g is None or g.channel_id != channel_id or not g.requirements.min_level:
            return None
        leveling = self.leveling(g.server_id)
        if leveling is None:
            return None  # leveling was turned off since the start: the level cannot be checked
        need = g.requirements.min_level
        level = await self.level_of(leveling, g.server_id, user_id)
        if level >= need:
            return None
        removed = True
        try:
            await self.ctx.api.remove_reaction(channel_id, message_id, EMOJI, user_id=user_id)
        except StoatAPIError as exc:
            removed = False
            self.ctx.logger.info("could not remove a {} below level {}: {}", EMOJI, need, exc)
        safe = self.clean(g.server_id)
        server = self.ctx.cache.servers.get(g.server_id)
        where = f" on {safe(server.name)}" if server is not None else ""
        then = (
            f"React again once you reach level {need}."
            if removed
            else f"It will not count unless you reach level {need} before the draw."
        )
        reason = (
            f"Your entry in giveaway #{g.number} ({safe(g.prize)}){where} was refused: it needs "
            f"level {need} and you are level {level}. {then}"
        )
        told = (str(g.id), user_id)
        if told not in self._told:
            if len(self._told) > 10_000:
                self._told.clear()
            self._told.add(told)
            await self.tell(g, user_id, reason)
        return reason

    async def tell(self, g: Giveaway, user_id: str, text: str) -> None:
        """Tell one member something about a giveaway: by DM, else in its channel (pinging
        only them)."""
        try:
            dm = await self.ctx.api.open_dm(user_id)
            await self.ctx.api.send_message(dm.id, text)
            return
        except StoatAPIError as exc:
            self.ctx.logger.info("could not DM a giveaway entrant: {}", exc)
        replies = [(g.message_id, False)] if g.message_id else []
        with contextlib.suppress(StoatAPIError):
            await self.ctx.api.send_message(g.channel_id, f"<@{user_id}> {text}", replies=replies)

    # --- start ------------------------------------------------------------------------------------
    async def start(self, g: Giveaway, host_name: str) -> Giveaway:
        """Store ``g`` (numbered already), post its message with the 🎉 reaction, schedule its end."""
        if len(await self.running(g.server_id)) >= MAX_RUNNING:
            raise GiveawayError(
                f"This server already has {MAX_RUNNING} giveaways running; end or cancel one first."
            )
        for user_id in USER_MENTION.findall(g.prize)[:10]:  # shown by name, never as a mention
            await self.ctx.cache.ensure_user(user_id)
        await g.insert()
        text = start_text(g, host_name, self.role_name(g.server_id), self.clean(g.server_id))
        try:
            message = await self.ctx.api.send_message(
                g.channel_id, text, reactions=[EMOJI], restrict_reactions=True
            )
        except BaseException:
            await g.delete()
            raise
        g.message_id = message.id
        await g.save()
        await self.ctx.timers.schedule(
            END_GIVEAWAY, timer_key(g), g.ends_at, server_id=g.server_id, payload={"giveaway": str(g.id)}
        )
        return g

    # --- the draw ---------------------------------------------------------------------------------
    async def eligible(
        self, g: Giveaway, message: Message
    ) -> tuple[list[tuple[str, int]], int, dict[str, int]]:
        """Who reacted with 🎉 (Stoat sends every reactor with the message: no paging needed),
        who of them is eligible now and with what weight, and why the others were excluded."""
        reacted = (message.reactions or {}).get(EMOJI, [])
        reactors = [u for u in dict.fromkeys(reacted) if u != self.ctx.bot_user_id]
        req = g.requirements
        leveling = self.leveling(g.server_id) if req.min_level else None
        now = utcnow()
        entries: list[tuple[str, int]] = []
        excluded: dict[str, int] = {}

        def exclude(reason: str) -> None:
            excluded[reason] = excluded.get(reason, 0) + 1

        for user_id in reactors:
            user = await self.ctx.cache.ensure_user(user_id)
            if user is None or user.is_bot:
                exclude("bots")
                continue
            try:
                member = await self.ctx.cache.member(g.server_id, user_id)
            except StoatAPIError:
                exclude("not members")
                continue
            if any(role not in member.roles for role in req.roles):
                exclude("missing a required role")
                continue
            if req.min_account_age_seconds and now - ulid_time(user_id) < timedelta(
                seconds=req.min_account_age_seconds
            ):
                exclude("accounts too new")
                continue
            if req.min_member_age_seconds and (
                not member.joined_at
                or now - parse_timestamp(member.joined_at) < timedelta(seconds=req.min_member_age_seconds)
            ):
                exclude("joined too recently")
                continue
            if leveling is not None and await self.level_of(leveling, g.server_id, user_id) < req.min_level:
                exclude(f"below level {req.min_level}")
                continue
            weight = 1 + sum(n for role, n in req.bonus.items() if role in member.roles)
            entries.append((user_id, weight))
        return canonical(entries), len(reactors), excluded

    async def end(self, giveaway_id: str, *, recover: bool = False) -> Giveaway | None:
        """End a running giveaway: draw, store the result once, announce. Safe to call again.

        Only the caller whose conditional update moves the giveaway from running to ended
        announces; with ``recover`` (the timer's retry) an ended giveaway left unannounced for
        a while (its process died) is announced.
        """
        g = await Giveaway.get(PydanticObjectId(giveaway_id))
        if g is None:
            return None
        won = False
        if g.status == "running" and g.message_id is not None:
            try:
                message = await self.ctx.api.fetch_message(g.channel_id, g.message_id)
            except StoatAPIError as exc:
                if exc.type in ("NotFound", "UnknownMessage", "UnknownChannel"):
                    await self.cancel(g, "the giveaway message was deleted", edit=False)
                    return await Giveaway.get(g.id)
                raise
            entries, reacted, excluded = await self.eligible(g, message)
            winners = draw(g.seed, entries, g.winners_count)
            notes = list(g.notes)
            if g.requirements.min_level and self.leveling(g.server_id) is None:
                notes.append(
                    f"Note: the level {g.requirements.min_level} requirement was not checked "
                    "(leveling is off on this server now)."
                )
            result = await Giveaway.get_pymongo_collection().update_one(
                {"_id": g.id, "status": "running"},
                {
                    "$set": {
                        "status": "ended",
                        "ended_ts": utcnow().timestamp(),
                        "reacted": reacted,
                        "entrants": [{"user_id": u, "weight": w} for u, w in entries],
                        "entrants_hash": entrants_hash(entries),
                        "excluded": excluded,
                        "winners": winners,
                        "announced": False,
                        "notes": notes,
                    }
                },
            )
            won = result.modified_count == 1
            g = await Giveaway.get(g.id)
            if g is None:
                return None
        if g.status != "ended" or g.announced:
            return g
        stale = g.ended_ts is not None and utcnow().timestamp() - g.ended_ts > ANNOUNCE_GRACE_SECONDS
        if won or (recover and stale):
            await self.announce(g)
        return g

    async def announce(self, g: Giveaway) -> None:
        """Edit the giveaway message with the result and reply mentioning only the winners."""
        for user_id in g.winners:
            await self.ctx.cache.ensure_user(user_id)
        await self.edit_result(g)
        if g.message_id is not None:
            text = winners_announcement(g, g.winners, None, self.clean(g.server_id))
            await self.ctx.api.send_message(g.channel_id, text, replies=[(g.message_id, False)])
        await Giveaway.get_pymongo_collection().update_one({"_id": g.id}, {"$set": {"announced": True}})

    async def edit_result(self, g: Giveaway) -> None:
        if g.message_id is None:
            return
        text = result_text(g, self.user_name(g.server_id), self.clean(g.server_id))
        try:
            await self.ctx.api.edit_message(g.channel_id, g.message_id, text)
        except StoatAPIError as exc:
            self.ctx.logger.warning("could not edit giveaway #{}'s message: {}", g.number, exc)

    async def reroll(self, g: Giveaway, count: int, by: str) -> list[str]:
        """Draw ``count`` replacements (the next round), excluding every earlier winner."""
        if g.status != "ended":
            raise GiveawayError(f"Giveaway #{g.number} has not ended yet; reroll it once it has.")
        earlier = [*g.winners, *(u for r in g.rerolls for u in r.winners)]
        round_number = len(g.rerolls) + 1
        entries = [(e.user_id, e.weight) for e in g.entrants]
        winners = draw(g.seed, entries, count, round=round_number, exclude=earlier)
        reroll = Reroll(round=round_number, count=count, winners=winners, by=by, at_ts=utcnow().timestamp())
        rerolls = [r.model_dump() for r in [*g.rerolls, reroll]]
        result = await Giveaway.get_pymongo_collection().update_one(
            {"_id": g.id, "status": "ended", "reroll_round": len(g.rerolls)},
            {"$set": {"rerolls": rerolls, "reroll_round": round_number}},
        )
        if result.modified_count != 1:
            raise GiveawayError("Someone else rerolled this giveaway at the same moment; try again.")
        g.rerolls.append(reroll)
        for user_id in winners:
            await self.ctx.cache.ensure_user(user_id)
        await self.edit_result(g)
        if g.message_id is not None:
            text = winners_announcement(g, winners, round_number, self.clean(g.server_id))
            await self.ctx.api.send_message(g.channel_id, text, replies=[(g.message_id, False)])
        return winners

    async def cancel(self, g: Giveaway, reason: str, *, edit: bool = True) -> bool:
        result = await Giveaway.get_pymongo_collection().update_one(
            {"_id": g.id, "status": "running"},
            {"$set": {"status": "cancelled", "cancel_reason": reason}},
        )
        await self.ctx.timers.cancel(timer_key(g))
        if result.modified_count != 1:
            return False
        g.status, g.cancel_reason = "cancelled", reason
        if edit and g.message_id is not None:
            try:
                text = cancelled_text(g, self.clean(g.server_id))
                await self.ctx.api.edit_message(g.channel_id, g.message_id, text)
            except StoatAPIError as exc:
                self.ctx.logger.info("could not edit cancelled giveaway #{}: {}", g.number, exc)
        return True

    async def message_deleted(self, channel_id: str, message_ids: Iterable[str]) -> int:
        """A deleted giveaway message cancels its giveaway."""
        found = await Giveaway.find(
            {"channel_id": channel_id, "message_id": {"$in": list(message_ids)}, "status": "running"}
        ).to_list()
        cancelled = 0
        for g in found:
            cancelled += await self.cancel(g, "the giveaway message was deleted", edit=False)
        return cancelled

    def verification(self, g: Giveaway, published: dict[str, str]) -> Verification:
        """Recompute the stored draw against what the message published (``published`` holds
        ``seed``, ``commitment`` and ``hash`` as read from it; missing ones come from storage)."""
        return verify_draw(
            commitment=published.get("commitment", g.commitment),
            seed=published.get("seed", g.seed),
            entries=[(e.user_id, e.weight) for e in g.entrants],
            published_hash=published.get("hash", g.entrants_hash or ""),
            count=g.winners_count,
            winners=g.winners,
            rerolls=[(r.round, r.count, r.winners) for r in g.rerolls],
        )


_PUBLISHED = {
    "seed": re.compile(r"Seed: `([0-9a-f]{64})`"),
    "commitment": re.compile(r"commitment[^`]*`([0-9a-f]{64})`", re.IGNORECASE),
    "hash": re.compile(r"Entrant list SHA-256: `([0-9a-f]{64})`"),
}


def published_values(text: str) -> dict[str, str]:
    """The seed, commitment and list hash as the giveaway message shows them."""
    found = {}
    for name, pattern in _PUBLISHED.items():
        match = pattern.search(text)
        if match:
            found[name] = match.group(1)
    return found


def timer_key(g: Giveaway) -> str:
    return f"end:{g.id}"
