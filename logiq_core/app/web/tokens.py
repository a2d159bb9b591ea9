"""Signed links: HMAC-SHA256 over a small JSON payload, single-use through a stored nonce.

A link's token is ``<payload>.<signature>`` (both base64url). The payload says what the link
opens (``"k"``: ``signin`` or ``page``), for whom (``"u"``), on which server (``"s"``), until
when (``"e"``, Unix seconds) and carries a random nonce (``"n"``). Opening it records the nonce
(a unique index), so a second opening, here or in another bot process, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from pymongo.errors import DuplicateKeyError

from logiq_core.app.web.models import UsedLink, WebSecret

KEY_ID = "links"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkError(Exception):
    """A link that is malformed, forged, expired or already used (the message says which)."""


async def load_secret() -> bytes:
    """The shared signing key, made on first use."""
    found = await WebSecret.find_one(WebSecret.key_id == KEY_ID)
    if found is None:
        try:
            await WebSecret(key_id=KEY_ID, secret=secrets.token_hex(32)).insert()
        except DuplicateKeyError:
            pass  # another process made it first
        found = await WebSecret.find_one(WebSecret.key_id == KEY_ID)
        assert found is not None
    return bytes.fromhex(found.secret)


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def make(self, kind: str, *, user_id: str, server_id: str, ttl_seconds: float, **extra: Any) -> str:
        body = {
            "k": kind,
            "u": user_id,
            "s": server_id,
            "e": round(time.time() + ttl_seconds, 3),
            "n": secrets.token_urlsafe(16),
            **extra,
        }
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._sign(payload)}"

    def read(self, token: str, kind: str) -> dict[str, Any]:
        """The payload of a genuine, unexpired link of ``kind`` (not yet marked used)."""
        payload, _, signature = token.partition(".")
        if not payload or not signature or not hmac.compare_digest(self._sign(payload), signature):
            raise LinkError("This link is not valid (it may have been cut short when copied).")
        try:
            body = json.loads(_unb64(payload))
        except ValueError:
            raise LinkError("This link is not valid.") from None
        if not isinstance(body, dict) or body.get("k") != kind:
            raise LinkError("This link is not valid here.")
        if float(body.get("e", 0)) < time.time():
            raise LinkError("This link has expired: ask the bot for a new one.")
        return body

    @staticmethod
    async def use(body: dict[str, Any]) -> None:
        """Mark the link used; raises :class:`LinkError` if it already was."""
        try:
            await UsedLink(nonce=str(body["n"]), expires_at=float(body["e"])).insert()
        except DuplicateKeyError:
            raise LinkError(
                "This link was already used: links work once. Ask the bot for a new one."
            ) from None


async def forget_expired_links(now: float | None = None) -> None:
    await UsedLink.get_pymongo_collection().delete_many({"expires_at": {"$lt": now or time.time()}})
