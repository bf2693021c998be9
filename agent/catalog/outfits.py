"""Outfit composition: which categories complete a look, colour harmony, style fit, budgets.

Given an anchor (an item, or only a category/colour/style) and the shopper's constraints, pick one
in-stock item for each complementary slot, maximising colour harmony with the rest of the outfit,
shared style, and closeness to what the shopper asked for; then fit a total budget by swapping to
cheaper pieces where it costs least.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from agent.catalog.models import Item, Outfit, SearchFilters
from agent.catalog.vocab import (
    FOOTWEAR,
    NEUTRAL_COLORS,
    OCCASIONS,
    UPPER_BODY,
    category_label,
)

#: Colour pairs that work well together (beyond neutral + anything).
GOOD_PAIRS = {
    frozenset(p)
    for p in [
        ("navy", "beige"), ("navy", "white"), ("navy", "red"), ("navy", "pink"), ("navy", "yellow"),
        ("navy", "orange"), ("blue", "white"), ("blue", "beige"), ("blue", "brown"), ("blue", "orange"),
        ("red", "black"), ("red", "white"), ("green", "beige"), ("green", "brown"), ("green", "white"),
        ("pink", "grey"), ("pink", "white"), ("purple", "grey"), ("purple", "white"), ("yellow", "grey"),
        ("yellow", "blue"), ("orange", "brown"), ("brown", "beige"), ("black", "white"), ("grey", "black"),
        ("beige", "white"), ("navy", "grey"), ("brown", "white"), ("green", "navy"),
    ]
}
CLASHES = {
    frozenset(p)
    for p in [
        ("red", "pink"), ("red", "orange"), ("orange", "pink"), ("purple", "orange"), ("green", "red"),
        ("purple", "yellow"), ("purple", "green"), ("pink", "yellow"), ("navy", "black"), ("brown", "black"),
    ]
}

#: How well each category suits each style (0..1); used to choose between slot categories.
CATEGORY_STYLE_AFFINITY: dict[str, dict[str, float]] = {
    "top": {"casual": 1, "sporty": 0.9, "evening": 0.7, "streetwear": 1, "boho": 0.9, "classic": 0.5,
            "formal": 0.3, "business": 0.3},
    "shirt": {"formal": 1, "business": 1, "classic": 0.9, "casual": 0.6, "evening": 0.6, "streetwear": 0.3,
              "sporty": 0.1, "boho": 0.4},
    "pullover": {"casual": 0.9, "classic": 0.8, "streetwear": 0.8, "sporty": 0.6, "business": 0.4,
                 "formal": 0.2, "evening": 0.2, "boho": 0.5},
    "sneakers": {"sporty": 1, "casual": 1, "streetwear": 1, "classic": 0.3, "boho": 0.3, "evening": 0.1,
                 "formal": 0.05, "business": 0.1},
    "sandals": {"evening": 0.9, "boho": 1, "casual": 0.7, "formal": 0.5, "classic": 0.3, "business": 0.1,
                "sporty": 0.2, "streetwear": 0.2},
    "ankle_boots": {"formal": 0.9, "business": 0.9, "classic": 1, "evening": 0.8, "casual": 0.7,
                    "streetwear": 0.7, "boho": 0.5, "sporty": 0.05},
}


def color_harmony(a: str, b: str) -> float:
    """Return how well two basic colours go together, from 0 (clash) to 1."""
    if a == b:
        return 0.75 if a in NEUTRAL_COLORS else 0.45
    pair = frozenset((a, b))
    if pair in CLASHES:
        return 0.05
    if pair in GOOD_PAIRS:
        return 1.0
    if a in NEUTRAL_COLORS or b in NEUTRAL_COLORS:
        return 0.8
    return 0.3


def outfit_harmony(colors: Sequence[str]) -> float:
    """Return the mean pairwise harmony of an outfit's colours, penalising more than two accents."""
    if len(colors) < 2:
        return 1.0
    score = float(np.mean([color_harmony(a, b) for a, b in itertools.combinations(colors, 2)]))
    accents = {c for c in colors if c not in NEUTRAL_COLORS}
    if len(accents) > 2:
        score -= 0.15 * (len(accents) - 2)
    return score


def target_styles(style: str | None, occasion: str | None, anchor: Item | None) -> list[str]:
    """Return the styles to aim for, most important first."""
    out: list[str] = []
    if style:
        out.append(style)
    if occasion:
        out.extend(s for s in OCCASIONS.get(occasion, ()) if s not in out)
    if anchor is not None:
        out.extend(s for s in anchor.styles if s not in out)
    return out or ["casual", "classic"]


