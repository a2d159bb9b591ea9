"""Validation of requests against the official Stoat OpenAPI specification.

The spec (OpenAPI 3.0, shipped as ``logiq_core/testing/data/stoat-openapi.json``) is the
contract: a request to a path or method it lacks, an unknown or ill-typed query parameter, or a
JSON body its schema refuses is a *violation*. OpenAPI 3.0's ``nullable`` is translated to JSON
Schema before validating. Fields the live server accepts but the spec lacks (PROTOCOL.md's "SRV
only") are violations too: Logiq must send only what the spec allows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    query: dict[str, dict[str, Any]]
    body_schema: dict[str, Any] | None
    body_required: bool


def _nullable_to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    # Annotations go; a property that happens to be called "description" or "format" (a
    # schema, so a dict) stays: channels and roles have a ``description`` field.
    converted = {
        key: _nullable_to_json_schema(value)
        for key, value in node.items()
        if key not in ("nullable", "example", "format", "description") or isinstance(value, dict)
    }
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def load_spec() -> dict[str, Any]:
    text = resources.files("logiq_core.testing").joinpath("data/stoat-openapi.json").read_text()
    return dict(json.loads(text))


class SpecValidator:
    """Finds the operation of a request and checks its query and body."""

    def __init__(self) -> None:
        spec = load_spec()
        self.components = _nullable_to_json_schema(spec.get("components", {}))
        self.operations: list[Operation] = []
        for template, item in spec["paths"].items():
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            literals = sum(1 for part in template.split("/") if part and "{" not in part)
            for method, operation in item.items():
                if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                    continue
                query = {
                    p["name"]: _nullable_to_json_schema(p.get("schema", {}))
                    for p in operation.get("parameters", [])
                    if p.get("in") == "query"
                }
                body = operation.get("requestBody", {})
                schema = body.get("content", {}).get("application/json", {}).get("schema")
                self.operations.append(
                    Operation(
                        method.upper(),
                        template,
                        re.compile(regex),
                        literals,
                        query,
                        _nullable_to_json_schema(schema) if schema else None,
                        bool(body.get("required")),
                    )
                )
        self._validators: dict[str, Draft7Validator] = {}

    def find(self, method: str, path: str) -> Operation | None:
        candidates = [op for op in self.operations if op.method == method and op.pattern.match(path)]
        if not candidates:
            return None
        return max(candidates, key=lambda op: op.literal_segments)

    def _validator(self, key: str, schema: dict[str, Any]) -> Draft7Validator:
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft7Validator({**schema, "components": self.components})
            self._validators[key] = validator
        return validator

    def check(self, method: str, path: str, query: dict[str, str], body: Any, has_body: bool) -> list[str]:
        """Every way the request departs from the spec (an empty list: it conforms)."""
        operation = self.find(method, path)
        if operation is None:
            return [f"{method} {path}: no such operation in the Stoat API"]
        problems: list[str] = []
        where = f"{method} {operation.template}"
        for name, value in query.items():
            schema = operation.query.get(name)
            if schema is None:
                problems.append(f"{where}: unknown query parameter {name!r}")
                continue
            typed = _typed_query_value(value, schema)
            for error in self._validator(f"q:{where}:{name}", schema).iter_errors(typed):
                problems.append(f"{where}: query {name}={value!r}: {error.message}")
        if operation.body_schema is None:
            if has_body and body not in (None, {}):
                problems.append(f"{where}: this operation takes no body")
        elif not has_body:
            if operation.body_required:
                problems.append(f"{where}: a JSON body is required")
        else:
            validator = self._validator(f"b:{where}", operation.body_schema)
            for error in validator.iter_errors(body):
                location = "/".join(str(p) for p in error.absolute_path) or "body"
                problems.append(f"{where}: {location}: {_short(error.message)}")
            known = self._top_level_properties(operation.body_schema)
            if known is not None and isinstance(body, dict):
                for key in sorted(set(body) - known):
                    problems.append(f"{where}: body field {key!r} is not in the spec")
        return problems

    def _top_level_properties(self, schema: dict[str, Any]) -> set[str] | None:
        """The body's declared fields (None when the schema is not a plain object)."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            schema = self.components["schemas"][ref.rsplit("/", 1)[1]]
        properties = schema.get("properties")
        return set(properties) if isinstance(properties, dict) else None


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _typed_query_value(value: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    for option in schema.get("anyOf", []):  # a nullable schema, after translation
        kind = kind or option.get("type") if option.get("type") != "null" else kind
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value
