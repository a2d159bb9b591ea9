"""The hookspec module is the plugin author's contract: every hook must be documented."""

from __future__ import annotations

import inspect

from logiq_core import hookspecs


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
