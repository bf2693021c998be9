"""The parsed message: everything the deterministic reader finds in one message, computed once per turn."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.understanding.cues import GREETING_RE
from agent.understanding.facts import FactHit, sentence_facts
from agent.understanding.limits import Shade, currencies, language, shades
from agent.understanding.mentions import Mention, find_mentions, mark_negations
from agent.understanding.prices import PriceHit, find_prices
from agent.understanding.sizes import find_sizes
from agent.understanding.text import normalize_text

Polarity = Literal["like", "dislike", "neutral"]

#: A default catalog id ("bag-0251"), not part of a longer code ("drs-1001-blk", an imported SKU).
_ID_RE = re.compile(r"(?<![\w-])([a-z]{3}-\d{4})(?![\w-])")
_SENTENCE_RE = re.compile(
    r"(?<=[.!?;])\s+|\n+"
    # a comma before a request starts a new clause: "I can't stand yellow, put something together ..."
    r"|(?<=,)\s+(?=(?:put|show|find|get|give|recommend|suggest|make|help|search|style|dress me|pick|choose|"
    r"can you|could you|would you|please|i need|i want|i am looking|i'm looking|what)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParsedMessage:
    """Everything the reader finds in one message (positions refer to ``norm``); read-only, shared by all readers."""

    raw: str
    norm: str
    masked: str
    request: str
    mentions: list[Mention]
    prices: list[PriceHit]
    ids: list[tuple[str, int, int]]
    facts: list[FactHit]
    fact_spans: list[tuple[int, int]] = field(default_factory=list)
    greeting: bool = False
    sizes: list[str] = field(default_factory=list)
    size_spans: list[tuple[int, int]] = field(default_factory=list)
    #: Colour words outside the catalog's palette, read as the nearest catalog colour.
    shades: list[Shade] = field(default_factory=list)
    #: Currency symbols named ("£40" -> ``["£"]``); the catalog prices in one currency.
    currencies: list[str] = field(default_factory=list)
    #: The language the message is in when the reader can tell it is not English, else None.
    language: str | None = None

    def of(self, kind: str, *, negated: bool | None = False,
           outside: Sequence[tuple[int, int]] = ()) -> list[Mention]:
        """Return the mentions of a kind (``negated=None`` for both), optionally outside some spans."""
        return [
            m for m in self.mentions
            if m.kind == kind and (negated is None or m.negated == negated)
            and not any(m.overlaps(s, e) for s, e in outside)
        ]

    def values(self, kind: str, **kw: Any) -> list[str]:
        """Return the distinct values of :meth:`of`, in order of mention."""
        return list(dict.fromkeys(m.value for m in self.of(kind, **kw)))


def mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Return ``text`` with the characters inside ``spans`` (``(start, end)`` offsets) replaced by spaces."""
    chars = list(text)
    for s, e in spans:
        for i in range(max(0, s), min(len(chars), e)):
            chars[i] = " "
    return "".join(chars)


_DRESS_VERB_RE = re.compile(r"\bdress(?= (?:me|us|him|her|them|myself|yourself|up)\b)")


@functools.lru_cache(maxsize=2048)
def parse_message(text: str) -> ParsedMessage:
    """Normalise a message and read its vocabulary, negations, prices, item ids and preference facts.

    Cached by text: within a turn the planner, the plan checks and the memory extractor share one
    parse (:attr:`agent.plan.PlannerInput.parsed`); the result must not be mutated.
    """
    raw_sentences = [s for s in _SENTENCE_RE.split(text.strip()) if s.strip()] or [text]
    parts: list[str] = []
    facts: list[FactHit] = []
    fact_spans: list[tuple[int, int]] = []
    offset = 0
    for raw in raw_sentences:
        norm_s = normalize_text(raw)
        sent_facts, spans = sentence_facts(raw, norm_s)
        facts.extend(sent_facts)
        fact_spans.extend((offset + s, offset + e) for s, e in spans)
        parts.append(norm_s)
        offset += len(norm_s) + 1
    norm = " ".join(parts)
    ids = [(m.group(1).upper(), m.start(), m.end()) for m in _ID_RE.finditer(norm)]
    prices = find_prices(mask_spans(norm, [(s, e) for _, s, e in ids]))
    masked = mask_spans(norm, [(s, e) for _, s, e in ids] + [(p.start, p.end) for p in prices])
    greeting = GREETING_RE.match(masked)
    if greeting:
        masked = mask_spans(masked, [(greeting.start(), greeting.end())])
    verbs = [m.span() for m in _DRESS_VERB_RE.finditer(masked)]  # "dress me for ..." names no dress
    mentions = mark_negations(masked, [m for m in find_mentions(masked)
                                       if not any(m.overlaps(a, b) and m.kind == "category" for a, b in verbs)])
    request = mask_spans(masked, fact_spans)
    size_hits = find_sizes(masked)
    return ParsedMessage(raw=text, norm=norm, masked=masked, request=request, mentions=mentions,
                         prices=prices, ids=ids, facts=facts, fact_spans=fact_spans,
                         greeting=greeting is not None, sizes=list(dict.fromkeys(s for s, _, _ in size_hits)),
                         size_spans=[(a, b) for _, a, b in size_hits],
                         shades=shades(norm, [(m.value, m.start, m.end) for m in mentions if m.kind == "color"]),
                         currencies=currencies(text), language=language(text))
