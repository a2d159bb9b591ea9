"""Each server's command settings and their storage: its prefix and the unknown-command hints."""

from __future__ import annotations

import asyncio
from typing import Annotated

from beanie import Document, Indexed

DEFAULT_PREFIX = "!"


class Prefix(Document):
    """A server's command prefix (absent: the default ``!``)."""

    server_id: Annotated[str, Indexed(unique=True)]
    prefix: str

    class Settings:
        name = "core_prefixes"


class UnknownCommandHints(Document):
    """A server that turned off the "no command `x`; did you mean ...?" answer (default: on)."""

    server_id: Annotated[str, Indexed(unique=True)]
    enabled: bool = True

    class Settings:
        name = "core_unknown_command_hints"


def core_document_models() -> list[type[Document]]:
    return [Prefix, UnknownCommandHints]


class ServerCommandSettings:
    """Prefixes (kept for every server the bot is on: one short string each) and hint switches
    (loaded on use), read from storage once and written through."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}
        self.hints: dict[str, bool] = {}
        self._prefix_loads: dict[str, asyncio.Future[str]] = {}

    def known_prefix(self, server_id: str | None) -> str | None:
        """The prefix without waiting: the default in DMs, None when not loaded yet."""
        return self.prefixes.get(server_id) if server_id else DEFAULT_PREFIX

    async def preload_prefixes(self, server_ids: list[str]) -> None:
        """Load every listed server's prefix in one query (called on Ready)."""
        missing_ids = [s for s in server_ids if s not in self.prefixes]
        if not missing_ids:
            return
        found = {doc.server_id: doc.prefix async for doc in Prefix.find({"server_id": {"$in": missing_ids}})}
        for server_id in missing_ids:
            self.prefixes.setdefault(server_id, found.get(server_id, DEFAULT_PREFIX))

    async def prefix_for(self, server_id: str | None) -> str:
        """The server's prefix: from memory, or loaded once (concurrent callers share the load)."""
        if server_id is None:
            return DEFAULT_PREFIX
        cached = self.prefixes.get(server_id)
        if cached is not None:
            return cached
        loading = self._prefix_loads.get(server_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_prefix(server_id))
            self._prefix_loads[server_id] = loading
        return await asyncio.shield(loading)

    async def _load_prefix(self, server_id: str) -> str:
        try:
            stored = await Prefix.find_one(Prefix.server_id == server_id)
            prefix = stored.prefix if stored else DEFAULT_PREFIX
            self.prefixes.setdefault(server_id, prefix)
            return self.prefixes[server_id]
        finally:
            self._prefix_loads.pop(server_id, None)

    async def set_prefix(self, server_id: str, prefix: str) -> None:
        collection = Prefix.get_pymongo_collection()
        await collection.update_one({"server_id": server_id}, {"$set": {"prefix": prefix}}, upsert=True)
        self.prefixes[server_id] = prefix

    async def hints_enabled(self, server_id: str | None) -> bool:
        if server_id is None:
            return True
        if server_id not in self.hints:
            stored = await UnknownCommandHints.find_one(UnknownCommandHints.server_id == server_id)
            self.hints[server_id] = stored.enabled if stored else True
        return self.hints[server_id]

    async def set_hints(self, server_id: str, enabled: bool) -> None:
        collection = UnknownCommandHints.get_pymongo_collection()
        await collection.update_one({"server_id": server_id}, {"$set": {"enabled": enabled}}, upsert=True)
        self.hints[server_id] = enabled
