"""Everything a plugin author imports, from one place: ``from logiq_core.plugin import ...``.

This module is the public surface for plugins. The core's internal modules may move or change;
what is re-exported here stays. Plugins under ``plugins/`` and ``examples/`` import from nowhere
else in ``logiq_core`` (a test checks it), and so should yours. A whole plugin::

    import random

    from logiq_core.plugin import CommandContext, FeatureInfo, Phase, Range, command, hookimpl

    @command("coinflip", description="Flip 1 to 100 coins")
    async def coinflip(ctx: CommandContext, n: Range[int, 1, 100] = 1) -> None:
        await ctx.reply(" ".join(random.choice("HT") for _ in range(n)))

    @hookimpl
    def logiq_feature() -> FeatureInfo:
        return FeatureInfo(description="Flip coins", default_phase=Phase.BETA)

    @hookimpl
    def logiq_register_commands(register) -> None:
        register([coinflip])

See ``docs/plugins.md`` for every hook, what the gate does for you, state, and testing.
"""

from collections.abc import Callable
from typing import Any

from msgspec import UNSET

from logiq_core.framework.commands.context import CommandContext
from logiq_core.framework.commands.converters import BadArgument, Converter, convert
from logiq_core.framework.commands.model import (
    Command,
    CommandError,
    Duration,
    Range,
    Rest,
    RoleRef,
    UserId,
    command,
    group,
)
from logiq_core.framework.commands.parsing import format_duration, parse_duration, tokenize
from logiq_core.framework.commands.safe import (
    USER_MENTION,
    neutralise_mentions,
    strip_invisible,
    truncate_utf8,
)
from logiq_core.framework.config import PluginConfig
from logiq_core.framework.context import PluginContext
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.filelock import DataDirLock
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.jobs import Job
from logiq_core.framework.listeners import Listener
from logiq_core.framework.outbound import (
    HttpResponse,
    OutboundConnectionError,
    OutboundHttp,
    OutboundHttpError,
    OutboundRefused,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
    Validators,
)
from logiq_core.framework.portable import count_matching, upsert_increment
from logiq_core.framework.state import PluginState, StateScope
from logiq_core.framework.timers import Timer, TimerHandler
from logiq_core.framework.web.links import dashboard_link
from logiq_core.framework.web.pages import Access, PageRequest, Render, WebError, WebPage, WebSettings
from logiq_core.stoat import events
from logiq_core.stoat.events import (
    BulkMessageDelete,
    ChannelCreate,
    ChannelDelete,
    ChannelUpdate,
    MessageDelete,
    MessageEvent,
    MessageReact,
    MessageUnreact,
    MessageUpdate,
    ServerCreate,
    ServerDelete,
    ServerMemberJoin,
    ServerMemberLeave,
    ServerMemberUpdate,
    ServerRoleDelete,
    ServerRoleUpdate,
    StoatEvent,
    UserPlatformWipe,
    UserUpdate,
)
from logiq_core.stoat.models import Channel, Member, Message, Role, Server, User, parse_timestamp, ulid_time
from logiq_core.stoat.permissions import (
    Override,
    Permission,
    channel_permissions,
    check_hierarchy,
    check_role_assignable,
)
from logiq_core.stoat.rest import InvalidRequest, SendableEmbed, StoatAPIError, StoatUnavailable
from logiq_core.stoat.uploads import File, UploadRefused

Register = Callable[[Any], None]
"""The ``register`` argument of the ``logiq_register_*`` hooks: takes one item, a list, or a module."""

__all__ = [
    "UNSET",
    "USER_MENTION",
    "Access",
    "BadArgument",
    "BulkMessageDelete",
    "Channel",
    "ChannelCreate",
    "ChannelDelete",
    "ChannelUpdate",
    "Command",
    "CommandContext",
    "CommandError",
    "Converter",
    "DataDirLock",
    "Duration",
    "FeatureInfo",
    "File",
    "HttpResponse",
    "InvalidRequest",
    "Job",
    "Listener",
    "Member",
    "Message",
    "MessageDelete",
    "MessageEvent",
    "MessageReact",
    "MessageUnreact",
    "MessageUpdate",
    "OutboundConnectionError",
    "OutboundHttp",
    "OutboundHttpError",
    "OutboundRefused",
    "OutboundTimeout",
    "Override",
    "PageRequest",
    "Permission",
    "Phase",
    "PluginConfig",
    "PluginContext",
    "PluginState",
    "Range",
    "Register",
    "Render",
    "ResponseTooLarge",
    "Rest",
    "Role",
    "RoleRef",
    "SendableEmbed",
    "Server",
    "ServerCreate",
    "ServerDelete",
    "ServerMemberJoin",
    "ServerMemberLeave",
    "ServerMemberUpdate",
    "ServerRoleDelete",
    "ServerRoleUpdate",
    "StateScope",
    "StoatAPIError",
    "StoatEvent",
    "StoatUnavailable",
    "Timer",
    "TimerHandler",
    "TooManyRedirects",
    "UploadRefused",
    "User",
    "UserId",
    "UserPlatformWipe",
    "UserUpdate",
    "Validators",
    "WebError",
    "WebPage",
    "WebSettings",
    "channel_permissions",
    "check_hierarchy",
    "check_role_assignable",
    "command",
    "convert",
    "count_matching",
    "dashboard_link",
    "events",
    "format_duration",
    "group",
    "hookimpl",
    "neutralise_mentions",
    "parse_duration",
    "parse_timestamp",
    "strip_invisible",
    "tokenize",
    "truncate_utf8",
    "ulid_time",
    "upsert_increment",
]
