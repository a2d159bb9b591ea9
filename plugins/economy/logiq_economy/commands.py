"""The economy's chat commands. Parsing, gating and safe replies come from the core."""

from __future__ import annotations

from datetime import datetime, timedelta

from logiq_core.plugin import (
    Command,
    CommandContext,
    CommandError,
    Member,
    Rest,
    RoleRef,
    StoatAPIError,
    check_role_assignable,
    command,
    format_duration,
    group,
    parse_duration,
)
from logiq_core.plugin import Permission as P
from logiq_economy.ledger import ISSUANCE, SHOP, SINK, Outcome, account_id, utcnow
from logiq_economy.models import Item
from logiq_economy.service import AmountError, Cooldown, Currency, EconomyService, parse_amount

PER_PAGE = 10


def service(ctx: CommandContext) -> EconomyService:
    return ctx.plugin.get(EconomyService)


def server(ctx: CommandContext) -> str:
    assert ctx.server_id is not None  # economy commands are server-only (dm=False)
    return ctx.server_id


def key(ctx: CommandContext) -> str:
    """The idempotency key of whatever this message causes: a redelivery finds it again."""
    return f"msg:{ctx.message.id}"


def amount_of(ctx: CommandContext, text: str, name: str) -> int:
    try:
        return parse_amount(text, name)
    except AmountError as exc:
        raise CommandError(f"{exc}\nUsage: `{ctx.command.usage(ctx.prefix)}`") from None


def page_of(ctx: CommandContext, text: str | None) -> int:
    if text is None:
        return 1
    try:
        return parse_amount(text, "page")
    except AmountError as exc:
        raise CommandError(f"{exc}\nUsage: `{ctx.command.usage(ctx.prefix)}`") from None


def is_manager(ctx: CommandContext) -> bool:
    """ManageServer at server level (roles), as Stoat grants it: not a channel override."""
    if ctx.author_member is None:
        return False
    return bool(ctx.cache.server_permissions_of(ctx.author_member) & P.ManageServer)


def require_manager(ctx: CommandContext) -> None:
    if not is_manager(ctx):
        raise CommandError(f"You need the ManageServer permission to use `{ctx.command.qualified_name}`.")


async def currency(ctx: CommandContext) -> Currency:
    return (await service(ctx).settings(server(ctx))).currency


def when(moment: datetime) -> str:
    wait = max(moment - utcnow(), timedelta(seconds=1))
    return f"in {format_duration(timedelta(seconds=int(wait.total_seconds())))} ({moment:%Y-%m-%d %H:%M} UTC)"


def who(ctx: CommandContext, owner: str) -> str:
    return {ISSUANCE: "issuance", SINK: "sink", SHOP: "the shop"}.get(owner) or ctx.display_name(owner)


async def name_of(ctx: CommandContext, user_id: str) -> str:
    await ctx.cache.ensure_user(user_id)
    return ctx.display_name(user_id)


def ensure_member_user(ctx: CommandContext, member: Member, name: str = "member") -> None:
    user = ctx.cache.users.get(member.user_id)
    if member.user_id == ctx.bot_user_id or (user is not None and user.is_bot):
        raise CommandError(f"`{name}`: {ctx.display_name(member.user_id)} is a bot; bots have no balance.")


def new_balance(outcome: Outcome, server_id: str, user_id: str) -> int | None:
    return outcome.after.get(account_id(server_id, user_id))


# --- role safety ---------------------------------------------------------------------------------
def role_refusal(ctx: CommandContext, actor: Member, role_id: str, *, who_: str = "You") -> str | None:
    """Why ``actor`` may not hand out ``role_id`` (the core's rule); None when they may."""
    server_ = ctx.cache.servers.get(actor.server_id)
    if server_ is None or role_id not in server_.roles:
        return "that role no longer exists"
    role = server_.roles[role_id]
    verdict = check_role_assignable(
        role.rank,
        actor_ranking=ctx.cache.ranking(actor),
        actor_permissions=ctx.cache.server_permissions_of(actor),
        actor_is_owner=ctx.cache.is_owner(actor.server_id, actor.user_id),
    )
    if verdict.allowed:
        return None
    owner = "your" if who_ == "You" else "their"
    reason = verdict.reason or "it is not assignable"
    return (
        reason.replace("it needs", f"handing out @{role.name} needs")
        .replace("it ranks", f"@{role.name} ranks")
        .replace("the top role", f"{owner} top role")
    )