def suits(item: Item, occasion: str | None) -> bool:
    """Whether an item's style tags suit an occasion (an item with no style information suits none)."""
    if not occasion or occasion not in OCCASIONS:
        return True
    return bool(set(item.styles) & set(OCCASIONS[occasion]))


def slots_for(anchor_category: str | None, styles: Sequence[str], include: Sequence[str] = ()) -> list[tuple[str, ...]]:
    """Return the outfit's slots (each a tuple of acceptable categories), excluding the anchor's slot.

    ``include`` names categories the shopper asked to be part of the outfit (e.g. a dress).
    """
    one_piece = anchor_category == "dress" or "dress" in include
    if one_piece:
        slots: list[tuple[str, ...]] = [("dress",), FOOTWEAR, ("bag",)]
    else:
        slots = [UPPER_BODY, ("trousers",), FOOTWEAR, ("bag",)]
    if anchor_category == "coat" or "coat" in include:
        slots.insert(0, ("coat",))
    for cat in include:
        if not any(cat in s for s in slots):
            slots.append((cat,))
    # A slot the shopper pinned to specific categories narrows to those.
    pinned = []
    for s in slots:
        narrowed = tuple(c for c in s if c in include)
        pinned.append(narrowed or s)
    if anchor_category is not None:
        pinned = [s for s in pinned if anchor_category not in s]
    return pinned


@dataclass
class OutfitRequest:
    """The shopper's explicit constraints for one outfit (explicit constraints always win)."""

    anchor: Item | None = None
    anchor_category: str | None = None
    anchor_color: str | None = None
    occasion: str | None = None
    style: str | None = None
    query: str = ""
    colors: list[str] | None = None
    exclude_colors: list[str] | None = None
    exclude_categories: list[str] | None = None
    include_categories: list[str] = field(default_factory=list)
    exclude_materials: list[str] | None = None
    min_price: float | None = None
    max_price: float | None = None
    max_total: float | None = None
    exclude_ids: list[str] = field(default_factory=list)
    sizes: list[str] | None = None

    def filters(self, categories: Sequence[str]) -> SearchFilters:
        """Return the search filters for candidates of a slot."""
        return SearchFilters(
            categories=list(categories),
            colors=self.colors,
            exclude_colors=self.exclude_colors,
            exclude_categories=self.exclude_categories,
            exclude_materials=self.exclude_materials,
            min_price=self.min_price,
            max_price=self.max_price,
            exclude_ids=self.exclude_ids or None,
            sizes=self.sizes,
            in_stock=True,
        )


@dataclass
class Candidate:
    """A candidate item for a slot with its stand-alone score."""

    item: Item
    base: float


@dataclass
class ComposedOutfit:
    """The chosen items (anchor first when it is part of the outfit) and why they go together."""

    items: list[Item]
    anchor: Item | None
    styles: list[str]
    explanation: str
    total: float
    missing_slots: list[str] = field(default_factory=list)


def style_score(item: Item, styles: Sequence[str]) -> float:
    """Return how well an item fits the target styles (tags first, then category affinity)."""
    if not styles:
        return 0.5
    weights = [1.0, 0.6, 0.4, 0.3, 0.2][: len(styles)]
    tag = sum(w for s, w in zip(styles, weights, strict=False) if s in item.styles) / sum(weights)
    aff_table = CATEGORY_STYLE_AFFINITY.get(item.category)
    affinity = aff_table.get(styles[0], 0.5) if aff_table else 0.7
    return 0.6 * tag + 0.4 * affinity


