"""A plugin's typed configuration: its ``[plugins.<name>.config]`` table, checked at load.

A plugin declares a :class:`PluginConfig` model on its ``FeatureInfo``::

    class DiceConfig(PluginConfig):
        sides: int = Field(6, ge=2, le=1000, description="Sides of a die when none is given")

    FeatureInfo(description="Roll dice", config=DiceConfig)

The plugin manager validates the table against the model before any ``logiq_register_*`` hook
runs. The model instance is what those hooks receive as ``config`` and what ``ctx.config`` is;
``DiceConfig.of(ctx)`` reads it typed. An invalid table fails the plugin like any load failure,
with one line per problem naming the file, the table and the key, e.g.
``plugins.toml [plugins.dice.config] sides: must be at least 2 (got 1)``. Defaults live in the
model only. A plugin that declares no model still receives the table as a plain dict.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails


class _HasConfig(Protocol):
    @property
    def config(self) -> object: ...


class PluginConfig(BaseModel):
    """Base of a plugin's configuration model: unknown keys are errors, instances are frozen.

    Give every field a default (the plugin then runs with no table at all), bounds where a
    value can be wrong (``Field(ge=1)``, ``PositiveFloat``) and a ``description``; check keys
    against each other in a ``@model_validator(mode="after")`` raising ``ValueError``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def of(cls, context: _HasConfig) -> Self:
        """The configuration of the plugin ``context`` belongs to, typed as this model.

        ``context`` is a ``PluginContext`` or a ``CommandContext``. Raises ``TypeError`` when
        the plugin did not declare this model (``FeatureInfo(config=...)``).
        """
        config = context.config
        if not isinstance(config, cls):
            raise TypeError(
                f"the plugin's configuration is a {type(config).__name__}, not {cls.__name__}: "
                f"declare it with FeatureInfo(..., config={cls.__name__})"
            )
        return config


class PluginConfigError(ValueError):
    """A plugin's configuration table does not fit its model; the message names every key."""


def validate_plugin_config(model: type[PluginConfig], table: Mapping[str, Any], where: str) -> PluginConfig:
    """``table`` checked against ``model``; ``where`` names it (``plugins.toml [plugins.x.config]``)."""
    try:
        # Strict, over the table's JSON form: TOML's true is not 1 and "100" is not 100, while a
        # whole number still fits a float field and a list a tuple field (a TOML date or time
        # becomes text here, and fails any other type with the usual message).
        return model.model_validate_json(json.dumps(dict(table), default=str), strict=True)
    except ValidationError as exc:
        raise PluginConfigError(describe_config_errors(exc, model, where)) from None


def describe_config_errors(error: ValidationError, model: type[BaseModel], where: str) -> str:
    """One readable line for all of pydantic's errors: ``<where> key: problem (got value); ...``."""
    problems = [_problem(detail, model) for detail in error.errors(include_url=False)]
    return f"{where} {'; '.join(problems)}"


def _problem(detail: ErrorDetails, model: type[BaseModel]) -> str:
    loc = detail["loc"]
    kind = detail["type"]
    if kind == "extra_forbidden" and loc:
        key, parent = str(loc[-1]), _key_path(loc[:-1])
        known = list(_fields_at(model, loc[:-1]))
        guess = difflib.get_close_matches(key, known, n=1)
        if guess:
            hint = f"did you mean {guess[0]!r}?"
        elif known:
            hint = "known keys: " + ", ".join(known)
        else:
            hint = "this table takes no keys"
        return f"{parent + ': ' if parent else ''}unknown key {key!r} ({hint})"
    text = _explain(detail)
    if kind != "missing" and loc:
        text += f" (got {_shown(detail['input'])})"
    path = _key_path(loc)
    return f"{path}: {text}" if path else text


def _explain(detail: ErrorDetails) -> str:
    kind, context = detail["type"], detail.get("ctx") or {}
    simple = {
        "missing": "required, but missing",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": 'must be text in quotes, like "..."',
        "list_type": "must be a list, like [...]",
        "tuple_type": "must be a list, like [...]",
        "set_type": "must be a list, like [...]",
        "dict_type": "must be a table",
        "model_type": "must be a table",
        "model_attributes_type": "must be a table",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "greater_than_equal": ("ge", "must be at least {}"),
        "greater_than": ("gt", "must be above {}"),
        "less_than_equal": ("le", "must be at most {}"),
        "less_than": ("lt", "must be below {}"),
        "string_too_short": ("min_length", "must be at least {} character(s) long"),
        "string_too_long": ("max_length", "must be at most {} character(s) long"),
        "too_short": ("min_length", "must have at least {} item(s)"),
        "too_long": ("max_length", "must have at most {} item(s)"),
    }
    if kind in bounds and bounds[kind][0] in context:
        name, template = bounds[kind]
        bound = context[name]
        return template.format(int(bound) if isinstance(bound, float) and bound.is_integer() else bound)
    if kind in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    message = detail["msg"]  # pydantic's own sentence, in the same voice
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    return message[:1].lower() + message[1:]


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the (nested) table at ``loc`` takes, for a did-you-mean."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if current is not None else None
        current = _model_in(field.annotation) if field is not None else None
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or inside a list/tuple/optional (``list[Rule]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _shown(value: Any) -> str:
    """A value as the operator wrote it in TOML (true, "text", [1, 2]), cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
