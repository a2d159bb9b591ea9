"""Helpers shared by the benchmark scripts (they print figures; they are not tests)."""

from __future__ import annotations

import os
import platform
import random

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def random_server_ids(count: int, seed: int = 42) -> list[str]:
    rng = random.Random(seed)
    return ["0" + "".join(rng.choice(ALPHABET) for _ in range(25)) for _ in range(count)]


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPU(s)"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def verdict(ok: bool) -> str:
    return "goal met" if ok else "goal NOT met"
