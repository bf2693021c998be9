"""Catalog benchmark: build + index time for the default catalog, search latency at 3k and 100k items, and
the import of a shop's file (rows per second and peak memory for a generated Shopify-style CSV).

Usage: python benchmarks/bench_catalog.py [--per-class 300] [--big 100000] [--queries 200] [--import-rows 100000]
       python benchmarks/bench_catalog.py --only-import [--import-rows 100000]

The 100k index is made of synthetic duplicates of the default items (new ids, the same metadata,
embeddings jittered slightly), as the issue allows; queries are distinct free-text phrasings, and each
query's embedding time is included (the embedder's cache is cleared between rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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


SHOPIFY_HEADER = ("Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,"
                  "Option2 Name,Option2 Value,Variant SKU,Variant Inventory Qty,Variant Price,Variant Compare At Price,"
                  "Image Src,Status\n")
TYPES = ["Shirt", "T-Shirt", "Jeans", "Sweater", "Dress", "Coat", "Sandals", "Sneakers", "Tote", "Boots"]
SHADES = ["Light Pink", "Dark Grey", "Navy Blue", "White", "Black", "Beige", "Olive", "Burgundy"]
MATS = ["Linen", "Cotton", "Wool", "Denim", "Leather", "Silk"]


def shopify_file(path: Path, rows: int, seed: int = 0) -> int:
    """Write a Shopify-style product CSV of ``rows`` variant rows (4 sizes a product, 2 colours); return products."""
    rng = np.random.default_rng(seed)
    sizes = ["S", "M", "L", "XL"]
    n = 0
    products = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(SHOPIFY_HEADER)
        while n < rows:
            kind, mat = TYPES[products % len(TYPES)], MATS[int(rng.integers(len(MATS)))]
            colours = [SHADES[int(i)] for i in rng.choice(len(SHADES), 2, replace=False)]
            handle = f"p-{products:06d}"
            price = f"{rng.uniform(9, 300):.2f}"
            if products % 7 == 0:
                price = price.replace(".", ",")  # a decimal comma now and then
            first = True
            for colour in colours:
                for size in sizes:
                    if n >= rows:
                        break
                    qty = int(rng.integers(0, 12))
                    title = f"{mat} {kind} {products}" if first else ""
                    head = (f'{handle},{title},"<p>A {mat.lower()} {kind.lower()}</p>",Brand {products % 40},,'
                            f'{kind if first else ""},casual,TRUE,{"Size" if first else ""},{size},'
                            f'{"Color" if first else ""},{colour},')
                    fh.write(f'{head}{handle}-{colour[:3]}-{size},{qty},"{price}",,,{"active" if first else ""}\n')
                    first = False
                    n += 1
            products += 1
    return products


_CHILD = """
import json, resource, sys, time
from agent.catalog.manage import IngestOptions, ingest_file
from agent.context import Context
path, data_dir, dry = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
t = time.perf_counter()
r = ingest_file(Context(data_dir=data_dir), path, progress=False, options=IngestOptions(dry_run=dry))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": r.rows, "added": r.added, "variants": r.variants,
                  "rejected": len(r.errors), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_import(rows: int, tmp: str) -> None:
    """Print rows/s and peak memory of importing a generated Shopify CSV: read+validate only, then everything."""
    path = Path(tmp) / "shopify-big.csv"
    products = shopify_file(path, rows)
    size_mb = path.stat().st_size / 1e6
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    for dry, label in ((True, "read + validate (--dry-run)"), (False, "full import (text + image index)")):
        out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(Path(tmp) / "import-data"),
                              "1" if dry else "0"], capture_output=True, text=True, env=env, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"import {label}: {r['rows']:,} rows ({size_mb:.1f} MB, {products:,} products x colours = "
              f"{r['added']:,} items, {r['variants']:,} variants, {r['rejected']} rejected) in {r['seconds']:.1f} s: "
              f"{r['rows'] / r['seconds']:,.0f} rows/s, peak memory {r['peak_mb']:,.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--import-rows", type=int, default=100_000)
    ap.add_argument("--only-import", action="store_true")
    args = ap.parse_args()
    if args.only_import:
        with tempfile.TemporaryDirectory(prefix="fm3-bench-") as tmp:
            print(f"machine load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            bench_import(args.import_rows, tmp)
        return
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
        bench_import(args.import_rows, tmp)


if __name__ == "__main__":
    main()
