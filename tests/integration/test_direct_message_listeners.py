"""Direct messages belong to no server: a feature below stable never receives them, unless its
listener asks with ``direct_messages=True`` (then it checks the gate for the right server itself).
And ``ctx.record_feedback`` keeps a plugin-collected rating as rollout feedback."""

from __future__ import annotations

from pathlib import Path

from logiq_core.plugin import Listener, MessageEvent, Phase, PluginContext
from logiq_core.testing.harness import BotHarness
from logiq_core.testing.plugins import ListenerPlugin

SEEN: dict[str, list[str]] = {"plain": [], "dms": []}


async def plain(ctx: PluginContext, event: MessageEvent) -> None:
    SEEN["plain"].append(event.content or "")


async def dms(ctx: PluginContext, event: MessageEvent) -> None:
    SEEN["dms"].append(event.content or "")
    if event.server_id_hint is None and event.content == "rate 4":
        ctx.record_feedback(None, event.author, 4, "from a DM")


DM_PLUGIN = ListenerPlugin(
    "listens to DMs",
    Listener(MessageEvent, plain),
    Listener(MessageEvent, dms, direct_messages=True),
    phase=Phase.BETA,
)


async def test_only_listeners_that_ask_receive_direct_messages_below_stable(tmp_path: Path) -> None:
    SEEN["plain"].clear()
    SEEN["dms"].clear()
    async with BotHarness(
        data_dir=tmp_path, extra_plugins={"dmer": DM_PLUGIN}, rollout={"dmer": "beta"}
    ) as h:
        await h.count_as_internal(True)
        await h.say(h.demo.alice, "on the server")
        dm = h.double.world.open_dm(h.demo.alice, h.demo.bot_id)
        await h.double.send_message_as(h.demo.alice, dm["_id"], "rate 4")
        await h.eventually(lambda: "rate 4" in SEEN["dms"] and "on the server" in SEEN["plain"])
        assert SEEN["plain"] == ["on the server"]  # never the DM
        assert sorted(SEEN["dms"]) == ["on the server", "rate 4"]
        assert h.bot is not None
        await h.bot.metrics.flush()
        rows = await h.storage.database["core_rollout_feedback"].find({"feature": "dmer"}).to_list()
        assert [(f["rating"], f["user_id"], f["text"]) for f in rows] == [(4, h.demo.alice, "from a DM")]
