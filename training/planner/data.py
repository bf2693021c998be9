"""FashionRec-style planning samples for training and measuring planners (``fashionm3 data build-planner``).

Each sample is a :class:`PlannerInput` (the message, the items shown so far, recalled preferences,
photos) and the :class:`Plan` the graph should execute for it. Samples come from template groups
(one behaviour, e.g. "alternatives to the n-th item"), each with several phrasings; a template
*family* is one phrasing of a group. The groups and their phrasings are data
(``families/families.yaml``); the builders that fill their slots and write the target plan are the
``b_*`` functions here. The train/valid/test split is by family, within each group, so every
behaviour is trained on and the test split measures phrasings never seen in training. Slots
are filled from the live catalog and the vocabulary, with synonyms ("jeans" -> trousers, "trainers"
-> sneakers, "purse" -> bag), casual phrasing, typos, prices as words and with currency symbols.

Target conventions (where they differ from what a reader might guess):

* ``search_catalog.query`` is the garment phrase in the shopper's words (``"navy wool coats"``);
  filters carry the canonical values. Free-text arguments are compared loosely by the metrics.
* Preferences recalled from memory are not copied into filters (the tools re-rank by them) unless
  the message points at them ("in my favourite colour", "within my usual budget").
* A photo anchor is ``anchor_image="latest"`` plus the photo's *true* category and colour.
* Photos are tinted Fashion-MNIST images saved under ``images/``; train and valid use the
  Fashion-MNIST train split, test uses only the Fashion-MNIST test split.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.catalog.vocab import CATEGORIES, COLORS, FOOTWEAR
from agent.plan import ImageInfo, Plan, PlannerInput, PreferenceFact, ShownItem, ToolCall
from agent.planners.compact import to_compact

__all__ = [
    "BUILDERS", "FAMILIES", "PlannerSample", "assign_splits", "build_samples", "family_name", "load_families",
    "load_samples", "main", "write_dataset",
]

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")
TIMESTAMP = "2025-01-01T00:00:00+00:00"
#: Supplementary train-only samples a default build adds (see :mod:`training.planner.data_extra`).
DEFAULT_EXTRA = 2000


class PlannerSample(BaseModel):
    """One planning sample: the planner's view, the plan to execute, and the photo's ground truth."""

    id: str
    task: str
    family: str
    group: str = ""
    split: Split
    view: PlannerInput
    target: Plan
    compact: str = ""
    tools: list[str] = Field(default_factory=list)
    image_path: str | None = None
    true_category: str | None = None
    true_color: str | None = None


# --------------------------------------------------------------------------------------------------
# Vocabulary for the shopper's side
# --------------------------------------------------------------------------------------------------

#: (singular phrase, plural phrase, reference noun) per category.
CAT_WORDS: dict[str, list[tuple[str, str, str]]] = {
    "top": [("top", "tops", "top"), ("t-shirt", "t-shirts", "t-shirt"), ("tee", "tees", "tee"),
            ("blouse", "blouses", "blouse")],
    "trousers": [("pair of trousers", "trousers", "trousers"), ("pair of jeans", "jeans", "jeans"),
                 ("pair of chinos", "chinos", "chinos"), ("pair of pants", "pants", "pants")],
    "pullover": [("jumper", "jumpers", "jumper"), ("sweater", "sweaters", "sweater"),
                 ("hoodie", "hoodies", "hoodie"), ("cardigan", "cardigans", "cardigan"),
                 ("pullover", "pullovers", "pullover")],
    "dress": [("dress", "dresses", "dress"), ("gown", "gowns", "gown")],
    "coat": [("coat", "coats", "coat"), ("jacket", "jackets", "jacket"), ("blazer", "blazers", "blazer"),
             ("parka", "parkas", "parka")],
    "sandals": [("pair of sandals", "sandals", "sandals"), ("pair of heels", "heels", "heels"),
                ("pair of sliders", "sliders", "sliders")],
    "shirt": [("shirt", "shirts", "shirt"), ("polo", "polos", "polo"), ("oxford shirt", "oxford shirts", "shirt")],
    "sneakers": [("pair of sneakers", "sneakers", "sneakers"), ("pair of trainers", "trainers", "trainers"),
                 ("pair of kicks", "kicks", "kicks"), ("pair of running shoes", "running shoes", "running shoes")],
    "bag": [("bag", "bags", "bag"), ("handbag", "handbags", "handbag"), ("purse", "purses", "purse"),
            ("tote", "totes", "tote"), ("backpack", "backpacks", "backpack")],
    "ankle_boots": [("pair of ankle boots", "ankle boots", "boots"), ("pair of boots", "boots", "boots"),
                    ("pair of chelsea boots", "chelsea boots", "boots")],
}
WEARABLE = ("top", "trousers", "pullover", "dress", "coat", "shirt")
COLOR_WORDS: dict[str, list[str]] = {
    "black": ["black", "jet black"], "white": ["white", "ivory", "off-white"],
    "grey": ["grey", "gray", "charcoal"], "navy": ["navy", "navy blue", "dark blue"],
    "blue": ["blue", "light blue", "royal blue", "cobalt"], "red": ["red", "burgundy", "crimson", "maroon"],
    "green": ["green", "olive", "emerald", "sage"], "beige": ["beige", "cream", "camel", "tan"],
    "brown": ["brown", "chocolate", "cognac"], "pink": ["pink", "blush", "fuchsia"],
    "yellow": ["yellow", "mustard", "lemon"], "purple": ["purple", "lilac", "lavender", "plum"],
    "orange": ["orange", "coral", "peach"],
}
STYLE_WORDS: dict[str, list[str]] = {
    "casual": ["casual", "relaxed", "laid-back", "everyday"], "formal": ["formal", "elegant", "dressy", "smart"],
    "sporty": ["sporty", "athletic"], "evening": ["evening", "glam", "glamorous"],
    "business": ["business", "professional", "corporate"], "streetwear": ["streetwear", "edgy", "urban"],
    "boho": ["boho", "bohemian"], "classic": ["classic", "timeless", "preppy"],
}
MATERIALS = ("cotton", "denim", "wool", "linen", "silk", "leather", "suede", "cashmere", "canvas", "polyester")
OCCASION_WORDS: dict[str, list[str]] = {
    "dinner": ["a dinner", "a dinner party", "dinner"], "date": ["a date", "date night", "a first date"],
    "party": ["a party", "a birthday party", "a party tonight"], "wedding": ["a wedding", "my cousin's wedding"],
    "funeral": ["a funeral"], "interview": ["a job interview", "an interview"], "work": ["work", "the office"],
    "meeting": ["a client meeting", "a meeting"], "conference": ["a conference"],
    "gym": ["the gym", "a workout", "yoga"], "hike": ["a hike", "hiking"], "beach": ["the beach", "a beach day"],
    "festival": ["a festival"], "brunch": ["brunch", "a brunch with friends"], "school": ["university", "college"],
    "concert": ["a concert", "a gig"], "theatre": ["the theatre", "the opera"], "graduation": ["a graduation"],
}
ORDINALS = {1: ["first", "1st"], 2: ["second", "2nd"], 3: ["third", "3rd"], 4: ["fourth", "4th"]}
SIZES = ("S", "M", "L", "XS", "XL")
PRICES = (30, 40, 45, 50, 60, 70, 75, 80, 90, 100, 120, 150, 200)
TOTALS = (150, 200, 250, 300, 400)

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """Spell ``n`` (0-999) in English words: ``120`` -> ``a hundred and twenty``."""
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _UNITS[n % 10])
    head = "a hundred" if n // 100 == 1 else f"{_UNITS[n // 100]} hundred"
    return head if n % 100 == 0 else f"{head} and {number_words(n % 100)}"


# --------------------------------------------------------------------------------------------------
# Generation state
# --------------------------------------------------------------------------------------------------


@dataclass
class ImageJob:
    """A photo to render and classify once all samples are drawn."""

    sample: int
    split: str
    index: int
    category: str
    color: str


@dataclass
class Draft:
    """What a family builder returns: the message, the view fields, and the target plan."""

    text: str
    target: Plan
    view: dict[str, Any] = field(default_factory=dict)
    photo: tuple[str, str] | None = None  # (true category, true colour) of a photo attached this turn


class Gen:
    """Random slot filler over the catalog (one per build, seeded)."""

    def __init__(self, rng: random.Random, items: Sequence[Any]) -> None:
        """Index the catalog items by category."""
        self.rng = rng
        self.by_cat: dict[str, list[Any]] = {c: [] for c in CATEGORIES}
        for item in items:
            if item.category in self.by_cat:
                self.by_cat[item.category].append(item)
        missing = [c for c, v in self.by_cat.items() if not v]
        if missing:
            raise ValueError(f"the catalog has no items in {', '.join(missing)}; build the default catalog "
                             "with `fashionm3 catalog build`")

    def pick(self, seq: Sequence[Any]) -> Any:
        """Return a random element."""
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p: float) -> bool:
        """Return True with probability ``p``."""
        return self.rng.random() < p

    def color(self, avoid: Sequence[str] = ()) -> tuple[str, str]:
        """Return a (canonical colour, shopper's word) pair."""
        c = self.pick([c for c in COLORS if c not in avoid])
        return c, self.pick(COLOR_WORDS[c])

    def category(self, pool: Sequence[str] = CATEGORIES) -> tuple[str, tuple[str, str, str]]:
        """Return a canonical category and its (singular, plural, reference) words."""
        c = self.pick(pool)
        return c, self.pick(CAT_WORDS[c])

    def style(self) -> tuple[str, str]:
        """Return a (canonical style, word) pair."""
        s = self.pick(list(STYLE_WORDS))
        return s, self.pick(STYLE_WORDS[s])

    def occasion(self) -> tuple[str, str]:
        """Return a (canonical occasion, phrase) pair."""
        o = self.pick(list(OCCASION_WORDS))
        return o, self.pick(OCCASION_WORDS[o])

    def money(self, value: int) -> str:
        """Write an amount the way shoppers do: ``90``, ``$90``, ``ninety quid``, ``€90``."""
        forms = [f"{value}", f"${value}", f"€{value}", f"£{value}", f"{value} euros", f"{value} bucks",
                 f"{value} dollars", f"{number_words(value)}", f"{number_words(value)} quid", f"{value}$"]
        return self.pick(forms)

    def under(self, value: int, outfit: bool = False) -> str:
        """Return a max-price phrase."""
        lead = self.pick(["under", "below", "less than", "no more than", "max", "up to", "cheaper than"])
        tail = self.pick([" each", " per item", " a piece", ""]) if outfit else ""
        return f"{lead} {self.money(value)}{tail}"

    def shown(self, items: Sequence[Any], turn: int, source: str) -> list[ShownItem]:
        """Return catalog items as the shopper saw them (positions from 1)."""
        return [ShownItem(id=i.id, title=i.title, category=i.category, color=i.color, price=i.price,
                          turn=turn, position=n, source=source) for n, i in enumerate(items, start=1)]

    def outfit_items(self) -> list[Any]:
        """Return 3-4 catalog items of distinct categories, like a recommended outfit."""
        shape = self.pick([("top", "trousers", "sneakers", "bag"), ("dress", "sandals", "bag"),
                           ("shirt", "trousers", "ankle_boots", "coat"), ("pullover", "trousers", "ankle_boots"),
                           ("dress", "coat", "ankle_boots", "bag"), ("top", "trousers", "sandals")])
        return [self.pick(self.by_cat[c]) for c in shape]

    def result_items(self, category: str, n: int = 0, color: str | None = None) -> list[Any]:
        """Return ``n`` (3-5) distinct items of one category, like search results."""
        pool = [i for i in self.by_cat[category] if color is None or i.color == color] or self.by_cat[category]
        n = n or self.rng.randint(3, 5)
        return self.rng.sample(pool, min(n, len(pool)))

    def fact(self, kind: str, value: str, polarity: str, turn: int, text: str = "") -> PreferenceFact:
        """Return a preference fact with fixed metadata (deterministic output)."""
        return PreferenceFact(kind=kind, value=value, polarity=polarity, confidence=0.9,  # type: ignore[arg-type]
                              source_turn=turn, timestamp=TIMESTAMP, text=text)

    def preferences(self, turn: int, n: int = 0) -> list[PreferenceFact]:
        """Return 1-4 recalled preferences of mixed kinds and polarities."""
        n = n or self.rng.randint(1, 4)
        like, dislike = self.rng.sample(list(COLORS), 2)
        pool = [
            self.fact("color", like, "like", max(0, turn - 2)),
            self.fact("color", dislike, "dislike", max(0, turn - 2)),
            self.fact("material", self.pick(["leather", "wool", "polyester", "suede"]), "dislike", max(0, turn - 1)),
            self.fact("style", self.pick(list(STYLE_WORDS)), "like", max(0, turn - 3)),
            self.fact("size", self.pick(SIZES), "neutral", max(0, turn - 1)),
            self.fact("budget", f"max {self.pick(PRICES)}", "neutral", max(0, turn - 2)),
        ]
        self.rng.shuffle(pool)
        return pool[:n]


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def _call(intent: str, tool: str, args: dict[str, Any], facts: Sequence[PreferenceFact] = ()) -> Plan:
    clean = {k: v for k, v in args.items() if v is not None and v != [] and v != "" and v is not False}
    return Plan(intent=intent, calls=[ToolCall(name=tool, args=clean)], facts=list(facts))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Family builders
# --------------------------------------------------------------------------------------------------

Builder = Callable[[Gen, str], Draft]


def b_search(g: Gen, tpl: str) -> Draft:
    """Search the catalog with filters named in the message."""
    f = _fields(tpl)
    if "shoes" in f:
        cats, words = list(FOOTWEAR), ("pair of shoes", "shoes", "shoes")
    else:
        cat, words = g.category()
        cats = [cat]
    slot: dict[str, str] = {"cats": words[1], "cat": words[0], "shoes": "shoes"}
    args: dict[str, Any] = {"categories": cats}
    q: list[str] = []
    if "style" in f:
        s, w = g.style()
        slot["style"], args["styles"] = w, [s]
        q.append(w)
    color = None
    if "color" in f:
        color, w = g.color()
        slot["color"], args["colors"] = w, [color]
        q.append(w)
    if "material" in f:
        m = g.pick(MATERIALS)
        slot["material"], args["materials"] = m, [m]
        q.append(m)
    q.append(words[1])
    if "price" in f:
        p = g.pick(PRICES)
        slot["price"], args["max_price"] = g.under(p), float(p)
    if "minprice" in f:
        p = g.pick(PRICES[:8])
        slot["minprice"] = f"{g.pick(['over', 'more than', 'at least', 'above'])} {g.money(p)}"
        args["min_price"] = float(p)
    if "lo" in f:
        lo = g.pick(PRICES[:6])
        hi = g.pick([p for p in PRICES if p > lo])
        slot["lo"], slot["hi"] = g.money(lo), str(hi)
        args["min_price"], args["max_price"] = float(lo), float(hi)
    if "nocolor" in f:
        c, w = g.color(avoid=[color] if color else [])
        slot["nocolor"], args["exclude_colors"] = w, [c]
    if "nomaterial" in f:
        m = g.pick(["leather", "wool", "polyester", "denim", "suede"])
        slot["nomaterial"], args["exclude_materials"] = m, [m]
    args["query"] = " ".join(q)
    return Draft(tpl.format(**slot), _call("search", "search_catalog", args))


def b_recommend(g: Gen, tpl: str) -> Draft:
    """Recommend an outfit for an occasion/style, optionally around a described garment, with limits."""
    f = _fields(tpl)
    slot: dict[str, str] = {}
    args: dict[str, Any] = {}
    anchor_cat = None
    if "anchor" in f:
        anchor_cat, words = g.category()
        c, w = g.color()
        slot["anchor"] = f"{w} {words[1] if words[0].startswith('pair of') else words[0]}"
        args["anchor_category"], args["anchor_color"] = anchor_cat, c
    if "occasion" in f:
        o, w = g.occasion()
        slot["occasion"], args["occasion"] = w, o
    if "style" in f:
        s, w = g.style()
        slot["style"], args["style"] = w, s
    if "price" in f:
        p = g.pick(PRICES[2:])
        slot["price"], args["max_price"] = g.under(p, outfit=True), float(p)
    if "total" in f:
        t = g.pick(TOTALS)
        slot["total"] = g.pick([f"{g.money(t)} total", f"{g.money(t)} in total", f"a total budget of {g.money(t)}",
                                f"{g.money(t)} for everything", f"{g.money(t)} altogether"])
        args["max_total"] = float(t)
    color = None
    if "color" in f:
        color, w = g.color()
        slot["color"], args["colors"] = w, [color]
    if "nocolor" in f:
        c, w = g.color(avoid=[color] if color else [])
        slot["nocolor"], args["exclude_colors"] = w, [c]
    if "nocat" in f:
        c, words = g.category([x for x in ("bag", "coat") if x != anchor_cat])
        slot["nocat"], args["exclude_categories"] = words[0], [c]
    if "withcat" in f:
        c, words = g.category([x for x in ("dress", "coat", "bag", "sneakers", "ankle_boots") if x != anchor_cat])
        slot["withcat"], args["include_categories"] = words[0], [c]
    if "nomaterial" in f:
        m = g.pick(["leather", "wool", "polyester", "suede"])
        slot["nomaterial"], args["exclude_materials"] = m, [m]
    return Draft(tpl.format(**slot), _call("recommend_outfit", "recommend_outfit", args))


def b_personal(g: Gen, tpl: str) -> Draft:
    """Recommend or search with recalled preferences in the view; use them only when the message points at them."""
    turn = g.rng.randint(2, 6)
    f = _fields(tpl)
    prefs = g.preferences(turn, g.rng.randint(2, 4))
    likes = [p.value for p in prefs if p.kind == "color" and p.polarity == "like"]
    if "fav" in f and not likes:
        c, _ = g.color(avoid=[p.value for p in prefs if p.kind == "color"])
        prefs.append(g.fact("color", c, "like", turn - 1))
        likes = [c]
    budget = next((p for p in prefs if p.kind == "budget"), None)
    if "usual" in f and budget is None:
        budget = g.fact("budget", f"max {g.pick(PRICES)}", "neutral", turn - 1)
        prefs.append(budget)
    if "avoid" in f and not any(p.polarity == "dislike" for p in prefs):
        prefs.append(g.fact("material", "leather", "dislike", turn - 1))
    g.rng.shuffle(prefs)
    slot: dict[str, str] = {"fav": "", "usual": "", "avoid": ""}
    args: dict[str, Any] = {}
    outfit = "occasion" in f or "outfit" in tpl or "look" in tpl
    if "occasion" in f:
        o, w = g.occasion()
        slot["occasion"], args["occasion"] = w, o
    if "cats" in f:
        cat, words = g.category()
        slot["cats"] = words[1]
        args["categories"], args["query"] = [cat], words[1]
    if "fav" in f:
        args["colors"] = [likes[0]]
    if "usual" in f and budget is not None:
        args["max_price"] = float(budget.value.split()[-1])
    if "avoid" in f:
        args["exclude_colors"] = [p.value for p in prefs if p.kind == "color" and p.polarity == "dislike"]
        args["exclude_materials"] = [p.value for p in prefs if p.kind == "material" and p.polarity == "dislike"]
    text = tpl.format(**slot)
    if outfit:
        args.pop("query", None)
        plan = _call("recommend_outfit", "recommend_outfit", args)
    else:
        plan = _call("search", "search_catalog", args)
    return Draft(text, plan, {"turn": turn, "preferences": prefs})


def b_pref_request(g: Gen, tpl: str) -> Draft:
    """State a lasting preference and ask for something in the same message."""
    turn = g.rng.randint(1, 5)
    f = _fields(tpl)
    slot: dict[str, str] = {}
    args: dict[str, Any] = {}
    facts: list[PreferenceFact] = []
    if "hatecolor" in f:
        c, w = g.color()
        slot["hatecolor"] = w
        facts.append(g.fact("color", c, "dislike", turn))
        args["exclude_colors"] = [c]
    if "hatematerial" in f:
        m = g.pick(["leather", "wool", "polyester", "suede", "denim"])
        slot["hatematerial"] = m
        facts.append(g.fact("material", m, "dislike", turn))
        args["exclude_materials"] = [m]
    if "vegan" in f:
        slot["vegan"] = g.pick(["vegan", "a vegan"])
        facts.append(g.fact("material", "leather", "dislike", turn))
        args["exclude_materials"] = ["leather", "suede"]
    if "size" in f:
        s = g.pick(SIZES)
        slot["size"] = s
        facts.append(g.fact("size", s, "neutral", turn))
    if "occasion" in f:
        o, w = g.occasion()
        slot["occasion"], args["occasion"] = w, o
        text = tpl.format(**slot)
        for fact in facts:
            fact.text = text
        return Draft(text, _call("recommend_outfit", "recommend_outfit", args, facts), {"turn": turn})
    cat, words = g.category()
    slot["cats"] = words[1]
    args["categories"], args["query"] = [cat], words[1]
    text = tpl.format(**slot)
    for fact in facts:
        fact.text = text
    return Draft(text, _call("search", "search_catalog", args, facts), {"turn": turn})


def _alt_view(g: Gen, tpl: str) -> tuple[dict[str, Any], ShownItem, dict[str, str]]:
    """Pick shown items and the one the message refers to; return view fields, the item and slots."""
    turn = g.rng.randint(2, 6)
    f = _fields(tpl)
    slot: dict[str, str] = {}
    if "ref" in f or "refpl" in f:
        items = g.shown(g.outfit_items(), turn - 1, "recommend_outfit")
    else:
        cat, _ = g.category()
        items = g.shown(g.result_items(cat), turn - 1, "search_catalog")
    view: dict[str, Any] = {"turn": turn, "shown": list(items), "last_shown": list(items)}
    if "ord" in f or "num" in f:
        k = g.rng.randint(1, min(len(items), 4))
        target = items[k - 1]
        slot["ord"], slot["num"] = g.pick(ORDINALS[k]), str(k)
    elif "ref" in f or "refpl" in f:
        target = g.pick(items)
        words = g.pick(CAT_WORDS[target.category])
        slot["ref"], slot["refpl"] = words[2], words[1]
    elif "id" in f:
        target = g.pick(items)
        slot["id"] = target.id
    else:
        target = g.pick(items)
        view["last_shown"] = [target.model_copy(update={"position": 1})]
        view["focus_item_id"] = target.id
    return view, target, slot


def b_alternatives(g: Gen, tpl: str) -> Draft:
    """Find alternatives to a shown item: cheaper, pricier, another colour/style/material, a price cap."""
    view, item, slot = _alt_view(g, tpl)
    f = _fields(tpl)
    args: dict[str, Any] = {"item_id": item.id}
    if "cheaper" in f:
        slot["cheaper"] = g.pick(["cheaper", "less expensive", "more affordable", "lower priced"])
        args["cheaper"] = True
    if "pricier" in f:
        slot["pricier"] = g.pick(["pricier", "more premium", "more upmarket"])
        args["pricier"] = True
    if "color" in f:
        c, w = g.color(avoid=[item.color])
        slot["color"], args["color"] = w, c
    if "othercolor" in f:
        slot["othercolor"] = g.pick(["a different colour", "another color", "a different color", "another colour"])
        args["exclude_colors"] = [item.color]
    if "style" in f:
        s, w = g.style()
        slot["style"], args["style"] = w, s
    if "material" in f:
        m = g.pick(["cotton", "wool", "linen", "leather", "denim", "silk"])
        slot["material"], args["material"] = m, m
    if "nomaterial" in f:
        m = g.pick(["leather", "wool", "polyester", "suede"])
        slot["nomaterial"], args["exclude_materials"] = m, [m]
    if "price" in f:
        p = g.pick(PRICES)
        slot["price"], args["max_price"] = g.under(p), float(p)
    return Draft(tpl.format(**slot), _call("find_alternatives", "find_alternatives", args), view)


def b_ref_outfit(g: Gen, tpl: str) -> Draft:
    """Build an outfit around a shown item named by position, category word or id."""
    view, item, slot = _alt_view(g, tpl)
    args: dict[str, Any] = {"anchor_item_id": item.id}
    if "occasion" in _fields(tpl):
        o, w = g.occasion()
        slot["occasion"], args["occasion"] = w, o
    return Draft(tpl.format(**slot), _call("recommend_outfit", "recommend_outfit", args), view)


def b_refine(g: Gen, tpl: str) -> Draft:
    """Change one filter of the previous search ("in blue instead", "what about wool ones")."""
    turn = g.rng.randint(2, 6)
    cat, words = g.category()
    c0, w0 = g.color()
    p = g.pick(PRICES)
    with_price = g.chance(0.5)
    asked = f"show me {w0} {words[1]}" + (f" under {p}" if with_price else "")
    items = g.shown(g.result_items(cat, color=c0), turn - 1, "search_catalog")
    history = [{"role": "user", "content": asked},
               {"role": "assistant", "content": f"Here are {len(items)} {words[1]} I found in {w0}."}]
    f = _fields(tpl)
    slot: dict[str, str] = {}
    args: dict[str, Any] = {"categories": [cat], "max_price": float(p) if with_price else None}
    if "color" in f:
        c, w = g.color(avoid=[c0])
        slot["color"], args["colors"] = w, [c]
        args["query"] = f"{w} {words[1]}"
    else:
        args["colors"] = [c0]
        m = g.pick(["wool", "cotton", "linen", "leather", "denim", "silk"])
        slot["material"], args["materials"] = m, [m]
        args["query"] = f"{m} {words[1]}"
    view = {"turn": turn, "history": history, "shown": items, "last_shown": items}
    return Draft(tpl.format(**slot), _call("search", "search_catalog", args), view)


def b_try_on(g: Gen, tpl: str) -> Draft:
    """Show a shown garment on the shopper's photo (attached earlier or now); ask for a photo if none."""
    turn = g.rng.randint(2, 6)
    items = [g.pick(g.by_cat[c]) for c in g.pick([("top", "trousers", "coat"), ("dress", "coat"),
                                                   ("shirt", "trousers", "pullover"), ("pullover", "trousers")])]
    shown = g.shown(items, turn - 1, "recommend_outfit")
    f = _fields(tpl)
    slot: dict[str, str] = {}
    if "ord" in f:
        k = g.rng.randint(1, len(shown))
        item = shown[k - 1]
        slot["ord"] = g.pick(ORDINALS[k])
    else:
        item = g.pick(shown)
        slot["ref"] = g.pick(CAT_WORDS[item.category])[2]
    view: dict[str, Any] = {"turn": turn, "shown": shown, "last_shown": shown}
    sha = hashlib.sha256(f"selfie-{g.rng.random()}".encode()).hexdigest()
    nophoto = tpl.startswith("~")
    tpl = tpl.lstrip("~")
    if nophoto:
        return Draft(tpl.format(**slot), Plan(intent="clarify"), view)
    when = turn if "now" in f else g.rng.randint(0, turn - 1)
    slot["now"] = ""
    selfie = ImageInfo(sha256=sha, path=f"uploads/{sha[:12]}.jpg", turn=when, width=768, height=1024)
    view["images"] = [selfie]
    if when == turn:
        view["new_images"] = [selfie]
    plan = _call("try_on", "virtual_try_on", {"item_id": item.id, "person_image": "latest"})
    return Draft(tpl.format(**slot).strip(), plan, view)


def b_generate(g: Gen, tpl: str) -> Draft:
    """Design a new garment as an image."""
    cat, words = g.category()
    parts: list[str] = []
    style = None
    if g.chance(0.4):
        style, w = g.style()
        parts.append(w)
    color, cw = g.color()
    parts.append(cw)
    if g.chance(0.25):
        parts.append(g.pick(["silk", "wool", "linen", "denim", "leather"]))
    parts.append(words[1] if words[0].startswith("pair of") else words[0])
    desc = " ".join(parts)
    article = "" if words[0].startswith("pair of") else ("an " if desc[0] in "aeiou" else "a ")
    text = tpl.format(desc=article + desc)
    return Draft(text, _call("generate_image", "generate_image",
                             {"prompt": desc, "category": cat, "color": color, "style": style}))


def b_fixed(intent: str) -> Builder:
    """Return a builder for call-less intents whose templates need no slots."""

    def build(g: Gen, tpl: str) -> Draft:
        view: dict[str, Any] = {"turn": g.rng.randint(0, 5)}
        if intent == "show_memory" and g.chance(0.7):
            view["preferences"] = g.preferences(view["turn"])
        return Draft(tpl, Plan(intent=intent), view)  # type: ignore[arg-type]

    build.__doc__ = f"A {intent} message (no tool call)."
    build.__name__ = build.__qualname__ = f"b_{intent}"
    return build


def b_statement(g: Gen, tpl: str) -> Draft:
    """State a lasting preference and nothing else: a noted reply and the fact."""
    turn = g.rng.randint(0, 5)
    f = _fields(tpl)
    slot: dict[str, str] = {}
    facts: list[PreferenceFact] = []
    if "lovecolor" in f:
        c, w = g.color()
        slot["lovecolor"] = w
        facts.append(g.fact("color", c, "like", turn))
    if "hatecolor" in f:
        c, w = g.color(avoid=[fact.value for fact in facts])
        slot["hatecolor"] = w
        facts.append(g.fact("color", c, "dislike", turn))
    if "hatematerial" in f:
        m = g.pick(["leather", "wool", "polyester", "suede", "denim", "silk"])
        slot["hatematerial"] = m
        facts.append(g.fact("material", m, "dislike", turn))
    if "size" in f:
        s = g.pick(SIZES)
        slot["size"] = s
        facts.append(g.fact("size", s, "neutral", turn))
    if "style" in f:
        s, w = g.style()
        slot["style"] = w
        facts.append(g.fact("style", s, "like", turn))
    text = tpl.format(**slot)
    for fact in facts:
        fact.text = text
    return Draft(text, Plan(intent="small_talk", facts=facts), {"turn": turn})


def b_forget(g: Gen, tpl: str) -> Draft:
    """Forget one stored preference, or everything."""
    turn = g.rng.randint(1, 6)
    prefs = g.preferences(turn, g.rng.randint(2, 4))
    f = _fields(tpl)
    slot: dict[str, str] = {}
    if not f:
        return Draft(tpl, Plan(intent="forget", forget=["*"]), {"turn": turn, "preferences": prefs})
    want = "size" if "size" in f else ("budget" if "budget" in f else None)
    if want:
        slot[want] = ""
        fact = next((p for p in prefs if p.kind == want), None)
        if fact is None:
            fact = g.fact(want, g.pick(SIZES) if want == "size" else f"max {g.pick(PRICES)}", "neutral", turn - 1)
            prefs.append(fact)
    else:
        pol = "like" if "liked" in f else "dislike"
        fact = next((p for p in prefs if p.polarity == pol and p.kind in ("color", "material", "style")), None)
        if fact is None:
            c, _ = g.color(avoid=[p.value for p in prefs])
            fact = g.fact("color", c, pol, turn - 1)
            prefs.append(fact)
        slot["liked" if pol == "like" else "disliked"] = fact.value
    g.rng.shuffle(prefs)
    return Draft(tpl.format(**slot), Plan(intent="forget", forget=[fact.key()]), {"turn": turn, "preferences": prefs})


def b_history(g: Gen, tpl: str) -> Draft:
    """Bring back an earlier outfit of this conversation."""
    turn = g.rng.randint(3, 7)
    outfits = [[i.id for i in g.outfit_items()] for _ in range(g.rng.randint(2, 3))]
    f = _fields(tpl)
    slot: dict[str, str] = {}
    if "ord" in f:
        k = g.rng.randint(1, len(outfits))
        slot["ord"] = ORDINALS[k][0]
        index = k
    else:
        index = -1
    return Draft(tpl.format(**slot), _call("history", "recall_outfit", {"index": index}),
                 {"turn": turn, "outfits": outfits})


def b_photo_outfit(g: Gen, tpl: str) -> Draft:
    """Build an outfit around the garment in a photo attached this turn."""
    cat = g.pick(CATEGORIES)
    color = g.pick(list(COLORS))
    args: dict[str, Any] = {"anchor_image": "latest", "anchor_category": cat, "anchor_color": color}
    slot: dict[str, str] = {}
    if "occasion" in _fields(tpl):
        o, w = g.occasion()
        slot["occasion"], args["occasion"] = w, o
    return Draft(tpl.format(**slot), _call("recommend_outfit", "recommend_outfit", args),
                 {"turn": g.rng.randint(0, 4)}, photo=(cat, color))


def b_photo_search(g: Gen, tpl: str) -> Draft:
    """Search for catalog items like the garment in a photo attached this turn."""
    cat = g.pick(CATEGORIES)
    color = g.pick(list(COLORS))
    args: dict[str, Any] = {"image": "latest", "categories": [cat]}
    slot: dict[str, str] = {}
    f = _fields(tpl)
    if "color" in f:
        c, w = g.color(avoid=[color])
        slot["color"], args["colors"] = w, [c]
    if "price" in f:
        p = g.pick(PRICES)
        slot["price"], args["max_price"] = g.under(p), float(p)
    return Draft(tpl.format(**slot), _call("search", "search_catalog", args), {"turn": g.rng.randint(0, 4)},
                 photo=(cat, color))


# --------------------------------------------------------------------------------------------------
# Families: (task, builder, phrasings), read from families/*.yaml. A phrasing starting with "~" is a
# variant the builder reads.
# --------------------------------------------------------------------------------------------------

#: Where the phrasing files live (shipped as package data).
FAMILIES_DIR = Path(__file__).resolve().parent / "families"
#: A template group: its task, its builder, and its phrasings (family ``<group>#<i>`` is phrasing ``i``).
Family = tuple[str, Builder, tuple[str, ...]]

b_show_memory = b_fixed("show_memory")
b_small_talk = b_fixed("small_talk")
b_out_of_scope = b_fixed("out_of_scope")

#: The builders a phrasing file may name, by their Python name.
BUILDERS: dict[str, Builder] = {b.__name__: b for b in (
    b_search, b_recommend, b_personal, b_pref_request, b_alternatives, b_ref_outfit, b_refine, b_try_on, b_generate,
    b_show_memory, b_small_talk, b_out_of_scope, b_statement, b_forget, b_history, b_photo_outfit, b_photo_search,
)}


def load_families(path: Path, builders: Mapping[str, Builder], tasks: Collection[str]) -> dict[str, Family]:
    """Read a phrasing file: group name -> ``{task, builder, phrasings}``, kept in file order.

    Raises:
        ValueError: the file is not such a mapping, or names an unknown task or builder (the message
            names the file and the group).
    """
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a mapping of group name -> {{task, builder, phrasings}}")
    out: dict[str, Family] = {}
    for group, spec in raw.items():
        where = f"{path}: group {group!r}"
        if not isinstance(spec, dict) or set(spec) != {"task", "builder", "phrasings"}:
            raise ValueError(f"{where}: needs exactly the keys task, builder and phrasings")
        task, builder, phrasings = spec["task"], spec["builder"], spec["phrasings"]
        if task not in tasks:
            raise ValueError(f"{where}: unknown task {task!r}; known: {', '.join(sorted(tasks))}")
        if builder not in builders:
            raise ValueError(f"{where}: unknown builder {builder!r}; known: {', '.join(sorted(builders))}")
        if (not isinstance(phrasings, list) or not phrasings
                or not all(isinstance(p, str) and p.strip() for p in phrasings)):
            raise ValueError(f"{where}: phrasings must be a non-empty list of non-empty strings")
        if len(set(phrasings)) != len(phrasings):
            raise ValueError(f"{where}: a phrasing is listed twice")
        out[str(group)] = (task, builders[builder], tuple(phrasings))
    return out


#: Relative weight of each task in a build (groups of a task are equally likely, then phrasings).
TASK_WEIGHTS: dict[str, float] = {
    "search": 16, "basic_recommendation": 13, "personalized_recommendation": 11, "alternatives": 12,
    "multi_round": 8, "try_on": 6, "generate_image": 6, "image_recommendation": 6, "image_search": 4,
    "memory": 3, "forget": 4, "small_talk": 3, "preference": 3, "out_of_scope": 3, "history": 2,
}
#: Tasks whose messages must not get casual prefixes/suffixes (they would change the intent).
_LITERAL_TASKS = frozenset({"small_talk", "out_of_scope", "memory", "forget", "preference"})

#: The base build's template groups (``families/families.yaml``).
FAMILIES: dict[str, Family] = load_families(FAMILIES_DIR / "families.yaml", BUILDERS, TASK_WEIGHTS)


def family_name(group: str, index: int) -> str:
    """Return the family name of phrasing ``index`` of ``group`` (``search_plain#2``)."""
    return f"{group}#{index}"


def assign_splits(seed: int) -> dict[str, Split]:
    """Assign every family (one phrasing of a group) to a split.

    Within each group about a quarter of the phrasings go to test and one to valid (groups of 4+),
    so every behaviour is trained on and every test phrasing is unseen in training.
    """
    rng = random.Random(f"splits-{seed}")
    out: dict[str, Split] = {}
    for group in sorted(FAMILIES):
        fams = [family_name(group, i) for i in range(len(FAMILIES[group][2]))]
        rng.shuffle(fams)
        n_test = max(1, round(0.25 * len(fams)))
        n_valid = 1 if len(fams) >= 4 else 0
        for i, name in enumerate(fams):
            out[name] = "test" if i < n_test else ("valid" if i < n_test + n_valid else "train")
    return out


# --------------------------------------------------------------------------------------------------
# Surface noise
# --------------------------------------------------------------------------------------------------


_ID_RE = re.compile(r"\b[a-z]{3}-\d{4}\b")


def _typo(g: Gen, text: str) -> str:
    words = text.split(" ")
    cands = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w.islower()]
    if not cands:
        return text
    i = g.pick(cands)
    w = words[i]
    j = g.rng.randint(1, len(w) - 2)
    kind = g.rng.randint(0, 2)
    if kind == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind == 1:
        w = w[:j] + w[j + 1:]
    else:
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def roughen(g: Gen, text: str, task: str) -> str:
    """Add casual noise: case, punctuation, a filler prefix/suffix, a typo."""
    if g.chance(0.12):
        text = _typo(g, text)
    if g.chance(0.25):
        text = _ID_RE.sub(lambda m: m.group(0).upper(), text.lower())
    if g.chance(0.2):
        text = text.rstrip("?!.")
    if task not in _LITERAL_TASKS:
        if g.chance(0.12):
            text = g.pick(["hey ", "ok so ", "hmm ", "right, ", "um ", "hi! "]) + text
        if g.chance(0.1):
            text = text + g.pick([" pls", " please", " thx", " :)", "!!"])
    return text


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------


