"""The exported graph under LangGraph Server (``langgraph dev``, offline) driven by the official langgraph-sdk.

The server supplies its own checkpointer; ``langgraph.json`` gives it our Chroma preference store
(``agent.services.server_store``), so memory persists across threads as in the CLI and the service.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from service import copy_data, free_port

from agent.context import Context

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


class DevServer:
    def __init__(self, workdir: Path, data: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "langgraph-dev.log"
        self.data = data
        exe = Path(sys.executable).parent / "langgraph"
        cli = str(exe) if exe.exists() else shutil.which("langgraph")
        if cli is None:
            raise FileNotFoundError("langgraph")
        # a working copy of the project, so the server's own files (.langgraph_api/) stay out of the repository
        shutil.copy(ROOT / "langgraph.json", workdir / "langgraph.json")
        shutil.copy(ROOT / "graph.py", workdir / "graph.py")
        env = {**os.environ, "FASHIONM3_DATA_DIR": str(data), "FASHIONM3_PLANNER": "rules",
               "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false", "OMP_NUM_THREADS": "1",
               "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([cli, "dev", "--no-browser", "--no-reload", "--port", str(self.port)],
                                         cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"langgraph dev exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/ok", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"langgraph dev not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def dev_server(catalog_settings: Context, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    work = tmp_path_factory.mktemp("langgraph-dev")
    data = copy_data(catalog_settings.data_dir, work / "data")
    try:
        server = DevServer(work, data)
    except FileNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("the `langgraph` CLI (langgraph-cli[inmem], a dev dependency) is required in CI")
        pytest.skip("the `langgraph` CLI is not installed: pip install -e '.[dev]' (langgraph-cli[inmem])")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def test_two_turns_a_stream_a_photo_and_the_thread_state_through_langgraph_sdk(dev_server: DevServer) -> None:
    from langgraph_sdk import get_client
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    photo = base64.b64encode(buf.getvalue()).decode()

    async def main() -> dict[str, Any]:
        client = get_client(url=dev_server.url)
        thread = (await client.threads.create())["thread_id"]
        ctx = {"user_id": "lg-ana"}
        first = await client.runs.wait(thread, "fashionm3", input=user("show me dresses"), context=ctx)
        second = await client.runs.wait(thread, "fashionm3", input=user("something cheaper than the second one"),
                                        context=ctx)
        with_photo = await client.runs.wait(thread, "fashionm3", context=ctx, input={
            **user("try TOP-0001 on me"), "attachments": [{"data_base64": photo, "name": "me.png"}]})
        parts = [(p.event, p.data) async for p in client.runs.stream(
            thread, "fashionm3", input=user("show me bags"), context=ctx, stream_mode=["updates", "custom"])]
        state = await client.threads.get_state(thread)
        return {"first": first, "second": second, "parts": parts, "photo": with_photo, "state": state}

    out = asyncio.run(main())
    shown = out["first"]["response"]["items"]
    assert [i["category"] for i in shown] == ["dress"] * len(shown) and len(shown) >= 2
    second_item = shown[1]
    cheaper = out["second"]["response"]["items"]
    assert second_item["title"] in out["second"]["response"]["text"]
    assert cheaper and all(i["price"] < second_item["price"] for i in cheaper)
    custom = [d for e, d in out["parts"] if e == "custom"]
    assert [c["event"] for c in custom][:3] == ["plan", "tool_start", "tool_end"]
    assert custom[0]["calls"][0]["tool"] == "search_catalog"
    assert any(c["event"] == "items" and c["items"][0]["category"] == "bag" for c in custom)
    updated = [next(iter(d)) for e, d in out["parts"] if e == "updates"]
    assert updated[:2] == ["ingest", "recall"] and "respond" in updated
    photo_turn = out["photo"]["response"]
    assert photo_turn["tools"] == ["virtual_try_on"] and photo_turn["images"], photo_turn["text"]
    values = out["state"]["values"]
    assert values["turn"] == 4
    assert [img["role"] for img in values["images"] if img["kind"] == "upload"] == ["person"]
    assert [m["type"] for m in values["messages"]].count("human") == 4


def test_preferences_persist_across_threads_in_the_chroma_store(dev_server: DevServer) -> None:
    from langgraph_sdk import get_client

    from agent.memory import user_namespace

    async def main() -> tuple[Any, Any, Any, Any]:
        client = get_client(url=dev_server.url)
        one, two, three = [(await client.threads.create())["thread_id"] for _ in range(3)]
        await client.runs.wait(one, "fashionm3", input=user("I love navy"), context={"user_id": "lg-ben"})
        known = await client.runs.wait(two, "fashionm3", input=user("what do you know about me?"),
                                       context={"user_id": "lg-ben"})
        stranger = await client.runs.wait(three, "fashionm3", input=user("what do you know about me?"),
                                          context={"user_id": "lg-cy"})
        stored = await client.store.search_items(list(user_namespace("lg-ben")))
        return known, stranger, stored, None

    known, stranger, stored, _ = asyncio.run(main())
    assert "you like navy" in known["response"]["text"].lower()
    assert "you like navy" not in stranger["response"]["text"].lower()
    assert [(i["value"]["kind"], i["value"]["value"]) for i in stored["items"]] == [("color", "navy")]
    # the server's store is ours (langgraph.json), on the data folder's Chroma, not its in-memory default
    log = re.sub(r"\x1b\[[0-9;]*m", "", dev_server.log.read_text(errors="replace"))
    assert f"Using custom store: ChromaStore(path='{dev_server.data / 'chroma'}'" in log
