"""Routers between nodes; every loop is bounded by the run's settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from langgraph.runtime import Runtime

from agent.context import Context
from agent.services import Services
from agent.state import AgentState


def make_routers(services: Services) -> dict[str, Callable[..., str]]:
    """Return the routers ``after_plan`` and ``after_act``, reading settings as the nodes do (``services``)."""

    def after_plan(state: AgentState, runtime: Runtime[Context]) -> Literal["act", "respond"]:
        """Run tools when the latest plan has calls and the per-turn budget allows."""
        settings = services.context(runtime)
        plan = state["plans"][-1]
        if plan.get("calls") and int(state.get("tool_calls", 0)) < settings.max_tool_calls:
            return "act"
        return "respond"

    def after_act(state: AgentState, runtime: Runtime[Context]) -> Literal["plan", "respond"]:
        """Consult the planner again only when it asked to and the step budget allows."""
        settings = services.context(runtime)
        plan = state["plans"][-1]
        if not plan.get("final", True) and int(state.get("steps", 0)) < settings.max_steps:
            return "plan"
        return "respond"

    return {"after_plan": after_plan, "after_act": after_act}