async def bot_role_refusal(ctx: CommandContext, role_id: str) -> str | None:
    bot = await ctx.bot_member()
    server_ = ctx.cache.servers[server(ctx)]
    role = server_.roles.get(role_id)
    if role is None:
        return "that role no longer exists"
    if not ctx.cache.server_permissions_of(bot) & P.AssignRoles:
        return "I need the AssignRoles permission"
    if role.rank <= ctx.cache.ranking(bot):
        return f"@{role.name} ranks at or above my top role"
    return None


async def ensure_can_hand_out(ctx: CommandContext, role: RoleRef) -> None:
    await ctx.ensure_can_assign_role(role.id)


async def recheck_role_item(ctx: CommandContext, item: Item) -> None:
    """At purchase time: the bot, and the manager who listed it, must still be able to assign it."""
    assert item.role_id is not None
    refusal = await bot_role_refusal(ctx, item.role_id)
    if refusal is None:
        try:
            adder = await ctx.cache.member(server(ctx), item.added_by)
        except Exception:
            refusal = "the manager who listed it is no longer a member"
        else:
            refusal = role_refusal(ctx, adder, item.role_id, who_="The manager who listed it")
    if refusal is not None:
        raise CommandError(f"{item.name} cannot be bought now: {refusal}. Ask a manager to list it again.")


# --- members' commands ---------------------------------------------------------------------------
@command("balance", aliases=("bal",), description="Show a balance (yours or a member's)")
async def balance(ctx: CommandContext, member: Member | None = None) -> None:
    user_id = member.user_id if member else ctx.author_id
    if member is not None:
        ensure_member_user(ctx, member)
    amount = await service(ctx).balance(server(ctx), user_id)
    await ctx.reply(f"{ctx.display_name(user_id)} has {(await currency(ctx)).format(amount)}.")


@command("daily", description="Claim the daily reward (a streak of days pays more)")
async def daily(ctx: CommandContext) -> None:
    try:
        reward = await service(ctx).daily(server(ctx), ctx.author_id, cause=ctx.message.id)
    except Cooldown as exc:
        raise CommandError(
            f"You already claimed today's reward; it is available again {when(exc.available_at)}."
        ) from None
    money = await currency(ctx)
    after = new_balance(reward.outcome, server(ctx), ctx.author_id)
    streak = f" (streak: {reward.streak} days)" if reward.streak > 1 else ""
    tail = f" Balance: {money.format(after)}." if after is not None else ""
    await ctx.reply(f"You received {money.format(reward.amount)}{streak}.{tail}")


@command("work", description="Work for a random reward (once per cooldown)")
async def work(ctx: CommandContext) -> None:
    try:
        reward = await service(ctx).work(server(ctx), ctx.author_id, cause=ctx.message.id)
    except Cooldown as exc:
        raise CommandError(f"You are tired; you can work again {when(exc.available_at)}.") from None
    money = await currency(ctx)
    after = new_balance(reward.outcome, server(ctx), ctx.author_id)
    tail = f" Balance: {money.format(after)}." if after is not None else ""
    await ctx.reply(f"You worked and earned {money.format(reward.amount)}.{tail}")


