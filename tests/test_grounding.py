"""Grounding: a model-written plan may only use what the conversation supports."""

from __future__ import annotations

from typing import Any

import pytest

from agent.plan import ImageInfo, Plan, PlannerInput, PreferenceFact, ShownItem, ToolCall
from agent.planners.grounding import ground_plan
from agent.planners.llm_common import PlanError

SHOWN = [ShownItem(id="SNK-0270", title="White sneakers", category="sneakers", color="white", price=75.99,
                   turn=1, position=1)]


def _view(text: str, *, shown: bool = False, prefs: list[PreferenceFact] | None = None,
          images: list[ImageInfo] | None = None, history: list[dict[str, str]] | None = None) -> PlannerInput:
    return PlannerInput(text=text, turn=2, shown=SHOWN if shown else [], last_shown=SHOWN if shown else [],
                        preferences=prefs or [], images=images or [], new_images=images or [],
                        history=history or [])


def _plan(tool: str, intent: str = "search", **args: Any) -> Plan:
    return Plan(intent=intent, calls=[ToolCall(name=tool, args=args)])  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "args", "why"), [
    ("help!! brunch tmrw and nothing to wear", {"occasion": "brunch", "exclude_colors": ["green"]}, "exclude_colors"),
    ("an outfit with a gown for a dinner party", {"occasion": "dinner", "exclude_categories": ["dress"]},
     "exclude_categories"),
    ("good morning", {"occasion": "morning"}, "occasion"),
    ("could you style me a everyday outfit?", {"style": "evening"}, "style"),
    ("dress me for a brunch with friends!!", {"occasion": "brunch", "colors": ["beige"]}, "colors"),
])
def test_outfit_arguments_nobody_asked_for_are_refused(text: str, args: dict[str, Any], why: str) -> None:
    with pytest.raises(PlanError, match=f"recommend_outfit.{why}=.* is not grounded"):
        ground_plan(_plan("recommend_outfit", "recommend_outfit", **args), _view(text))


def test_polarity_must_match_the_message() -> None:
    sell = _view("do you sell suede trousers")
    with pytest.raises(PlanError, match="exclude_materials='suede'"):
        ground_plan(_plan("search_catalog", query="suede trousers", categories=["trousers"],
                          exclude_materials=["suede"]), sell)
    ok = ground_plan(_plan("search_catalog", query="suede trousers", categories=["trousers"], materials=["suede"]),
                     sell)
    assert ok.calls[0].args["materials"] == ["suede"]
    no_wool = _view("coats but no wool please")
    assert ground_plan(_plan("search_catalog", categories=["coat"], exclude_materials=["wool"]), no_wool).calls
    with pytest.raises(PlanError, match="materials='wool'"):
        ground_plan(_plan("search_catalog", categories=["coat"], materials=["wool"]), no_wool)
    vegan = _view("as a vegan I need sandals")
    assert ground_plan(_plan("search_catalog", categories=["sandals"], exclude_materials=["leather", "suede"]),
                       vegan).calls


def test_price_bounds_come_from_the_message() -> None:
    fixed = ground_plan(_plan("search_catalog", query="chelsea boots", categories=["ankle_boots"], max_price=50),
                        _view("chelsea boots at least 50 euros"))
    assert fixed.calls[0].args == {"query": "chelsea boots", "categories": ["ankle_boots"], "min_price": 50}
    added = ground_plan(_plan("search_catalog", query="blazers", categories=["coat"]),
                        _view("looking for blazers under seventy-five"))
    assert added.calls[0].args["max_price"] == 75
    with pytest.raises(PlanError, match=r"max_price=91 is not grounded: the conversation names no price"):
        ground_plan(_plan("find_alternatives", "find_alternatives", item_id="SNK-0270", max_price=91),
                    _view("alternatives to SNK-0270", shown=True))
    total = ground_plan(_plan("recommend_outfit", "recommend_outfit", occasion="work", max_total=150),
                        _view("work outfit, $150 in total"))
    assert total.calls[0].args["max_total"] == 150 and "max_price" not in total.calls[0].args
    budget = [PreferenceFact(kind="budget", value="max 60")]
    kept = ground_plan(_plan("search_catalog", categories=["coat"], max_price=60), _view("coats", prefs=budget))
    assert kept.calls[0].args["max_price"] == 60


