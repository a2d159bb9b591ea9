"""The core's own commands and documents, as a plugin (datasette's ``DEFAULT_PLUGINS``).

The plugin manager loads it before any other, through the same hooks and checks as a
third-party plugin: its commands reserve their names (a plugin reusing one fails, naming the
core), its documents are registered with everyone else's. It is never gated by the rollout gate
and never listed among the installed plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from beanie import Document

from logiq_core.framework.commands.builtin import builtin_commands
from logiq_core.framework.commands.server_settings import core_document_models
from logiq_core.framework.features import CORE_FEATURE, FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl


class CorePlugin:
    """Logiq's built-in commands (help, prefix, feedback, ...) and their stored settings."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(CORE_FEATURE, "Logiq's built-in commands", Phase.STABLE, 100.0)

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return core_document_models()

    @hookimpl
    def logiq_register_commands(self, register: Callable[[Any], None]) -> None:
        register(builtin_commands())