def _tool_schemas() -> dict[str, dict[str, Any]]:
    from tools import discover

    return {name: cls.args_schema() for name, cls in discover().items()}


def build_samples(items: Sequence[Any], n: int = 6000, seed: int = 0, *, progress: bool = False
                  ) -> tuple[list[PlannerSample], list[ImageJob]]:
    """Draw ``n`` samples (deterministic by ``seed``) and the photos they need rendered.

    Photo samples come back with an :class:`ImageInfo` placeholder; :func:`attach_images` renders the
    photos and fills in what the image encoder predicts.
    """
    from tqdm import tqdm

    rng = random.Random(seed)
    g = Gen(rng, sorted(items, key=lambda i: i.id))
    splits = assign_splits(seed)
    schemas = _tool_schemas()
    by_task: dict[str, list[str]] = {}
    for name, (task, _, _) in FAMILIES.items():
        by_task.setdefault(task, []).append(name)
    tasks = list(TASK_WEIGHTS)
    weights = [TASK_WEIGHTS[t] for t in tasks]
    samples: list[PlannerSample] = []
    jobs: list[ImageJob] = []
    photo_counter = Counter[str]()
    for i in tqdm(range(n), desc="planner samples", disable=not progress, unit="sample"):
        task = rng.choices(tasks, weights)[0]
        group = g.pick(sorted(by_task[task]))
        _, builder, phrasings = FAMILIES[group]
        index = rng.randrange(len(phrasings))
        family = family_name(group, index)
        draft = builder(g, phrasings[index])
        text = roughen(g, draft.text, task)
        fields = dict(draft.view)
        fields.setdefault("turn", rng.randint(0, 4))
        split = splits[family]
        sid = f"p{seed}-{i:05d}"
        true_cat = true_color = None
        if draft.photo is not None:
            true_cat, true_color = draft.photo
            source = "test" if split == "test" else "train"
            photo_counter[source] += 1
            jobs.append(ImageJob(sample=i, split=source, index=-1, category=true_cat, color=true_color))
            info = ImageInfo(sha256="0" * 64, path="", turn=fields["turn"])
            fields["images"] = [*fields.get("images", []), info]
            fields["new_images"] = [info]
        view = PlannerInput(text=text, tools=schemas, **fields)
        samples.append(PlannerSample(
            id=sid, task=task, family=family, group=group, split=split, view=view, target=draft.target,
            compact=to_compact(draft.target), tools=sorted(schemas), true_category=true_cat, true_color=true_color))
    return samples, jobs


