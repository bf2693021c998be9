"""Grounding checks for model-written plans: every argument must come from the conversation.

A small language model that plans tool calls sometimes writes arguments nobody asked for: a
colour to exclude when the shopper named none, ``max_price=91`` for "alternatives to SNK-0270",
``exclude_materials=suede`` for "do you sell suede trousers", ``forget del:*`` for "bye". Executing
such a plan silently filters the catalog (or wipes the shopper's memory) on a hallucination.

:func:`ground_plan` checks each argument of a plan against what the conversation actually holds:

* colours, materials, categories, styles and occasions must be mentioned in the message (with the
  right polarity: an ``exclude_*`` value needs a negated mention, "no wool", or a recalled dislike;
  an included value needs a plain mention, a recalled like, a photo's predicted attribute, an item
  shown, or an earlier user message);
* prices must be written in the message (or an earlier one, or a recalled budget), and an explicit
  bound in the message overrides the model's: "at least 50" is ``min_price=50`` whatever it wrote;
* "cheaper" or "pricier" in the message must show in the plan (a ``cheaper`` flag or a price bound);
* forgetting everything needs an explicit request ("forget everything about me"), forgetting one
  fact needs a forget verb, and a noted preference must be mentioned in the message.

A plan that fails raises :class:`~agent.planners.base.PlanError`, so the caller's usual path
applies: one repair (another decoding), then the rules planner. Price bounds written in the message
are corrected rather than refused.

:func:`complete_plan` does the opposite repair: where the model routed the turn exactly like the
rules parser but dropped a vocabulary argument the parser read ("linen", "with a dress"), the
argument is added. The model's own arguments are never changed by it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from agent.catalog.vocab import similar
from agent.plan import Plan, PlannerInput, ToolCall
from agent.understanding.cues import (
    ANOTHER_COLOR_RE,
    CHANGE_CUE_RE,
    COMPARATIVE_RE,
    DEFINITE_NOUN_RE,
    EARLIER_OUTFIT_QUESTION_RE,
    FIND_CUE_RE,
    FORGET_CUE_RE,
    FORGET_EVERYTHING_RE,
    FORGET_SPECIFIC_RE,
    IT_RE,
    MEMORY_CUE_RE,
    MORE_RESULTS_RE,
    PRICE_CUE_RE,
    RECALL_CUE_RE,
)

#: Materials a vegan or cruelty-free request excludes.
ANIMAL_MATERIALS = frozenset({"leather", "suede", "wool", "silk", "cashmere"})
PRICE_ARGS = ("min_price", "max_price", "max_total")
#: Argument kinds (:meth:`tools.base.Tool.argument_kinds`) whose values must be mentioned in the conversation.
_GROUNDED_KINDS = frozenset({"color", "material", "category", "style", "occasion"})


_TOKEN_RE = re.compile(r"[a-z]+")
_PRICE_SENSE_ARGS = ("cheaper", "pricier", "min_price", "max_price", "max_total")


@dataclass
class Evidence:
    """What the conversation supports, as ``(kind, value)`` pairs, split by polarity."""

    said: set[tuple[str, str]] = field(default_factory=set)
    negated: set[tuple[str, str]] = field(default_factory=set)
    loose: set[tuple[str, str]] = field(default_factory=set)
    context: set[tuple[str, str]] = field(default_factory=set)
    disliked: set[tuple[str, str]] = field(default_factory=set)
    prices: dict[str, float] = field(default_factory=dict)
    outfit_prices: dict[str, float] = field(default_factory=dict)
    numbers: set[float] = field(default_factory=set)
    price_cue: bool = False
    negation_cue: bool = False
    vegan: bool = False
    photo: bool = False
    photo_color_unknown: bool = False
    another: bool = False
    shown: set[tuple[str, str]] = field(default_factory=set)
    restated_prices: set[float] = field(default_factory=set)
    earlier_colors: set[str] = field(default_factory=set)
    forget_any: bool = False
    forget_all: bool = False

    def supports(self, kind: str, value: str, *, exclude: bool, shown: bool = True) -> bool:
        """Whether ``value`` of ``kind`` may be used, as an exclusion or as a wish.

        ``shown`` lets the attributes of items already shown count (an anchor, "any cotton ones?"),
        but not where the value is a change asked for (an alternative's new colour).
        """
        key = (kind, value)
        if exclude:
            return (key in self.negated or key in self.disliked
                    or (key in self.loose and self.negation_cue)
                    or (kind == "material" and self.vegan and value in ANIMAL_MATERIALS)
                    or (kind == "color" and self.another and key in self.shown))
        if key in self.disliked and key not in self.said:
            return False  # "I can't stand yellow" earlier backs excluding yellow, never asking for it unasked
        if kind == "category" and self.photo:
            return True  # the photo is the source; its true category may differ from the encoder's guess
        if kind == "color" and self.photo_color_unknown:
            return True  # a photo whose colour was not read may be any colour
        if key in self.said or key in self.context or (shown and key in self.shown):
            return True
        # A typo'd or differently worded mention counts unless the parser saw it only as negated
        # (categories are named even when excluding something else: "I hate charcoal - blouses please").
        return key in self.loose and (kind == "category" or key not in self.negated)


@functools.cache
def _synonym_table() -> tuple[tuple[str, str, str], ...]:
    """Return ``(synonym, kind, value)`` rows for every vocabulary term (lowercase, hyphens as spaces)."""
    from agent.catalog.vocab import (
        CATEGORY_SYNONYMS,
        COLOR_SYNONYMS,
        GROUP_SYNONYMS,
        MATERIAL_SYNONYMS,
        OCCASION_SYNONYMS,
        STYLE_SYNONYMS,
    )

    rows: list[tuple[str, str, str]] = []
    tables: list[tuple[str, dict[str, tuple[str, ...]]]] = [
        ("category", dict(CATEGORY_SYNONYMS)), ("color", dict(COLOR_SYNONYMS)),
        ("material", dict(MATERIAL_SYNONYMS)), ("style", dict(STYLE_SYNONYMS)),
        ("occasion", dict(OCCASION_SYNONYMS)),
    ]
    for kind, table in tables:
        for value, synonyms in table.items():
            for syn in {value.replace("_", " "), *synonyms}:
                rows.append((syn.lower().replace("-", " "), kind, value))
    for word, cats in GROUP_SYNONYMS.items():
        rows += [(word, "category", c) for c in cats]
    return tuple(rows)


@functools.lru_cache(maxsize=20000)
def _gram_terms(gram: str) -> frozenset[tuple[str, str]]:
    """Return the vocabulary terms one word or word pair stands for (exactly, as a plural or a typo)."""
    return frozenset((kind, value) for syn, kind, value in _synonym_table() if similar(gram, syn))


def loose_mentions(text: str) -> set[tuple[str, str]]:
    """Return every ``(kind, value)`` whose synonym appears in ``text``, allowing plurals and typos."""
    tokens = _TOKEN_RE.findall(text.lower())
    grams = set(tokens) | {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}
    found: set[tuple[str, str]] = set()
    for gram in grams:
        found |= _gram_terms(gram)
    return found


def _mention_pairs(mentions: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    from agent.catalog.vocab import GROUP_SYNONYMS

    said: set[tuple[str, str]] = set()
    negated: set[tuple[str, str]] = set()
    for m in mentions:
        pairs = [("category", c) for c in GROUP_SYNONYMS["shoes"]] if m.kind == "group" else [(m.kind, m.value)]
        (negated if m.negated else said).update(pairs)
    return said, negated


def _numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)}




def gather_evidence(view: PlannerInput) -> Evidence:
    """Read the message, earlier user messages, recalled preferences, photos and shown items."""
    from agent.understanding.cues import VEGAN_RE
    from agent.understanding.mentions import NEG_CUE_RE
    from agent.understanding.message import parse_message
    from agent.understanding.prices import price_slots

    parsed = view.parsed
    ev = Evidence()
    ev.said, ev.negated = _mention_pairs(parsed.mentions)
    # Mentions inside preference statements ("I hate wool, show me coats") count with their polarity.
    for fact in parsed.facts:
        pair = (fact.kind, fact.value)
        (ev.negated if fact.polarity == "dislike" else ev.said).add(pair)
    ev.loose = loose_mentions(parsed.norm) | loose_mentions(view.text)
    # a situation that implies a garment or an occasion ("freezing on my commute": a coat), by keywords or
    # by closeness in meaning to the needs' descriptions (MiniLM): it supports what it implies
    from agent.understanding.needs import need_cues, need_prior

    for need in [*need_cues(parsed.norm), *need_prior(view.text)]:
        ev.said.update(("category", c) for c in need.categories)
        if need.occasion:
            ev.said.add(("occasion", need.occasion))
    ev.prices = price_slots(parsed.prices, outfit=False)
    ev.outfit_prices = price_slots(parsed.prices, outfit=True)
    ev.numbers = _numbers(parsed.norm)
    ev.price_cue = bool(parsed.prices) or bool(PRICE_CUE_RE.search(view.text.lower()))
    words = set(_TOKEN_RE.findall(parsed.norm))
    ev.negation_cue = (bool(NEG_CUE_RE.search(parsed.norm)) or any(f.polarity == "dislike" for f in parsed.facts)
                       or any(similar(w, "allergic") for w in words))
    ev.vegan = bool(VEGAN_RE.search(parsed.norm)) or any(similar(w, "vegan") for w in words)
    ev.another = bool(ANOTHER_COLOR_RE.search(parsed.norm))
    ev.forget_any = bool(FORGET_CUE_RE.search(parsed.norm))
    ev.forget_all = ev.forget_any and bool(FORGET_EVERYTHING_RE.search(parsed.norm))
    asked = set(_TOKEN_RE.findall(parsed.norm))
    for turn in view.history:
        if turn.get("role") != "user":
            continue
        earlier = parse_message(str(turn.get("content", "")))
        norm = earlier.norm
        before = set(_TOKEN_RE.findall(norm))
        if len(asked) >= 3 and not ev.price_cue and asked <= before and len(before - asked) <= 4:
            # "an outfit for a wedding" after "an outfit for a wedding, 100 in total": the same request said
            # again without its price (a few words fewer), so that price no longer holds
            ev.restated_prices |= {*price_slots(earlier.prices, outfit=True).values(),
                                   *price_slots(earlier.prices, outfit=False).values()}
        said, negated = _mention_pairs(earlier.mentions)
        for fact in earlier.facts:
            (negated if fact.polarity == "dislike" else said).add((fact.kind, fact.value))
        # "I don't like grey" earlier backs excluding grey, never asking for it
        ev.context |= said | (loose_mentions(norm) - (negated - said))
        ev.earlier_colors |= {v for k, v in said if k == "color"}
        ev.disliked |= negated
        ev.numbers |= _numbers(norm)
    for p in view.preferences:
        pair = (p.kind, p.value.strip().lower())
        if p.polarity == "dislike":
            ev.disliked.add(pair)
        else:
            ev.context.add(pair)
        if p.kind == "budget":  # a stored budget grounds its price, whatever the message leaves out
            ev.numbers |= _numbers(p.value)
            ev.restated_prices -= _numbers(p.value)
    for image in view.images:
        if image.role == "person":
            continue  # a photo of the shopper shows no one garment: it grounds no category or colour
        ev.photo = True
        ev.photo_color_unknown |= image.color is None
        if image.category:
            ev.context.add(("category", image.category))
        if image.color:
            ev.context.add(("color", image.color))
    for item in view.shown:
        ev.shown.update({("category", item.category), ("color", item.color)})
    return ev


def _check_values(call: ToolCall, key: str, kind: str, values: list[str], ev: Evidence, *, exclude: bool) -> None:
    from agent.planners.base import PlanError

    change = call.name == "find_alternatives" and key in ("color", "style", "material")
    for value in values:
        if not ev.supports(kind, str(value).strip().lower(), exclude=exclude, shown=not change):
            how = ("nothing in the conversation excludes it" if exclude
                   else "the shopper did not ask for it")
            raise PlanError(f"{call.name}.{key}={value!r} is not grounded: {how}", tool=call.name, argument=key,
                            value=value)


#: Why a price bound the conversation gives no ground for is refused (a made-up bound: a model may drop it).
NO_PRICE = "the conversation names no price"


def _ground_prices(call: ToolCall, args: dict[str, Any], ev: Evidence, fields: set[str]) -> dict[str, Any]:
    from agent.planners.base import PlanError

    stated = ev.outfit_prices if call.name == "recommend_outfit" else ev.prices
    stated = {k: v for k, v in stated.items() if k in fields}
    given = {k: float(args[k]) for k in PRICE_ARGS if args.get(k) is not None}
    out = {k: v for k, v in args.items() if k not in PRICE_ARGS}
    if stated and (not given or sorted(given.values()) == sorted(stated.values())):
        # The bounds the message states: added where the model dropped them, and their direction
        # ("at least 50" is a minimum) taken from the message where the model got it wrong.
        out.update(stated)
        return out
    for key, value in given.items():
        if value not in ev.numbers and not ev.price_cue:
            raise PlanError(f"{call.name}.{key}={value:g} is not grounded: {NO_PRICE}",
                            tool=call.name, argument=key, value=value)
        if value in ev.restated_prices:
            raise PlanError(f"{call.name}.{key}={value:g} is not grounded: {NO_PRICE} (the shopper asked again "
                            "without it)", tool=call.name, argument=key, value=value)
    return args


def _blank(value: Any) -> bool:
    """Whether an argument value says nothing (None, an empty list or string)."""
    return value is None or value == [] or value == ""


def _check_replaced_colors(call: ToolCall, values: list[str], ev: Evidence) -> None:
    """Refuse a search colour carried from an earlier message when this message names other colours, none used.

    "gren tops" after "black sneakers" is a green search, not a black one; "and in white as well?" keeps black
    (white is used too), and colours of a photo or of shown items are not carried this way.
    """
    from agent.planners.base import PlanError

    named = {v for k, v in ev.said if k == "color"} | {v for k, v in ev.loose if k == "color"}
    if not named or named & set(values):
        return
    for value in values:
        if value in ev.earlier_colors:
            raise PlanError(f"{call.name}.colors={value!r} is not grounded: this message names "
                            f"{', '.join(sorted(named))} instead", tool=call.name, argument="colors", value=value)


def ground_call(call: ToolCall, ev: Evidence, fields: set[str]) -> ToolCall:
    """Return ``call`` with its price bounds corrected; raise PlanError for an ungrounded argument."""
    from tools import argument_kinds

    kinds = argument_kinds(call.name)
    args = dict(call.args)
    for key, value in call.args.items():
        if _blank(value):
            continue
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        kind = kinds.get(key, "")
        if kind.startswith("exclude_"):
            _check_values(call, key, kind.removeprefix("exclude_"), values, ev, exclude=True)
        elif kind in _GROUNDED_KINDS:
            _check_values(call, key, kind, values, ev, exclude=False)
        if call.name == "search_catalog" and key == "colors":
            _check_replaced_colors(call, [v.strip().lower() for v in values], ev)
    args = _ground_prices(call, args, ev, fields)
    return call.model_copy(update={"args": args})


def ground_plan(plan: Plan, view: PlannerInput) -> Plan:
    """Return ``plan`` with price bounds taken from the message, or raise PlanError (see module doc)."""
    from agent.planners.base import PlanError
    from tools import argument_kinds, discover

    if view.step > 0 and view.results:
        return plan  # a continuation may use values the tools returned
    ev = gather_evidence(view)
    comparative = COMPARATIVE_RE.search(view.text.lower()) or COMPARATIVE_RE.search(view.parsed.norm)
    asks_about_shown = all(c.name == "answer_about_items" for c in plan.calls)  # "which is the priciest?"
    if plan.calls and comparative and not asks_about_shown and not any(
            c.args.get(k) not in (None, False) for c in plan.calls for k in _PRICE_SENSE_ARGS):
        raise PlanError("the shopper asked for a cheaper (or pricier) option, and no call in the plan says so")
    registry = discover()
    typed = view.text.lower()
    for call in plan.calls:
        named = (call.args.get("ids") or []) if call.name == "search_catalog" else []
        for item_id in named:
            if not re.search(rf"(?<![\w-]){re.escape(str(item_id).strip().lower())}(?![\w-])", typed):
                raise PlanError(f"search_catalog.ids: {item_id!r} is not grounded: the shopper typed no such id "
                                "(search by what they describe instead)")
    for call in plan.calls:
        if call.name == "search_catalog" and call.args.get("more") and not MORE_RESULTS_RE.search(view.parsed.request):
            # "more" leaves out everything shown: only for "show me more", "got any others?"
            raise PlanError("search_catalog.more is not grounded: the shopper did not ask for more of the same "
                            "search", tool=call.name, argument="more", value=True)
    calls = [ground_call(c, ev, set(registry[c.name].Args.model_fields) if c.name in registry else set())
             for c in plan.calls]
    for i, call in enumerate(plan.calls):
        drawn = any(c.name == "generate_image" for c in plan.calls[:i])  # design-then-find in one plan
        if drawn and call.name == "search_catalog" and not FIND_CUE_RE.search(view.text.lower()):
            raise PlanError("search_catalog after generate_image is not grounded: the shopper asked for a design only")
        kinds = argument_kinds(call.name)
        for key in [k for k in call.args if kinds.get(k) == "image"]:
            if not _blank(call.args[key]) and not view.images and not drawn:
                raise PlanError(f"{call.name}.{key} is not grounded: no photo is attached or generated yet")
    for entry in plan.forget:
        if entry.strip() in ("*", "all"):
            if not ev.forget_all:
                raise PlanError("forget everything is not grounded: the shopper did not ask to forget everything")
        elif not ev.forget_any:
            raise PlanError(f"forget {entry!r} is not grounded: the shopper did not ask to forget anything")
    if [c.name for c in plan.calls] == ["search_catalog"] and not plan.calls[0].args.get("image") \
            and view.focus_item_id and IT_RE.search(view.text.lower()):
        # "show it in blue" is about the piece in focus (an alternative of it), not a new search
        raise PlanError(f"search_catalog is not grounded: the message refers to the item in focus "
                        f"({view.focus_item_id}), which a new search ignores")
    piece = _named_piece(view)
    if piece is not None:
        if [c.name for c in plan.calls] == ["search_catalog"] and not plan.calls[0].args.get("image"):
            # "something cheaper for the top" after an outfit is about that piece (an alternative of it)
            raise PlanError(f"search_catalog is not grounded: the message asks to change a piece already shown "
                            f"({piece}), which a new search ignores")
        for call in plan.calls:
            chosen = call.args.get("item_id")
            if call.name in ("find_alternatives", "answer_about_items") and chosen and chosen != piece:
                # "the bag's a bit much, cheaper one?" is about the bag, not about the shoes
                raise PlanError(f"{call.name}.item_id={chosen} is not grounded: the message names the piece "
                                f"{piece}, not {chosen}", tool=call.name, argument="item_id", value=chosen)
    names = {c.name for c in plan.calls}
    if names and "recall_outfit" not in names and EARLIER_OUTFIT_QUESTION_RE.search(view.parsed.norm):
        # "what was the first outfit?" asks to see an outfit already recommended: not a new outfit, not
        # alternatives to one of its pieces
        first = sorted(names)[0]
        raise PlanError(f"{first} is not grounded: the shopper asks about an outfit shown earlier "
                        "(recall_outfit), not for new items")
    if plan.calls and not plan.forget and FORGET_SPECIFIC_RE.search(view.parsed.norm):
        # "forget that I don't like grey" takes a preference back; it asks for no items
        raise PlanError(f"{plan.calls[0].name} is not grounded: the shopper asks to forget a preference "
                        "(plan forget | del:kind:value), not for items")
    if any(c.name == "recall_outfit" for c in plan.calls) and not RECALL_CUE_RE.search(view.text.lower()):
        raise PlanError("recall_outfit is not grounded: the shopper did not ask for an earlier outfit")
    if plan.intent == "show_memory" and not plan.calls and not MEMORY_CUE_RE.search(view.text.lower()):
        raise PlanError("show_memory is not grounded: the shopper did not ask what is remembered about them")
    for fact in plan.facts:
        if fact.kind in ("color", "material", "category", "style"):
            pair = (fact.kind, fact.value.strip().lower())
            if pair not in ev.said and pair not in ev.negated and pair not in ev.loose and not (
                    fact.kind == "material" and ev.vegan and pair[1] in ANIMAL_MATERIALS):
                raise PlanError(f"preference {fact.kind}:{fact.value} is not grounded: the message does not mention it")
            if fact.polarity == "dislike" and not ev.supports(fact.kind, pair[1], exclude=True):
                # "shwo me blak snekaers" asks for black: a dislike of black would be stored against the shopper
                raise PlanError(f"preference -{fact.kind}:{fact.value} is not grounded: the message asks for "
                                f"{fact.value} or names it without a dislike")
    return plan.model_copy(update={"calls": calls})




def _named_piece(view: PlannerInput) -> str | None:
    """Return the id of a shown piece the message asks to change by its role ("cheaper for the top"), or None.

    Only with a change cue (cheaper, pricier, swap, change, replace, instead, different, another): "show me
    the dresses" after a list of dresses is a new search, "something cheaper for the top" is not, nor is
    "different trainers with that?" after an outfit (:func:`~agent.understanding.references.changed_piece`).
    """
    from agent.understanding.references import changed_piece, shown_by_role

    piece = changed_piece(view.parsed, view)  # "different trainers with that?" after an outfit
    if piece is not None:
        return piece.item_id
    text = view.text.lower()
    if not view.shown or not (COMPARATIVE_RE.search(text) or CHANGE_CUE_RE.search(text)):
        return None
    for word in DEFINITE_NOUN_RE.findall(view.parsed.norm):
        item = shown_by_role(view, word)
        if item is not None:
            return item.id
    return None


#: Arguments the rules parser may fill in when the model routed like it but left them out.
COMPLETABLE = frozenset({
    "colors", "exclude_colors", "materials", "exclude_materials", "styles", "include_categories",
    "exclude_categories", "anchor_category", "anchor_color", "occasion", "style", "material", "color", "sizes",
    "ids", "more",
})


#: Price bounds a search completed from the reader keeps: the reader carries them into a follow-up that changes
#: another filter of the search just shown, and otherwise reads them from the message (grounded already).
_CARRIED_BOUNDS = ("min_price", "max_price")


def complete_plan(plan: Plan, parsed: Plan) -> Plan:
    """Return ``plan`` with arguments it left out taken from ``parsed`` (the rules parser's plan).

    Only when both plans call the same tools in the same order, and only the vocabulary arguments in
    :data:`COMPLETABLE` (the model chose the route; the parser saw "linen" or "with a dress" that
    the model dropped), and a search's price bounds when the model's search has none and names the same
    categories as the parser's. Nothing the model wrote is changed.
    """
    if [c.name for c in plan.calls] != [c.name for c in parsed.calls]:
        return plan
    calls = []
    for mine, theirs in zip(plan.calls, parsed.calls, strict=True):
        args = dict(mine.args)
        for key, value in theirs.args.items():
            if key in COMPLETABLE and not _blank(value) and _blank(args.get(key)):
                args[key] = value
            elif (key.startswith("exclude_") and isinstance(value, list) and isinstance(args.get(key), list)
                  and set(value) - set(args[key])):
                # every item of a negated list is excluded ("nothing in navy or white"): exclusions only grow
                args[key] = [*args[key], *(v for v in value if v not in args[key])]
            elif (key in _CARRIED_BOUNDS and mine.name == "search_catalog" and value is not None
                  and not args.get("image") and not args.get("ids")
                  and not any(args.get(k) is not None for k in _CARRIED_BOUNDS)
                  and mine.args.get("categories") and theirs.args.get("categories")
                  and set(mine.args["categories"]) == set(theirs.args["categories"])):
                # the same search with one filter changed ("in grey" after "... under 150"): its bound holds
                args[key] = value
        calls.append(mine.model_copy(update={"args": args}))
    return plan.model_copy(update={"calls": calls})
