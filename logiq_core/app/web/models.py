"""What the dashboard stores: its signing key, sessions and used links (and, from the framework,
servers' public switch).

Times are Unix seconds (floats): the embedded server stores a ``$set`` date as text.
"""

from __future__ import annotations

from beanie import Document, Indexed


class WebSecret(Document):
    """The key that signs links (made once, shared by every bot process on the database)."""

    key_id: Indexed(str, unique=True)  # type: ignore[valid-type]
    secret: str

    class Settings:
        name = "core_web_secrets"


class WebSession(Document):
    """A signed-in browser: the SHA-256 of its cookie, who it is and until when."""

    token_hash: Indexed(str, unique=True)  # type: ignore[valid-type]
    kind: str  # "member" or "ops"
    user_id: str = ""
    server_id: str = ""
    csrf: str
    expires_at: float

    class Settings:
        name = "core_web_sessions"


class UsedLink(Document):
    """A single-use link already opened (its nonce), kept until the link would expire anyway."""

    nonce: Indexed(str, unique=True)  # type: ignore[valid-type]
    expires_at: float

    class Settings:
        name = "core_web_used_links"


def web_document_models() -> list[type[Document]]:
    from logiq_core.framework.web.public import PublicPages

    return [WebSecret, WebSession, UsedLink, PublicPages]
