"""The catalog contract: canonical categories, colours, styles and materials, with their synonyms.

Categories are the ten Fashion-MNIST classes (DESIGN.md); importers map other taxonomies onto them.
Colours are lower-case basic names with a reference RGB used for tinting and for checking what an
image shows. Everything here is plain data, safe to import anywhere.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from typing import Literal, NamedTuple

Category = Literal[
    "top", "trousers", "pullover", "dress", "coat", "sandals", "shirt", "sneakers", "bag", "ankle_boots"
]

#: Canonical categories in Fashion-MNIST label order (label i is CATEGORIES[i]).
CATEGORIES: tuple[str, ...] = (
    "top", "trousers", "pullover", "dress", "coat", "sandals", "shirt", "sneakers", "bag", "ankle_boots",
)

#: Human names, singular and plural, used in titles and replies.
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "top": ("top", "tops"),
    "trousers": ("trousers", "trousers"),
    "pullover": ("pullover", "pullovers"),
    "dress": ("dress", "dresses"),
    "coat": ("coat", "coats"),
    "sandals": ("sandals", "sandals"),
    "shirt": ("shirt", "shirts"),
    "sneakers": ("sneakers", "sneakers"),
    "bag": ("bag", "bags"),
    "ankle_boots": ("ankle boots", "ankle boots"),
}

#: Words shoppers use for each category (lower case; matched on word boundaries, longest first).
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "top": ("top", "tops", "t-shirt", "t-shirts", "tshirt", "tshirts", "tee", "tees", "t shirt", "blouse",
            "blouses", "tank top", "tank", "cami", "camisole", "vest top", "crop top"),
    "trousers": ("trousers", "trouser", "pants", "jeans", "chinos", "slacks", "leggings", "joggers",
                 "bottoms", "culottes"),
    "pullover": ("pullover", "pullovers", "sweater", "sweaters", "jumper", "jumpers", "hoodie", "hoodies",
                 "cardigan", "cardigans", "sweatshirt", "sweatshirts", "knit", "knitwear"),
    "dress": ("dress", "dresses", "gown", "gowns", "frock", "sundress", "maxi dress", "midi dress"),
    "coat": ("coat", "coats", "jacket", "jackets", "parka", "parkas", "blazer", "blazers", "trench",
             "trench coat", "overcoat", "raincoat", "outerwear", "anorak"),
    "sandals": ("sandals", "sandal", "flip flops", "flip-flops", "sliders", "slides", "heels",
                "strappy shoes", "espadrilles"),
    "shirt": ("shirt", "shirts", "button-down", "button down", "oxford shirt", "flannel", "dress shirt",
              "polo", "polos"),
    "sneakers": ("sneakers", "sneaker", "trainers", "trainer", "running shoes", "kicks", "runners",
                 "tennis shoes", "plimsolls", "gym shoes"),
    "bag": ("bag", "bags", "handbag", "handbags", "purse", "purses", "tote", "totes", "backpack",
            "backpacks", "clutch", "clutches", "satchel", "shoulder bag", "crossbody"),
    "ankle_boots": ("ankle boots", "ankle boot", "boots", "boot", "booties", "chelsea boots",
                    "ankle_boots", "ankle-boots"),
}

#: Category groups used by the outfit logic.
UPPER_BODY = ("top", "shirt", "pullover")
FOOTWEAR = ("sandals", "sneakers", "ankle_boots")
ONE_PIECE = ("dress",)
OUTERWEAR = ("coat",)
LOWER_BODY = ("trousers",)
ACCESSORIES = ("bag",)

#: Group words: "shoes" means any footwear, "tops" in a broad sense any upper-body garment.
GROUP_SYNONYMS: dict[str, tuple[str, ...]] = {
    "shoes": FOOTWEAR,
    "shoe": FOOTWEAR,
    "footwear": FOOTWEAR,
}

#: Basic colour names with the reference RGB used for tinting catalog images.
COLORS: dict[str, tuple[int, int, int]] = {
    "black": (28, 28, 30),
    "white": (238, 238, 232),
    "grey": (128, 128, 128),
    "navy": (28, 38, 96),
    "blue": (40, 100, 210),
    "red": (200, 32, 40),
    "green": (40, 140, 64),
    "beige": (214, 194, 150),
    "brown": (118, 72, 38),
    "pink": (236, 140, 176),
    "yellow": (236, 206, 40),
    "purple": (118, 54, 150),
    "orange": (238, 128, 28),
}

COLOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "black": ("black", "jet black", "ebony", "blk"),
    "white": ("white", "ivory", "off-white", "off white", "snow white", "wht"),
    "grey": ("grey", "gray", "charcoal", "silver", "slate", "gry"),
    "navy": ("navy", "navy blue", "dark blue", "midnight blue", "indigo"),
    "blue": ("blue", "blu", "light blue", "sky blue", "royal blue", "denim blue", "cobalt", "azure", "teal",
             "turquoise", "aqua", "cyan", "periwinkle"),
    "red": ("red", "burgundy", "crimson", "scarlet", "maroon", "wine", "cherry"),
    "green": ("green", "grn", "olive", "khaki green", "emerald", "sage", "forest green", "mint", "lime", "chartreuse"),
    "beige": ("beige", "cream", "tan", "camel", "sand", "nude", "khaki", "stone", "ecru"),
    "brown": ("brown", "brn", "chocolate", "cognac", "coffee", "mocha", "rust", "taupe"),
    "pink": ("pink", "blush", "rose", "fuchsia", "magenta", "hot pink", "salmon"),
    "yellow": ("yellow", "mustard", "lemon", "gold", "golden", "ochre"),
    "purple": ("purple", "lilac", "lavender", "violet", "plum", "mauve"),
    "orange": ("orange", "coral", "peach", "tangerine", "apricot"),
}

#: Shade words that name a colour the catalog does not have: the palette colour nearest to each (a
#: hand-checked colour-distance table: hue first, then lightness), and the runner-up. A search for a
#: shade uses the nearest colour and says so ("teal isn't a catalog colour; blue is the nearest").
SHADES: dict[str, tuple[str, str]] = {
    "teal": ("blue", "green"), "turquoise": ("blue", "green"), "aqua": ("blue", "green"),
    "cyan": ("blue", "green"), "periwinkle": ("blue", "purple"), "indigo": ("navy", "purple"),
    "lime": ("green", "yellow"), "chartreuse": ("green", "yellow"), "olive": ("green", "brown"),
    "mint": ("green", "white"), "sage": ("green", "grey"), "khaki green": ("green", "beige"),
    "coral": ("orange", "pink"), "peach": ("orange", "pink"), "apricot": ("orange", "beige"),
    "salmon": ("pink", "orange"), "magenta": ("pink", "purple"), "fuchsia": ("pink", "purple"),
    "lilac": ("purple", "pink"), "lavender": ("purple", "pink"), "mauve": ("purple", "pink"),
    "gold": ("yellow", "beige"), "golden": ("yellow", "beige"), "mustard": ("yellow", "brown"),
    "ochre": ("yellow", "brown"), "silver": ("grey", "white"), "burgundy": ("red", "purple"),
    "maroon": ("red", "brown"), "wine": ("red", "purple"), "rust": ("brown", "orange"),
    "taupe": ("brown", "grey"),
}

NEUTRAL_COLORS = frozenset({"black", "white", "grey", "navy", "beige", "brown"})

STYLES: tuple[str, ...] = ("casual", "formal", "sporty", "evening", "business", "streetwear", "boho", "classic")

STYLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "casual": ("casual", "relaxed", "laid-back", "laid back", "everyday", "easygoing", "chill"),
    "formal": ("formal", "dressy", "smart", "elegant", "dressed up", "dressed-up", "posh", "sophisticated"),
    "sporty": ("sporty", "athletic", "sport", "sports", "athleisure", "active"),
    "evening": ("evening", "night out", "party", "glam", "glamorous", "cocktail"),
    "business": ("business", "office", "professional", "workwear", "corporate"),
    "streetwear": ("streetwear", "street", "urban", "edgy"),
    "boho": ("boho", "bohemian", "hippie", "festival"),
    "classic": ("classic", "timeless", "preppy", "minimalist", "minimal"),
}

MATERIALS: tuple[str, ...] = (
    "cotton", "denim", "wool", "linen", "silk", "leather", "suede", "polyester", "cashmere", "canvas", "knit",
    "mesh", "satin", "fleece", "nylon",
)

MATERIAL_SYNONYMS: dict[str, tuple[str, ...]] = {m: (m,) for m in MATERIALS}
MATERIAL_SYNONYMS["leather"] = ("leather", "faux leather", "vegan leather", "pleather")

#: Occasions the shopper names, mapped to the styles that suit them (most suitable first).
OCCASIONS: dict[str, tuple[str, ...]] = {
    "dinner": ("evening", "formal", "classic"),
    "date": ("evening", "classic", "casual"),
    "party": ("evening", "streetwear"),
    "wedding": ("formal", "evening"),
    "funeral": ("formal", "classic"),
    "interview": ("business", "formal", "classic"),
    "office": ("business", "formal", "classic"),
    "work": ("business", "formal", "classic"),
    "meeting": ("business", "formal"),
    "conference": ("business", "formal"),
    "gym": ("sporty",),
    "run": ("sporty",),
    "hike": ("sporty", "casual"),
    "beach": ("casual", "boho"),
    "holiday": ("casual", "boho"),
    "vacation": ("casual", "boho"),
    "festival": ("boho", "streetwear", "casual"),
    "brunch": ("casual", "classic"),
    "weekend": ("casual", "streetwear"),
    "school": ("casual", "classic"),
    "concert": ("streetwear", "casual", "evening"),
    "travel": ("casual", "sporty"),
    "theatre": ("evening", "classic", "formal"),
    "graduation": ("formal", "classic"),
}

OCCASION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "dinner": ("dinner", "dinner party", "restaurant", "supper"),
    "date": ("date", "date night", "first date"),
    "party": ("party", "parties", "birthday", "club", "clubbing", "night out", "drinks"),
    "wedding": ("wedding", "weddings", "wedding guest", "ceremony"),
    "funeral": ("funeral", "memorial"),
    "interview": ("interview", "job interview"),
    "office": ("office",),
    "work": ("work", "the office", "job"),
    "meeting": ("meeting", "client meeting", "presentation"),
    "conference": ("conference",),
    "gym": ("gym", "workout", "training session", "yoga"),
    "run": ("run", "running", "jog", "jogging"),
    "hike": ("hike", "hiking", "walk in the countryside"),
    "beach": ("beach", "seaside", "pool party", "by the pool"),
    "holiday": ("holiday", "holidays"),
    "vacation": ("vacation", "trip"),
    "festival": ("festival",),
    "brunch": ("brunch", "lunch", "coffee"),
    "weekend": ("weekend", "saturday", "sunday", "day off"),
    "school": ("school", "class", "university", "college", "campus"),
    "concert": ("concert", "gig"),
    "travel": ("travel", "flight", "airport"),
    "theatre": ("theatre", "theater", "opera", "ballet"),
    "graduation": ("graduation",),
}


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alts = sorted({re.escape(w) for w in words}, key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(alts) + r")(?![a-z])")


CATEGORY_PATTERNS = {c: _pattern(w) for c, w in CATEGORY_SYNONYMS.items()}
COLOR_PATTERNS = {c: _pattern(w) for c, w in COLOR_SYNONYMS.items()}
STYLE_PATTERNS = {s: _pattern(w) for s, w in STYLE_SYNONYMS.items()}
MATERIAL_PATTERNS = {m: _pattern(w) for m, w in MATERIAL_SYNONYMS.items()}
OCCASION_PATTERNS = {o: _pattern(w) for o, w in OCCASION_SYNONYMS.items()}


VocabKind = Literal["category", "color", "style", "material", "occasion"]


class Resolved(NamedTuple):
    """A word resolved onto the vocabulary: the canonical ``value`` and ``how`` it matched."""

    value: str
    how: Literal["exact", "synonym", "typo"]


def _norm_word(word: str) -> str:
    return " ".join(word.strip().lower().replace("-", " ").replace("_", " ").split())


def _plural_of(word: str, term: str) -> bool:
    """Whether ``word`` and ``term`` are the same word up to a plural ``s``/``es`` on either."""
    return word == term or word in (term + "s", term + "es") or term in (word + "s", word + "es")


def similar(word: str, term: str) -> bool:
    """Whether ``word`` is ``term`` up to a plural ending or a typo (the one fuzziness rule of the vocabulary).

    Equal, or equal once a plural ``s``/``es`` is dropped, or (both at least 4 letters, lengths within
    2) a :class:`difflib.SequenceMatcher` ratio of at least 0.8: ``dres`` ~ ``dress``, ``sneekers`` ~
    ``sneakers``, but not ``red`` ~ ``bed``.
    """
    if _plural_of(word, term):
        return True
    if min(len(word), len(term)) < 4 or abs(len(word) - len(term)) > 2:
        return False
    return difflib.SequenceMatcher(None, word, term).ratio() >= 0.8


def _tables() -> dict[str, tuple[tuple[str, ...], Mapping[str, tuple[str, ...]]]]:
    return {
        "category": (CATEGORIES, CATEGORY_SYNONYMS),
        "color": (tuple(COLORS), COLOR_SYNONYMS),
        "style": (STYLES, STYLE_SYNONYMS),
        "material": (MATERIALS, MATERIAL_SYNONYMS),
        "occasion": (tuple(OCCASIONS), OCCASION_SYNONYMS),
    }


@functools.lru_cache(maxsize=4096)
def resolve(kind: VocabKind, word: str, *, typos: bool = True) -> Resolved | None:
    """Resolve a word onto the catalog vocabulary of ``kind``: exact name, synonym, then (``typos``) a typo.

    The one resolver every part uses (tool arguments, plan checks, grounding): ``resolve("category",
    "jeans")`` is ``("trousers", "synonym")``, ``resolve("color", "gray")`` ``("grey", "synonym")``,
    ``resolve("category", "dres")`` ``("dress", "typo")``; a word naming nothing is None. Hyphens and
    underscores count as spaces; a plural ``s`` is allowed for synonyms.

    Raises:
        KeyError: for an unknown ``kind``.
    """
    canonical, synonyms = _tables()[kind]
    w = _norm_word(word)
    if not w:
        return None
    for c in canonical:
        if w == _norm_word(c):
            return Resolved(c, "exact")
    if kind == "color" and w == "gray":
        return Resolved("grey", "synonym")
    for c, words in synonyms.items():
        if any(w == _norm_word(s) for s in words):
            return Resolved(c, "synonym")
    for c, words in synonyms.items():
        if any(_plural_of(w, _norm_word(s)) for s in words):
            return Resolved(c, "synonym")
    if typos:
        for c in canonical:
            if similar(w, _norm_word(c)):
                return Resolved(c, "typo")
        for c, words in synonyms.items():
            if any(similar(w, _norm_word(s)) for s in words):
                return Resolved(c, "typo")
    return None


def normalize_category(value: str) -> str:
    """Map a category word or synonym to its canonical name (no typo repair: tool arguments are strict).

    Raises:
        ValueError: if the word names no known category.
    """
    found = resolve("category", value, typos=False)
    if found is None:
        raise ValueError(f"unknown category {value!r}; use one of: {', '.join(CATEGORIES)}")
    return found.value


def normalize_color(value: str) -> str:
    """Map a colour word or synonym to its basic colour name (no typo repair).

    Raises:
        ValueError: if the word names no known colour.
    """
    found = resolve("color", value, typos=False)
    if found is None:
        raise ValueError(f"unknown colour {value!r}; use one of: {', '.join(COLORS)}")
    return found.value


def normalize_style(value: str) -> str:
    """Return a canonical style name (or a synonym's style).

    Raises:
        ValueError: if the word names no known style.
    """
    found = resolve("style", value, typos=False)
    if found is None:
        raise ValueError(f"unknown style {value!r}; use one of: {', '.join(STYLES)}")
    return found.value


def optional(normalize: Callable[[str], str]) -> Callable[[str | None], str | None]:
    """Wrap a normaliser so that ``None`` and ``""`` pass through as ``None`` (for pydantic validators)."""

    def check(value: str | None) -> str | None:
        return None if value in (None, "") else normalize(str(value))

    return check


def category_label(category: str, plural: bool = False) -> str:
    """Return the human name of a canonical category."""
    singular, many = CATEGORY_LABELS.get(category, (category, category))
    return many if plural else singular


def nearest_color(rgb: tuple[float, float, float]) -> str:
    """Return the basic colour name closest to an RGB triple (in a perceptually weighted RGB space)."""
    r, g, b = rgb
    best, best_d = "grey", float("inf")
    for name, (cr, cg, cb) in COLORS.items():
        rmean = (r + cr) / 2
        d = (2 + rmean / 256) * (r - cr) ** 2 + 4 * (g - cg) ** 2 + (2 + (255 - rmean) / 256) * (b - cb) ** 2
        if d < best_d:
            best, best_d = name, d
    return best
