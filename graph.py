"""Wiring only: the StateGraph ``builder``, the exported ``graph`` (no checkpointer), and a factory.

``ingest -> recall -> plan -> act (-> plan, bounded) -> respond -> remember``. LangGraph Server
supplies its own checkpointer and store to ``graph``; scripts and tests call :func:`build_graph`.

Every run reads its settings from ``context``. The exported ``graph`` is LangGraph Server's entry
point (``langgraph.json``): its default settings are read from the ``FASHIONM3_*`` variables once, at
the first run (start-up configuration), and a run's ``context`` (``{"user_id": "ana"}``) overrides
them field by field. Graphs from :func:`build_graph` refuse a run without settings unless given
``settings``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.graph import END, START, StateGraph

from agent.context import Context
from agent.nodes import make_nodes
from agent.routing import make_routers
from agent.services import Services
from agent.state import AgentState, InputState, OutputState

if TYPE_CHECKING:
    from agent.catalog.store import Catalog
    from agent.planners.base import Planner
    from tools.base import Tool


def create_builder(services: Services | None = None) -> StateGraph[AgentState, Context, InputState, OutputState]:
    """Return an uncompiled graph whose nodes use ``services``."""
    services = services or Services()
    nodes = make_nodes(services)
    routers = make_routers(services)
    b = StateGraph(AgentState, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    for name, fn in nodes.items():
        b.add_node(name, fn)
    b.add_edge(START, "ingest")
    b.add_edge("ingest", "recall")
    b.add_edge("recall", "plan")
    b.add_conditional_edges("plan", routers["after_plan"], ["act", "respond"])
    b.add_conditional_edges("act", routers["after_act"], ["plan", "respond"])
    b.add_edge("respond", "remember")
    b.add_edge("remember", END)
    return b


def build_graph(
    planner: Planner | None = None,
    tools: dict[str, Tool] | None = None,
    catalog: Catalog | None = None,
    checkpointer: Any = None,
    store: Any = None,
    settings: Context | None = None,
) -> Any:
    """Compile the graph with the given planner, tools, catalog, checkpointer and memory store.

    ``settings`` serve runs invoked without ``context`` (default: such runs fail with a clear error).
    """
    services = Services(planner=planner, tools=tools, catalog=catalog, default_context=settings)
    return create_builder(services).compile(checkpointer=checkpointer, store=store)


builder = create_builder(Services(default_context=Context.from_env, overlay_context=True))
graph = builder.compile()
