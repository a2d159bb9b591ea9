"""The automod rule engine: pure and fast, no Stoat and no storage.

Rules are compiled once per server (:class:`CompiledRules`); :meth:`CompiledRules.check` runs
every rule against one message and the author's recent history. Patterns from moderators run
under the ``regex`` module's timeout, and are refused at ``add`` time when they do not compile,
are too long, nest quantifiers (``(a+)+``) or are slow on adversarial inputs, so a bad pattern
can neither crash nor stall the bot. Word rules run apart from pattern rules, and a pattern
that times out on a message counts as a hit (configurable) without disabling any other rule.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

import regex

KINDS = ("spam", "duplicates", "mentions", "invites", "links", "allowlinks", "words", "pattern", "caps")
ACTIONS = ("delete", "warn", "timeout", "kick", "ban")
PATTERN_TIMEOUT_SECONDS = 0.02
ADD_TIME_LIMIT_SECONDS = 0.05  # per adversarial input, when a pattern is added
MAX_PATTERN_LENGTH = 200
MAX_COUNT = 100  # mentions, caps percentage, and COUNT of spam/duplicates
# A group holding a quantifier, itself quantified: (a+)+, (a*b?)*, (?:x+){2,}: the classic shape
# of catastrophic backtracking.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,?\d*\})\)(?:[+*]|\{\d*,\d*\})")

_URL = re.compile(r"https?://([^\s/<>]+)[^\s<>]*", re.IGNORECASE)
_INVITE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:stoat\.chat/invite|rvlt\.gg|revolt\.chat/invite|"
    r"app\.revolt\.chat/invite)/([A-Za-z0-9]+)",
    re.IGNORECASE,
)
_MENTION = re.compile(r"<@[0-9A-HJKMNP-TV-Z]{26}>|<%[0-9A-HJKMNP-TV-Z]{26}>|@everyone|@online")


class RuleError(ValueError):
    """A rule that cannot be added, with the reason for the moderator."""


@dataclass(frozen=True)
class Rule:
    id: int
    kind: str
    value: str
    action: str = "delete"
    duration_seconds: int | None = None


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    detail: str


def validate_rule(kind: str, value: str, action: str) -> None:
    """Refuse a rule a moderator typed, with a reason (called before storing it)."""
    if kind not in KINDS:
        raise RuleError(f"kind must be one of {', '.join(KINDS)}")
    if action not in ACTIONS:
        raise RuleError(f"action must be one of {', '.join(ACTIONS)}")
    if kind in ("spam", "duplicates"):
        _parse_rate(value)
    elif kind in ("mentions", "caps"):
        if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
            raise RuleError(f"{kind} takes a whole number from 1 to {MAX_COUNT}")
    elif kind == "pattern":
        validate_pattern(value)
    elif not value.strip():
        raise RuleError(f"{kind} needs a value")


def adversarial_inputs(pattern: str) -> list[str]:
    """Texts that make backtracking patterns slow: long runs of each character the pattern
    mentions (and of common ones), each followed by a character that breaks the match."""
    characters = {c for c in pattern if c.isalnum() or c in " -_.@"} | set("a0 ")
    texts = []
    for char in sorted(characters)[:40]:
        for tail in ("!", "\u0000"):
            texts.append(char * 300 + tail)
    texts.append("ab" * 150 + "!")
    return texts


def validate_pattern(value: str) -> None:
    """Refuse a pattern that does not compile, is too long, or may backtrack catastrophically."""
    if len(value) > MAX_PATTERN_LENGTH:
        raise RuleError(f"a pattern is at most {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = regex.compile(value, regex.IGNORECASE)
    except regex.error as exc:
        raise RuleError(f"the pattern does not compile: {exc}") from None
    if _NESTED_QUANTIFIER.search(value):
        raise RuleError(
            "the pattern nests quantifiers like (a+)+, which can take forever on some "
            "messages; rewrite it without a repeated group that itself repeats"
        )
    for text in adversarial_inputs(value):
        try:
            compiled.search(text, timeout=ADD_TIME_LIMIT_SECONDS)
        except TimeoutError:
            raise RuleError("the pattern is too slow on some inputs (catastrophic backtracking)") from None


def _parse_rate(value: str) -> tuple[int, float]:
    """``5/10`` = 5 messages within 10 seconds."""
    try:
        count, seconds = value.split("/", 1)
        parsed = int(count), float(seconds)
    except ValueError:
        raise RuleError("use COUNT/SECONDS, e.g. 5/10 for 5 messages in 10 seconds") from None
    if not 2 <= parsed[0] <= MAX_COUNT or not 0 < parsed[1] <= 3600:
        raise RuleError(f"COUNT is 2-{MAX_COUNT} and SECONDS within 1-3600")
    return parsed


@dataclass
class _History:
    times: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    contents: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=20))


class CompiledRules:
    """One server's rules, prepared for checking messages quickly."""

    def __init__(
        self,
        rules: list[Rule],
        invite_codes_here: frozenset[str] = frozenset(),
        *,
        timeout_counts_as_hit: bool = True,
    ) -> None:
        self.rules = rules
        self.timeout_counts_as_hit = timeout_counts_as_hit
        self.timed_out: list[Rule] = []  # pattern rules that timed out on the last message
        self.invite_codes_here = invite_codes_here
        self._words: list[tuple[Rule, re.Pattern[str]]] = []
        self._patterns: list[tuple[Rule, regex.Pattern[str]]] = []
        self._combined_words: re.Pattern[str] | None = None
        self._combined_patterns: regex.Pattern[str] | None = None
        self._history: dict[str, _History] = {}
        self._spam: list[tuple[Rule, int, float]] = []
        self._duplicates: list[tuple[Rule, int, float]] = []
        self._simple: list[Rule] = []
        for rule in rules:
            if rule.kind == "words":
                words = [w.strip() for w in rule.value.split(",") if w.strip()]
                alternation = "|".join(re.escape(w) for w in words)
                self._words.append((rule, re.compile(rf"\b(?:{alternation})\b", re.IGNORECASE)))
            elif rule.kind == "pattern":
                try:
                    self._patterns.append((rule, regex.compile(rule.value, regex.IGNORECASE)))
                except regex.error:
                    continue  # stored by an older version; refused at add time now
            elif rule.kind == "spam":
                self._spam.append((rule, *_parse_rate(rule.value)))
            elif rule.kind == "duplicates":
                self._duplicates.append((rule, *_parse_rate(rule.value)))
            else:
                self._simple.append(rule)
        # One pass over the text for all word lists and one for all patterns (each rule a named
        # group), instead of one search per rule: this is what keeps 50 rules fast.
        if self._words:
            self._combined_words = re.compile(
                "|".join(f"(?P<r{rule.id}>{p.pattern})" for rule, p in self._words), re.IGNORECASE
            )
        if self._patterns:
            try:
                self._combined_patterns = regex.compile(
                    "|".join(f"(?P<r{rule.id}>{p.pattern})" for rule, p in self._patterns),
                    regex.IGNORECASE,
                )
            except regex.error:  # e.g. a pattern with its own named groups: search one by one
                self._combined_patterns = None
        self._by_id = {rule.id: rule for rule in rules}
        self._deny_hosts = {
            rule.id: {h.strip().lower() for h in rule.value.split(",") if h.strip()}
            for rule in rules
            if rule.kind in ("links", "allowlinks")
        }

    def check(self, author_id: str, content: str, now: float) -> list[Verdict]:
        """Every rule this message trips (the author's history is updated as a side effect)."""
        verdicts: list[Verdict] = []
        if self._spam or self._duplicates:
            history = self._history.get(author_id)
            if history is None:
                history = self._history[author_id] = _History()
            history.times.append(now)
            history.contents.append((now, content.strip().lower()))
            for rule, count, seconds in self._spam:
                recent = sum(1 for t in history.times if now - t <= seconds)
                if recent >= count:
                    verdicts.append(Verdict(rule, f"{recent} messages in {seconds:g}s"))
            for rule, count, seconds in self._duplicates:
                text = content.strip().lower()
                same = sum(1 for t, c in history.contents if c == text and now - t <= seconds)
                if text and same >= count:
                    verdicts.append(Verdict(rule, f"the same message {same} times"))
        for rule in self._simple:
            detail = self._check_simple(rule, content)
            if detail:
                verdicts.append(Verdict(rule, detail))
        if self._combined_words is not None:
            match = self._combined_words.search(content)
            if match and match.lastgroup:
                rule = self._by_id[int(match.lastgroup[1:])]
                verdicts.append(Verdict(rule, f"blocked word {match.group(0)!r}"))
        verdicts.extend(self._check_patterns(content))
        return verdicts

    def _check_patterns(self, content: str) -> list[Verdict]:
        """Pattern rules, apart from every other rule: one combined pass when it is quick; when
        it times out, each pattern on its own, so one slow pattern never hides the others."""
        self.timed_out = []
        if self._combined_patterns is not None:
            try:
                match = self._combined_patterns.search(content, timeout=PATTERN_TIMEOUT_SECONDS)
            except TimeoutError:
                pass  # find out which pattern is slow, and still run the others
            else:
                if match and match.lastgroup:
                    rule = self._by_id[int(match.lastgroup[1:])]
                    return [Verdict(rule, "matches a blocked pattern")]
                return []
        verdicts = []
        for rule, compiled in self._patterns:
            try:
                if compiled.search(content, timeout=PATTERN_TIMEOUT_SECONDS):
                    verdicts.append(Verdict(rule, "matches a blocked pattern"))
            except TimeoutError:
                self.timed_out.append(rule)
                if self.timeout_counts_as_hit:
                    verdicts.append(Verdict(rule, "the pattern took too long on this message"))
        return verdicts

    def _check_simple(self, rule: Rule, content: str) -> str | None:
        kind = rule.kind
        if kind == "mentions":
            count = len(_MENTION.findall(content))
            return f"{count} mentions" if count >= int(rule.value) else None
        if kind == "caps":
            letters = [c for c in content if c.isalpha()]
            if len(letters) < 10:
                return None
            share = 100 * sum(1 for c in letters if c.isupper()) / len(letters)
            return f"{share:.0f}% capitals" if share >= int(rule.value) else None
        if kind == "invites":
            for match in _INVITE.finditer(content):
                if match.group(1) not in self.invite_codes_here:
                    return "an invite to another Stoat server"
            return None
        if kind in ("links", "allowlinks"):
            hosts = self._deny_hosts[rule.id]
            for match in _URL.finditer(content):
                host = match.group(1).lower().split(":")[0].removeprefix("www.")
                listed = any(host == h or host.endswith("." + h) for h in hosts)
                if (kind == "links" and listed) or (kind == "allowlinks" and not listed):
                    return f"a link to {host}"
            return None
        return None
