"""Vocabulary mentions (categories, colours, styles, materials, occasions) and which of them are negated."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from agent.catalog.vocab import (
    CATEGORY_PATTERNS,
    COLOR_PATTERNS,
    GROUP_SYNONYMS,
    MATERIAL_PATTERNS,
    OCCASION_PATTERNS,
    STYLE_PATTERNS,
)

Polarity = Literal["like", "dislike", "neutral"]

def _alt_pattern(words: Iterable[str]) -> re.Pattern[str]:
    alts = sorted({re.escape(w) for w in words}, key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(alts) + r")(?![a-z])")


_GROUP_RE = _alt_pattern(GROUP_SYNONYMS)

#: Comparatives and hedged forms that name a style ("sportier", "less formal").
_STYLE_EXTRA: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), s) for p, s in (
        (r"\bsportier\b|\bmore athletic\b", "sporty"),
        (r"\bdressier\b|\bsmarter\b|\bmore elegant\b|\bfancier look\b|\bless casual\b|\btoo casual\b",
            "formal"),
        (r"\bless formal\b|\btoo formal\b|\btoo dressy\b|\bless dressy\b|\bless sporty\b|\bmore relaxed\b"
         r"|\bcomfier\b|\bcomfy\b|\bcomfortable\b|\bless smart\b", "casual"),
        (r"\bedgier\b", "streetwear"),
        (r"\bclassier\b", "classic"),
        (r"\bglammier\b|\bglitzier\b|\bsexier\b", "evening"),
        (r"\bbusiness casual\b|\bsmart casual\b", "business"),
    )
)

#: Occasion words that are ordinary words too: they count only after "for/to/at/on/a...".
_AMBIGUOUS_OCCASION_WORDS = frozenset({
    "work", "job", "class", "run", "running", "trip", "coffee", "drinks", "club", "date", "lunch", "jog",
    "jogging", "flight", "training session", "saturday", "sunday", "ceremony", "presentation",
})
_OCCASION_LEAD_RE = re.compile(
    r"\b(?:for|to|at|on|a|an|my|our|first|during|before|after|the|this|next|some|go|going|attend|attending)"
    r"\s+(?:\w+\s+)?$"
)

_KIND_PRIORITY = {"occasion": 0, "category": 1, "group": 2, "color": 3, "material": 4, "style": 5}


@dataclass(frozen=True)
class Mention:
    """One vocabulary term found in the normalised message."""

    kind: str
    value: str
    start: int
    end: int
    negated: bool = False

    def overlaps(self, start: int, end: int) -> bool:
        """Whether the mention overlaps the span ``[start, end)``."""
        return self.start < end and start < self.end


def _occasion_ok(text: str, m: re.Match[str]) -> bool:
    word = m.group(0)
    if word not in _AMBIGUOUS_OCCASION_WORDS:
        return True
    before = text[: m.start()]
    if word == "date" and re.search(r"\bup to $", before):
        return False
    return bool(_OCCASION_LEAD_RE.search(before))


def _top_ok(text: str, m: re.Match[str]) -> bool:
    before, after = text[: m.start()], text[m.end():]
    if re.search(r"\b(?:on|over the|from the|at the|from)\s+$", before):
        return False
    return not re.match(r"\s*(?:of|notch|rated|quality|brands?|priority|\d)\b", after)


def find_mentions(text: str) -> list[Mention]:
    """Return the vocabulary mentions of ``text`` (normalised), longest match first, left to right."""
    found: list[Mention] = []
    tables: tuple[tuple[str, dict[str, re.Pattern[str]]], ...] = (
        ("category", CATEGORY_PATTERNS), ("color", COLOR_PATTERNS), ("material", MATERIAL_PATTERNS),
        ("style", STYLE_PATTERNS), ("occasion", OCCASION_PATTERNS),
    )
    for kind, patterns in tables:
        for value, pat in patterns.items():
            for m in pat.finditer(text):
                if kind == "occasion" and not _occasion_ok(text, m):
                    continue
                if kind == "category" and value == "top" and not _top_ok(text, m):
                    continue
                if kind == "material" and value == "knit" and re.match(r"\s*(?:wear)\b", text[m.end():]):
                    continue
                found.append(Mention(kind, value, m.start(), m.end()))
    for m in _GROUP_RE.finditer(text):
        found.append(Mention("group", "shoes", m.start(), m.end()))
    for pat, style in _STYLE_EXTRA:
        for m in pat.finditer(text):
            found.append(Mention("style", style, m.start(), m.end()))
    found.sort(key=lambda x: (-(x.end - x.start), _KIND_PRIORITY[x.kind], x.start))
    chosen: list[Mention] = []
    for cand in found:
        if not any(c.overlaps(cand.start, cand.end) for c in chosen):
            chosen.append(cand)
    return sorted(chosen, key=lambda x: x.start)


NEG_CUE_RE = re.compile(
    r"\b(?:do not (?:like|love|want|need|include|fancy)|not a (?:big |huge )?fan of|not into|no need for|"
    r"can not stand|anything but|anything other than|everything but|other than|but not|rather than|"
    r"leave out|leaving out|steer clear of|stay away from|keep away from|"
    r"instead of|nothing in|sick of|tired of|done with|allergic to|gone off|"
    r"no more(?! than)|never(?! mind)|no|not|nothing|none|without|avoid|avoiding|except|excluding|exclude|"
    r"minus|skip|skipping|lose|ditch|drop|hate|dislike|detest|loathe|non|zero)\b"
)
_OPINION_CUE_RE = re.compile(r"do not (?:like|love|fancy)|not a|not into|hate|dislike|detest|loathe|sick of|"
                             r"tired of|can not stand")
_NEG_FILLER_RE = re.compile(
    r"(?:\s+|,|/|-|\bor\b|\band\b|\bnor\b|\ba\b|\ban\b|\bthe\b|\bany\b|\bin\b|\bwith\b|\bof\b|\bmore\b|"
    r"\btoo\b|"
    r"\bcoloured\b|\bcolou?rs?\b|\bstuff\b|\bitems?\b|\bat all\b|\bwear(?:ing)?\b|\bbuy(?:ing)?\b|"
    r"\bpieces?\b|"
    r"\bfor\b|\bso\b|\breally\b|\bthings?\b|\bshades? of\b)*"
)
_FREE_RE = re.compile(r"^[- ]free\b")


def mark_negations(text: str, mentions: list[Mention]) -> list[Mention]:
    """Return the mentions with ``negated`` set where a negation governs them ("no black or red")."""
    by_start = {m.start: i for i, m in enumerate(mentions)}
    negated: set[int] = set()
    for cue in NEG_CUE_RE.finditer(text):
        pos = cue.end()
        first = True
        while True:
            fill = _NEG_FILLER_RE.match(text, pos)
            nxt = fill.end() if fill else pos
            idx = by_start.get(nxt)
            if idx is None:
                break
            mention = mentions[idx]
            pointed = re.search(r"\b(?:the|that|this|those|these)\b", text[pos:nxt])
            if mention.kind in ("category", "group") and (
                    cue.group(0) == "instead of" or (_OPINION_CUE_RE.match(cue.group(0)) and pointed)):
                break
            if mention.kind == "occasion":
                break
            negated.add(idx)
            pos = mention.end
            head = by_start.get(pos + 1)
            if (first and mention.kind == "color" and head is not None
                    and mentions[head].kind in ("category", "group") and text[pos] == " "):
                pos = mentions[head].end
            first = False
    for i, m in enumerate(mentions):
        if _FREE_RE.match(text[m.end:]):
            negated.add(i)
    return [replace(m, negated=True) if i in negated else m for i, m in enumerate(mentions)]


# --------------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------------
