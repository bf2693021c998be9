"""Turn latency through the real graph (default catalog in ./data or --data-dir), with a profile on demand.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_turn.py --planner smol [--rounds 3] [--threads 1] [--profile]

Prints p50/p95 per kind of turn (recommend, alternatives, search, history) and overall, with the
machine's load average beside them, the failed turns (an error in the reply, or not the tool the turn
needs: a fast wrong turn is not a result), and for a model planner the work done per turn (forward passes,
plan tokens, beam re-decodes, outcomes), which does not depend on the machine's load.

``--profile`` then runs the script once more under cProfile and prints where a turn's time goes
(prompt build, prefill, decode passes, checks and grounding, the rules planner's reading and
fallback, beams, tools, memory, reply) and the physical floor of the planner's model work on this
machine: the weight bytes each forward pass reads over the measured memory bandwidth, plus the
prefill's FLOPs over the measured matmul speed. ``--profile-out FILE`` keeps the raw profile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from collections.abc import Callable
from typing import Any

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

#: Profile rows: label, then (file suffix, function name) pairs whose cumulative time it sums.
PARTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("ingest (photos, message)", [("agent/nodes.py", "ingest")]),
    ("memory (recall + remember)", [("agent/nodes.py", "recall"), ("agent/nodes.py", "remember")]),
    ("plan node, all of it", [("agent/nodes.py", "plan")]),
    ("  prompt build (render, tokenise, embed)", [("smol/planner.py", "_encode")]),
    ("  model decode (prefill + passes)", [("smol/model.py", "_speculative_greedy")]),
    ("  checks and grounding", [("planners/checks.py", "run_checks")]),
    ("  rules planner (reading, fallback)", [("planners/rules.py", "plan")]),
    ("  untrained-tool routing", [("planners/tool_router.py", "route_untrained")]),
    ("tools (act node)", [("agent/nodes.py", "act")]),
    ("reply (respond node)", [("agent/nodes.py", "respond")]),
]


def _cumulative(stats: pstats.Stats, targets: list[tuple[str, str]]) -> float:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in raw.items():
        if any(filename.endswith(suffix) and func == name for suffix, name in targets):
            total += ct
    return total


def _bandwidth_gbs() -> float:
    """Return this machine's memory copy bandwidth (GB/s: bytes read + written per second, best of 5)."""
    a = np.ones(64 * 2**20, dtype=np.float32)  # 256 MiB, far beyond any cache
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best / 1e9


def _matmul_gflops() -> float:
    """Return float32 matmul speed (GFLOP/s, best of 5) at the planner's prefill shape (128 x 576 @ 576 x 1536)."""
    import torch

    x, w = torch.randn(128, 576), torch.randn(576, 1536)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(20):
            torch.mm(x, w)
        best = min(best, (time.perf_counter() - t) / 20)
    return 2 * 128 * 576 * 1536 / best / 1e9


def _floor(planner: Any, work: dict[str, int], turns: int) -> None:
    """Print the physical floor of the planner's model work per turn and the measured time beside it."""
    model = getattr(planner, "model", None)
    if model is None or not work.get("decodes"):
        return
    params = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight.numel()
    body = params - embed  # the transformer blocks; the tied embedding is read again as the LM head
    pass_bytes = (body + embed) * 4
    gbs, gflops = _bandwidth_gbs(), _matmul_gflops()
    passes = (work.get("forwards", 0) - work["decodes"]) / turns  # the verification passes after each prefill
    prefill_tokens = work.get("prefill_tokens", 0) / turns
    prefill_flops = 2 * body * prefill_tokens + 2 * embed * work["decodes"] / turns
    floor_pass = pass_bytes / (gbs * 1e9)
    floor_prefill = max(prefill_flops / (gflops * 1e9), pass_bytes / (gbs * 1e9) * work["decodes"] / turns)
    floor = floor_prefill + passes * floor_pass
    measured = (work.get("prefill_us", 0) + work.get("decode_us", 0)) / turns / 1e6
    print(f"floor: {params / 1e6:.1f}M float32 parameters, {pass_bytes / 1e6:.0f} MB read per forward pass; "
          f"memory bandwidth {gbs:.1f} GB/s, matmul {gflops:.0f} GFLOP/s (measured now)")
    print(f"floor per turn: prefill {floor_prefill * 1000:.0f} ms ({prefill_tokens:.0f} tokens, "
          f"{prefill_flops / 1e9:.1f} GFLOP) + {passes:.1f} passes x {floor_pass * 1000:.0f} ms = "
          f"{floor * 1000:.0f} ms; measured greedy decode {measured * 1000:.0f} ms "
          f"(prefill {work.get('prefill_us', 0) / turns / 1000:.0f} ms, passes "
          f"{work.get('decode_us', 0) / turns / 1000:.0f} ms): {measured / floor:.1f}x the floor")


def _work(planner: Any) -> dict[str, int]:
    return dict(getattr(planner, "decode_stats", {}) or {})


