"""The draw procedure, without Stoat: weights, distinct winners, rerolls and verification."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from logiq_giveaways.service import (
    canonical,
    commitment_of,
    draw,
    entrants_hash,
    entrants_text,
    new_seed,
    parse_entrants_text,
    verify_draw,
)

ENTRIES = [
    ("01CCCCCCCCCCCCCCCCCCCCCCCC", 5),
    ("01AAAAAAAAAAAAAAAAAAAAAAAA", 1),
    ("01BBBBBBBBBBBBBBBBBBBBBBBB", 2),
]


def seeds(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def test_the_seed_and_its_commitment() -> None:
    seed = new_seed()
    assert len(seed) == 64 and int(seed, 16) >= 0
    assert commitment_of(seed) == hashlib.sha256(seed.encode("ascii")).hexdigest()
    assert new_seed() != seed


def test_the_list_is_sorted_text_and_reads_back() -> None:
    text = entrants_text(ENTRIES)
    assert text.splitlines()[0] == "01AAAAAAAAAAAAAAAAAAAAAAAA 1"
    assert parse_entrants_text(text) == canonical(ENTRIES)
    assert entrants_hash(ENTRIES) == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(ValueError):
        canonical([("a", 1), ("a", 2)])
    with pytest.raises(ValueError):
        canonical([("a", 0)])


def test_frequencies_match_the_weights_over_many_seeded_draws() -> None:
    n = 6000
    wins = Counter(draw(seed, ENTRIES, 1)[0] for seed in seeds(n))
    total = sum(weight for _, weight in ENTRIES)
    for user_id, weight in ENTRIES:
        expected = weight / total
        observed = wins[user_id] / n
        sigma = (expected * (1 - expected) / n) ** 0.5
        assert abs(observed - expected) < 5 * sigma, (user_id, observed, expected)


def test_winners_are_distinct_deterministic_and_never_more_than_the_pool() -> None:
    seed = new_seed()
    winners = draw(seed, ENTRIES, 2)
    assert len(set(winners)) == 2 and draw(seed, list(reversed(ENTRIES)), 2) == winners
    assert sorted(draw(seed, ENTRIES, 50)) == sorted(u for u, _ in ENTRIES)
    assert draw(seed, [], 3) == []


def test_a_reroll_excludes_earlier_winners() -> None:
    for seed in seeds(200):
        first = draw(seed, ENTRIES, 1)
        again = draw(seed, ENTRIES, 1, round=1, exclude=first)
        assert again and again[0] not in first
        assert draw(seed, ENTRIES, 5, round=2, exclude=[u for u, _ in ENTRIES]) == []


def test_verify_recomputes_and_names_what_differs() -> None:
    seed = new_seed()
    winners = draw(seed, ENTRIES, 2)
    reroll = draw(seed, ENTRIES, 1, round=1, exclude=winners)
    published = {"commitment": commitment_of(seed), "seed": seed, "published_hash": entrants_hash(ENTRIES)}
    ok = verify_draw(entries=ENTRIES, count=2, winners=winners, rerolls=[(1, 1, reroll)], **published)
    assert ok.ok and "3 entrant(s), 8 entries" in ok.lines[1]

    tampered = [(u, 9 if w == 1 else w) for u, w in ENTRIES]  # someone's weight raised afterwards
    bad = verify_draw(entries=tampered, count=2, winners=winners, **published)
    assert not bad.ok and "the entrant list hashes to" in bad.lines[0]

    wrong_winner = verify_draw(entries=ENTRIES, count=2, winners=list(reversed(winners)), **published)
    assert not wrong_winner.ok and wrong_winner.lines[0].startswith("round 0 draws")

    other_seed = verify_draw(**{**published, "seed": new_seed()}, entries=ENTRIES, count=2, winners=winners)
    assert not other_seed.ok and "commitment" in other_seed.lines[0]
