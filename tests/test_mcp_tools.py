"""MCP servers as tools (FASHIONM3_MCP_SERVERS): listed, callable through the real graph, and a server that
is down (at discovery, or after it) never breaks a turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from service import free_port

import tools
from agent.catalog.store import Catalog
from agent.context import Context
from agent.planners.scripted import ScriptedPlanner
from agent.session import Session
from graph import build_graph

pytestmark = pytest.mark.integration
SERVER = Path(__file__).resolve().parent / "fixtures" / "mcp_gift_server.py"


def use_servers(monkeypatch: pytest.MonkeyPatch, path: Path, servers: dict) -> Path:
    path.write_text(json.dumps({"servers": servers}))
    monkeypatch.setenv("FASHIONM3_MCP_SERVERS", str(path))
    tools.discover.cache_clear()
    return path


@pytest.fixture()
def servers_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = use_servers(monkeypatch, tmp_path / "mcp.json", {
        "gift": {"command": sys.executable, "args": [str(SERVER)]},
        "down": {"url": f"http://127.0.0.1:{free_port()}/mcp"},
    })
    yield path
    monkeypatch.delenv("FASHIONM3_MCP_SERVERS")
    tools.discover.cache_clear()


def test_a_stdio_mcp_servers_tools_are_listed_and_run_through_the_graph(servers_file: Path, settings: Context,
                                                                       catalog: Catalog) -> None:
    found = tools.discover()
    assert "gift_message" in found and tools.tool_sources()["gift_message"] == "mcp server gift"
    cls = found["gift_message"]
    assert cls.description() == "Add a printed gift message to an item's parcel."
    assert cls.args_schema()["required"] == ["item_id"]
    assert any("'down'" in p and "unreachable" in p and "its tools are unavailable" in p
               for p in tools.tool_problems())
    planner = ScriptedPlanner([
        {"intent": "search", "calls": [{"name": "gift_message", "args": {"item_id": "BAG-0003", "note": "Happy day"}}]},
        {"intent": "search", "calls": [{"name": "gift_message", "args": {"item_id": "BAG-0003", "note": "x" * 50}}]},
        {"intent": "search", "calls": [{"name": "gift_message", "args": {"note": "hi"}}]},
    ])
    g = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver())
    s = Session(graph=g, settings=settings)
    ok = s.turn("add a gift card saying Happy day to the bag")
    assert ok["calls"][0]["ok"] and "A gift card reading 'Happy day' will be packed with BAG-0003." in ok["text"]
    refused = s.turn("make it longer")
    assert refused["calls"][0]["ok"] is False and "gift cards take at most 40" in refused["text"]
    invalid = s.turn("and?")
    assert invalid["calls"][0]["ok"] is False and "item_id: Field required" in invalid["errors"][0]
    planner.assert_consumed()
    out = subprocess.run([sys.executable, "-m", "agent.cli", "tools", "list", "--json"], capture_output=True,
                         text=True, env={**os.environ, "FASHIONM3_MCP_SERVERS": str(servers_file)}, timeout=120)
    listed = json.loads(out.stdout)
    assert {"name": "gift_message", "source": "mcp server gift",
            "description": "Add a printed gift message to an item's parcel."} in listed["tools"]
    assert any("'down'" in p for p in listed["problems"])


def test_a_server_that_goes_down_makes_its_tool_unavailable_without_breaking_the_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Context, catalog: Catalog) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SERVER), "--http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        use_servers(monkeypatch, tmp_path / "mcp.yaml", {"gifts": {"url": f"http://127.0.0.1:{port}/mcp"}})
        assert tools.tool_sources().get("gift_message") == "mcp server gifts"
        planner = ScriptedPlanner([
            {"intent": "search", "calls": [{"name": "gift_message", "args": {"item_id": "TOP-0001"}}]},
            {"intent": "search", "calls": [{"name": "gift_message", "args": {"item_id": "TOP-0001"}},
                                           {"name": "search_catalog", "args": {"categories": ["bag"], "limit": 2}}]},
        ])
        g = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver())
        s = Session(graph=g, settings=settings)
        assert "will be packed with TOP-0001" in s.turn("gift-wrap the top")["text"]
        proc.terminate()
        proc.wait(timeout=20)
        down = s.turn("gift-wrap it again, and show me bags")
        assert down["calls"][0]["ok"] is False
        assert "gift_message is unavailable right now: its MCP server 'gifts'" in down["text"]
        assert [i["category"] for i in down["items"]] == ["bag", "bag"]  # the rest of the turn went on
        planner.assert_consumed()
    finally:
        if proc.poll() is None:
            proc.kill()
        tools.discover.cache_clear()


def test_a_bad_servers_file_is_reported_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "mcp.yaml"
    bad.write_text("servers:\n  both: {command: x, url: 'http://127.0.0.1:1/mcp'}\n")
    monkeypatch.setenv("FASHIONM3_MCP_SERVERS", str(bad))
    tools.discover.cache_clear()
    try:
        assert "search_catalog" in tools.discover()
        assert any("server 'both'" in p and "either 'command'" in p for p in tools.tool_problems())
    finally:
        monkeypatch.delenv("FASHIONM3_MCP_SERVERS")
        tools.discover.cache_clear()