@command("pay", description="Send coins to a member")
async def pay(ctx: CommandContext, member: Member, amount: str, note: Rest = "") -> None:
    value = amount_of(ctx, amount, "amount")
    if member.user_id == ctx.author_id:
        raise CommandError("`member`: you cannot pay yourself.")
    ensure_member_user(ctx, member)
    svc, money = service(ctx), await currency(ctx)
    outcome = await svc.transfer(
        server(ctx), ctx.author_id, member.user_id, value, key=key(ctx), memo=note[:200], cause=ctx.message.id
    )
    if not outcome.ok:
        held = await svc.balance(server(ctx), ctx.author_id)
        raise CommandError(
            f"`amount`: you have {money.format(held)}, not enough to pay {money.format(value)}."
        )
    after = new_balance(outcome, server(ctx), ctx.author_id)
    if after is None:
        after = await svc.balance(server(ctx), ctx.author_id)
    await ctx.reply(
        f"Paid {ctx.display_name(member.user_id)} {money.format(value)}. "
        f"Your balance: {money.format(after)}. (entry {outcome.entry_id})"
    )


@command("leaderboard", aliases=("top",), description="The richest members, 10 per page")
async def leaderboard(ctx: CommandContext, page: str | None = None) -> None:
    number = page_of(ctx, page)
    ranking = await service(ctx).leaderboard(server(ctx), number, PER_PAGE)
    if not ranking:
        await ctx.reply("Nobody is on that page yet." if number > 1 else "Nobody has any coins yet.")
        return
    money = await currency(ctx)
    for user_id, _ in ranking:
        await ctx.cache.ensure_user(user_id)
    start = (number - 1) * PER_PAGE
    lines = [f"**Leaderboard** (page {number})"]
    lines += [
        f"{start + i + 1}. {ctx.display_name(uid)}: {money.format(amount)}"
        for i, (uid, amount) in enumerate(ranking)
    ]
    if len(ranking) == PER_PAGE:
        lines.append(f"Next: `{ctx.prefix}leaderboard {number + 1}`")
    await ctx.reply("\n".join(lines))


# --- the shop ------------------------------------------------------------------------------------
def describe_item(ctx: CommandContext, item: Item, money: Currency) -> str:
    parts = [f"#{item.number} {item.name}: {money.format(item.price)}"]
    roles = ctx.cache.servers[server(ctx)].roles
    if item.role_id:
        parts.append(f"role @{roles[item.role_id].name}" if item.role_id in roles else "role (deleted)")
    if item.stock is not None:
        parts.append(f"{item.stock} left")
    if item.once:
        parts.append("once per member")
    return " · ".join(parts)


async def _shop(ctx: CommandContext) -> None:
    items = await service(ctx).items(server(ctx))
    if not items:
        await ctx.reply("The shop is empty.")
        return
    money = await currency(ctx)
    lines = [
        "**Shop**",
        *(describe_item(ctx, item, money) for item in items),
        f"Buy with `{ctx.prefix}buy <item> [quantity]`.",
    ]
    await ctx.reply("\n".join(lines))


shop: Command = command("shop", description="The shop; managers: shop add / shop remove")(_shop)


@shop.subcommand("add", description="List an item: price, name (quote it), optional role, --stock N, --once")
async def shop_add(
    ctx: CommandContext,
    price: str,
    name: str,
    role: RoleRef | None = None,
    *,
    stock: str | None = None,
    once: bool = False,
) -> None:
    require_manager(ctx)
    value = amount_of(ctx, price, "price")
    count = amount_of(ctx, stock, "stock") if stock is not None else None
    if not 1 <= len(name) <= 64:
        raise CommandError("`name`: 1-64 characters.")
    if name.isascii() and name.lstrip("#").isdigit():
        raise CommandError("`name`: a name cannot be only a number (numbers pick items by number).")
    svc = service(ctx)
    if await svc.find_item(server(ctx), name) is not None:
        raise CommandError(f"`name`: the shop already has an item called {name}.")
    if role is not None:
        await ensure_can_hand_out(ctx, role)
    item = await svc.add_item(
        server(ctx),
        name,
        value,
        role_id=role.id if role else None,
        stock=count,
        once=once,
        added_by=ctx.author_id,
    )
    await ctx.reply(f"Listed {describe_item(ctx, item, await currency(ctx))}.")


@shop.subcommand("remove", description="Take an item off the shop (by name or number)")
async def shop_remove(ctx: CommandContext, item: Rest) -> None:
    require_manager(ctx)
    found = await service(ctx).find_item(server(ctx), item)
    if found is None:
        raise CommandError(f"`item`: there is no item {item} in the shop.")
    await service(ctx).remove_item(found)
    await ctx.reply(f"Removed #{found.number} {found.name} from the shop.")