def test_forgetting_needs_a_request() -> None:
    with pytest.raises(PlanError, match="forget everything is not grounded"):
        ground_plan(Plan(intent="forget", forget=["*"]), _view("bye"))
    assert ground_plan(Plan(intent="forget", forget=["*"]), _view("forget everything about me")).forget == ["*"]
    with pytest.raises(PlanError, match="forget 'material:suede' is not grounded"):
        ground_plan(Plan(intent="forget", forget=["material:suede"]), _view("jeans but nothing I dislike"))
    assert ground_plan(Plan(intent="forget", forget=["budget:max 70"]), _view("remove my budget from memory")).forget


def test_typos_synonyms_memory_photos_and_shown_items_count_as_evidence() -> None:
    assert ground_plan(_plan("search_catalog", categories=["sneakers"], colors=["green"], max_price=45),
                       _view("find me gren trainers no more than 45")).calls
    assert ground_plan(_plan("search_catalog", categories=["sandals", "sneakers", "ankle_boots"], colors=["blue"]),
                       _view("shos in cobbalt please")).calls
    dislikes = [PreferenceFact(kind="color", value="yellow", polarity="dislike")]
    assert ground_plan(_plan("search_catalog", categories=["ankle_boots"], exclude_colors=["yellow"]),
                       _view("boots but nothing I dislike", prefs=dislikes)).calls
    photo = ImageInfo(sha256="a" * 64, path="/x.png", turn=2, category="pullover", category_confidence=0.5,
                      color="red", color_confidence=0.99)
    # The photo's true category may differ from the encoder's guess, its colour is checked.
    assert ground_plan(_plan("recommend_outfit", "recommend_outfit", anchor_image="latest", anchor_category="coat",
                             anchor_color="red"), _view("what goes with this?", images=[photo])).calls
    with pytest.raises(PlanError, match="anchor_color='green'"):
        ground_plan(_plan("recommend_outfit", "recommend_outfit", anchor_image="latest", anchor_category="coat",
                          anchor_color="green"), _view("what goes with this?", images=[photo]))
    other = ground_plan(_plan("find_alternatives", "find_alternatives", item_id="SNK-0270", exclude_colors=["white"]),
                        _view("can I get them in another colour", shown=True))
    assert other.calls[0].args["exclude_colors"] == ["white"]
    earlier = [{"role": "user", "content": "I need a navy coat"}, {"role": "assistant", "content": "Here."}]
    assert ground_plan(_plan("search_catalog", categories=["coat"], colors=["navy"]),
                       _view("any other ones?", history=earlier)).calls


def test_preferences_noted_must_be_mentioned() -> None:
    fact = PreferenceFact(kind="color", value="brown", polarity="like")
    assert ground_plan(Plan(intent="small_talk", facts=[fact]), _view("i love cognnac")).facts
    with pytest.raises(PlanError, match="preference color:brown is not grounded"):
        ground_plan(Plan(intent="small_talk", facts=[fact]), _view("hello there"))


def test_completion_fills_only_what_the_model_left_out_on_the_same_route() -> None:
    from agent.planners.grounding import complete_plan

    mine = _plan("search_catalog", query="linen shirts", categories=["shirt"], max_price=40)
    parsed = _plan("search_catalog", query="linen shirts", categories=["top"], materials=["linen"], max_price=40)
    done = complete_plan(mine, parsed)
    assert done.calls[0].args == {"query": "linen shirts", "categories": ["shirt"], "max_price": 40,
                                  "materials": ["linen"]}
    other_route = _plan("find_alternatives", "find_alternatives", item_id="BAG-0001", cheaper=True)
    assert complete_plan(other_route, parsed) == other_route


def test_a_cheaper_request_must_show_in_the_plan() -> None:
    view = _view("something cheaper for the bag", shown=True)
    with pytest.raises(PlanError, match="cheaper"):
        ground_plan(_plan("search_catalog", query="bag", categories=["bag"]), view)
    ok = _plan("find_alternatives", "find_alternatives", item_id="SNK-0270", cheaper=True)
    assert ground_plan(ok, view).calls[0].args["cheaper"] is True


