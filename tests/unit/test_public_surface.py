"""Plugins stand on one module, ``logiq_core.plugin``; the documented examples run as written."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from logiq_core import plugin as public
from logiq_core.framework import hookspecs
from logiq_core.framework.plugins import PluginManager
from logiq_core.framework.policy import Policy

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(
    path for root in ("plugins", "examples") for path in (REPO / root).glob("*/logiq_*/**/*.py")
)


def core_imports_outside_the_surface(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("logiq_core"):
            names = [alias.name for alias in node.names]
            if node.module != "logiq_core.plugin" and not (
                node.module == "logiq_core" and names == ["plugin"]
            ):
                found.append(
                    f"{path.relative_to(REPO)}:{node.lineno} from {node.module} import {', '.join(names)}"
                )
        elif isinstance(node, ast.Import):
            found += [
                f"{path.relative_to(REPO)}:{node.lineno} import {alias.name}"
                for alias in node.names
                if alias.name.startswith("logiq_core")
            ]
    return found


def test_plugins_and_examples_import_the_core_only_through_logiq_core_plugin() -> None:
    assert len(PLUGIN_SOURCES) > 5  # moderation, verification and coinflip were found
    offending = [line for path in PLUGIN_SOURCES for line in core_imports_outside_the_surface(path)]
    assert offending == [], "import these from logiq_core.plugin instead:\n" + "\n".join(offending)


def test_the_surface_has_what_the_docs_promise() -> None:
    promised = {
        "hookimpl",
        "FeatureInfo",
        "Phase",
        "command",
        "group",
        "Rest",
        "Duration",
        "Range",
        "UserId",
        "RoleRef",
        "Listener",
        "MessageEvent",
        "MessageReact",
        "ServerMemberJoin",
        "Member",
        "Channel",
        "Permission",
        "CommandError",
        "PluginContext",
        "CommandContext",
        "Job",
        "PluginState",
        "StateScope",
        "Register",
        "events",
    }
    assert promised <= set(public.__all__)
    for name in public.__all__:
        assert getattr(public, name) is not None, name


def example_blocks(doc: str) -> list[str]:
    """The ``::`` literal blocks of a reStructuredText docstring."""
    blocks, lines = [], doc.splitlines()
    for index, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and not following.startswith("    "):
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)))
    return blocks


@pytest.mark.parametrize("module", [hookspecs, public], ids=["hookspecs", "plugin"])
def test_the_module_docstring_example_loads_as_a_plugin_as_written(module: ModuleType) -> None:
    blocks = example_blocks(inspect.getdoc(module) or "")
    assert blocks, "the docstring lost its example"
    namespace: dict[str, object] = {"__name__": "example_plugin"}
    exec(compile(blocks[0], f"<{module.__name__} example>", "exec"), namespace)
    manager = PluginManager(
        Policy(), extra_plugins={"example": SimpleNamespace(**namespace)}, use_entry_points=False
    )
    record = manager.load()[0]
    assert record.status == "loaded", record.error
    assert record.feature is not None and record.feature.name == "example"
    assert record.commands


def test_range_arguments_show_their_limits_in_the_usage_line() -> None:
    async def flip(
        ctx: public.CommandContext,
        n: public.Range[int, 1, 100] = 1,
        *,
        bias: public.Range[float, 0, None] = 0.0,
    ) -> None: ...

    flip_command = public.command("flip")(flip)
    assert flip_command.usage() == "!flip [n: 1-100] [--bias <number>: ≥0]"
