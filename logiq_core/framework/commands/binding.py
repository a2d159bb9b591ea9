"""From a command's words to its handler's keyword arguments: flags, positionals, rest text,
conversion and limits, with one error ladder (a word that does not fit is skipped into the
next parameter when it may be, else the member is told what was expected and the usage)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from logiq_core.framework.commands.converters import BadArgument, convert, expected_of
from logiq_core.framework.commands.model import Command, CommandError, Param
from logiq_core.framework.commands.parsing import MAX_DURATION, duration_problem, looks_like_duration
from logiq_core.framework.commands.safe import truncate_utf8

if TYPE_CHECKING:
    from logiq_core.framework.commands.context import CommandContext


class _DoesNotFit(Exception):
    """The word is not a value of the parameter's type (the converter said ValueError etc.)."""


async def bind_arguments(
    ctx: CommandContext, command: Command, tokens: list[tuple[str, int]], rest_text: str
) -> dict[str, Any]:
    """The handler's keyword arguments, or :class:`BadArgument`/:class:`CommandError`."""
    flags = {p.name: p for p in command.params if p.flag}
    values: dict[str, Any] = {p.name: p.default for p in command.params if p.flag}
    positional: list[tuple[str, int]] = []
    index = 0
    while index < len(tokens):
        word = tokens[index][0]
        flag = flags.get(word[2:].replace("-", "_")) if word.startswith("--") else None
        if flag is None:
            positional.append(tokens[index])
            index += 1
            continue
        if flag.kind is bool:
            values[flag.name] = True
            index += 1
            continue
        if index + 1 >= len(tokens):
            raise _bad(ctx, command, flag, None)
        word = tokens[index + 1][0]
        try:
            values[flag.name] = await _value(ctx, command, flag, word)
        except _DoesNotFit:
            raise _bad(ctx, command, flag, word) from None
        index += 2
    used_flags = len(positional) != len(tokens)
    position = 0
    for param in (p for p in command.params if not p.flag):
        if param.rest:
            if position < len(positional):
                if used_flags:
                    text = " ".join(word for word, _ in positional[position:])
                else:
                    text = rest_text[positional[position][1] - positional[0][1] :]
                values[param.name] = text.strip()
                position = len(positional)
            elif param.optional:
                values[param.name] = param.default
            else:
                raise _bad(ctx, command, param, None)
            continue
        if position >= len(positional):
            if not param.optional:
                raise _bad(ctx, command, param, None)
            values[param.name] = param.default
            continue
        word = positional[position][0]
        try:
            values[param.name] = await _value(ctx, command, param, word)
        except _DoesNotFit:
            if param.optional and _takes_words_after(command, param):
                values[param.name] = param.default  # skip it; the word may fit the next
                continue
            raise _bad(ctx, command, param, word) from None
        position += 1
    if position < len(positional):
        extra = positional[position][0]
        raise CommandError(
            f"I did not expect `{truncate_utf8(ctx.neutralise(extra), 100)}`.\n"
            f"Usage: `{command.usage(ctx.prefix)}`"
        )
    return values


async def _value(ctx: CommandContext, command: Command, param: Param, word: str) -> Any:
    """``word`` as ``param``'s value: a bad duration or an out-of-bounds value is an error at
    once (never skipped into the next parameter, such as a reason); a word of the wrong kind
    raises :class:`_DoesNotFit`."""
    _check_duration(ctx, command, param, word)
    try:
        value = await convert(ctx, param.kind, word)
    except BadArgument:
        raise
    except (ValueError, TypeError, LookupError):
        raise _DoesNotFit from None
    if param.bounds is not None and not param.bounds.contains(value):
        raise BadArgument(
            f"`{param.name}` must be {param.bounds.describe()}, got `{ctx.neutralise(word)[:50]}`."
            f"\nUsage: `{command.usage(ctx.prefix)}`"
        )
    return value


def _check_duration(ctx: CommandContext, command: Command, param: Param, word: str) -> None:
    """A word that looks like a duration but is not a valid one is an error (naming the forms
    and the maximum), never skipped into the next parameter such as a reason."""
    if param.kind is not timedelta or not looks_like_duration(word):
        return
    problem = duration_problem(word, command.max_duration or MAX_DURATION)
    if problem is not None:
        problem = ctx.neutralise(problem)
        raise BadArgument(f"`{param.name}`: {problem}.\nUsage: `{command.usage(ctx.prefix)}`")


def _bad(ctx: CommandContext, command: Command, param: Param, word: str | None) -> CommandError:
    expected = expected_of(param.kind)
    if word is None:
        problem = f"`{param.name}` is missing: expected {expected}."
    else:
        shown = truncate_utf8(ctx.neutralise(word), 100)
        problem = f"`{param.name}`: expected {expected}, got `{shown}`."
    return BadArgument(f"{problem}\nUsage: `{command.usage(ctx.prefix)}`")


def _takes_words_after(command: Command, param: Param) -> bool:
    """Whether a positional parameter after ``param`` could take a word ``param`` refused."""
    positional = [p for p in command.params if not p.flag]
    return positional.index(param) < len(positional) - 1
