from __future__ import annotations

import sqlite3
from pathlib import Path

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.memory import InMemoryStore

from agent.catalog.store import Catalog
from agent.context import Context
from agent.planners.scripted import ScriptedPlanner
from agent.session import Session
from graph import build_graph, builder, graph


def _session(planner: ScriptedPlanner, settings: Context, catalog: Catalog, **kw) -> Session:  # type: ignore[no-untyped-def]
    g = build_graph(planner=planner, catalog=catalog, checkpointer=kw.pop("checkpointer", InMemorySaver()),
                    store=kw.pop("store", None))
    return Session(graph=g, settings=settings, **kw)


def test_exported_graph_has_the_designed_nodes_and_no_checkpointer() -> None:
    assert set(builder.nodes) == {"ingest", "recall", "plan", "act", "respond", "remember"}
    assert graph.checkpointer is None
    edges = {(e.source, e.target) for e in graph.get_graph().edges}
    assert {("__start__", "ingest"), ("ingest", "recall"), ("recall", "plan"), ("plan", "act"), ("act", "plan"),
            ("act", "respond"), ("respond", "remember")} <= edges


def test_two_step_plan_consults_planner_with_results(settings: Context, catalog: Catalog) -> None:
    planner = ScriptedPlanner([
        {"intent": "search", "calls": [{"name": "search_catalog", "args": {"categories": ["dress"], "limit": 3}}],
         "final": False},
        {"intent": "search", "calls": [], "reply": "Here you go.", "final": True},
    ])
    resp = _session(planner, settings, catalog).turn("show me dresses")
    planner.assert_consumed()
    second = planner.calls[1]
    assert second.step == 1 and second.results[0].name == "search_catalog" and len(second.results[0].item_ids) == 3
    assert [i["category"] for i in resp["items"]] == ["dress"] * 3
    assert "Here you go." in resp["text"]
    assert all(Path(i["image"]).is_file() for i in resp["items"])


def test_plan_act_loop_is_bounded(settings: Context, catalog: Catalog) -> None:
    looping = {"intent": "search", "calls": [{"name": "search_catalog", "args": {"limit": 1}}], "final": False}
    planner = ScriptedPlanner([looping] * 2)
    s = _session(planner, settings.with_(max_steps=2, max_tool_calls=10), catalog)
    resp = s.turn("loop forever")
    planner.assert_consumed()  # exactly max_steps consultations, no more (more would raise)
    assert resp["tools"] == ["search_catalog", "search_catalog"]


def test_unregistered_tool_is_never_run(settings: Context, catalog: Catalog) -> None:
    planner = ScriptedPlanner([{"intent": "generate_image",
                                "calls": [{"name": "paint_picture", "args": {"prompt": "red dress"}}]}])
    resp = _session(planner, settings, catalog).turn("paint me a red dress")
    assert resp["tools"] == [] and "paint_picture isn't available" in resp["text"]


def test_tool_error_reaches_the_reply_without_crashing(settings: Context, catalog: Catalog) -> None:
    planner = ScriptedPlanner([{"intent": "find_alternatives",
                                "calls": [{"name": "find_alternatives", "args": {"item_id": "NOPE-0000"}}]}])
    resp = _session(planner, settings, catalog).turn("cheaper than NOPE-0000")
    assert resp["errors"] and "No item with id 'NOPE-0000'" in resp["text"]


def test_bad_attachments_reported_and_text_still_answered(settings: Context, catalog: Catalog,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    planner = ScriptedPlanner([{"intent": "search", "calls": [{"name": "search_catalog",
                                                                "args": {"categories": ["bag"]}}]}])
    resp = _session(planner, settings, catalog).turn("show me bags", attachments=[str(bad), str(tmp_path / "gone.jpg")])
    assert len(resp["errors"]) == 2
    assert "not a readable image" in resp["text"] and "does not exist" in resp["text"]
    assert resp["items"] and all(i["category"] == "bag" for i in resp["items"])
    assert planner.calls[0].new_images == []


def test_thread_survives_a_restart_with_sqlite(settings: Context, catalog: Catalog, tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    plan = {"intent": "search", "calls": [{"name": "search_catalog", "args": {"categories": ["coat"], "limit": 2}}]}
    p1 = ScriptedPlanner([plan])
    s1 = _session(p1, settings, catalog, checkpointer=SqliteSaver(sqlite3.connect(db, check_same_thread=False)),
                  thread_id="T1")
    first = s1.turn("coats please")
    # A new process: new connection, new graph, same thread id.
    p2 = ScriptedPlanner([{"intent": "small_talk", "reply": "ok"}])
    s2 = _session(p2, settings, catalog, checkpointer=SqliteSaver(sqlite3.connect(db, check_same_thread=False)),
                  thread_id="T1")
    s2.turn("thanks")
    view = p2.calls[0]
    assert view.turn == 2
    assert [s.id for s in view.last_shown] == [i["id"] for i in first["items"]]
    assert view.history[0] == {"role": "user", "content": "coats please"}
    state = s2.state()
    assert len([m for m in state["messages"] if isinstance(m, HumanMessage)]) == 2


def test_outfits_and_focus_tracked_across_turns(settings: Context, catalog: Catalog) -> None:
    planner = ScriptedPlanner([
        {"intent": "recommend_outfit", "calls": [{"name": "recommend_outfit", "args": {"occasion": "dinner"}}]},
        {"intent": "find_alternatives", "calls": [{"name": "find_alternatives", "args": {"item_id": "PLACEHOLDER"}}]},
    ])
    s = _session(planner, settings, catalog)
    first = s.turn("outfit for a dinner")
    planner.steps[1].calls[0].args["item_id"] = first["items"][0]["id"]
    s.turn("something cheaper for the first piece")
    view = planner.calls[1]
    assert view.outfits == [[i["id"] for i in first["items"]]]
    state = s.state()
    assert state["focus_item_id"] == first["items"][0]["id"]


def test_facts_remembered_recalled_and_forgotten_per_user(settings: Context, catalog: Catalog) -> None:
    store = InMemoryStore()
    fact = {"kind": "color", "value": "navy", "polarity": "like", "text": "I love navy"}
    planner = ScriptedPlanner([
        {"intent": "small_talk", "reply": "Noted!", "facts": [fact]},
        {"intent": "small_talk", "reply": "hi"},
        {"intent": "small_talk", "reply": "hi"},
        {"intent": "forget", "reply": "Forgotten.", "forget": ["*"]},
        {"intent": "small_talk", "reply": "hi"},
    ])
    g = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver(), store=store)
    alice = Session(graph=g, settings=settings.with_(user_id="alice"))
    alice.turn("I love navy")
    Session(graph=g, settings=settings.with_(user_id="alice")).turn("hello again")  # a new thread
    assert [(p.kind, p.value, p.polarity) for p in planner.calls[1].preferences] == [("color", "navy", "like")]
    Session(graph=g, settings=settings.with_(user_id="bob")).turn("hello")
    assert planner.calls[2].preferences == []
    alice.turn("forget everything about me")
    alice.turn("hello")
    assert planner.calls[4].preferences == []
