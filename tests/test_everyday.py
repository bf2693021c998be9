"""Everyday phrasing: questions about shown items, going back, role references, indirect needs, training data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import tools
from agent.catalog.store import Catalog
from agent.context import Context
from agent.plan import Plan, PlannerInput, ShownItem, ToolCall
from agent.planners.base import PlanError
from agent.planners.checks import run_checks
from agent.planners.grounding import ground_plan
from agent.planners.rules import RulesPlanner
from agent.understanding.needs import need_cues, need_prior
from evals.spec import load_conversations
from tools.answer_about_items import read_question
from tools.base import ToolContext, ToolResult

EVERYDAY = Path(__file__).resolve().parents[1] / "evals" / "everyday"
TOOLS = {name: cls.args_schema() for name, cls in tools.discover().items()}


def _shown(catalog: Catalog, ids: list[str], turn: int = 1) -> list[ShownItem]:
    return [ShownItem(id=i, title=catalog.get(i).title, category=catalog.get(i).category,
                      color=catalog.get(i).color, price=catalog.get(i).price, turn=turn, position=n)
            for n, i in enumerate(ids, start=1)]


def _pick(catalog: Catalog, category: str, n: int = 1) -> list[str]:
    return sorted(i.id for i in catalog.items.values() if i.category == category and i.in_stock)[:n]


def _ask(settings: Context, catalog: Catalog, args: dict[str, Any], request: str, **kw: Any) -> ToolResult:
    ctx = ToolContext(settings=settings, catalog=catalog, request=request, **kw)
    return tools.default_tools()["answer_about_items"](args, ctx)


# -- answer_about_items --------------------------------------------------------------------------

def test_cheapest_total_material_and_stock_come_from_the_catalog(settings: Context, catalog: Catalog) -> None:
    ids = _pick(catalog, "top", 3) + _pick(catalog, "bag")
    shown = _shown(catalog, ids)
    items = [catalog.get(i) for i in ids]
    cheapest = min(items, key=lambda i: i.price)
    r = _ask(settings, catalog, {}, "which one is cheapest?", shown=shown)
    assert r.ok and r.data["about"] == "cheapest" and r.data["item_ids"] == [cheapest.id]
    assert f"{cheapest.price:.2f}" in r.message and not r.items  # an answer, not a new list
    r = _ask(settings, catalog, {"about": "total"}, "", shown=shown)
    assert r.data["total"] == round(sum(i.price for i in items), 2)
    assert f"{sum(i.price for i in items):.2f}" in r.message
    second = items[1]
    r = _ask(settings, catalog, {"item_id": second.id}, "what's the second one made of?", shown=shown)
    assert r.data["about"] == "material" and f"made of {second.material}" in r.message
    r = _ask(settings, catalog, {"about": "stock", "item_id": second.id}, "", shown=shown)
    assert "in stock" in r.message and str(second.stock) in r.message and r.focus_item_id == second.id


def test_total_of_the_outfit_after_a_swap_is_the_outfit(settings: Context, catalog: Catalog) -> None:
    outfit = _pick(catalog, "shirt") + _pick(catalog, "trousers") + _pick(catalog, "sneakers")
    alternatives = _pick(catalog, "sneakers", 4)[1:]
    shown = _shown(catalog, outfit, 1) + _shown(catalog, alternatives, 2)
    r = _ask(settings, catalog, {}, "how much is the whole outfit now?", shown=shown, outfits=[outfit])
    assert r.data["item_ids"] == outfit and "as I put it together" in r.message
    assert r.data["total"] == round(sum(catalog.get(i).price for i in outfit), 2)


def test_questions_fail_clearly(settings: Context, catalog: Catalog) -> None:
    r = _ask(settings, catalog, {}, "which is cheapest?")
    assert not r.ok and "haven't shown any items" in r.message
    shown = _shown(catalog, _pick(catalog, "dress", 2))
    r = _ask(settings, catalog, {}, "hello there", shown=shown)
    assert not r.ok and "which one is cheapest?" in r.message
    other = _pick(catalog, "coat")[0]
    r = _ask(settings, catalog, {"about": "price", "item_id": other}, "", shown=shown)
    assert not r.ok and "not one of the items I showed" in r.message
    r = _ask(settings, catalog, {"about": "colour"}, "", shown=shown)
    assert not r.ok and "Invalid arguments" in r.message


def test_show_earlier_brings_back_the_list_before_the_latest(settings: Context, catalog: Catalog) -> None:
    first, second = _pick(catalog, "dress", 3), _pick(catalog, "sandals", 2)
    shown = _shown(catalog, first, 1) + _shown(catalog, second, 2)
    run = tools.default_tools()["show_earlier"]
    r = run({}, ToolContext(settings=settings, catalog=catalog, shown=shown))
    assert r.ok and [i.id for i in r.items] == first
    r = run({}, ToolContext(settings=settings, catalog=catalog, shown=_shown(catalog, first, 1)))
    assert not r.ok and "no earlier list" in r.message


# -- references: a role word resolves to the shown piece; never an unknown id ----------------------

OUTFIT = [ShownItem(id="SHT-0042", title="Smart Blue Shirt", category="shirt", color="blue", price=38.0, turn=1,
                    position=1),
          ShownItem(id="TRS-0007", title="Brown Chinos", category="trousers", color="brown", price=43.0, turn=1,
                    position=2),
          ShownItem(id="SND-0039", title="Brown Sandals", category="sandals", color="brown", price=35.0, turn=1,
                    position=3)]


def _view(text: str, **kw: Any) -> PlannerInput:
    data: dict[str, Any] = {"text": text, "turn": 2, "shown": OUTFIT, "last_shown": OUTFIT,
                            "outfits": [[s.id for s in OUTFIT]], "tools": TOOLS}
    data.update(kw)
    return PlannerInput(**data)


def _alt(item_id: str) -> Plan:
    return Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives",
                                                            args={"item_id": item_id, "cheaper": True})])


def test_a_role_word_as_item_id_is_the_shown_piece_of_that_role() -> None:
    plan = run_checks(_alt("TOP"), _view("something cheaper for the top"))
    assert plan.calls[0].args["item_id"] == "SHT-0042"  # "the top" of this outfit is its shirt
    plan = run_checks(_alt("shoes"), _view("cheaper shoes please"))
    assert plan.calls[0].args["item_id"] == "SND-0039"
    with pytest.raises(PlanError, match="never shown"):
        run_checks(_alt("BAG"), _view("something cheaper for the bag"))  # no bag shown: never reaches a tool
    with pytest.raises(PlanError, match="never shown"):
        run_checks(_alt("cheaper"), _view("something cheaper"))
    plan = run_checks(_alt("SHT-9999"), _view("alternatives to SHT-9999"))
    assert plan.calls[0].args["item_id"] == "SHT-9999"  # an id the shopper typed: the tool says it is unknown


# -- the rules planner: questions, moves and needs ---------------------------------------------------

RULES = RulesPlanner()


@pytest.mark.parametrize(("text", "about", "item_id"), [
    ("which one is cheapest?", "cheapest", None),
    ("which of them is the most expensive?", "priciest", None),
    ("how much is the whole outfit?", "total", None),
    ("is the second one in stock?", "stock", "TRS-0007"),
    ("what's the first one made of?", "material", "SHT-0042"),
])
def test_rules_route_questions_about_shown_items(text: str, about: str, item_id: str | None) -> None:
    plan = RULES.plan(_view(text))
    assert [c.name for c in plan.calls] == ["answer_about_items"]
    # the question is in the arguments, or the tool reads it from the message (when the tool router planned it)
    assert (plan.calls[0].args.get("about") or read_question(text)) == about
    assert plan.calls[0].args.get("item_id") == item_id


@pytest.mark.parametrize("text", ["nice one, that's everything", "thanks, bye", "never mind, I'll think about it"])
def test_closing_remarks_are_not_questions(text: str) -> None:
    plan = RULES.plan(_view(text))
    assert plan.calls == [] and plan.intent == "small_talk"


@pytest.mark.parametrize(("text", "tool", "key", "value"), [
    ("it's freezing on my walk to the station and I need something to throw on", "search_catalog", "categories",
     ["coat"]),
    ("my feet hurt in heels, something comfier for the office", "search_catalog", "categories", ["sneakers"]),
    ("I'm off to the beach next week", "recommend_outfit", "occasion", "beach"),
])
def test_rules_read_indirect_needs(text: str, tool: str, key: str, value: Any) -> None:
    plan = RULES.plan(_view(text, shown=[], last_shown=[], outfits=[]))
    assert [c.name for c in plan.calls] == [tool] and plan.calls[0].args[key] == value


def test_a_named_category_wins_over_a_need() -> None:
    plan = RULES.plan(_view("it's cold out, show me red dresses", shown=[], last_shown=[], outfits=[]))
    assert plan.calls[0].args["categories"] == ["dress"]
    assert need_cues("it's freezing on my commute, need a layer to throw on")[0].categories == ("coat",)


def test_grounding_accepts_a_category_the_situation_implies_and_nothing_else() -> None:
    view = _view("the wind on my bike ride in goes right through me", shown=[], last_shown=[], outfits=[])
    assert any(n.categories == ("coat",) for n in need_prior(view.text))
    coat = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"categories": ["coat"]})])
    assert ground_plan(coat, view).calls[0].args["categories"] == ["coat"]
    dress = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"categories": ["dress"]})])
    with pytest.raises(PlanError, match="not grounded"):
        ground_plan(dress, view)


# -- the eval set and the training data ------------------------------------------------------------

def test_everyday_eval_set_is_valid_and_large_enough() -> None:
    dev = load_conversations([EVERYDAY / "dev"])
    held = load_conversations([EVERYDAY / "heldout"])
    held2 = load_conversations([EVERYDAY / "heldout2"])
    held3 = load_conversations([EVERYDAY / "heldout3"])
    turns = sum(len(c.turns) for _, c in [*dev, *held])
    assert turns >= 150 and len(held) >= 20
    for later in (held2, held3):
        assert len(later) >= 24 and sum(len(c.turns) for _, c in later) >= 80
    names = [c.name for _, c in [*dev, *held, *held2, *held3]]
    assert len(names) == len(set(names))
    asked = {t for _, c in [*dev, *held] for turn in c.turns for t in (turn.expect.tools or [])}
    assert {"answer_about_items", "show_earlier", "find_alternatives", "recommend_outfit", "search_catalog",
            "recall_outfit", "generate_image"} <= asked


def test_everyday_training_samples_hold_out_whole_phrasing_pools(catalog: Catalog) -> None:
    from agent.planners.compact import from_compact
    from training.planner.data_everyday import build_everyday_samples

    items = list(catalog.items.values())
    train = build_everyday_samples(items, 150, "train")
    test = build_everyday_samples(items, 60, "test")
    assert {s.split for s in train} == {"train"} and {s.split for s in test} == {"test"}
    assert not {s.view.text for s in train} & {s.view.text for s in test}
    assert {s.task for s in train} >= {"everyday_need", "everyday_role", "everyday_question", "everyday_move"}
    for s in [*train, *test]:
        assert from_compact(s.compact).calls == s.target.calls
        for call in s.target.calls:
            for key, value in call.args.items():
                if key == "item_id":
                    assert value in {x.id for x in s.view.shown}  # role words are resolved in the targets
    again = build_everyday_samples(items, 150, "train")
    assert [s.compact for s in again] == [s.compact for s in train]


def test_smol_alone_has_no_rules_behind_it() -> None:
    from agent.planners import get_planner
    from agent.planners.checks import MODEL_CHECKS
    from agent.planners.smol.alone import DECLINED

    planner = get_planner("smol-alone")
    assert planner.pipeline.checks == MODEL_CHECKS and not planner.repair
    declined = planner.pipeline.fallback.plan(_view("whatever"))
    assert declined.calls == [] and declined.reply == DECLINED


def test_a_question_the_model_was_not_trained_on_is_delegated_to_the_reader() -> None:
    from collections.abc import Generator

    from agent.planners.pipeline import Candidate, FallbackPlanner

    class Proposer:
        name = "fake"
        repairs_enabled = False

        def __init__(self, trained: frozenset[str]) -> None:
            self.trained_tools = trained

        def propose(self, view: PlannerInput) -> Generator[Candidate, str | None, None]:
            yield Candidate("recommend_outfit", plan=Plan(intent="recommend_outfit", calls=[
                ToolCall(name="recommend_outfit", args={})]))

    view = _view("what would all of that set me back?")
    old = FallbackPlanner(Proposer(frozenset({"recommend_outfit", "search_catalog"})), RulesPlanner())
    plan = old.plan(view)
    assert [c.name for c in plan.calls] == ["answer_about_items"] and old.last_trace.outcome == "delegated"
    assert old.last_trace.first is not None  # the model's own candidate is still reported (model alone)
    new = FallbackPlanner(Proposer(frozenset({"recommend_outfit", "answer_about_items"})), RulesPlanner())
    # a trained model's plan is checked, not delegated; a new outfit for a question about the shown items is
    # refused by the route check, and the reader's answer is the step's plan
    assert [c.name for c in new.plan(view).calls] == ["answer_about_items"]
    assert new.last_trace.outcome == "fallback" and "asks about the items shown" in new.last_trace.errors[0]


_SAMPLES: dict[tuple[int, int, int], list[Any]] = {}


def _everyday_samples(catalog: Catalog, n: int, seed: int) -> list[Any]:
    """Return ``build_everyday_samples(items, n, "train", seed)``, built once per session (grounding is slow)."""
    from training.planner.data_everyday import build_everyday_samples

    key = (id(catalog), n, seed)
    if key not in _SAMPLES:
        _SAMPLES[key] = build_everyday_samples(list(catalog.items.values()), n, "train", seed=seed)
    return _SAMPLES[key]


def _phrase_pools() -> dict[str, Any]:
    """Every phrasing pool of the everyday generators, by a readable name."""
    from training.planner import data_everyday as de

    pools: dict[str, Any] = {f"need:{k}": v[1] for k, v in de.NEED_PHRASES.items()}
    pools.update({f"role:{k}": v for k, v in de.ROLE_CHANGES.items()})
    pools.update({f"question:{k}": v for k, v in de.QUESTIONS.items()})
    pools.update({f"move:{k}": v for k, v in de.MOVES.items()})
    pools.update({f"occasion:{k}": v for k, v in de.OCCASION_EVENTS.items()})
    pools.update({f"ordinal:{k}": v for k, v in de.ORDINAL_CHANGES.items()})
    pools.update({f"refine:{k}": v for k, v in de.REFINES.items()})
    for name in ("BEACH_PHRASES", "SHORT_FORMS", "RAMBLE_VOICES", "TOTAL_PHRASES", "PER_ITEM_PHRASES", "STYLE_TAILS",
                 "OUTFIT_FORMS", "OUTFIT_TAILS", "SEARCH_FORMS", "SEARCH_TAILS", "MORE_PHRASES", "LIKE_PHRASES",
                 "NEW_SEARCHES", "TWO_THINGS", "OFF_TOPIC"):
        pools[name] = getattr(de, name)
    return pools


def test_everyday_train_and_test_pools_are_disjoint_and_wide() -> None:
    import re

    def norm(text: str) -> str:
        return " ".join(re.findall(r"[a-z0-9{}]+", text.lower()))

    pools = _phrase_pools()
    for name, pool in pools.items():
        train, test = {norm(t) for t in pool["train"]}, {norm(t) for t in pool["test"]}
        assert not train & test, f"{name}: {sorted(train & test)} is in both the train and the test pool"
        assert len(set(pool["train"])) == len(pool["train"]), f"{name} repeats a train phrasing"
    assert [name for name, pool in pools.items() if not pool["test"]] == []  # every kind has held-out phrasings
    # the big kinds have wide train pools, so a model cannot learn them by heart
    for name, pool in pools.items():
        big = name.startswith(("role:color", "role:cheaper", "role:other", "move:", "question:cheapest",
                               "question:total")) or name in ("BEACH_PHRASES", "SHORT_FORMS", "RAMBLE_VOICES",
                                                              "OUTFIT_FORMS", "SEARCH_FORMS", "MORE_PHRASES")
        least = 25 if big else 12 if name.startswith("need:") else 0
        assert len(pool["train"]) >= least, f"{name} has {len(pool['train'])} train phrasings, fewer than {least}"


def test_show_more_phrasings_are_a_more_ask_and_like_phrasings_are_not() -> None:
    """'show me more' samples plan ``search_catalog more``, which grounding allows only for a more-ask."""
    from agent.understanding import parse_message
    from agent.understanding.cues import MORE_RESULTS_RE
    from training.planner.data_everyday import LIKE_PHRASES, MORE_PHRASES

    for text in [*MORE_PHRASES["train"], *MORE_PHRASES["test"]]:
        assert MORE_RESULTS_RE.search(parse_message(text).request), text
    for text in [*LIKE_PHRASES["train"], *LIKE_PHRASES["test"]]:
        assert not MORE_RESULTS_RE.search(parse_message(text).request), text


def test_new_everyday_generators_route_to_the_right_tools(catalog: Catalog) -> None:
    from agent.catalog.vocab import OCCASIONS, STYLES
    from training.planner.data_everyday import EVERYDAY_GENERATORS

    samples = _everyday_samples(catalog, 400, 3)
    by_task: dict[str, list[Any]] = {}
    for s in samples:
        by_task.setdefault(s.task, []).append(s)
    assert set(by_task) == {f"everyday_{name}" for name in EVERYDAY_GENERATORS}
    for task, rows in by_task.items():
        for s in rows:
            calls = [(c.name, c.args) for c in s.target.calls]
            if task in ("everyday_occasion_indirect", "everyday_outfit_plain"):
                [(tool, args)] = calls
                assert tool == "recommend_outfit" and (args.get("occasion") or args.get("style")), s.view.text
                assert args.get("occasion", "dinner") in OCCASIONS and args.get("style", "casual") in STYLES
                assert not {"max_price", "max_total"} <= set(args)  # one budget: per piece or for the whole look
            elif task == "everyday_search_plain":
                [(tool, args)] = calls
                assert tool == "search_catalog" and len(args["categories"]) == 1, s.view.text
            elif task == "everyday_show_more":
                cat = s.view.last_shown[0].category
                assert calls in ([("find_alternatives", {"item_id": s.view.focus_item_id})],
                                 [("search_catalog", {"categories": [cat], "more": True})]), s.view.text
            elif task == "everyday_question":
                [(tool, args)] = calls
                assert tool == "answer_about_items" and args["about"] in {
                    "cheapest", "priciest", "total", "stock", "material", "brand", "price", "sizes"}
    totals = [s for s in by_task["everyday_occasion_indirect"] + by_task["everyday_outfit_plain"]
              if "max_total" in s.target.calls[0].args]
    assert totals and all(str(int(s.target.calls[0].args["max_total"])) in s.view.text for s in totals)
    sizes = [s for s in by_task["everyday_question"] if s.target.calls[0].args["about"] == "sizes"]
    assert sizes  # the tool's eighth question kind is trained too
    wedding = [s for s in by_task["everyday_occasion_indirect"] if "married" in s.view.text]
    assert all(s.target.calls[0].args["occasion"] == "wedding" for s in wedding)


def test_an_item_named_by_its_place_in_the_list_is_that_item_in_the_target(catalog: Catalog) -> None:
    import random
    import re

    from training.planner.data import Gen
    from training.planner.data_everyday import _ORD_WORDS, _with_ordinal, build_everyday_samples

    words = {w: k for k, ws in _ORD_WORDS.items() for w in ws}
    samples = build_everyday_samples(list(catalog.items.values()), 500, "train", seed=5)
    named = 0
    for s in samples:
        if s.task not in ("everyday_ordinal", "everyday_question") or not s.target.calls:
            continue
        text = s.view.text.lower()
        found = re.search(r"\b(first|second|third|fourth|fifth|sixth|[1-6](?:st|nd|rd|th))\b"
                          r"|(?:number|no\.|#|item|option) ?([1-6])\b", text)
        if found is None or "item_id" not in s.target.calls[0].args:
            continue
        k = words[found.group(1)] if found.group(1) else int(found.group(2))
        assert s.target.calls[0].args["item_id"] == s.view.last_shown[k - 1].id, s.view.text
        named += 1
    assert named >= 20
    assert any(s.task == "everyday_ordinal" for s in samples)
    # "the last one" is the last item of the list
    g = Gen(random.Random(1), list(catalog.items.values()))
    texts = {_with_ordinal(g, "is the {ord} one in stock?", 5, 5) for _ in range(200)}
    assert "is the last one in stock?" in texts
    assert texts & {"is number 5 in stock?", "is no. 5 in stock?", "is #5 in stock?"}
    assert not any("first" in t for t in texts)


def test_targets_name_listed_items_by_place_and_the_planner_reads_places_back(catalog: Catalog) -> None:
    from agent.planners.compact import CompactPlanError, from_compact, resolve_positions, with_positions
    from agent.planners.smol.planner import SmolPlanner
    from training.planner.train import _target_text

    ids = _pick(catalog, "bag", 3)
    focus = _pick(catalog, "coat")[0]
    view = PlannerInput(text="is the third one in stock?", turn=2, tools=TOOLS, shown=_shown(catalog, ids),
                        last_shown=_shown(catalog, ids), focus_item_id=focus)
    plan = Plan(intent="question", calls=[ToolCall(name="answer_about_items",
                                                   args={"about": "stock", "item_id": ids[2]})])
    placed = with_positions(plan, view)
    assert placed.calls[0].args == {"about": "stock", "item_id": "#3"}
    assert resolve_positions(placed, view) == plan
    # an item the prompt does not list (the one in focus from an earlier list) stays an id
    other = Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives", args={"item_id": focus})])
    assert with_positions(other, view) == other
    # non-item arguments that look like places are left alone
    query = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"query": "#2"})])
    assert resolve_positions(query, view) == query
    with pytest.raises(CompactPlanError, match=r"item_id=#4: no item is shown at that place \(places: #1, #2, #3\)"):
        resolve_positions(from_compact("answer_about_items about=stock;item_id=#4"), view)
    with pytest.raises(CompactPlanError, match="nothing is shown yet"):
        resolve_positions(from_compact("find_alternatives item_id=#1"), view.model_copy(update={"last_shown": []}))
    # the planner reads what the model writes: a place is the listed item, a bad place an unreadable plan
    planner = SmolPlanner()
    assert planner.read("answer_about_items about=stock;item_id=#3", view).plan == plan
    bad = planner.read("answer_about_items about=stock;item_id=#9", view)
    assert bad.plan is None and "no item is shown at that place" in (bad.error or "")
    # a training sample's target text in either form
    from training.planner.data import PlannerSample

    sample = PlannerSample(id="x", task="t", family="f", group="g", split="train", view=view, target=plan,
                           compact="answer_about_items about=stock;item_id=" + ids[2], tools=sorted(TOOLS))
    assert _target_text(sample) == f"answer_about_items about=stock;item_id={ids[2]}"
    assert _target_text(sample, "position") == "answer_about_items about=stock;item_id=#3"


def test_the_prompt_names_the_focus_by_its_place_when_it_is_listed(catalog: Catalog) -> None:
    from agent.planners.compact import render_prompt

    ids = _pick(catalog, "bag", 3)
    shown = _shown(catalog, ids)
    view = PlannerInput(text="is it in stock?", turn=2, tools=TOOLS, shown=shown, last_shown=shown,
                        focus_item_id=ids[1])
    assert "focus: #2" in render_prompt(view).splitlines()
    coat = _pick(catalog, "coat")[0]
    older = [*shown, *_shown(catalog, [coat], turn=0)]
    view = view.model_copy(update={"shown": older, "focus_item_id": coat})
    assert any(line.startswith(f"focus: {coat} ") for line in render_prompt(view).splitlines())


def test_everyday_steps_after_results_carry_the_conversation_around_them(catalog: Catalog) -> None:
    from agent.planners.compact import render_prompt
    from training.planner.data_everyday import build_everyday_samples
    from training.planner.train import _target_text

    samples = build_everyday_samples(list(catalog.items.values()), 600, "train", seed=7)
    after = [s for s in samples if s.view.last_shown]
    with_history = [s for s in after if s.view.history]
    assert len(with_history) >= 0.6 * len(after)
    # sometimes the list shown last is the alternatives to an item still in focus, which is not a listed place
    distracted = [s for s in after if s.view.focus_item_id and s.view.focus_item_id not in
                  {x.id for x in s.view.last_shown} and s.task in ("everyday_ordinal", "everyday_question")]
    assert distracted
    for s in distracted:
        assert "Alternatives to the" in s.view.history[-1]["content"]
        assert f"focus: {s.view.focus_item_id}" in render_prompt(s.view)
        assert s.view.focus_item_id not in _target_text(s, "position")  # the place named, not the focus
    # another outfit is a new outfit; back to an earlier outfit recalls that outfit by its place
    another = [s for s in samples if s.task == "everyday_another_outfit"]
    back = [s for s in samples if s.task == "everyday_outfit_back"]
    assert another and back
    assert all([c.name for c in s.target.calls] == ["recommend_outfit"] and s.view.outfits for s in another)
    for s in back:
        [call] = s.target.calls
        assert call.name == "recall_outfit" and 1 <= call.args["index"] < len(s.view.outfits)
        assert s.view.last_shown[0].id == s.view.outfits[-1][0]
    moves = [s for s in samples if s.task == "everyday_move" and s.target.intent == "small_talk"]
    assert {s.view.last_shown[0].source for s in moves} >= {"search_catalog", "recommend_outfit"}


def test_a_try_on_after_a_design_asks_for_the_shoppers_photo() -> None:
    from agent.plan import ImageInfo
    from agent.planners.smol.constrain import PlanGrammar

    shown = [ShownItem(id=f"SNK-000{n}", title="t", category="sneakers", color="pink", price=100.0 + n, turn=2,
                       position=n, source="search_catalog") for n in range(1, 4)]
    design = ImageInfo(sha256="ab" * 32, path="/tmp/design.png", turn=1, width=28, height=28, kind="generated",
                       category="dress", category_confidence=0.9)
    view = PlannerInput(text="how would the second pair look on me?", turn=3, tools=TOOLS, shown=shown,
                        last_shown=shown, images=[design])
    plan = RulesPlanner().plan(view)
    assert plan.intent == "clarify" and not plan.calls and "photo of yourself" in (plan.reply or "")
    try_on = Plan(intent="try_on", calls=[ToolCall(name="virtual_try_on", args={"item_id": "SNK-0002"})])
    with pytest.raises(PlanError, match="uploaded no photo of themselves"):
        run_checks(try_on, view)
    assert not PlanGrammar(view).ok_prefix("virtual_try_on")
    me = ImageInfo(sha256="cd" * 32, path="/tmp/me.png", turn=1, width=28, height=28, kind="upload")
    with_photo = view.model_copy(update={"images": [me, design]})
    assert run_checks(try_on, with_photo).calls == try_on.calls
    assert PlanGrammar(with_photo).ok_complete("virtual_try_on item_id=#2")


def test_a_photo_of_the_shopper_is_a_person_in_the_prompt() -> None:
    from agent.plan import ImageInfo
    from agent.planners.compact import render_prompt

    me = ImageInfo(sha256="ab" * 32, path="/tmp/me.png", turn=1, width=28, height=28, kind="upload",
                   role="person", category="sandals", category_confidence=0.4)
    view = PlannerInput(text="this is me", turn=1, tools=TOOLS, images=[me], new_images=[me])
    assert render_prompt(view).splitlines()[-1] == "user: this is me [photo: person]"


def test_places_past_the_prompts_list_are_read_but_not_offered(catalog: Catalog) -> None:
    from agent.planners.compact import resolve_positions, with_positions
    from agent.planners.smol.constrain import PlanGrammar

    ids = _pick(catalog, "top", 8)
    shown = _shown(catalog, ids)
    view = PlannerInput(text="alternatives to the seventh one", turn=2, tools=TOOLS, shown=shown, last_shown=shown)
    seventh = Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives", args={"item_id": ids[6]})])
    assert with_positions(seventh, view) == seventh  # the prompt lists six: the seventh stays an id
    placed = seventh.model_copy(update={"calls": [ToolCall(name="find_alternatives", args={"item_id": "#7"})]})
    assert resolve_positions(placed, view) == seventh
    grammar = PlanGrammar(view)
    assert grammar.ok_complete("find_alternatives item_id=#6")
    assert not grammar.ok_complete("find_alternatives item_id=#7")
    assert grammar.ok_complete(f"find_alternatives item_id={ids[6]}")


def test_the_prompt_leaves_item_ids_out_of_the_assistants_line(catalog: Catalog) -> None:
    from agent.planners.compact import render_prompt

    ids = _pick(catalog, "pullover", 2)
    shown = _shown(catalog, ids)
    sku = shown[1].model_copy(update={"id": "sku_77-a"})  # an imported catalog's SKU, any form
    reply = f"Found 2 item(s). 1. {shown[0].title} [{ids[0]}] 2. Wool Knit [sku_77-a]"
    view = PlannerInput(text="in grey maybe", turn=2, tools=TOOLS, shown=[shown[0], sku], last_shown=[shown[0], sku],
                        history=[{"role": "user", "content": "cosy jumpers"}, {"role": "assistant", "content": reply}])
    line = next(x for x in render_prompt(view).splitlines() if x.startswith("A: "))
    assert ids[0] not in line and "sku_77" not in line and "[" not in line  # no id to copy, clipped or whole
    assert line.startswith("A: Found 2 item(s). 1. ")
    assert ids[0] in render_prompt(view)  # the ids are on the shown: line


def test_searches_after_results_two_requests_and_off_topic_asks_are_planned_as_such(catalog: Catalog) -> None:

    samples = _everyday_samples(catalog, 400, 3)
    by_task: dict[str, list[Any]] = {}
    for s in samples:
        by_task.setdefault(s.task, []).append(s)
    refines = by_task["everyday_refine"]
    assert len(refines) >= 10
    for s in refines:  # the same search with one filter changed: same category, the earlier cap kept or lowered
        [call] = s.target.calls
        assert call.name == "search_catalog" and call.args["categories"] == [s.view.last_shown[0].category]
        asked = s.view.history[0]["content"]
        if " under " in asked and "max_price" in call.args:
            assert call.args["max_price"] <= float(asked.rsplit(" under ", 1)[1])
        changed = set(call.args) & {"colors", "exclude_materials", "materials", "max_price"}
        assert changed, s.view.text
    vegan = [s for s in refines if "exclude_materials" in s.target.calls[0].args]
    assert vegan and all(s.target.calls[0].args["exclude_materials"][0] in s.view.text for s in vegan)
    for s in by_task["everyday_new_search"]:  # a category not among those shown: a search, not alternatives
        [call] = s.target.calls
        assert call.name == "search_catalog"
        assert call.args["categories"][0] not in {x.category for x in s.view.last_shown}
    for s in by_task["everyday_two_things"]:
        assert [c.name for c in s.target.calls] == ["search_catalog", "search_catalog"], s.view.text
        assert s.target.calls[0].args["categories"] != s.target.calls[1].args["categories"]
    assert all(s.target.intent == "out_of_scope" and not s.target.calls for s in by_task["everyday_off_topic"])
    import random

    from training.planner.data import Gen
    from training.planner.data_everyday import g_question

    g = Gen(random.Random(4), sorted(catalog.items.values(), key=lambda i: i.id))
    drafts = [g_question(g, "train") for _ in range(400)]
    sized = [d for d in drafts if re.search(r"\b(?:in|a) (?:size 10|uk 6|3[89]|4[02]|[SML]|XL)\b", d.text)]
    assert sized and all(set(d.target.calls[0].args) <= {"about", "item_id"} for d in sized)  # a size is no argument


def test_recalled_preferences_are_left_to_the_tools_in_plain_requests(catalog: Catalog) -> None:

    samples = _everyday_samples(catalog, 400, 3)
    with_prefs = [s for s in samples if s.view.preferences]
    assert len(with_prefs) >= 15
    for s in with_prefs:
        values = {str(v) for c in s.target.calls for vs in c.args.values()
                  for v in (vs if isinstance(vs, list) else [vs])}
        for fact in s.view.preferences:
            if fact.kind in ("color", "material") and fact.value not in s.view.text.lower():
                assert fact.value not in values, (s.view.text, fact, s.target.calls)