def test_an_earlier_dislike_backs_excluding_a_colour_never_asking_for_it() -> None:
    view = _view("show me some pullovers", history=[{"role": "user", "content": "I don't like grey at all."},
                                                    {"role": "assistant", "content": "Noted."}])
    with pytest.raises(PlanError, match="colors='grey' is not grounded"):
        ground_plan(_plan("search_catalog", query="pullovers", categories=["pullover"], colors=["grey"]), view)
    ok = _plan("search_catalog", query="pullovers", categories=["pullover"], exclude_colors=["grey"])
    assert ground_plan(ok, view) == ok


def test_show_memory_needs_a_question_about_memory() -> None:
    with pytest.raises(PlanError, match="show_memory is not grounded"):
        ground_plan(Plan(intent="show_memory"), _view("I've gone off black lately."))
    for text in ("what do you know abt me", "what did I tell you I like?", "list my preferences"):
        assert ground_plan(Plan(intent="show_memory"), _view(text)).intent == "show_memory"


def test_a_photo_argument_needs_a_photo_or_a_design_drawn_first() -> None:
    with pytest.raises(PlanError, match="search_catalog.image is not grounded: no photo"):
        ground_plan(_plan("search_catalog", categories=["pullover"], image="latest"), _view("show me pullovers"))
    both = Plan(intent="generate_image", calls=[
        ToolCall(name="generate_image", args={"prompt": "navy coat", "category": "coat", "color": "navy"}),
        ToolCall(name="search_catalog", args={"image": "latest", "categories": ["coat"]})])
    assert ground_plan(both, _view("design me a navy coat and then find the closest ones in stock")) == both


def test_recalling_an_outfit_needs_a_request_for_one() -> None:
    recall = _plan("recall_outfit", "history", index=-1)
    with pytest.raises(PlanError, match="recall_outfit is not grounded"):
        ground_plan(recall, _view("I've gone off black lately."))
    assert ground_plan(recall, _view("that last outfit again pls")) == recall


def test_a_new_search_cannot_answer_a_message_about_the_item_in_focus() -> None:
    view = PlannerInput(text="show it in blue", turn=3, shown=SHOWN, last_shown=SHOWN, focus_item_id="SNK-0270")
    with pytest.raises(PlanError, match="refers to the item in focus"):
        ground_plan(_plan("search_catalog", query="blue sneakers", categories=["sneakers"], colors=["blue"]), view)
    alt = _plan("find_alternatives", "find_alternatives", item_id="SNK-0270", color="blue")
    assert ground_plan(alt, view) == alt
    refine = view.model_copy(update={"text": "what about blue?"})
    search = _plan("search_catalog", query="blue sneakers", categories=["sneakers"], colors=["blue"])
    assert ground_plan(search, refine) == search


def _outfit(*pieces: tuple[str, str, str, str, float]) -> list[ShownItem]:
    """Items shown together at turn 1: ``(id, title, category, colour, price)`` each, in order."""
    return [ShownItem(id=i, title=t, category=c, color=col, price=p, turn=1, position=n)
            for n, (i, t, c, col, p) in enumerate(pieces, start=1)]


def test_a_new_search_cannot_answer_a_change_to_a_piece_of_the_outfit_named_by_its_role() -> None:
    outfit = _outfit(("SHT-0042", "Beige cotton shirt", "shirt", "beige", 48.0),
                     ("TRS-0007", "Navy trousers", "trousers", "navy", 55.0))
    view = PlannerInput(text="change the top for a blue one", turn=2, shown=outfit, last_shown=outfit)
    search = _plan("search_catalog", query="blue top", categories=["top"], colors=["blue"])
    with pytest.raises(PlanError, match=r"change a piece already shown \(SHT-0042\)"):
        ground_plan(search, view)
    alt = _plan("find_alternatives", "find_alternatives", item_id="SHT-0042", color="blue")
    assert ground_plan(alt, view) == alt
    # without a change cue, naming a shown category is a new search ("show me the trousers in stock")
    browse = view.model_copy(update={"text": "show me the trousers you have"})
    trousers = _plan("search_catalog", query="trousers", categories=["trousers"])
    assert ground_plan(trousers, browse) == trousers


