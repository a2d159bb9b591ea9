"""The economy's logic, testable without Stoat: accounts, rewards, payments, the shop, statements.

Every change of money goes through :class:`~logiq_economy.ledger.Ledger`. Other plugins use the
small public surface of :class:`EconomyService` (:meth:`~EconomyService.transfer`,
:meth:`~EconomyService.mint`, :meth:`~EconomyService.burn`, :meth:`~EconomyService.balance`,
:meth:`~EconomyService.reverse`), found with the core's ``service_of``::

    try:
        from logiq_economy.service import EconomyService
    except ImportError:                # economy is an optional dependency
        EconomyService = None

    economy = EconomyService and ctx.service_of("economy", EconomyService)  # on a command
    # (on a PluginContext: ctx.service_of("economy", EconomyService, server_id=server_id))
    if economy is not None:            # None: not installed, not loaded, or off on this server
        await economy.mint(server_id, winner_id, 500, key=f"giveaway:{giveaway_id}",
                           memo="giveaway prize")

Each call takes an idempotency ``key`` (unique per server): the same key never moves money twice,
and the second call returns the first call's :class:`~logiq_economy.ledger.Outcome`.
"""

from __future__ import annotations

import contextlib
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from logiq_core.plugin import count_matching
from logiq_economy.config import EconomyConfig
from logiq_economy.ledger import (
    ISSUANCE,
    MAX_AMOUNT,
    SHOP,
    SINK,
    SYSTEM_OWNERS,
    AuditReport,
    Ledger,
    Outcome,
    Step,
    account_id,
    as_utc,
    from_ms,
    guard_step,
    to_ms,
    utcnow,
)
from logiq_economy.models import Account, EconomySettings, Entry, Holding, Item

if TYPE_CHECKING:
    from logiq_core.plugin import PluginContext

DAILY_PERIOD = timedelta(hours=24)
STREAK_WINDOW = timedelta(hours=48)
STREAK_BONUS_PERCENT = 10  # per consecutive day after the first...
STREAK_BONUS_MAX_DAYS = 10  # ...up to double the daily reward
_DIGITS = re.compile(r"[0-9]+")


class AmountError(ValueError):
    """An amount that is not a whole number of coins between 1 and :data:`MAX_AMOUNT`."""


def parse_amount(text: str, name: str = "amount", *, allow_zero: bool = False) -> int:
    """A positive whole number written in ASCII digits, at most :data:`MAX_AMOUNT`.

    Refuses signs, decimals, exponents and other scripts' digits (``int("١٢٣")`` would accept
    them), each with a reason that names the parameter.
    """
    word = text.strip()
    if word.startswith("-"):
        raise AmountError(f"`{name}` must be positive, not `{word[:30]}`.")
    if _DIGITS.fullmatch(word) is None:
        if re.fullmatch(r"\+?[0-9]*[.,][0-9]+", word) or (
            "e" in word.lower() and any(c.isdigit() for c in word)
        ):
            raise AmountError(f"`{name}` must be a whole number written in digits, not `{word[:30]}`.")
        raise AmountError(f"`{name}` must be a whole number (digits 0-9), not `{word[:30]}`.")
    if len(word) > 16 or int(word) > MAX_AMOUNT:
        raise AmountError(f"`{name}` is too large: at most {MAX_AMOUNT:,}.")
    value = int(word)
    if value == 0 and not allow_zero:
        raise AmountError(f"`{name}` must be at least 1.")
    return value


@dataclass(frozen=True, slots=True)
class Currency:
    name: str
    symbol: str

    def format(self, amount: int) -> str:
        return f"{self.symbol} {amount:,} {self.name}"


@dataclass(frozen=True, slots=True)
class Settings:
    """A server's effective settings: its own, else the operator's, else the defaults."""

    currency: Currency
    daily: int
    work_min: int
    work_max: int
    work_cooldown_seconds: int
    start_balance: int


class Cooldown(Exception):
    """A reward claimed again too soon."""

    def __init__(self, available_at: datetime) -> None:
        super().__init__(f"available again at {available_at:%Y-%m-%d %H:%M} UTC")
        self.available_at = available_at


@dataclass(frozen=True, slots=True)
class Reward:
    outcome: Outcome
    amount: int
    streak: int = 0


@dataclass(frozen=True, slots=True)
class StatementLine:
    entry_id: str
    at: datetime
    kind: str
    counterparty: str
    amount: int
    memo: str
    balance: int | None


