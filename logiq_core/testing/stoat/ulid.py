"""ULIDs as Stoat makes them: 48-bit millisecond time + 80 random bits, Crockford base32."""

from __future__ import annotations

import os
import time
from datetime import datetime

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(at: datetime | None = None) -> str:
    """A new id, created now or at ``at`` (to make old messages or old accounts in tests)."""
    millis = int((at.timestamp() if at else time.time()) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
