"""Converters: a parameter type without one fails where the command is defined; converters are
an open protocol; a converter's bug is not the member's bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from logiq_core.framework.commands.converters import ConverterError, can_convert, expected_of
from logiq_core.plugin import BadArgument, CommandContext, Converter, command, convert


class Colour:
    expected = "a colour like #ff8800"

    async def convert(self, ctx: Any, word: str) -> int:
        if not word.startswith("#") or len(word) != 7:
            raise ValueError(word)
        return int(word[1:], 16)


class Broken:
    expected = "anything"

    async def convert(self, ctx: Any, word: str) -> int:
        return {}[word]  # a bug: KeyError


def test_a_type_without_a_converter_fails_when_the_command_is_defined() -> None:
    async def pay(ctx: CommandContext, amount: Decimal) -> None: ...

    with pytest.raises(TypeError, match=r"parameter 'amount' is annotated Decimal, which has no converter"):
        command("pay")(pay)


def test_a_converter_class_is_a_parameter_type() -> None:
    async def paint(ctx: CommandContext, colour: Colour, *, border: Colour | None = None) -> None: ...

    paint_command = command("paint")(paint)
    assert [p.kind for p in paint_command.params] == [Colour, Colour]
    assert isinstance(Colour(), Converter) and can_convert(Colour)
    assert expected_of(Colour) == "a colour like #ff8800"


async def test_bad_input_and_a_converter_bug_are_kept_apart() -> None:
    ctx: Any = None  # these converters need no context
    assert await convert(ctx, Colour, "#ff8800") == 0xFF8800
    with pytest.raises(ValueError):
        await convert(ctx, Colour, "orange")
    with pytest.raises(ConverterError, match="converter Broken failed: KeyError") as raised:
        await convert(ctx, Broken, "x")
    assert not isinstance(raised.value, (ValueError, TypeError, LookupError, BadArgument))
