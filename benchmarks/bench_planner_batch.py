"""Planner throughput with many conversations at once: batched decoding against one step at a time.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_planner_batch.py [--levels 1,8,32] [--steps 2] [--threads 2]

Each level runs that many conversations (threads) at once, each planning ``--steps`` held-out steps
(planning prompts of the test-split families, drawn from the catalog) through the whole planner
pipeline (prompt, decode, checks, drop-repair, beams, rules fallback), the way the HTTP service's
turn threads call it. ``serial`` is the planner behind the service's
:class:`~agent.serve.runner.SerialPlanner` (one step at a time, each decoded alone with the
speculative drafter); ``batched`` is the same planner with :meth:`SmolPlanner.enable_batching`
(concurrent steps decoded as one padded batch). Both run in the same process, on the same prompts,
one after the other at each level. Prints steps per second, p50/p95 step latency, forward passes
per step (load-independent) and whether both modes chose the same plans.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _views(n: int, data_dir: str) -> list[Any]:
    from agent.catalog.manage import build_catalog, is_built
    from agent.context import Context
    from agent.services import open_catalog
    from training.planner.data import build_samples

    settings = Context.from_env(data_dir=data_dir)
    if not is_built(settings):
        build_catalog(settings, progress=True)
    samples, _ = build_samples(list(open_catalog(settings).items.values()), n=max(400, n * 12), seed=0)
    views = [s.view for s in samples if s.split == "test" and not s.view.new_images]
    if len(views) < n:
        raise SystemExit(f"only {len(views)} test prompts; lower --levels or --steps")
    return views[:n]


def _run(planner: Any, views: list[Any], conversations: int, steps: int) -> tuple[float, list[float], list[str]]:
    from agent.planners.compact import plan_key

    latencies: list[float] = []
    plans: dict[int, str] = {}
    lock = threading.Lock()
    start = threading.Barrier(conversations + 1)

    def conversation(c: int) -> None:
        start.wait()
        for s in range(steps):
            i = c * steps + s
            t = time.perf_counter()
            plan = planner.plan(views[i].model_copy(deep=True))
            ms = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(ms)
                plans[i] = str(plan_key(plan))

    threads = [threading.Thread(target=conversation, args=(c,)) for c in range(conversations)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, [plans[i] for i in sorted(plans)]


def _busy_s(work: dict[str, int]) -> float:
    """Seconds the model spent decoding (single decodes, batches, beams) according to the decode counters."""
    keys = ("prefill_us", "decode_us", "batch_us", "beam_us", "plain_us")
    return sum(work.get(k, 0) for k in keys) / 1e6


def main() -> None:
    """Print throughput and latency of serial and batched planning at each concurrency level."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,8,32", help="concurrent conversations, comma-separated")
    ap.add_argument("--steps", type=int, default=2, help="planning steps per conversation")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: OMP_NUM_THREADS or torch's)")
    ap.add_argument("--data-dir", default=os.environ.get("FASHIONM3_DATA_DIR", "data"))
    args = ap.parse_args()
    import torch

    from agent.planners.smol import SmolPlanner
    from agent.serve.runner import SerialPlanner

    if args.threads:
        torch.set_num_threads(args.threads)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    views = _views(max(levels) * args.steps, args.data_dir)
    planner = SmolPlanner()
    planner.setup()
    planner.plan(views[0].model_copy(deep=True))  # warm-up
    print(f"planner smol, {args.steps} steps per conversation, torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cores")
    for level in levels:
        row: dict[str, Any] = {}
        for mode in ("serial", "batched"):
            planner.enable_batching(max_batch=level if mode == "batched" else 1)
            planner.prefix_cache.__init__()  # both modes start from an empty prefix cache
            target = planner if mode == "batched" else SerialPlanner(planner)
            before = dict(planner.decode_stats)
            load = os.getloadavg()[0]
            wall, lat, plans = _run(target, views, level, args.steps)
            load = max(load, os.getloadavg()[0])
            work = {k: v - before.get(k, 0) for k, v in planner.decode_stats.items()}
            n = len(lat)
            passes = (work.get("forwards", 0) + work.get("batch_forwards", 0)) / n
            row[mode] = (n / wall, plans)
            print(f"{level:3d} conversations, {mode:7s}: {n / wall:5.2f} steps/s, "
                  f"p50 {np.percentile(lat, 50):6.0f} ms, p95 {np.percentile(lat, 95):6.0f} ms, "
                  f"{passes:5.2f} greedy passes/step, "
                  f"{work.get('beam_decodes', 0) / n:.2f} beam re-decodes/step, "
                  f"model busy {_busy_s(work):.1f} of {wall:.1f} s (load average {load:.2f})")
        same = sum(a == b for a, b in zip(row["serial"][1], row["batched"][1], strict=True))
        print(f"{level:3d} conversations: batched/serial throughput {row['batched'][0] / row['serial'][0]:.2f}x; "
              f"same plan in {same}/{len(row['serial'][1])} steps")
    planner.enable_batching(max_batch=1)


if __name__ == "__main__":
    main()
