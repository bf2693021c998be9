"""Messaging channels under load: many chats per platform with redelivered events, through a real service.

Starts a fake Telegram/Slack/WhatsApp API in this process and `fashionm3 serve` (rules planner) as
a separate process pointed at it, on a copy of the data folder. Per platform, ``--chats`` chats each
send ``--messages`` signed messages (waiting for each reply, as a person does); ``--redeliver`` of
the events are delivered again, half at the same moment and half after 0.2-2 s (as platforms retry).
Prints per platform: messages, replies sent (must equal messages), duplicate replies (must be 0),
and p50/p95 time from the webhook to the reply reaching the platform.

    python benchmarks/bench_channels.py [--chats 50] [--messages 5] [--redeliver 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from agent.channels import simulate as sim
from agent.channels.fake import FakePlatform

TEXTS = ["show me red dresses", "something cheaper than the first one", "I need an outfit for a dinner",
         "show me white sneakers under 90", "what was the first outfit?"]


def payload(platform: str, chat: int, k: int, text: str) -> dict[str, Any]:
    if platform == "telegram":
        return sim.telegram_update(chat * 100 + k, chat, chat, text)
    if platform == "slack":
        return sim.slack_event(f"Ev{chat}-{k}", f"U{chat}", text, channel=f"D{chat}")
    return sim.whatsapp_message(f"wamid.{chat}-{k}", str(chat), text)


def chat_key(platform: str, chat: int) -> tuple[str, Any]:
    return {"telegram": ("chat_id", chat), "slack": ("channel", f"D{chat}"), "whatsapp": ("to", str(chat))}[platform]


def text_replies(fake: FakePlatform, platform: str, chat: int) -> list[dict[str, Any]]:
    key, value = chat_key(platform, chat)
    return sim.text_replies(fake, platform, key, value)


async def run_chat(ac: httpx.AsyncClient, fake: FakePlatform, platform: str, chat: int, messages: int,
                   redeliver: float, latencies: list[float], late: list[asyncio.Task[Any]]) -> None:
    for k in range(messages):
        path, body, headers = sim.signed(platform, payload(platform, chat, k, TEXTS[k % len(TEXTS)]))
        before = len(text_replies(fake, platform, chat))
        t0 = time.time()
        sends = [ac.post(path, content=body, headers=headers)]
        roll = random.random()
        if roll < redeliver / 2:
            sends.append(ac.post(path, content=body, headers=headers))  # redelivered at the same moment
        elif roll < redeliver:
            async def later(path: str = path, body: bytes = body) -> None:
                await asyncio.sleep(random.uniform(0.2, 2.0))
                if platform == "slack":
                    await ac.post(path, content=body, headers=sim.slack_headers(body, retry=1))
                else:
                    await ac.post(path, content=body, headers=headers)
            late.append(asyncio.create_task(later()))
        for r in await asyncio.gather(*sends):
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 120
        while len(text_replies(fake, platform, chat)) <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        got = text_replies(fake, platform, chat)
        if len(got) > before:
            latencies.append(got[before]["time"] - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("FASHIONM3_DATA_DIR", "data"))
    ap.add_argument("--chats", type=int, default=50)
    ap.add_argument("--messages", type=int, default=5)
    ap.add_argument("--redeliver", type=float, default=0.2)
    ap.add_argument("--platforms", default="telegram,slack,whatsapp")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    random.seed(args.seed)
    fake = FakePlatform().start()
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(args.data_dir, data, ignore=shutil.ignore_patterns(
            "threads.sqlite*", "media", "models", "planner", "fashionm3-store.lock"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **fake.settings_env(), "FASHIONM3_DATA_DIR": str(data), "FASHIONM3_PLANNER": "rules",
               "FASHIONM3_PUBLIC_URL": url, "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the service did not start")
                time.sleep(0.3)
            for platform in args.platforms.split(","):
                latencies: list[float] = []

                async def drive(platform: str = platform, latencies: list[float] = latencies) -> float:
                    late: list[asyncio.Task[Any]] = []
                    limits = httpx.Limits(max_connections=args.chats * 2 + 10)
                    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as ac:
                        t0 = time.perf_counter()
                        await asyncio.gather(*[run_chat(ac, fake, platform, 10_000 + c, args.messages,
                                                        args.redeliver, latencies, late)
                                               for c in range(args.chats)])
                        wall = time.perf_counter() - t0
                        await asyncio.gather(*late)
                    await asyncio.sleep(2.5)  # let any (wrong) second reply arrive before counting
                    return wall

                wall = asyncio.run(drive())
                sent = args.chats * args.messages
                replies = [len(text_replies(fake, platform, 10_000 + c)) for c in range(args.chats)]
                duplicates = sum(max(0, n - args.messages) for n in replies)
                lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
                print(f"{platform:>8}: {args.chats} chats x {args.messages} messages, {args.redeliver:.0%} "
                      "redelivered: "
                      f"messages {sent}, replies sent {sum(min(n, args.messages) for n in replies)}, "
                      f"duplicates {duplicates}; webhook -> reply p50 {np.percentile(lat, 50):.0f} ms, "
                      f"p95 {np.percentile(lat, 95):.0f} ms; {sent / wall:.1f} messages/s")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            fake.stop()


if __name__ == "__main__":
    main()