def _run_script(graph: Any, settings: Context, rounds: int, tag: str,
                record: Callable[[str, float], None]) -> list[str]:
    """Run the script ``rounds`` times; return the failed turns (an error in the reply, or the wrong tool).

    A fast wrong turn is not a result, so each turn is checked against the tool its kind needs.
    """
    failed: list[str] = []
    for r in range(rounds):
        s = Session(graph=graph, settings=settings.with_(user_id=f"{tag}-{r}"))
        for kind, text in SCRIPT:
            get_text_embedder()._cache.clear()  # every turn pays for its own query embeddings
            t = time.perf_counter()
            out = s.turn(f"{text}" if r == 0 else f"{text} please")
            record(kind, (time.perf_counter() - t) * 1000)
            problem = "; ".join(out.get("errors") or [])
            if out.get("tools") != [EXPECTED_TOOL[kind]]:
                problem = f"called {out.get('tools')} instead of {EXPECTED_TOOL[kind]}" + (
                    f" ({problem})" if problem else "")
            if problem:
                failed.append(f"round {r + 1}, {text!r}: {problem}")
    return failed


def main() -> None:
    """Run the script ``--rounds`` times and print the latency figures (and the profile with ``--profile``)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("FASHIONM3_DATA_DIR", "data"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--planner", default="rules")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: OMP_NUM_THREADS or torch's)")
    ap.add_argument("--profile", action="store_true", help="profile one more run of the script and print a breakdown")
    ap.add_argument("--profile-out", default="", help="write the raw cProfile data here")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = Context.from_env(data_dir=args.data_dir, planner=args.planner)
    if not is_built(settings):
        build_catalog(settings, progress=True)
    catalog = open_catalog(settings)
    planner = get_planner(args.planner, settings=settings)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(settings.with_(chroma_path=tmp))
        graph = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver(), store=store)
        Session(graph=graph, settings=settings.with_(user_id="warmup")).turn("show me a shirt")
        before = _work(planner)
        outcomes_before = dict(getattr(getattr(planner, "pipeline", None), "outcomes", {}) or {})
        load = os.getloadavg()[0]
        failed = _run_script(graph, settings, args.rounds, "bench",
                             lambda k, ms: times.setdefault(k, []).append(ms))
        load = max(load, os.getloadavg()[0])
        after = _work(planner)
        work = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        outcomes = dict(getattr(getattr(planner, "pipeline", None), "outcomes", {}) or {})
        outcomes = {k: v - outcomes_before.get(k, 0) for k, v in outcomes.items() if v - outcomes_before.get(k, 0)}
        every = [x for v in times.values() for x in v]
        for kind, v in times.items():
            print(f"{kind:13s} turn: p50 {np.percentile(v, 50):6.0f} ms, p95 {np.percentile(v, 95):6.0f} ms "
                  f"(n={len(v)})")
        import torch

        print(f"machine load average: {load:.2f} (highest of start and end) on {os.cpu_count()} cores; "
              f"torch threads {torch.get_num_threads()}; first turn of a process (model and index loading) excluded")
        print(f"{'all':13s} turn: p50 {np.percentile(every, 50):6.0f} ms, p95 {np.percentile(every, 95):6.0f} ms "
              f"(planner {args.planner}, {len(catalog.items):,} items)")
        print(f"failed turns: {len(failed)} of {len(every)}")
        for line in failed:
            print(f"  {line}")
        if work.get("decodes") or outcomes:
            n = len(every)
            print(f"work per turn: {work.get('decodes', 0) / n:.2f} greedy decodes, "
                  f"{work.get('forwards', 0) / n:.1f} forward passes, {work.get('tokens', 0) / n:.1f} plan tokens, "
                  f"{work.get('prefill_tokens', 0) / n:.0f} prefill tokens, "
                  f"{work.get('beam_decodes', 0) / n:.2f} beam re-decodes; planner steps: {outcomes}")
        if args.profile:
            prof = cProfile.Profile()
            before = _work(planner)
            t = time.perf_counter()
            prof.enable()
            _run_script(graph, settings, 1, "profile", lambda k, ms: None)
            prof.disable()
            wall = time.perf_counter() - t
            after = _work(planner)
            work = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            if args.profile_out:
                prof.dump_stats(args.profile_out)
            stats = pstats.Stats(prof)
            n = len(SCRIPT)
            print(f"\nprofile of one run of the script ({n} turns, cProfile adds overhead to Python code), "
                  f"per turn; load average {os.getloadavg()[0]:.2f}:")
            print(f"  {'whole turn':44s} {wall / n * 1000:7.0f} ms")
            for label, targets in PARTS:
                ms = _cumulative(stats, targets) / n * 1000
                if ms >= 0.5:
                    print(f"  {label:44s} {ms:7.0f} ms")
            if work.get("decodes"):
                print(f"  {'  of which prefill (timer)':44s} {work.get('prefill_us', 0) / n / 1000:7.0f} ms "
                      f"({work.get('prefill_tokens', 0) / n:.0f} tokens)")
                print(f"  {'  of which decode passes (timer)':44s} {work.get('decode_us', 0) / n / 1000:7.0f} ms "
                      f"({(work.get('forwards', 0) - work['decodes']) / n:.1f} passes, "
                      f"{work.get('tokens', 0) / n:.1f} tokens)")
                if work.get("beam_decodes"):
                    print(f"  {'  of which beam re-decodes (timer)':44s} {work.get('beam_us', 0) / n / 1000:7.0f} ms "
                          f"({work['beam_decodes'] / n:.2f} per turn)")
                _floor(planner, work, n)


if __name__ == "__main__":
    main()
