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


def preferred_sizes(prefs: Sequence[PreferenceFact]) -> list[str]:
    """Return the sizes the shopper told us they wear (``"M"``, ``"shoes 39"`` -> ``["M", "39"]``), latest first."""
    from agent.catalog.models import normalize_size

    out: list[str] = []
    for fact in reversed(list(prefs)):
        if fact.kind != "size" or fact.polarity == "dislike":
            continue
        value = normalize_size(fact.value.strip().split()[-1]) if fact.value.strip() else ""
        if value and value not in out:
            out.append(value)
    return out


def size_note(items: Sequence[Item], sizes: Sequence[str], source: str) -> str:
    """Say which size the results were filtered by, and for which items sizes are not known.

    ``source`` is ``asked`` (this message) or ``preference`` (a stored size).
    """
    if not sizes or not items:
        return ""
    label = "/".join(sizes)
    unknown = [i for i in items if not i.size_kind]
    checked = [i for i in items if i.size_kind and i.relevant_sizes(list(sizes))]
    parts = []
    if checked:
        whose = f"your size ({label}, as you told me)" if source == "preference" else f"size {label}"
        parts.append(f"{'All' if len(checked) == len(items) else len(checked)} of these "
                     f"{'are' if len(checked) > 1 else 'is'} in stock in {whose}.")
    if unknown:
        if len(unknown) == len(items):
            parts.append(f"Sizes are not known for {'these items' if len(items) > 1 else 'this item'}, so I "
                         f"couldn't check size {label}.")
        else:
            parts.append("Sizes are not known for " + ", ".join(f"{i.title} [{i.id}]" for i in unknown) + ".")
    return " ".join(parts)


def sizes_for(asked: Sequence[str] | None, prefs: Sequence[PreferenceFact]) -> tuple[list[str] | None, str]:
    """Return the sizes to filter by and where they come from: ``asked`` now, else a stored size preference."""
    from agent.catalog.models import normalize_size

    wanted = [s for s in (normalize_size(x) for x in asked or []) if s]
    if wanted:
        return wanted, "asked"
    stored = preferred_sizes(prefs)
    return (stored, "preference") if stored else (None, "")


def variant_data(items: Sequence[Item], sizes: Sequence[str] | None, source: str) -> dict[str, object]:
    """Return a result's size ``data``: the sizes used and, per item, the variant that answers (fits, in stock)."""
    chosen = {}
    for it in items:
        v = it.variant_for(list(sizes or [])) if it.variants else None
        if v is not None:
            chosen[it.id] = v.model_dump(exclude_defaults=True)
    return {"sizes": list(sizes or []), "size_source": source, "variants": chosen,
            "sizes_unknown": [it.id for it in items if not it.size_kind]}
