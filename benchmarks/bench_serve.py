"""Load test of ``fashionm3 serve``: many concurrent conversations over loopback, with exactly-once checks.

Starts the real server as a separate process on a copy of the data folder, then drives it with
httpx (async): ``--conversations`` conversations of the 5-turn script below, all at once, each
waiting for an answer before its next message (as a chat does). Every message carries an
idempotency key. Prints turns lost, duplicated and out of order (from the threads as the server
stored them), p50/p95 turn latency, turns per second and the server's peak RSS.

    python benchmarks/bench_serve.py                       # 50 x 5, rules planner
    python benchmarks/bench_serve.py --planner smol --conversations 8
    python benchmarks/bench_serve.py --retries             # each message sent twice with one key
    python benchmarks/bench_serve.py --kill-after 3        # kill -9 the server after 3 s, restart it
    python benchmarks/bench_serve.py --think 1.5           # shoppers pause ~1.5 s before each message
    python benchmarks/bench_serve.py --processes 2 --postgres postgresql://... --chroma http://127.0.0.1:8000

The load is bounded (conversations x turns requests, plus retries) and goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

SCRIPT = [
    "I need an outfit for a dinner, nothing over 80 each",
    "something cheaper for the top",
    "show it in blue",
    "show me white sneakers under 90",
    "what was the first outfit?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data: Path, port: int, planner: str, workers: int, extra: dict[str, str] | None = None) -> None:
        self.data, self.port, self.url = data, port, f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "FASHIONM3_DATA_DIR": str(data), "FASHIONM3_PLANNER": planner,
                    "FASHIONM3_TURN_WORKERS": str(workers), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                    **(extra or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0

    def start(self) -> None:
        log = open(self.data / f"serve-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--port", str(self.port)],
                                     stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {(self.data / f'serve-{self.port}.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("server not ready after 300 s")

    def sample_rss(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
        except OSError:
            pass

    def kill(self) -> None:
        self.sample_rss()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        self.sample_rss()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    answered: int = 0
    errors: list[str] = field(default_factory=list)
    connection_retries: int = 0
    turn_ids: dict[str, list[str]] = field(default_factory=dict)


async def send(ac: httpx.AsyncClient, urls: list[str], thread: str, user: str, text: str, key: str, stats: Stats,
               retry_twice: bool, k: int) -> str | None:
    body = {"user_id": user, "text": text}
    headers = {"Idempotency-Key": key}
    t0 = time.perf_counter()

    async def post(offset: int = 0) -> httpx.Response | None:
        for attempt in range(600):  # a server being restarted: retry with the same key (bounded)
            url = urls[(k + offset + attempt) % len(urls)]  # successive turns (and retries) go to other processes
            try:
                return await ac.post(f"{url}/v1/threads/{thread}/turns", json=body, headers=headers)
            except httpx.TransportError:
                stats.connection_retries += 1
                await asyncio.sleep(min(0.1 * (attempt + 1), 1.0))
        return None

    if retry_twice:
        async def late_retry() -> httpx.Response | None:
            await asyncio.sleep(random.uniform(0.0, 0.5))
            return await post(offset=1)

        first, second = await asyncio.gather(post(), late_retry())
        responses = [r for r in (first, second) if r is not None]
    else:
        r = await post()
        responses = [r] if r is not None else []
    if not responses or any(r.status_code != 200 for r in responses):
        detail = responses[0].text[:200] if responses else "no answer"
        stats.errors.append(f"{thread}: {[r.status_code for r in responses]} {detail}")
        return None
    ids = {r.json()["turn_id"] for r in responses}
    if len(ids) != 1:
        stats.errors.append(f"{thread}: one key gave turns {ids}")
    stats.latencies.append(time.perf_counter() - t0)
    stats.answered += 1
    return responses[0].json()["turn_id"]


async def conversation(ac: httpx.AsyncClient, urls: list[str], n: int, turns: int, stats: Stats, retry_twice: bool,
                       run: str, think: float) -> None:
    thread, user = f"bench-{run}-{n}", f"shopper-{run}-{n}"
    for k, text in enumerate(SCRIPT[:turns]):
        if think:
            await asyncio.sleep(random.uniform(0.5, 1.5) * think)  # a shopper reading and typing
        turn_id = await send(ac, urls, thread, user, text, f"{thread}-m{k}", stats, retry_twice, n + k)
        stats.turn_ids.setdefault(thread, []).append(turn_id or "")


async def drive(servers: list[Server], args: argparse.Namespace, run: str) -> tuple[Stats, float]:
    stats = Stats()
    limits = httpx.Limits(max_connections=args.conversations * 2 + 10, max_keepalive_connections=args.conversations)
    urls = [s.url for s in servers]
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as ac:
        async def killer() -> None:
            if args.kill_after:
                await asyncio.sleep(args.kill_after)
                servers[0].kill()
                print(f"  killed a server (kill -9) after {args.kill_after:.1f} s; restarting it ...", flush=True)
                await asyncio.to_thread(servers[0].start)

        async def sampler() -> None:
            while True:
                for server in servers:
                    server.sample_rss()
                await asyncio.sleep(0.5)

        sampling = asyncio.create_task(sampler())
        t0 = time.perf_counter()
        await asyncio.gather(killer(), *[conversation(ac, urls, n, args.turns, stats, args.retries, run, args.think)
                                         for n in range(args.conversations)])
        wall = time.perf_counter() - t0
        sampling.cancel()
    return stats, wall


def audit(server: Server, stats: Stats, turns: int) -> tuple[int, int, int]:
    """Return (lost, duplicated, out_of_order) from the threads as the server stored them."""
    lost = duplicated = disorder = 0
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for thread, ids in stats.turn_ids.items():
            state = c.get(f"/v1/threads/{thread}").json()
            users = [m["text"] for m in state.get("messages", []) if m["role"] == "user"]
            expected = SCRIPT[:turns]
            lost += sum(1 for t in expected if t not in users)
            duplicated += max(0, len(users) - len(set(users))) + max(0, len(state["turns"]) - turns)
            numbers = [t.get("response", {}).get("turn") for t in state["turns"] if t["status"] == "done"]
            if users != [t for t in expected if t in users] or numbers != sorted(numbers):
                disorder += 1
    return lost, duplicated, disorder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("FASHIONM3_DATA_DIR", "data"),
                    help="A built data folder (copied; the copy is served).")
    ap.add_argument("--planner", default="rules")
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--turns", type=int, default=5, choices=range(1, len(SCRIPT) + 1))
    ap.add_argument("--workers", type=int, default=4, help="FASHIONM3_TURN_WORKERS of the server.")
    ap.add_argument("--retries", action="store_true", help="Send every message twice with one key "
                    "(the second after a random 0-0.5 s delay), as Slack-style redelivery does.")
    ap.add_argument("--kill-after", type=float, default=0.0, help="kill -9 the server after this many seconds "
                    "and restart it; clients retry with their keys.")
    ap.add_argument("--think", type=float, default=0.0, help="Mean seconds a shopper waits before each message "
                    "(uniform 0.5x-1.5x); 0 = send the next message as soon as the answer arrives (saturation).")
    ap.add_argument("--processes", type=int, default=1, help="Service processes; more than 1 needs --postgres "
                    "and --chroma. A conversation's turns go to the processes in turn (a round-robin balancer).")
    ap.add_argument("--postgres", default="", help="PostgreSQL URL (FASHIONM3_POSTGRES_URL of the servers).")
    ap.add_argument("--chroma", default="", help="Chroma server URL (FASHIONM3_CHROMA_URL of the servers).")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    random.seed(args.seed)
    src = Path(args.data_dir)
    if not (src / "catalog" / "catalog.jsonl").is_file():
        raise SystemExit(f"no catalog in {src}: run `fashionm3 catalog build` first")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(src, data, ignore=shutil.ignore_patterns("threads.sqlite*", "media", "models", "planner",
                                                                 "fashionm3-store.lock"))
        if (src / "models").is_dir():
            (data / "models").symlink_to((src / "models").resolve())
        if args.processes > 1 and not (args.postgres and args.chroma):
            raise SystemExit("--processes > 1 needs --postgres URL and --chroma URL (shared storage)")
        extra = {"FASHIONM3_POSTGRES_URL": args.postgres, "FASHIONM3_CHROMA_URL": args.chroma}
        servers = [Server(data, free_port(), args.planner, args.workers, {k: v for k, v in extra.items() if v})
                   for _ in range(args.processes)]
        t = time.perf_counter()
        for server in servers:
            server.start()
            # one warm-up turn each (first query embeddings, caches), not counted
            httpx.post(server.url + "/v1/threads/warm/turns", json={"user_id": "warm", "text": "show me a shirt"},
                       headers={"Idempotency-Key": f"warm-{server.port}"}, timeout=600)
        storage = "PostgreSQL + Chroma server" if args.postgres else "SQLite + embedded Chroma"
        print(f"{len(servers)} server process(es) up in {time.perf_counter() - t:.1f} s ({args.planner} planner, "
              f"{args.workers} turn workers each, {storage})")
        try:
            stats, wall = asyncio.run(drive(servers, args, run=f"{int(time.time())}"))
            lost, duplicated, disorder = audit(servers[0], stats, args.turns)
        finally:
            for server in servers:
                server.stop()
    lat = np.array(stats.latencies) * 1000 if stats.latencies else np.zeros(1)
    sent = args.conversations * args.turns
    mode = " with every message sent twice" if args.retries else ""
    mode += f", think time {args.think:.1f} s" if args.think else ", no think time"
    mode += f", kill -9 after {args.kill_after:.1f} s" if args.kill_after else ""
    print(f"\n{args.conversations} conversations x {args.turns} turns, {args.planner} planner{mode}, "
          f"{len(servers)} process(es)")
    print(f"  messages sent {sent}, answered {stats.answered}, client errors {len(stats.errors)}, "
          f"connection retries {stats.connection_retries}")
    print(f"  turns lost {lost}, duplicated {duplicated}, threads out of order {disorder}")
    print(f"  turn latency p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, "
          f"max {lat.max():.0f} ms")
    rss = ", ".join(f"{s.peak_rss_mb:.0f}" for s in servers)
    print(f"  throughput {stats.answered / wall:.1f} turns/s over {wall:.1f} s; server peak RSS {rss} MB")
    for e in stats.errors[:5]:
        print("  error:", e)


if __name__ == "__main__":
    main()
