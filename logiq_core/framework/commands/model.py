"""Declaring commands: ``@command(...)`` on an async function, parameters from its signature."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from logiq_core.stoat.models import Role


class CommandError(Exception):
    """Raise in a handler to answer the member with this message (no traceback, no error count)."""


class _RestMarker:
    """Marks a ``str`` parameter that takes the rest of the message."""


Rest = Annotated[str, _RestMarker()]
"""The rest of the message as one string (the last positional parameter)."""

Duration = timedelta
"""A duration such as ``10m``, ``1h30m``, ``2d`` or ``1w``."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive limits on a number argument (see :class:`Range`)."""

    low: int | float | None
    high: int | float | None

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"from {self.low} to {self.high}"
        return f"at least {self.low}" if self.low is not None else f"at most {self.high}"

    def short(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low}-{self.high}"
        return f"≥{self.low}" if self.low is not None else f"≤{self.high}"

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


if TYPE_CHECKING:  # to a type checker, Range[int, 1, 100] is simply an int
    from typing import Annotated as Range
else:

    class Range:
        """A number within limits: ``n: Range[int, 1, 100] = 1``.

        The member is told the limits by name (``n`` must be from 1 to 100) without a line of code in
        the handler; ``None`` leaves a side open (``Range[float, 0, None]``).
        """

        def __class_getitem__(cls, item: tuple[Any, Any, Any]) -> Any:
            kind, low, high = item
            if kind not in (int, float):
                raise TypeError("Range takes int or float: Range[int, 1, 100]")
            return Annotated[kind, Bounds(low, high)]


class UserId(str):
    """A user id from ``<@id>`` or a raw id; the user need not be a member."""


@dataclass(frozen=True, slots=True)
class RoleRef:
    """A role of the current server: from ``<%id>``, an id, or its (unique) name."""

    id: str
    role: Role


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a command, derived from the handler's signature."""

    name: str
    kind: Any
    optional: bool
    default: Any
    rest: bool = False
    flag: bool = False
    bounds: Bounds | None = None

    def usage(self) -> str:
        label = f"--{self.name}" if self.flag else self.name
        if self.flag and self.kind is not bool:
            label += f" <{_type_label(self.kind)}>"
        if self.rest:
            label += "..."
        if self.bounds is not None:
            label += f": {self.bounds.short()}"
        return f"[{label}]" if self.optional else f"<{label}>"


def _type_label(kind: Any) -> str:
    return {
        int: "number",
        float: "number",
        bool: "yes/no",
        str: "text",
        timedelta: "duration",
    }.get(kind, getattr(kind, "__name__", "value").lower())


Handler = Callable[..., Awaitable[None]]
_ALIAS = re.compile(r"^\S+( \S+)?$")


@dataclass(eq=False)
class Command:
    """A chat command. Build with :func:`command` or :func:`group`."""

    name: str
    handler: Handler | None
    description: str = ""
    aliases: tuple[str, ...] = ()
    user_permissions: int = 0
    bot_permissions: int = 0
    cooldown: float | None = None
    dm: bool = False
    hidden: bool = False
    usage_text: str | None = None
    max_duration: timedelta | None = None  # the longest Duration argument (None: the core's cap)
    params: list[Param] = field(default_factory=list)
    subcommands: dict[str, Command] = field(default_factory=dict)
    parent: Command | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.parent.qualified_name} {self.name}" if self.parent else self.name

    def usage(self, prefix: str = "!") -> str:
        if self.usage_text:
            return f"{prefix}{self.qualified_name} {self.usage_text}".strip()
        if self.handler is None and self.subcommands:
            return f"{prefix}{self.qualified_name} <{'|'.join(sorted(self.subcommands))}>"
        parts = [param.usage() for param in self.params]
        return " ".join([f"{prefix}{self.qualified_name}", *parts]).strip()

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def subcommand(self, name: str, **options: Any) -> Callable[[Handler], Command]:
        """Declare a subcommand (``!warn list``): same options as :func:`command`."""

        def decorate(handler: Handler) -> Command:
            options.setdefault("dm", self.dm)
            child = command(name, **options)(handler)
            child.parent = self
            for alias in child.names():
                self.subcommands[alias.lower()] = child
            return child

        return decorate

    def unique_subcommands(self) -> list[Command]:
        seen: list[Command] = []
        for child in self.subcommands.values():
            if child not in seen:
                seen.append(child)
        return seen


