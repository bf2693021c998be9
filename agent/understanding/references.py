"""References: which shown item a phrase points at ("the second one", "the bag", "SHT-0042", "it")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agent.catalog.vocab import (
    CATEGORY_LABELS,
    FOOTWEAR,
)
from agent.plan import PlannerInput, ShownItem
from agent.understanding.cues import (
    DETERMINERS,
    NUM_REF_RE,
    ORD_RE,
    ORD_REJECT_RE,
    ORD_WORDS,
    PRONOUN_RE,
    REF_ADJECTIVES,
)
from agent.understanding.mentions import Mention
from agent.understanding.message import ParsedMessage

Polarity = Literal["like", "dislike", "neutral"]

@dataclass(frozen=True)
class Reference:
    """What a phrase refers to: a shown item (``item_id``), or why it could not be resolved."""

    kind: str
    item_id: str | None = None
    span: tuple[int, int] | None = None
    category: str | None = None
    problem: str = ""


def displayed_items(view: PlannerInput) -> list[ShownItem]:
    """Return the items of the last showing, in display order (``#1`` first)."""
    if view.last_shown:
        return list(view.last_shown)
    if not view.shown:
        return []
    latest = max(s.turn for s in view.shown)
    return sorted((s for s in view.shown if s.turn == latest), key=lambda s: s.position)


def _pools(view: PlannerInput) -> list[list[ShownItem]]:
    return [displayed_items(view), sorted(view.shown, key=lambda s: (-s.turn, s.position))]


def _tiers(mention: Mention) -> list[tuple[str, ...]]:
    if mention.kind == "group":
        return [FOOTWEAR]
    if mention.value == "top":
        return [("top",), ("shirt", "pullover")]
    return [(mention.value,)]


def _find_shown(view: PlannerInput, tiers: Sequence[tuple[str, ...]],
                color: str | None = None) -> ShownItem | None:
    for n, pool in enumerate(_pools(view)):
        for tier in tiers:
            cands = [s for s in pool if s.category in tier and (color is None or s.color == color)]
            if cands:
                if n == 0:
                    focus = next((s for s in cands if s.id == view.focus_item_id), None)
                    if focus is not None:
                        return focus
                return cands[0]
    return None


def _label(item: ShownItem) -> str:
    return f"{item.position}. {item.title} ({item.price:.2f})"


def shown_choices(view: PlannerInput) -> str:
    """Return a sentence listing the items shown last (for a clarifying question)."""
    shown = displayed_items(view)
    if not shown:
        return ("I haven't shown you any items yet. Ask me to find something or to put an outfit together "
                "first.")
    return "Here is what I showed you last: " + "; ".join(_label(s) for s in shown) + "."


def _ordinal_index(view: PlannerInput, idx: int, head: Mention | None) -> tuple[ShownItem | None, str]:
    shown = displayed_items(view)
    if not shown:
        return None, "I haven't shown you any items yet, so I can't tell which one you mean."
    pool = shown
    if head is not None:
        tiers = _tiers(head)
        same = [s for s in shown if any(s.category in t for t in tiers)]
        if same and (idx == -1 or idx == 0 or idx <= len(same)):
            pool = same
    if idx == 0:
        idx = (len(pool) + 1) // 2
    if idx == -1:
        return pool[-1], ""
    if 1 <= idx <= len(pool):
        return pool[idx - 1], ""
    plural = "s" if len(shown) != 1 else ""
    return None, f"I only showed {len(shown)} item{plural}, so there is no number {idx}."


def next_mention(parsed: ParsedMessage, pos: int) -> Mention | None:
    """Return the vocabulary mention starting right after ``pos`` (spaces skipped), if any."""
    m = re.match(r"\s*", parsed.masked[pos:])
    at = pos + (m.end() if m else 0)
    for mention in parsed.mentions:
        if mention.start == at:
            return mention
    return None


def _head_after(parsed: ParsedMessage, pos: int) -> Mention | None:
    """Return the category mention right after ``pos``, skipping colour/material/style adjectives."""
    for _ in range(4):
        mention = next_mention(parsed, pos)
        if mention is None:
            return None
        if mention.kind in ("category", "group"):
            return mention
        if mention.kind not in ("color", "material", "style"):
            return None
        pos = mention.end
    return None


def determiner_before(parsed: ParsedMessage, start: int) -> tuple[str, int] | None:
    """Return the determiner governing a noun phrase that starts at ``start`` and where it begins."""
    pos = start
    for _ in range(5):
        m = re.search(r"([a-z#]+)\s*$", parsed.masked[:pos])
        if not m:
            return None
        word = m.group(1)
        if word in DETERMINERS or word == "my":
            return word, m.start(1)
        inside = any(x.start <= m.start(1) < x.end and x.kind in ("color", "material", "style")
                     for x in parsed.mentions)
        if not inside and word not in REF_ADJECTIVES and word not in ORD_WORDS:
            return None
        pos = m.start(1)
    return None


def find_reference(parsed: ParsedMessage, view: PlannerInput, *, allow_bare: bool = False) -> Reference:
    """Resolve which shown item the message is about.

    Tries, in order: an explicit id, an ordinal or number, a category with a determiner ("the bag"),
    an attribute ("the red one"), a pronoun, then the conversation's focus item.
    """
    text = parsed.masked
    if parsed.ids:
        item_id, s, e = parsed.ids[0]
        return Reference("id", item_id, (s, e))
    for m in ORD_RE.finditer(text):
        head = _head_after(parsed, m.end())
        rejected = not m.group("noun") and ORD_REJECT_RE.match(text, m.end())
        if rejected or (not m.group("det") and not m.group("noun") and head is None):
            continue
        if m.group("ord") in ("last", "final", "former", "latter", "middle") and not (m.group("noun") or head
                                                                                       or m.group("det")):
            continue
        if m.group("det") == "my" and not m.group("noun"):
            continue
        item, problem = _ordinal_index(view, ORD_WORDS[m.group("ord")], head)
        end = head.end if head is not None else m.end()
        return Reference("ordinal", item.id if item else None, (m.start(), end), problem=problem)
    for m in NUM_REF_RE.finditer(text):
        num = 1 if m.group("num") == "one" else int(m.group("num"))
        item, problem = _ordinal_index(view, num, None)
        return Reference("ordinal", item.id if item else None, (m.start(), m.end()), problem=problem)
    for mention in parsed.mentions:
        if mention.kind not in ("category", "group") or mention.negated:
            continue
        det = determiner_before(parsed, mention.start)
        if det is None and not allow_bare:
            continue
        if det is not None and det[0] == "my":
            continue
        start = det[1] if det else mention.start
        colors = [c.value for c in parsed.mentions if c.kind == "color" and start <= c.start < mention.start]
        color = colors[0] if colors else None
        item = _find_shown(view, _tiers(mention), color)
        if item is None and color:
            item = _find_shown(view, _tiers(mention))
        label = "shoes" if mention.kind == "group" else CATEGORY_LABELS[mention.value][1]
        problem = "" if item else f"I haven't shown you any {label} in this conversation."
        return Reference("category", item.id if item else None, (start, mention.end),
                         category=mention.value, problem=problem)
    for m in re.finditer(r"\b(?:the|that|this)\s+((?:[a-z]+\s+){1,2}?)(?:one|ones)\b", text):
        words = m.group(1).split()
        shown = displayed_items(view)
        if not shown or any(w in ORD_WORDS or w in ("other", "same", "new") for w in words):
            continue
        if words[-1] in ("cheapest", "cheaper", "priciest", "dearest") or words[:2] == ["most", "expensive"]:
            pick = min if words[-1] in ("cheapest", "cheaper") else max
            item = pick(shown, key=lambda s: s.price)
            return Reference("attribute", item.id, (m.start(), m.end()))
        colors = [c.value for c in parsed.mentions if c.kind == "color" and m.start(1) <= c.start < m.end(1)]
        vocab = colors or [x.value for x in parsed.mentions if m.start(1) <= x.start < m.end(1)]
        cands = [s for s in shown
                 if (colors and s.color in colors) or all(w in s.title.lower() for w in words)]
        if cands:
            return Reference("attribute", cands[0].id, (m.start(), m.end()))
        if vocab:
            return Reference("attribute", None, (m.start(), m.end()),
                             problem=f"None of the items I showed last is {' '.join(words)}.")
    pron = PRONOUN_RE.search(text)
    kind = "pronoun" if pron else "focus"
    span = (pron.start(), pron.end()) if pron else None
    if view.focus_item_id:
        return Reference(kind, view.focus_item_id, span)
    shown = displayed_items(view)
    if len(shown) == 1:
        return Reference(kind, shown[0].id, span)
    return Reference("none" if not pron else "pronoun", None, span,
                     problem="I'm not sure which item you mean." if shown else
                     "I haven't shown you any items yet, so I can't tell which one you mean.")


def shown_by_role(view: PlannerInput, word: str) -> ShownItem | None:
    """Return the shown item a role or category word names ("top" -> the outfit's shirt, "shoes" -> its sneakers).

    The latest showing is searched first, then earlier ones; None when the word names no category or no
    shown item has it.
    """
    from agent.understanding.message import parse_message

    parsed = parse_message(word.replace("_", " ").replace("-", " "))
    for mention in parsed.mentions:
        if mention.kind in ("category", "group") and not mention.negated:
            return _find_shown(view, _tiers(mention))
    return None


_OTHER_RE = re.compile(r"\b(?:different|other|another|new)\s+")


def changed_piece(parsed: ParsedMessage, view: PlannerInput) -> Reference | None:
    """Return the piece of the outfit shown last that "different/other/another/new <piece>" asks to change.

    "can I see different trainers with that?" after an outfit with sneakers means alternatives to those
    sneakers. None when the list shown last is not an outfit (after a list of trainers, "different trainers"
    is a search) or the outfit has no piece of that category ("another bag" to an outfit without one).
    """
    if not view.outfits or not view.last_shown:
        return None
    pieces = set(view.outfits[-1])
    outfit = [s for s in view.last_shown if s.id in pieces]
    if len(outfit) != len(view.last_shown):
        return None  # the list shown last is not the outfit
    for m in _OTHER_RE.finditer(parsed.masked):
        head = _head_after(parsed, m.end())
        if head is None or head.negated:
            continue
        tiers = _tiers(head)
        item = next((s for tier in tiers for s in outfit if s.category in tier), None)
        if item is not None:
            return Reference("category", item.id, (m.start(), head.end), category=head.value)
    return None
