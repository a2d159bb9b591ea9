"""The core's layers import only downward: Stoat client <- plugin framework <- application.

``logiq_core.stoat`` is a Stoat client usable on its own, ``logiq_core.framework`` is the plugin
system built on it, ``logiq_core.app`` runs the bot. The public plugin surface
(``logiq_core.plugin``), ``logiq_core.cli`` and ``logiq_core.testing`` sit on top and may import
any layer; the Stoat test double (``logiq_core.testing.stoat``) knows only the Stoat layer.
Every import counts: module level, inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import logiq_core

PACKAGE = Path(logiq_core.__file__).parent

# Most specific prefix first: what each part of the package may import (besides the root package).
ALLOWED: list[tuple[str, tuple[str, ...]]] = [
    ("logiq_core.testing.stoat", ("logiq_core.testing.stoat", "logiq_core.stoat")),
    ("logiq_core.stoat", ("logiq_core.stoat",)),
    ("logiq_core.framework", ("logiq_core.framework", "logiq_core.stoat")),
    ("logiq_core.app", ("logiq_core.app", "logiq_core.framework", "logiq_core.stoat", "logiq_core.testing")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every ``logiq_core`` module ``source`` imports, with its line (``from a import b`` gives a.b)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - (node.level - (1 if is_package else 0))]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "logiq_core"]


def is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    rule = next((allowed for prefix, allowed in ALLOWED if is_under(module, prefix)), None)
    if rule is None:  # on top of the layers: plugin surface, cli, __main__, testing
        return []
    bad = []
    for line, name in imported_modules(source, module, is_package):
        if (
            name.count(".") == 1
            and not (PACKAGE / name.split(".")[1]).exists()
            and not (PACKAGE / (name.split(".")[1] + ".py")).exists()
        ):
            continue  # a name from the root package itself (``__version__``)
        if not any(is_under(name, allowed) for allowed in rule):
            bad.append(f"{module}:{line} imports {name}")
    return bad


def test_every_core_import_goes_downward() -> None:
    problems: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += violations(
            path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
        )
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_the_layers_exist_and_the_stable_paths_stay() -> None:
    for name in ("stoat", "framework", "app", "testing"):
        assert (PACKAGE / name / "__init__.py").is_file()
    for name in ("plugin.py", "cli.py", "__main__.py"):
        assert (PACKAGE / name).is_file()


def test_the_check_catches_an_upward_import() -> None:
    upward = "from logiq_core.framework.context import PluginContext\n"
    assert violations(upward, "logiq_core.stoat.cache") == [
        "logiq_core.stoat.cache:1 imports logiq_core.framework.context.PluginContext"
    ]
    lazy = "def f():\n    from logiq_core.app import bot\n"
    assert violations(lazy, "logiq_core.framework.plugins") == [
        "logiq_core.framework.plugins:2 imports logiq_core.app.bot"
    ]
    hidden = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import logiq_core.plugin\n"
    assert violations(hidden, "logiq_core.framework.context") == [
        "logiq_core.framework.context:3 imports logiq_core.plugin"
    ]
    relative = "from ..app.bot import Bot\n"
    assert violations(relative, "logiq_core.framework.context") == [
        "logiq_core.framework.context:1 imports logiq_core.app.bot.Bot"
    ]
    assert violations("from logiq_core import __version__\n", "logiq_core.stoat.gateway") == []
    assert violations("from logiq_core.stoat import events\n", "logiq_core.framework.dispatch") == []
    assert violations("from logiq_core.app.bot import Bot\n", "logiq_core.plugin") == []