def test_a_question_about_an_earlier_outfit_is_not_a_new_outfit() -> None:
    outfit = [ShownItem(id="PUL-0040", title="Grey pullover", category="pullover", color="grey", price=40.0,
                        turn=1, position=1)]
    view = PlannerInput(text="what was the first outfit? please", turn=3, shown=outfit, last_shown=outfit)
    with pytest.raises(PlanError, match="asks about an outfit shown earlier"):
        ground_plan(_plan("recommend_outfit", "recommend_outfit", anchor_item_id="PUL-0040"), view)
    with pytest.raises(PlanError, match="asks about an outfit shown earlier"):  # nor alternatives to a piece
        ground_plan(_plan("find_alternatives", "find_alternatives", item_id="PUL-0040"), view)
    recall = _plan("recall_outfit", "history", index=0)
    assert ground_plan(recall, view) == recall
    new = view.model_copy(update={"text": "what goes with the grey pullover for the office?"})
    outfit_plan = _plan("recommend_outfit", "recommend_outfit", anchor_item_id="PUL-0040", occasion="office")
    assert ground_plan(outfit_plan, new) == outfit_plan


def test_a_design_request_alone_does_not_also_search() -> None:
    both = Plan(intent="generate_image", calls=[
        ToolCall(name="generate_image", args={"prompt": "mustard dress", "category": "dress", "color": "yellow"}),
        ToolCall(name="search_catalog", args={"image": "latest", "categories": ["dress"]})])
    with pytest.raises(PlanError, match="asked for a design only"):
        ground_plan(both, _view("I'd love to see a design for a mustard dress"))
    assert ground_plan(both, _view("sketch a mustard dress and find real matches")) == both


def test_a_request_to_forget_a_preference_asks_for_no_items() -> None:
    forget = _view("forget that I don't like grey", shown=True,
                   prefs=[PreferenceFact(kind="color", value="grey", polarity="dislike", confidence=0.9)])
    with pytest.raises(PlanError, match="asks to forget a preference"):
        ground_plan(_plan("find_alternatives", "find_alternatives", item_id="SNK-0270"), forget)
    kept = ground_plan(Plan(intent="forget", forget=["color:grey"]), forget)
    assert kept.forget == ["color:grey"]


def test_an_alternative_must_be_for_the_piece_the_message_names() -> None:
    outfit = _outfit(("SND-0204", "Tan sandals", "sandals", "brown", 60.0),
                     ("BAG-0195", "Straw bag", "bag", "beige", 45.0))
    view = PlannerInput(text="the bag's a bit much, got a cheaper one?", turn=2, shown=outfit, last_shown=outfit)
    wrong = _plan("find_alternatives", "find_alternatives", item_id="SND-0204", cheaper=True)
    with pytest.raises(PlanError, match="names the piece BAG-0195, not SND-0204") as refused:
        ground_plan(wrong, view)
    assert (refused.value.argument, refused.value.value) == ("item_id", "SND-0204")
    right = _plan("find_alternatives", "find_alternatives", item_id="BAG-0195", cheaper=True)
    assert ground_plan(right, view).calls[0].args["item_id"] == "BAG-0195"


def test_a_colour_the_shopper_dislikes_is_no_wish_unless_asked_for_now() -> None:
    prefs = [PreferenceFact(kind="color", value="yellow", polarity="dislike", confidence=0.9)]
    history = [{"role": "user", "content": "just so you know I can't stand anything yellow"}]
    with pytest.raises(PlanError, match="colors='yellow' is not grounded"):
        ground_plan(_plan("search_catalog", query="summer tops", categories=["top"], colors=["yellow"]),
                    _view("show me some summer tops", prefs=prefs, history=history))
    asked = _plan("search_catalog", query="yellow tops", categories=["top"], colors=["yellow"])
    assert ground_plan(asked, _view("ok fine, show me yellow tops after all", prefs=prefs)).calls
    avoid = _plan("search_catalog", query="summer tops", categories=["top"], exclude_colors=["yellow"])
    assert ground_plan(avoid, _view("show me some summer tops", prefs=prefs)).calls


