"""A plugin with a misspelled hook: it must fail loudly instead of silently never running."""

from __future__ import annotations

from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl


class MisspelledPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("misspelled", "Has a typo in a hook name", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_comands(self, register: object) -> None:  # the typo is the point
        raise AssertionError("never called")