def _params_of(handler: Handler) -> list[Param]:
    from logiq_core.framework.commands.converters import can_convert

    signature = inspect.signature(handler)
    hints = typing.get_type_hints(handler, include_extras=True)
    params: list[Param] = []
    for index, parameter in enumerate(signature.parameters.values()):
        if index == 0:
            continue  # the CommandContext
        hint = hints.get(parameter.name, str)
        rest = False
        bounds = None
        if typing.get_origin(hint) is Annotated:
            base, *extras = typing.get_args(hint)
            rest = any(isinstance(extra, _RestMarker) for extra in extras)
            bounds = next((extra for extra in extras if isinstance(extra, Bounds)), None)
            hint = base
        optional = parameter.default is not inspect.Parameter.empty
        args = typing.get_args(hint)
        if type(None) in args:  # X | None
            hint = next(arg for arg in args if arg is not type(None))
            optional = True
        if not can_convert(hint):
            shown = getattr(hint, "__name__", repr(hint))
            raise TypeError(
                f"command handler {handler.__name__}: parameter {parameter.name!r} is annotated "
                f"{shown}, which has no converter; use str, int, float, bool, Duration, Member, "
                "RoleRef, Channel, UserId, Rest, or a Converter (see docs/plugins.md)"
            )
        params.append(
            Param(
                parameter.name,
                hint,
                optional,
                None if parameter.default is inspect.Parameter.empty else parameter.default,
                rest=rest,
                flag=parameter.kind is inspect.Parameter.KEYWORD_ONLY,
                bounds=bounds,
            )
        )
    return params


def command(
    name: str,
    *,
    description: str = "",
    aliases: tuple[str, ...] | list[str] = (),
    user_permissions: int = 0,
    bot_permissions: int = 0,
    cooldown: float | None = None,
    dm: bool = False,
    hidden: bool = False,
    usage: str | None = None,
    max_duration: timedelta | None = None,
) -> Callable[[Handler], Command]:
    """Turn ``async def handler(ctx, ...)`` into a :class:`Command`.

    Parameters after ``ctx`` become arguments, converted by their annotation (``str``, ``int``,
    ``float``, ``bool``, :data:`Duration`, :class:`~logiq_core.stoat.models.Member`,
    :class:`RoleRef`, :class:`~logiq_core.stoat.models.Channel`, :class:`UserId`, :data:`Rest`);
    keyword-only parameters are ``--flags``. ``user_permissions``/``bot_permissions`` are
    permission bit masks both the invoker and the bot must hold in the channel. An alias may be
    two words (``aliases=("leaderboard xp",)``): it is matched before the first word alone, so
    a plugin can answer ``!leaderboard xp`` while another plugin owns ``!leaderboard``.
    """

    def decorate(handler: Handler) -> Command:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"command {name!r}: the handler must be an async function")
        for alias in aliases:
            if not _ALIAS.match(alias.lower()):
                raise ValueError(
                    f"command {name!r}: alias {alias!r} must be one word or two words separated by "
                    "one space (e.g. 'top' or 'leaderboard xp')"
                )
        return Command(
            name=name.lower(),
            handler=handler,
            description=description or (inspect.getdoc(handler) or "").split("\n")[0],
            aliases=tuple(a.lower() for a in aliases),
            user_permissions=int(user_permissions),
            bot_permissions=int(bot_permissions),
            cooldown=cooldown,
            dm=dm,
            hidden=hidden,
            usage_text=usage,
            max_duration=max_duration,
            params=_params_of(handler),
        )

    return decorate


def group(
    name: str,
    *,
    description: str = "",
    aliases: tuple[str, ...] | list[str] = (),
    user_permissions: int = 0,
    bot_permissions: int = 0,
    dm: bool = False,
    hidden: bool = False,
) -> Command:
    """A command that only holds subcommands; invoking it alone lists them."""
    return Command(
        name=name.lower(),
        handler=None,
        description=description,
        aliases=tuple(a.lower() for a in aliases),
        user_permissions=int(user_permissions),
        bot_permissions=int(bot_permissions),
        dm=dm,
        hidden=hidden,
    )


__all__ = [
    "Bounds",
    "Command",
    "CommandError",
    "Duration",
    "Handler",
    "Param",
    "Range",
    "Rest",
    "RoleRef",
    "UserId",
    "command",
    "group",
]
