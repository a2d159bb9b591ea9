"""The economy plugin's hooks: thin wiring from the core's hooks to the service."""

from __future__ import annotations

from collections.abc import Callable

from beanie import Document

from logiq_core.plugin import FeatureInfo, Job, Phase, PluginContext, Register, hookimpl
from logiq_economy.commands import ALL_COMMANDS
from logiq_economy.config import EconomyConfig
from logiq_economy.models import DOCUMENTS
from logiq_economy.service import EconomyService, lock_path_for


async def recover_entries(ctx: PluginContext, server_id: str | None) -> None:
    """Finish or undo entries left pending by a process that died (their lease has expired)."""
    # Markers left by a dead process are swept at start-up; here only if something was recovered.
    recovered = await ctx.get(EconomyService).ledger.recover(sweep=False)
    if recovered:
        ctx.logger.info("recovered {} unfinished ledger entr(ies)", recovered)


class EconomyPlugin:
    """A per-server currency on a double-entry ledger: rewards, payments, a role shop, audits."""

    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo(
            "economy",
            "A per-server currency: daily and work rewards, payments, a role shop, audited ledger",
            Phase.GRADUAL,
            50.0,
            config=EconomyConfig,
        )

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return list(DOCUMENTS)

    @hookimpl
    def logiq_register_commands(self, register: Register) -> None:
        register(ALL_COMMANDS)

    @hookimpl
    def logiq_register_jobs(self, register: Callable[[Job], None], config: EconomyConfig) -> None:
        register(Job("recover-ledger", config.recovery_check_seconds, recover_entries, per_server=False))

    @hookimpl
    def logiq_register_web_pages(self, register: Register) -> None:
        from logiq_economy.web import WEB_ITEMS

        register(WEB_ITEMS)

    @hookimpl
    async def logiq_startup(self, context: PluginContext) -> None:
        service = EconomyService(EconomyConfig.of(context), context=context, lock_path=lock_path_for(context))
        context.provide(service)
        await service.start()

    @hookimpl
    async def logiq_shutdown(self, context: PluginContext) -> None:
        await context.get(EconomyService).stop()
