"""Benchmark the preference memory: put throughput and recall latency of an embedded ChromaStore.

Stores ``--facts`` generated preference facts spread evenly over ``--users`` shoppers (seeded RNG),
in batches of ``--batch`` puts, into a temporary folder. Then runs ``--queries`` semantic searches,
each in one shopper's namespace (``limit=5``): a first pass with fresh query texts (the query is
embedded: what the agent's ``recall`` node pays), and a second pass over the same texts, whose
embeddings are then cached (the store alone). Recall@5 compares each answer with an exact
brute-force ranking of that shopper's facts.

Usage: ``python benchmarks/bench_memory.py [--facts 10000 --users 1000 --queries 200]``
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from langgraph.store.base import PutOp

from agent.embeddings import get_text_embedder
from agent.memory import ChromaStore, fact_key, user_namespace

COLOURS = [
    "black",
    "white",
    "grey",
    "navy",
    "blue",
    "red",
    "green",
    "beige",
    "brown",
    "pink",
    "yellow",
    "purple",
    "orange",
]
MATERIALS = [
    "leather",
    "wool",
    "linen",
    "denim",
    "silk",
    "cotton",
    "polyester",
    "cashmere",
    "suede",
    "velvet",
]
CATEGORIES = [
    "tops",
    "trousers",
    "pullovers",
    "dresses",
    "coats",
    "sandals",
    "shirts",
    "sneakers",
    "bags",
    "ankle boots",
]
STYLES = ["minimalist", "casual", "formal", "sporty", "bohemian", "vintage", "streetwear", "preppy"]
OCCASIONS = ["work", "weddings", "the gym", "holidays", "evenings out", "hiking", "the office party"]
SIZES = ["XS", "S", "M", "L", "XL", "EU 38", "EU 40", "EU 42", "EU 44"]

QUERY_TEMPLATES = [
    "what colour {c} clothes does the shopper like",
    "favourite colour {c}",
    "does she avoid {m}",
    "materials to avoid like {m}",
    "how much can I spend on {k}",
    "what size {k} should I pick",
    "style for {o}",
    "recommend {k} for {o}",
]


class TimedEmbedder:
    """Wrap an embedder and add up the seconds spent encoding."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.seconds = 0.0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        out = self.inner.encode(texts)  # type: ignore[attr-defined]
        self.seconds += time.perf_counter() - started
        return out


