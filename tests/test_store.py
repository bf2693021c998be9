"""One behaviour suite for every LangGraph store we use for preference memory.

Each test runs against LangGraph's ``InMemoryStore`` (the reference semantics, with our MiniLM
embedder as its index), ``ChromaStore`` embedded in a temporary folder, and ``ChromaStore`` against
a live ``chroma run`` server on loopback (``integration`` marker).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore, GetOp, InvalidNamespaceError, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from agent.embeddings import EMBEDDING_DIM, TextEmbedder, get_text_embedder
from agent.memory import MEMORY_ROOT, ChromaStore, InvalidUserIdError, user_label, user_namespace

try:
    from chroma_server import chroma_server  # noqa: F401 - fixture
except ImportError:  # tests/ imported as a package
    from tests.chroma_server import chroma_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]

STORES = [
    "memory",
    "chroma-embedded",
    pytest.param("chroma-server", marks=pytest.mark.integration),
]

FACTS = {
    "navy": "likes navy blue",
    "leather": "dislikes leather shoes",
    "budget": "budget under 80 euros",
    "size": "wears size M trousers",
    "style": "prefers a minimalist style",
}


@pytest.fixture(scope="session")
def embedder() -> TextEmbedder:
    emb = get_text_embedder()
    emb.setup()
    return emb


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path, embedder: TextEmbedder) -> Iterator[BaseStore]:
    kind = request.param
    if kind == "memory":
        yield InMemoryStore(
            index={"dims": EMBEDDING_DIM, "embed": lambda texts: embedder.encode(list(texts)).tolist()}
        )
    elif kind == "chroma-embedded":
        with ChromaStore(path=str(tmp_path / "chroma"), embedder=embedder) as chroma:
            yield chroma
    else:
        url = request.getfixturevalue("chroma_server")
        name = f"test-{uuid.uuid4().hex[:12]}"
        with ChromaStore(url=url, collection=name, embedder=embedder) as chroma:
            yield chroma
        from agent.chroma import get_client

        get_client(url=url).delete_collection(name)


def put_facts(store: BaseStore, namespace: tuple[str, ...], facts: dict[str, str]) -> None:
    store.batch([PutOp(namespace, key, {"text": text}) for key, text in facts.items()])


def keys(items: list[Any]) -> list[str]:
    return [item.key for item in items]


def test_put_get_roundtrip(store: BaseStore) -> None:
    ns = user_namespace("ann")
    value = {"text": "likes navy blue", "weight": 0.8, "tags": ["colour", "navy"], "meta": {"turn": 3}}
    store.put(ns, "navy", value)

    item = store.get(ns, "navy")
    assert item is not None
    assert item.value == value
    assert item.key == "navy"
    assert item.namespace == ns
    assert abs((item.updated_at - item.created_at).total_seconds()) < 1
    assert item.created_at.tzinfo is not None
    assert store.get(ns, "missing") is None
    assert store.get(user_namespace("bob"), "navy") is None


def test_update_keeps_created_at(store: BaseStore, request: pytest.FixtureRequest) -> None:
    ns = user_namespace("ann")
    store.put(ns, "colour", {"text": "likes navy blue"})
    first = store.get(ns, "colour")
    time.sleep(0.01)
    store.put(ns, "colour", {"text": "likes forest green"})
    second = store.get(ns, "colour")

    assert first is not None and second is not None
    assert second.value == {"text": "likes forest green"}
    assert second.updated_at > first.updated_at
    assert len(store.search(ns)) == 1
    hits = store.search(ns, query="green clothes")
    assert keys(hits) == ["colour"]
    if isinstance(store, InMemoryStore):
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="InMemoryStore resets created_at on update")
        )
    assert second.created_at == first.created_at


def test_delete(store: BaseStore) -> None:
    ns = user_namespace("ann")
    put_facts(store, ns, FACTS)
    store.delete(ns, "navy")
    store.delete(ns, "never-existed")

    assert store.get(ns, "navy") is None
    assert "navy" not in keys(store.search(ns))
    assert "navy" not in keys(store.search(ns, query="favourite colour navy"))
    assert sorted(keys(store.search(ns))) == sorted(set(FACTS) - {"navy"})


def test_search_by_filter(store: BaseStore) -> None:
    ns = user_namespace("ann")
    rows = {
        "a": {"kind": "like", "attribute": "colour", "value": "navy", "weight": 0.9},
        "b": {"kind": "dislike", "attribute": "material", "value": "leather", "weight": 0.7},
        "c": {"kind": "like", "attribute": "style", "value": "minimal", "weight": 0.4},
        "d": {"kind": "budget", "attribute": "price", "max": 80, "weight": 1.0},
        "e": {
            "kind": "like",
            "attribute": "colour",
            "value": "red",
            "weight": 0.2,
            "meta": {"source": "photo"},
        },
    }
    store.batch([PutOp(ns, k, v) for k, v in rows.items()])

    def found(flt: dict[str, Any]) -> set[str]:
        return set(keys(store.search(ns, filter=flt)))

    assert found({"kind": "like"}) == {"a", "c", "e"}
    assert found({"kind": "like", "attribute": "colour"}) == {"a", "e"}
    assert found({"kind": {"$eq": "dislike"}}) == {"b"}
    assert found({"kind": {"$ne": "like"}}) == {"b", "d"}
    assert found({"weight": {"$gt": 0.7}}) == {"a", "d"}
    assert found({"weight": {"$gte": 0.7}}) == {"a", "b", "d"}
    assert found({"weight": {"$lt": 0.7}}) == {"c", "e"}
    assert found({"weight": {"$lte": 0.7}}) == {"b", "c", "e"}
    assert found({"weight": {"$gt": 0.5, "$lt": 0.95}}) == {"a", "b"}
    assert found({"kind": "budget", "max": {"$lte": 100}}) == {"d"}
    assert found({"meta": {"source": "photo"}}) == {"e"}
    assert found({"kind": "nothing"}) == set()


def test_semantic_search_ranks_best_match_first(store: BaseStore) -> None:
    ns = user_namespace("ann")
    put_facts(store, ns, FACTS)

    hits = store.search(ns, query="favourite colour navy")
    assert keys(hits)[0] == "navy"
    assert sorted(keys(hits)) == sorted(FACTS)
    scores = [hit.score for hit in hits]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert scores[0] > 0.4 > scores[-1]

    assert keys(store.search(ns, query="how much money can I spend", limit=1)) == ["budget"]
    assert keys(store.search(ns, query="what size", limit=1)) == ["size"]
    assert keys(store.search(ns, query="favourite colour navy", filter={"text": {"$ne": "likes navy blue"}}))[
        :1
    ] != ["navy"]


def test_unindexed_items_are_found_by_filter_but_never_ranked_first(store: BaseStore) -> None:
    ns = user_namespace("ann")
    store.put(ns, "hidden", {"text": "likes navy blue", "kind": "like"}, index=False)
    store.put(ns, "red", {"text": "likes bright red", "kind": "like"})
    store.put(ns, "shoes", {"text": "dislikes leather shoes", "kind": "dislike"})

    hidden = store.get(ns, "hidden")
    assert hidden is not None and hidden.value["text"] == "likes navy blue"
    assert set(keys(store.search(ns, filter={"kind": "like"}))) == {"hidden", "red"}

    hits = store.search(ns, query="likes navy blue")
    assert keys(hits) == ["red", "shoes", "hidden"] or keys(hits) == ["shoes", "red", "hidden"]
    assert hits[-1].score is None
    assert all(isinstance(hit.score, float) for hit in hits[:-1])
    assert keys(store.search(ns, query="likes navy blue", limit=2)) == keys(hits)[:2]


def test_index_fields_choose_what_is_embedded(store: BaseStore) -> None:
    ns = user_namespace("ann")
    store.put(ns, "note-navy", {"text": "wears size M", "note": "likes navy blue"}, index=["note"])
    store.put(ns, "text-navy", {"text": "likes navy blue", "note": "wears size M"}, index=["note"])
    store.put(ns, "tags", {"tags": ["bright red", "navy blue coats", "linen"]}, index=["tags[*]"])

    hits = store.search(ns, query="likes navy blue")
    assert keys(hits)[0] == "note-navy"
    assert keys(hits).index("tags") < keys(hits).index("text-navy")
    assert len(hits) == 3  # one hit per item, even with three vectors for "tags"


def test_namespace_isolation(store: BaseStore) -> None:
    ann, anna, dotted = user_namespace("ann"), user_namespace("anna"), user_namespace("ann.x")
    put_facts(store, ann, {"navy": "likes navy blue", "size": "wears size M trousers"})
    put_facts(store, anna, {"navy": "likes navy blue too", "red": "likes red"})
    put_facts(store, dotted, {"navy": "likes navy blue as well"})
    store.put((*ann, "drafts"), "maybe", {"text": "might like navy"})

    for query in (None, "favourite colour navy"):
        own = store.search(ann, query=query, limit=100)
        assert {item.namespace for item in own} == {ann, (*ann, "drafts")}
        assert sorted(keys(own)) == ["maybe", "navy", "size"]
        assert {item.namespace for item in store.search(anna, query=query, limit=100)} == {anna}
        assert {item.namespace for item in store.search(dotted, query=query, limit=100)} == {dotted}
        assert store.search((MEMORY_ROOT, "an"), query=query) == []
    assert store.get(anna, "size") is None
    everyone = store.search((MEMORY_ROOT,), limit=100)
    assert {item.namespace for item in everyone} == {ann, anna, dotted, (*ann, "drafts")}


def test_list_namespaces(store: BaseStore) -> None:
    for ns in [
        ("preferences", "ann"),
        ("preferences", "bob"),
        ("preferences", "bob", "drafts"),
        ("sessions", "ann", "drafts"),
        ("catalog",),
    ]:
        store.put(ns, "k", {"text": "x"})

    assert store.list_namespaces() == [
        ("catalog",),
        ("preferences", "ann"),
        ("preferences", "bob"),
        ("preferences", "bob", "drafts"),
        ("sessions", "ann", "drafts"),
    ]
    assert store.list_namespaces(prefix=("preferences",)) == [
        ("preferences", "ann"),
        ("preferences", "bob"),
        ("preferences", "bob", "drafts"),
    ]
    assert store.list_namespaces(suffix=("drafts",)) == [
        ("preferences", "bob", "drafts"),
        ("sessions", "ann", "drafts"),
    ]
    assert store.list_namespaces(prefix=("*", "ann")) == [
        ("preferences", "ann"),
        ("sessions", "ann", "drafts"),
    ]
    assert store.list_namespaces(prefix=("preferences",), suffix=("drafts",)) == [
        ("preferences", "bob", "drafts")
    ]
    assert store.list_namespaces(max_depth=1) == [("catalog",), ("preferences",), ("sessions",)]
    assert store.list_namespaces(prefix=("preferences",), max_depth=2) == [
        ("preferences", "ann"),
        ("preferences", "bob"),
    ]
    assert store.list_namespaces(limit=2, offset=1) == [("preferences", "ann"), ("preferences", "bob")]
    assert store.list_namespaces(prefix=("nothing",)) == []


def test_limit_and_offset(store: BaseStore) -> None:
    ns = user_namespace("ann")
    store.batch([PutOp(ns, f"k{i}", {"text": f"likes colour number {i}", "n": i}) for i in range(7)])

    pages = [store.search(ns, limit=3, offset=off) for off in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(k for p in pages for k in keys(p)) == sorted(f"k{i}" for i in range(7))

    filtered = [store.search(ns, filter={"n": {"$gte": 2}}, limit=2, offset=off) for off in (0, 2, 4)]
    assert [len(p) for p in filtered] == [2, 2, 1]
    assert sorted(k for p in filtered for k in keys(p)) == [f"k{i}" for i in range(2, 7)]

    ranked = keys(store.search(ns, query="colour number 4", limit=10))
    assert ranked[0] == "k4"
    paged = [keys(store.search(ns, query="colour number 4", limit=3, offset=off)) for off in (0, 3, 6)]
    assert sum(paged, []) == ranked
    assert store.search(ns, query="colour number 4", offset=7) == []


def test_batch_reads_see_state_before_its_writes(store: BaseStore) -> None:
    ns = user_namespace("ann")
    results = store.batch(
        [
            PutOp(ns, "a", {"text": "first"}),
            GetOp(ns, "a"),
            SearchOp(ns),
            PutOp(ns, "a", {"text": "second"}),
        ]
    )
    assert results == [None, None, [], None]
    item = store.get(ns, "a")
    assert item is not None and item.value == {"text": "second"}


def test_invalid_namespaces_are_rejected(store: BaseStore) -> None:
    for bad in [("a.b",), ("preferences", ""), ("preferences", "x.y")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(bad, "k", {"text": "x"})
        with pytest.raises(InvalidNamespaceError):
            store.get(bad, "k")
        with pytest.raises(InvalidNamespaceError):
            store.search(bad)
    with pytest.raises(InvalidNamespaceError):
        store.put((), "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        store.put(("langgraph", "x"), "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        store.list_namespaces(prefix=("a.b",))
    assert store.search(()) == []


def test_async_api(store: BaseStore) -> None:
    ns = user_namespace("ann")

    async def scenario() -> tuple[Any, list[Any], list[Any]]:
        await store.aput(ns, "navy", {"text": "likes navy blue"})
        await store.aput(ns, "size", {"text": "wears size M trousers"})
        got = await store.aget(ns, "navy")
        hits = await store.asearch(ns, query="favourite colour navy")
        await store.adelete(ns, "size")
        return got, hits, await store.asearch(ns)

    got, hits, after = asyncio.run(scenario())
    assert got is not None and got.value == {"text": "likes navy blue"}
    assert keys(hits) == ["navy", "size"]
    assert keys(after) == ["navy"]


@pytest.mark.parametrize("user_id", ["john.doe@example.com", "*", "Zoé", "李雷", "50% off"])
def test_user_namespace_labels_are_valid_and_distinct(store: BaseStore, user_id: str) -> None:
    ns = user_namespace(user_id)
    store.put(ns, "fact", {"text": f"fact of {user_id}"})
    lookalike = user_namespace(user_label(user_id))  # a user whose raw id is this user's label
    if lookalike != ns:
        store.put(lookalike, "fact", {"text": "someone else"})
    hits = store.search(ns)
    assert [h.value["text"] for h in hits] == [f"fact of {user_id}"]


# Embedded-only behaviour


def test_embedded_store_persists_across_reopen(tmp_path: Path, embedder: TextEmbedder) -> None:
    path = str(tmp_path / "chroma")
    ns = user_namespace("ann")
    with ChromaStore(path=path, embedder=embedder) as store:
        put_facts(store, ns, FACTS)
        store.put(ns, "hidden", {"text": "unindexed"}, index=False)
        created = store.get(ns, "navy").created_at  # type: ignore[union-attr]

    with ChromaStore(path=path, embedder=embedder) as store:
        again = store.get(ns, "navy")
        assert again is not None and again.created_at == created
        assert keys(store.search(ns, query="favourite colour navy", limit=1)) == ["navy"]
        assert len(store.search(ns)) == len(FACTS) + 1

    script = (
        "import json, sys\n"
        "from agent.memory import ChromaStore, user_namespace\n"
        "with ChromaStore(path=sys.argv[1]) as s:\n"
        "    ns = user_namespace('ann')\n"
        "    print(json.dumps({'keys': sorted(i.key for i in s.search(ns, limit=50)),\n"
        "                      'navy': s.get(ns, 'navy').value}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, path],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"keys": sorted([*FACTS, "hidden"]), "navy": {"text": "likes navy blue"}}


def test_forget_removes_only_that_user(tmp_path: Path, embedder: TextEmbedder) -> None:
    with ChromaStore(path=str(tmp_path / "chroma"), embedder=embedder) as store:
        ann, anna = user_namespace("ann"), user_namespace("anna")
        put_facts(store, ann, FACTS)
        store.put((*ann, "drafts"), "x", {"text": "draft"}, index=["text", "text"])
        put_facts(store, anna, {"navy": "likes navy blue"})

        assert store.forget(ann) == len(FACTS) + 1
        assert store.search(ann) == []
        assert store.search(ann, query="navy") == []
        assert keys(store.search(anna, query="navy")) == ["navy"]
        with pytest.raises(InvalidNamespaceError):
            store.forget(())


def test_index_path_and_paged_scans_agree_with_exact_ranking(tmp_path: Path, embedder: TextEmbedder) -> None:
    ann, anna = user_namespace("ann"), user_namespace("anna")
    with ChromaStore(path=str(tmp_path / "chroma"), embedder=embedder) as store:
        put_facts(store, ann, FACTS)
        put_facts(store, anna, {f"other-{k}": text for k, text in FACTS.items()})
        store.put(ann, "hidden", {"text": "likes navy blue"}, index=False)
        store.put(ann, "tags", {"tags": ["bright red", "navy blue coats"]}, index=["tags[*]"])
        queries = [("favourite colour navy", None), ("how much money can I spend", {"text": {"$ne": "x"}})]
        expected = [keys(store.search(ann, query=q, filter=f, limit=20)) for q, f in queries]
        exact_scores = [h.score for h in store.search(ann, query="favourite colour navy")]

        store.exact_search_limit = 0  # force Chroma's HNSW query
        store._max_batch = 2  # and page every scan two rows at a time
        for (query, flt), want in zip(queries, expected, strict=True):
            assert keys(store.search(ann, query=query, filter=flt, limit=20)) == want
            pages = [
                keys(store.search(ann, query=query, filter=flt, limit=2, offset=o)) for o in range(0, 8, 2)
            ]
            assert sum(pages, []) == want
        assert want[-1] == "hidden" and "tags" in want
        index_scores = [h.score for h in store.search(ann, query="favourite colour navy")]
        assert index_scores == pytest.approx(exact_scores, abs=1e-4)
        assert sorted(keys(store.search(ann, limit=50))) == sorted([*FACTS, "hidden", "tags"])
        assert keys(store.search(ann, limit=2, offset=6)) == keys(store.search(ann, limit=50))[6:8]
        assert store.list_namespaces() == [ann, anna]
        assert store.forget(anna) == len(FACTS)
        assert store.search(anna, query="navy") == []


def test_raw_batch_ops_are_validated(tmp_path: Path, embedder: TextEmbedder) -> None:
    with ChromaStore(path=str(tmp_path / "chroma"), embedder=embedder) as store:
        with pytest.raises(InvalidNamespaceError):
            store.batch([PutOp(("preferences", "a.b"), "k", {"text": "x"})])
        with pytest.raises(InvalidNamespaceError):
            store.batch([GetOp(("preferences", ""), "k")])
        assert store.search(("preferences",)) == []


def test_from_env_prefers_a_server_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CHROMA_URL", "FASHIONM3_CHROMA_URL", "FASHIONM3_CHROMA_PATH"):
        monkeypatch.delenv(var, raising=False)
    assert ChromaStore.from_env().path == "data/chroma"
    monkeypatch.setenv("FASHIONM3_CHROMA_PATH", str(tmp_path))
    assert ChromaStore.from_env().path == str(tmp_path)
    monkeypatch.setenv("FASHIONM3_CHROMA_URL", "http://127.0.0.1:9")
    assert ChromaStore.from_env().url == "http://127.0.0.1:9"
    monkeypatch.setenv("CHROMA_URL", "http://127.0.0.1:10")
    store = ChromaStore.from_env()
    assert (store.url, store.path) == ("http://127.0.0.1:10", "")
    with pytest.raises(ValueError, match="path"):
        ChromaStore()


# user_namespace


def test_user_namespace_normalises() -> None:
    assert user_namespace("alice") == ("preferences", "alice")
    assert user_namespace("  bob \t") == ("preferences", "bob")
    assert user_namespace("Zoe\u0301") == user_namespace("Zo\u00e9") == ("preferences", "Zo\u00e9")
    assert user_namespace("Jürgen") == ("preferences", "Jürgen")
    assert user_namespace("李雷") == ("preferences", "李雷")
    assert user_namespace("x" * 128) == ("preferences", "x" * 128)
    assert user_label("john.doe") == "john%2Edoe"
    assert user_label("john%2Edoe") == "john%252Edoe"
    assert user_label("*") == "%2A"


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("../admin", "path separator"),
        ("..", "'..'"),
        ("a..b", "'..'"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("ann\x00", "control"),
        ("ann\nbob", "control"),
        ("\u202eevil", "control"),
        ("x" * 129, "at most 128"),
    ],
)
def test_user_namespace_rejects_adversarial_ids(user_id: str, message: str) -> None:
    with pytest.raises(InvalidUserIdError, match=message):
        user_namespace(user_id)
    with pytest.raises(ValueError):
        user_namespace(user_id)


def test_user_namespace_rejects_non_strings() -> None:
    with pytest.raises(InvalidUserIdError, match="string"):
        user_namespace(42)  # type: ignore[arg-type]
