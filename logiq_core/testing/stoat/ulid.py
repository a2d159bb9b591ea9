"""ULIDs as Stoat makes them: 48-bit millisecond time + 80 random bits, Crockford base32.

Ids made in the same millisecond are monotonic (the random part is incremented), so sorting by
id gives creation order, which "messages before X" queries rely on.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = (-1, 0)


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid(at: datetime | None = None) -> str:
    """A new id, created now or at ``at`` (to make old messages or old accounts in tests)."""
    global _last
    millis = int((at.timestamp() if at else time.time()) * 1000)
    with _lock:
        last_millis, last_random = _last
        if at is None and millis <= last_millis:
            millis, random_part = last_millis, last_random + 1
        else:
            random_part = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        if at is None:
            _last = (millis, random_part)
    return _encode((millis << _RANDOM_BITS) | random_part)
