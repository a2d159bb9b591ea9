"""Logiq's chat command framework: parsing, converters, permissions, cooldowns, help, safe replies.

A plugin declares a command in a few lines and gets the rest for free::

    @command("warn", description="Warn a member", user_permissions=Permission.KickMembers)
    async def warn(ctx: CommandContext, member: Member, reason: Rest = "") -> None:
        await ctx.reply(f"Warned {ctx.display_name(member.user_id)}: {reason}")
"""

from logiq_core.framework.commands.context import CommandContext
from logiq_core.framework.commands.model import (
    Command,
    CommandError,
    Duration,
    Param,
    Rest,
    RoleRef,
    UserId,
    command,
    group,
)
from logiq_core.framework.commands.parsing import format_duration, parse_duration, tokenize
from logiq_core.framework.commands.router import CommandHost, CommandRouter
from logiq_core.framework.commands.safe import neutralise_mentions, paginate
from logiq_core.framework.commands.server_settings import Prefix, core_document_models
from logiq_core.stoat.uploads import File

__all__ = [
    "Command",
    "CommandContext",
    "CommandError",
    "CommandHost",
    "CommandRouter",
    "Duration",
    "File",
    "Param",
    "Prefix",
    "Rest",
    "RoleRef",
    "UserId",
    "command",
    "core_document_models",
    "format_duration",
    "group",
    "neutralise_mentions",
    "paginate",
    "parse_duration",
    "tokenize",
]
