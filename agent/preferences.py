"""Apply remembered preferences to candidate items: liked values up, disliked values down.

Explicit constraints in the current message always win: a value the shopper asked for now is
never penalised, and disliked items are only dropped when other candidates remain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from agent.catalog.models import Item
from agent.plan import PreferenceFact

T = TypeVar("T")

LIKE_BONUS = 0.35
#: Candidates fetched before re-ranking when the shopper has stored preferences.
PREFERENCE_POOL = 100
DISLIKE_PENALTY = 1.5


def _item_values(item: Item, kind: str) -> set[str]:
    if kind == "color":
        return {item.color}
    if kind == "category":
        return {item.category}
    if kind == "style":
        return set(item.styles)
    if kind == "material":
        return {item.material.lower()}
    if kind == "brand":
        return {item.brand.lower()}
    return set()


def preference_score(item: Item, prefs: Sequence[PreferenceFact], explicit: Iterable[str] = ()) -> float:
    """Return the re-ranking adjustment of an item for stored preferences (0 when none apply)."""
    asked = {v.lower() for v in explicit}
    score = 0.0
    for fact in prefs:
        value = fact.value.strip().lower()
        if value not in _item_values(item, fact.kind):
            continue
        if fact.polarity == "like":
            score += LIKE_BONUS * fact.confidence
        elif fact.polarity == "dislike" and value not in asked:
            score -= DISLIKE_PENALTY * fact.confidence
    return score


def is_disliked(item: Item, prefs: Sequence[PreferenceFact], explicit: Iterable[str] = ()) -> bool:
    """Whether the item has a value the shopper dislikes (and did not explicitly ask for now)."""
    asked = {v.lower() for v in explicit}
    for fact in prefs:
        if fact.polarity != "dislike":
            continue
        value = fact.value.strip().lower()
        if value in asked:
            continue
        if value in _item_values(item, fact.kind):
            return True
    return False


def drop_disliked(
    entries: Sequence[T], item_of: object, prefs: Sequence[PreferenceFact], explicit: Iterable[str] = ()
) -> list[T]:
    """Remove entries whose item is disliked, unless that would leave nothing."""
    get = item_of if callable(item_of) else (lambda e: e)
    explicit = list(explicit)
    kept = [e for e in entries if not is_disliked(get(e), prefs, explicit)]
    return kept if kept else list(entries)
