"""A deterministic planner: keyword and grammar rules turn a shopper's message into a validated plan.

It is the honest baseline a learned planner has to beat. One step per turn: it reads the message
(normalised: accents, contractions, currency, numbers written as words, modest typo repair), finds
the catalog vocabulary in it (categories, colours, styles, materials, occasions) and which of those
are negated ("no black", "without a bag"), the price constraints, and which shown item a phrase
refers to ("the second one", "the bag", "SHT-0042", "it"). It then picks one intent and fills that
tool's arguments, and separately notices lasting preferences ("I love navy", "I'm a size M").
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from agent.catalog.vocab import (
    CATEGORY_LABELS,
    CATEGORY_PATTERNS,
    CATEGORY_SYNONYMS,
    COLOR_PATTERNS,
    COLOR_SYNONYMS,
    FOOTWEAR,
    GROUP_SYNONYMS,
    MATERIAL_PATTERNS,
    MATERIAL_SYNONYMS,
    OCCASION_PATTERNS,
    OCCASION_SYNONYMS,
    OCCASIONS,
    STYLE_PATTERNS,
    STYLE_SYNONYMS,
)
from agent.plan import FactKind, ImageInfo, Intent, Plan, PlannerInput, PreferenceFact, ShownItem, ToolCall

__all__ = [
    "Mention", "ParsedMessage", "PriceHit", "Reference", "RulesPlanner", "find_mentions", "find_prices",
    "find_reference", "mark_negations", "normalize_text", "parse_message", "price_slots",
]

SEARCH = "search_catalog"
RECOMMEND = "recommend_outfit"
ALTERNATIVES = "find_alternatives"
RECALL = "recall_outfit"
GENERATE = "generate_image"
TRY_ON = "virtual_try_on"

Polarity = Literal["like", "dislike", "neutral"]

EXPLICIT = 0.9
INFERRED = 0.6

# --------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMWORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_NUMSEQ_RE = re.compile(
    rf"\b(?:a(?=\s+(?:hundred|thousand)\b)|(?:{_NUMWORD})\b)"
    rf"(?:(?:\s+|-)(?:{_NUMWORD})\b|(?:(?<=hundred)|(?<=thousand))\s+and\s+(?:{_NUMWORD})\b)*"
)

_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r"\bi'm\b|\bim\b", "i am"),
    (r"\bi'd\b", "i would"),
    (r"\bi've\b|\bive\b", "i have"),
    (r"\bi'll\b", "i will"),
    (r"\bcan't\b|\bcant\b|\bcannot\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\b(do|does|did|is|are|was|were|has|have|had|would|should|could)n't\b", r"\1 not"),
    (r"\b(do|does|did|is|are|was|were|has|have|had|would|should|could)nt\b", r"\1 not"),
    (r"\b(it|that|what|there|here|who|where|how|this|he|she)'s\b", r"\1 is"),
    (r"\b(that|what|there|where|how)s\b", r"\1 is"),
    (r"\b(you|they|we)'re\b", r"\1 are"),
    (r"\b(you|they|we)'ve\b", r"\1 have"),
    (r"\blet's\b", "let us"),
)

_PHRASES: tuple[tuple[str, str], ...] = (
    (r"\b(?:take|have|get) a (?:quick |closer )?look\b", "see"),
    (r"\bdress code\b", "outfit rules"),
    (r"\bdress(?:ing)? up\b", "dressed up"),
    (r"\bdress(?:ing)? down\b", "casual"),
    (r"\bdress shoes\b", "formal shoes"),
    (r"\btop (one|item|pick|result|option)\b", r"first \1"),
    (r"\bw/o\b", "without"),
    (r"\bw/", "with "),
    (r"&", " and "),
    (r"\bt shirts?\b", "t-shirt"),
    (r"\bcolou?red\b", "coloured"),
    (r"\bnon-?\s*(?=[a-z])", "non "),
)

#: Words typo repair may correct towards (all lower case, at least 5 letters). Colour synonyms that are
#: ordinary words ("sand", "stone", "wine") and ambiguous occasion words are left out on purpose.
_KEYWORDS: frozenset[str] = frozenset(
    w for w in (
        *(s for syn in CATEGORY_SYNONYMS.values() for s in syn if " " not in s),
        *COLOR_SYNONYMS, "gray", "burgundy", "charcoal", "maroon", "lavender", "mustard",
        *(s for syn in STYLE_SYNONYMS.values() for s in syn if " " not in s),
        *(s for syn in MATERIAL_SYNONYMS.values() for s in syn if " " not in s),
        *(s for syn in OCCASION_SYNONYMS.values() for s in syn if " " not in s and s not in (
            "work", "job", "class", "run", "running", "trip", "coffee", "drinks", "club", "date", "lunch",
            "jog",
            "jogging", "flight", "saturday", "sunday", "ceremony", "presentation")),
        "shoes", "footwear", "outfit", "outfits", "cheaper", "cheapest", "expensive", "affordable", "pricier",
        "fancier", "premium", "alternative", "alternatives", "similar", "instead", "something", "anything",
        "nothing", "everything", "recommend", "suggest", "another", "different", "options", "budget", "total",
        "altogether", "generate", "picture", "image", "design", "imagine", "create", "forget", "remember",
        "preferences", "delete", "favourite", "favorite", "colour", "color", "virtual", "please", "looking",
        "search", "thanks", "hello", "weather", "recipe", "sportier", "dressier", "smarter", "second",
        "third",
        "fourth", "fifth", "first", "under", "below", "maximum", "minimum", "between", "without", "except",
        "avoid", "wear", "wearing", "match", "matching", "swap", "replace", "show", "find", "vegan", "never",
        "hate", "love", "prefer", "size", "spend", "usually", "together", "complete", "style", "these",
        "those", "other", "option", "each", "piece", "dinner", "wedding", "interview", "office",
    ) if len(w) >= 5
)

#: Ordinary words that must never be "corrected" (len >= 5; shorter words are never corrected).
_COMMON: frozenset[str] = frozenset("""
about above after again against along already also although always among another anyone anything
around asked because become been before behind being below beside besides better between beyond
bought bring brought build built buying called could couldn doing during either enough especially
every everyone everything example except family feels friend friends getting given going great having
hello itself kinda known large later least leave little looked looking looks lovely maybe might money
month months morning mostly mother father sister brother husband partner daughter cousin colleague
might needs never night nothing noticed often other others otherwise outside perhaps person place plans
please pretty quite rather really right saying seems since small smaller something sometimes somewhere
still such sure taking thank thanks their there these thing things think those though thought three
through today together tomorrow tonight totally trying under until upon using usually wanted wants
watch water wearing weather weekend where whether which while whole whose would wouldn write wrong
years young yours yourself skirt skirts shorts scarf scarves belts socks suits loafers pumps jewelry
jewellery necklace earrings beanie gloves tights stockings lingerie swimsuit bikini swimwear romper
jumpsuit overalls dungarees dressed dressing worn wears sweet sizes medium fitted loose tight baggy
slim skinny cropped oversized colours colors colourful colorful coloured print printed floral striped
stripes pattern plain matches goes styles styled styling brand brands price prices pricey spend items
pieces choice choose picks photo photos upload attached selfie store shopping order delivery return
returns refund fits fitting sorry great beautiful gorgeous stylish trendy modern vintage retro comfy
comfortable light heavy winter spring autumn summer rainy sunny chilly looks shall whats start stuff
another anymore everybody nobody somebody people thinking wondering wonder believe actually basically
probably definitely honestly literally simply quickly change changed hours minutes seconds weeks
monday tuesday wednesday thursday friday saturday sunday january february march april june july august
september october november december holiday christmas easter moment event events special smart shine
shiny sleeve sleeves sleeveless collar pocket pockets button buttons zipper hooded fabric fabrics
texture quality brands label labels designer model models picture pictures image images draw drawing
world shirt short shoes shoe heels boots prefer preferred hates loved loves likes liked dislike
dislikes stand stands cheap bigger cheaply nicer classy fancy funky bright darker lighter pastel muted neutral
neutrals
""".split())

_TOKEN_RE = re.compile(r"[a-z]+")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _parse_number(words: Sequence[str]) -> int:
    total, current = 0, 0
    for w in words:
        if w == "and":
            continue
        if w == "a":
            current += 1
        elif w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = (current or 1) * 100
        elif w == "thousand":
            total += (current or 1) * 1000
            current = 0
    return total + current


def _words_to_numbers(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        words = re.split(r"[\s-]+", m.group(0))
        if words in (["one"], ["zero"]):
            return m.group(0)
        return str(_parse_number(words))

    return _NUMSEQ_RE.sub(sub, text)


def _proper_nouns(text: str) -> set[str]:
    """Return capitalised words that do not start a sentence (names: never typo-corrected)."""
    names = set()
    for m in re.finditer(r"\b[A-Z][a-z]+\b", text):
        before = text[: m.start()].rstrip()
        if before and before[-1] not in ".!?\"'(":
            names.add(m.group(0).lower())
    return names


def _correct_typos(text: str, keep: set[str] | frozenset[str] = frozenset()) -> str:
    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        if len(word) < 5 or word in _KEYWORDS or word in _COMMON or word in keep:
            return word
        pool = [k for k in _KEYWORDS if k[0] == word[0] and abs(len(k) - len(word)) <= 2]
        close = difflib.get_close_matches(word, pool, n=1, cutoff=0.8)
        return close[0] if close else word

    return _TOKEN_RE.sub(sub, text)


def normalize_text(text: str) -> str:
    """Return the message lower-cased, without accents or contractions, prices and numbers as digits.

    Examples: ``"Nothing over €80 each!"`` -> ``"nothing over 80 each!"``, ``"under fifty"`` ->
    ``"under 50"``, ``"I'm after a chepaer outift"`` -> ``"i am after a cheaper outfit"``.
    """
    names = _proper_nouns(_strip_accents(text))
    t = _strip_accents(text).replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    t = t.replace("\u201c", '"').replace("\u201d", '"').lower()
    t = re.sub(r"[€$£¥]", " ", t)
    t = re.sub(r"(\d),(\d{3})\b", r"\1\2", t)
    t = re.sub(r"(\d),(\d{1,2})\b", r"\1.\2", t)
    t = re.sub(r"\b(\d+(?:\.\d+)?)\s?k\b", lambda m: str(int(float(m.group(1)) * 1000)), t)
    for pattern, repl in _CONTRACTIONS:
        t = re.sub(pattern, repl, t)
    t = _words_to_numbers(t)
    t = re.sub(r"(\d)\s*(?:eur|euro|euros|usd|dollars?|bucks|gbp|pounds?|quid|quids)\b", r"\1", t)
    t = re.sub(r"\b(?:eur|usd|gbp)\s*(?=\d)", "", t)
    t = _correct_typos(t, names)
    for pattern, repl in _PHRASES:
        t = re.sub(pattern, repl, t)
    return re.sub(r"\s+", " ", t).strip()


# --------------------------------------------------------------------------------------------------
# Vocabulary mentions and negation
# --------------------------------------------------------------------------------------------------


def _alt_pattern(words: Iterable[str]) -> re.Pattern[str]:
    alts = sorted({re.escape(w) for w in words}, key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(alts) + r")(?![a-z])")


_GROUP_RE = _alt_pattern(GROUP_SYNONYMS)

#: Comparatives and hedged forms that name a style ("sportier", "less formal").
_STYLE_EXTRA: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), s) for p, s in (
        (r"\bsportier\b|\bmore athletic\b", "sporty"),
        (r"\bdressier\b|\bsmarter\b|\bmore elegant\b|\bfancier look\b|\bless casual\b|\btoo casual\b",
            "formal"),
        (r"\bless formal\b|\btoo formal\b|\btoo dressy\b|\bless dressy\b|\bless sporty\b|\bmore relaxed\b"
         r"|\bcomfier\b|\bcomfy\b|\bcomfortable\b|\bless smart\b", "casual"),
        (r"\bedgier\b", "streetwear"),
        (r"\bclassier\b", "classic"),
        (r"\bglammier\b|\bglitzier\b|\bsexier\b", "evening"),
        (r"\bbusiness casual\b|\bsmart casual\b", "business"),
    )
)

#: Occasion words that are ordinary words too: they count only after "for/to/at/on/a...".
_AMBIGUOUS_OCCASION_WORDS = frozenset({
    "work", "job", "class", "run", "running", "trip", "coffee", "drinks", "club", "date", "lunch", "jog",
    "jogging", "flight", "training session", "saturday", "sunday", "ceremony", "presentation",
})
_OCCASION_LEAD_RE = re.compile(
    r"\b(?:for|to|at|on|a|an|my|our|first|during|before|after|the|this|next|some|go|going|attend|attending)"
    r"\s+(?:\w+\s+)?$"
)

_KIND_PRIORITY = {"occasion": 0, "category": 1, "group": 2, "color": 3, "material": 4, "style": 5}


@dataclass(frozen=True)
class Mention:
    """One vocabulary term found in the normalised message."""

    kind: str
    value: str
    start: int
    end: int
    negated: bool = False

    def overlaps(self, start: int, end: int) -> bool:
        """Whether the mention overlaps the span ``[start, end)``."""
        return self.start < end and start < self.end


def _occasion_ok(text: str, m: re.Match[str]) -> bool:
    word = m.group(0)
    if word not in _AMBIGUOUS_OCCASION_WORDS:
        return True
    before = text[: m.start()]
    if word == "date" and re.search(r"\bup to $", before):
        return False
    return bool(_OCCASION_LEAD_RE.search(before))


def _top_ok(text: str, m: re.Match[str]) -> bool:
    before, after = text[: m.start()], text[m.end():]
    if re.search(r"\b(?:on|over the|from the|at the|from)\s+$", before):
        return False
    return not re.match(r"\s*(?:of|notch|rated|quality|brands?|priority|\d)\b", after)


def find_mentions(text: str) -> list[Mention]:
    """Return the vocabulary mentions of ``text`` (normalised), longest match first, left to right."""
    found: list[Mention] = []
    tables: tuple[tuple[str, dict[str, re.Pattern[str]]], ...] = (
        ("category", CATEGORY_PATTERNS), ("color", COLOR_PATTERNS), ("material", MATERIAL_PATTERNS),
        ("style", STYLE_PATTERNS), ("occasion", OCCASION_PATTERNS),
    )
    for kind, patterns in tables:
        for value, pat in patterns.items():
            for m in pat.finditer(text):
                if kind == "occasion" and not _occasion_ok(text, m):
                    continue
                if kind == "category" and value == "top" and not _top_ok(text, m):
                    continue
                if kind == "material" and value == "knit" and re.match(r"\s*(?:wear)\b", text[m.end():]):
                    continue
                found.append(Mention(kind, value, m.start(), m.end()))
    for m in _GROUP_RE.finditer(text):
        found.append(Mention("group", "shoes", m.start(), m.end()))
    for pat, style in _STYLE_EXTRA:
        for m in pat.finditer(text):
            found.append(Mention("style", style, m.start(), m.end()))
    found.sort(key=lambda x: (-(x.end - x.start), _KIND_PRIORITY[x.kind], x.start))
    chosen: list[Mention] = []
    for cand in found:
        if not any(c.overlaps(cand.start, cand.end) for c in chosen):
            chosen.append(cand)
    return sorted(chosen, key=lambda x: x.start)


_NEG_CUE_RE = re.compile(
    r"\b(?:do not (?:like|love|want|need|include|fancy)|not a (?:big |huge )?fan of|not into|no need for|"
    r"can not stand|anything but|anything other than|everything but|other than|but not|rather than|"
    r"leave out|leaving out|instead of|nothing in|sick of|tired of|done with|allergic to|gone off|"
    r"no more(?! than)|never(?! mind)|no|not|nothing|none|without|avoid|avoiding|except|excluding|exclude|"
    r"minus|skip|skipping|lose|ditch|drop|hate|dislike|detest|loathe|non|zero)\b"
)
_OPINION_CUE_RE = re.compile(r"do not (?:like|love|fancy)|not a|not into|hate|dislike|detest|loathe|sick of|"
                             r"tired of|can not stand")
_NEG_FILLER_RE = re.compile(
    r"(?:\s+|,|/|-|\bor\b|\band\b|\bnor\b|\ba\b|\ban\b|\bthe\b|\bany\b|\bin\b|\bwith\b|\bof\b|\bmore\b|"
    r"\btoo\b|"
    r"\bcoloured\b|\bcolou?rs?\b|\bstuff\b|\bitems?\b|\bat all\b|\bwear(?:ing)?\b|\bbuy(?:ing)?\b|"
    r"\bpieces?\b|"
    r"\bfor\b|\bso\b|\breally\b|\bthings?\b|\bshades? of\b)*"
)
_FREE_RE = re.compile(r"^[- ]free\b")


def mark_negations(text: str, mentions: list[Mention]) -> list[Mention]:
    """Return the mentions with ``negated`` set where a negation governs them ("no black or red")."""
    by_start = {m.start: i for i, m in enumerate(mentions)}
    negated: set[int] = set()
    for cue in _NEG_CUE_RE.finditer(text):
        pos = cue.end()
        first = True
        while True:
            fill = _NEG_FILLER_RE.match(text, pos)
            nxt = fill.end() if fill else pos
            idx = by_start.get(nxt)
            if idx is None:
                break
            mention = mentions[idx]
            pointed = re.search(r"\b(?:the|that|this|those|these)\b", text[pos:nxt])
            if mention.kind in ("category", "group") and (
                    cue.group(0) == "instead of" or (_OPINION_CUE_RE.match(cue.group(0)) and pointed)):
                break
            if mention.kind == "occasion":
                break
            negated.add(idx)
            pos = mention.end
            head = by_start.get(pos + 1)
            if (first and mention.kind == "color" and head is not None
                    and mentions[head].kind in ("category", "group") and text[pos] == " "):
                pos = mentions[head].end
            first = False
    for i, m in enumerate(mentions):
        if _FREE_RE.match(text[m.end:]):
            negated.add(i)
    return [replace(m, negated=True) if i in negated else m for i, m in enumerate(mentions)]


# --------------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------------

_N = r"(\d+(?:\.\d+)?)"
_NOT_UNIT = (r"(?!\d)(?!\.\d)(?!\s*(?:%|percent|days?|weeks?|months?|years?|yrs?|hours?|hrs?|minutes?|mins?|"
    r"pm|am|"
             r"people|persons|guests|kids|outfits|items|cm|mm|kg|degrees|st|nd|rd|th|inch(?:es)?)\b)")
_EACH = (r"(?:each|per item|per piece|per garment|a piece|apiece|an item|per thing|"
         r"for each(?: item| piece| one)?|a pop)")
_TOTAL = (r"(?:in total|total|altogether|all together|all in|all-in|overall|combined|for everything|"
          r"for the (?:whole|entire|full) (?:outfit|look|thing|lot)|for the lot|for all of it|for it all|"
          r"all told|for the outfit|for the look|for all)")
_MAXW = (r"(?:under|below|beneath|less than|lower than|cheaper than|max|maximum|at most|up to|upto|no more "
    r"than|"
         r"not more than|nothing over|nothing above|nothing more than|not over|not above|no higher than|"
         r"within|not exceeding|no pricier than|<=|<)")
_MINW = (r"(?:over|above|more than|at least|starting at|starting from|min|minimum|upwards of|no less than|"
         r"not less than|higher than|pricier than|from|>=|>)")

_PRICE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(p)) for kind, p in (
        ("range", rf"\bbetween\s+{_N}\s*(?:and|-|to)\s*{_N}{_NOT_UNIT}"),
        ("range", rf"\bfrom\s+{_N}\s+to\s+{_N}{_NOT_UNIT}"),
        ("range", rf"(?<![#\w.]){_N}\s*(?:-|to)\s*{_N}{_NOT_UNIT}"),
        ("total", rf"\b(?:total|overall|combined)(?:\s+budget)?(?:\s+(?:of|is|under|below|max|up to|at most|"
                  rf"no more than|less than|around|about))*\s+{_N}{_NOT_UNIT}"),
        ("total", rf"(?:\b{_MAXW}\s*)?{_N}{_NOT_UNIT}\s+{_TOTAL}\b"),
        ("budget", rf"\bbudget(?:\s+(?:is|of|around|about|at|=|:|roughly|max|under|up "
            rf"to))*\s+{_N}{_NOT_UNIT}"),
        ("budget", rf"\b(?:spend|spending|pay|paying)\s+(?:up to |at most |no more than |max |about |around |"
                   rf"under |less than )?{_N}{_NOT_UNIT}"),
        ("budget", rf"\bi (?:have|got|only have)\s+(?:about |around )?{_N}{_NOT_UNIT}\s+(?:to spend|to play "
            rf"with)"),
        ("each", rf"\beach\s+(?:one\s+)?{_MAXW}\s*{_N}{_NOT_UNIT}"),
        ("max", rf"\b{_MAXW}\s*{_N}{_NOT_UNIT}(?:\s+{_EACH})?"),
        ("max", rf"(?<![#\w.]){_N}{_NOT_UNIT}\s*(?:{_EACH}\s+)?(?:or less|or under|or below|or cheaper|and "
            rf"under|"
                rf"and below|max|maximum|tops|at most|at the most|or lower)\b"),
        ("min", rf"(?<![#\w.]){_N}{_NOT_UNIT}\s*(?:or more|and up|and above|plus(?!\s*\d)|\+(?!\s*\d)|"
                rf"minimum|or over|at least|"
                rf"or higher)"),
        ("min", rf"\b{_MINW}\s*{_N}{_NOT_UNIT}(?:\s+{_EACH})?"),
        ("around", rf"\b(?:around|about|roughly|approximately|approx|circa|~)\s*{_N}{_NOT_UNIT}"),
        ("max", rf"\bfor\s+(?:just\s+|only\s+)?{_N}{_NOT_UNIT}(?:\s+{_EACH})?(?=\s*(?:$|[,.!?]|or less))"),
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
                              r"my colou?r)|looks? (?:bad|awful|terrible) on me)\b")

_CLAUSE_SPLIT_RE = re.compile(
    r"[.!?;:\n]+|"
    r"\s*,?\s*(?<!anything )(?<!everything )(?<!all )\b(?:but|though|although|however|whereas|while|so|"
    r"because|since|except that)\b\s*|"
    r",\s*(?=(?:and\s+)?(?:can|could|would|will|please|show|find|what|do|does|any|i|my|is|are|also|"
    r"help|give|get|need|want|looking|how)\b)|"
    r"\s+and\s+(?=(?:i|my|can|could|please|show|find|what|do|also|help|need|want|would|looking|give|get|any|"
    r"how)\b)"
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
    rf"about |around |up to |at most |no more than |max |a maximum of )?{_N}",
    rf"\bmy (?:usual |normal |typical |general |monthly |clothing |clothes )*budget (?:is|of|tends to be)"
    rf"\s+(?:(?:usually|normally|about|around|roughly|under|up to|at most|max)\s+)*{_N}",
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


def _sentence_facts(raw: str, norm: str) -> tuple[list[FactHit], list[tuple[int, int]]]:
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

_ID_RE = re.compile(r"\b([a-z]{3}-\d{4})\b")
_SENTENCE_RE = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass
class ParsedMessage:
    """Everything the rules read from one message (positions refer to ``norm``)."""

    raw: str
    norm: str
    masked: str
    request: str
    mentions: list[Mention]
    prices: list[PriceHit]
    ids: list[tuple[str, int, int]]
    facts: list[FactHit]
    fact_spans: list[tuple[int, int]] = field(default_factory=list)
    greeting: bool = False

    def of(self, kind: str, *, negated: bool | None = False,
           outside: Sequence[tuple[int, int]] = ()) -> list[Mention]:
        """Return the mentions of a kind (``negated=None`` for both), optionally outside some spans."""
        return [
            m for m in self.mentions
            if m.kind == kind and (negated is None or m.negated == negated)
            and not any(m.overlaps(s, e) for s, e in outside)
        ]

    def values(self, kind: str, **kw: Any) -> list[str]:
        """Return the distinct values of :meth:`of`, in order of mention."""
        return list(dict.fromkeys(m.value for m in self.of(kind, **kw)))


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for s, e in spans:
        for i in range(max(0, s), min(len(chars), e)):
            chars[i] = " "
    return "".join(chars)


_DRESS_VERB_RE = re.compile(r"\bdress(?= (?:me|us|him|her|them|myself|yourself|up)\b)")


def parse_message(text: str) -> ParsedMessage:
    """Normalise a message and read its vocabulary, negations, prices, item ids and preference facts."""
    raw_sentences = [s for s in _SENTENCE_RE.split(text.strip()) if s.strip()] or [text]
    parts: list[str] = []
    facts: list[FactHit] = []
    fact_spans: list[tuple[int, int]] = []
    offset = 0
    for raw in raw_sentences:
        norm_s = normalize_text(raw)
        sent_facts, spans = _sentence_facts(raw, norm_s)
        facts.extend(sent_facts)
        fact_spans.extend((offset + s, offset + e) for s, e in spans)
        parts.append(norm_s)
        offset += len(norm_s) + 1
    norm = " ".join(parts)
    ids = [(m.group(1).upper(), m.start(), m.end()) for m in _ID_RE.finditer(norm)]
    prices = find_prices(_mask(norm, [(s, e) for _, s, e in ids]))
    masked = _mask(norm, [(s, e) for _, s, e in ids] + [(p.start, p.end) for p in prices])
    greeting = _GREETING_RE.match(masked)
    if greeting:
        masked = _mask(masked, [(greeting.start(), greeting.end())])
    verbs = [m.span() for m in _DRESS_VERB_RE.finditer(masked)]  # "dress me for ..." names no dress
    mentions = mark_negations(masked, [m for m in find_mentions(masked)
                                       if not any(m.overlaps(a, b) and m.kind == "category" for a, b in verbs)])
    request = _mask(masked, fact_spans)
    return ParsedMessage(raw=text, norm=norm, masked=masked, request=request, mentions=mentions,
                         prices=prices, ids=ids, facts=facts, fact_spans=fact_spans,
                         greeting=greeting is not None)


# --------------------------------------------------------------------------------------------------
# Intent cues
# --------------------------------------------------------------------------------------------------


def _re(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts))


_FORGET_RE = _re(
    r"\bforget\b", r"\bdelete (?:my|all my|all of my|everything|all)\b", r"\berase\b", r"\bwipe\b",
    r"\bremove (?:my|all my) (?:data|preferences|profile|info|information|details|memory)\b",
    r"\bclear (?:my|all my|your memory)\b", r"\bunlearn\b", r"\bstop remembering\b", r"\breset my\b",
    r"\bdo not remember\b", r"\bright to be forgotten\b",
)
_FORGET_ALL_RE = _re(
    r"\b(?:forget|delete|erase|wipe|clear|remove|reset)\b.*\b(?:everything|all|me|my data|my profile|"
    r"my preferences|my info|my information|my details|what you know|anything|memory)\b",
    r"\bforget about me\b", r"\bright to be forgotten\b",
)
_NEVER_MIND_RE = re.compile(r"^\W*(?:oh\W+|ok\W+|okay\W+|no\W+)?(?:forget (?:it|about it)|never ?mind)\W*$")
_FORGET_LAST_RE = re.compile(r"\bforget (?:that|what i (?:just )?said|the last thing)\W*$")

_MEMORY_RE = _re(
    r"\bwhat (?:do|did) you (?:know|remember|have|store|keep)(?: stored| saved)? (?:about|abt|on) me\b",
    r"\bwhat (?:are|were) my (?:preferences|likes|tastes)\b", r"\bwhat do you remember\b",
    r"\bwhat have you (?:learned|learnt|saved|stored|remembered|noted)\b",
    r"\b(?:show|tell|list|give)(?: me)?(?: about)? my (?:preferences|profile|data|likes|style profile)\b",
    r"\bwhat did i tell you\b", r"\bdo you remember (?:me|what i (?:like|said|told))\b",
    r"^\W*my (?:saved |stored )?(?:preferences|profile)\W*$", r"\bwhat (?:do )?i like\?",
    r"\bwhat do you know about my\b",
)
_IMAGE_RE = _re(
    r"\bdesign(?:s)? (?:me |us )?(?:a|an|some|my|something|me)\b",
    r"\bdraw(?: me| us)? (?:a|an|some|something|my|me|what)\b",
    r"\bsketch(?: me| us)? (?:a|an|some|something|me)\b", r"\bpaint(?: me)? (?:a|an|some|me)\b",
    r"\bimagine (?:a|an|some|me|how)\b", r"\bvisuali[sz]e\b", r"\bdream up\b", r"\brender(?: me)? (?:a|an)\b",
    r"\bgenerate\b(?! (?:me )?(?:an? |some |another )?(?:outfit|look|ideas?|options?|suggestions?))",
    r"\b(?:create|make|produce|show)(?: me| us)? (?:an? |some )?(?:new )?(?:ai )?(?:image|picture|"
    r"photo|pic|illustration|drawing|rendering|render|concept art|mock-?up)s?\b(?! of (?:the|this|it|that|"
    r"my))",
)
_IMAGE_LEAD_RE = re.compile(
    r"^.*?\b(?:design(?:s)?|draw|sketch|paint|imagine|visuali[sz]e|dream up|render|generate|create|make|"
    r"produce|"
    r"show)(?: me| us)?(?: an?| some)?(?: new)?(?: ai)?(?: (?:image|picture|photo|pic|illustration|drawing|"
    r"rendering|render|design|concept art|mock-?up)s?)?(?: (?:of|for|showing|with))?\b\s*"
)
_THEN_FIND_RE = re.compile(
    r"\b(?:and|then|,)\s+(?:then\s+|also\s+|now\s+)?(?:find|search|look for|get|show)(?: me)?\b.*"
    r"\b(?:real|in stock|closest|similar|like it|like that|like this|matching|lookalikes?|available|the shop)\b"
)
_EDIT_RE = re.compile(
    r"\b(?:show|make|do|render|draw|paint|redo|turn|change|try|want|see)(?: me)?\s+(?:it|that|this|the design|"
    r"this design|that design|the same(?: one)?)\b|\b(?:what|how) about (?:it )?(?:in|with)\b|^(?:now |and |but )?"
    r"(?:in|with|without)\b|\bsame (?:thing|design|one|again) (?:in|with|but)\b"
)
_EDIT_DETAIL_RE = re.compile(r"\b(?:long|short|longer|shorter|no|without|with)\s+(?:sleeves?|collar|hood|buttons?|"
                             r"belt|zip|pockets?)\b")
_TRY_ON_RE = _re(
    r"\btry[- ]?on\b", r"\btry (?:it|this|that|them|these|those|one|the [a-z0-9 #-]{1,30}?) on\b",
    r"\bon me\b", r"\bon my (?:photo|picture|pic|selfie|body|image)\b",
    r"\bvirtual(?:ly)? (?:try|fitting|dressing)\b",
    r"\bfitting room\b", r"\bput (?:it|this|that|them) on (?:me|my)\b",
    r"\bhow (?:would|will|does|do) i look in\b",
    r"\bsee (?:myself|me) in\b",
)
_OUTFIT_WORD = r"(?:outfit|outfits|look|looks|ensemble|combo|combination|set)"
_HIST_ORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "last": -1, "previous": -1, "latest": -1,
             "earlier": -1, "prior": -1, "original": 1, "initial": 1}
_LIKE_THIS_RE = re.compile(
    r"\b(?:(?:look(?:s|ing)? |something |anything |items? |one )?like (?:this|that|these|it|mine|the photo|the picture)"
    r"|similar|same (?:one|thing|style|look)|lookalikes?|dupes?|match(?:es|ing)? (?:this|it|these)"
    r"|do you (?:have|sell|stock) (?:this|these|it|one)|find (?:this|these|it)"
    r"|where can i (?:get|buy) (?:this|these|it)|real ones?|in stock (?:like|that look))\b"
)
_HISTORY_RE = re.compile(
    rf"\b(?P<ord>{'|'.join(sorted(_HIST_ORD, key=len, reverse=True))})\s+(?:one\s+)?{_OUTFIT_WORD}\b|"
    rf"\b{_OUTFIT_WORD}\s+(?:number\s*|no\.?\s*|#\s*)(?P<num>\d+)\b|"
    rf"\b(?P<before>{_OUTFIT_WORD}\s+(?:from\s+)?before(?: that)?)\b|"
    r"\bgo back to (?:the )?(?P<gb>first|second|third|previous|last|earlier|other|original)(?: one)?\b|"
    r"(?P<prev>\bwhat (?:did|was it that) you (?:just )?(?:suggest|recommend|show)(?:ed)?\b|"
    r"\b(?:that|the) (?:outfit|look) again\b)"
)
_HISTORY_NEW_RE = re.compile(
    r"\b(?:new|another|different|fresh|cheaper|without|instead|change|swap|replace|except|similar|like)\b|"
    r"\b(?:more|less|but) (?!again\b)[a-z]+"
)

_OCCASION_WORDS = "|".join(sorted({re.escape(w) for syn in OCCASION_SYNONYMS.values() for w in syn}, key=len,
                                  reverse=True))
_RECOMMEND_RE = _re(
    r"\boutfits?\b", r"\bensembles?\b",
    r"\bwhat (?:should|shall|can|could|would|do|to|will) (?:i |we )?wear\b",
    r"\bwhat to wear\b",
    r"\b(?:something|anything|things?|clothes) (?:nice |good |smart |casual |cute )?to wear\b",
    r"\bwear (?:to|for|with|on|at)\b", r"\bgo(?:es)? (?:well |nicely |best |great )?with\b",
    r"\bgoing with\b",
    r"\bpair(?:s|ed|ing)? (?:well |nicely )?(?:it |this |that |them |these |those )?with\b", r"\bto pair\b",
    r"\bmatch(?:es|ing)? (?:with )?(?:it|this|that|these|those|them|my)\b", r"\bto match\b",
    r"\bcomplete (?:the|this|my|a|an) (?:look|outfit)\b", r"\bcomplete look\b",
    r"\bstyle (?:these|this|it|them|that|those|my|me)\b",
    r"\bhow (?:should|do|can|could|would|to) (?:i )?style\b",
    r"\bput (?:together|an outfit|a look)\b", r"\bput \w+ together\b", r"\bcombine\b", r"\bcoordinate\b",
    r"\bhead to toe\b", r"\bfull look\b", r"\bdress me\b",
    r"\b(?:a|the|new|another|different|whole|full|complete|casual|formal|smart|evening|party|office|summer|"
    r"winter|beach|date|dinner|wedding|cute|nice|chic|good|great) look\b",
    r"\bbuild (?:me )?(?:a |an )?(?:look|outfit)\b", r"\bbuild (?:something )?around\b",
    r"\b(?:around|with) (?:this|it|that|my|these|those)\b(?! (?:one|ones)\b)(?=.*\b(?:wear|style|look|go)\b)",
    r"\bwhat (?:goes|would go|will go|looks good|works) with\b", r"\bhow to dress\b",
    r"\b(?:i|to|should i|how do i|how should i) dress (?:up )?(?:for|to)\b",
    r"\blooks? (?:good |nice |great )?with\b", r"\bwhat can i wear\b", r"\bwhat would you wear\b",
    r"\bpair(?:s|ed|ing)? (?:my|the|these|those|this|it|them)\b.*\bwith\b",
    rf"\bsomething\b[^.?!]*\bfor (?:a |an |the |my |our |this |next )?(?:\w+ )?(?:{_OCCASION_WORDS})\b",
)
_REQUEST_WORDS_RE = re.compile(
    r"\b(?:need|want|something|anything|ideas?|suggest|suggestions?|recommend|recommendations?|help|what|"
    r"show|find|give|any)\b|\?"
)
_CHEAPER_RE = _re(
    r"\bcheaper\b", r"\bcheapest\b", r"\bless (?:expensive|pricey|costly|money)\b", r"\bmore affordable\b",
    r"\baffordable\b", r"\blower (?:price|priced|cost)\b",
    r"\bbudget (?:version|option|alternative|one|pick)s?\b",
    r"\btoo (?:expensive|pricey|much|costly|dear)\b", r"\bnot so (?:expensive|pricey)\b", r"\bbargain\b",
    r"\bcosts? less\b", r"\bcheap (?:one|version|option)\b", r"\bsave (?:some )?money\b",
)
_PRICIER_RE = _re(
    r"\bpricier\b", r"\bmore expensive\b", r"\bfancier\b", r"\bpremium\b", r"\bhigher[- ]end\b",
    r"\bhigh[- ]end\b", r"\bluxury\b", r"\bluxurious\b", r"\bmore upmarket\b", r"\bupmarket\b",
    r"\bbetter quality\b", r"\bhigher quality\b", r"\bsplurge\b", r"\bdearer\b", r"\bcostlier\b",
    r"\bposher\b",
)
_MORE_RE = re.compile(
    r"^\W*(?:can you |could you |please )?(?:show me |got |any |give me |see |i want |i would like )?"
    r"(?:some |any )?more(?: options| please| of (?:these|those|them|that)|"
    r" like (?:this|that|these|it|them))?\W*$"
)
_ALT_RE = _re(
    r"\balternatives?\b", r"\balternatively\b", r"\bsimilar\b", r"\bsomething else\b", r"\banything else\b",
    r"\bsomething different\b", r"\binstead\b", r"\bswap\b", r"\breplace\b", r"\breplacement\b",
    r"\bexchange\b",
    r"\bswitch\b", r"\bchange (?:the|it|this|that|them)\b",
    r"\bother (?:options?|ones?|colou?rs?|choices?|styles?|versions?|materials?|shades?)\b",
    r"\banother (?:one|option|colou?r|version|choice|shade)\b",
    r"\bdifferent (?:one|option|colou?r|version|style|material|choice|shade)s?\b",
    r"\bmore (?:options|like (?:this|that|it))\b", r"\blike (?:this|that|it) (?:one )?but\b",
    r"\bsame (?:but|in)\b",
    r"\bbut in\b", r"\bother than (?:this|that|it)\b", r"\bvariations?\b", r"\bdupes?\b",
    r"\blook-?alikes?\b",
    r"\bin (?:a |another |a different )?(?:colou?r|shade)\b",
    r"\b(?:have|got|get|it|this|that|them|one|ones) in (?:a |another )?[a-z]+\b",
    r"\b(?:show|see) (?:me )?(?:it|this|that|them|these|those|one) in\b", r"\bcome in\b", r"\bavailable in\b",
    r"\bin \w+ instead\b", r"\bwhat else\b", _MORE_RE.pattern,
)


def _words(table: dict[str, tuple[str, ...]]) -> str:
    return "|".join(sorted({re.escape(w) for syn in table.values() for w in syn}, key=len, reverse=True))


_STYLE_WORDS = _words(STYLE_SYNONYMS)
_COLOR_WORDS = _words(COLOR_SYNONYMS)
_MATERIAL_WORDS = _words(MATERIAL_SYNONYMS)
_STYLE_CHANGE_RE = re.compile(
    rf"\b(?:more|less|too|a bit more|bit more|slightly more|a little more)\s+(?:{_STYLE_WORDS})\b|"
    r"\b(?:sportier|dressier|smarter|edgier|classier|comfier|glammier|glitzier|more relaxed|more elegant)\b"
)
_COLOR_CHANGE_RE = re.compile(rf"\b(?:in|but)\s+(?:a\s+|an\s+)?(?:{_COLOR_WORDS}|{_MATERIAL_WORDS})\b")
_VEGAN_RE = re.compile(r"\bvegan\b(?! leather)|\bcruelty[- ]free\b|\bno animal\b|\banimal[- ]free\b")
_DISLIKE_ITEM_RE = re.compile(
    r"\b(?:i )?(?:do not|did not) (?:really )?(?:like|love)\b|"
    r"\bnot (?:a (?:big )?fan of|keen on|sure about)\b|\bi (?:hate|dislike)\b"
)
_UNCARRIED_RE = re.compile(
    r"\b(?:hats?|caps?|beanies?|scarf|scarves|gloves?|socks?|belts?|ties|jewell?e?ry|necklaces?|earrings?|"
    r"bracelets?|watches|sunglasses|swimsuits?|swimwear|bikinis?|lingerie|underwear|bras|skirts?|shorts|suits|"
    r"umbrellas?|wallets?|perfumes?|make-?up|tights)\b"
)
_BROWSE_RE = re.compile(
    r"\bwhat (?:do you have|have you got|is in stock|do you sell|do you carry|is new|can i buy|"
    r"do you stock)\b|"
    r"\bwhat (?:kinds?|sorts?|types?) of (?:things|items|clothes|products) do you\b"
)
_SEARCH_RE = _re(
    r"\bshow\b", r"\bfind\b", r"\bsearch\b", r"\blooking for\b", r"\blook for\b",
    r"\bdo you (?:have|sell|carry|stock)\b", r"\bhave you got\b", r"\bgot any\b", r"\bany\b",
    r"\bi (?:want|need|would like|would love)\b", r"\bbrowse\b", r"\bwhere can i (?:get|buy|find)\b",
    r"\bi am after\b", r"\bin search of\b", r"\blist\b", r"\bbuy\b", r"\bshop\b", r"\bget me\b",
    r"\brecommend\b", r"\bsuggest\b", r"\bsee\b", r"\bis there\b", r"\bare there\b",
    r"\bwhat (?:kind of|sort of)\b",
)
_GREETING_RE = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|howdy|yo|hallo|hola|bonjour|greetings|good (?:morning|afternoon|evening|day))"
    r"(?: there| again| you| all| everyone)?\b[\s,!.]*"
)
_THANKS_RE = _re(r"\bthanks\b", r"\bthank you\b", r"\bthx\b", r"\bty\b", r"\bcheers\b",
    r"\bmuch appreciated\b",
                 r"\bappreciate it\b")
_ABOUT_RE = _re(
    r"\bwho are you\b", r"\bwhat are you\b", r"\bwhat can you do\b", r"\bwhat do you do\b",
    r"\bhow (?:does this|do you|does it) work\b", r"^\W*help\W*$", r"\bhelp me\W*$", r"\bwhat is this\b",
    r"\bare you (?:a |an )?(?:bot|robot|human|ai|real|person)\b", r"\byour name\b", r"\bhow can you help\b",
    r"\bwhat are your (?:features|capabilities)\b", r"\bwhat can i (?:ask|do)\b", r"\bhow are you\b",
    r"\bi need help\W*$", r"\bcan you help\W*$",
)
_BYE_RE = _re(r"\bbye\b", r"\bgoodbye\b", r"\bsee (?:you|ya)\b", r"\bgood night\b", r"\bciao\b",
    r"\bthat is all\b")
_ACK_RE = re.compile(
    r"^\W*(?:ok|okay|cool|great|nice|perfect|awesome|lovely|brilliant|sounds good|got it|yes|yeah|yep|no|"
    r"nope|sure|"
    r"fine|alright|wow|haha|lol|love it|amazing|excellent|good|i (?:really )?(?:love|like) (?:it|this|that|"
    r"them|these|those|the \w+ one|this one|that one))\b[\s!.]*$"
)
_OOS_RE = _re(
    r"\bweather\b", r"\bforecast\b", r"\bnews\b", r"\bheadlines\b", r"\bpolitic", r"\belection\b",
    r"\bpresident\b", r"\bprime minister\b", r"\bstock market\b", r"\bstock price\b", r"\bbitcoin\b",
    r"\bcrypto",
    r"\bmath", r"\bcalculate\b", r"\bequation\b", r"\bsolve\b", r"\bintegral\b", r"\bcode\b", r"\bcoding\b",
    r"\bprogram(?:ming)?\b", r"\bpython\b", r"\bjavascript\b", r"\bjava\b", r"\bsql\b", r"\bdebug\b",
    r"\balgorithm\b", r"\brecipes?\b", r"\bcook(?:ing)?\b", r"\bbake\b", r"\bbaking\b", r"\bscore\b",
    r"\bwho won\b", r"\bfootball\b", r"\bsoccer\b", r"\bcapital of\b", r"\btranslate\b", r"\bhomework\b",
    r"\bjoke\b", r"\bmovies?\b", r"\bfilms?\b", r"\bsongs?\b", r"\blyrics\b", r"\bpoem\b", r"\bessay\b",
    r"\bwhat time is it\b", r"\bbook (?:a|me a) (?:flight|hotel|table|taxi)\b", r"\bhotels?\b", r"\bdoctor\b",
    r"\bmedical\b", r"\blawyer\b", r"\btax(?:es)?\b", r"\bmeaning of life\b", r"\bplanet\b",
    r"\d+\s*(?:[-+*/x^]|plus|minus|times|divided by)\s*\d+", r"\bspell\b", r"\bdefine\b",
    r"\bmy order\b", r"\bdelivery\b", r"\bshipping\b", r"\brefunds?\b", r"\breturn (?:my|an|the|this)\b",
    r"\btrack(?:ing)?\b", r"\bpassword\b", r"\bcustomer service\b",
)

# --------------------------------------------------------------------------------------------------
# References to shown items
# --------------------------------------------------------------------------------------------------

_ORD_WORDS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
    "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9,
    "tenth": 10, "10th": 10, "last": -1, "final": -1, "latter": -1, "former": 1, "middle": 0,
}
_ITEM_NOUN = r"(?:one|ones|item|option|piece|pick|suggestion|result|choice|product|thing)"
_ORD_RE = re.compile(
    rf"\b(?:(?P<det>the|that|this|your|ur|my)\s+(?:very\s+)?)?"
    rf"(?P<ord>{'|'.join(sorted(_ORD_WORDS, key=len, reverse=True))})\b(?:\s+(?P<noun>{_ITEM_NOUN})\b)?"
)
_ORD_REJECT_RE = re.compile(
    rf"\s+(?:{_OUTFIT_WORD}|time|times|date|week|month|year|night|season|summer|winter|autumn|spring|minute|"
    r"day|of all|place|impression|name|thing i)\b"
)
_NUM_REF_RE = re.compile(
    r"(?:\b(?:number|no\.?|nr\.?|num|item|option|pick|choice|result|product)\s*#?\s*|#\s*)(?P<num>\d{1,2}|"
    r"one)\b"
)
_DETERMINERS = frozenset({"the", "that", "this", "those", "these", "your", "its", "same", "ur"})
_REF_ADJECTIVES = frozenset({
    "same", "other", "new", "little", "nice", "cute", "lovely", "previous", "pair", "of", "one", "shown",
    "suggested", "recommended", "very",
})
_PRONOUN_RE = re.compile(r"\b(?:this one|that one|these ones|those ones|this|that|it|them|these|those)\b")
_TIME_NOUNS = frozenset({
    "weekend", "evening", "week", "summer", "winter", "season", "time", "occasion", "event", "morning",
    "night",
    "year", "month", "spring", "autumn", "fall", "afternoon", "outfit", "look", "kind", "sort", "style",
    "type",
    "is", "was", "i", "you", "would", "will", "goes", "go", "looks", "the",
})
_RECOMMEND_PRONOUN_RE = re.compile(
    r"\bcomplete (?:the|this|my) look\b|"
    r"\b(?:with|around|match|matches|pair|style|styling|complete|complement|to)\s+(?P<p>it|this|that|these|"
    r"those|them|this one|that one|this piece|this item|these ones)\b|"
    r"\bcomplete (?:the|this|my) look\b|^\W*(?:and\s+)?(?:what about\s+)?(?P<q>this|these)\b"
)
_ANCHOR_CUE_RE = re.compile(
    r"\b(?:go(?:es)?|going|wear(?:ing)?|pair(?:s|ed|ing)?|match(?:es|ing)?|looks? good|works?|combine|style|"
    r"styling|complement|build(?: (?:an outfit|a look|something|it))?|based|built|centred|centered)\s+"
    r"(?:well\s+|nicely\s+|best\s+|great\s+)?(?:with|around|on)\b|"
    r"\bto match\b|\bmatch(?:es|ing)?\b|\baround\b|\bi (?:have|own|bought|got|already have|just bought|"
    r"already own|have got)\b|\bmy\b|\bstyle\b|\bstyling\b"
)


@dataclass(frozen=True)
class Reference:
    """What a phrase refers to: a shown item (``item_id``), or why it could not be resolved."""

    kind: str
    item_id: str | None = None
    span: tuple[int, int] | None = None
    category: str | None = None
    problem: str = ""


def _display(view: PlannerInput) -> list[ShownItem]:
    if view.last_shown:
        return list(view.last_shown)
    if not view.shown:
        return []
    latest = max(s.turn for s in view.shown)
    return sorted((s for s in view.shown if s.turn == latest), key=lambda s: s.position)


def _pools(view: PlannerInput) -> list[list[ShownItem]]:
    return [_display(view), sorted(view.shown, key=lambda s: (-s.turn, s.position))]


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


def _choices(view: PlannerInput) -> str:
    shown = _display(view)
    if not shown:
        return ("I haven't shown you any items yet. Ask me to find something or to put an outfit together "
                "first.")
    return "Here is what I showed you last: " + "; ".join(_label(s) for s in shown) + "."


def _ordinal_index(view: PlannerInput, idx: int, head: Mention | None) -> tuple[ShownItem | None, str]:
    shown = _display(view)
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


def _next_mention(parsed: ParsedMessage, pos: int) -> Mention | None:
    m = re.match(r"\s*", parsed.masked[pos:])
    at = pos + (m.end() if m else 0)
    for mention in parsed.mentions:
        if mention.start == at:
            return mention
    return None


def _head_after(parsed: ParsedMessage, pos: int) -> Mention | None:
    """Return the category mention right after ``pos``, skipping colour/material/style adjectives."""
    for _ in range(4):
        mention = _next_mention(parsed, pos)
        if mention is None:
            return None
        if mention.kind in ("category", "group"):
            return mention
        if mention.kind not in ("color", "material", "style"):
            return None
        pos = mention.end
    return None


def _determiner_before(parsed: ParsedMessage, start: int) -> tuple[str, int] | None:
    """Return the determiner governing a noun phrase that starts at ``start`` and where it begins."""
    pos = start
    for _ in range(5):
        m = re.search(r"([a-z#]+)\s*$", parsed.masked[:pos])
        if not m:
            return None
        word = m.group(1)
        if word in _DETERMINERS or word == "my":
            return word, m.start(1)
        inside = any(x.start <= m.start(1) < x.end and x.kind in ("color", "material", "style")
                     for x in parsed.mentions)
        if not inside and word not in _REF_ADJECTIVES and word not in _ORD_WORDS:
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
    for m in _ORD_RE.finditer(text):
        head = _head_after(parsed, m.end())
        rejected = not m.group("noun") and _ORD_REJECT_RE.match(text, m.end())
        if rejected or (not m.group("det") and not m.group("noun") and head is None):
            continue
        if m.group("ord") in ("last", "final", "former", "latter", "middle") and not (m.group("noun") or head
                                                                                       or m.group("det")):
            continue
        if m.group("det") == "my" and not m.group("noun"):
            continue
        item, problem = _ordinal_index(view, _ORD_WORDS[m.group("ord")], head)
        end = head.end if head is not None else m.end()
        return Reference("ordinal", item.id if item else None, (m.start(), end), problem=problem)
    for m in _NUM_REF_RE.finditer(text):
        num = 1 if m.group("num") == "one" else int(m.group("num"))
        item, problem = _ordinal_index(view, num, None)
        return Reference("ordinal", item.id if item else None, (m.start(), m.end()), problem=problem)
    for mention in parsed.mentions:
        if mention.kind not in ("category", "group") or mention.negated:
            continue
        det = _determiner_before(parsed, mention.start)
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
        shown = _display(view)
        if not shown or any(w in _ORD_WORDS or w in ("other", "same", "new") for w in words):
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
    pron = _PRONOUN_RE.search(text)
    kind = "pronoun" if pron else "focus"
    span = (pron.start(), pron.end()) if pron else None
    if view.focus_item_id:
        return Reference(kind, view.focus_item_id, span)
    shown = _display(view)
    if len(shown) == 1:
        return Reference(kind, shown[0].id, span)
    return Reference("none" if not pron else "pronoun", None, span,
                     problem="I'm not sure which item you mean." if shown else
                     "I haven't shown you any items yet, so I can't tell which one you mean.")


# --------------------------------------------------------------------------------------------------
# The planner
# --------------------------------------------------------------------------------------------------


def _props(view: PlannerInput, tool: str) -> set[str] | None:
    schema = view.tools.get(tool)
    if schema is None:
        return None
    props = schema.get("properties")
    return set(props) if isinstance(props, dict) else None


def _clean_args(args: dict[str, Any], allowed: set[str] | None) -> dict[str, Any]:
    out = {}
    for key, value in args.items():
        if value is None or value == [] or value == "" or value is False:
            continue
        if allowed is not None and key not in allowed:
            continue
        out[key] = value
    return out


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


_QUERY_FILLER_RE = re.compile(
    r"\b(?:hi|hello|hey|please|pls|plz|can you|could you|would you|will you|can i|could i|may i|"
    r"i would (?:like|love)(?: to see)?|i want(?: to see)?|i need|i am looking for|i am after|"
    r"i am searching for|looking for|look for|search for|search|find me|find|show me|show|see|do you have|"
    r"do you sell|do you carry|"
    r"do you stock|have you got|got any|are there any|is there any|is there an?|are there|any|some|for me|me|"
    r"thanks|thank you|in the catalog|in stock|available|what about|how about|let me see|options?|"
    r"get me|i am|just|maybe|perhaps|also|other|else|help me|help|anything|something|stuff)\b"
)


_ANCHOR_FILLERS = frozenset({
    "a", "an", "some", "my", "the", "these", "those", "this", "that", "pair", "of", "new", "favourite",
    "favorite", "old", "own", "with", "around",
})
_FORGET_SPECIFIC_RE = re.compile(r"\bforget (?:that|about) (?:i|my)\b.*\b(?:like|love|hate|size|budget)\b")
_CARRIED = _join([CATEGORY_LABELS[c][1] for c in CATEGORY_LABELS])
_YES_RE = re.compile(r"^\W*(?:yes|yeah|yep|yup|sure|ok|okay|please|go (?:on|ahead)|do it|why not|sounds good)"
                     r"(?:\W+(?:please|thanks|thank you|go ahead|do it|sure))*\W*$")
_OFFER_OUTFIT_RE = re.compile(r"put together an outfit for the ([a-z ]+)\?", re.IGNORECASE)
_OFFER_SEARCH_RE = re.compile(r"(?:show you|search the catalog for) (.+?)(?:\?| instead)", re.IGNORECASE)
_OFFER_CHEAPER_RE = re.compile(r"Want something cheaper\?")
_PRAISE_RE = re.compile(
    r"^\W*(?:(?:oh|wow|omg|yes|ok|okay|great|perfect)\W+)*"
    r"(?:i (?:really |absolutely |totally )?(?:love|like|adore) (?:it|this|that|them|these|those|"
    r"(?:the|this|that) (?:\w+ )?(?:one|outfit|look|combo|combination|set))|"
    r"(?:it|this|that|these|they|this \w+|that \w+) (?:is|are|looks?) (?:so |really |very |just )?"
    r"(?:great|nice|perfect|lovely|beautiful|gorgeous|amazing|good|cool|cute|stunning|fab|fabulous|brilliant))"
    r"\W*(?:thanks|thank you)?\W*$"
)
_PRICE_QUESTION_RE = re.compile(r"\bhow much (?:is|are|does|do|was|were)\b|\bwhat is the price of\b|"
                                r"\bwhat does (?:it|this|that|the \w+) cost\b")
_SIZE_QUESTION_RE = re.compile(r"\b(?:have|get|come|comes|available|it|this|that|them|one|ones) in "
                               r"(?:a )?size\b|\bin my size\b|\bwhat sizes?\b|\bsize (?:guide|chart)\b")
_GENERIC_OCCASIONS = frozenset({"weekend", "holiday", "vacation", "travel", "work"})


def _main_occasion(parsed: ParsedMessage) -> str | None:
    occasions = parsed.values("occasion")
    specific = [o for o in occasions if o not in _GENERIC_OCCASIONS]
    chosen = specific or occasions
    return chosen[0] if chosen else None


def _search_query(parsed: ParsedMessage, drop: Sequence[tuple[int, int]]) -> str | None:
    spans = list(drop) + [(m.start, m.end) for m in parsed.mentions if m.negated]
    for cue in _NEG_CUE_RE.finditer(parsed.masked):
        if any(m.negated and 0 <= m.start - cue.end() <= 12 for m in parsed.mentions):
            spans.append((cue.start(), cue.end()))
    text = _mask(parsed.masked, spans)
    text = _GREETING_RE.sub(" ", text)
    text = _QUERY_FILLER_RE.sub(" ", text)
    text = re.sub(r"\b(?:that|which) (?:are|is)\b", " ", text)
    text = re.sub(r"[^a-z0-9' -]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" -'")
    text = re.sub(r"^(?:a|an|the|some|any|for|with|in|of|and|or)\b\s*", "", text)
    text = re.sub(r"\s+(?:a|an|the|for|with|in|of|and|or|please)$", "", text).strip()
    return text or None


class RulesPlanner:
    """Plan one step per turn from keywords and small grammars (no model, fully deterministic)."""

    name = "rules"

    def __init__(self, *, min_image_confidence: float = 0.5, name: str = "rules") -> None:
        """Configure the confidence needed to trust an uploaded photo's predicted category/colour."""
        self.name = name
        self.min_image_confidence = min_image_confidence

    # -- entry point -------------------------------------------------------------------------------

    def plan(self, view: PlannerInput) -> Plan:
        """Return the plan for this step: one round of tool calls, or a direct reply."""
        parsed = parse_message(view.text)
        plan = self._route(parsed, view)
        if view.step > 0 and view.results:
            return Plan(intent=plan.intent, final=True)
        if plan.intent not in ("forget", "show_memory"):
            plan.facts = self._facts(parsed, view)
        plan.final = True
        return plan

    # -- routing -----------------------------------------------------------------------------------

    def _route(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        text, req = parsed.masked, parsed.request
        if _NEVER_MIND_RE.search(text):
            return Plan(intent="small_talk", reply="No problem. What would you like to look at next?")
        if _FORGET_RE.search(text):
            return self._forget(parsed, view)
        if _MEMORY_RE.search(text):
            return self._show_memory(view)
        if _YES_RE.search(text):
            accepted = self._accept_offer(view)
            if accepted is not None:
                return accepted
        if _PRAISE_RE.search(text):
            return Plan(intent="small_talk", reply="Glad you like it! Want alternatives to any piece, or "
                        "something else?")
        price_q = _PRICE_QUESTION_RE.search(req)
        if price_q:
            ref = find_reference(parsed, view)
            item = view.shown_by_id(ref.item_id) if ref.item_id else None
            if item is not None:
                return Plan(intent="small_talk", reply=f"The {item.title} ({item.id}) costs "
                            f"{item.price:.2f}. Want something cheaper?")
        edit = self._edit_generated(parsed, view)
        if edit is not None:
            return edit
        if _IMAGE_RE.search(req):
            return self._generate(parsed, view)
        if _TRY_ON_RE.search(req):
            return self._try_on(parsed, view)
        hist = _HISTORY_RE.search(req)
        if hist and not _HISTORY_NEW_RE.search(req) and not parsed.prices:
            return self._history(hist, view)
        if _RECOMMEND_RE.search(req) or self._styled_look(parsed):
            return self._recommend(parsed, view)
        if _LIKE_THIS_RE.search(req) and SEARCH in view.tools and self._recent_image(view) is not None:
            return self._search_by_image(parsed, view)
        alt = self._alternatives_plan(parsed, view)
        if alt is not None:
            return alt
        cats = [m for m in parsed.of("category", negated=None) + parsed.of("group", negated=None)
                if not any(m.overlaps(s, e) for s, e in parsed.fact_spans)]
        fashion = [m for m in parsed.mentions if not any(m.overlaps(s, e) for s, e in parsed.fact_spans)]
        occasions = [m for m in fashion if m.kind == "occasion"]
        oos = _OOS_RE.search(_mask(parsed.norm, parsed.fact_spans))
        if not cats and not oos:
            missing = _UNCARRIED_RE.search(req)
            if missing and (_SEARCH_RE.search(req) or req.strip(" ?!.") == missing.group(0)):
                return self._not_carried(view, missing.group(0))
            if _BROWSE_RE.search(req):
                return self._browse(view)
        if cats or (fashion and not oos and not occasions):
            return self._search(parsed, view)
        if occasions and not oos and _REQUEST_WORDS_RE.search(req):
            return self._recommend(parsed, view)
        if parsed.facts:
            return self._noted(parsed, view)
        greeting = parsed.greeting
        rest = text.strip(" !.,?")
        if _ABOUT_RE.search(req) or (greeting and not rest):
            return self._small_talk(view, "hello" if greeting and not rest else "about")
        if _THANKS_RE.search(req):
            return self._small_talk(view, "thanks")
        if _BYE_RE.search(req):
            return self._small_talk(view, "bye")
        if oos:
            return self._out_of_scope(view)
        if _ACK_RE.search(rest):
            return self._small_talk(view, "ack")
        browsing = re.search(r"\b(?:show|find|search|looking for|do you have|browse)\b", req)
        if (parsed.prices or browsing) and SEARCH in view.tools:
            return self._search(parsed, view)
        return self._small_talk(view, "unsure")

    @staticmethod
    def _styled_look(parsed: ParsedMessage) -> bool:
        """Whether the message asks for "a <occasion/style> look" ("date night look", "boho look")."""
        for m in re.finditer(r"\blooks?\b", parsed.request):
            before = parsed.request[: m.start()].rstrip()
            if any(x.end == len(before) and x.kind in ("occasion", "style") for x in parsed.mentions):
                return True
        return False

    def _accept_offer(self, view: PlannerInput) -> Plan | None:
        """Turn "yes please" into the action the assistant offered in its last message, if any."""
        said = [h.get("content", "") for h in view.history if h.get("role") == "assistant"]
        last = said[-1] if said else ""
        m = _OFFER_OUTFIT_RE.search(last)
        if m:
            occasion = m.group(1).strip().lower()
            return self._call(view, "recommend_outfit", RECOMMEND,
                              {"occasion": occasion if occasion in OCCASIONS else None})
        m = _OFFER_SEARCH_RE.search(last)
        if m:
            return self._search(parse_message(m.group(1)), view)
        m = _OFFER_CHEAPER_RE.search(last)
        if m and view.focus_item_id:
            return self._call(view, "find_alternatives", ALTERNATIVES,
                              {"item_id": view.focus_item_id, "cheaper": True})
        return None

    # -- intents -----------------------------------------------------------------------------------

    def _unavailable(self, view: PlannerInput, what: str, offer: str = "") -> Plan:
        extra = ""
        if SEARCH in view.tools:
            extra = f" I can search the catalog{(' for ' + offer) if offer else ''} instead if you like."
        return Plan(intent="unavailable", reply=f"{what} isn't available in this installation yet.{extra}")

    def _call(self, view: PlannerInput, intent: Intent, tool: str, args: dict[str, Any],
              offer: str = "") -> Plan:
        if tool not in view.tools:
            names = {SEARCH: "Catalog search", RECOMMEND: "Outfit recommendation", ALTERNATIVES:
                     "Finding alternatives", RECALL: "Recalling earlier outfits",
                     GENERATE: "Image generation",
                     TRY_ON: "Virtual try-on"}
            return self._unavailable(view, names.get(tool, tool), offer)
        return Plan(intent=intent, calls=[ToolCall(name=tool, args=_clean_args(args, _props(view, tool)))])

    def _clarify(self, view: PlannerInput, problem: str, question: str) -> Plan:
        parts = [p for p in (problem, question) if p]
        if _display(view):
            parts.append(_choices(view))
        return Plan(intent="clarify", reply=" ".join(parts))

    def _search(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        like_cats = [(s, e) for s, e in parsed.fact_spans]
        categories: list[str] = []
        for m in parsed.of("category", outside=like_cats) + parsed.of("group", outside=like_cats):
            categories.extend(FOOTWEAR if m.kind == "group" else (m.value,))
        excluded: list[str] = []
        for m in parsed.of("category", negated=True) + parsed.of("group", negated=True):
            excluded.extend(FOOTWEAR if m.kind == "group" else (m.value,))
        styles = parsed.values("style")
        if not styles:
            for occ in parsed.values("occasion"):
                styles.extend(s for s in OCCASIONS.get(occ, ()) if s not in styles)
        args: dict[str, Any] = {
            "query": _search_query(parsed, parsed.fact_spans),
            "categories": list(dict.fromkeys(c for c in categories if c not in excluded)),
            "colors": parsed.values("color"),
            "exclude_colors": parsed.values("color", negated=True),
            "exclude_categories": list(dict.fromkeys(excluded)),
            "styles": styles,
            "materials": parsed.values("material"),
            "exclude_materials": self._excluded_materials(parsed),
            **price_slots(parsed.prices, outfit=False),
        }
        return self._call(view, "search", SEARCH, args)

    @staticmethod
    def _recent_image(view: PlannerInput) -> ImageInfo | None:
        """Return the photo attached this turn, or an image generated in the previous turn."""
        if view.new_images:
            return view.new_images[-1]
        if view.images and view.images[-1].kind == "generated" and view.images[-1].turn >= view.turn - 1:
            return view.images[-1]
        return None

    def _search_by_image(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        """Search for items that look like the photo attached this turn, under the message's filters."""
        plan = self._search(parsed, view)
        props = _props(view, SEARCH)
        if not plan.calls or (props is not None and "image" not in props):
            return plan
        args = dict(plan.calls[0].args)
        args["image"] = "latest"
        args.pop("query", None)
        photo = self._recent_image(view)
        assert photo is not None
        category = self._image_category(photo)
        if not args.get("categories") and category:
            args["categories"] = [category]
        plan.calls[0].args = args
        return plan

    @staticmethod
    def _excluded_materials(parsed: ParsedMessage) -> list[str]:
        out = parsed.values("material", negated=True)
        if _VEGAN_RE.search(parsed.masked):
            out = list(dict.fromkeys([*out, "leather", "suede"]))
        return out

    def _recommend(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        text = parsed.masked
        args: dict[str, Any] = {}
        used: list[tuple[int, int]] = []
        ref_id: str | None = None
        anchor_cat: str | None = None
        anchor_color: str | None = None
        footwear_anchor = False
        described = self._described_anchor(parsed)
        if parsed.ids:
            ref_id = parsed.ids[0][0]
        elif described is None or described[2] != "my":
            ref = find_reference(parsed, view)
            if ref.kind in ("ordinal", "attribute") or (ref.kind == "category" and ref.item_id):
                if ref.item_id is None:
                    return self._clarify(view, ref.problem, "Which item should I build the outfit around?")
                ref_id = ref.item_id
                if ref.span:
                    used.append(ref.span)
        if ref_id is None and described is not None:
            mention, colors, _, span = described
            used.append(span)
            if mention.kind == "group":
                footwear_anchor = True
            else:
                anchor_cat = mention.value
            anchor_color = colors[0] if colors else None
        pron: re.Match[str] | None = None
        for cand in _RECOMMEND_PRONOUN_RE.finditer(text):
            word = cand.group("p") or cand.group("q") or ""
            following = re.match(r"\s+([a-z]+)", text[cand.end():])
            if word in ("this", "that", "these", "those") and following and (
                    following.group(1) in _TIME_NOUNS or _next_mention(parsed, cand.end()) is not None):
                continue
            pron = cand
            break
        image = view.new_images[-1] if view.new_images else None
        if ref_id is not None:
            args["anchor_item_id"] = ref_id
        elif image is not None and (pron is not None or (anchor_cat is None and not footwear_anchor)):
            args["anchor_image"] = "latest"
            anchor_cat = anchor_cat or self._image_category(image)
            anchor_color = anchor_color or self._image_color(image)
        elif pron is not None and anchor_cat is None and not footwear_anchor:
            focus = view.focus_item_id or (_display(view)[0].id if len(_display(view)) == 1 else None)
            if focus is None:
                problem = ("I'm not sure which item you mean." if _display(view) else
                           "I can't see what 'this' is yet.")
                return self._clarify(view, problem, "Attach a photo, describe the piece (for example 'black "
                                     "ankle boots'), or tell me which item to build around.")
            args["anchor_item_id"] = focus
        if "anchor_item_id" not in args:
            args["anchor_category"] = anchor_cat
            args["anchor_color"] = anchor_color
        args["occasion"] = _main_occasion(parsed)
        styles = parsed.values("style", outside=used)
        if not styles and _PRICIER_RE.search(text) and re.search(r"\bfancier\b|\bposher\b", text):
            styles = ["formal"]
        args["style"] = styles[0] if styles else None
        include, colors = [], []
        for m in parsed.of("category", outside=used):
            include.append(m.value)
        for m in parsed.of("color", outside=used):
            head = _next_mention(parsed, m.end)
            if head is not None and head.kind in ("category", "group") and not head.negated:
                continue
            colors.append(m.value)
        excluded: list[str] = []
        for m in parsed.of("category", negated=True) + parsed.of("group", negated=True):
            excluded.extend(FOOTWEAR if m.kind == "group" else (m.value,))
        if footwear_anchor:
            excluded.extend(FOOTWEAR)
        excluded = list(dict.fromkeys(excluded))
        args["include_categories"] = [c for c in dict.fromkeys(include)
                                      if c not in excluded and c != anchor_cat]
        args["exclude_categories"] = excluded
        args["colors"] = list(dict.fromkeys(colors))
        args["exclude_colors"] = parsed.values("color", negated=True)
        args["exclude_materials"] = self._excluded_materials(parsed)
        args.update(price_slots(parsed.prices, outfit=True))
        return self._call(view, "recommend_outfit", RECOMMEND, args)

    def _described_anchor(self, parsed: ParsedMessage
                          ) -> tuple[Mention, list[str], str, tuple[int, int]] | None:
        """Find a garment the outfit must go with ("go with my black ankle boots")."""
        text = parsed.masked
        for cue in _ANCHOR_CUE_RE.finditer(text):
            pos = cue.end()
            det = ""
            colors: list[str] = []
            for _ in range(6):
                mention = _next_mention(parsed, pos)
                if mention is not None and not mention.negated:
                    if mention.kind in ("category", "group"):
                        word = cue.group(0).split()[0]
                        kind = "my" if word in ("my", "i") else det
                        return mention, colors, kind, (cue.start(), mention.end)
                    if mention.kind == "color":
                        colors.append(mention.value)
                        pos = mention.end
                        continue
                    if mention.kind in ("material", "style"):
                        pos = mention.end
                        continue
                    break
                w = re.match(r"\s*([a-z']+)", text[pos:])
                if not w:
                    break
                word = w.group(1)
                if word in _ANCHOR_FILLERS:
                    det = word if word in ("my", "the", "these", "those", "this", "that") else det
                    pos += w.end()
                    continue
                break
        for m in parsed.mentions:
            if m.kind in ("category", "group") and not m.negated:
                det_m = _determiner_before(parsed, m.start)
                if det_m is not None and det_m[0] == "my":
                    colors = [c.value for c in parsed.mentions
                              if c.kind == "color" and det_m[1] <= c.start < m.start]
                    return m, colors, "my", (det_m[1], m.end)
        return None

    def _image_category(self, image: ImageInfo) -> str | None:
        if image.category and image.category_confidence >= self.min_image_confidence:
            return image.category
        return None

    def _image_color(self, image: ImageInfo) -> str | None:
        if image.color and image.color_confidence >= self.min_image_confidence:
            return image.color
        return None

    def _alternatives_plan(self, parsed: ParsedMessage, view: PlannerInput) -> Plan | None:
        """Return a find_alternatives (or clarify) plan when the message asks to change an item."""
        req = parsed.request
        strong = bool(_CHEAPER_RE.search(req) or _PRICIER_RE.search(req) or _ALT_RE.search(req))
        style_change = bool(_STYLE_CHANGE_RE.search(req))
        neg_material = bool(parsed.of("material", negated=True, outside=parsed.fact_spans)) or bool(
            _VEGAN_RE.search(req))
        color_change = bool(_COLOR_CHANGE_RE.search(req))
        dislike_item = bool(_DISLIKE_ITEM_RE.search(req))
        if not (strong or style_change or neg_material or color_change or dislike_item):
            return None
        ref = find_reference(parsed, view)
        if dislike_item and not (strong or style_change or neg_material or color_change):
            if ref.kind not in ("id", "ordinal", "category", "attribute", "pronoun"):
                return None
            strong = True
        cats = [m for m in parsed.of("category") + parsed.of("group")
                if not (ref.span and m.overlaps(*ref.span))]
        search_cue = bool(_SEARCH_RE.search(req))
        if ref.kind in ("id", "ordinal", "category", "attribute"):
            pass
        elif cats:
            bare = find_reference(parsed, view, allow_bare=True)
            if not (strong or style_change) or bare.kind != "category" or bare.item_id is None:
                return None
            ref = bare
        elif search_cue and not (strong or style_change) and ref.kind != "pronoun":
            return None
        if ref.item_id is None:
            if ref.kind == "none" and not (strong or style_change):
                return None
            if ALTERNATIVES not in view.tools:
                return self._unavailable(view, "Finding alternatives")
            return self._clarify(view, ref.problem, "Which item would you like alternatives to?")
        if _SIZE_QUESTION_RE.search(req):
            return Plan(intent="small_talk", reply="I can't check sizes: the catalog doesn't list sizes or "
                        "stock per size. I can find similar items, or cheaper ones, or the same in another "
                        "colour.")
        return self._alternatives(parsed, view, ref)

    def _alternatives(self, parsed: ParsedMessage, view: PlannerInput, ref: Reference) -> Plan:
        outside = [ref.span] if ref.span else []
        text = _mask(parsed.masked, outside)
        args: dict[str, Any] = {"item_id": ref.item_id}
        args["cheaper"] = bool(_CHEAPER_RE.search(text))
        args["pricier"] = bool(_PRICIER_RE.search(text)) and not args["cheaper"]
        original = view.shown_by_id(ref.item_id) if ref.item_id else None
        wanted = parsed.values("color", outside=outside)
        colors = [c for c in wanted if original is None or c != original.color or len(wanted) == 1]
        args["color"] = colors[0] if colors else None
        args["exclude_colors"] = parsed.values("color", negated=True, outside=outside)
        if (not colors and original is not None
                and re.search(r"\b(?:different|another|other|new) (?:colou?r|shade)s?\b", text)):
            args["exclude_colors"] = list(dict.fromkeys([*args["exclude_colors"], original.color]))
        styles = parsed.values("style", outside=outside)
        if not styles and re.search(r"\bfancier\b|\bposher\b", text) and not args["pricier"]:
            styles = ["formal"]
        if not styles:
            occasions = parsed.values("occasion")
            if occasions and OCCASIONS.get(occasions[0]):
                styles = [OCCASIONS[occasions[0]][0]]
        args["style"] = styles[0] if styles else None
        materials = parsed.values("material", outside=outside)
        args["material"] = materials[0] if materials else None
        args["exclude_materials"] = self._excluded_materials(parsed)
        prices = price_slots(parsed.prices, outfit=False)
        args["max_price"] = prices.get("max_price")
        args["min_price"] = prices.get("min_price")
        return self._call(view, "find_alternatives", ALTERNATIVES, args)

    def _history(self, match: re.Match[str], view: PlannerInput) -> Plan:
        if match.group("num"):
            index = int(match.group("num"))
        elif match.group("before"):
            index = -2
        else:
            word = match.group("ord") or match.group("gb") or "last"
            index = _HIST_ORD.get(word, -1)
            if word == "other" and len(view.outfits) == 2:
                index = 1
        n = len(view.outfits)
        if n == 0:
            return Plan(intent="history", reply="I haven't recommended an outfit in this conversation yet. "
                        "Tell me the occasion (or a piece you want to wear) and I'll put one together.")
        if index == -2 and n < 2:
            index = -1
        if index > n or index < -n:
            return Plan(intent="history", reply=f"So far I've recommended {n} outfit{'s' if n != 1 else ''}; "
                        f"ask for one between 1 and {n}.")
        return self._call(view, "history", RECALL, {"index": index})

    def _generate(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        then_find = _THEN_FIND_RE.search(parsed.norm)
        norm = parsed.norm[: then_find.start()] if then_find else parsed.norm
        if not parsed.values("category"):
            missing = _UNCARRIED_RE.search(norm)
            if missing:
                return Plan(intent="clarify", reply=f"I can't design {missing.group(0)}: I can only draw garments "
                            f"this shop carries ({_CARRIED}). Shall I design one of those?")
        prompt = _IMAGE_LEAD_RE.sub("", norm, count=1).strip(" .!?")
        prompt = re.sub(r"\b(?:for me|please)\b", "", prompt)
        prompt = re.sub(r"^(?:me|us)\s+", "", re.sub(r"\s+", " ", prompt)).strip(" .,!?") or parsed.norm
        cats = parsed.values("category")
        colors = parsed.values("color")
        if GENERATE not in view.tools:
            return self._unavailable(view, "Image generation", prompt)
        props = _props(view, GENERATE)
        args: dict[str, Any] = {"prompt": prompt, "category": cats[0] if cats else None,
                                "color": colors[0] if colors else None}
        if props is not None:
            for key in ("description", "text"):
                if key in props and "prompt" not in props:
                    args[key] = prompt
            if "style" in props:
                styles = parsed.values("style")
                args["style"] = styles[0] if styles else None
        plan = self._call(view, "generate_image", GENERATE, args)
        search_props = _props(view, SEARCH)
        if then_find and plan.calls and SEARCH in view.tools and (search_props is None or "image" in search_props):
            # generate-then-retrieve in one turn: the new image becomes the query ("latest")
            find: dict[str, Any] = {"image": "latest", "categories": [cats[0]] if cats else None,
                                    **price_slots(parsed.prices, outfit=False)}
            plan.calls.append(ToolCall(name=SEARCH, args=_clean_args(find, search_props)))
        return plan

    def _edit_generated(self, parsed: ParsedMessage, view: PlannerInput) -> Plan | None:
        """Return a ``generate_image`` edit ("show it in blue") of the image generated last turn, if that fits."""
        if GENERATE not in view.tools or not view.images:
            return None
        last = view.images[-1]
        if last.kind != "generated" or last.turn < view.turn - 1 or view.new_images:
            return None
        if view.last_shown and max(s.turn for s in view.last_shown) > last.turn:
            return None  # items were shown after the design: "it" means one of them
        colors = parsed.values("color")
        if not _EDIT_RE.search(parsed.norm) or not (colors or _EDIT_DETAIL_RE.search(parsed.norm)):
            return None
        prompt = re.sub(r"\s+", " ", parsed.norm).strip(" .!?") or "the same design"
        args: dict[str, Any] = {"prompt": prompt, "edit_image": last.sha256[:16], "category": last.category,
                                "color": colors[0] if colors else None}
        return self._call(view, "generate_image", GENERATE, args)

    def _try_on(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        if TRY_ON not in view.tools:
            return self._unavailable(view, "Virtual try-on")
        ref = find_reference(parsed, view)
        if ref.item_id is None:
            return self._clarify(view, ref.problem, "Which item would you like to try on?")
        props = _props(view, TRY_ON)
        item_key = next((k for k in ("item_id", "garment_id", "product_id") if props is None or k in props),
                        "item_id")
        args: dict[str, Any] = {item_key: ref.item_id}
        person_keys = ("person_image", "person", "photo", "image")
        wants_person = props is None or any(k in props for k in person_keys)
        if wants_person and not view.images:
            return Plan(intent="clarify", reply="Attach a photo of yourself (full body or upper body, facing "
                        "the camera) and I'll show the item on you.")
        for key in person_keys:
            if props is None or key in props:
                args[key] = "latest"
                break
        return self._call(view, "try_on", TRY_ON, args)

    def _show_memory(self, view: PlannerInput) -> Plan:
        prefs = view.preferences
        if not prefs:
            return Plan(intent="show_memory", reply="I don't have any preferences stored for you yet. "
                        "Tell me things like 'I love navy', 'no leather' or 'I'm a size M' and I'll remember "
                        "them.")
        likes = [f"{p.value} ({p.kind})" for p in prefs if p.polarity == "like"]
        dislikes = [f"{p.value} ({p.kind})" for p in prefs if p.polarity == "dislike"]
        notes = [f"{p.kind} {p.value}" for p in prefs if p.polarity == "neutral"]
        parts = []
        if likes:
            parts.append(f"you like {_join(likes)}")
        if dislikes:
            parts.append(f"you dislike {_join(dislikes)}")
        if notes:
            parts.append(f"I've noted {_join(notes)}")
        return Plan(intent="show_memory", reply="Here's what I remember: " + "; ".join(parts) + ". "
                    "Say 'forget that I like …' to remove something, or 'forget everything' to start fresh.")

    def _forget(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        text = parsed.masked
        if _FORGET_ALL_RE.search(text) and not _FORGET_SPECIFIC_RE.search(text):
            return Plan(intent="forget", forget=["*"],
                        reply="Done: I've forgotten everything I knew about you. Your preferences are "
                              "deleted.")
        keys: list[str] = []
        for m in parsed.mentions:
            if m.kind in ("color", "category", "style", "material", "occasion"):
                keys.append(f"{m.kind}:{m.value}")
            elif m.kind == "group":
                keys.extend(f"category:{c}" for c in FOOTWEAR)
        for pref in view.preferences:
            value = pref.value.strip().lower()
            if pref.kind in ("size", "budget", "brand", "fit", "other") and (
                    re.search(rf"\b{re.escape(value)}\b", parsed.norm)
                    or re.search(rf"\b(?:my )?{pref.kind}\b", text)):
                keys.append(pref.key())
        for fact in parsed.facts:
            if fact.kind == "brand":
                keys.append(f"brand:{fact.value.strip().lower()}")
        if not keys and _FORGET_LAST_RE.search(text) and view.preferences:
            latest = max(p.source_turn for p in view.preferences)
            keys = [p.key() for p in view.preferences if p.source_turn == latest]
        keys = list(dict.fromkeys(keys))
        asked_kind = re.search(r"\bmy (size|budget|brand|sizes)\b", text)
        if not keys and asked_kind:
            what = asked_kind.group(1)
            return Plan(intent="forget", reply=f"I had nothing stored about your {what}, so there is nothing "
                        "to forget.")
        if not keys:
            return Plan(intent="clarify", reply="What should I forget? For example 'forget that I like red', "
                        "'forget my size', or 'forget everything about me'.")
        stored = {p.key(): p for p in view.preferences}
        known: dict[str, str] = {k: p.polarity for k, p in stored.items()}
        known.update({f"{f.kind}:{f.value.strip().lower()}": f.polarity for f in parsed.facts})
        described = []
        for key in keys:
            kind, _, value = key.partition(":")
            polarity = known.get(key)
            if polarity == "like":
                described.append(f"that you like {value}")
            elif polarity == "dislike":
                described.append(f"that you dislike {value}")
            else:
                value = stored[key].value if key in stored else value
                described.append(f"your {kind} {value}" if kind in ("size", "budget", "occasion") else value)
        return Plan(intent="forget", forget=keys, reply=f"Done: I've forgotten {_join(described)}.")

    def _noted(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        facts = self._facts(parsed, view)

        def label(f: PreferenceFact) -> str:
            if f.kind == "category" and f.value in CATEGORY_LABELS:
                return CATEGORY_LABELS[f.value][1]
            return f.value

        likes = [label(f) for f in facts if f.polarity == "like"]
        dislikes = [label(f) for f in facts if f.polarity == "dislike"]
        notes = [f"{f.kind} {f.value}" for f in facts if f.polarity == "neutral"]
        parts = []
        if likes:
            parts.append(f"you like {_join(likes)}")
        if dislikes:
            parts.append(f"you'd rather avoid {_join(dislikes)}")
        if notes:
            parts.append(f"your {_join(notes)}")
        offer = ""
        occasion = next((f.value for f in facts if f.kind == "occasion"), None)
        liked = next((f for f in facts if f.polarity == "like" and f.kind in ("color", "category", "style",
                                                                              "material")), None)
        if occasion and RECOMMEND in view.tools:
            offer = f" Want me to put together an outfit for the {occasion}?"
        elif liked is not None and SEARCH in view.tools:
            what = {"color": f"something in {liked.value}", "material": f"something in {liked.value}",
                    "style": f"something {liked.value}",
                    "category": f"some {CATEGORY_LABELS.get(liked.value, (liked.value, liked.value))[1]}"}
            offer = f" Want me to show you {what[liked.kind]}?"
        return Plan(intent="small_talk", reply=f"Noted: I'll remember {'; '.join(parts)}.{offer}")

    def _not_carried(self, view: PlannerInput, what: str) -> Plan:
        return Plan(intent="clarify", reply=f"Sorry, this shop doesn't carry {what}. It has {_CARRIED}. "
                    "Shall I look for one of those?")

    def _browse(self, view: PlannerInput) -> Plan:
        lead = f"The catalog has {_CARRIED}. What are you after? For example 'navy coats under 120'"
        if RECOMMEND in view.tools:
            lead += " or 'an outfit for a dinner'"
        return Plan(intent="small_talk", reply=lead + ".")

    def _capabilities(self, view: PlannerInput) -> str:
        can = []
        if RECOMMEND in view.tools:
            can.append("put together outfits from the catalog (for an occasion, or around a piece you own: "
                       "describe it or attach a photo)")
        if ALTERNATIVES in view.tools:
            can.append("find alternatives to an item (cheaper, another colour, more formal...)")
        if SEARCH in view.tools:
            can.append("search the catalog")
        if RECALL in view.tools:
            can.append("bring back an earlier outfit")
        if GENERATE in view.tools:
            can.append("design a new garment as an image")
        if TRY_ON in view.tools:
            can.append("show an item on a photo of you")
        can.append("remember your preferences (ask 'what do you know about me?')")
        return "I can " + _join(can) + "."

    def _small_talk(self, view: PlannerInput, kind: str) -> Plan:
        lead = {
            "hello": "Hi! I'm your fashion assistant.",
            "about": "I'm a fashion assistant for this shop's catalog.",
            "thanks": "You're welcome!",
            "bye": "Bye for now! Come back any time.",
            "ack": "Great.",
            "unsure": "I'm not sure what you'd like me to do.",
        }[kind]
        if kind == "bye":
            return Plan(intent="small_talk", reply=lead)
        if kind in ("thanks", "ack"):
            return Plan(intent="small_talk", reply=f"{lead} Anything else? I can suggest an outfit, find "
                        "alternatives or search the catalog.")
        return Plan(intent="small_talk", reply=f"{lead} {self._capabilities(view)}")

    def _out_of_scope(self, view: PlannerInput) -> Plan:
        return Plan(intent="out_of_scope", reply="Sorry, I can only help with fashion: outfits, alternatives "
                    "to an item, and finding pieces in the catalog. " + self._capabilities(view))

    # -- facts -------------------------------------------------------------------------------------

    def _facts(self, parsed: ParsedMessage, view: PlannerInput) -> list[PreferenceFact]:
        seen: dict[str, PreferenceFact] = {}
        for hit in parsed.facts:
            fact = PreferenceFact(kind=cast(FactKind, hit.kind), value=hit.value[:200],
                                  polarity=cast(Polarity, hit.polarity), confidence=hit.confidence,
                                  source_turn=view.turn, text=hit.sentence[:500])
            key = fact.key()
            if key in seen and seen[key].confidence > fact.confidence:
                continue
            seen[key] = fact
        return list(seen.values())
