"""Preference memory through the real graph: extraction, superseding, recall, forgetting, isolation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.catalog.store import Catalog
from agent.context import Context
from agent.memory import ChromaStore
from agent.memory.extract import extract_facts, merge_facts
from agent.nodes import memory_namespace
from agent.planners import get_planner
from agent.session import Session
from graph import build_graph


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I love navy", {("color", "navy", "like")}),
        ("I've gone off black", {("color", "black", "dislike")}),
        ("I never wear leather and I hate sneakers", {("material", "leather", "dislike"),
                                                       ("category", "sneakers", "dislike")}),
        ("show me red dresses under 50", set()),
    ],
)
def test_extract_facts(text: str, expected: set[tuple[str, str, str]]) -> None:
    got = {(f.kind, f.value, f.polarity) for f in extract_facts(text, turn=3)}
    assert expected <= got and (expected or not got)
    assert all(f.source_turn == 3 and f.text for f in extract_facts(text, turn=3))


def test_merge_keeps_one_fact_per_key() -> None:
    a = extract_facts("I love black", 1)
    b = extract_facts("I've gone off black", 2)
    merged = merge_facts(a, b)
    assert [(f.value, f.polarity) for f in merged] == [("black", "dislike")]


@pytest.fixture()
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = ChromaStore(path=str(tmp_path / "memory"))
    yield s
    s.close()


def _session(store: ChromaStore, settings: Context, catalog: Catalog, user: str) -> Session:
    g = build_graph(planner=get_planner("rules"), catalog=catalog, checkpointer=InMemorySaver(), store=store)
    return Session(graph=g, settings=settings.with_(user_id=user))


def _facts(store: ChromaStore, user: str) -> list[tuple[str, str, str]]:
    return sorted((h.value["kind"], h.value["value"], h.value["polarity"])
                  for h in store.search(memory_namespace(user), limit=100))


def test_newer_fact_supersedes_and_duplicates_merge(store: ChromaStore, settings: Context, catalog: Catalog) -> None:
    s = _session(store, settings, catalog, "ann")
    s.turn("I love black")
    s.turn("I really love black!")
    assert _facts(store, "ann") == [("color", "black", "like")]
    s.turn("I've gone off black")
    assert _facts(store, "ann") == [("color", "black", "dislike")]
    resp = s.turn("recommend an outfit for a dinner")
    assert resp["items"] and all(i["color"] != "black" for i in resp["items"])


def test_preferences_cross_threads_not_users(store: ChromaStore, settings: Context, catalog: Catalog) -> None:
    _session(store, settings, catalog, "bea").turn("I don't wear leather, ever.")
    later = _session(store, settings, catalog, "bea").turn("what do you know about me?")
    assert "leather" in later["text"]
    other = _session(store, settings, catalog, "bea2").turn("what do you know about me?")
    assert other["text"].startswith("I don't have any preferences stored for you")
    assert _facts(store, "bea2") == []


def test_forget_one_fact_then_everything(store: ChromaStore, settings: Context, catalog: Catalog) -> None:
    s = _session(store, settings, catalog, "cy")
    s.turn("I like red and I love linen")
    assert ("color", "red", "like") in _facts(store, "cy")
    s.turn("forget that I like red")
    assert ("color", "red", "like") not in _facts(store, "cy") and ("material", "linen", "like") in _facts(store, "cy")
    resp = s.turn("what do you know about me?")
    assert "red" not in resp["text"] and "linen" in resp["text"]
    s.turn("forget everything about me")
    assert _facts(store, "cy") == []


def test_memory_survives_a_restart(tmp_path: Path, settings: Context, catalog: Catalog) -> None:
    path = str(tmp_path / "mem")
    first = ChromaStore(path=path)
    _session(first, settings, catalog, "dee").turn("my favourite colour is green")
    first.close()
    second = ChromaStore(path=path)
    try:
        assert _facts(second, "dee") == [("color", "green", "like")]
    finally:
        second.close()


@pytest.mark.parametrize("user", ["", "   ", "../../etc/passwd", "a/b", "x" * 500, "bad\x00id"])
def test_adversarial_user_ids_rejected_clearly(user: str, store: ChromaStore, settings: Context,
                                               catalog: Catalog) -> None:
    s = _session(store, settings, catalog, "placeholder")
    s.settings = settings.with_(user_id=user)
    with pytest.raises(ValueError, match="user id"):
        s.turn("I love navy")


def _cli(args: list[str], data_dir: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FASHIONM3_DATA_DIR": data_dir, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.slow
def test_memory_cli_show_and_forget_across_processes(catalog_settings: Context) -> None:
    data = catalog_settings.data_dir
    out = _cli(["ask", "I love navy and I never wear leather", "--user", "cli-u1", "--json"], data)
    assert out.returncode == 0, out.stderr
    shown = json.loads(_cli(["memory", "show", "--user", "cli-u1", "--json"], data).stdout)
    facts = {(f["kind"], f["value"], f["polarity"]): f["id"] for f in shown}
    assert set(facts) == {("color", "navy", "like"), ("material", "leather", "dislike")}
    out = _cli(["memory", "forget", "--user", "cli-u1", "--fact", facts[("color", "navy", "like")]], data)
    assert out.returncode == 0 and "Forgot 1 fact" in out.stdout
    shown = json.loads(_cli(["memory", "show", "--user", "cli-u1", "--json"], data).stdout)
    assert [(f["kind"], f["value"]) for f in shown] == [("material", "leather")]
    out = _cli(["memory", "forget", "--user", "cli-u1", "--fact", "nope"], data)
    assert out.returncode == 2 and "no fact with id nope" in out.stderr
    out = _cli(["memory", "show", "--user", "../etc"], data)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "user id" in out.stderr
