"""Several requests in one message, split into clauses each read on its own (slots never leak between them).

Example: "show me red dresses, generate an image of a blue coat and put together an outfit for dinner".
"""

from __future__ import annotations

import re

from agent.understanding.cues import IMAGE_RE, RECOMMEND_RE, SEARCH_RE, THEN_FIND_RE, TRY_ON_RE
from agent.understanding.text import normalize_text

#: Most requests handled from one message; the reply names what was left.
MAX_REQUESTS = 3

_LEAD = (r"(?:also\s+|please\s+|now\s+|then\s+|can you\s+|could you\s+|would you\s+)*"
         r"(?:generate|show|find|put together|put an outfit|recommend|suggest|make|design|draw|create|sketch|"
         r"imagine|try|give|get|search|style|dress me|build|pick|look for|i (?:also )?(?:want|need|would like)|"
         r"an? outfit|an? image|an? picture)\b")
_SPLIT_RE = re.compile(
    rf"(?:\s*,\s*(?:and\s+)?(?:then\s+)?|\s+and\s+(?:then\s+)?(?:also\s+)?|\s*;\s*|(?<=[.!?])\s+|\s+then\s+)(?={_LEAD})",
    re.IGNORECASE,
)
#: A clause that only points back at the one before ("and show me similar ones") belongs to it.
_BACK_RE = re.compile(r"\b(?:similar|like (?:it|that|this|them)|matching|lookalikes?|the same|it on)\b")


def _is_request(clause: str) -> bool:
    norm = normalize_text(clause)
    return bool(IMAGE_RE.search(norm) or RECOMMEND_RE.search(norm) or TRY_ON_RE.search(norm)
                or SEARCH_RE.search(norm))


def split_requests(text: str) -> list[str]:
    """Return the message's requests in order (one element when it makes a single request).

    A part is split off only where a new request starts (a request verb after a comma, "and", "then" or a
    full stop) and every part is a request by itself; "generate a dress and find similar ones" stays one.
    """
    if THEN_FIND_RE.search(normalize_text(text)):
        return [text.strip()]
    parts = [p.strip(" ,;.") for p in _SPLIT_RE.split(text.strip())]
    parts = [p for p in parts if p]
    if len(parts) < 2 or not all(_is_request(p) for p in parts):
        return [text.strip()]
    merged: list[str] = []
    for p in parts:
        if merged and _BACK_RE.search(normalize_text(p)):
            merged[-1] = f"{merged[-1]} and {p}"
        else:
            merged.append(p)
    return merged
