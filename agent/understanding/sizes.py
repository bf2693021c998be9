"""Sizes a message asks for: "in size L", "size 39", "sz 38", "in a medium", "the second one in M"."""

from __future__ import annotations

import re

_LETTER = r"xxxs|xxs|xs|s|m|l|xl|xxl|xxxl|[2-5]xl|extra small|extra large|small|medium|large"
_WORDS = {"extra small": "XS", "extra large": "XL", "small": "S", "medium": "M", "large": "L", "2xl": "XXL",
          "3xl": "XXXL"}
#: "size 39", "size eu 39", and the shorthand "sz 38" / "sz. m" / "sz38".
_SIZE_RE = re.compile(rf"\b(?:size |sz\.? ?)(?:eu |uk |us )?(?P<size>{_LETTER}|\d{{1,2}}(?:\.5)?)\b")
_IN_RE = re.compile(
    rf"\bin (?:a |an )?(?P<size>{_LETTER})\b"
    r"(?=\s*(?:$|[,.!?;]|please|and|or|under|below|over|for|with|too|instead|as well|if|then|size))"
)


def size_value(raw: str) -> str:
    """Return a size as the catalog writes it (``medium`` -> ``M``, ``l`` -> ``L``, ``39`` -> ``39``)."""
    raw = " ".join(raw.strip().lower().split())
    return _WORDS.get(raw, raw.upper())


def find_sizes(text: str) -> list[tuple[str, int, int]]:
    """Return ``(size, start, end)`` of the sizes a normalised message asks for, in order."""
    hits: list[tuple[str, int, int]] = []
    for pattern in (_SIZE_RE, _IN_RE):
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for _, s, e in hits):
                continue
            hits.append((size_value(m.group("size")), m.start(), m.end()))
    return sorted(hits, key=lambda h: h[1])
