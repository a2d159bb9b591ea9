"""Level curves: how much total XP each level takes. Pure functions, no I/O.

* ``mee6``: going from level L to L+1 costs 5L²+50L+100 XP (level 1 at 100, level 2 at 255).
* ``power``: reaching level L takes ``ceil(base·L^exp)`` XP in total (LevelUp for Red's curve).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_LEVEL = 10_000


def mee6_step(level: int) -> int:
    return 5 * level * level + 50 * level + 100


@dataclass(frozen=True, slots=True)
class Curve:
    kind: str = "mee6"
    base: float = 100.0
    exp: float = 2.0

    def total_for(self, level: int) -> int:
        """Total XP needed to reach ``level`` from zero."""
        if level <= 0:
            return 0
        if self.kind == "power":
            return math.ceil(self.base * level**self.exp)
        # Σ_{i<L} 5i²+50i+100 in closed form
        n = level
        return 5 * (n - 1) * n * (2 * n - 1) // 6 + 50 * (n - 1) * n // 2 + 100 * n

    def level_for(self, xp: int) -> int:
        """The level a member with ``xp`` total XP is at."""
        if xp <= 0:
            return 0
        low, high = 0, 1
        while high < MAX_LEVEL and self.total_for(high) <= xp:
            low, high = high, high * 2
        high = min(high, MAX_LEVEL)
        while low < high:  # the largest L with total_for(L) <= xp
            middle = (low + high + 1) // 2
            if self.total_for(middle) <= xp:
                low = middle
            else:
                high = middle - 1
        return low

    def progress(self, xp: int) -> tuple[int, int, int]:
        """(level, XP into the level, XP the level needs in all)."""
        level = self.level_for(xp)
        start = self.total_for(level)
        return level, xp - start, self.total_for(level + 1) - start

    def describe(self) -> str:
        if self.kind == "power":
            return f"power: level L takes {self.base:g}·L^{self.exp:g} XP in total"
        return "MEE6: level L → L+1 takes 5L²+50L+100 XP"