@command("buy", description="Buy an item from the shop (by name or number)")
async def buy(ctx: CommandContext, item: str, quantity: str = "1") -> None:
    svc = service(ctx)
    found = await svc.find_item(server(ctx), item)
    if found is None:
        raise CommandError(f"`item`: there is no item {item} in the shop. See `{ctx.prefix}shop`.")
    count = amount_of(ctx, quantity, "quantity")
    if found.once and count != 1:
        raise CommandError(f"`quantity`: {found.name} can be bought once per member.")
    if found.role_id is not None:
        await recheck_role_item(ctx, found)
    money = await currency(ctx)
    try:
        outcome = await svc.buy(server(ctx), ctx.author_id, found, count, key=key(ctx), cause=ctx.message.id)
    except ValueError as exc:
        raise CommandError(f"`quantity`: {exc}.") from None
    if not outcome.ok:
        if outcome.reason == "insufficient funds":
            held = await svc.balance(server(ctx), ctx.author_id)
            raise CommandError(f"You need {money.format(found.price * count)} but have {money.format(held)}.")
        if outcome.reason == "out of stock":
            raise CommandError(f"{found.name} is out of stock (or has fewer than {count} left).")
        if outcome.reason == "already owned":
            raise CommandError(f"You already own {found.name}; it can be bought once.")
        raise CommandError(f"The purchase failed: {outcome.reason}.")
    if found.role_id is not None and not outcome.duplicate:
        try:
            await grant_role(ctx, found.role_id)
        except StoatAPIError as exc:
            await svc.reverse(
                server(ctx),
                outcome.entry_id,
                actor=ctx.bot_user_id,
                reason=f"Stoat refused the role ({exc.type})",
            )
            raise CommandError(
                f"Stoat refused to give you the role ({exc.type}); you were refunded."
            ) from None
    after = new_balance(outcome, server(ctx), ctx.author_id)
    tail = f" Balance: {money.format(after)}." if after is not None else ""
    await ctx.reply(f"You bought {count} × {found.name} for {money.format(found.price * count)}.{tail}")


async def grant_role(ctx: CommandContext, role_id: str) -> None:
    """Read the member's roles fresh from Stoat and add only this one (``roles`` replaces all)."""
    fresh = await ctx.api.fetch_member(server(ctx), ctx.author_id)
    if role_id in fresh.roles:
        return
    await ctx.api.edit_member(server(ctx), ctx.author_id, roles=[*fresh.roles, role_id])


@command("inventory", aliases=("inv",), description="What a member bought from the shop")
async def inventory(ctx: CommandContext, member: Member | None = None) -> None:
    user_id = member.user_id if member else ctx.author_id
    held = await service(ctx).inventory(server(ctx), user_id)
    name = ctx.display_name(user_id)
    if not held:
        await ctx.reply(f"{name} owns nothing from the shop.")
        return
    lines = [f"**{name}'s inventory**", *(f"#{item.number} {item.name} × {count}" for item, count in held)]
    await ctx.reply("\n".join(lines))


# --- managers' commands --------------------------------------------------------------------------
economy = group("economy", aliases=("eco",), description="Minting, statements, reversals, audits, settings")


@economy.subcommand("give", description="Mint coins for a member (ManageServer)")
async def economy_give(ctx: CommandContext, member: Member, amount: str, reason: Rest = "") -> None:
    require_manager(ctx)
    value = amount_of(ctx, amount, "amount")
    ensure_member_user(ctx, member)
    money = await currency(ctx)
    memo = f"given by {await name_of(ctx, ctx.author_id)}" + (f": {reason[:200]}" if reason else "")
    outcome = await service(ctx).mint(
        server(ctx), member.user_id, value, key=key(ctx), memo=memo, actor=ctx.author_id, cause=ctx.message.id
    )
    if not outcome.ok:
        raise CommandError(f"`amount`: cannot mint {money.format(value)}: {outcome.reason}.")
    after = new_balance(outcome, server(ctx), member.user_id)
    await ctx.reply(
        f"Gave {ctx.display_name(member.user_id)} {money.format(value)} (entry {outcome.entry_id})."
        + (f" Their balance: {money.format(after)}." if after is not None else "")
    )


