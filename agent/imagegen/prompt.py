"""Turn a shopper's description ("design me a red evening dress") into a category and a colour."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.catalog.vocab import CATEGORIES, CATEGORY_SYNONYMS, COLOR_SYNONYMS, COLORS, normalize_color


class PromptError(ValueError):
    """The description names nothing we can draw; the message says what is supported."""


@dataclass(frozen=True)
class GarmentSpec:
    """What to draw: a canonical category and a basic colour name."""

    category: str
    color: str


def _find(text: str, synonyms: dict[str, tuple[str, ...]]) -> str | None:
    best: tuple[int, int, str] | None = None
    for canon, words in synonyms.items():
        for word in words:
            m = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)
            if m and (best is None or (m.start(), -len(word)) < (best[0], best[1])):
                best = (m.start(), -len(word), canon)
    return best[2] if best else None


def parse_garment(prompt: str, category: str | None = None, color: str | None = None,
                  default_color: str = "grey") -> GarmentSpec:
    """Return the category and colour to draw, from explicit values or else from the prompt's words.

    Raises:
        PromptError: if no supported category is given or named in the prompt.
    """
    text = " ".join(prompt.lower().replace("_", " ").split())
    cat = category.strip().lower().replace(" ", "_") if category else None
    if cat and cat not in CATEGORIES:
        cat = _find(cat.replace("_", " "), CATEGORY_SYNONYMS)
    if cat is None:
        cat = _find(text, CATEGORY_SYNONYMS)
    if cat is None:
        labels = ", ".join(c.replace("_", " ") for c in CATEGORIES)
        raise PromptError(f"I can draw these kinds of item: {labels}. Say which one, e.g. 'a red dress'.")
    col: str | None = None
    if color:
        try:
            col = normalize_color(color)
        except ValueError as exc:
            raise PromptError(f"I don't know the colour {color!r}; use one of: {', '.join(COLORS)}.") from exc
    if col is None:
        col = _find(text, COLOR_SYNONYMS)
    return GarmentSpec(category=cat, color=col or default_color)
