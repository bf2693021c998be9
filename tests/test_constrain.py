"""Constrained decoding of compact plans: what the plan grammar lets through, and the shipped model under it."""

from __future__ import annotations

from typing import Any

import pytest

from agent.plan import PlannerInput, ShownItem
from agent.planners.smol.constrain import PlanGrammar


def _view(text: str = "hi", shown: int = 2) -> PlannerInput:
    from training.planner.data import _tool_schemas

    items = [ShownItem(id=f"TOP-000{n}", title="t", category="top", color="red", price=10.0 + n, turn=0,
                       position=n, source="search_catalog") for n in range(1, shown + 1)]
    return PlannerInput(text=text, turn=1, tools=_tool_schemas(), shown=items, last_shown=items)


@pytest.mark.parametrize(("text", "prefix", "whole"), [
    ("", True, False),
    ("recom", True, False),
    ("recommend_outfit occasion=run", True, True),
    ("recommend_outfit occasion=run;styles", False, False),  # recommend_outfit has no 'styles'
    ("recommend_outfit style=sp", True, False),
    ("recommend_outfit category=work", False, False),  # made-up argument name
    ("recommend_outfit exclude_categories=pool", False, False),  # not a catalog category
    ("recommend_outfit exclude_categories=top,ba", True, False),
    ("recommend_outfit occasion=run;occasion=gym", False, False),  # an argument twice
    ("search_catalog colors=polyester", False, False),  # not a colour
    ("search_catalog query=white trainers | more", True, True),
    ("search_catalog max_price=8.5", True, True),
    ("search_catalog max_price=cheap", False, False),
    ("find_alternatives item_id=TOP-0001;cheaper", True, True),
    ("find_alternatives item_id=TOP-0009", False, False),  # never shown
    ("find_alternatives item_id=TOP", True, False),  # only as the start of a shown id
    ("find_alternatives cheaper", True, False),  # item_id is required
    ("answer_about_items about=cheapest", True, True),
    ("answer_about_items about=colour", False, False),  # not one of the schema's enum
    ("small_talk | +color:red", True, True),
    ("small_talk | +shoe:red", False, False),  # not a fact kind
    ("small_talk |", True, False),
    ("smalltalk", False, False),
    ("@search | search_catalog categories=top", True, True),
    ("fly_me_to_the_moon", False, False),  # no such tool or intent
])
def test_grammar_accepts_valid_plans_and_their_prefixes_only(text: str, prefix: bool, whole: bool) -> None:
    grammar = PlanGrammar(_view())
    assert grammar.ok_prefix(text) is prefix
    assert grammar.ok_complete(text) is whole


def test_grammar_takes_ids_the_shopper_typed_and_only_offered_tools() -> None:
    from training.planner.data import _tool_schemas

    view = _view("what about SHT-0042 in blue")
    assert PlanGrammar(view).ok_complete("find_alternatives item_id=SHT-0042;color=blue")
    assert not PlanGrammar(view).ok_complete("find_alternatives item_id=SHT-0043;color=blue")
    fewer = view.model_copy(update={"tools": {k: v for k, v in _tool_schemas().items() if k != "generate_image"}})
    assert PlanGrammar(view).ok_prefix("generate_image prompt=red dress")
    assert not PlanGrammar(fewer).ok_prefix("generate_image prompt=red dress")


def test_arguments_the_grammar_overrode_are_left_out() -> None:
    grammar = PlanGrammar(_view())
    grammar.forced = {(0, 1)}
    assert grammar.without_forced("search_catalog categories=sneakers;colors=beige;max_price=90") == \
        "search_catalog categories=sneakers;max_price=90"
    grammar.forced = {(1, 0)}
    assert grammar.without_forced("small_talk | search_catalog colors=beige") == "small_talk | search_catalog"


# -- the shipped model under the grammar -----------------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

#: Design requests in a step where ``generate_image`` is not offered: decoding freely, the shipped adapter
#: writes the tool anyway (it is not trained on steps without it), which the checks refuse.
_FREE_INVALID = [
    "design me a red floral dress",
    "can you draw a green coat with big buttons",
    "create an image of a yellow summer dress",
]


def _no_design(text: str) -> PlannerInput:
    view = _view(text, shown=0)
    return view.model_copy(update={"tools": {k: v for k, v in view.tools.items() if k != "generate_image"}})


@pytest.fixture(scope="module")
def planners() -> tuple[Any, Any]:
    from agent.planners.smol import SmolPlanner

    free = SmolPlanner(constrained=False, grounding=False, repair=False)
    free.setup()
    bound = SmolPlanner(constrained=True, grounding=False, repair=False)
    bound.model, bound.tokenizer, bound.config = free.model, free.tokenizer, free.config
    bound.drafter, bound.device, bound.projector = free.drafter, free.device, free.projector
    return free, bound


def test_constrained_decoding_turns_invalid_free_plans_into_valid_ones(planners: tuple[Any, Any]) -> None:
    from agent.planners.checks import PlanError

    free, bound = planners
    refused_free = 0
    for text in _FREE_INVALID:
        view = _no_design(text)
        ids, embeds, reusable = free._encode(view)
        loose = free._decode_one((ids, reusable, None), embeds)
        try:
            free.accept_text(loose, view)
        except PlanError:
            refused_free += 1  # the model alone writes a plan the checks refuse
        grammar = bound.grammar(view)
        tight = grammar.without_forced(bound._decode_one((ids, reusable, grammar), embeds))
        plan = bound.accept_text(tight, view)  # raises PlanError if the checks refuse it
        assert all(c.name in view.tools for c in plan.calls), tight
    assert refused_free >= 2