@pytest.mark.parametrize(("text", "model", "why"), [
    ("what would all of that set me back?", ("find_alternatives", {"item_id": "SNK-0270", "cheaper": True}),
     "asks about the items shown"),
    ("is the first one in stock?", ("search_catalog", {"categories": ["sneakers"]}), "asks about the items shown"),
    ("great, thank you so much!", ("find_alternatives", {"item_id": "SNK-0270"}), "thanks, goodbye or never mind"),
    ("never mind", ("search_catalog", {"categories": ["sneakers"]}), "thanks, goodbye or never mind"),
    ("can you book me a table somewhere nice for saturday", ("recommend_outfit", {"occasion": "weekend"}),
     "outside the shop"),
    ("show me the last outfit again", ("find_alternatives", {"item_id": "SNK-0270"}), r"see again .*recall_outfit"),
    ("show me some pink sneakers", ("generate_image", {"prompt": "pink sneakers", "category": "sneakers"}),
     r"asks for catalog items \(search_catalog\), not for a design"),
])
def test_new_items_are_refused_where_the_reader_is_sure_none_were_asked(text: str, model: tuple[str, Any],
                                                                        why: str) -> None:
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    view = PlannerInput(text=text, turn=2, shown=SHOWN, last_shown=SHOWN, tools=_tool_schemas(),
                        outfits=[["SNK-0270"]])
    reading = RulesPlanner().plan(view)
    with pytest.raises(PlanError, match=why):
        check_route(_plan(model[0], **model[1]), view, reading)


@pytest.mark.parametrize("text", ["I'm always cold waiting for the bus, help", "thanks! now show me red bags",
                                  "what goes with these sneakers for a wedding?"])
def test_the_models_route_stands_where_the_reader_is_not_sure(text: str) -> None:
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    view = PlannerInput(text=text, turn=2, shown=SHOWN, last_shown=SHOWN, tools=_tool_schemas())
    plan = _plan("search_catalog", categories=["coat"])
    assert check_route(plan, view, RulesPlanner().plan(view)) == plan


@pytest.mark.parametrize("text", ["sketch me pink sneakers", "could you draw what pink sneakers would look like",
                                  "show it in pink"])
def test_a_design_or_an_edit_keeps_the_models_picture(text: str) -> None:
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    view = PlannerInput(text=text, turn=2, shown=SHOWN, last_shown=SHOWN, tools=_tool_schemas())
    plan = _plan("generate_image", prompt="pink sneakers", category="sneakers", color="pink")
    assert check_route(plan, view, RulesPlanner().plan(view)) == plan


def test_an_outfit_is_not_built_around_the_piece_the_shopper_wants_replaced() -> None:
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    outfit = _outfit(("TOP-0011", "White top", "top", "white", 30.0), ("TRS-0267", "Navy trousers", "trousers",
                                                                        "navy", 55.0),
                     ("SNK-0002", "White sneakers", "sneakers", "white", 60.0))
    view = PlannerInput(text="the bottoms look a bit too formal for coffee, something more casual?", turn=2,
                        shown=outfit, last_shown=outfit, outfits=[[s.id for s in outfit]], tools=_tool_schemas())
    reading = RulesPlanner().plan(view)
    assert [(c.name, c.args.get("item_id")) for c in reading.calls] == [("find_alternatives", "TRS-0267")]
    around = _plan("recommend_outfit", "recommend_outfit", anchor_item_id="TRS-0267", style="casual")
    with pytest.raises(PlanError, match="wants that piece replaced"):
        check_route(around, view, reading)
    other = _plan("recommend_outfit", "recommend_outfit", anchor_item_id="TOP-0011", style="casual")
    assert check_route(other, view, reading) == other


def test_a_refused_style_or_occasion_is_taken_out_and_the_rest_of_the_plan_stays() -> None:
    from agent.planners.pipeline import Refusal
    from agent.planners.smol.planner import without_refused

    plan = _plan("recommend_outfit", "recommend_outfit", occasion="brunch", style="casual")
    error = PlanError("recommend_outfit.style='casual' is not grounded: the shopper did not ask for it",
                      tool="recommend_outfit", argument="style", value="casual")
    mended = without_refused(plan, Refusal(str(error), error))
    assert mended is not None and mended.calls[0].args == {"occasion": "brunch"}
    wrong = PlanError("x", tool="recommend_outfit", argument="occasion", value="brunch")
    assert without_refused(mended, Refusal("x", wrong)).calls[0].args == {}  # type: ignore[union-attr]
    colour = PlanError("x", tool="search_catalog", argument="colors", value="red")
    search = _plan("search_catalog", categories=["top"], colors=["red"])
    assert without_refused(search, Refusal("x", colour)) is None  # a wrong colour is left to the fallback


