"""Messages per second through automod with 50 rules of mixed kinds (no rule trips).

Measures the rule engine the moderation plugin runs on every message (`CompiledRules.check`),
with each message from one of 500 authors so spam/duplicate histories are exercised.
Run: ``python benchmarks/automod.py`` (needs ``pip install ".[moderation]"``).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, random_server_ids, verdict
from logiq_moderation.automod import CompiledRules, Rule

GOAL = 20_000
MESSAGES = 50_000


def fifty_rules() -> list[Rule]:
    kinds = [
        ("spam", "8/5"),
        ("duplicates", "5/60"),
        ("mentions", "6"),
        ("invites", "on"),
        ("caps", "80"),
        ("links", "scam.example,phish.example,bad.example"),
        ("allowlinks", "stoat.chat,github.com,wikipedia.org"),
    ]
    rules = [Rule(i + 1, kind, value) for i, (kind, value) in enumerate(kinds)]
    for index in range(len(rules), 50):
        if index % 2:
            words = ",".join(f"badword{index}{n}" for n in range(10))
            rules.append(Rule(index + 1, "words", words))
        else:
            rules.append(Rule(index + 1, "pattern", rf"fr[e3]{{2}}\s*(n[i1]tr[o0]|gift){index}"))
    return rules


def messages(count: int) -> list[tuple[str, str]]:
    rng = random.Random(3)
    authors = random_server_ids(500)
    vocabulary = (
        "hello there",
        "what do you think about the new update",
        "I will be late to the meeting",
        "see https://stoat.chat/docs for the api",
        "lol that is great",
        "anyone up for a game tonight?",
        "the weather is nice today, going outside",
    )
    return [(rng.choice(authors), f"{rng.choice(vocabulary)} {n}") for n in range(count)]


def main() -> None:
    rules = CompiledRules(fifty_rules())
    corpus = messages(MESSAGES)
    kinds = sorted({rule.kind for rule in rules.rules})
    started = time.perf_counter()
    tripped = 0
    for index, (author, text) in enumerate(corpus):
        tripped += bool(rules.check(author, text, now=index * 0.01))
    rate = MESSAGES / (time.perf_counter() - started)
    print(f"Automod: {len(rules.rules)} rules ({', '.join(kinds)}), {MESSAGES:,} messages ({machine()})")
    print(
        f"  {rate:,.0f} messages/s, {tripped} tripped (goal: at least {GOAL:,}/s) -> {verdict(rate >= GOAL)}"
    )


if __name__ == "__main__":
    main()
