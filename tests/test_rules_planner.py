"""The deterministic rules planner: intents, slots, references, facts, and tool-schema validity."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agent.plan import ImageInfo, Plan, PlannerInput, PreferenceFact, ShownItem, ToolResultView
from agent.planners import available_planners, get_planner
from agent.planners.base import Planner
from agent.planners.rules import RulesPlanner
from agent.planners.scripted import ScriptedPlanner
from agent.understanding import find_prices, normalize_text, parse_message, price_slots
from tools.find_alternatives import FindAlternativesArgs
from tools.recall_outfit import RecallOutfitArgs
from tools.recommend_outfit import RecommendOutfitArgs
from tools.search_catalog import SearchCatalogArgs

ARGS_MODELS: dict[str, type[BaseModel]] = {
    "search_catalog": SearchCatalogArgs,
    "recommend_outfit": RecommendOutfitArgs,
    "find_alternatives": FindAlternativesArgs,
    "recall_outfit": RecallOutfitArgs,
}
#: The registered tools today: no generate_image, no virtual_try_on.
TOOLS: dict[str, dict[str, Any]] = {name: model.model_json_schema() for name, model in ARGS_MODELS.items()}
#: Guesses at the future schemas, to test the path where they are registered.
FUTURE_TOOLS: dict[str, dict[str, Any]] = {
    **TOOLS,
    "generate_image": {"type": "object", "properties": {"prompt": {"type": "string"},
                                                         "category": {"type": "string"},
                                                         "color": {"type": "string"}}},
    "virtual_try_on": {"type": "object", "properties": {"item_id": {"type": "string"},
                                                         "person_image": {"type": "string"}}},
}



def shown(turn: int, *rows: tuple[str, str, str, str, float]) -> list[ShownItem]:
    return [ShownItem(id=i, title=t, category=c, color=col, price=p, turn=turn, position=n)
            for n, (i, t, c, col, p) in enumerate(rows, start=1)]


OUTFIT = shown(
    1,
    ("TOP-0101", "Relaxed White Cotton T-Shirt", "top", "white", 19.99),
    ("TRS-0102", "Slim Navy Denim Jeans", "trousers", "navy", 49.99),
    ("SNK-0103", "Sporty Black Canvas Sneakers", "sneakers", "black", 69.99),
    ("BAG-0104", "Elegant Red Leather Bag", "bag", "red", 89.99),
)
SHIRT_OUTFIT = shown(
    3,
    ("SHT-0201", "Smart Blue Oxford Shirt", "shirt", "blue", 38.99),
    ("TRS-0202", "Tailored Grey Wool Trousers", "trousers", "grey", 79.99),
    ("ANK-0203", "Classic Brown Suede Ankle Boots", "ankle_boots", "brown", 119.99),
)
BOOTS_PHOTO = ImageInfo(sha256="ab" * 32, path="boots.png", turn=2, category="ankle_boots",
                        category_confidence=0.82, color="grey", color_confidence=0.7)
BLURRY_PHOTO = ImageInfo(sha256="cd" * 32, path="blurry.png", turn=2, category="coat",
                         category_confidence=0.3, color="red", color_confidence=0.2)
SELFIE = ImageInfo(sha256="ef" * 32, path="me.png", turn=1)

PLANNER = RulesPlanner()


def make_view(text: str, **kw: Any) -> PlannerInput:
    data: dict[str, Any] = {"text": text, "turn": 2, "shown": list(OUTFIT), "last_shown": list(OUTFIT),
                            "outfits": [[s.id for s in OUTFIT]], "tools": TOOLS}
    data.update(kw)
    return PlannerInput(**data)


def plan_for(text: str, **kw: Any) -> Plan:
    view = make_view(text, **kw)
    plan = PLANNER.plan(view)
    assert plan.final is True
    for call in plan.calls:
        assert call.name in view.tools, f"{text!r} called unregistered tool {call.name}"
        model = ARGS_MODELS.get(call.name)
        if model is not None:
            model.model_validate(call.args)
    return plan


ABSENT = object()


def ids(cases: list[Any]) -> list[str]:
    return [c[0] for c in cases]


def check(plan: Plan, intent: str, tool: str | None, expected: dict[str, Any]) -> None:
    assert plan.intent == intent, (plan.intent, plan.reply)
    if tool is None:
        assert plan.calls == []
        return
    assert [c.name for c in plan.calls] == [tool]
    args = plan.calls[0].args
    for key, value in expected.items():
        if value is ABSENT:
            assert key not in args, f"{key} should be absent in {args}"
        else:
            assert args.get(key) == value, f"{key}: {args.get(key)!r} != {value!r} in {args}"


# ---------------------------------------------------------------------------------------------------
# recommend_outfit
# ---------------------------------------------------------------------------------------------------

RECOMMEND_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("outfit for the office", {}, {"occasion": "work", "anchor_item_id": ABSENT, "max_price": ABSENT}),
    ("what should I wear to a wedding?", {}, {"occasion": "wedding"}),
    ("I need something to wear for a dinner", {}, {"occasion": "dinner"}),
    ("nothing over 80 each, outfit for a date", {}, {"max_price": 80, "occasion": "date"}),
    ("an outfit under 50 per item", {}, {"max_price": 50}),
    ("outfit for the gym, each under €60", {}, {"max_price": 60, "occasion": "gym"}),
    ("casual outfit, max 100", {}, {"max_price": 100, "style": "casual"}),
    ("party outfit below 70", {}, {"max_price": 70, "occasion": "party"}),
    ("outfit for brunch, less than $40", {}, {"max_price": 40}),
    ("outfit 80 or less", {}, {"max_price": 80}),
    ("an outfit up to 60 please", {}, {"max_price": 60}),
    ("outfit with pieces cheaper than 30", {}, {"max_price": 30}),
    ("outfit under fifty", {}, {"max_price": 50}),
    ("Put together an outfit for the office, 200 euros in total", {},
     {"max_total": 200, "max_price": ABSENT}),
    ("dinner outfit with a budget of 150 for everything", {}, {"max_total": 150, "occasion": "dinner"}),
    ("outfit for a party, a hundred and fifty all in", {}, {"max_total": 150}),
    ("date night look, 120 altogether", {}, {"max_total": 120, "occasion": "date"}),
    ("interview next week, I've only got about 200 to spend on the lot, put an outfit together", {},
     {"max_total": 200, "max_price": ABSENT, "occasion": "interview"}),
    ("I only have 150 to spend, can you style me for a party?", {}, {"max_total": 150, "max_price": ABSENT}),
    ("outfit between 20 and 90 each", {}, {"min_price": 20, "max_price": 90}),
    ("an outfit in navy", {}, {"colors": ["navy"]}),
    ("outfit for work, only black and white", {}, {"colors": ["black", "white"]}),
    ("outfit for brunch, no black", {}, {"exclude_colors": ["black"]}),
    ("date outfit but not red", {}, {"exclude_colors": ["red"]}),
    ("a wedding outfit, nothing pink or orange", {}, {"exclude_colors": ["pink", "orange"]}),
    ("outfit for a concert, avoid grey", {}, {"exclude_colors": ["grey"]}),
    ("an outfit in anything but black", {}, {"exclude_colors": ["black"], "colors": ABSENT}),
    ("Outfit for a Sunday brunch, without a bag", {}, {"exclude_categories": ["bag"], "occasion": "brunch"}),
    ("office outfit, no bag", {}, {"exclude_categories": ["bag"]}),
    ("beach outfit, skip the shoes", {},
     {"exclude_categories": ["sandals", "sneakers", "ankle_boots"], "anchor_item_id": ABSENT}),
    ("What should I wear to a wedding? I'd like a dress, but no black please", {},
     {"include_categories": ["dress"], "exclude_colors": ["black"], "occasion": "wedding"}),
    ("a dress outfit for the theatre", {}, {"include_categories": ["dress"], "occasion": "theatre"}),
    ("outfit for a festival, no leather", {}, {"exclude_materials": ["leather"]}),
    ("a vegan outfit for work", {}, {"exclude_materials": ["leather", "suede"]}),
    ("go with black ankle boots", {}, {"anchor_category": "ankle_boots", "anchor_color": "black"}),
    ("what to wear with my black ankle boots", {}, {"anchor_category": "ankle_boots", "anchor_color": "black",
                                                    "colors": ABSENT}),
    ("I need an outfit to go with black ankle boots for a dinner, nothing over 80 each", {},
     {"anchor_category": "ankle_boots", "anchor_color": "black", "occasion": "dinner", "max_price": 80}),
    ("what goes with my beige trench coat?", {}, {"anchor_category": "coat", "anchor_color": "beige"}),
    ("what shoes go with my jeans", {}, {"anchor_category": "trousers", "include_categories": ABSENT}),
    ("build an outfit around the second one", {}, {"anchor_item_id": "TRS-0102", "anchor_category": ABSENT}),
    ("what goes with the bag?", {}, {"anchor_item_id": "BAG-0104"}),
    ("what goes with SNK-0103", {}, {"anchor_item_id": "SNK-0103"}),
    ("complete the look", {"focus_item_id": "BAG-0104"}, {"anchor_item_id": "BAG-0104"}),
    ("what goes with this?", {"new_images": [BOOTS_PHOTO], "images": [BOOTS_PHOTO]},
     {"anchor_image": "latest", "anchor_category": "ankle_boots", "anchor_color": "grey",
      "anchor_item_id": ABSENT}),
    ("style these for a date", {"new_images": [BOOTS_PHOTO], "images": [BOOTS_PHOTO]},
     {"anchor_image": "latest", "anchor_category": "ankle_boots", "occasion": "date"}),
    ("outfit for the office", {"new_images": [BLURRY_PHOTO], "images": [BLURRY_PHOTO]},
     {"anchor_image": "latest", "anchor_category": ABSENT, "anchor_color": ABSENT}),
    ("a dressier outfit", {}, {"style": "formal"}),
    ("anything for a wedding next month?", {}, {"occasion": "wedding"}),
    ("i'm after a chepaer outift for a wedding", {}, {"occasion": "wedding"}),
]


@pytest.mark.parametrize(("text", "view_kw", "expected"), RECOMMEND_CASES, ids=ids(RECOMMEND_CASES))
def test_recommend_outfit(text: str, view_kw: dict[str, Any], expected: dict[str, Any]) -> None:
    check(plan_for(text, **view_kw), "recommend_outfit", "recommend_outfit", expected)


# ---------------------------------------------------------------------------------------------------
# find_alternatives and reference resolution
# ---------------------------------------------------------------------------------------------------

FOCUS_BAG = {"focus_item_id": "BAG-0104"}
ALT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("something cheaper", FOCUS_BAG, {"item_id": "BAG-0104", "cheaper": True}),
    ("a less expensive one", FOCUS_BAG, {"item_id": "BAG-0104", "cheaper": True}),
    ("show it in blue", FOCUS_BAG, {"item_id": "BAG-0104", "color": "blue"}),
    ("in red instead", {"focus_item_id": "TOP-0101"}, {"item_id": "TOP-0101", "color": "red"}),
    ("do you have this in green", {"focus_item_id": "TOP-0101"}, {"item_id": "TOP-0101", "color": "green"}),
    ("more formal", {"focus_item_id": "TRS-0102"}, {"item_id": "TRS-0102", "style": "formal"}),
    ("not leather", FOCUS_BAG, {"item_id": "BAG-0104", "exclude_materials": ["leather"]}),
    ("other options", FOCUS_BAG, {"item_id": "BAG-0104"}),
    ("something similar", {"last_shown": OUTFIT[3:]}, {"item_id": "BAG-0104"}),
    ("more expensive please", FOCUS_BAG, {"item_id": "BAG-0104", "pricier": True, "cheaper": ABSENT}),
    ("something fancier", FOCUS_BAG, {"pricier": True}),
    ("something cheaper for the top", {}, {"item_id": "TOP-0101", "cheaper": True}),
    ("something cheaper for the top", {"shown": SHIRT_OUTFIT, "last_shown": SHIRT_OUTFIT},
     {"item_id": "SHT-0201"}),
    ("alternatives to the second one", {}, {"item_id": "TRS-0102"}),
    ("the 2nd but in beige", {}, {"item_id": "TRS-0102", "color": "beige"}),
    ("number 3 in white", {}, {"item_id": "SNK-0103", "color": "white"}),
    ("#2 cheaper", {}, {"item_id": "TRS-0102", "cheaper": True}),
    ("the first one but not leather", {}, {"item_id": "TOP-0101", "exclude_materials": ["leather"]}),
    ("the last one but more expensive", {}, {"item_id": "BAG-0104", "pricier": True}),
    ("do you have the second one in blue?", {}, {"item_id": "TRS-0102", "color": "blue"}),
    ("something more formal than the first one", {}, {"item_id": "TOP-0101", "style": "formal"}),
    ("swap the shoes for something sportier", {}, {"item_id": "SNK-0103", "style": "sporty"}),
    ("something else instead of the bag", {}, {"item_id": "BAG-0104"}),
    ("those shoes but more casual", {}, {"item_id": "SNK-0103", "style": "casual"}),
    ("the boots, but cheaper", {"shown": OUTFIT + SHIRT_OUTFIT}, {"item_id": "ANK-0203", "cheaper": True}),
    ("can you find a cheaper bag?", {}, {"item_id": "BAG-0104", "cheaper": True}),
    ("the red one in blue", {}, {"item_id": "BAG-0104", "color": "blue"}),
    ("the cheapest one in navy", {}, {"item_id": "TOP-0101", "color": "navy", "cheaper": ABSENT}),
    ("SHT-0042 in black please", {}, {"item_id": "SHT-0042", "color": "black"}),
    ("find something cheaper than ZZZ-9999", {}, {"item_id": "ZZZ-9999", "cheaper": True}),
    ("the jeans in linen under 40", {}, {"item_id": "TRS-0102", "material": "linen", "max_price": 40}),
    ("dressier please", {"focus_item_id": "TOP-0101"}, {"style": "formal"}),
    ("the bag but not in red or black", {}, {"item_id": "BAG-0104", "exclude_colors": ["red", "black"]}),
]


@pytest.mark.parametrize(("text", "view_kw", "expected"), ALT_CASES, ids=ids(ALT_CASES))
def test_find_alternatives(text: str, view_kw: dict[str, Any], expected: dict[str, Any]) -> None:
    check(plan_for(text, **view_kw), "find_alternatives", "find_alternatives", expected)


@pytest.mark.parametrize(("text", "item_id", "extra"), [
    ("can I see different trainers with that?", "SNK-0103", {}),
    ("other jeans with it maybe", "TRS-0102", {}),
    ("a new top in red", "TOP-0101", {"color": "red"}),
    ("different shoes, cheaper", "SNK-0103", {"cheaper": True}),
])
def test_a_different_piece_after_an_outfit_is_an_alternative_to_that_piece(text: str, item_id: str,
                                                                          extra: dict[str, Any]) -> None:
    """"can I see different trainers with that?" after an outfit: alternatives to its sneakers, not a search."""
    check(plan_for(text), "find_alternatives", "find_alternatives", {"item_id": item_id, **extra})


@pytest.mark.parametrize(("text", "view_kw"), [
    ("can I see different trainers with that?", {"last_shown": OUTFIT[2:3] + SHIRT_OUTFIT[2:], "outfits": []}),
    ("another coat for that", {}),  # the outfit has no coat
])
def test_a_different_piece_without_that_piece_in_the_outfit_shown_last_is_a_search(
        text: str, view_kw: dict[str, Any]) -> None:
    plan = plan_for(text, **view_kw)
    assert [c.name for c in plan.calls] == ["search_catalog"], (plan.intent, plan.calls)


WHITE_TRAINERS = shown(1, *[(f"SNK-01{n}", f"White trainers {n}", "sneakers", "white", 50.0 + n) for n in range(5)])
for _item in WHITE_TRAINERS:
    _item.source = "search_catalog"
SEARCHED = {"shown": WHITE_TRAINERS, "last_shown": WHITE_TRAINERS, "outfits": [],
            "history": [{"role": "user", "content": "white trainers under 80"},
                        {"role": "assistant", "content": "Found 5 item(s)."}]}


@pytest.mark.parametrize("text", ["got any more?", "show me more", "any others?", "what else have you got",
                                  "ok more of these pls"])
def test_show_me_more_after_a_search_is_that_search_again_leaving_out_what_was_shown(text: str) -> None:
    check(plan_for(text, **SEARCHED), "search", "search_catalog",
          {"categories": ["sneakers"], "colors": ["white"], "max_price": 80, "more": True})


@pytest.mark.parametrize(("text", "view_kw"), [
    ("more like the first one", {**SEARCHED, "focus_item_id": "SNK-010"}),  # like that item: its alternatives
    ("show me more", {}),  # after an outfit: no search to page through
])
def test_more_like_an_item_or_after_an_outfit_is_not_the_next_page(text: str, view_kw: dict[str, Any]) -> None:
    plan = plan_for(text, **view_kw)
    assert not any(c.args.get("more") for c in plan.calls), plan.calls


CLARIFY_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("something cheaper", {}, "Relaxed White Cotton T-Shirt"),
    ("alternatives to the seventh one", {}, "no number 7"),
    ("something cheaper for the coat", {}, "coats"),
    ("show it in blue", {"shown": [], "last_shown": []}, "haven't shown"),
    ("what goes with this?", {"last_shown": OUTFIT[:2]}, "Attach a photo"),
]


@pytest.mark.parametrize(("text", "view_kw", "needle"), CLARIFY_CASES, ids=ids(CLARIFY_CASES))
def test_clarify_never_invents_an_id(text: str, view_kw: dict[str, Any], needle: str) -> None:
    plan = plan_for(text, **view_kw)
    assert plan.intent == "clarify"
    assert plan.calls == []
    assert plan.reply and needle in plan.reply


def test_clarify_lists_last_shown_titles_with_positions() -> None:
    plan = plan_for("a cheaper one")
    assert plan.reply is not None
    for item in OUTFIT:
        assert f"{item.position}. {item.title}" in plan.reply


# ---------------------------------------------------------------------------------------------------
# search_catalog
# ---------------------------------------------------------------------------------------------------

SEARCH_CASES: list[tuple[str, dict[str, Any]]] = [
    ("show me red dresses", {"categories": ["dress"], "colors": ["red"], "query": "red dresses"}),
    ("do you have linen shirts under 40?", {"categories": ["shirt"], "materials": ["linen"], "max_price": 40,
                                            "query": "linen shirts"}),
    ("find me white sneakers", {"categories": ["sneakers"], "colors": ["white"]}),
    ("I'm looking for a navy coat", {"categories": ["coat"], "colors": ["navy"], "query": "navy coat"}),
    ("any bags?", {"categories": ["bag"], "query": "bags"}),
    ("black jeans", {"categories": ["trousers"], "colors": ["black"], "query": "black jeans"}),
    ("any trainers in white under 90 quid?",
     {"categories": ["sneakers"], "colors": ["white"], "max_price": 90}),
    ("show me some bags, but not leather", {"categories": ["bag"], "exclude_materials": ["leather"]}),
    ("show me snekers", {"categories": ["sneakers"]}),
    ("shoes over 100", {"categories": ["sandals", "sneakers", "ankle_boots"], "min_price": 100}),
    ("i want a dress for a wedding between 50 and 100",
     {"categories": ["dress"], "styles": ["formal", "evening"], "min_price": 50, "max_price": 100}),
    ("casual tops, nothing grey", {"categories": ["top"], "styles": ["casual"], "exclude_colors": ["grey"]}),
    ("vegan bags under 50",
     {"categories": ["bag"], "exclude_materials": ["leather", "suede"], "max_price": 50}),
    ("show me cheaper shoes", {"categories": ["sandals", "sneakers", "ankle_boots"]}),
]


@pytest.mark.parametrize(("text", "expected"), SEARCH_CASES, ids=ids(SEARCH_CASES))
def test_search(text: str, expected: dict[str, Any]) -> None:
    view_kw: dict[str, Any] = {}
    if text == "show me cheaper shoes":
        view_kw = {"shown": [], "last_shown": []}
    check(plan_for(text, **view_kw), "search", "search_catalog", expected)


def test_recommend_cue_beats_search_cue() -> None:
    plan = plan_for("show me a dress I can wear to a wedding")
    check(plan, "recommend_outfit", "recommend_outfit",
          {"occasion": "wedding", "include_categories": ["dress"]})


def test_alternatives_with_reference_beat_search() -> None:
    check(plan_for("do you have this in green?", focus_item_id="TOP-0101"), "find_alternatives",
          "find_alternatives", {"color": "green"})
    check(plan_for("do you have shirts in green?"), "search", "search_catalog", {"categories": ["shirt"]})


# ---------------------------------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------------------------------

TWO_OUTFITS = {"outfits": [["TOP-0101", "TRS-0102"], ["SHT-0201", "TRS-0202"]]}
HISTORY_CASES: list[tuple[str, int]] = [
    ("what was the first outfit?", 1),
    ("show me the last outfit again", -1),
    ("go back to the second outfit", 2),
    ("the previous look please", -1),
    ("outfit number 2 again", 2),
]


@pytest.mark.parametrize(("text", "index"), HISTORY_CASES, ids=ids(HISTORY_CASES))
def test_history(text: str, index: int) -> None:
    check(plan_for(text, **TWO_OUTFITS), "history", "recall_outfit", {"index": index})


def test_history_without_outfits_or_out_of_range_replies_directly() -> None:
    plan = plan_for("what was the first outfit?", outfits=[])
    assert plan.intent == "history" and plan.calls == [] and "haven't recommended" in (plan.reply or "")
    plan = plan_for("what was the fifth outfit?", **TWO_OUTFITS)
    assert plan.intent == "history" and plan.calls == [] and "between 1 and 2" in (plan.reply or "")


def test_a_new_outfit_is_not_history() -> None:
    plan = plan_for("another outfit, but cheaper than the last outfit", **TWO_OUTFITS)
    assert plan.intent == "recommend_outfit"


# ---------------------------------------------------------------------------------------------------
# generate_image / try_on: registered or not
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["design me a floral summer dress", "generate an image of a red leather bag",
                                  "draw me a boho maxi dress", "create a picture of navy sneakers",
                                  "imagine a yellow raincoat"])
def test_generate_image_unavailable_when_not_registered(text: str) -> None:
    plan = plan_for(text)
    assert plan.intent == "unavailable" and plan.calls == []
    assert plan.reply and "isn't available" in plan.reply and "search the catalog" in plan.reply


def test_generate_image_when_registered() -> None:
    plan = plan_for("design me a red floral summer dress", tools=FUTURE_TOOLS)
    check(plan, "generate_image", "generate_image", {"prompt": "red floral summer dress", "category": "dress",
                                                     "color": "red"})
    narrow = {**TOOLS, "generate_image": {"properties": {"prompt": {"type": "string"}}}}
    plan = plan_for("design me a red floral summer dress", tools=narrow)
    assert set(plan.calls[0].args) == {"prompt"}


@pytest.mark.parametrize("text", ["try it on me", "how would the second one look on me", "virtual try-on"])
def test_try_on_unavailable_when_not_registered(text: str) -> None:
    plan = plan_for(text, focus_item_id="TOP-0101", images=[SELFIE])
    assert plan.intent == "unavailable" and plan.calls == [] and "try-on" in (plan.reply or "").lower()


def test_try_on_when_registered() -> None:
    plan = plan_for("how would the second one look on me", tools=FUTURE_TOOLS, images=[SELFIE])
    check(plan, "try_on", "virtual_try_on", {"item_id": "TRS-0102", "person_image": "latest"})
    plan = plan_for("try it on me", tools=FUTURE_TOOLS, images=[SELFIE], focus_item_id="BAG-0104")
    check(plan, "try_on", "virtual_try_on", {"item_id": "BAG-0104"})
    plan = plan_for("try the bag on me", tools=FUTURE_TOOLS)
    assert plan.intent == "clarify" and "photo" in (plan.reply or "")


ALL_TEXTS = [c[0] for c in RECOMMEND_CASES + ALT_CASES] + [c[0] for c in SEARCH_CASES] + [
    "design me a dress", "try it on me", "virtual try-on", "draw a bag", "hi", "what do you know about me"]


def test_unregistered_tools_are_never_called() -> None:
    for text in ALL_TEXTS:
        for tools in ({"search_catalog": TOOLS["search_catalog"]}, TOOLS):
            view = make_view(text, tools=tools, focus_item_id="TOP-0101", images=[SELFIE])
            plan = PLANNER.plan(view)
            assert all(c.name in tools for c in plan.calls), (text, plan.calls)


def test_unregistered_core_tool_answers_unavailable() -> None:
    plan = plan_for("outfit for the office", tools={"search_catalog": TOOLS["search_catalog"]})
    assert plan.intent == "unavailable" and plan.calls == []


# ---------------------------------------------------------------------------------------------------
# direct replies: small talk, out of scope, memory
# ---------------------------------------------------------------------------------------------------

DIRECT_CASES: list[tuple[str, str]] = [
    ("hi", "small_talk"),
    ("hi there!", "small_talk"),
    ("good evening", "small_talk"),
    ("thanks!", "small_talk"),
    ("who are you?", "small_talk"),
    ("help", "small_talk"),
    ("what's the weather like tomorrow in Paris?", "out_of_scope"),
    ("what is 12 * 7", "out_of_scope"),
    ("write me some python code", "out_of_scope"),
    ("give me a pasta recipe", "out_of_scope"),
    ("who won the football last night", "out_of_scope"),
    ("what do you know about me?", "show_memory"),
    ("what are my preferences", "show_memory"),
    ("what do you remember", "show_memory"),
]


@pytest.mark.parametrize(("text", "intent"), DIRECT_CASES, ids=ids(DIRECT_CASES))
def test_direct_replies(text: str, intent: str) -> None:
    plan = plan_for(text)
    assert plan.intent == intent
    assert plan.calls == [] and plan.reply


def test_small_talk_mentions_only_registered_features() -> None:
    assert "design" not in (plan_for("hi").reply or "")
    assert "design" in (plan_for("hi", tools=FUTURE_TOOLS).reply or "")
    assert "outfit" in (plan_for("what can you do?").reply or "")


def test_show_memory_summarises_preferences() -> None:
    prefs = [PreferenceFact(kind="color", value="navy"), PreferenceFact(kind="material", value="leather",
                                                                         polarity="dislike"),
             PreferenceFact(kind="size", value="M", polarity="neutral")]
    reply = plan_for("what do you know about me", preferences=prefs).reply or ""
    assert "navy" in reply and "leather" in reply and "size M" in reply
    assert "nothing" in (plan_for("what do you know about me").reply or "").lower() or \
        "don't have" in (plan_for("what do you know about me").reply or "")


FORGET_CASES: list[tuple[str, list[str]]] = [
    ("forget that I like red", ["color:red"]),
    ("forget that I hate leather", ["material:leather"]),
    ("forget everything about me", ["*"]),
    ("delete my data", ["*"]),
    ("please forget me", ["*"]),
]


@pytest.mark.parametrize(("text", "keys"), FORGET_CASES, ids=ids(FORGET_CASES))
def test_forget(text: str, keys: list[str]) -> None:
    plan = plan_for(text)
    assert plan.intent == "forget" and plan.forget == keys and plan.calls == [] and plan.reply
    assert plan.facts == []


def test_forget_uses_stored_preferences() -> None:
    prefs = [PreferenceFact(kind="size", value="M", polarity="neutral", source_turn=1),
             PreferenceFact(kind="color", value="red", source_turn=0)]
    assert plan_for("forget my size", preferences=prefs).forget == ["size:m"]
    assert plan_for("forget that", preferences=prefs).forget == ["size:m"]
    assert plan_for("forget about it").intent == "small_talk"


# ---------------------------------------------------------------------------------------------------
# preference facts
# ---------------------------------------------------------------------------------------------------

FACT_CASES: list[tuple[str, list[tuple[str, str, str, float]]]] = [
    ("I love navy", [("color", "navy", "like", 0.9)]),
    ("my favourite colour is green", [("color", "green", "like", 0.9)]),
    ("I'm into boho", [("style", "boho", "like", 0.9)]),
    ("I only wear sneakers", [("category", "sneakers", "like", 0.9)]),
    ("I usually wear trainers", [("category", "sneakers", "like", 0.6)]),
    ("I hate leather and never wear pink", [("material", "leather", "dislike", 0.9),
                                            ("color", "pink", "dislike", 0.9)]),
    ("I can't stand heels", [("category", "sandals", "dislike", 0.9)]),
    ("I've gone off mustard", [("color", "yellow", "dislike", 0.9)]),
    ("no more grey please", [("color", "grey", "dislike", 0.9)]),
    ("Just so you know, I never wear black. I love navy though.", [("color", "black", "dislike", 0.9),
                                                                   ("color", "navy", "like", 0.9)]),
    ("I don't wear leather, ever.", [("material", "leather", "dislike", 0.9)]),
    ("I love red but not pink", [("color", "red", "like", 0.9), ("color", "pink", "dislike", 0.9)]),
    ("I'm vegan", [("material", "leather", "dislike", 0.9)]),
    ("I love Nordvik", [("brand", "Nordvik", "like", 0.9)]),
    ("I'm a size M", [("size", "M", "neutral", 0.9)]),
    ("size 10 shoes", [("size", "shoes 10", "neutral", 0.9)]),
    ("my shoe size is 42", [("size", "shoes 42", "neutral", 0.9)]),
    ("I usually spend under 60", [("budget", "max 60", "neutral", 0.9)]),
    ("I have a wedding next month", [("occasion", "wedding", "neutral", 0.9)]),
]


@pytest.mark.parametrize(("text", "facts"), FACT_CASES, ids=ids(FACT_CASES))
def test_facts(text: str, facts: list[tuple[str, str, str, float]]) -> None:
    plan = plan_for(text, turn=7)
    assert [(f.kind, f.value, f.polarity, f.confidence) for f in plan.facts] == facts
    assert all(f.source_turn == 7 and f.text for f in plan.facts)
    assert plan.calls == []
    assert plan.intent == "small_talk" and "Noted" in (plan.reply or "")


def test_fact_text_is_the_sentence_it_came_from() -> None:
    plan = plan_for("Just so you know, I never wear black. I love navy though.")
    assert [f.text for f in plan.facts] == ["Just so you know, I never wear black.", "I love navy though."]


def test_request_constraints_are_not_facts() -> None:
    plan = plan_for("outfit for brunch, no black, no leather")
    assert plan.facts == []
    plan = plan_for("I'd like a red dress")
    assert plan.facts == [] and plan.intent == "search"


def test_facts_and_a_request_in_one_message() -> None:
    plan = plan_for("Hi! I'm a size M and I love navy. What should I wear for a date?")
    check(plan, "recommend_outfit", "recommend_outfit", {"occasion": "date"})
    assert {(f.kind, f.value) for f in plan.facts} == {("size", "M"), ("color", "navy")}
    plan = plan_for("what should I wear to the office? I never wear black")
    check(plan, "recommend_outfit", "recommend_outfit", {"exclude_colors": ["black"]})
    assert [(f.kind, f.value, f.polarity) for f in plan.facts] == [("color", "black", "dislike")]


# ---------------------------------------------------------------------------------------------------
# normalisation, prices, steps, registry
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "norm"), [
    ("Nothing over €80 each!", "nothing over 80 each!"),
    ("under fifty", "under 50"),
    ("a hundred and fifty all in", "150 all in"),
    ("twenty-five euros", "25"),
    ("I'm after a chepaer outift", "i am after a cheaper outfit"),
    ("Café-style BLOUSE", "cafe-style blouse"),
    ("the second one", "the second one"),
])
def test_normalize_text(raw: str, norm: str) -> None:
    assert normalize_text(raw) == norm


@pytest.mark.parametrize(("text", "outfit", "slots"), [
    ("under 50", False, {"max_price": 50}),
    ("200 total", True, {"max_total": 200}),
    ("200 total", False, {"max_price": 200}),
    ("budget of 150", True, {"max_total": 150}),
    ("at least 30 and under 80", False, {"min_price": 30, "max_price": 80}),
    ("between 90 and 40", False, {"min_price": 40, "max_price": 90}),
    ("in 2 weeks", False, {}),
    ("size 10", False, {}),
    # shorthand and negated minimums (everyday phrasing, issue 23)
    ("red dress <80", False, {"max_price": 80}),
    ("boots >50", False, {"min_price": 50}),
    ("can't spend more than 60 on trainers", False, {"max_price": 60}),
    ("I don't want to pay over 45 each", True, {"max_price": 45}),
    ("whole look under 250", True, {"max_total": 250}),
    ("the lot for under 200", True, {"max_total": 200}),
    ("more than 60", False, {"min_price": 60}),
])
def test_price_slots(text: str, outfit: bool, slots: dict[str, float]) -> None:
    assert price_slots(find_prices(normalize_text(text)), outfit=outfit) == slots


def test_colour_shorthand_is_read() -> None:
    parsed = parse_message("blk boots or gry, not wht")
    assert parsed.values("color") == ["black", "grey"] and parsed.values("color", negated=True) == ["white"]


def test_negations_are_scoped() -> None:
    parsed = parse_message("no black or red, but blue is fine, without a bag")
    assert parsed.values("color", negated=True) == ["black", "red"]
    assert parsed.values("color") == ["blue"]
    assert parsed.values("category", negated=True) == ["bag"]


def test_later_steps_are_final_without_calls() -> None:
    view = make_view("outfit for the office", step=1,
                     results=[ToolResultView(name="recommend_outfit", ok=True, item_ids=["TOP-0101"])])
    plan = PLANNER.plan(view)
    assert plan.final is True and plan.calls == [] and plan.facts == []
    assert plan.intent == "recommend_outfit"


def test_plan_is_deterministic_and_does_not_mutate_view() -> None:
    view = make_view("something cheaper for the top, no black")
    before = view.model_dump()
    first, second = PLANNER.plan(view), PLANNER.plan(view)
    assert view.model_dump() == before
    assert first.model_dump(exclude={"facts"}) == second.model_dump(exclude={"facts"})


def test_registry() -> None:
    planner = get_planner("rules")
    assert isinstance(planner, RulesPlanner) and isinstance(planner, Planner) and planner.name == "rules"
    scripted = get_planner("scripted", steps=[{"intent": "small_talk", "reply": "hi"}])
    assert isinstance(scripted, ScriptedPlanner)
    assert {"rules", "scripted"} <= set(available_planners())
    with pytest.raises(ValueError, match="rules.*scripted|scripted.*rules"):
        get_planner("gpt-99")


MORE_CASES: list[tuple[str, dict[str, Any], str, str | None, dict[str, Any]]] = [
    ("pair my white sneakers with something smart", {}, "recommend_outfit", "recommend_outfit",
     {"anchor_category": "sneakers", "anchor_color": "white", "style": "formal"}),
    ("Something casual for the weekend, I'd like jeans in it", {}, "recommend_outfit", "recommend_outfit",
     {"occasion": "weekend", "style": "casual", "include_categories": ["trousers"]}),
    ("whats good for a gig tonite", {}, "recommend_outfit", "recommend_outfit", {"occasion": "concert"}),
    ("complete this look with shoes and a bag under 100 total", {"focus_item_id": "TOP-0101"},
     "recommend_outfit", "recommend_outfit", {"anchor_item_id": "TOP-0101", "max_total": 100,
                                              "exclude_categories": ABSENT}),
    ("can I get the first one in a different colour?", {}, "find_alternatives", "find_alternatives",
     {"item_id": "TOP-0101", "exclude_colors": ["white"]}),
    ("I don't like the bag", {}, "find_alternatives", "find_alternatives", {"item_id": "BAG-0104"}),
    ("I hate the second one", {}, "find_alternatives", "find_alternatives", {"item_id": "TRS-0102"}),
    ("show me more", {"focus_item_id": "SNK-0103"}, "find_alternatives", "find_alternatives",
     {"item_id": "SNK-0103"}),
    ("hmm too pricey", {"focus_item_id": "SNK-0103"}, "find_alternatives", "find_alternatives",
     {"cheaper": True}),
    ("too formal", {"focus_item_id": "SNK-0103"}, "find_alternatives", "find_alternatives",
     {"style": "casual"}),
    ("cheap tops", {}, "search", "search_catalog", {"categories": ["top"]}),
    ("what's 2+2", {}, "out_of_scope", None, {}),
    ("do you sell hats?", {}, "clarify", None, {}),
    ("what's in stock?", {}, "small_talk", None, {}),
    ("what did you suggest before?", TWO_OUTFITS, "history", "recall_outfit", {"index": -1}),
    ("I liked the first look better", TWO_OUTFITS, "history", "recall_outfit", {"index": 1}),
]


@pytest.mark.parametrize(("text", "view_kw", "intent", "tool", "expected"), MORE_CASES, ids=ids(MORE_CASES))
def test_harder_phrasings(text: str, view_kw: dict[str, Any], intent: str, tool: str | None,
                          expected: dict[str, Any]) -> None:
    check(plan_for(text, **view_kw), intent, tool, expected)


def test_dislike_of_a_shown_item_is_not_a_lasting_preference() -> None:
    assert plan_for("I don't like the bag").facts == []
    assert [(f.kind, f.value) for f in plan_for("I hate bags").facts] == [("category", "bag")]


def test_several_sizes_in_one_sentence() -> None:
    plan = plan_for("I'm a medium in tops and size 9 in shoes")
    assert [f.value for f in plan.facts] == ["top M", "shoes 9"]
    assert plan.intent == "small_talk"


def _said(text: str) -> dict[str, Any]:
    return {"history": [{"role": "user", "content": "..."}, {"role": "assistant", "content": text}]}


def test_yes_accepts_the_offer_in_the_last_reply() -> None:
    offer = PLANNER.plan(make_view("I have a wedding next month")).reply or ""
    check(plan_for("yes please", **_said(offer)), "recommend_outfit", "recommend_outfit",
          {"occasion": "wedding"})
    offer = PLANNER.plan(make_view("design me a red boho dress")).reply or ""
    check(plan_for("sure", **_said(offer)), "search", "search_catalog",
          {"categories": ["dress"], "colors": ["red"], "styles": ["boho"]})
    offer = PLANNER.plan(make_view("I love navy")).reply or ""
    check(plan_for("yes", **_said(offer)), "search", "search_catalog", {"colors": ["navy"]})
    assert plan_for("yes").intent == "small_talk"


def test_a_shown_item_in_a_size_is_a_sized_search() -> None:
    top = next(s for s in OUTFIT if s.id == "TOP-0101")
    for text, kw in (("Do you have it in a size M?", {"focus_item_id": "TOP-0101"}), ("the first one in M", {})):
        plan = plan_for(text, **kw)
        first = OUTFIT[0] if "first" in text else top
        assert [(c.name, c.args) for c in plan.calls] == [("search_catalog", {
            "query": first.title, "categories": [first.category], "colors": [first.color], "sizes": ["M"]})]
    plan = plan_for("white linen shirts in size L under 45")
    assert plan.calls[0].args["sizes"] == ["L"] and plan.calls[0].args["max_price"] == 45
    plan = plan_for("something cheaper than the first one, in size M")
    assert plan.calls[0].name == "find_alternatives" and plan.calls[0].args["sizes"] == ["M"]
    assert plan.calls[0].args["cheaper"] is True and plan.calls[0].args["item_id"] == OUTFIT[0].id


@pytest.mark.parametrize(("text", "view_kw", "needle"), [
    ("I love this outfit!", {}, "Glad you like it"),
    ("this looks great, thanks", {}, "Glad you like it"),
    ("how much is the bag?", {}, "89.99"),
    ("What sizes does it come in?", {"focus_item_id": "TOP-0101"}, "Which size?"),
])
def test_feedback_and_questions_answered_directly(text: str, view_kw: dict[str, Any], needle: str) -> None:
    plan = plan_for(text, **view_kw)
    assert plan.intent == "small_talk" and plan.calls == [] and needle in (plan.reply or "")


@pytest.mark.parametrize(("text", "intent", "tool", "expected"), [
    ("I want to return my order", "out_of_scope", None, {}),
    ("Show me bags between €30-€60", "search", "search_catalog", {"min_price": 30, "max_price": 60,
                                                                  "query": "bags"}),
    ("Can you show me jeans that are not blue?", "search", "search_catalog",
     {"query": "jeans", "exclude_colors": ["blue"]}),
    ("anything in leather?", "search", "search_catalog", {"materials": ["leather"]}),
    ("suggest a bag to go with my red dress", "recommend_outfit", "recommend_outfit",
     {"anchor_category": "dress", "anchor_color": "red", "include_categories": ["bag"]}),
    ("I need an outfit for a date but I hate dresses", "recommend_outfit", "recommend_outfit",
     {"exclude_categories": ["dress"]}),
    ("show me the outfit again", "history", "recall_outfit", {"index": -1}),
])
def test_more_routing(text: str, intent: str, tool: str | None, expected: dict[str, Any]) -> None:
    check(plan_for(text), intent, tool, expected)


def test_try_on_follows_the_registered_schema() -> None:
    tools = {**TOOLS, "virtual_try_on": {"properties": {"garment_id": {}, "photo": {}}}}
    plan = plan_for("try the bag on me", tools=tools, images=[SELFIE])
    check(plan, "try_on", "virtual_try_on", {"garment_id": "BAG-0104", "photo": "latest"})


def test_draw_needs_an_object() -> None:
    assert plan_for("draw me a boho maxi dress").intent == "unavailable"
    assert plan_for("something to draw attention at a party").intent == "recommend_outfit"


@pytest.mark.parametrize(("text", "intent", "args"), [
    ("dress me for a meeting", "recommend_outfit", {"occasion": "meeting"}),
    ("dress me up for a party", "recommend_outfit", {"occasion": "party"}),
    ("an outfit with a dress for a wedding", "recommend_outfit", {"occasion": "wedding",
                                                                  "include_categories": ["dress"]}),
])
def test_dress_as_a_verb_names_no_dress(text: str, intent: str, args: dict[str, Any]) -> None:
    plan = RulesPlanner().plan(PlannerInput(text=text, turn=1, tools=TOOLS))
    assert plan.intent == intent
    assert plan.calls[0].args == args


def test_memory_question_with_abbreviation() -> None:
    plan = RulesPlanner().plan(PlannerInput(text="what do you know abt me", turn=1, tools=TOOLS))
    assert plan.intent == "show_memory" and not plan.calls


def test_shorthand_sizes_and_steer_clear_are_read() -> None:
    plan = plan_for("blk ankle boots sz 38 under 90 pls")
    args = plan.calls[0].args
    assert plan.calls[0].name == "search_catalog" and args["sizes"] == ["38"] and args["max_price"] == 90
    assert args["categories"] == ["ankle_boots"] and args["colors"] == ["black"]  # 38 is a size, not a price
    assert plan_for("sz m black tops").calls[0].args["sizes"] == ["M"]
    assert parse_message("sz38 boots").sizes == ["38"]
    coats = plan_for("steer clear of wool, show me coats").calls[0].args
    assert coats["categories"] == ["coat"] and coats["exclude_materials"] == ["wool"] and "materials" not in coats
    dresses = plan_for("stay away from black please, dresses").calls[0].args
    assert dresses.get("exclude_colors") == ["black"] and "colors" not in dresses


def test_purse_friendly_is_cheaper_and_on_the_whole_thing_is_a_total() -> None:
    boots = [ShownItem(id=f"BOT-000{n}", title="t", category="ankle_boots", color="red", price=100.0 + n, turn=1,
                       position=n, source="search_catalog") for n in range(1, 4)]
    plan = plan_for("eek those are a bit steep, anything more purse-friendly than the first pair?",
                    shown=boots, last_shown=boots, outfits=[])
    assert [(c.name, c.args) for c in plan.calls] == [("find_alternatives", {"item_id": "BOT-0001", "cheaper": True})]
    assert "bag" not in str(plan_for("a wallet friendly jumper please", shown=[], last_shown=[], outfits=[]).calls)
    outfit = plan_for("need a fun festival outfit, can't spend more than 150 on the whole thing",
                      shown=[], last_shown=[], outfits=[])
    assert outfit.calls[0].args.get("max_total") == 150 and "max_price" not in outfit.calls[0].args


BOOTS_LIST = [s.model_copy(update={"source": "search_catalog"}) for s in shown(
    1,
    ("ANK-0301", "Black Suede Chelsea Boots", "ankle_boots", "black", 106.99),
    ("ANK-0302", "Black Leather Ankle Boots", "ankle_boots", "black", 129.99),
)]


def _after_boots(text: str, *earlier: str, last: list[ShownItem] | None = None) -> Plan:
    said = earlier or ("show me black ankle boots under 150",)
    history: list[dict[str, str]] = []
    for msg in said:
        history += [{"role": "user", "content": msg}, {"role": "assistant", "content": "Found 2 item(s)."}]
    items = BOOTS_LIST if last is None else last
    return plan_for(text, history=history, shown=items, last_shown=items, outfits=[])


@pytest.mark.parametrize("text, expected", [
    # a new colour replaces the old one; the category and the cap of the search just shown hold
    ("in grey maybe", {"categories": ["ankle_boots"], "colors": ["grey"], "max_price": 150.0}),
    # a material left out is added; colour and cap hold
    ("no suede please", {"categories": ["ankle_boots"], "colors": ["black"], "exclude_materials": ["suede"],
                         "max_price": 150.0}),
    # a new cap replaces the old one
    ("any under 100?", {"categories": ["ankle_boots"], "colors": ["black"], "max_price": 100.0}),
    ("under 100 instead?", {"categories": ["ankle_boots"], "colors": ["black"], "max_price": 100.0}),
    ("navy instead", {"categories": ["ankle_boots"], "colors": ["navy"], "max_price": 150.0}),
], ids=["colour", "no-material", "new-cap", "new-cap-instead", "colour-instead"])
def test_a_follow_up_changes_one_filter_of_the_search_just_shown(text: str, expected: dict[str, Any]) -> None:
    plan = _after_boots(text)
    check(plan, "search", "search_catalog", expected)


def test_a_vague_change_after_a_search_still_asks_which_item() -> None:
    # "something cheaper?" names no filter the search could take: which item it is about is asked
    assert _after_boots("something cheaper instead?").intent == "clarify"


def test_follow_ups_chain_onto_the_search_just_shown() -> None:
    plan = _after_boots("no suede", "show me black ankle boots under 150", "in grey maybe")
    check(plan, "search", "search_catalog", {"categories": ["ankle_boots"], "colors": ["grey"],
                                             "exclude_materials": ["suede"], "max_price": 150.0})


def test_a_follow_up_after_an_outfit_or_another_category_carries_no_search() -> None:
    # an outfit is shown after the boots search: "in grey" is a search of its own, with no earlier cap
    outfit = [s.model_copy(update={"source": "recommend_outfit"}) for s in OUTFIT]
    plan = _after_boots("in grey maybe", "show me black ankle boots under 150", "an outfit for the weekend",
                        last=outfit)
    assert plan.calls[0].args.get("max_price") is None and not plan.calls[0].args.get("categories")
    # the list shown is not of the category the earlier message names: nothing is carried
    shirts = [s.model_copy(update={"category": "shirt"}) for s in BOOTS_LIST]
    plan = _after_boots("in grey maybe", last=shirts)
    assert plan.calls[0].args.get("categories") in (None, [])
    assert plan.calls[0].args.get("max_price") is None
    # a message naming a category is a new search: the earlier cap does not hold
    plan = _after_boots("grey sneakers maybe")
    check(plan, "search", "search_catalog", {"categories": ["sneakers"], "colors": ["grey"], "max_price": ABSENT})


def test_an_id_the_shopper_types_is_looked_up_not_searched_for() -> None:
    check(plan_for("show me BAG-0251 please", shown=[], last_shown=[], outfits=[]), "search", "search_catalog",
          {"ids": ["BAG-0251"], "query": ABSENT})


def test_what_a_follow_up_search_does_not_carry() -> None:
    # a photo this turn: its own search, not the boots search
    photo = BOOTS_PHOTO.model_copy(update={"turn": 2, "category": "dress", "color": "red"})
    history = [{"role": "user", "content": "show me black ankle boots under 150"},
               {"role": "assistant", "content": "Found 2 item(s)."}]
    plan = PLANNER.plan(make_view("find me something in this colour", history=history, shown=BOOTS_LIST,
                                  last_shown=BOOTS_LIST, outfits=[], images=[photo], new_images=[photo]))
    assert all(c.args.get("max_price") is None and c.args.get("categories") != ["ankle_boots"] for c in plan.calls)
    # a lifted price bound
    check(_after_boots("any price is fine, in grey"), "search", "search_catalog",
          {"categories": ["ankle_boots"], "colors": ["grey"], "max_price": ABSENT})
    check(_after_boots("in grey, pricier is ok"), "search", "search_catalog",
          {"categories": ["ankle_boots"], "colors": ["grey"], "max_price": ABSENT})
    # a question about a shown item, or what the shopper says about themselves, between the two is no filter
    check(_after_boots("in grey maybe", "show me black ankle boots under 150", "is the second one real leather?"),
          "search", "search_catalog", {"categories": ["ankle_boots"], "colors": ["grey"], "materials": ABSENT,
                                       "max_price": 150.0})
    check(_after_boots("in grey maybe", "show me black ankle boots under 150", "I hate suede by the way"),
          "search", "search_catalog", {"categories": ["ankle_boots"], "colors": ["grey"], "max_price": 150.0})


@pytest.mark.parametrize("text", ["show me something other than ANK-0301", "anything like BAG-0251?",
                                  "show me DRS-1001-BLK", "a bag to go with BAG-0251 please"])
def test_an_id_in_a_request_that_is_not_a_look_up_is_not_looked_up(text: str) -> None:
    plan = plan_for(text, shown=[], last_shown=[], outfits=[])
    assert not any(c.args.get("ids") for c in plan.calls), plan.calls


def test_a_look_up_keeps_the_size_asked() -> None:
    check(plan_for("can I see BAG-0251 and BAG-0252 in size M?", shown=[], last_shown=[], outfits=[]), "search",
          "search_catalog", {"ids": ["BAG-0251", "BAG-0252"], "sizes": ["M"]})


@pytest.mark.parametrize(("text", "not_read"), [
    ("a weekend by the coast, what should I wear", ("category", "coat")),
    ("dinner at my parents place on sunday", ("category", "trousers")),
    ("I'm a speaker at a conference", ("category", "sneakers")),
    ("sorta casual please", ("style", "sporty")),
    ("I take the train to work", ("category", "sneakers")),
    ("a holiday in spain", ("material", "satin")),
])
def test_everyday_words_near_the_vocabulary_are_not_read_as_it(text: str, not_read: tuple[str, str]) -> None:
    """Typo tolerance is for typos ("snekaers"): "coast", "parents", "speaker" are words, not garments."""
    assert not_read not in {(m.kind, m.value) for m in parse_message(text).mentions}
    assert ("category", "sneakers") in {(m.kind, m.value) for m in parse_message("shwo me blak snekaers").mentions}
