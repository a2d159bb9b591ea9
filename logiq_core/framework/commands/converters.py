"""Turning words into typed arguments, with errors that say what was expected."""

from __future__ import annotations

import inspect
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from logiq_core.framework.commands.model import CommandError, RoleRef, UserId
from logiq_core.framework.commands.parsing import parse_duration
from logiq_core.stoat.models import Channel, Member, is_ulid
from logiq_core.stoat.rest import StoatAPIError

if TYPE_CHECKING:
    from logiq_core.framework.commands.context import CommandContext

_USER = re.compile(r"^<@([0-9A-HJKMNP-TV-Z]{26})>$")
_ROLE = re.compile(r"^<%([0-9A-HJKMNP-TV-Z]{26})>$")
_CHANNEL = re.compile(r"^<#([0-9A-HJKMNP-TV-Z]{26})>$")
_TRUE = {"yes", "y", "true", "on", "1", "enable", "enabled"}
_FALSE = {"no", "n", "false", "off", "0", "disable", "disabled"}
MAX_INT = 2**53


class BadArgument(CommandError):
    """An argument could not be converted; the router adds the usage line."""


class ConverterError(Exception):
    """A converter failed with something other than bad input: a bug, logged, never shown as
    the member's mistake."""


@runtime_checkable
class Converter(Protocol):
    """Turns a member's word into a command argument: annotate a parameter with a converter
    class (instantiated once per conversion) or instance.

    ``expected`` completes "expected ..." in errors ("a colour like #ff8800"). ``convert``
    raises :class:`ValueError` (or :class:`BadArgument` with its own text) for bad input; any
    other exception is a bug in the converter and is reported as one.
    """

    expected: str

    async def convert(self, ctx: CommandContext, word: str) -> Any: ...


EXPECTED = {
    int: "a whole number",
    float: "a number",
    bool: "yes or no",
    str: "some text",
    timedelta: "a duration like 10m, 1h30m or 2d",
    Member: "a member (mention, id or name)",
    RoleRef: "a role (mention, id or name)",
    Channel: "a channel (mention, id or name)",
    UserId: "a user (mention, id, or a member's name)",
}


def is_converter(kind: Any) -> bool:
    return callable(getattr(kind, "convert", None)) and isinstance(getattr(kind, "expected", None), str)


def can_convert(kind: Any) -> bool:
    """Whether a parameter annotated ``kind`` can be converted (a built-in type or a Converter)."""
    return kind in EXPECTED or is_converter(kind)


def expected_of(kind: Any) -> str:
    """What a member should type for ``kind``, for error messages."""
    if is_converter(kind):
        return str(kind.expected)
    return EXPECTED.get(kind, "a value")


async def convert(ctx: CommandContext, kind: Any, word: str) -> Any:
    """Convert ``word`` to ``kind`` or raise ValueError with what was expected."""
    if is_converter(kind):
        converter: Any = kind() if inspect.isclass(kind) else kind
        try:
            return await converter.convert(ctx, word)
        except (BadArgument, ValueError):
            raise
        except Exception as exc:
            name = getattr(kind, "__name__", type(kind).__name__)
            raise ConverterError(f"converter {name} failed: {type(exc).__name__}: {exc}") from exc
    if kind is str:
        return word
    if kind is int:
        value = int(word.replace(",", "").replace("_", ""))
        if abs(value) > MAX_INT:
            raise ValueError
        return value
    if kind is float:
        number = float(word)
        if number != number or abs(number) == float("inf"):
            raise ValueError
        return number
    if kind is bool:
        lowered = word.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError
    if kind is timedelta:
        duration = parse_duration(word)
        if duration is None:
            raise ValueError
        return duration
    if kind is UserId:
        match = _USER.match(word)
        user_id = match.group(1) if match else word
        if not is_ulid(user_id):
            # Every member argument takes the same forms: a name or nickname names a member.
            return UserId((await _member(ctx, word)).user_id)
        await ctx.cache.ensure_user(user_id)
        return UserId(user_id)
    if kind is Member:
        return await _member(ctx, word)
    if kind is RoleRef:
        return _role(ctx, word)
    if kind is Channel:
        return _channel(ctx, word)
    raise TypeError(f"no converter for {kind!r}")


async def _member(ctx: CommandContext, word: str) -> Member:
    server_id = ctx.message.server_id_hint
    if server_id is None:
        raise ValueError
    match = _USER.match(word)
    user_id = match.group(1) if match else (word if is_ulid(word) else None)
    if user_id is not None:
        try:
            member = await ctx.cache.member(server_id, user_id)
        except LookupError as exc:  # not cached, and no way to fetch it
            raise ValueError from exc
        except StoatAPIError as exc:
            if not exc.not_found:
                raise  # Stoat failing to answer is not "no such member"
            raise ValueError from exc
        await ctx.cache.ensure_user(user_id)
        return member
    name = word.lstrip("@").lower()
    found = _members_named(ctx, server_id, name)
    if not found and await ctx.cache.learn_member_names(server_id):
        found = _members_named(ctx, server_id, name)  # not cached yet: look at everyone once
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise BadArgument(f"more than one member is called {word}: mention them instead")
    raise ValueError


def _members_named(ctx: CommandContext, server_id: str, name: str) -> list[Member]:
    return [
        member
        for member in ctx.cache.members.get(server_id, {}).values()
        if (member.nickname or "").lower() == name
        or ((user := ctx.cache.users.get(member.user_id)) is not None and user.username.lower() == name)
    ]


def _role(ctx: CommandContext, word: str) -> RoleRef:
    server = ctx.cache.servers.get(ctx.message.server_id_hint or "")
    if server is None:
        raise ValueError
    match = _ROLE.match(word)
    role_id = match.group(1) if match else word
    if role_id in server.roles:
        return RoleRef(role_id, server.roles[role_id])
    name = word.lstrip("@").lower()
    found = [(rid, role) for rid, role in server.roles.items() if role.name.lower() == name]
    if len(found) == 1:
        return RoleRef(*found[0])
    if len(found) > 1:
        raise BadArgument(f"more than one role is called {word}: mention it instead")
    raise ValueError


def _channel(ctx: CommandContext, word: str) -> Channel:
    server = ctx.cache.servers.get(ctx.message.server_id_hint or "")
    if server is None:
        raise ValueError
    match = _CHANNEL.match(word)
    channel_id = match.group(1) if match else word
    channel = ctx.cache.channels.get(channel_id)
    if channel is not None and channel.server == server.id:
        return channel
    name = word.lstrip("#").lower()
    found = [
        c for c in ctx.cache.channels.values() if c.server == server.id and (c.name or "").lower() == name
    ]
    if len(found) == 1:
        return found[0]
    raise ValueError
