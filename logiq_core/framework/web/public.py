"""Whether a server's public dashboard pages are visible to everyone (``!dashboard public on``)."""

from __future__ import annotations

from beanie import Document, Indexed


class PublicPages(Document):
    """A server whose managers turned public pages on or off (absent: off)."""

    server_id: Indexed(str, unique=True)  # type: ignore[valid-type]
    public: bool = False

    class Settings:
        name = "core_web_public"


async def is_public(server_id: str) -> bool:
    found = await PublicPages.find_one(PublicPages.server_id == server_id)
    return bool(found and found.public)


async def set_public(server_id: str, public: bool) -> None:
    await PublicPages.get_pymongo_collection().update_one(
        {"server_id": server_id}, {"$set": {"public": public}}, upsert=True
    )
