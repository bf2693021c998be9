"""The scripted planner used by graph tests and evals: strict about how often it is consulted."""

from __future__ import annotations

import pytest

from agent.plan import Plan, PlannerInput, ToolCall
from agent.planners.base import Planner
from agent.planners.scripted import ScriptedPlanner


def _view(text: str, step: int = 0) -> PlannerInput:
    return PlannerInput(text=text, turn=1, step=step)


def test_returns_steps_in_order_and_records_views() -> None:
    planner = ScriptedPlanner([
        Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"query": "red dress"})],
             final=False),
        {"intent": "small_talk", "reply": "done"},
    ])
    assert isinstance(planner, Planner) and planner.name == "scripted"
    first = planner.plan(_view("red dress"))
    second = planner.plan(_view("red dress", step=1))
    assert first.intent == "search" and first.calls[0].args == {"query": "red dress"} and first.final is False
    assert second.reply == "done"
    assert [v.step for v in planner.calls] == [0, 1]
    assert planner.remaining == 0
    planner.assert_consumed()


def test_calling_more_than_scripted_raises() -> None:
    planner = ScriptedPlanner([{"intent": "small_talk", "reply": "hi"}])
    planner.plan(_view("hi"))
    with pytest.raises(AssertionError, match="ScriptedPlanner called 2 times but only 1 steps scripted"):
        planner.plan(_view("again"))
    assert len(planner.calls) == 2


def test_unconsumed_steps_fail_assert_consumed() -> None:
    planner = ScriptedPlanner([{"intent": "small_talk"}, {"intent": "search"}, {"intent": "history"}])
    planner.plan(_view("hi"))
    with pytest.raises(AssertionError, match=r"1 of 3.*#2 \(search\), #3 \(history\)"):
        planner.assert_consumed()


def test_empty_script_fails_on_first_call() -> None:
    planner = ScriptedPlanner([], name="nothing")
    planner.assert_consumed()
    with pytest.raises(AssertionError, match="called 1 times but only 0"):
        planner.plan(_view("hi"))


def test_returned_plans_are_copies() -> None:
    planner = ScriptedPlanner([{"intent": "search", "calls": [{"name": "search_catalog",
        "args": {"limit": 3}}]}] * 2)
    first = planner.plan(_view("a"))
    first.calls[0].args["limit"] = 99
    assert planner.plan(_view("b")).calls[0].args == {"limit": 3}


def test_invalid_steps_are_rejected_up_front() -> None:
    with pytest.raises(ValueError):
        ScriptedPlanner([{"intent": "dance"}])


def test_reset_replays_the_script() -> None:
    planner = ScriptedPlanner([{"intent": "small_talk", "reply": "hi"}])
    planner.plan(_view("hi"))
    planner.reset()
    assert planner.remaining == 1
    assert planner.plan(_view("hi")).reply == "hi"
