"""Per-member and per-server values for plugins, without writing a document class.

In the spirit of Red's ``Config``: a counter or a setting is one line, and updates are atomic
(``inc`` is a single ``$inc`` upsert, so two commands at once never lose a count)::

    flips = await ctx.state.member(ctx.server_id, ctx.author_id).inc("flips", n)
    emoji = await ctx.state.server(ctx.server_id).get("emoji", "🪙")
    await ctx.state.server(ctx.server_id).set("emoji", "🎲")

It sits on Beanie, not instead of it: each value is a :class:`StateValue` document in the
core's ``core_plugin_state`` collection, keyed by plugin, scope and key, with the value in a
top-level field (dotted update paths on an upsert are stored literally by the embedded
server). Anything richer than a few values per member belongs in the plugin's own Beanie
documents (``logiq_document_models``).
"""

from __future__ import annotations

from typing import Any

import pymongo
import pymongo.errors
from beanie import Document
from pydantic import Field

Scalar = Any  # a value MongoDB stores as is: int, float, str, bool, None, lists and dicts of them


class StateValue(Document):
    """One plugin value: ``scope`` is ``member``, ``server``, ``user`` or ``global``."""

    plugin: str
    scope: str
    server_id: str = ""
    user_id: str = ""
    key: str
    value: Any = Field(default=None)

    class Settings:
        name = "core_plugin_state"
        indexes = [
            pymongo.IndexModel(
                [("plugin", 1), ("scope", 1), ("server_id", 1), ("user_id", 1), ("key", 1)], unique=True
            )
        ]


def state_document_models() -> list[type[Document]]:
    return [StateValue]


class StateScope:
    """The values of one plugin for one member, server, user, or the whole bot."""

    def __init__(self, plugin: str, scope: str, server_id: str = "", user_id: str = "") -> None:
        self._filter = {"plugin": plugin, "scope": scope, "server_id": server_id, "user_id": user_id}

    def _key(self, key: str) -> dict[str, str]:
        if not key or key.startswith("$") or "." in key:
            raise ValueError(f"state key {key!r}: use a plain name such as 'flips'")
        return {**self._filter, "key": key}

    async def get(self, key: str, default: Scalar = None) -> Scalar:
        """The stored value, or ``default`` when none was ever set."""
        found = await StateValue.get_pymongo_collection().find_one(self._key(key), {"value": 1})
        return default if found is None else found.get("value", default)

    async def set(self, key: str, value: Scalar) -> None:
        await self._upsert(key, {"$set": {"value": value}})

    async def inc(self, key: str, by: int | float = 1) -> int | float:
        """Add ``by`` (negative to subtract) atomically and return the new value."""
        found = await self._upsert(key, {"$inc": {"value": by}})
        value: int | float = found["value"]
        return value

    async def _upsert(self, key: str, update: dict[str, Any]) -> dict[str, Any]:
        collection = StateValue.get_pymongo_collection()
        for attempt in range(3):
            try:
                found = await collection.find_one_and_update(
                    self._key(key), update, upsert=True, return_document=pymongo.ReturnDocument.AFTER
                )
                assert found is not None  # an upsert always leaves a document
                return dict(found)
            except pymongo.errors.DuplicateKeyError:
                # MongoDB may let two first upserts of one key race; the loser simply updates.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def all(self) -> dict[str, Scalar]:
        """Every key set in this scope, with its value."""
        cursor = StateValue.get_pymongo_collection().find(self._filter, {"key": 1, "value": 1})
        return {doc["key"]: doc.get("value") async for doc in cursor}

    async def delete(self, key: str | None = None) -> None:
        """Forget one key, or everything in this scope (a member leaving, a server reset)."""
        query = self._filter if key is None else self._key(key)
        await StateValue.get_pymongo_collection().delete_many(query)


class PluginState:
    """``ctx.state``: the plugin's values, by member, server, user or for the whole bot."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def member(self, server_id: str, user_id: str) -> StateScope:
        return StateScope(self.plugin, "member", server_id, user_id)

    def server(self, server_id: str) -> StateScope:
        return StateScope(self.plugin, "server", server_id)

    def user(self, user_id: str) -> StateScope:
        """Values that follow a user across servers."""
        return StateScope(self.plugin, "user", user_id=user_id)

    def globally(self) -> StateScope:
        return StateScope(self.plugin, "global")