def test_a_category_named_only_to_be_refused_or_read_off_a_person_photo_is_no_wish() -> None:
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    search = _plan("search_catalog", query="sneakers", categories=["sneakers"])
    hate = PlannerInput(text="I hate sneakers, never show me those", turn=1, tools=_tool_schemas())
    with pytest.raises(PlanError, match="dislike sneakers and asks for no items"):
        check_route(search, hate, RulesPlanner().plan(hate))
    for text in ("I hate boots, show me sneakers", "I hate orange - sneakers please"):
        view = PlannerInput(text=text, turn=1, tools=_tool_schemas())
        assert check_route(search, view, RulesPlanner().plan(view)) == search
        assert ground_plan(search, view).calls
    me = ImageInfo(sha256="ab" * 32, path="/tmp/me.png", turn=1, width=28, height=28, kind="upload",
                   role="person", category="sandals", category_confidence=0.4)
    sandals = _plan("search_catalog", categories=["sandals"], image="latest")
    with pytest.raises(PlanError, match="categories='sandals' is not grounded"):
        ground_plan(sandals, _view("anything like this?", images=[me]))
    garment = me.model_copy(update={"role": "garment", "sha256": "cd" * 32})
    assert ground_plan(sandals, _view("anything like this?", images=[garment])).calls


@pytest.mark.parametrize(("text", "refused"), [("gren tops", True), ("nvy jens", True),
                                               ("I hate sneakers, never show me those", False),
                                               ("thanks, that's all", False)])
def test_a_chat_reply_to_a_named_garment_is_refused(text: str, refused: bool) -> None:
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    view = PlannerInput(text=text, turn=2, tools=_tool_schemas())
    chat = Plan(intent="small_talk")
    if refused:
        with pytest.raises(PlanError, match="asks for items"):
            check_route(chat, view, RulesPlanner().plan(view))
    else:
        assert check_route(chat, view, RulesPlanner().plan(view)) == chat


def test_a_chat_reply_that_notes_a_fact_the_reader_does_not_find_is_refused() -> None:
    """"shwo me blak snekaers": a made-up dislike of black must not let a chat reply drop the search."""
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    made_up = Plan(intent="small_talk", facts=[PreferenceFact(kind="color", value="black", polarity="dislike")])
    view = PlannerInput(text="shwo me blak snekaers", turn=2, tools=_tool_schemas())
    with pytest.raises(PlanError, match=r"asks for items \(sneakers\)"):
        check_route(made_up, view, RulesPlanner().plan(view))
    size = Plan(intent="small_talk", facts=[PreferenceFact(kind="size", value="shoe 39", polarity="neutral")])
    said = PlannerInput(text="I'm a size 39 in sneakers", turn=2, tools=_tool_schemas())
    reading = RulesPlanner().plan(said)
    assert reading.facts  # the reader notes the size too: the model's chat reply stands
    assert check_route(size, said, reading) == size


def test_a_dislike_needs_a_dislike_in_the_message() -> None:
    """"shwo me blak snekaers" asks for black: a model's -color:black would be stored against the shopper."""
    dislike = PreferenceFact(kind="color", value="black", polarity="dislike")
    with pytest.raises(PlanError, match="preference -color:black is not grounded"):
        ground_plan(Plan(intent="small_talk", facts=[dislike]), _view("shwo me blak snekaers"))
    for text in ("I can't stand black", "no black please, show me sneakers", "black washes me out, I hate it",
                 "honestly black is the worst", "black is just awful on anyone"):
        assert ground_plan(Plan(intent="small_talk", facts=[dislike]), _view(text)).facts == [dislike], text


