"""The hookspec module is the plugin author's contract: every hook must be documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from logiq_core.framework import hookspecs


def test_every_hook_has_a_docstring_saying_when_and_what() -> None:
    names = hookspecs.hook_names()
    assert {
        "logiq_feature",
        "logiq_register_commands",
        "logiq_register_listeners",
        "logiq_document_models",
        "logiq_register_jobs",
        "logiq_startup",
        "logiq_shutdown",
    } <= set(names)
    for name in names:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert "Called" in doc, f"{name} must say when it is called"
        assert len(doc) > 80, f"{name} is under-documented"


def test_every_hook_is_typed() -> None:
    for name in hookspecs.hook_names():
        signature = inspect.signature(getattr(hookspecs, name))
        assert signature.return_annotation is not inspect.Signature.empty, name
        for parameter in signature.parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, (name, parameter.name)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_every_hook_has_a_section_with_an_example_in_the_plugin_guide() -> None:
    text = DOCS.read_text()
    for name in hookspecs.hook_names():
        section = text.split(f"\n### {name}\n", 1)
        assert len(section) == 2, f"docs/plugins.md has no '### {name}' section"
        assert "```python" in section[1].split("\n### ", 1)[0], f"the {name} section has no example"


def test_the_guide_shows_the_coinflip_example_as_it_is() -> None:
    source = (DOCS.parents[1] / "examples" / "coinflip" / "logiq_coinflip" / "__init__.py").read_text()
    code = source.split('"""', 2)[2].strip()  # without the module docstring
    assert code in DOCS.read_text()
