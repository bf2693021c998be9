"""A tool declares everything about itself: a new tool file is usable by every planner with no other edit."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

import tools
from agent.plan import TOOL_INTENTS, Plan, PlannerInput, ShownItem, ToolCall, known_intents
from agent.planners.checks import PlanError, run_checks
from agent.planners.rules import RulesPlanner
from agent.session import Session
from graph import build_graph

TOOL_FILE = '''
"""Which sizes an item comes in (a tool added by a shop, not trained into any planner)."""

from pydantic import BaseModel, Field

from tools.base import Tool, ToolContext, ToolResult

CALLS = []


class CheckSizesArgs(BaseModel):
    item_id: str = Field(description="The item (an id shown earlier).")


class CheckSizes(Tool):
    """Tell which sizes an item comes in."""

    name = "check_sizes"
    intent = "size_check"
    capability = "check which sizes an item comes in"
    examples = (
        "which sizes does it come in?",
        "what sizes do you have for the second one?",
        "is this available in a size M?",
        "do you have the coat in large?",
    )
    Args = CheckSizesArgs

    def run(self, args: CheckSizesArgs, ctx: ToolContext) -> ToolResult:
        CALLS.append(args.item_id)
        item = ctx.require_catalog().get(args.item_id)
        return ToolResult(tool=self.name, message=f"The {item.title} comes in sizes S, M and L.",
                          focus_item_id=item.id)
'''


@pytest.fixture()
def new_tool(tmp_path: Path) -> Iterator[Any]:
    """Write the tool in a temporary file, import it and register it; unregister afterwards."""
    path = tmp_path / "check_sizes.py"
    path.write_text(textwrap.dedent(TOOL_FILE))
    spec = importlib.util.spec_from_file_location("fm3_test_check_sizes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    tools.register_tool(module.CheckSizes)
    yield module
    tools.unregister_tool("check_sizes")
    sys.modules.pop(spec.name, None)


def _view(text: str, shown: list[ShownItem] | None = None) -> PlannerInput:
    schemas = {name: cls.args_schema() for name, cls in tools.discover().items()}
    return PlannerInput(text=text, turn=2, shown=shown or [], last_shown=shown or [], tools=schemas)


SHOWN = [ShownItem(id="COA-0001", title="Navy coat", category="coat", color="navy", price=99.0, turn=1, position=1),
         ShownItem(id="COA-0002", title="Grey coat", category="coat", color="grey", price=89.0, turn=1, position=2)]


def test_declared_intent_kinds_and_examples_reach_the_planner_stack(new_tool: Any) -> None:
    assert TOOL_INTENTS["check_sizes"] == "size_check" and "size_check" in known_intents()
    Plan(intent="size_check")  # a declared intent is a valid plan intent
    with pytest.raises(ValueError, match="unknown intent"):
        Plan(intent="teleport")
    # the checks know item_id is an item reference from the conventional name: "#2" resolves, a made-up id fails
    view = _view("which sizes does the second one come in?", SHOWN)
    plan = run_checks(Plan(intent="size_check", calls=[ToolCall(name="check_sizes", args={"item_id": "#2"})]), view)
    assert plan.calls[0].args == {"item_id": "COA-0002"}
    with pytest.raises(PlanError, match="never shown"):
        run_checks(Plan(intent="size_check", calls=[ToolCall(name="check_sizes", args={"item_id": "BAG-0009"})]),
                   view)


def test_rules_planner_routes_a_close_request_and_keeps_built_in_ones(new_tool: Any) -> None:
    rules = RulesPlanner()
    plan = rules.plan(_view("what sizes does the second one come in?", SHOWN))
    assert plan.intent == "size_check" and [(c.name, c.args) for c in plan.calls] == [
        ("check_sizes", {"item_id": "COA-0002"})]
    assert [c.name for c in rules.plan(_view("show me red dresses under 50", SHOWN)).calls] == ["search_catalog"]
    assert [c.name for c in rules.plan(_view("something cheaper than the second one", SHOWN)).calls] == [
        "find_alternatives"]
    # the capabilities sentence lists the new tool
    assert "check which sizes an item comes in" in (rules.plan(_view("what can you do?")).reply or "")


@pytest.mark.slow
def test_new_tool_file_is_reached_through_the_graph_with_the_default_planner(new_tool: Any, settings: Any,
                                                                             catalog: Any) -> None:
    from agent.context import Context
    from agent.planners import get_planner
    from agent.planners.smol import SmolPlanner

    planner = get_planner(Context().planner, settings=settings)
    assert isinstance(planner, SmolPlanner)
    graph = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver())
    session = Session(graph=graph, settings=settings.with_(planner="smol"))
    first = session.turn("show me some coats please")
    assert first["tools"] == ["search_catalog"] and len(first["items"]) >= 2, first
    second = session.turn("which sizes does the second one come in?")
    assert second["tools"] == ["check_sizes"], second
    wanted = first["items"][1]
    assert new_tool.CALLS == [wanted["id"]]
    assert f"{wanted['title']} comes in sizes S, M and L" in second["text"]
    # its declared effect: the item is in focus, so "it" is that coat next turn
    third = session.turn("show me it in black")
    assert third["tools"] == ["find_alternatives"], third
