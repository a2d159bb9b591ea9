"""The automod engine, rule by rule: a message that trips each rule and one that does not."""

from __future__ import annotations

import pytest
from logiq_moderation.automod import CompiledRules, Rule, RuleError, validate_rule

USER = "01HZX3K4M5N6P7Q8R9S0T1V2W3"


def trips(kind: str, value: str, text: str, repeat: int = 1, gap: float = 0.1) -> bool:
    rules = CompiledRules([Rule(1, kind, value)], invite_codes_here=frozenset({"HOME1"}))
    verdicts = []
    for index in range(repeat):
        verdicts = rules.check(USER, text, now=index * gap)
    return bool(verdicts)


@pytest.mark.parametrize(
    ("kind", "value", "bad", "good"),
    [
        ("mentions", "3", f"<@{USER}> <@{USER}> @everyone", f"hi <@{USER}>"),
        ("invites", "on", "join stoat.chat/invite/OTHER9 now", "join stoat.chat/invite/HOME1"),
        ("links", "evil.com", "see https://www.evil.com/x", "see https://good.org/x"),
        ("allowlinks", "stoat.chat", "see https://elsewhere.net", "see https://stoat.chat/app"),
        ("words", "darn,heck", "oh HECK no", "checking the heckle"),
        ("pattern", r"fr[e3]{2}\s*n[i1]tro", "FREE  n1tro here", "free time"),
        ("caps", "70", "WHY IS EVERYONE SHOUTING", "Why is everyone SHOUTING"),
    ],
)
def test_rule_trips_on_bad_text_and_not_on_good(kind: str, value: str, bad: str, good: str) -> None:
    assert trips(kind, value, bad)
    assert not trips(kind, value, good)


def test_spam_rule_counts_messages_within_the_window() -> None:
    assert trips("spam", "5/10", "hello", repeat=5, gap=1.0)
    assert not trips("spam", "5/10", "hello", repeat=5, gap=3.0)  # spread over 12 s


def test_duplicates_rule_needs_the_same_text() -> None:
    assert trips("duplicates", "3/60", "buy now", repeat=3)
    rules = CompiledRules([Rule(1, "duplicates", "3/60")])
    assert not any(rules.check(USER, f"message {i}", now=i) for i in range(5))


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("pattern", "(unclosed", "does not compile"),
        ("pattern", "x" * 201, "at most 200"),
        ("spam", "five/ten", "COUNT/SECONDS"),
        ("mentions", "-1", "whole number from 1 to 100"),
        ("teleport", "x", "kind must be one of"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(kind: str, value: str, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(")):
        validate_rule(kind, value, "delete")


def test_catastrophic_pattern_cannot_stall_checking() -> None:
    rules = CompiledRules([Rule(1, "pattern", r"(a+)+$")])
    import time

    started = time.perf_counter()
    rules.check(USER, "a" * 40 + "!", now=0)
    assert time.perf_counter() - started < 0.5


def test_a_timed_out_pattern_counts_as_a_hit_and_never_hides_the_word_rules() -> None:
    from logiq_moderation.automod import CompiledRules, Rule

    rules = [Rule(1, "pattern", "(a+)+$"), Rule(2, "words", "forbiddenword"), Rule(3, "pattern", "zzz+")]
    text = "a" * 300 + "! forbiddenword zzz"
    compiled = CompiledRules(rules)
    hits = {v.rule.id for v in compiled.check("u", text, 0.0)}
    assert hits == {1, 2, 3}  # the slow pattern is a hit; the word rule and the quick pattern still ran
    assert [r.id for r in compiled.timed_out] == [1]
    lenient = CompiledRules(rules, timeout_counts_as_hit=False)
    assert {v.rule.id for v in lenient.check("u", text, 0.0)} == {2, 3}