def choose_outfit(
    request: OutfitRequest,
    candidates: dict[tuple[str, ...], list[Candidate]],
    styles: Sequence[str],
    preference_bonus: dict[str, float] | None = None,
) -> ComposedOutfit:
    """Choose one candidate per slot maximising harmony, style fit and relevance within the budget."""
    bonus = preference_bonus or {}
    if request.anchor is not None:
        anchor_colors = [request.anchor.color]
    else:
        anchor_colors = [request.anchor_color] if request.anchor_color else []
    chosen: dict[tuple[str, ...], Candidate] = {}
    slots = [s for s in candidates if candidates[s]]
    # Greedy in slot order, then one improvement pass against the finished outfit.
    for _ in range(2):
        for slot in slots:
            others = [c.item.color for s, c in chosen.items() if s != slot] + anchor_colors
            best, best_score = None, -1e9
            for cand in candidates[slot]:
                harmony = outfit_harmony([*others, cand.item.color]) if others else 0.8
                score = cand.base + 0.9 * harmony + bonus.get(cand.item.id, 0.0)
                if score > best_score:
                    best, best_score = cand, score
            assert best is not None
            chosen[slot] = best
    # Fit the total budget by swapping the piece whose cheaper alternative loses least per euro.
    anchor_price = request.anchor.price if request.anchor else 0.0
    if request.max_total is not None:
        for _ in range(50):
            total = anchor_price + sum(c.item.price for c in chosen.values())
            if total <= request.max_total + 1e-9:
                break
            best_swap: tuple[float, tuple[str, ...], Candidate] | None = None
            for slot, cur in chosen.items():
                for cand in candidates[slot]:
                    saving = cur.item.price - cand.item.price
                    if saving <= 0:
                        continue
                    loss = (cur.base - cand.base) / saving
                    if best_swap is None or loss < best_swap[0]:
                        best_swap = (loss, slot, cand)
            if best_swap is None:
                break
            chosen[best_swap[1]] = best_swap[2]
    items = [chosen[s].item for s in slots]
    if request.anchor is not None:
        items = [request.anchor, *items]
    explanation = explain(items, request, styles)
    missing = [" or ".join(category_label(c) for c in s) for s in candidates if not candidates[s]]
    return ComposedOutfit(
        items=items,
        anchor=request.anchor,
        styles=list(styles),
        explanation=explanation,
        total=round(sum(i.price for i in items), 2),
        missing_slots=missing,
    )


def explain(items: Sequence[Item], request: OutfitRequest, styles: Sequence[str]) -> str:
    """Write one or two sentences on why the pieces go together."""
    colors = [i.color for i in items]
    if request.anchor_color and request.anchor is None:
        colors = [request.anchor_color, *colors]
    neutrals = sorted({c for c in colors if c in NEUTRAL_COLORS})
    accents = sorted({c for c in colors if c not in NEUTRAL_COLORS})
    parts: list[str] = []
    if accents and neutrals:
        parts.append(f"{' and '.join(neutrals)} neutrals let the {' and '.join(accents)} stand out")
    elif accents:
        pairs = [p for p in GOOD_PAIRS if p <= set(accents)]
        parts.append(
            f"{' and '.join(accents)} is a complementary pairing" if pairs else f"a bold {' and '.join(accents)} mix"
        )
    else:
        parts.append(f"an all-neutral palette ({', '.join(neutrals)}) that always works")
    shared = [s for s in styles if sum(s in i.styles for i in items) >= 2]
    if shared:
        article = "an" if shared[0][0] in "aeiou" else "a"
        parts.append(f"the pieces share {article} {shared[0]} style")
    if request.occasion and all(suits(i, request.occasion) for i in items):
        article = "an" if request.occasion[0] in "aeiou" else "a"
        parts.append(f"suited to {article} {request.occasion}")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def curated_outfits(items: Sequence[Item], n: int = 60, seed: int = 0) -> list[Outfit]:
    """Compose ``n`` compatible outfits from in-stock items (no model needed), deterministic by seed."""
    rng = np.random.default_rng(seed)
    by_cat: dict[str, list[Item]] = {}
    for it in items:
        if it.in_stock:
            by_cat.setdefault(it.category, []).append(it)
    occasions = sorted(OCCASIONS)
    out: list[Outfit] = []
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        occasion = occasions[int(rng.integers(len(occasions)))]
        styles = list(OCCASIONS[occasion])
        slots = slots_for(None, styles)
        chosen: list[Item] = []
        for slot in slots:
            pool = [it for c in slot for it in by_cat.get(c, [])]
            if not pool:
                break
            scored = sorted(
                pool,
                key=lambda it: -(style_score(it, styles)
                                 + 0.9 * outfit_harmony([*(x.color for x in chosen), it.color])
                                 + 0.3 * float(rng.random())),
            )
            chosen.append(scored[0])
        if len(chosen) != len(slots):
            continue
        if outfit_harmony([c.color for c in chosen]) < 0.6:
            continue
        ids = [c.id for c in chosen]
        if any(set(ids) == set(o.item_ids) for o in out):
            continue
        out.append(Outfit(id=f"OUT-{len(out) + 1:03d}", item_ids=ids, style=styles[0], occasion=occasion,
                          note=explain(chosen, OutfitRequest(occasion=occasion), styles)))
    return out
