"""The planner pipeline: model candidates through one list of checks, else the fallback; parse once."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import tools
from agent.memory.extract import extract_facts
from agent.plan import Plan, PlannerInput, ShownItem, ToolCall
from agent.planners.checks import GROUNDED_CHECKS, MODEL_CHECKS
from agent.planners.pipeline import Candidate, FallbackPlanner
from agent.planners.rules import RulesPlanner
from agent.understanding.message import parse_message

SCHEMAS = {name: cls.args_schema() for name, cls in tools.discover().items()}
SHOWN = [ShownItem(id="DRS-0001", title="Red dress", category="dress", color="red", price=40.0, turn=1, position=1)]


def _view(text: str, **kw: Any) -> PlannerInput:
    return PlannerInput(text=text, turn=2, tools=SCHEMAS, **kw)


class Scripted:
    """A proposer that yields fixed candidates and records the feedback sent back to it."""

    name = "fake"
    repairs_enabled = True

    def __init__(self, *plans: Plan | None) -> None:
        self.plans = plans
        self.feedback: list[str | None] = []

    def propose(self, view: PlannerInput) -> Generator[Candidate, str | None, None]:
        for n, plan in enumerate(self.plans):
            error = yield Candidate(f"candidate {n}", plan=plan, error=None if plan else "unreadable", round=min(n, 1))
            self.feedback.append(error)


class CountingRules(RulesPlanner):
    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def plan(self, view: PlannerInput) -> Plan:
        self.runs += 1
        return super().plan(view)


def _search(**args: Any) -> Plan:
    return Plan(intent="search", calls=[ToolCall(name="search_catalog", args=args)])


def test_rejected_candidate_is_repaired_with_the_checks_message() -> None:
    proposer = Scripted(_search(colors=["sparkly"]), _search(colors=["red"], categories=["dress"]))
    pipeline = FallbackPlanner(proposer, CountingRules(), MODEL_CHECKS, reading=False)
    plan = pipeline.plan(_view("red dresses please"))
    assert plan.calls[0].args == {"colors": ["red"], "categories": ["dress"]} and plan.planner == "fake"
    assert proposer.feedback[0] is not None and "'sparkly' is not a catalog colour" in proposer.feedback[0]
    assert pipeline.stats == {"calls": 1, "repairs": 1, "fallbacks": 0}
    assert pipeline.last_trace.outcome == "model" and pipeline.last_trace.first is not None
    assert pipeline.last_trace.first.plan is not None and pipeline.last_trace.first.plan.calls[0].args == {
        "colors": ["sparkly"]}  # the model's own first answer, kept for model-alone metrics


def test_fallback_uses_the_one_reading_of_the_step() -> None:
    rules = CountingRules()
    proposer = Scripted(None, _search(item_id="x"))
    pipeline = FallbackPlanner(proposer, rules, GROUNDED_CHECKS, reading=True)
    plan = pipeline.plan(_view("cheaper alternatives to the first one", shown=SHOWN, last_shown=SHOWN))
    assert [c.name for c in plan.calls] == ["find_alternatives"] and plan.planner == "rules"
    assert rules.runs == 1  # one rules run per step: the reading, reused as the fallback's answer
    assert pipeline.stats["fallbacks"] == 1 and pipeline.last_trace.outcome == "fallback"
    assert pipeline.last_error and "invalid arguments for search_catalog" in pipeline.last_error


def test_declined_step_is_delegated_and_completion_is_marked() -> None:
    rules = CountingRules()
    assert FallbackPlanner(Scripted(), rules).plan(_view("hello")).planner == "rules"
    # the model routed like the reader but dropped "linen": completed, and marked as such
    pipeline = FallbackPlanner(Scripted(_search(categories=["shirt"], query="linen shirts")), rules)
    plan = pipeline.plan(_view("show me linen shirts"))
    assert plan.calls[0].args.get("materials") == ["linen"] and plan.completed_by == "rules"
    assert pipeline.outcomes["completed"] == 1


def test_call_less_model_plan_gets_the_shared_reply() -> None:
    prefs = [dict(kind="color", value="navy")]
    view = _view("what do you remember about me?", preferences=prefs)
    plan = FallbackPlanner(Scripted(Plan(intent="show_memory")), RulesPlanner(), MODEL_CHECKS, reading=False).plan(view)
    assert plan.reply and "navy" in plan.reply and plan.planner == "fake"


def test_a_message_is_parsed_once_per_turn() -> None:
    text = "I love linen, show me shirts under 60 please"
    parse_message.cache_clear()
    view = _view(text)
    pipeline = FallbackPlanner(Scripted(_search(categories=["shirt"], max_price=60)), RulesPlanner())
    plan = pipeline.plan(view)
    extract_facts(text, 2)  # the memory extractor reads the same parse
    assert plan.calls and parse_message.cache_info().misses == 1, parse_message.cache_info()


@pytest.mark.parametrize("word,value,how", [("jeans", "trousers", "synonym"), ("sneekers", "sneakers", "typo"),
                                            ("Ankle-Boots", "ankle_boots", "exact"), ("gray", "grey", "synonym")])
def test_one_vocabulary_resolver(word: str, value: str, how: str) -> None:
    from agent.catalog.vocab import normalize_category, resolve

    kind = "color" if value == "grey" else "category"
    assert resolve(kind, word) == (value, how)
    if how == "typo":
        with pytest.raises(ValueError, match="unknown category"):
            normalize_category(word)  # tool arguments stay strict


def test_eval_planner_reports_the_model_alone_beside_the_pipeline() -> None:
    from training.planner.data import PlannerSample
    from training.planner.metrics import evaluate

    def sample(n: int, text: str, target: Plan) -> PlannerSample:
        return PlannerSample(id=str(n), task="search", family="f", split="test", view=_view(text), target=target)

    linen = _search(categories=["shirt"], materials=["linen"], query="linen shirts")
    samples = [sample(1, "show me linen shirts", linen), sample(2, "show me linen shirts", linen)]

    class Dropping(Scripted):
        """Drops "linen" on the first sample and writes garbage on the second."""

        def propose(self, view: PlannerInput) -> Generator[Candidate, str | None, None]:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 1:
                yield Candidate("a", plan=_search(categories=["shirt"], query="linen shirts"))
            else:
                yield Candidate("b", error="unreadable")

    scores = evaluate(FallbackPlanner(Dropping(), RulesPlanner()), samples, split="test")
    assert scores.outcomes == {"completed": 1, "fallback": 1}
    assert scores.model_alone is not None and scores.model_alone.routing_accuracy == 0.5
    assert scores.model_alone.slot_recall < scores.slot_recall  # the pipeline completed what the model dropped
    assert scores.routing_accuracy == 1.0


def test_excluded_categories_and_colours_are_mapped_onto_the_catalog_too() -> None:
    from agent.planners.checks import PlanError, run_checks

    plan = run_checks(_search(exclude_colors=["gray"], exclude_categories=["shoes", "jeans"]), _view("no shoes"))
    assert plan.calls[0].args == {"exclude_colors": ["grey"],
                                  "exclude_categories": ["sandals", "sneakers", "ankle_boots", "trousers"]}
    with pytest.raises(PlanError, match="'sparkly' is not a catalog colour"):
        run_checks(_search(exclude_colors=["sparkly"]), _view("no sparkly ones"))


def test_grounding_off_keeps_the_readers_wording_for_small_talk() -> None:
    view = _view("thanks!")
    plan = FallbackPlanner(Scripted(Plan(intent="small_talk")), RulesPlanner(), MODEL_CHECKS, reading=False).plan(view)
    assert plan.reply == RulesPlanner().plan(view).reply and plan.reply.startswith("You're welcome")


BOOTS = [ShownItem(id=f"ANK-030{n}", title="Black boots", category="ankle_boots", color="black", price=100.0 + n,
                   turn=1, position=n, source="search_catalog") for n in (1, 2)]
BOOTS_HISTORY = [{"role": "user", "content": "show me black ankle boots under 150"},
                 {"role": "assistant", "content": "Found 2 item(s)."}]


def test_a_follow_up_keeps_the_cap_of_the_search_just_shown() -> None:
    """"in grey maybe" after "black ankle boots under 150": a model search that drops the cap gets it back."""
    view = _view("in grey maybe", history=BOOTS_HISTORY, shown=BOOTS, last_shown=BOOTS)
    plan = FallbackPlanner(Scripted(_search(categories=["ankle_boots"], colors=["grey"])), RulesPlanner()).plan(view)
    assert plan.planner == "fake" and plan.completed_by == "rules"
    assert plan.calls[0].args == {"categories": ["ankle_boots"], "colors": ["grey"], "max_price": 150.0}
    # another category is a new search: no cap is carried into it
    view = _view("grey sneakers maybe", history=BOOTS_HISTORY, shown=BOOTS, last_shown=BOOTS)
    plan = FallbackPlanner(Scripted(_search(categories=["sneakers"], colors=["grey"])), RulesPlanner()).plan(view)
    assert plan.calls[0].args == {"categories": ["sneakers"], "colors": ["grey"]}


def test_a_typed_id_reaches_the_search_and_a_made_up_one_is_refused() -> None:
    view = _view("show me BAG-0251")
    plan = FallbackPlanner(Scripted(_search(query="bag")), RulesPlanner()).plan(view)
    assert plan.planner == "fake" and plan.calls[0].args["ids"] == ["BAG-0251"]
    pipeline = FallbackPlanner(Scripted(_search(ids=["BAG-0999"])), RulesPlanner())
    plan = pipeline.plan(view)
    assert plan.planner == "rules" and "BAG-0999" in (pipeline.last_error or "")


def test_a_look_up_by_id_is_not_planned_as_alternatives() -> None:
    """"show me BAG-0251" while boots are shown: that bag, not alternatives to a boot."""
    view = _view("show me BAG-0251", history=BOOTS_HISTORY, shown=BOOTS, last_shown=BOOTS)
    model = Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives", args={"item_id": "ANK-0301"})])
    pipeline = FallbackPlanner(Scripted(model), RulesPlanner())
    plan = pipeline.plan(view)
    assert "BAG-0251" in (pipeline.last_error or "")  # refused: the shopper names BAG-0251, not ANK-0301
    assert [(c.name, c.args.get("ids")) for c in plan.calls] == [("search_catalog", ["BAG-0251"])]


def test_an_item_the_shopper_types_is_the_one_planned_for() -> None:
    """"something cheaper than BAG-0251" while boots are shown: alternatives to that bag, not to a boot."""
    view = _view("something cheaper than BAG-0251", history=BOOTS_HISTORY, shown=BOOTS, last_shown=BOOTS)
    model = Plan(intent="find_alternatives",
                 calls=[ToolCall(name="find_alternatives", args={"item_id": "ANK-0301", "cheaper": True})])
    pipeline = FallbackPlanner(Scripted(model), RulesPlanner())
    plan = pipeline.plan(view)
    assert "names BAG-0251, not ANK-0301" in (pipeline.last_error or "")
    assert [(c.name, c.args.get("item_id")) for c in plan.calls] == [("find_alternatives", "BAG-0251")]
