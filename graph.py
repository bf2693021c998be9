"""Wiring only: the StateGraph ``builder``, the exported ``graph`` (no checkpointer), and a factory.

``ingest -> recall -> plan -> act (-> plan, bounded) -> respond -> remember``. LangGraph Server
supplies its own checkpointer and store to ``graph``; scripts and tests call :func:`build_graph`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.graph import END, START, StateGraph

from agent.context import Context
from agent.nodes import make_nodes
from agent.routing import after_act, after_plan
from agent.services import Services
from agent.state import AgentState, InputState, OutputState

if TYPE_CHECKING:
    from agent.catalog.store import Catalog
    from agent.planners.base import Planner
    from tools.base import Tool


def create_builder(services: Services | None = None) -> StateGraph[AgentState, Context, InputState, OutputState]:
    """Return an uncompiled graph whose nodes use ``services``."""
    nodes = make_nodes(services or Services())
    b = StateGraph(AgentState, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    for name, fn in nodes.items():
        b.add_node(name, fn)
    b.add_edge(START, "ingest")
    b.add_edge("ingest", "recall")
    b.add_edge("recall", "plan")
    b.add_conditional_edges("plan", after_plan, ["act", "respond"])
    b.add_conditional_edges("act", after_act, ["plan", "respond"])
    b.add_edge("respond", "remember")
    b.add_edge("remember", END)
    return b


def build_graph(
    planner: Planner | None = None,
    tools: dict[str, Tool] | None = None,
    catalog: Catalog | None = None,
    checkpointer: Any = None,
    store: Any = None,
) -> Any:
    """Compile the graph with the given planner, tools, catalog, checkpointer and memory store."""
    services = Services(planner=planner, tools=tools, catalog=catalog)
    return create_builder(services).compile(checkpointer=checkpointer, store=store)


builder = create_builder()
graph = builder.compile()
