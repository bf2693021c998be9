"""Price constraints in a message ("under 50", "between 30 and 60 each", "90 in total")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Polarity = Literal["like", "dislike", "neutral"]

NUMBER = r"(\d+(?:\.\d+)?)"
_NOT_UNIT = (r"(?!\d)(?!\.\d)(?!\s*(?:%|percent|days?|weeks?|months?|years?|yrs?|hours?|hrs?|minutes?|mins?|"
    r"pm|am|"
             r"people|persons|guests|kids|outfits|items|cm|mm|kg|degrees|st|nd|rd|th|inch(?:es)?)\b)")
_EACH = (r"(?:each|per item|per piece|per garment|a piece|apiece|an item|per thing|"
         r"for each(?: item| piece| one)?|a pop)")
_TOTAL = (r"(?:in total|total|altogether|all together|all in|all-in|overall|combined|for everything|"
          r"for the (?:whole|entire|full) (?:outfit|look|thing|lot)|for the lot|for all of it|for it all|"
          r"all told|for the outfit|for the look|for all|"
          r"on the (?:whole|entire|full) (?:outfit|look|thing|lot)|on everything|on it all|on the lot)")
_MAXW = (r"(?:under|below|beneath|less than|lower than|cheaper than|max|maximum|at most|up to|upto|no more "
    r"than|"
         r"not more than|nothing over|nothing above|nothing more than|not over|not above|no higher than|"
         r"within|not exceeding|no pricier than|<=|<)")
_MINW = (r"(?:over|above|more than|at least|starting at|starting from|min|minimum|upwards of|no less than|"
         r"not less than|higher than|pricier than|from|>=|>)")

_PRICE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(p)) for kind, p in (
        ("range", rf"\bbetween\s+{NUMBER}\s*(?:and|-|to)\s*{NUMBER}{_NOT_UNIT}"),
        ("range", rf"\bfrom\s+{NUMBER}\s+to\s+{NUMBER}{_NOT_UNIT}"),
        ("range", rf"(?<![#\w.]){NUMBER}\s*(?:-|to)\s*{NUMBER}{_NOT_UNIT}"),
        ("total", rf"\b(?:total|overall|combined)(?:\s+budget)?(?:\s+(?:of|is|under|below|max|up to|at most|"
                  rf"no more than|less than|around|about))*\s+{NUMBER}{_NOT_UNIT}"),
        ("total", rf"(?:\b{_MAXW}\s*)?{NUMBER}{_NOT_UNIT}\s+(?:to (?:spend|play with)\s+)?{_TOTAL}\b"),
        ("budget", rf"\bbudget(?:\s+(?:is|of|around|about|at|=|:|roughly|max|under|up "
            rf"to))*\s+{NUMBER}{_NOT_UNIT}"),
        ("budget", rf"\b(?:spend|spending|pay|paying)\s+(?:up to |at most |no more than |max |about |around |"
                   rf"under |less than )?{NUMBER}{_NOT_UNIT}"),
        ("budget", rf"\bi (?:have |had )?(?:only |just )?(?:have|got)\s+(?:about |around |roughly )?{NUMBER}"
                   rf"{_NOT_UNIT}\s+(?:to spend|to play with)"),
        ("total", rf"\b(?:the\s+)?(?:(?:whole|entire|full)\s+(?:outfit|look|thing|lot|set)|lot)\s+(?:for\s+)?"
                  rf"(?:{_MAXW}\s*)?{NUMBER}{_NOT_UNIT}"),
        ("each", rf"\beach\s+(?:one\s+)?{_MAXW}\s*{NUMBER}{_NOT_UNIT}"),
        ("max", rf"\b(?:can not|cannot|do not want to|will not|would rather not|not|never)\s+(?:spend|pay|go|"
                rf"splash out)\s+(?:more than|over|above|beyond|past)\s+{NUMBER}{_NOT_UNIT}(?:\s+{_EACH})?"),
        ("max", rf"(?:\b|(?<![<>\w])(?=[<]))(?:{_MAXW})\s*{NUMBER}{_NOT_UNIT}(?:\s+{_EACH})?"),
        ("max", rf"(?<![#\w.]){NUMBER}{_NOT_UNIT}\s*(?:{_EACH}\s+)?(?:or less|or under|or below|or cheaper|and "
            rf"under|"
                rf"and below|max|maximum|tops|at most|at the most|or lower)\b"),
        ("min", rf"(?<![#\w.]){NUMBER}{_NOT_UNIT}\s*(?:or more|and up|and above|plus(?!\s*\d)|\+(?!\s*\d)|"
                rf"minimum|or over|at least|"
                rf"or higher)"),
        ("min", rf"(?:\b|(?<![<>\w])(?=[>]))(?:{_MINW})\s*{NUMBER}{_NOT_UNIT}(?:\s+{_EACH})?"),
        ("around", rf"\b(?:around|about|roughly|approximately|approx|circa|~)\s*{NUMBER}{_NOT_UNIT}"),
        ("max", rf"\bfor\s+(?:just\s+|only\s+)?{NUMBER}{_NOT_UNIT}(?:\s+{_EACH})?(?=\s*(?:$|[,.!?]|or less))"),
    )
)


@dataclass(frozen=True)
class PriceHit:
    """A price phrase: its kind (max, min, total, budget, each, range, around), value(s) and span."""

    kind: str
    value: float
    start: int
    end: int
    upper: float | None = None
    each: bool = False


def find_prices(text: str) -> list[PriceHit]:
    """Return the price phrases of a normalised message (patterns tried in priority order)."""
    taken: list[tuple[int, int]] = []
    hits: list[PriceHit] = []
    for kind, pat in _PRICE_PATTERNS:
        for m in pat.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            numbers = [float(g) for g in m.groups() if g is not None]
            if not numbers:
                continue
            phrase = m.group(0)
            each = bool(re.search(rf"\b{_EACH}\b", phrase)) or kind == "each"
            if kind == "range":
                lo, hi = sorted(numbers[:2])
                hit = PriceHit("range", lo, m.start(), m.end(), upper=hi, each=each)
            elif kind == "each":
                hit = PriceHit("max", numbers[0], m.start(), m.end(), each=True)
            else:
                if kind == "max" and re.search(rf"{_TOTAL}\s*$", text[: m.start()]):
                    kind = "total"
                hit = PriceHit(kind, numbers[0], m.start(), m.end(), each=each)
            hits.append(hit)
            taken.append((m.start(), m.end()))
    return sorted(hits, key=lambda h: h.start)


def price_slots(hits: Sequence[PriceHit], outfit: bool) -> dict[str, float]:
    """Turn price phrases into ``min_price``/``max_price`` (per item) and, for outfits, ``max_total``."""
    out: dict[str, float] = {}

    def put(key: str, value: float, pick: Any) -> None:
        out[key] = pick(out[key], value) if key in out else value

    for h in hits:
        if h.kind == "range":
            put("min_price", h.value, max)
            put("max_price", h.upper if h.upper is not None else h.value, min)
        elif h.kind == "min":
            put("min_price", h.value, max)
        elif h.kind == "around":
            put("max_price", round(h.value * 1.2, 2), min)
        elif h.kind == "total" or (outfit and not h.each and h.kind == "budget"):
            put("max_total" if outfit else "max_price", h.value, min)
        else:
            put("max_price", h.value, min)
    if "min_price" in out and "max_price" in out and out["min_price"] > out["max_price"]:
        del out["min_price"]
    return out


# --------------------------------------------------------------------------------------------------
# Preference facts
# --------------------------------------------------------------------------------------------------
