"""Preference facts from what the shopper says, independent of which planner runs.

The ``remember`` node merges these with the facts the planner noticed, so an LLM planner that
forgets to report a fact still gets it stored. Extraction reuses the rules grammar (no model): a
few milliseconds per turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from agent.plan import FactKind, PreferenceFact

#: Intents whose messages state no new preferences ("forget that I like red" is not a like).
NO_FACT_INTENTS = frozenset({"forget", "show_memory"})


def extract_facts(text: str, turn: int) -> list[PreferenceFact]:
    """Return the preference facts stated in one user message."""
    from agent.understanding.message import parse_message

    if not text.strip():
        return []
    parsed = parse_message(text)
    out: dict[str, PreferenceFact] = {}
    for hit in parsed.facts:
        fact = PreferenceFact(
            kind=cast(FactKind, hit.kind), value=hit.value[:200], polarity=hit.polarity,  # type: ignore[arg-type]
            confidence=hit.confidence, source_turn=turn, text=hit.sentence[:500],
        )
        if fact.key() not in out or out[fact.key()].confidence < fact.confidence:
            out[fact.key()] = fact
    return list(out.values())


def merge_facts(*groups: Iterable[PreferenceFact]) -> list[PreferenceFact]:
    """Merge fact lists: one fact per key, the most confident (the later group wins ties)."""
    out: dict[str, PreferenceFact] = {}
    for group in groups:
        for fact in group:
            key = fact.key()
            if key not in out or fact.confidence >= out[key].confidence:
                out[key] = fact
    return list(out.values())