def test_an_argument_without_any_valid_value_is_no_option() -> None:
    grammar = PlanGrammar(_view("I'm training for a 10k", shown=0))  # nothing shown, no id typed
    assert not grammar.ok_prefix("find_alternatives")  # item_id is required and has no valid value
    assert not grammar.ok_prefix("virtual_try_on")  # it reads the latest photo, and there is none
    assert not grammar.ok_prefix("search_catalog image=")  # no photo to search with
    assert grammar.ok_complete("search_catalog categories=coat")
    assert PlanGrammar(_view("I'm training for a 10k", shown=1)).ok_complete("find_alternatives item_id=TOP-0001")


def test_batched_constrained_decode_matches_one_at_a_time(planners: tuple[Any, Any], catalog: Any) -> None:
    from agent.planners.smol.model import generate_batch
    from training.planner.data import build_samples

    _, bound = planners
    samples, _ = build_samples(list(catalog.items.values()), n=300, seed=1)
    views = [s.view for s in samples if s.split == "test" and not s.view.new_images and s.view.step == 0][:8]
    views += [_no_design(t) for t in _FREE_INVALID]
    encoded = [bound._encode(v) for v in views]
    alone = [bound._decode_one((ids, n, bound.grammar(v)), e) for v, (ids, e, n) in zip(views, encoded, strict=True)]
    together = generate_batch(bound.model, bound.tokenizer, [e for _, e, _ in encoded],
                              max_new_tokens=bound.max_new_tokens, grammars=[bound.grammar(v) for v in views])
    assert together == alone
    assert all(bound.read(text, view).plan is not None for text, view in zip(alone, views, strict=True))


def test_a_banned_value_is_no_longer_valid() -> None:
    grammar = PlanGrammar(_view())
    assert grammar.ok_complete("search_catalog categories=top,coat;colors=red")
    grammar.ban("search_catalog", "colors", ["Red"])
    assert not grammar.ok_prefix("search_catalog categories=top,coat;colors=red")
    assert not grammar.ok_prefix("search_catalog categories=top,coat;colors=r")  # it can only become 'red'
    assert grammar.ok_prefix("search_catalog categories=top,coat;colors=b")  # black, blue, beige, brown
    assert grammar.ok_complete("search_catalog categories=top,coat;colors=navy")
    assert grammar.ok_complete("recommend_outfit colors=red")  # only that tool's argument


def test_a_refused_value_is_banned_and_the_plan_decoded_again(monkeypatch: pytest.MonkeyPatch,
                                                              planners: tuple[Any, Any]) -> None:
    from agent.planners.base import PlanError
    from agent.planners.smol import SmolPlanner

    free, _ = planners
    planner = SmolPlanner(constrained=True, grounding=False, beams=1)
    planner.model, planner.tokenizer, planner.config = free.model, free.tokenizer, free.config
    planner.drafter, planner.device, planner.projector = free.drafter, free.device, free.projector
    seen: list[dict[str, Any]] = []
    accept = planner.pipeline.accept

    def refuse_run(plan: Any, view: PlannerInput, reading: Any = None) -> Any:
        seen.append(dict(plan.calls[0].args) if plan.calls else {})
        if plan.calls and plan.calls[0].args.get("occasion") == "run":
            raise PlanError("recommend_outfit.occasion='run' is not grounded", tool="recommend_outfit",
                            argument="occasion", value="run")
        return accept(plan, view, reading)

    monkeypatch.setattr(planner.pipeline, "accept", refuse_run)
    # a refused occasion is taken out of the plan before any re-decode since it became droppable; what is
    # tested here is the re-decode of a value that is not taken out
    from agent.planners.smol import planner as smol_planner

    monkeypatch.setattr(smol_planner, "DROPPABLE", ("exclude_",))
    plan = planner.plan(_view("training for a 10k, could do with a proper running outfit", shown=0))
    assert seen[0].get("occasion") == "run"  # the model's first plan, refused
    assert planner.decode_stats.get("redecodes") == 1
    assert plan.planner != "rules", planner.pipeline.last_trace
    assert plan.calls and plan.calls[0].args.get("occasion") != "run"
    assert len(seen) == 2  # the re-decode's plan was accepted, no beams and no fallback


def test_beam_search_under_the_grammar_writes_only_valid_plans(planners: tuple[Any, Any]) -> None:
    from agent.planners.smol.model import generate

    _, bound = planners
    for text in _FREE_INVALID:
        view = _view(text, shown=0)
        _, embeds, _ = bound._encode(view)
        beams = generate(bound.model, bound.tokenizer, embeds, max_new_tokens=bound.max_new_tokens, num_beams=3,
                         num_return=3, grammar=bound.grammar(view))
        assert len(beams) == 3
        assert all(bound.grammar(view).ok_complete(b) for b in beams), beams


def test_an_item_may_be_named_by_its_place_and_a_banned_item_is_banned_by_place_too() -> None:
    grammar = PlanGrammar(_view(shown=2))
    assert grammar.ok_complete("find_alternatives item_id=#2;cheaper")
    assert not grammar.ok_prefix("find_alternatives item_id=#3")  # only two items are listed
    grammar.ban("find_alternatives", "item_id", "TOP-0002")
    assert not grammar.ok_complete("find_alternatives item_id=#2")
    assert grammar.ok_complete("find_alternatives item_id=#1")