def attach_images(samples: list[PlannerSample], jobs: list[ImageJob], out: Path, seed: int = 0,
                  *, progress: bool = False, fmnist_dir: str | None = None) -> None:
    """Render each photo (a tinted Fashion-MNIST image of the true category), save it, and classify it.

    Train/valid photos come from the Fashion-MNIST train split, test photos only from its test split;
    no image is used twice within a split source.
    """
    if not jobs:
        return
    from tqdm import tqdm

    from agent.catalog.fmnist import load_split
    from agent.catalog.tint import tint_image
    from agent.vision import ImageEncoder

    rng = random.Random(f"images-{seed}")
    pools: dict[str, dict[int, list[int]]] = {}
    arrays: dict[str, Any] = {}
    for source in sorted({j.split for j in jobs}):
        images, labels = load_split(source, fmnist_dir)
        arrays[source] = images
        per: dict[int, list[int]] = {}
        for idx, lab in enumerate(labels.tolist()):
            per.setdefault(int(lab), []).append(idx)
        for lst in per.values():
            rng.shuffle(lst)
        pools[source] = per
    encoder = ImageEncoder.load()
    folder = out / "images"
    batch: list[tuple[ImageJob, Any, bytes]] = []

    def flush() -> None:
        results = encoder.classify_many([img for _, img, _ in batch])
        for (job, _, data), u in zip(batch, results, strict=True):
            sample = samples[job.sample]
            sha = hashlib.sha256(data).hexdigest()
            rel = f"images/{job.split}/{sha[:16]}.png"
            info = ImageInfo(sha256=sha, path=rel, turn=sample.view.turn, width=128, height=128,
                             category=u.category, category_confidence=round(float(u.category_confidence), 4),
                             color=u.color, color_confidence=round(float(u.color_confidence), 4))
            sample.view.images = [*sample.view.images[:-1], info]
            sample.view.new_images = [info]
            sample.image_path = rel
        batch.clear()

    for job in tqdm(jobs, desc="photos", disable=not progress, unit="photo"):
        label = CATEGORIES.index(job.category)
        pool = pools[job.split][label]
        if not pool:
            raise ValueError(f"ran out of Fashion-MNIST {job.split} images of {job.category}")
        job.index = pool.pop()
        img = tint_image(arrays[job.split][job.index], COLORS[job.color], size=128)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        data = buf.getvalue()
        target = folder / job.split
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{hashlib.sha256(data).hexdigest()[:16]}.png").write_bytes(data)
        batch.append((job, img, data))
        if len(batch) >= 256:
            flush()
    if batch:
        flush()


