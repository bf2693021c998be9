"""A deterministic planner: keyword and grammar rules turn a shopper's message into a validated plan.

It is the honest baseline a learned planner has to beat. One step per turn: it reads the message
(normalised: accents, contractions, currency, numbers written as words, modest typo repair), finds
the catalog vocabulary in it (categories, colours, styles, materials, occasions) and which of those
are negated ("no black", "without a bag"), the price constraints, and which shown item a phrase
refers to ("the second one", "the bag", "SHT-0042", "it"). It then picks one intent and fills that
tool's arguments, and separately notices lasting preferences ("I love navy", "I'm a size M").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, cast

from agent import replies
from agent.catalog.vocab import (
    FOOTWEAR,
    OCCASIONS,
)
from agent.plan import FactKind, ImageInfo, Intent, Plan, PlannerInput, PreferenceFact, ToolCall
from agent.planners.tool_router import route_untrained
from agent.understanding.clauses import MAX_REQUESTS, split_requests
from agent.understanding.cues import (
    ABOUT_RE,
    ACK_RE,
    ALT_RE,
    ANCHOR_CUE_RE,
    BROWSE_RE,
    BYE_RE,
    CHEAPER_RE,
    COLOR_CHANGE_RE,
    DISLIKE_ITEM_RE,
    EDIT_DETAIL_RE,
    EDIT_RE,
    FORGET_ALL_RE,
    FORGET_LAST_RE,
    FORGET_RE,
    FORGET_SPECIFIC_RE,
    GREETING_RE,
    HIST_ORD,
    HISTORY_NEW_RE,
    HISTORY_RE,
    IMAGE_LEAD_RE,
    IMAGE_RE,
    LIKE_THIS_RE,
    MEMORY_RE,
    MORE_RESULTS_RE,
    NEVER_MIND_RE,
    OOS_RE,
    PRAISE_RE,
    PRICE_QUESTION_RE,
    PRICIER_RE,
    QUESTION_FORM_RE,
    RECOMMEND_PRONOUN_RE,
    RECOMMEND_RE,
    REQUEST_WORDS_RE,
    SEARCH_RE,
    SIZE_QUESTION_RE,
    STYLE_CHANGE_RE,
    THANKS_RE,
    THEN_FIND_RE,
    TIME_NOUNS,
    TRY_ON_RE,
    UNCARRIED_RE,
    VEGAN_RE,
    YES_RE,
)
from agent.understanding.mentions import NEG_CUE_RE, Mention
from agent.understanding.message import ParsedMessage, mask_spans, parse_message
from agent.understanding.needs import need_cues
from agent.understanding.prices import price_slots
from agent.understanding.references import (
    Reference,
    changed_piece,
    determiner_before,
    displayed_items,
    find_reference,
    next_mention,
    shown_choices,
)
from tools.answer_about_items import read_question

__all__ = ["RulesPlanner"]

SEARCH = "search_catalog"
RECOMMEND = "recommend_outfit"
ALTERNATIVES = "find_alternatives"
RECALL = "recall_outfit"
GENERATE = "generate_image"
TRY_ON = "virtual_try_on"
ASK = "answer_about_items"

Polarity = Literal["like", "dislike", "neutral"]

EXPLICIT = 0.9
INFERRED = 0.6

# --------------------------------------------------------------------------------------------------
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
_OFFER_OUTFIT_RE = re.compile(r"put together an outfit for the ([a-z ]+)\?", re.IGNORECASE)
_OFFER_SEARCH_RE = re.compile(r"(?:show you|search the catalog for) (.+?)(?:\?| instead)", re.IGNORECASE)
_OFFER_CHEAPER_RE = re.compile(r"Want something cheaper\?")
_GENERIC_OCCASIONS = frozenset({"weekend", "holiday", "vacation", "travel", "work"})


def _main_occasion(parsed: ParsedMessage) -> str | None:
    occasions = parsed.values("occasion")
    specific = [o for o in occasions if o not in _GENERIC_OCCASIONS]
    chosen = specific or occasions
    return chosen[0] if chosen else None


def _search_query(parsed: ParsedMessage, drop: Sequence[tuple[int, int]]) -> str | None:
    spans = list(drop) + [(m.start, m.end) for m in parsed.mentions if m.negated]
    for cue in NEG_CUE_RE.finditer(parsed.masked):
        if any(m.negated and 0 <= m.start - cue.end() <= 12 for m in parsed.mentions):
            spans.append((cue.start(), cue.end()))
    text = mask_spans(parsed.masked, spans)
    text = GREETING_RE.sub(" ", text)
    text = _QUERY_FILLER_RE.sub(" ", text)
    text = re.sub(r"\b(?:that|which) (?:are|is)\b", " ", text)
    text = re.sub(r"[^a-z0-9' -]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" -'")
    text = re.sub(r"^(?:a|an|the|some|any|for|with|in|of|and|or)\b\s*", "", text)
    text = re.sub(r"\s+(?:a|an|the|for|with|in|of|and|or|please)$", "", text).strip()
    return text or None


#: A message that lifts a price bound: "any price is fine", "price doesn't matter", "no budget".
_ANY_PRICE_RE = re.compile(
    r"\b(?:any|whatever) (?:price|budget|cost)\b|\bprice (?:doesn'?t|does not|is no|isn'?t an?) (?:matter|object|"
    r"issue|problem)\b|\bno (?:price )?(?:limit|budget|cap)\b|\bmoney is no object\b|\bdon'?t care (?:about|what) "
    r"(?:the )?(?:price|cost|it costs)\b|\bbudget (?:doesn'?t|does not) matter\b")
#: "show me BAG-0251", "can I see ANK-0301 and ANK-0302 in size 39?" (ids masked as ID): a look-up, nothing else.
_LOOKUP_RE = re.compile(
    r"(?:(?:hi|hey|ok|okay|so)\W+)?(?:(?:can|could) (?:you|i) (?:show|see|get|pull up)(?: me)?|show(?: me)?|"
    r"let me see|see|find(?: me)?|look up|pull up|open|what(?:'s| is)|tell me about|details (?:of|for|on)|"
    r"i want|i'd like)?\s*(?:the |item |product |sku |id |number )*ID(?:\s*(?:,|and|&)\s*(?:item |the )?ID)*"
    r"(?:,? in (?:a |an )?(?:size \w+|xx?s|s|m|l|xx?l|\d{1,2}(?:\.5)?))?\s*(?:please|pls|thanks)?\s*[?.!]*")
#: References to a shown item: a message with one is about that item, not about the search.
_ITEM_REFERENCES = ("id", "ordinal", "pronoun", "attribute")
#: Search filters a follow-up replaces when it names its own ("in grey" replaces the colour searched before).
_REPLACED = ("colors", "styles", "materials", "sizes")
#: Exclusions a follow-up adds to ("no leather" keeps the earlier exclusions).
_ADDED = ("exclude_colors", "exclude_materials")


def _is_look_up(parsed: ParsedMessage) -> bool:
    """Whether the message only asks to see items by id ("show me BAG-0251", "can I see BAG-0251 in size M?")."""
    text, end = "", 0
    for _, start, stop in parsed.ids:  # the reader's id spans, in order
        text += parsed.norm[end:start] + "ID"
        end = stop
    return bool(_LOOKUP_RE.fullmatch(" ".join((text + parsed.norm[end:]).split())))


def _refined(earlier: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """Return the search ``earlier`` with the filters a follow-up message states (``change``) applied.

    The follow-up's categories, colours, styles, materials and sizes replace the earlier ones when it names
    any; its exclusions add to the earlier ones (a colour it asks for is no longer excluded, nor one it
    excludes asked for); its price bounds replace the earlier bounds when it states any, else the earlier
    bounds hold ("in grey" after "... under 150" is still under 150). The free-text query is the follow-up's.
    """
    out = dict(earlier)
    for key in ("categories", *_REPLACED):
        if change.get(key):
            out[key] = change[key]
    for key in _ADDED:
        out[key] = list(dict.fromkeys([*(earlier.get(key) or []), *(change.get(key) or [])]))
    out["colors"] = [c for c in out.get("colors") or [] if c not in (change.get("exclude_colors") or [])]
    out["exclude_colors"] = [c for c in out["exclude_colors"] if c not in (change.get("colors") or [])]
    out["materials"] = [m for m in out.get("materials") or [] if m not in (change.get("exclude_materials") or [])]
    out["exclude_materials"] = [m for m in out["exclude_materials"] if m not in (change.get("materials") or [])]
    prices = {k: v for k, v in change.items() if k in ("min_price", "max_price") and v is not None}
    if prices or change.get("any_price"):
        out.pop("min_price", None)
        out.pop("max_price", None)
        out.update(prices)
    out["query"] = change.get("query")
    out.pop("any_price", None)
    return out


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
        parsed: ParsedMessage = view.parsed
        routed = None if view.step > 0 and view.results else route_untrained(view)
        clauses = split_requests(view.text) if routed is None and not (view.step > 0 and view.results) else []
        if len(clauses) > 1:
            plan = self._several(clauses, view)
        else:
            plan = routed if routed is not None else self._route(parsed, view)
        if view.step > 0 and view.results:
            return Plan(intent=plan.intent, final=True, planner=self.name)
        if plan.intent not in ("forget", "show_memory"):
            plan.facts = self._facts(parsed, view)
        plan.final = True
        plan.planner = self.name
        return plan

    # -- routing -----------------------------------------------------------------------------------

    def _route(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        text, req = parsed.masked, parsed.request
        if parsed.language:
            return self._foreign(parsed, view)
        if NEVER_MIND_RE.search(text):
            return Plan(intent="small_talk", reply="No problem. What would you like to look at next?")
        if FORGET_RE.search(text):
            return self._forget(parsed, view)
        if MEMORY_RE.search(text):
            return self._show_memory(view)
        if YES_RE.search(text):
            accepted = self._accept_offer(view)
            if accepted is not None:
                return accepted
        if PRAISE_RE.search(text):
            return Plan(intent="small_talk", reply="Glad you like it! Want alternatives to any piece, or "
                        "something else?")
        if parsed.ids and SEARCH in view.tools and _is_look_up(parsed):
            return self._search(parsed, view)
        question = self._question(parsed, view)
        if question is not None:
            return question
        price_q = PRICE_QUESTION_RE.search(req)
        if price_q:
            ref = find_reference(parsed, view)
            item = view.shown_by_id(ref.item_id) if ref.item_id else None
            if item is not None:
                return Plan(intent="small_talk", reply=f"The {item.title} ({item.id}) costs "
                            f"{item.price:.2f}. Want something cheaper?")
        edit = self._edit_generated(parsed, view)
        if edit is not None:
            return edit
        if IMAGE_RE.search(req):
            return self._generate(parsed, view)
        if TRY_ON_RE.search(req):
            return self._try_on(parsed, view)
        hist = HISTORY_RE.search(req)
        if hist and not HISTORY_NEW_RE.search(req) and not parsed.prices:
            return self._history(hist, view)
        need = self._need(parsed, view)
        if need is not None:
            return need
        if RECOMMEND_RE.search(req) or self._styled_look(parsed):
            return self._recommend(parsed, view)
        if LIKE_THIS_RE.search(req) and SEARCH in view.tools and self._recent_image(view) is not None:
            return self._search_by_image(parsed, view)
        sized = self._in_size(parsed, view)
        if sized is not None:
            return sized
        more = self._more_results(parsed, view)
        if more is not None:
            return more
        alt = self._alternatives_plan(parsed, view)
        if alt is not None:
            return alt
        cats = [m for m in parsed.of("category", negated=None) + parsed.of("group", negated=None)
                if not any(m.overlaps(s, e) for s, e in parsed.fact_spans)]
        fashion = [m for m in parsed.mentions if not any(m.overlaps(s, e) for s, e in parsed.fact_spans)]
        occasions = [m for m in fashion if m.kind == "occasion"]
        oos = OOS_RE.search(mask_spans(parsed.norm, parsed.fact_spans))
        if not cats and not oos:
            missing = UNCARRIED_RE.search(req)
            if missing and (SEARCH_RE.search(req) or req.strip(" ?!.") == missing.group(0)):
                return self._not_carried(view, missing.group(0))
            if BROWSE_RE.search(req):
                return self._browse(view)
        if cats or (fashion and not oos and not occasions):
            return self._search(parsed, view)
        if occasions and not oos and REQUEST_WORDS_RE.search(req):
            return self._recommend(parsed, view)
        if parsed.facts:
            return self._noted(parsed, view)
        greeting = parsed.greeting
        rest = text.strip(" !.,?")
        if ABOUT_RE.search(req) or (greeting and not rest):
            return self._small_talk(view, "hello" if greeting and not rest else "about")
        if THANKS_RE.search(req):
            return self._small_talk(view, "thanks")
        if BYE_RE.search(req):
            return self._small_talk(view, "bye")
        if oos:
            return self._out_of_scope(view)
        if ACK_RE.search(rest):
            return self._small_talk(view, "ack")
        browsing = re.search(r"\b(?:show|find|search|looking for|do you have|browse)\b", req)
        if (parsed.prices or browsing) and SEARCH in view.tools:
            return self._search(parsed, view)
        return self._small_talk(view, "unsure")

    def _question(self, parsed: ParsedMessage, view: PlannerInput) -> Plan | None:
        """Plan a question about the items shown ("which one is cheapest?", "is the second one in stock?"), if asked."""
        shown = displayed_items(view)
        if ASK not in view.tools or not shown:
            return None
        about = read_question(parsed.norm)
        req = parsed.request
        short = len(req.split()) <= 5 and (parsed.norm.rstrip().endswith("?") or about not in ("total", "cheapest"))
        if about is None or not (QUESTION_FORM_RE.search(parsed.norm) or short):
            return None
        if about in ("stock", "sizes") and parsed.sizes:
            return None  # "the first one in a 39?": a search in that size
        ref = find_reference(parsed, view)
        shown_cats = {s.category for s in view.shown}
        named = {c for m in parsed.of("category") + parsed.of("group")
                 for c in (FOOTWEAR if m.kind == "group" else (m.value,))}
        if named and not (named & shown_cats):
            return None  # asks about a kind of item not shown: a search
        item_id = ref.item_id if ref.kind in ("id", "ordinal", "category", "attribute", "pronoun") else None
        if about in ("cheapest", "priciest", "total"):
            item_id = None
        return self._call(view, "question", ASK, {"about": about, "item_id": item_id})

    def _need(self, parsed: ParsedMessage, view: PlannerInput) -> Plan | None:
        """Plan a situation that implies a garment ("it's freezing on my commute": a coat), if one is described.

        A category the shopper names for what they want wins; their own things ("my tops", the heels that
        hurt) do not count as naming one.
        """
        needs = need_cues(parsed.norm)
        if not needs:
            return None
        need = needs[0]
        own = [m for m in parsed.of("category") + parsed.of("group")
               if not (need.categories and (m.kind == "group" or m.value in FOOTWEAR) and
                       set(need.categories) <= set(FOOTWEAR))
               and (determiner_before(parsed, m.start) or ("", 0))[0] != "my"]
        if own:
            return None
        if need.occasion is not None:
            plan = self._recommend(parsed, view)
            if plan.calls and not plan.calls[0].args.get("occasion"):
                plan.calls[0] = ToolCall(name=RECOMMEND, args={**plan.calls[0].args, "occasion": need.occasion})
            return plan
        # only what the shopper asked for in words: the situation's other words ("the office" where the heels
        # hurt, "my work clothes") are no style or material wish
        args: dict[str, Any] = {
            "categories": list(need.categories), "colors": parsed.values("color"),
            "exclude_colors": parsed.values("color", negated=True),
            "exclude_materials": self._excluded_materials(parsed),
            **price_slots(parsed.prices, outfit=False), "sizes": parsed.sizes,
        }
        return self._call(view, "search", SEARCH, args)

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
        return Plan(intent="unavailable", reply=replies.unavailable(what, view.tools, offer))

    def _call(self, view: PlannerInput, intent: Intent, tool: str, args: dict[str, Any],
              offer: str = "") -> Plan:
        if tool not in view.tools:
            return self._unavailable(view, replies.TOOL_TITLES.get(tool, tool), offer)
        return Plan(intent=intent, calls=[ToolCall(name=tool, args=_clean_args(args, _props(view, tool)))])

    def _clarify(self, view: PlannerInput, problem: str, question: str) -> Plan:
        parts = [p for p in (problem, question) if p]
        if displayed_items(view):
            parts.append(shown_choices(view))
        return Plan(intent="clarify", reply=" ".join(parts))

    def _search(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        if parsed.ids and _is_look_up(parsed):
            # "show me BAG-0251": exactly the items named ("anything like BAG-0251?" is not a look-up)
            return self._call(view, "search", SEARCH, {"ids": list(dict.fromkeys(i for i, _, _ in parsed.ids)),
                                                       "sizes": parsed.sizes})
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
            "query": _search_query(parsed, [*parsed.fact_spans, *parsed.size_spans]),
            "categories": list(dict.fromkeys(c for c in categories if c not in excluded)),
            "colors": parsed.values("color"),
            "exclude_colors": parsed.values("color", negated=True),
            "exclude_categories": list(dict.fromkeys(excluded)),
            "styles": styles,
            "materials": parsed.values("material"),
            "exclude_materials": self._excluded_materials(parsed),
            **price_slots(parsed.prices, outfit=False),
            "sizes": parsed.sizes,
        }
        if not categories and not excluded and not view.new_images:
            earlier = self._search_shown(view)
            if earlier is not None:
                args = _refined(earlier, {**args, **self._search_args(parsed), "query": args["query"]})
        return self._call(view, "search", SEARCH, args)

    def _more_results(self, parsed: ParsedMessage, view: PlannerInput) -> Plan | None:
        """Plan "show me more" / "got any others?" after a search: that search again, leaving out what was shown.

        None when the message is more than that ask (``MORE_RESULTS_RE``: "more like the second one" is an
        alternative to it), when the list shown last is not a search's results, or when the search tool takes
        no ``more``.
        """
        if not MORE_RESULTS_RE.search(parsed.request) or SEARCH not in view.tools:
            return None
        props = _props(view, SEARCH)
        earlier = self._search_shown(view) if props is None or "more" in props else None
        if earlier is None:
            return None
        return self._call(view, "search", SEARCH, {**{k: v for k, v in earlier.items() if k != "any_price"},
                                                   "more": True})

    def _search_shown(self, view: PlannerInput) -> dict[str, Any] | None:
        """Return the filters of the search whose results are shown last, read from the shopper's messages.

        The search is the latest earlier user message naming a category, with the filters of the user
        messages after it applied in turn ("black ankle boots under 150", then "in grey": grey ankle boots
        under 150). None when the list shown last is not a search's results, or its items are not of the
        categories that message names (the list came from something else).
        """
        last = view.last_shown
        if not last or any(s.source != SEARCH for s in last):
            return None
        said = [str(h.get("content", "")) for h in view.history if h.get("role") == "user"]
        if said and said[-1].strip() == view.text.strip():
            said = said[:-1]  # the history may already hold this message
        for start in range(len(said) - 1, -1, -1):
            first = self._search_args(parse_message(said[start]))
            if not first["categories"]:
                continue
            if not {s.category for s in last} <= set(first["categories"]):
                return None
            for text in said[start + 1:]:
                parsed = parse_message(text)
                if read_question(text) is not None or find_reference(parsed, view).kind in _ITEM_REFERENCES:
                    continue  # "is the second one real leather?" asks about an item; it changes no filter
                first = _refined(first, self._search_args(parsed))
            return first
        return None

    def _search_args(self, parsed: ParsedMessage) -> dict[str, Any]:
        """Return the search filters a message states (categories, colours, materials, styles, prices, sizes).

        What it says about the shopper ("I'm a size 39", "I hate yellow") is not a filter: the memory stores it
        and the tools apply it. ``any_price`` is True when it lifts a price bound ("any price is fine", "pricier
        is ok"): a bound of the search before no longer holds.
        """
        like = list(parsed.fact_spans)
        cats: list[str] = []
        for m in parsed.of("category", outside=like) + parsed.of("group", outside=like):
            cats.extend(FOOTWEAR if m.kind == "group" else (m.value,))
        sized = not any(f.kind == "size" for f in parsed.facts)
        return {"categories": list(dict.fromkeys(cats)), "colors": parsed.values("color", outside=like),
                "exclude_colors": parsed.values("color", negated=True, outside=like),
                "styles": parsed.values("style", outside=like), "materials": parsed.values("material", outside=like),
                "exclude_materials": self._excluded_materials(parsed),
                **price_slots(parsed.prices, outfit=False), "sizes": parsed.sizes if sized else [],
                "any_price": bool(_ANY_PRICE_RE.search(parsed.norm) or PRICIER_RE.search(parsed.request))}

    def _in_size(self, parsed: ParsedMessage, view: PlannerInput) -> Plan | None:
        """Turn "the second one in M" / "do you have it in size 39?" into a search for that item in that size.

        The search keeps the shown item's category and colour and ranks by its title, so the item itself comes
        first when it has the size in stock; otherwise the closest items that do.
        """
        if not parsed.sizes:
            return None
        req = parsed.request
        if (CHEAPER_RE.search(req) or PRICIER_RE.search(req) or STYLE_CHANGE_RE.search(req)
                or COLOR_CHANGE_RE.search(req) or parsed.values("color") or parsed.values("material")):
            return None  # a change to the item: alternatives, in that size
        ref = find_reference(parsed, view)
        if ref.item_id is None or ref.kind not in ("id", "ordinal", "attribute", "category", "pronoun", "focus"):
            return None
        if [m for m in parsed.of("category") + parsed.of("group") if not (ref.span and m.overlaps(*ref.span))]:
            return None
        shown = view.shown_by_id(ref.item_id)
        if shown is None:
            return None
        args = {"query": shown.title, "categories": [shown.category], "colors": [shown.color],
                "sizes": parsed.sizes}
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
        if VEGAN_RE.search(parsed.masked):
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
        for cand in RECOMMEND_PRONOUN_RE.finditer(text):
            word = cand.group("p") or cand.group("q") or ""
            following = re.match(r"\s+([a-z]+)", text[cand.end():])
            if word in ("this", "that", "these", "those") and following and (
                    following.group(1) in TIME_NOUNS or next_mention(parsed, cand.end()) is not None):
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
            focus = view.focus_item_id or (displayed_items(view)[0].id if len(displayed_items(view)) == 1 else None)
            if focus is None:
                problem = ("I'm not sure which item you mean." if displayed_items(view) else
                           "I can't see what 'this' is yet.")
                return self._clarify(view, problem, "Attach a photo, describe the piece (for example 'black "
                                     "ankle boots'), or tell me which item to build around.")
            args["anchor_item_id"] = focus
        if "anchor_item_id" not in args:
            args["anchor_category"] = anchor_cat
            args["anchor_color"] = anchor_color
        args["occasion"] = _main_occasion(parsed)
        styles = parsed.values("style", outside=used)
        if not styles and PRICIER_RE.search(text) and re.search(r"\bfancier\b|\bposher\b", text):
            styles = ["formal"]
        args["style"] = styles[0] if styles else None
        include, colors = [], []
        for m in parsed.of("category", outside=used):
            include.append(m.value)
        for m in parsed.of("color", outside=used):
            head = next_mention(parsed, m.end)
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
        args["sizes"] = parsed.sizes
        return self._call(view, "recommend_outfit", RECOMMEND, args)

    def _described_anchor(self, parsed: ParsedMessage
                          ) -> tuple[Mention, list[str], str, tuple[int, int]] | None:
        """Find a garment the outfit must go with ("go with my black ankle boots")."""
        text = parsed.masked
        for cue in ANCHOR_CUE_RE.finditer(text):
            pos = cue.end()
            det = ""
            colors: list[str] = []
            for _ in range(6):
                mention = next_mention(parsed, pos)
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
                det_m = determiner_before(parsed, m.start)
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
        strong = bool(CHEAPER_RE.search(req) or PRICIER_RE.search(req) or ALT_RE.search(req))
        style_change = bool(STYLE_CHANGE_RE.search(req))
        neg_material = bool(parsed.of("material", negated=True, outside=parsed.fact_spans)) or bool(
            VEGAN_RE.search(req))
        color_change = bool(COLOR_CHANGE_RE.search(req))
        dislike_item = bool(DISLIKE_ITEM_RE.search(req))
        piece = changed_piece(parsed, view)
        if piece is not None and ALTERNATIVES in view.tools:
            return self._alternatives(parsed, view, piece)  # "different trainers with that?" after an outfit
        if not (strong or style_change or neg_material or color_change or dislike_item):
            return None
        ref = find_reference(parsed, view)
        if dislike_item and not (strong or style_change or neg_material or color_change):
            if ref.kind not in ("id", "ordinal", "category", "attribute", "pronoun"):
                return None
            strong = True
        cats = [m for m in parsed.of("category") + parsed.of("group")
                if not (ref.span and m.overlaps(*ref.span))]
        search_cue = bool(SEARCH_RE.search(req))
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
            if (ref.kind == "none" and not cats and (parsed.prices or parsed.values("color"))
                    and self._search_shown(view) is not None):
                return None  # "under 100 instead?" after a search: that search with the new filter (see _search)
            if ALTERNATIVES not in view.tools:
                return self._unavailable(view, "Finding alternatives")
            return self._clarify(view, ref.problem, "Which item would you like alternatives to?")
        if SIZE_QUESTION_RE.search(req):
            return Plan(intent="small_talk", reply="Which size? Tell me, for example 'the first one in M' or "
                        "'it in size 39', and I'll show what is in stock in that size.")
        return self._alternatives(parsed, view, ref)

    def _alternatives(self, parsed: ParsedMessage, view: PlannerInput, ref: Reference) -> Plan:
        outside = [ref.span] if ref.span else []
        text = mask_spans(parsed.masked, outside)
        args: dict[str, Any] = {"item_id": ref.item_id, "sizes": parsed.sizes}
        args["cheaper"] = bool(CHEAPER_RE.search(text))
        args["pricier"] = bool(PRICIER_RE.search(text)) and not args["cheaper"]
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
            index = HIST_ORD.get(word, -1)
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
        then_find = THEN_FIND_RE.search(parsed.norm)
        norm = parsed.norm[: then_find.start()] if then_find else parsed.norm
        if not parsed.values("category"):
            missing = UNCARRIED_RE.search(norm)
            if missing:
                return Plan(intent="clarify", reply=f"I can't design {missing.group(0)}: I can only draw garments "
                            f"this shop carries ({replies.CARRIED}). Shall I design one of those?")
        prompt = IMAGE_LEAD_RE.sub("", norm, count=1).strip(" .!?")
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
        if not EDIT_RE.search(parsed.norm) or not (colors or EDIT_DETAIL_RE.search(parsed.norm)):
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
        from agent.planners.checks import has_uploaded_photo

        if wants_person and not has_uploaded_photo(view):  # a generated design is not the shopper
            return Plan(intent="clarify", reply="Attach a photo of yourself (full body or upper body, facing "
                        "the camera) and I'll show the item on you.")
        for key in person_keys:
            if props is None or key in props:
                args[key] = "latest"
                break
        return self._call(view, "try_on", TRY_ON, args)

    def _show_memory(self, view: PlannerInput) -> Plan:
        return Plan(intent="show_memory", reply=replies.memory_summary(view.preferences))

    def _forget(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        text = parsed.masked
        if FORGET_ALL_RE.search(text) and not FORGET_SPECIFIC_RE.search(text):
            return Plan(intent="forget", forget=["*"], reply=replies.forgot_everything())
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
        if not keys and FORGET_LAST_RE.search(text) and view.preferences:
            latest = max(p.source_turn for p in view.preferences)
            keys = [p.key() for p in view.preferences if p.source_turn == latest]
        keys = list(dict.fromkeys(keys))
        asked_kind = re.search(r"\bmy (size|budget|brand|sizes)\b", text)
        if not keys and asked_kind:
            what = asked_kind.group(1)
            return Plan(intent="forget", reply=f"I had nothing stored about your {what}, so there is nothing "
                        "to forget.")
        if not keys:
            return Plan(intent="clarify", reply=replies.clarify_forget())
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
        return Plan(intent="forget", forget=keys, reply=replies.forgot(described))

    def _noted(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        return Plan(intent="small_talk", reply=replies.noted(self._facts(parsed, view), view.tools))

    def _several(self, clauses: list[str], view: PlannerInput) -> Plan:
        """Plan each request of the message on its own (its own slots), in order, up to MAX_REQUESTS."""
        plans = [self._route(parse_message(c), view.model_copy(update={"text": c}))
                 for c in clauses[:MAX_REQUESTS]]
        calls = [call for p in plans for call in p.calls]
        notes = [p.reply for p in plans if p.reply and not p.calls]
        left = clauses[MAX_REQUESTS:]
        if left:
            notes.append(f"I handle up to {MAX_REQUESTS} requests per message, so I left out: "
                         f"{replies.join([repr(c) for c in left])}. Ask me again for those.")
        intent = next((p.intent for p in plans if p.calls), plans[0].intent)
        return Plan(intent=intent, calls=calls, reply=" ".join(notes))

    def _foreign(self, parsed: ParsedMessage, view: PlannerInput) -> Plan:
        """Answer a message in another language with what was understood, never a search shown as matches."""
        from agent.understanding.limits import english_guess

        understood: list[str] = []
        for key, value in price_slots(parsed.prices, outfit=False).items():
            word = {"max_price": "a price up to", "min_price": "a price from"}.get(key, key)
            understood.append(f"{word} {value:g}")
        understood += [f"'{m.value}'" for m in parsed.mentions if m.kind in ("category", "color")]
        guess = english_guess(parsed.raw) if SEARCH in view.tools else ""
        return Plan(intent="clarify", reply=replies.foreign(parsed.language or "another language", understood, guess))

    def _not_carried(self, view: PlannerInput, what: str) -> Plan:
        return Plan(intent="clarify", reply=replies.not_carried(what))

    def _browse(self, view: PlannerInput) -> Plan:
        return Plan(intent="small_talk", reply=replies.browse(view.tools))

    def _small_talk(self, view: PlannerInput, kind: str) -> Plan:
        return Plan(intent="small_talk", reply=replies.small_talk(kind, view.tools))

    def _out_of_scope(self, view: PlannerInput) -> Plan:
        return Plan(intent="out_of_scope", reply=replies.out_of_scope(view.tools))

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