@economy.subcommand("take", description="Burn coins from a member (ManageServer)")
async def economy_take(ctx: CommandContext, member: Member, amount: str, reason: Rest = "") -> None:
    require_manager(ctx)
    value = amount_of(ctx, amount, "amount")
    ensure_member_user(ctx, member)
    svc, money = service(ctx), await currency(ctx)
    memo = f"taken by {await name_of(ctx, ctx.author_id)}" + (f": {reason[:200]}" if reason else "")
    outcome = await svc.burn(
        server(ctx), member.user_id, value, key=key(ctx), memo=memo, actor=ctx.author_id, cause=ctx.message.id
    )
    if not outcome.ok:
        held = await svc.balance(server(ctx), member.user_id)
        raise CommandError(f"`amount`: {ctx.display_name(member.user_id)} has only {money.format(held)}.")
    after = new_balance(outcome, server(ctx), member.user_id)
    await ctx.reply(
        f"Took {money.format(value)} from {ctx.display_name(member.user_id)} (entry {outcome.entry_id})."
        + (f" Their balance: {money.format(after)}." if after is not None else "")
    )


@economy.subcommand("statement", description="Ledger entries, newest first (others': ManageServer)")
async def economy_statement(
    ctx: CommandContext, member: Member | None = None, page: str | None = None
) -> None:
    user_id = member.user_id if member else ctx.author_id
    if user_id != ctx.author_id and not is_manager(ctx):
        raise CommandError("You can see your own statement; others' need the ManageServer permission.")
    number = page_of(ctx, page)
    lines_, pages = await service(ctx).statement(server(ctx), user_id, number, PER_PAGE)
    name = ctx.display_name(user_id)
    if not lines_:
        await ctx.reply(
            f"{name} has no entries yet." if number == 1 else f"{name}'s statement has {pages} page(s)."
        )
        return
    for line in lines_:
        if not line.counterparty.startswith("@") and line.counterparty != "-":
            await ctx.cache.ensure_user(line.counterparty)
    money = await currency(ctx)
    out = [f"**{name}'s statement** (page {number} of {pages})"]
    for line in lines_:
        balance_text = money.format(line.balance) if line.balance is not None else "?"
        sign = "+" if line.amount > 0 else ""
        out.append(
            f"`{line.entry_id}` {line.at:%Y-%m-%d %H:%M} · {line.kind} · {who(ctx, line.counterparty)} · "
            f"{sign}{line.amount:,} · {line.memo or '-'} · balance {balance_text}"
        )
    if number < pages:
        target = f" <@{user_id}>" if member else ""
        out.append(f"Next: `{ctx.prefix}economy statement{target} {number + 1}`")
    await ctx.reply("\n".join(out))


@economy.subcommand("reverse", description="Reverse an entry with a compensating one (ManageServer)")
async def economy_reverse(ctx: CommandContext, entry_id: str, reason: Rest = "") -> None:
    require_manager(ctx)
    svc = service(ctx)
    try:
        outcome = await svc.reverse(
            server(ctx), entry_id, actor=ctx.author_id, reason=reason[:200], cause=ctx.message.id
        )
    except LookupError:
        raise CommandError(
            f"`entry id`: there is no applied entry `{entry_id[:20]}` on this server."
        ) from None
    if outcome.duplicate and outcome.entry.get("cause") != ctx.message.id:
        raise CommandError(f"Entry {entry_id} was already reversed by entry {outcome.entry_id}.")
    if not outcome.ok:
        raise CommandError(f"Cannot reverse {entry_id}: {outcome.reason}.")
    money = await currency(ctx)
    changes = []
    for step in outcome.entry.get("steps", []):
        owner = step["id"].rsplit(":", 1)[1]
        delta = int(step["inc"].get("balance", 0))
        if step["c"] == "a" and delta and owner not in (ISSUANCE, SINK):
            changes.append(f"{who(ctx, owner)} {'+' if delta > 0 else ''}{delta:,}")
    await ctx.reply(
        f"Reversed entry {entry_id} with entry {outcome.entry_id} ({money.symbol}): {', '.join(changes)}."
    )


