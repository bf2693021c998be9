"""Catalog benchmark: build + index time for the default catalog, search latency at 3k and 100k items.

Usage: python benchmarks/bench_catalog.py [--per-class 300] [--big 100000] [--queries 200]

The 100k index is made of synthetic duplicates of the default items (new ids, the same metadata,
embeddings jittered slightly), as the issue allows; queries are distinct free-text phrasings, and each
query's embedding time is included (the embedder's cache is cleared between rounds).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.catalog.manage import build_catalog  # noqa: E402
from agent.catalog.models import SearchFilters  # noqa: E402
from agent.catalog.store import Catalog, _metadata  # noqa: E402
from agent.context import Context  # noqa: E402
from agent.embeddings import get_text_embedder  # noqa: E402

COLOURS = ["black", "navy", "red", "white", "beige", "green", "grey", "blue", "pink", "brown"]
THINGS = ["dress for a wedding", "comfy trainers", "office shirt", "warm winter coat", "linen trousers",
          "leather bag", "ankle boots for autumn", "casual tee", "party top", "sandals for the beach"]


def queries(n: int) -> list[tuple[str, SearchFilters]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        text = f"{COLOURS[i % len(COLOURS)]} {THINGS[(i // len(COLOURS)) % len(THINGS)]} #{i}"
        f = SearchFilters()
        r = rng.random()
        if r < 0.3:
            f = SearchFilters(max_price=float(rng.integers(30, 150)))
        elif r < 0.6:
            f = SearchFilters(colors=[COLOURS[i % len(COLOURS)]], max_price=200)
        out.append((text, f))
    return out


def measure(catalog: Catalog, qs: list[tuple[str, SearchFilters]]) -> tuple[float, float, float, float]:
    """Return p50/p95 of whole searches (query embedded) and of retrieval alone (vector given)."""
    catalog.search("warm up", SearchFilters(), k=10)
    times, retrieval = [], []
    for text, f in qs:
        t = time.perf_counter()
        catalog.search(text, f, k=10)
        times.append((time.perf_counter() - t) * 1000)
        vec = catalog.embedder.encode_one(text)
        t = time.perf_counter()
        catalog.search(None, f, k=10, query_vector=vec)
        retrieval.append((time.perf_counter() - t) * 1000)
    return (float(np.percentile(times, 50)), float(np.percentile(times, 95)),
            float(np.percentile(retrieval, 50)), float(np.percentile(retrieval, 95)))


def print_search(n: int, figures: tuple[float, float, float, float], queries: int) -> None:
    p50, p95, r50, r95 = figures
    print(f"search @ {n:,} items: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({queries} queries, embedding included); "
          f"retrieval alone p50 {r50:.1f} ms, p95 {r95:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fm3-bench-") as tmp:
        settings = Context(data_dir=tmp)
        get_text_embedder().encode(["load the model first"])
        print(f"machine load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        t = time.perf_counter()
        report = build_catalog(settings, per_class=args.per_class, progress=False)
        total = time.perf_counter() - t
        print(f"catalog build: {report.items} items, images {report.seconds_images:.1f} s, "
              f"index {report.seconds_index:.1f} s, total {total:.1f} s")
        from agent.services import open_catalog

        catalog = open_catalog(settings)
        qs = queries(args.queries)
        print_search(len(catalog.items), measure(catalog, qs), len(qs))

        big = Catalog(Path(tmp) / "big", chroma_path=str(Path(tmp) / "chroma-big"))
        base = list(catalog.items.values())
        vecs = catalog.collection.get(include=["embeddings"], ids=[i.id for i in base])
        emb = {i: np.asarray(e, dtype=np.float32) for i, e in zip(vecs["ids"], vecs["embeddings"], strict=True)}
        rng = np.random.default_rng(0)
        t = time.perf_counter()
        batch = 2000
        for start in range(0, args.big, batch):
            ids, metas, es = [], [], []
            for j in range(start, min(start + batch, args.big)):
                src = base[j % len(base)]
                item = src.model_copy(update={"id": f"{src.id}-x{j // len(base):03d}"})
                v = emb[src.id] + rng.normal(0, 0.02, size=384).astype(np.float32)
                ids.append(item.id)
                metas.append(_metadata(item))
                es.append(v / np.linalg.norm(v))
                big.items[item.id] = item
            big.collection.upsert(ids=ids, metadatas=metas, embeddings=np.stack(es))
        print(f"synthetic index: {args.big:,} items inserted in {time.perf_counter() - t:.1f} s")
        get_text_embedder()._cache.clear()
        qs = [(f"{q} v2", f) for q, f in qs]
        print_search(len(big.items), measure(big, qs), len(qs))


if __name__ == "__main__":
    main()
