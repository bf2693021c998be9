"""Turn latency through the real graph with the rules planner (default catalog in ./data or --data-dir).

Usage: python benchmarks/bench_turn.py [--data-dir data] [--rounds 5] [--planner rules]
Prints p50/p95 per kind of turn (recommend, alternatives, search) and overall, and the failed turns: a
turn fails when its reply carries an error or it did not call the tool its kind needs (a fast wrong turn
is not a result).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from agent.catalog.manage import build_catalog, is_built  # noqa: E402
from agent.context import Context  # noqa: E402
from agent.embeddings import get_text_embedder  # noqa: E402
from agent.planners import get_planner  # noqa: E402
from agent.services import open_catalog, open_store  # noqa: E402
from agent.session import Session  # noqa: E402
from graph import build_graph  # noqa: E402

SCRIPT = [
    ("recommend", "I need an outfit for a dinner, nothing over 80 each"),
    ("alternatives", "something cheaper for the top"),
    ("alternatives", "show it in blue"),
    ("search", "show me white sneakers under 90"),
    ("recommend", "what goes with black ankle boots for the office?"),
    ("history", "what was the first outfit?"),
]
#: The tool each kind of turn must call.
EXPECTED_TOOL = {"recommend": "recommend_outfit", "alternatives": "find_alternatives", "search": "search_catalog",
                 "history": "recall_outfit"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("FASHIONM3_DATA_DIR", "data"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--planner", default="rules")
    args = ap.parse_args()
    settings = Context.from_env(data_dir=args.data_dir, planner=args.planner)
    if not is_built(settings):
        build_catalog(settings, progress=True)
    catalog = open_catalog(settings)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(settings.with_(chroma_path=tmp))
        graph = build_graph(planner=get_planner(args.planner, settings=settings), catalog=catalog,
                            checkpointer=InMemorySaver(), store=store)
        Session(graph=graph, settings=settings.with_(user_id="warmup")).turn("show me a shirt")
        times: dict[str, list[float]] = {}
        failed: list[str] = []
        for r in range(args.rounds):
            s = Session(graph=graph, settings=settings.with_(user_id=f"bench-{r}"))
            for kind, text in SCRIPT:
                get_text_embedder()._cache.clear()  # every turn pays for its own query embeddings
                t = time.perf_counter()
                out = s.turn(f"{text}" if r == 0 else f"{text} please")
                times.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
                problem = "; ".join(out.get("errors") or [])
                if out.get("tools") != [EXPECTED_TOOL[kind]]:
                    problem = f"called {out.get('tools')} instead of {EXPECTED_TOOL[kind]}" + (
                        f" ({problem})" if problem else "")
                if problem:
                    failed.append(f"round {r + 1}, {text!r}: {problem}")
    every = [x for v in times.values() for x in v]
    for kind, v in times.items():
        print(f"{kind:13s} turn: p50 {np.percentile(v, 50):6.0f} ms, p95 {np.percentile(v, 95):6.0f} ms (n={len(v)})")
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; first turn of a process "
          "(model and index loading) excluded")
    print(f"{'all':13s} turn: p50 {np.percentile(every, 50):6.0f} ms, p95 {np.percentile(every, 95):6.0f} ms "
          f"(planner {args.planner}, {len(catalog.items):,} items)")
    print(f"failed turns: {len(failed)} of {len(every)}")
    for line in failed:
        print(f"  {line}")


if __name__ == "__main__":
    main()