@economy.subcommand("audit", description="Recompute every account from the ledger (ManageServer)")
async def economy_audit(ctx: CommandContext) -> None:
    require_manager(ctx)
    report = await service(ctx).audit(server(ctx))
    money = await currency(ctx)
    figures = (
        f"{report.entries:,} entries, {report.accounts} accounts; members hold "
        f"{money.format(report.members_total)} and the shop {money.format(report.shop_total)} = "
        f"minted {report.minted:,} − burned {report.burned:,} ({report.seconds:.2f} s)"
    )
    if report.ok:
        pending = f"; {report.pending} entr(ies) in progress" if report.pending else ""
        await ctx.reply(f"Audit OK: {figures}{pending}.")
        return
    lines = [
        f"Audit found {len(report.discrepancies)} discrepanc(ies): {figures}.",
        *(f"• {problem}" for problem in report.discrepancies),
    ]
    await ctx.reply("\n".join(lines))


config = group("config", description="Server settings: currency, daily, work, start")
config.parent = economy
economy.subcommands["config"] = config


@config.subcommand("currency", description="The currency's name and symbol")
async def config_currency(ctx: CommandContext, name: str, symbol: str) -> None:
    require_manager(ctx)
    if not 1 <= len(name) <= 32 or not 1 <= len(symbol) <= 8:
        raise CommandError("`name`: 1-32 characters; `symbol`: 1-8 characters.")
    await service(ctx).configure(server(ctx), currency_name=name, currency_symbol=symbol)
    await ctx.reply(f"The currency is now {Currency(name, symbol).format(100)} (for example).")


@config.subcommand("daily", description="The daily reward")
async def config_daily(ctx: CommandContext, amount: str) -> None:
    require_manager(ctx)
    value = amount_of(ctx, amount, "amount")
    await service(ctx).configure(server(ctx), daily=value)
    await ctx.reply(f"The daily reward is now {(await currency(ctx)).format(value)}.")


@config.subcommand("work", description="The work reward range and cooldown (e.g. 10 50 1h)")
async def config_work(ctx: CommandContext, min: str, max: str, cooldown: str) -> None:
    require_manager(ctx)
    low, high = amount_of(ctx, min, "min"), amount_of(ctx, max, "max")
    if high < low:
        raise CommandError("`max` must be at least `min`.")
    if cooldown.isascii() and cooldown.isdigit():
        seconds = int(cooldown)
    else:
        duration = parse_duration(cooldown)
        if duration is None:
            raise CommandError("`cooldown`: expected seconds or a duration like 30m or 1h.")
        seconds = int(duration.total_seconds())
    if not 1 <= seconds <= 7 * 24 * 3600:
        raise CommandError("`cooldown`: between 1 second and 7 days.")
    await service(ctx).configure(server(ctx), work_min=low, work_max=high, work_cooldown_seconds=seconds)
    money = await currency(ctx)
    await ctx.reply(
        f"Work now pays {money.format(low)} to {money.format(high)}, every "
        f"{format_duration(timedelta(seconds=seconds))}."
    )


@config.subcommand("start", description="The starting balance of new members (0: none)")
async def config_start(ctx: CommandContext, amount: str) -> None:
    require_manager(ctx)
    try:
        value = parse_amount(amount, "amount", allow_zero=True)
    except AmountError as exc:
        raise CommandError(str(exc)) from None
    await service(ctx).configure(server(ctx), start_balance=value)
    await ctx.reply(f"New members now start with {(await currency(ctx)).format(value)}.")


ALL_COMMANDS = [balance, daily, work, pay, leaderboard, shop, buy, inventory, economy]
__all__ = ["ALL_COMMANDS"]