def test_a_picture_of_me_without_a_design_cue_is_no_generated_image() -> None:
    """"how would the second pair look on me?" is a try-on (a photo asked for first), never a drawn picture."""
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    design = ImageInfo(sha256="ef" * 32, path="/tmp/d.png", turn=1, width=28, height=28, kind="generated",
                       role="garment", category="sneakers")
    view = PlannerInput(text="how would the second pair look on me?", turn=2, shown=SHOWN, last_shown=SHOWN,
                        tools=_tool_schemas(), images=[design])
    reading = RulesPlanner().plan(view)
    assert reading.intent == "clarify" and not reading.calls  # no photo of the shopper: ask for one
    drawn = _plan("generate_image", "generate_image", prompt="sneakers on me", edit_image="latest")
    with pytest.raises(PlanError, match="on themselves"):
        check_route(drawn, view, reading)
    sketch = PlannerInput(text="imagine how pink sneakers would look on me", turn=2, tools=_tool_schemas())
    assert check_route(drawn, sketch, RulesPlanner().plan(sketch)) == drawn


def test_a_question_about_the_shown_items_keeps_the_kind_the_reader_found() -> None:
    """"what would all of that set me back?" after an outfit asks for its total, not the first piece's price."""
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    outfit = _outfit(("TOP-0011", "White top", "top", "white", 30.0), ("TRS-0267", "Navy trousers", "trousers",
                                                                        "navy", 55.0))
    view = PlannerInput(text="what would all of that set me back?", turn=2, shown=outfit, last_shown=outfit,
                        outfits=[[s.id for s in outfit]], tools=_tool_schemas())
    reading = RulesPlanner().plan(view)
    assert [(c.name, c.args.get("about")) for c in reading.calls] == [("answer_about_items", "total")]
    price = _plan("answer_about_items", "question", about="price", item_id="TOP-0011")
    with pytest.raises(PlanError, match="about=price is not grounded") as refused:
        check_route(price, view, reading)
    assert (refused.value.tool, refused.value.argument, refused.value.value) == ("answer_about_items", "about", "price")
    total = _plan("answer_about_items", "question", about="total")
    assert check_route(total, view, reading) == total


@pytest.mark.parametrize(("text", "dislikes"), [
    ("I hate orange - blouses please", {("color", "orange")}),
    ("i hate wool \u2014 show me jumpers in navy", {("material", "wool")}),
    ("I hate orange, red and brown", {("color", "orange"), ("color", "red"), ("color", "brown")}),
    ("I never wear orange, yellow or pink please", {("color", "orange"), ("color", "yellow"), ("color", "pink")}),
    ("I really hate polyester - or nylon", {("material", "polyester"), ("material", "nylon")}),
])
def test_a_dislike_ends_where_the_request_after_a_dash_begins(text: str, dislikes: set[Any]) -> None:
    from agent.understanding.message import parse_message

    facts = parse_message(text).facts
    assert {(f.kind, f.value) for f in facts if f.polarity == "dislike"} == dislikes
    assert not any(f.kind == "category" for f in facts)  # the garment asked for is no dislike


def test_a_colour_this_message_names_replaces_the_one_said_before() -> None:
    before = [{"role": "user", "content": "shwo me blak snekaers"}, {"role": "assistant", "content": "Found 5."}]
    black_tops = _plan("search_catalog", categories=["top"], colors=["black"])
    with pytest.raises(PlanError, match="colors='black' is not grounded"):
        ground_plan(black_tops, _view("gren tops", history=before))
    assert ground_plan(black_tops, _view("tops please", history=before)).calls  # nothing new: black still holds
    green = _plan("search_catalog", categories=["top"], colors=["green"])
    assert ground_plan(green, _view("gren tops", history=before)).calls
    both = _plan("search_catalog", categories=["sneakers"], colors=["black", "white"])
    assert ground_plan(both, _view("and in white as well?", history=before)).calls  # a colour added, not replaced
    anchored = _plan("recommend_outfit", "recommend_outfit", anchor_category="sneakers", anchor_color="black",
                     colors=["white"])
    assert ground_plan(anchored, _view("an outfit around them with a white top", history=before)).calls