def _dump(sample: PlannerSample) -> str:
    return sample.model_dump_json(exclude={"view": {"tools"}})


def _encoder_accuracy(rows: Sequence[PlannerSample]) -> float | None:
    """Return how often the encoder's predicted category of a photo is its true category."""
    hits = [s.view.new_images[-1].category == s.true_category for s in rows if s.image_path and s.view.new_images]
    return round(sum(hits) / len(hits), 4) if hits else None


def write_dataset(samples: Sequence[PlannerSample], out: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``train/valid/test.jsonl`` and ``stats.json`` under ``out``; return the stats."""
    out.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {**meta, "samples": len(samples), "splits": {}}
    for split in SPLITS:
        rows = [s for s in samples if s.split == split]
        tmp = out / f"{split}.jsonl.tmp"
        tmp.write_text("".join(_dump(s) + "\n" for s in rows), encoding="utf-8")
        tmp.replace(out / f"{split}.jsonl")
        stats["splits"][split] = {
            "samples": len(rows),
            "tasks": dict(sorted(Counter(s.task for s in rows).items())),
            "n_families": len({s.family for s in rows}),
            "families": sorted({s.family for s in rows}),
            "photos": sum(1 for s in rows if s.image_path),
            "photo_encoder_category_accuracy": _encoder_accuracy(rows),
            "photo_source": "fashion-mnist test split" if split == "test" else "fashion-mnist train split",
        }
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    return stats


def load_samples(path_or_dir: str | Path, split: str | None = None) -> list[PlannerSample]:
    """Read samples from a ``.jsonl`` file or from ``<dir>/<split>.jsonl`` (all splits if ``split`` is None).

    Tool schemas are restored from the registry for the tools each sample lists; relative photo
    paths are made absolute against the data folder.
    """
    path = Path(path_or_dir)
    if path.is_dir():
        names = [split] if split else list(SPLITS)
        files = [path / f"{name}.jsonl" for name in names]
        root = path
    else:
        files, root = [path], path.parent
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"no planner samples at {', '.join(missing)}; build them with "
                                "`fashionm3 data build-planner`")
    schemas = _tool_schemas()
    out: list[PlannerSample] = []
    for file in files:
        with file.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                s = PlannerSample.model_validate_json(line)
                s.view.tools = {t: schemas[t] for t in s.tools if t in schemas}
                if s.image_path and not Path(s.image_path).is_absolute():
                    s.image_path = str(root / s.image_path)
                for img in [*s.view.images, *s.view.new_images]:
                    if img.path.startswith("images/"):
                        img.path = str(root / img.path)
                out.append(s)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Build the planner data set from the live catalog (``fashionm3 data build-planner``)."""
    parser = argparse.ArgumentParser(prog="fashionm3 data build-planner", description=main.__doc__)
    parser.add_argument("--out", default="data/planner", help="output folder (default: data/planner)")
    parser.add_argument("--n", type=int, default=6000, help="number of samples (default: 6000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--extra", type=int, default=DEFAULT_EXTRA,
                        help="supplementary train-only samples (training.planner.data_extra; default: %(default)s)")
    parser.add_argument("--everyday", type=int, default=0,
                        help="everyday-phrasing train samples to add (training.planner.data_everyday), and a "
                             "seventh as many from the held-out phrasing pools in OUT/everyday/test.jsonl "
                             "(default: 0)")
    parser.add_argument("--data-dir", default=None, help="data folder holding the catalog")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.extra < 0 or args.everyday < 0:
        parser.error("--extra and --everyday must be 0 or more")
    from agent.context import Context
    from agent.services import open_catalog

    settings = Context.from_env(data_dir=args.data_dir)
    catalog = open_catalog(settings)
    if not catalog.items:
        print(f"No catalog in {settings.catalog_dir}; build it with `fashionm3 catalog build`.")  # noqa: T201
        return 2
    out = Path(args.out)
    t0 = time.perf_counter()
    samples, jobs = build_samples(list(catalog.items.values()), args.n, args.seed, progress=not args.quiet)
    t1 = time.perf_counter()
    attach_images(samples, jobs, out, args.seed, progress=not args.quiet)
    if args.extra:
        from training.planner.data_extra import build_extra_samples

        samples += build_extra_samples(list(catalog.items.values()), args.extra, args.seed)
    if args.everyday:
        from training.planner.data_everyday import build_everyday_samples

        items = list(catalog.items.values())
        samples += build_everyday_samples(items, args.everyday, "train", args.seed)
        held = build_everyday_samples(items, max(1, args.everyday // 7), "test", args.seed)
        (out / "everyday").mkdir(parents=True, exist_ok=True)
        (out / "everyday" / "test.jsonl").write_text("".join(_dump(s) + "\n" for s in held), encoding="utf-8")
    t2 = time.perf_counter()
    stats = write_dataset(samples, out, {"seed": args.seed, "catalog": str(settings.catalog_dir),
                                         "generation_s": round(t1 - t0, 1), "images_s": round(t2 - t1, 1)})
    for split in SPLITS:
        info = stats["splits"][split]
        print(f"{split:5s} {info['samples']:5d} samples, {info['n_families']} families, "  # noqa: T201
              f"{info['photos']} photos")
    print(f"wrote {out} in {t2 - t0:.0f} s (generation {t1 - t0:.1f} s, photos {t2 - t1:.1f} s)")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
