"""Lasting preference facts a shopper states ("I love navy", "no leather", "I'm a size M")."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from agent.understanding.mentions import find_mentions, mark_negations
from agent.understanding.prices import NUMBER

Polarity = Literal["like", "dislike", "neutral"]

EXPLICIT = 0.9
INFERRED = 0.6
_LIKE_CUE_RE = re.compile(
    r"\bi (?:really |absolutely |just |also |totally |do |still |honestly )*(?:love|like|adore|enjoy|"
    r"prefer)\b"
    r"(?: (?:wearing|to wear|the colou?r|colou?r))?|"
    r"\bi am (?:really |so |totally |a bit |quite |very )?into\b|"
    r"\bi am (?:a )?(?:big |huge |massive )?fan of\b|"
    r"\bi am all about\b|"
    r"\bmy (?:favou?rite|fave|go-to)(?: (?:colou?rs?|styles?|brands?|materials?|fabrics?|shoes?|things?|look|"
    r"pieces?))?(?: (?:is|are|has to be|would be))?\b|"
    r"\bi (?:only|always) (?:wear|buy|go for|choose|pick|dress in|shop)\b"
)
_HABIT_CUE_RE = re.compile(
    r"\bi (?:mostly|usually|normally|generally|typically|tend to|often|mainly|mostly just) "
    r"(?:wear|buy|go for|choose|pick|dress in)\b"
)
_DISLIKE_CUE_RE = re.compile(
    r"\bi (?:really |absolutely |just |totally |honestly )*(?:hate|dislike|detest|loathe|despise)\b"
    r"(?: wearing)?|"
    r"\bi (?:really |honestly )?(?:do not|did not|can not|will not) (?:really )?(?:like|love|stand|bear|wear|"
    r"do|suit|go for|get on with|look good in)\b(?: wearing)?|"
    r"\bi am (?:not (?:a )?(?:big |huge )?fan of|not into|over|done with|sick of|tired of|allergic to)\b|"
    r"\bnot a (?:big |huge )?fan of\b|"
    r"\bi have gone off\b|\bi am off\b|"
    r"\bi never (?:wear|buy|go for|choose)\b|"
    r"\bi (?:always |usually )?avoid\b|"
    r"\bi refuse to wear\b|"
    r"\bnever\b(?! mind)|"
    r"\bno more\b(?! than)"
)
_POST_LIKE_RE = re.compile(r"\b(?:looks? (?:best|great|good|nice) on me|suits? me|is my (?:favou?rite|fave|"
                           r"colou?r|thing|style|go-to)|are my (?:favou?rites?|thing|go-to))\b")
_POST_DISLIKE_RE = re.compile(r"\b(?:(?:does|do) not suit me|(?:is|are) not (?:for me|my thing|my style|"
                              r"my colou?r)|looks? (?:bad|awful|terrible) on me|"
                              r"(?:is|are) (?:the worst|(?:just )?(?:awful|horrible|hideous|ugly|gross|a no go))\b)")

_CLAUSE_SPLIT_RE = re.compile(
    r"[.!?;:\n]+|"
    r"\s*,?\s*(?<!anything )(?<!everything )(?<!all )\b(?:but|though|although|however|whereas|while|so|"
    r"because|since|except that)\b\s*|"
    r",\s*(?=(?:and\s+)?(?:can|could|would|will|please|show|find|what|do|does|any|i|my|is|are|also|"
    r"help|give|get|need|want|looking|how)\b)|"
    r"\s+and\s+(?=(?:i|my|can|could|please|show|find|what|do|also|help|need|want|would|looking|give|get|any|"
    r"how)\b)|"
    # a dash between words ("I hate orange - blouses please"), unless a list goes on ("navy - and cream")
    r"(?<=[a-z])\s+[-\u2013\u2014]+\s+(?=(?!(?:and|or|especially|too|nor)\b)[a-z])"
)

_SIZE_WORDS = {"extra small": "XS", "extra large": "XL", "small": "S", "medium": "M", "large": "L"}
_SIZE_VALUE = (r"(?P<size>xxxs|xxs|xs|s|m|l|xl|xxl|xxxl|[2-5]xl|extra small|extra large|small|medium|large|"
               r"\d{1,2}(?:\.5)?)")
_SIZE_RES: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    rf"\bsize {_SIZE_VALUE}\b (?P<what>shoes?|boots|trainers|sneakers|sandals|feet)\b",
    rf"\b(?:my )?(?P<what>shoe|shoes|boot|boots|trainer|trainers|sneaker|sneakers|dress|jeans|trousers?|"
    rf"pants?|waist|tops?|shirts?|coat|jacket) size is (?:a |an )?{_SIZE_VALUE}\b",
    rf"\bi (?:am|wear|take|need) (?:a |an )?(?:size |uk |us |eu )+{_SIZE_VALUE}\b(?: in (?P<what>shoes?|"
    rf"boots|"
    rf"trainers|sneakers|dresses|dress|jeans|trousers|tops?|shirts?))?",
    rf"\bsize {_SIZE_VALUE} in (?P<what>shoes?|boots|trainers|sneakers|dresses|dress|jeans|trousers|tops?|"
    r"shirts?)\b",
    r"\bi (?:am|wear) (?:a |an )?(?P<size>xxs|xs|xl|xxl|xxxl|extra small|extra large|small|medium|large)\b"
    r"(?: in (?P<what>shoes?|boots|trainers|sneakers|dresses|dress|jeans|trousers|tops?|shirts?)\b)?"
    r"(?! (?:bag|coat|jacket|dress|shirt|top|amount|number|budget|fan|size|business|town|group|family|"
    r"person|company|brand|part))",
    r"\bi (?:am|wear) (?:a |an )?(?:size )?(?P<size>\d{1,2}(?:\.5)?) in (?P<what>shoes?|boots|trainers|"
    r"sneakers|dresses|jeans|trousers|tops?)\b",
))
_BUDGET_FACT_RES: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    rf"\bi (?:usually|normally|typically|generally|always|tend to|rarely|never|do not|would not|will not|"
    rf"like to|prefer to|try to|only|mostly) (?:spend|pay)\s+(?:more than |over |above |under |less than |"
    rf"about |around |up to |at most |no more than |max |a maximum of )?{NUMBER}",
    rf"\bmy (?:usual |normal |typical |general |monthly |clothing |clothes )*budget (?:is|of|tends to be)"
    rf"\s+(?:(?:usually|normally|about|around|roughly|under|up to|at most|max)\s+)*{NUMBER}",
))
_LOW_BUDGET_RE = re.compile(r"\bi am on a (?:tight |small |low |limited |strict |student )?budget\b")
_OCCASION_FACT_RE = re.compile(
    r"\b(?:i (?:have|have got|got|am going to|am attending|am invited to|will be attending|will attend|"
    r"am heading to|am off to|am going on|am planning|will be at|have been invited to)|"
    r"we are (?:going to|having|attending|hosting)|there is)\b"
)
_MY_EVENT_RE = re.compile(r"\bmy (?:[a-z]+'s |[a-z]+ [a-z]+'s |own |big |first )?$")
_FUTURE_RE = re.compile(
    r"\b(?:next (?:week|month|year|weekend|saturday|sunday|friday|monday|tuesday|wednesday|thursday)|"
    r"tomorrow|"
    r"tonight|this (?:weekend|saturday|sunday|friday|evening|week|month)|soon|coming up|in \d+ (?:days|weeks|"
    r"months)|on (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|in (?:january|february|march|"
    r"april|may|june|july|august|september|october|november|december))\b"
)
_EVENT_OCCASIONS = frozenset({
    "wedding", "funeral", "interview", "party", "date", "dinner", "conference", "graduation", "festival",
    "concert", "holiday", "vacation", "meeting", "theatre", "beach", "hike",
})
_BRAND_CUE_RE = re.compile(
    r"(?i:\b(?:i (?:really |absolutely )?(?:love|like|adore|prefer)|i am (?:really )?into|i'm (?:really "
    r")?into|"
    r"(?:big |huge )?fan of|i (?:only|always|mostly|usually) (?:wear|buy)|i (?:really )?(?:hate|dislike)|"
    r"i (?:do not|don't|can't|cannot) stand|favou?rite brand is|brand called)\s+)"
    r"(?P<brand>[A-Z][\w'&.-]*(?:\s+(?:&\s+|and\s+)?[A-Z][\w'&.-]*){0,2})"
)
_NOT_BRANDS = frozenset({
    "I", "It", "This", "That", "These", "Those", "The", "You", "Your", "Them", "They", "My", "A", "An", "All",
    "Everything", "Anything", "Something", "Wearing", "To", "When", "How", "What", "Black", "White", "Red",
})
_BRAND_LOWER_RE = re.compile(r"\b(?:favou?rite|fave) brand (?:is|are) (?P<brand>[a-z0-9][\w'&.-]*(?: "
    r"[a-z0-9][\w'&.-]*)?)")


@dataclass(frozen=True)
class FactHit:
    """A preference noticed in the message, before it becomes a :class:`PreferenceFact`."""

    kind: str
    value: str
    polarity: str
    confidence: float
    sentence: str


def _clause_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in _CLAUSE_SPLIT_RE.finditer(text):
        if m.start() > pos:
            spans.append((offset + pos, offset + m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((offset + pos, offset + len(text)))
    return spans


_ITEM_DETERMINER_RE = re.compile(r"\b(?:the|that|this|those|these)\s+(?:[a-z]+\s+){0,2}$")


def _vocab_facts(clause: str, polarity: str, confidence: float, sentence: str,
                 prefer: bool = False) -> list[FactHit]:
    mentions = mark_negations(clause, find_mentions(clause))
    cut = re.search(r"\b(?:over|rather than|instead of|than)\b|\bto (?!wear\b)", clause) if prefer else None
    out = []
    for m in mentions:
        if m.kind in ("group", "occasion"):
            continue
        if m.kind == "category" and _ITEM_DETERMINER_RE.search(clause[: m.start]):
            continue
        pol = polarity
        conf = confidence
        if m.negated and polarity == "like":
            pol = "dislike"
        elif cut is not None and m.start >= cut.end():
            continue
        if re.match(r"\s+ones?\b", clause[m.end:]):
            conf = INFERRED
        out.append(FactHit(m.kind, m.value, pol, conf, sentence))
    return out


def _size_value(raw: str) -> str:
    raw = raw.strip()
    return _SIZE_WORDS.get(raw, raw.upper())


def _size_what(what: str | None) -> str:
    if not what:
        return ""
    w = what.rstrip("s")
    if w in ("shoe", "boot", "trainer", "sneaker", "sandal", "feet"):
        return "shoes"
    if w in ("pant", "trouser", "jean", "waist"):
        return "trousers"
    return {"dresse": "dress", "top": "top", "shirt": "shirt"}.get(w, w)


def sentence_facts(raw: str, norm: str) -> tuple[list[FactHit], list[tuple[int, int]]]:
    """Return the facts of one sentence and the (sentence-relative) spans of its like/dislike phrases."""
    facts: list[FactHit] = []
    spans: list[tuple[int, int]] = []
    sentence = raw.strip()
    prev_like = False
    for start, end in _clause_spans(norm):
        clause = norm[start:end]
        likes = list(_LIKE_CUE_RE.finditer(clause))
        habits = list(_HABIT_CUE_RE.finditer(clause))
        dislikes = list(_DISLIKE_CUE_RE.finditer(clause))
        cues: list[tuple[re.Match[str], str, float]] = sorted(
            [(c, "like", EXPLICIT) for c in likes] + [(c, "like", INFERRED) for c in habits]
            + [(c, "dislike", EXPLICIT) for c in dislikes],
            key=lambda c: c[0].start(),
        )
        kept: list[tuple[re.Match[str], str, float]] = []
        for cue in cues:
            if any(k[0].start() <= cue[0].start() < k[0].end() for k in kept):
                continue
            kept.append(cue)
        for i, (cm, polarity, conf) in enumerate(kept):
            stop = kept[i + 1][0].start() if i + 1 < len(kept) else len(clause)
            prefer = "prefer" in cm.group(0)
            hits = _vocab_facts(clause[cm.end():stop], polarity, conf, sentence, prefer=prefer)
            facts.extend(hits)
            if hits:
                spans.append((start + cm.start(), end))
        for post, polarity in ((_POST_LIKE_RE, "like"), (_POST_DISLIKE_RE, "dislike")):
            pm = post.search(clause)
            if pm:
                hits = _vocab_facts(clause[: pm.start()], polarity, EXPLICIT, sentence)
                facts.extend(hits)
                if hits:
                    spans.append((start, end))
        if not kept and prev_like and re.match(r"\s*(?:not|never)\b", clause):
            hits = [replace(h, polarity="dislike") for h in _vocab_facts(re.sub(r"^\s*(?:not|never)\b", "",
                                                                                   clause), "like", EXPLICIT,
                                                                            sentence)]
            facts.extend(hits)
            if hits:
                spans.append((start, end))
        vegan = re.search(r"\bi am (?:a )?vegan\b|\bi do not wear (?:any )?(?:animal|leather)", clause)
        if vegan:
            facts.append(FactHit("material", "leather", "dislike", EXPLICIT, sentence))
            spans.append((start + vegan.start(), start + vegan.end()))
        size_hits: list[tuple[int, int, str]] = []
        for pat in _SIZE_RES:
            for sm in pat.finditer(clause):
                if any(a < sm.end() and sm.start() < b for a, b, _ in size_hits):
                    continue
                what = _size_what(sm.groupdict().get("what"))
                size_hits.append((sm.start(), sm.end(), f"{what} {_size_value(sm.group('size'))}".strip()))
        for a, b, value in sorted(size_hits):
            facts.append(FactHit("size", value, "neutral", EXPLICIT, sentence))
            spans.append((start + a, start + b))
        for pat in _BUDGET_FACT_RES:
            bm = pat.search(clause)
            if bm:
                lower = re.search(r"\b(?:more than|over|above)\b", bm.group(0)) and "never" not in bm.group(0)
                facts.append(FactHit("budget", f"{'min' if lower else 'max'} {float(bm.group(1)):g}",
                    "neutral",
                                     EXPLICIT, sentence))
                break
        if _LOW_BUDGET_RE.search(clause):
            facts.append(FactHit("budget", "low", "neutral", INFERRED, sentence))
        occ_cue = _OCCASION_FACT_RE.search(clause)
        future = _FUTURE_RE.search(clause)
        for occ in find_mentions(clause):
            if occ.kind != "occasion" or occ.value not in _EVENT_OCCASIONS:
                continue
            if (occ_cue and occ_cue.start() < occ.start) or _MY_EVENT_RE.search(clause[: occ.start]):
                facts.append(FactHit("occasion", occ.value, "neutral", EXPLICIT, sentence))
            elif future:
                facts.append(FactHit("occasion", occ.value, "neutral", INFERRED, sentence))
        prev_like = bool(likes) or (prev_like and not kept)
    for bm in _BRAND_CUE_RE.finditer(raw):
        brand = bm.group("brand").strip(" .")
        if brand.split()[0] in _NOT_BRANDS or find_mentions(brand.lower()):
            continue
        cue_text = bm.group(0).lower()
        polarity = "dislike" if re.search(r"hate|dislike|not|n't|stand", cue_text) else "like"
        for name in re.split(r"\s+(?:and|&)\s+", brand):
            if name and name.split()[0] not in _NOT_BRANDS:
                facts.append(FactHit("brand", name, polarity, EXPLICIT, sentence))
    for bm in _BRAND_LOWER_RE.finditer(norm):
        if not any(f.kind == "brand" for f in facts):
            facts.append(FactHit("brand", bm.group("brand"), "like", EXPLICIT, sentence))
    return facts, spans


# --------------------------------------------------------------------------------------------------
# The parsed message
# --------------------------------------------------------------------------------------------------