def test_a_request_said_again_without_its_price_drops_the_price() -> None:
    before = [{"role": "user", "content": "an outfit for a wedding, 100 in total"},
              {"role": "assistant", "content": "I can't put together a wedding outfit under €100."}]
    capped = _plan("recommend_outfit", "recommend_outfit", occasion="wedding", max_total=100.0)
    with pytest.raises(PlanError, match="max_total=100 is not grounded: the conversation names no price"):
        ground_plan(capped, _view("an outfit for a wedding", history=before))
    # a follow-up that changes one thing keeps the earlier budget, and so does a stored budget
    assert ground_plan(capped, _view("in navy maybe", history=before)).calls
    assert ground_plan(capped, _view("a wedding one", history=before)).calls
    budget = PreferenceFact(kind="budget", value="max 100", polarity="neutral")
    assert ground_plan(capped, _view("an outfit for a wedding", history=before, prefs=[budget])).calls


def test_a_cheaper_ask_in_other_words_needs_a_cheaper_call() -> None:
    # the reader writes "purse-friendly" as "more affordable": a plan that asks for no cheaper item is refused
    alternatives = _plan("find_alternatives", "find_alternatives", item_id=SHOWN[0].id)
    text = "eek those are a bit steep, anything more purse-friendly than the first one?"
    with pytest.raises(PlanError, match="asked for a cheaper"):
        ground_plan(alternatives, _view(text, shown=True))
    cheaper = _plan("find_alternatives", "find_alternatives", item_id=SHOWN[0].id, cheaper=True)
    assert ground_plan(cheaper, _view(text, shown=True)).calls


def test_a_search_for_a_different_piece_of_the_outfit_shown_is_refused() -> None:
    """"can I see different trainers with that?" after an outfit is about its sneakers: a new search ignores them."""
    outfit = _outfit(("TOP-0011", "Grey tank top", "top", "grey", 20.0),
                     ("SNK-0002", "White trainers", "sneakers", "white", 60.0))
    view = PlannerInput(text="can I see different trainers with that?", turn=2, shown=outfit, last_shown=outfit,
                        outfits=[[s.id for s in outfit]])
    with pytest.raises(PlanError, match=r"change a piece already shown \(SNK-0002\)"):
        ground_plan(_plan("search_catalog", query="trainers", categories=["sneakers"]), view)
    assert ground_plan(_plan("find_alternatives", "find_alternatives", item_id="SNK-0002"), view).calls
    listed = view.model_copy(update={"outfits": []})  # after a list of trainers it is a search
    assert ground_plan(_plan("search_catalog", query="trainers", categories=["sneakers"]), listed).calls


def test_more_of_the_search_shown_is_not_alternatives_and_needs_a_more_ask() -> None:
    """"got any more?" after a search of white trainers: more of them, not alternatives to one (grey ones came)."""
    from agent.planners.checks import check_route
    from agent.planners.rules import RulesPlanner
    from training.planner.data import _tool_schemas

    trainers = [s.model_copy(update={"source": "search_catalog"}) for s in SHOWN]
    history = [{"role": "user", "content": "white sneakers"}, {"role": "assistant", "content": "Found 1 item(s)."}]
    view = PlannerInput(text="got any more?", turn=2, shown=trainers, last_shown=trainers, history=history,
                        tools=_tool_schemas(), focus_item_id=trainers[0].id)
    reading = RulesPlanner().plan(view)
    assert [(c.name, c.args.get("more")) for c in reading.calls] == [("search_catalog", True)]
    with pytest.raises(PlanError, match="more of the search shown"):
        check_route(_plan("find_alternatives", "find_alternatives", item_id=trainers[0].id), view, reading)
    more = _plan("search_catalog", categories=["sneakers"], colors=["white"], more=True)
    assert ground_plan(more, view).calls[0].args["more"] is True
    with pytest.raises(PlanError, match="search_catalog.more is not grounded"):
        ground_plan(more, _view("white sneakers under 80", shown=True))


@pytest.mark.parametrize("text", ["which is the priciest", "ok what's the priciest of the lot", "priciest?"])
def test_a_question_about_the_priciest_shown_item_is_no_ask_for_a_pricier_option(text: str) -> None:
    """The reader writes "priciest" as "pricier"; a question about the shown items needs no pricier call."""
    question = _plan("answer_about_items", "question", about="priciest")
    assert ground_plan(question, _view(text, shown=True)).calls == question.calls
    with pytest.raises(PlanError, match="cheaper \\(or pricier\\) option"):
        ground_plan(_plan("search_catalog", categories=["sneakers"]), _view("something pricier", shown=True))
