"""Tools from outside the repository: LangChain tools, entry-point plug-ins, run through the real graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_dist import write_distribution
from langchain_core.tools import ToolException, tool
from langgraph.checkpoint.memory import InMemorySaver

import tools
from agent.catalog.store import Catalog
from agent.context import Context
from agent.planners.scripted import ScriptedPlanner
from agent.session import Session
from graph import build_graph


@tool
def check_size(item_id: str, size: str) -> str:
    """Tell whether an item is available in the shopper's size (e.g. 'M')."""
    if size.upper() not in {"XS", "S", "M", "L", "XL"}:
        raise ToolException(f"unknown size {size!r}; use XS, S, M, L or XL")
    return f"{item_id} is available in size {size.upper()}"


PLUGIN = textwrap.dedent('''
    from pydantic import BaseModel, Field
    from tools.base import Tool, ToolResult

    class GiftWrapArgs(BaseModel):
        item_id: str = Field(description="The item to wrap.")

    class GiftWrap(Tool):
        """Offer gift wrapping for an item."""

        name = "offer_gift_wrap"
        Args = GiftWrapArgs

        def run(self, args, ctx):
            return ToolResult(tool=self.name, message=f"{args.item_id} can be gift-wrapped for 3.00")

    def broken():
        raise RuntimeError("this plug-in needs a licence key")
''')


@pytest.fixture()
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution (module + dist-info with entry points), as pip lays one out, on sys.path."""
    site = tmp_path / "site"
    write_distribution(site, "fm3-gift-wrap", {"fashionm3.tools": {
        "gift_wrap": "fm3_gift_wrap:GiftWrap", "broken": "fm3_gift_wrap:broken", "clash": "fm3_gift_wrap:GiftWrap"}},
        modules={"fm3_gift_wrap": PLUGIN})
    monkeypatch.syspath_prepend(str(site))
    tools.discover.cache_clear()
    yield site
    sys.modules.pop("fm3_gift_wrap", None)
    tools.discover.cache_clear()


@pytest.fixture()
def registered() -> Iterator[None]:
    tools.register_tool(check_size)
    yield
    tools.unregister_tool("check_size")


def test_a_langchain_tool_is_adapted_and_runs_through_the_graph(registered: None, settings: Context,
                                                                catalog: Catalog) -> None:
    cls = tools.discover()["check_size"]
    assert tools.tool_sources()["check_size"] == "registered"
    assert cls.description().startswith("Tell whether an item is available")
    assert set(cls.args_schema()["properties"]) == {"item_id", "size"}
    planner = ScriptedPlanner([
        {"intent": "search", "calls": [{"name": "check_size", "args": {"item_id": "DRS-0001", "size": "m"}}]},
        {"intent": "search", "calls": [{"name": "check_size", "args": {"item_id": "DRS-0001", "size": "XXXL"}}]},
        {"intent": "search", "calls": [{"name": "check_size", "args": {"item_id": "DRS-0001"}}]},
    ])
    g = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver())
    s = Session(graph=g, settings=settings)
    ok = s.turn("is the first one there in M?")
    assert ok["tools"] == ["check_size"] and "DRS-0001 is available in size M" in ok["text"]
    refused = s.turn("and in XXXL?")
    assert refused["calls"][0]["ok"] is False and "unknown size 'XXXL'" in refused["text"]
    invalid = s.turn("and?")
    assert invalid["calls"][0]["ok"] is False and "size: Field required" in invalid["errors"][0]
    planner.assert_consumed()


def test_an_entry_point_plugin_is_discovered_and_callable(plugin_dir: Path, settings: Context,
                                                          catalog: Catalog) -> None:
    found = tools.discover()
    assert "offer_gift_wrap" in found and tools.tool_sources()["offer_gift_wrap"] == "entry point fm3-gift-wrap"
    problems = tools.tool_problems()
    assert any("broken" in p and "licence key" in p for p in problems)
    assert any("clash" in p and "already named 'offer_gift_wrap'" in p for p in problems)
    assert {"search_catalog", "recommend_outfit"} <= set(found)  # the builtins are untouched
    planner = ScriptedPlanner([{"intent": "search",
                                "calls": [{"name": "offer_gift_wrap", "args": {"item_id": "BAG-0003"}}]}])
    g = build_graph(planner=planner, tools={n: c() for n, c in found.items()}, catalog=catalog,
                    checkpointer=InMemorySaver())
    resp = Session(graph=g, settings=settings).turn("can you gift-wrap the bag?")
    assert "BAG-0003 can be gift-wrapped for 3.00" in resp["text"]
    env = {**os.environ, "PYTHONPATH": f"{plugin_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "agent.cli", "tools", "list", "--json"], capture_output=True,
                         text=True, env=env, timeout=120)
    listed = json.loads(out.stdout)
    row = next(t for t in listed["tools"] if t["name"] == "offer_gift_wrap")
    assert row == {"name": "offer_gift_wrap", "source": "entry point fm3-gift-wrap",
                   "description": "Offer gift wrapping for an item."}
    assert any("licence key" in p for p in listed["problems"])


def test_a_tool_registered_after_the_first_turn_is_used(settings: Context, catalog: Catalog) -> None:
    from agent.services import Services
    from graph import create_builder

    planner = ScriptedPlanner([
        {"intent": "search", "calls": [{"name": "search_catalog", "args": {"limit": 1}}]},
        {"intent": "search", "calls": [{"name": "check_size", "args": {"item_id": "X-1", "size": "S"}}]},
    ])
    g = create_builder(Services(planner=planner, catalog=catalog)).compile(checkpointer=InMemorySaver())
    s = Session(graph=g, settings=settings)
    assert s.turn("show me something")["tools"] == ["search_catalog"]
    tools.register_tool(check_size)
    try:
        assert "X-1 is available in size S" in s.turn("in S?")["text"]
    finally:
        tools.unregister_tool("check_size")


def test_register_tool_refuses_what_is_not_a_tool() -> None:
    with pytest.raises(TypeError, match="is not a tool"):
        tools.register_tool(42)
