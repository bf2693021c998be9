"""Two OS processes writing preference facts into one ChromaStore at the same time.

What we found (chromadb 1.5.9, embedded ``PersistentClient``, two spawned processes on one folder):

* 50 single-record upserts per process, unlocked: nothing lost, both processes even see each other's
  writes (the local engine replays the shared SQLite log before reading). This only holds while no
  process persists its HNSW index, i.e. below the collection's ``sync_threshold`` (1000 records).
* 3000 records per process (batches of 10), unlocked: both processes fail on query with
  ``InternalError: Error finding id`` and re-opening the folder fails with ``Error deserializing
  pickle file``; the count (from SQLite) says 6000 but the vector index is corrupt.
* The same with an ``flock`` around every single upsert/get/query: still ``Error finding id``, in
  the writers and after re-opening. Each process keeps its own in-memory HNSW index and persists it
  over the other's, so serialising operations is not enough.

So the embedded store takes an exclusive ``flock`` on ``<path>/fashionm3-store.lock`` when it first
opens the collection and holds it until ``close()``: a second process waits (``lock_timeout``) and
then works on a freshly loaded index; concurrent embedded writers are serialised, not interleaved.
Processes that must write at the same time share a ``chroma run`` server (``HttpClient``), the
documented multi-process deployment; both cases are tested below and nothing may be lost.

The writers use a small hashing embedder so that these tests measure storage, not model loading.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from agent.memory import ChromaStore, StoreLockedError, user_namespace
from agent.memory.chroma_store import LOCK_FILE

try:
    from chroma_server import chroma_server  # noqa: F401 - fixture
except ImportError:  # tests/ imported as a package
    from tests.chroma_server import chroma_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
FACTS_PER_USER = 50
USERS = ("alice", "bob")
COLOURS = ("navy", "black", "white", "red", "green", "beige", "brown", "pink", "grey", "yellow")
MATERIALS = ("leather", "wool", "linen", "denim", "silk")


class HashEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are close, no model needed."""

    dims = 384

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dims] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


def fact(user: str, i: int) -> str:
    return f"{user} likes colour {COLOURS[i % len(COLOURS)]} not {MATERIALS[i % len(MATERIALS)]} number {i}"


def open_store(target: str, collection: str) -> ChromaStore:
    if target.startswith("http"):
        return ChromaStore(url=target, collection=collection, embedder=HashEmbedder(), lock_timeout=120)
    return ChromaStore(path=target, collection=collection, embedder=HashEmbedder(), lock_timeout=120)


def run_worker(target: str, collection: str, user: str, count: int, go_file: Path) -> None:
    """Wait for the start signal, put ``count`` facts one by one, print timings as JSON."""
    store = open_store(target, collection)
    while not go_file.exists():
        time.sleep(0.01)
    started = time.time()
    ns = user_namespace(user)
    store.put(ns, "fact-0", {"text": fact(user, 0), "i": 0})
    opened = time.time()
    for i in range(1, count):
        store.put(ns, f"fact-{i}", {"text": fact(user, i), "i": i})
    written = len(store.search(ns, limit=10 * count))
    store.close()
    closed = time.time()
    report = {"user": user, "started": started, "opened": opened, "closed": closed, "seen": written}
    sys.stdout.write(json.dumps(report) + "\n")


def spawn_writers(target: str, collection: str, tmp_path: Path) -> list[dict[str, float]]:
    go_file = tmp_path / f"go-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, target, collection, user, str(FACTS_PER_USER), str(go_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        for user in USERS
    ]
    time.sleep(0.5)
    go_file.touch()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"writer failed ({proc.returncode}):\n{err[-3000:]}"
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def assert_nothing_lost(store: ChromaStore) -> None:
    for user in USERS:
        ns = user_namespace(user)
        items = store.search(ns, limit=1000)
        assert len(items) == FACTS_PER_USER
        assert sorted(item.key for item in items) == sorted(f"fact-{i}" for i in range(FACTS_PER_USER))
        assert all(item.value["text"] == fact(user, item.value["i"]) for item in items)
        for i in (0, 17, FACTS_PER_USER - 1):
            hits = store.search(ns, query=fact(user, i), limit=3)
            assert hits[0].key == f"fact-{i}"
            assert all(hit.namespace == ns for hit in hits)
    assert store.list_namespaces(prefix=("preferences",)) == sorted(user_namespace(u) for u in USERS)


@pytest.mark.slow
@pytest.mark.integration
def test_server_concurrent_writers_lose_nothing(chroma_server: str, tmp_path: Path) -> None:  # noqa: F811
    collection = f"conc-{uuid.uuid4().hex[:12]}"
    reports = spawn_writers(chroma_server, collection, tmp_path)

    # Over HTTP the two writers really interleave: each one's writing window overlaps the other's.
    a, b = reports
    assert a["opened"] < b["closed"] and b["opened"] < a["closed"]
    with open_store(chroma_server, collection) as store:
        assert_nothing_lost(store)
        store.forget(("preferences",))


@pytest.mark.slow
def test_embedded_concurrent_writers_are_serialised_and_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "chroma")
    reports = spawn_writers(path, "fashionm3-memory", tmp_path)

    # The folder lock lets one process in at a time: their open..close windows do not overlap.
    first, second = sorted(reports, key=lambda r: r["opened"])
    assert first["closed"] <= second["opened"]
    assert first["seen"] == FACTS_PER_USER
    assert second["seen"] == FACTS_PER_USER
    with open_store(path, "fashionm3-memory") as store:
        assert_nothing_lost(store)


def test_lock_timeout_explains_the_server_option(tmp_path: Path) -> None:
    folder = tmp_path / "chroma"
    folder.mkdir()
    with open(folder / LOCK_FILE, "a+") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        other.write("4242")
        other.flush()
        store = ChromaStore(path=str(folder), embedder=HashEmbedder(), lock_timeout=0.3)
        began = time.monotonic()
        with pytest.raises(StoreLockedError, match="CHROMA_URL") as excinfo:
            store.put(user_namespace("alice"), "k", {"text": "x"})
        assert time.monotonic() - began >= 0.3
        assert "4242" in str(excinfo.value)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    store.put(user_namespace("alice"), "k", {"text": "x"})
    assert store.get(user_namespace("alice"), "k") is not None
    store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Concurrency test writer process.")
    parser.add_argument("target", help="embedded folder or http:// server URL")
    parser.add_argument("collection")
    parser.add_argument("user")
    parser.add_argument("count", type=int)
    parser.add_argument("go_file", type=Path)
    args = parser.parse_args()
    run_worker(args.target, args.collection, args.user, args.count, args.go_file)