def make_fact(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(9)
    c, m, k = rng.choice(COLOURS), rng.choice(MATERIALS), rng.choice(CATEGORIES)
    if kind == 0:
        return "likes", f"likes colour {c}"
    if kind == 1:
        return "dislikes", f"dislikes material {m}"
    if kind == 2:
        return "budget", f"budget under {rng.randrange(20, 400, 5)} euros for {k}"
    if kind == 3:
        return "likes", f"likes {k} in {c}"
    if kind == 4:
        return "dislikes", f"avoids {k} made of {m}"
    if kind == 5:
        return "style", f"prefers a {rng.choice(STYLES)} style"
    if kind == 6:
        return "size", f"wears size {rng.choice(SIZES)} in {k}"
    if kind == 7:
        return "occasion", f"shops for {rng.choice(OCCASIONS)} outfits"
    return "dislikes", f"dislikes colour {c} for {k}"


def make_queries(rng: random.Random, n: int) -> list[str]:
    queries: set[str] = set()
    while len(queries) < n:
        template = rng.choice(QUERY_TEMPLATES)
        queries.add(
            template.format(
                c=rng.choice(COLOURS),
                m=rng.choice(MATERIALS),
                k=rng.choice(CATEGORIES),
                o=rng.choice(OCCASIONS),
            )
            + rng.choice(["", "?", " please", " today"])
        )
    return sorted(queries)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: default)")
    parser.add_argument(
        "--path", default="", help="database folder (default: a temporary one, removed after)"
    )
    args = parser.parse_args()

    rng = random.Random(args.seed)
    users = [f"user-{i:05d}" for i in range(args.users)]
    facts: dict[str, dict[str, str]] = {u: {} for u in users}
    kinds: dict[str, str] = {}
    stored = 0
    while stored < args.facts:
        user = users[stored % args.users]
        kind, text = make_fact(rng)
        key = fact_key(text)
        if key not in facts[user]:
            facts[user][key] = text
            kinds[text] = kind
            stored += 1
    ops = [
        PutOp(user_namespace(user), key, {"text": text, "kind": kinds[text]})
        for user, per_user in facts.items()
        for key, text in per_user.items()
    ]
    unique_texts = len({op.value["text"] for op in ops if op.value})

    embedder = get_text_embedder()
    embedder.setup()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    timed = TimedEmbedder(embedder)
    folder = args.path or tempfile.mkdtemp(prefix="fashionm3-bench-")
    try:
        with ChromaStore(path=str(Path(folder) / "chroma"), embedder=timed, fields=["text"]) as store:
            store.get(user_namespace(users[0]), "warm-up")
            started = time.perf_counter()
            for start in range(0, len(ops), args.batch):
                store.batch(ops[start : start + args.batch])
            put_seconds = time.perf_counter() - started
            embed_seconds = timed.seconds

            queries = make_queries(rng, args.queries)
            targets = [rng.choice(users) for _ in queries]
            store.search(user_namespace(users[1]), query="warm-up query", limit=args.limit)

            cold, warm, answers = [], [], []
            for query, user in zip(queries, targets, strict=True):
                t0 = time.perf_counter()
                hits = store.search(user_namespace(user), query=query, limit=args.limit)
                cold.append(time.perf_counter() - t0)
                answers.append([h.key for h in hits])
            for query, user in zip(queries, targets, strict=True):
                t0 = time.perf_counter()
                store.search(user_namespace(user), query=query, limit=args.limit)
                warm.append(time.perf_counter() - t0)

            found = expected = 0
            for query, user, got in zip(queries, targets, answers, strict=True):
                keys = list(facts[user])
                vectors = embedder.encode([facts[user][k] for k in keys])
                scores = vectors @ embedder.encode([query])[0]
                best = [keys[i] for i in np.argsort(-scores)[: args.limit]]
                found += len(set(best) & set(got))
                expected += len(best)
    finally:
        if not args.path:
            shutil.rmtree(folder, ignore_errors=True)

    cold_p50, cold_p95 = percentiles(cold)
    warm_p50, warm_p95 = percentiles(warm)
    store_rate = len(ops) / max(put_seconds - embed_seconds, 1e-9)
    import torch

    print(
        f"torch threads {torch.get_num_threads()}, CPU cores {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"stored {len(ops)} facts for {args.users} users ({unique_texts} distinct texts)")
    print(
        f"put (batches of {args.batch}): {put_seconds:.2f} s, {len(ops) / put_seconds:.0f} facts/s; "
        f"embedding {embed_seconds:.2f} s of it, store alone {store_rate:.0f} facts/s"
    )
    print(f"recall, {len(cold)} searches in one user's namespace, limit {args.limit}:")
    print(f"  query embedded        p50 {cold_p50:.2f} ms  p95 {cold_p95:.2f} ms")
    print(f"  query embedding cached p50 {warm_p50:.2f} ms  p95 {warm_p95:.2f} ms")
    print(f"recall@{args.limit} against exact brute force: {found / expected:.3f}")
    print(f"target p50 < 20 ms (query embedded): {'met' if cold_p50 < 20 else 'MISSED'}")
    extraction_cost()


EXTRACTION_SAMPLES = [
    "I love navy and I never wear leather", "show me red dresses under 50", "I've gone off black lately",
    "what goes with black ankle boots for a dinner, nothing over 80 each", "I'm a size M and my budget is 60",
    "hi there", "something cheaper for the top", "I hate sneakers, never show me those",
]


def extraction_cost(rounds: int = 25) -> None:
    """Print the cost of extracting preference facts from one user turn (the remember node's extra work)."""
    from agent.memory.extract import extract_facts

    extract_facts("warm up", 0)
    texts = EXTRACTION_SAMPLES * rounds
    t = time.perf_counter()
    facts = sum(len(extract_facts(x, n)) for n, x in enumerate(texts))
    ms = (time.perf_counter() - t) / len(texts) * 1000
    print(f"fact extraction: {ms:.2f} ms per turn ({len(texts)} turns, {facts} facts found)")


if __name__ == "__main__":
    main()