class EconomyService:
    """One bot's economy (and the service other plugins call)."""

    def __init__(
        self,
        config: EconomyConfig | None = None,
        *,
        ledger: Ledger | None = None,
        context: PluginContext | None = None,
        lock_path: Path | None = None,
    ) -> None:
        """``lock_path``: a file in the embedded server's data directory (None with MongoDB),
        which serialises the ledger's conditional writes across processes sharing it."""
        self.config = config or EconomyConfig()
        self.context = context
        self.ledger = ledger or Ledger(
            lease_seconds=self.config.lease_seconds,
            marker_grace_seconds=self.config.marker_grace_seconds,
            lock_path=lock_path,
        )
        self._opened: set[str] = set()

    async def start(self) -> None:
        recovered = await self.ledger.recover()
        if recovered and self.context is not None:
            self.context.logger.info("recovered {} unfinished ledger entr(ies)", recovered)
        self.ledger.start()

    async def stop(self) -> None:
        await self.ledger.stop()

    # --- settings -----------------------------------------------------------------------------
    def default(self, name: str) -> Any:
        """The operator's value of setting ``name`` (plugins.toml, else the model's default)."""
        return getattr(self.config, name)

    async def settings(self, server_id: str) -> Settings:
        found = await EconomySettings.find_one(EconomySettings.server_id == server_id)

        def pick(name: str) -> Any:
            own = getattr(found, name, None) if found is not None else None
            return own if own is not None else self.default(name)

        return Settings(
            Currency(pick("currency_name"), pick("currency_symbol")),
            pick("daily"),
            pick("work_min"),
            pick("work_max"),
            pick("work_cooldown_seconds"),
            pick("start_balance"),
        )

    async def configure(self, server_id: str, **values: Any) -> None:
        await EconomySettings.get_pymongo_collection().update_one(
            {"server_id": server_id}, {"$set": values}, upsert=True
        )

    # --- accounts -----------------------------------------------------------------------------
    async def _ensure(self, server_id: str, owner: str) -> dict[str, Any]:
        kind = "member" if owner not in SYSTEM_OWNERS else owner[1:]
        whole = Account(
            id=account_id(server_id, owner),
            server_id=server_id,
            owner=owner,
            kind=kind,
            opened=kind != "member",
        ).model_dump(by_alias=True)
        return await create_whole(Account.get_pymongo_collection(), whole)

    async def ensure_member(self, server_id: str, user_id: str) -> None:
        """Open the member's account (with the server's starting balance) if it is new."""
        account = account_id(server_id, user_id)
        if account in self._opened:
            return
        for owner in SYSTEM_OWNERS:
            if account_id(server_id, owner) not in self._opened:
                await self._ensure(server_id, owner)
                self._opened.add(account_id(server_id, owner))
        doc = await self._ensure(server_id, user_id)
        if not doc.get("opened"):
            start = (await self.settings(server_id)).start_balance
            if start > 0:
                await self._mint(server_id, user_id, start, key=f"start:{user_id}", memo="starting balance")
            await Account.get_pymongo_collection().update_one({"_id": account}, {"$set": {"opened": True}})
        self._opened.add(account)

    async def balance(self, server_id: str, user_id: str) -> int:
        await self.ensure_member(server_id, user_id)
        doc = await Account.get_pymongo_collection().find_one(
            {"_id": account_id(server_id, user_id)}, projection={"balance": 1}
        )
        return int(doc["balance"]) if doc else 0

    async def leaderboard(self, server_id: str, page: int = 1, per_page: int = 10) -> list[tuple[str, int]]:
        cursor = (
            Account.get_pymongo_collection()
            .find(
                {"server_id": server_id, "kind": "member", "balance": {"$gt": 0}},
                projection={"owner": 1, "balance": 1},
            )
            .sort([("balance", -1), ("_id", 1)])
            .skip((page - 1) * per_page)
            .limit(per_page)
        )
        return [(doc["owner"], int(doc["balance"])) async for doc in cursor]

    async def board_size(self, server_id: str) -> int:
        """How many members are on the balance board (for the dashboard's pages)."""
        query = {"server_id": server_id, "kind": "member", "balance": {"$gt": 0}}
        return await count_matching(Account.get_pymongo_collection(), query)

    # --- the service for other plugins --------------------------------------------------------
    async def transfer(
        self,
        server_id: str,
        from_user: str,
        to_user: str,
        amount: int,
        *,
        key: str,
        memo: str = "",
        actor: str | None = None,
        cause: str | None = None,
    ) -> Outcome:
        """Move ``amount`` from one member to another (failed outcome: insufficient funds)."""
        _check_amount(amount)
        if from_user == to_user:
            raise ValueError("a transfer needs two different members")
        await self.ensure_member(server_id, from_user)
        await self.ensure_member(server_id, to_user)
        payer, payee = account_id(server_id, from_user), account_id(server_id, to_user)
        steps = [guard_step(Step("a", payer, {"balance": -amount})), Step("a", payee, {"balance": amount})]
        return await self.ledger.post(
            server_id,
            key,
            "transfer",
            steps,
            memo=memo,
            actor=actor or from_user,
            cause=cause,
            accounts=[payer, payee],
            report=[payer],
        )

    async def mint(
        self,
        server_id: str,
        user_id: str,
        amount: int,
        *,
        key: str,
        memo: str = "",
        actor: str | None = None,
        cause: str | None = None,
    ) -> Outcome:
        """Create ``amount`` new coins for a member, posted against the server's issuance."""
        await self.ensure_member(server_id, user_id)
        return await self._mint(server_id, user_id, amount, key=key, memo=memo, actor=actor, cause=cause)

    async def _mint(
        self,
        server_id: str,
        user_id: str,
        amount: int,
        *,
        key: str,
        memo: str = "",
        actor: str | None = None,
        cause: str | None = None,
    ) -> Outcome:
        _check_amount(amount)
        member = account_id(server_id, user_id)
        steps = [
            guard_step(
                Step("a", account_id(server_id, ISSUANCE), {"balance": -amount, "outstanding": amount})
            ),
            Step("a", member, {"balance": amount}),
        ]
        return await self.ledger.post(
            server_id,
            key,
            "mint",
            steps,
            memo=memo,
            actor=actor,
            cause=cause,
            accounts=[member],
            report=[member],
        )

    async def burn(
        self,
        server_id: str,
        user_id: str,
        amount: int,
        *,
        key: str,
        memo: str = "",
        actor: str | None = None,
        cause: str | None = None,
    ) -> Outcome:
        """Destroy ``amount`` of a member's coins, posted against the server's sink."""
        _check_amount(amount)
        await self.ensure_member(server_id, user_id)
        member = account_id(server_id, user_id)
        steps = [
            guard_step(Step("a", member, {"balance": -amount})),
            Step("a", account_id(server_id, SINK), {"balance": amount}),
            Step("a", account_id(server_id, ISSUANCE), {"balance": 0, "outstanding": -amount}),
        ]
        return await self.ledger.post(
            server_id,
            key,
            "burn",
            steps,
            memo=memo,
            actor=actor,
            cause=cause,
            accounts=[member],
            report=[member],
        )

    # --- rewards ------------------------------------------------------------------------------
    async def _account(self, server_id: str, user_id: str) -> dict[str, Any]:
        await self.ensure_member(server_id, user_id)
        doc = await Account.get_pymongo_collection().find_one({"_id": account_id(server_id, user_id)})
        assert doc is not None
        return doc

    async def daily(self, server_id: str, user_id: str, *, cause: str, now: datetime | None = None) -> Reward:
        """The daily reward with its streak bonus, once per 24 h (raises :class:`Cooldown`)."""
        now = now or utcnow()
        settings = await self.settings(server_id)
        doc = await self._account(server_id, user_id)
        last = from_ms(doc["daily_last"]) if doc.get("daily_last") else None
        if last is not None and now < last + DAILY_PERIOD:
            raise Cooldown(last + DAILY_PERIOD)
        streak = int(doc.get("daily_streak", 0)) + 1 if last and now - last < STREAK_WINDOW else 1
        bonus_days = min(streak - 1, STREAK_BONUS_MAX_DAYS)
        amount = settings.daily + settings.daily * STREAK_BONUS_PERCENT * bonus_days // 100
        count = int(doc.get("daily_count", 0)) + 1
        # Keyed by the claim's number: two claims racing (or a crash before the cooldown is
        # recorded) find the same entry instead of paying twice.
        outcome = await self.mint(
            server_id,
            user_id,
            amount,
            key=f"daily:{user_id}:{count}",
            memo=f"daily reward (streak {streak})",
            cause=cause,
        )
        claimed_at = as_utc(outcome.entry.get("created_at") or now)
        await Account.get_pymongo_collection().update_one(
            {"_id": account_id(server_id, user_id), "daily_count": count - 1},
            {"$set": {"daily_count": count, "daily_last": to_ms(claimed_at), "daily_streak": streak}},
        )
        if outcome.duplicate and outcome.entry.get("cause") != cause:
            raise Cooldown(claimed_at + DAILY_PERIOD)
        return Reward(outcome, int(outcome.entry["steps"][-1]["inc"]["balance"]), streak)

    async def work(
        self,
        server_id: str,
        user_id: str,
        *,
        cause: str,
        now: datetime | None = None,
        rng: random.Random | None = None,
    ) -> Reward:
        """A random reward in the server's range, once per cooldown (raises :class:`Cooldown`)."""
        now = now or utcnow()
        settings = await self.settings(server_id)
        doc = await self._account(server_id, user_id)
        period = timedelta(seconds=settings.work_cooldown_seconds)
        last = from_ms(doc["work_last"]) if doc.get("work_last") else None
        if last is not None and now < last + period:
            raise Cooldown(last + period)
        amount = (rng or random).randint(settings.work_min, settings.work_max)
        count = int(doc.get("work_count", 0)) + 1
        outcome = await self.mint(
            server_id, user_id, amount, key=f"work:{user_id}:{count}", memo="work", cause=cause
        )
        claimed_at = as_utc(outcome.entry.get("created_at") or now)
        await Account.get_pymongo_collection().update_one(
            {"_id": account_id(server_id, user_id), "work_count": count - 1},
            {"$set": {"work_count": count, "work_last": to_ms(claimed_at)}},
        )
        if outcome.duplicate and outcome.entry.get("cause") != cause:
            raise Cooldown(claimed_at + period)
        return Reward(outcome, int(outcome.entry["steps"][-1]["inc"]["balance"]))

    # --- the shop -----------------------------------------------------------------------------
    async def add_item(
        self,
        server_id: str,
        name: str,
        price: int,
        *,
        role_id: str | None,
        stock: int | None,
        once: bool,
        added_by: str,
    ) -> Item:
        settings = EconomySettings.get_pymongo_collection()
        await settings.update_one(
            {"server_id": server_id}, {"$setOnInsert": {"server_id": server_id, "next_item": 0}}, upsert=True
        )
        counter = await settings.find_one_and_update(
            {"server_id": server_id}, {"$inc": {"next_item": 1}}, return_document=ReturnDocument.AFTER
        )
        assert counter is not None
        number = int(counter["next_item"])
        item = Item(
            id=f"{server_id}:{number}",
            server_id=server_id,
            number=number,
            name=name,
            price=price,
            role_id=role_id,
            stock=stock,
            once=once,
            added_by=added_by,
        )
        await item.insert()
        return item

    async def items(self, server_id: str) -> list[Item]:
        return await Item.find(Item.server_id == server_id, Item.removed == False).sort("number").to_list()  # noqa: E712

    async def find_item(self, server_id: str, name_or_number: str) -> Item | None:
        text = name_or_number.strip().lstrip("#")
        for item in await self.items(server_id):
            if (
                text.isascii() and text.isdigit() and item.number == int(text)
            ) or item.name.lower() == text.lower():
                return item
        return None

    async def remove_item(self, item: Item) -> None:
        await Item.get_pymongo_collection().update_one({"_id": item.id}, {"$set": {"removed": True}})

    async def buy(
        self, server_id: str, user_id: str, item: Item, quantity: int, *, key: str, cause: str | None = None
    ) -> Outcome:
        """Pay for ``quantity`` of ``item``: stock, once-only and funds are checked atomically."""
        _check_amount(quantity)
        if item.once and quantity != 1:
            raise ValueError(f"{item.name} can be bought once per member")
        total = item.price * quantity
        _check_amount(total)
        await self.ensure_member(server_id, user_id)
        holding = f"{server_id}:{user_id}:{item.number}"
        await create_whole(
            Holding.get_pymongo_collection(),
            {
                "_id": holding,
                "server_id": server_id,
                "user_id": user_id,
                "item": item.number,
                "held": 0,
                "marks": [],
                "voids": [],
            },
        )
        member, shop = account_id(server_id, user_id), account_id(server_id, SHOP)
        steps = [
            guard_step(Step("a", member, {"balance": -total})),
            Step("a", shop, {"balance": total}),
            guard_step(Step("h", holding, {"held": quantity}), 1 if item.once else None),
        ]
        if item.stock is not None:
            steps.append(guard_step(Step("i", str(item.id), {"stock": -quantity})))
        return await self.ledger.post(
            server_id,
            key,
            "purchase",
            steps,
            memo=f"{quantity} × {item.name}",
            actor=user_id,
            cause=cause,
            accounts=[member, shop],
            report=[member],
        )

    async def inventory(self, server_id: str, user_id: str) -> list[tuple[Item, int]]:
        held = {
            doc["item"]: int(doc["held"])
            async for doc in Holding.get_pymongo_collection().find(
                {"server_id": server_id, "user_id": user_id, "held": {"$gt": 0}}
            )
        }
        if not held:
            return []
        found = await Item.find(Item.server_id == server_id, {"number": {"$in": list(held)}}).to_list()
        return sorted(((item, held[item.number]) for item in found), key=lambda pair: pair[0].number)

    # --- statements, reversals, audits --------------------------------------------------------
    async def entry(self, server_id: str, entry_id: str) -> dict[str, Any] | None:
        return await Entry.get_pymongo_collection().find_one(
            {"_id": entry_id.strip().lower(), "server_id": server_id}
        )

    async def reverse(
        self, server_id: str, entry_id: str, *, actor: str, reason: str = "", cause: str | None = None
    ) -> Outcome:
        """A compensating entry (each entry can be reversed once); never an edit or a delete."""
        original = await self.entry(server_id, entry_id)
        if original is None or original["status"] != "applied":
            raise LookupError(f"there is no applied entry {entry_id}")
        steps = [Step.from_doc(s).negated() for s in original["steps"]]
        memo = f"reversal of {original['_id']}" + (f": {reason}" if reason else "")
        return await self.ledger.post(
            server_id,
            f"reverse:{original['_id']}",
            "reversal",
            steps,
            memo=memo,
            actor=actor,
            cause=cause,
            reverses=original["_id"],
            accounts=original.get("accounts", []),
        )

    async def statement(
        self, server_id: str, user_id: str, page: int = 1, per_page: int = 10
    ) -> tuple[list[StatementLine], int]:
        """The member's applied entries, newest first, and the number of pages.

        Running balances are found by walking back from the current balance through the newer
        entries (exact whenever no entry of this member is in flight).
        """
        account = account_id(server_id, user_id)
        query = {"server_id": server_id, "accounts": account, "status": "applied"}
        entries = Entry.get_pymongo_collection()
        total = await count_matching(entries, query)
        running = await self.balance(server_id, user_id)
        cursor = entries.find(query).sort([("created_at", -1), ("_id", -1)]).limit(page * per_page)
        lines: list[StatementLine] = []
        index = 0
        async for doc in cursor:
            mine = next((s for s in doc["steps"] if s["c"] == "a" and s["id"] == account), None)
            amount = int(mine["inc"].get("balance", 0)) if mine else 0
            if index >= (page - 1) * per_page:
                others = [
                    s["id"]
                    for s in doc["steps"]
                    if s["c"] == "a" and s["id"] != account and int(s["inc"].get("balance", 0)) != 0
                ]
                counterparty = others[0].rsplit(":", 1)[1] if others else "-"
                at = as_utc(doc["created_at"])
                lines.append(
                    StatementLine(
                        doc["_id"], at, doc["kind"], counterparty, amount, doc.get("memo", ""), running
                    )
                )
            running -= amount
            index += 1
        return lines, max(1, -(-total // per_page))

    async def audit(self, server_id: str) -> AuditReport:
        return await self.ledger.audit(server_id)


async def create_whole(collection: AsyncCollection[dict[str, Any]], doc: dict[str, Any]) -> dict[str, Any]:
    """The document with ``doc["_id"]``, created whole if missing, never overwritten.

    Uses ``update_one`` with ``$setOnInsert``: nx-27017's findAndModify ignores ``$setOnInsert``
    on an upsert, and a first ``$inc`` into a missing document would create a partial one.
    """
    found = await collection.find_one({"_id": doc["_id"]})
    if found is not None:
        return found
    fields = {k: v for k, v in doc.items() if k not in ("_id", "revision_id")}
    with contextlib.suppress(DuplicateKeyError):  # another process created it meanwhile
        await collection.update_one({"_id": doc["_id"]}, {"$setOnInsert": fields}, upsert=True)
    created = await collection.find_one({"_id": doc["_id"]})
    assert created is not None
    return created


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= MAX_AMOUNT:
        raise ValueError(f"amounts are whole numbers from 1 to {MAX_AMOUNT}, not {amount!r}")


def lock_path_for(context: PluginContext) -> Path | None:
    """The ledger's lock file when the bot runs the embedded server, else None."""
    storage = context.bot.storage
    return storage.data_dir / "economy.lock" if storage.embedded is not None else None


__all__ = [
    "ISSUANCE",
    "MAX_AMOUNT",
    "SHOP",
    "SINK",
    "AmountError",
    "Cooldown",
    "EconomyService",
    "Outcome",
    "parse_amount",
]
