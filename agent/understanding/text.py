"""Text normalisation: accents, contractions, currency, numbers written as words, and modest typo repair."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from agent.catalog.vocab import (
    CATEGORY_SYNONYMS,
    COLOR_SYNONYMS,
    MATERIAL_SYNONYMS,
    OCCASION_SYNONYMS,
    STYLE_SYNONYMS,
)

Polarity = Literal["like", "dislike", "neutral"]

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
    # "purse-friendly" is about the price, not a bag
    (r"\b(?:more |a bit more |a little more )?(?:purse|wallet)[- ]?friendly\b", "more affordable"),
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
neutrals clothes clothing station stations coast coasts parent parents speaker speakers sorta train trains each
supplier suppliers class classes classical parks spain
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


#: Short words (3-4 letters) typo repair may correct towards, by one missing letter or one swap:
#: "blak" -> black, "gren" -> green, "nvy" -> navy, "jens" -> jeans, "shwo" -> show.
_SHORT_TARGETS: tuple[str, ...] = (
    "black", "white", "grey", "gray", "navy", "blue", "red", "green", "beige", "brown", "pink", "purple",
    "orange", "yellow", "jeans", "tops", "tees", "coat", "coats", "bags", "boots", "dress", "shoes", "pants",
    "skirt", "shirt", "show", "find",
)
#: English words one letter away from a target that must never be corrected ("lack", "cat", "how", ...).
_SHORT_GUARD: frozenset[str] = frozenset("""
age back bag bas boo boot bot bots can cat cats coat cot cots fin fid god gold old gay gary hoe hoes how
ink int lack lie min nay oat oats ops park pin pool poo range ray roe roes rut ruts sag she shes shit skit
sow tea tee tot toe tan win wine pans pant pats para heel shoe top tops boost coast eels ant rose red blue
grey gray navy pink show find the and for you are not but was his her its had has all any one our out who
why way few new now see saw two also able were been each than them then they this that what when with
your just like only very well more most some such here there from into over once upon bit big bed beg
ban bat bay bee bet bid bin bow box boy bra bud bug bun bus buy dew die dig dim dip doe dog dot dry due
dug dye ear eat egg end era eve eye fan far fat fed fee few fig fit fix fly foe fog fry fun fur gap gas
gel gem get gin got gum gun gut guy gym hag ham hat hay hem hen hid him hip hit hog hop hot hug hut ice
ill jab jam jar jaw jet jig job jog joy jug key kid kin kit lab lad lag lap law lay led leg let lid lip
lit log lot low mad man map mat may men met mix mob mom mop mud mug nap net nod nor nut oak odd off oil
pad pal pan pat paw pay pea peg pen pet pie pig pit pod pop pot pro pub pun pup put rag ram ran rap rat
raw rib rid rim rip rob rod rot row rub rug rum run sad sat saw say sea set sew shy sin sip sir sit six
ski sky sly sob son sop soy spa spy sub sum sun tab tag tap tar tax tie tin tip toy try tub tug urn use
van vat vet vow war wax web wed wet wig wit woe wok won wow yak yam yap yes yet zip zoo bran brow brew
bras beer bees bent best bike bill bird blow blew bold bone bony book born boss both bowl brag
""".split())


def _one_edit(word: str, target: str) -> bool:
    """Whether ``target`` is ``word`` with one letter added, or with two adjacent letters swapped."""
    if len(target) == len(word) + 1:
        return any(target[:i] + target[i + 1:] == word for i in range(len(target)))
    if len(target) == len(word):
        return any(word[:i] + word[i + 1] + word[i] + word[i + 2:] == target for i in range(len(word) - 1))
    return False


def _correct_short(text: str, keep: set[str] | frozenset[str] = frozenset()) -> str:
    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        if not 3 <= len(word) <= 4 or word in _SHORT_GUARD or word in _COMMON or word in keep:
            return word
        hits = {t for t in _SHORT_TARGETS if _one_edit(word, t)}
        return hits.pop() if len(hits) == 1 else word

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
    t = _correct_short(t, names)
    for pattern, repl in _PHRASES:
        t = re.sub(pattern, repl, t)
    return re.sub(r"\s+", " ", t).strip()


# --------------------------------------------------------------------------------------------------
# Vocabulary mentions and negation
# --------------------------------------------------------------------------------------------------
