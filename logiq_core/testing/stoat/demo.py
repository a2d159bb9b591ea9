"""A realistic demo community, used by the sandbox, the tests and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from logiq_core.stoat.permissions import Permission as P

if TYPE_CHECKING:
    from logiq_core.testing.stoat.server import StoatDouble

MODERATOR_PERMISSIONS = (
    P.KickMembers
    | P.BanMembers
    | P.TimeoutMembers
    | P.ManageMessages
    | P.AssignRoles
    | P.ManageNicknames
    | P.ManageChannel
    | P.ManagePermissions
)
BOT_PERMISSIONS = (
    MODERATOR_PERMISSIONS
    | P.ManageRole
    | P.ManageServer
    | P.Masquerade
    | P.React
    | P.SendEmbeds
    | P.MentionEveryone
    | P.MentionRoles
)

BOT_CHANNEL_PERMISSIONS = P.ViewChannel | P.ReadMessageHistory | P.SendMessage | P.React | P.SendEmbeds


@dataclass
class Demo:
    """Ids of the demo community (``roles`` and ``channels`` are keyed by name)."""

    server_id: str
    owner_id: str
    moderator_id: str
    member_ids: list[str]
    bot_id: str
    bot_token: str
    roles: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # username -> id

    @property
    def alice(self) -> str:
        """An ordinary member's id (also ``bob``, ``carol``; ``ada`` owns, ``mo`` moderates)."""
        return self.member_ids[0]

    @property
    def bob(self) -> str:
        return self.member_ids[1]

    @property
    def carol(self) -> str:
        return self.member_ids[2]

    @property
    def ada(self) -> str:
        return self.owner_id

    @property
    def mo(self) -> str:
        return self.moderator_id


def build_demo(double: StoatDouble, *, bot_name: str = "Logiq") -> Demo:
    """The "Stoat Garden" community: an owner, a moderator, three members, the bot.

    Role ranks (smaller is higher): Admin 0, Logiq 1, Moderator 2, Member 3, Verified 4,
    Unverified 5, so the bot can moderate moderators and members but not admins.
    """
    owner = double.create_user("ada")
    server = double.create_server(owner.id, "Stoat Garden")
    server_id = server["_id"]
    roles = {
        "Admin": double.create_role(server_id, "Admin", rank=0, allow=BOT_PERMISSIONS),
        "Logiq": double.create_role(server_id, "Logiq", rank=1, allow=BOT_PERMISSIONS),
        "Moderator": double.create_role(server_id, "Moderator", rank=2, allow=MODERATOR_PERMISSIONS),
        "Member": double.create_role(server_id, "Member", rank=3),
        "Verified": double.create_role(server_id, "Verified", rank=4),
        "Unverified": double.create_role(server_id, "Unverified", rank=5),
    }
    channels = {"general": server["channels"][0]}
    for name in ("mod-log", "verify", "lounge"):
        channels[name] = double.create_channel(server_id, name)["_id"]
    # The bot's role keeps what its plugins need in every channel, whatever the channel's
    # default says: a lock (a default that denies SendMessage) never silences the bot, so it
    # can still answer there and unlock it (it cannot grant a permission it lacks).
    for channel_id in channels.values():
        double.set_channel_override(channel_id, roles["Logiq"], allow=BOT_CHANNEL_PERMISSIONS)
    # #mod-log is for moderators: hidden from everyone else.
    double.set_channel_override(channels["mod-log"], None, deny=P.ViewChannel)
    double.set_channel_override(channels["mod-log"], roles["Moderator"], allow=P.ViewChannel)

    moderator = double.create_user("mo")
    double.add_member(server_id, moderator.id, [roles["Moderator"], roles["Member"]])
    members = []
    for name in ("alice", "bob", "carol"):
        user = double.create_user(name)
        double.add_member(server_id, user.id, [roles["Member"]])
        members.append(user.id)
    bot, token = double.create_bot(bot_name)
    double.add_member(server_id, bot.id, [roles["Logiq"]])
    users = {u.username: u.id for u in double.world.users.values()}
    return Demo(
        server_id=server_id,
        owner_id=owner.id,
        moderator_id=moderator.id,
        member_ids=members,
        bot_id=bot.id,
        bot_token=token,
        roles=roles,
        channels=channels,
        users=users,
    )
