"""Scale-out: two service processes on one PostgreSQL and one Chroma server (real engines, loopback only)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from postgres_server import PostgresCluster
from service import Service, copy_data

from agent.context import Context

try:
    from chroma_server import chroma_server  # noqa: F401 - fixture
except ImportError:  # pragma: no cover - run from the repository root
    from tests.chroma_server import chroma_server  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def pair(pg: PostgresCluster, chroma_server: str, catalog_settings: Context,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service]]:
    data = copy_data(catalog_settings.data_dir, tmp_path_factory.mktemp("scale") / "data")
    env = {"FASHIONM3_POSTGRES_URL": pg.url, "FASHIONM3_CHROMA_URL": chroma_server,
           "FASHIONM3_TURN_LEASE_SECONDS": "3", "FASHIONM3_TURN_WORKERS": "2"}
    a = Service(data, env=env).start()
    b = Service(data, env=env).start()
    yield a, b
    a.stop()
    b.stop()


def turn(svc: Service, thread: str, text: str, user: str = "u-scale", **kw: Any) -> httpx.Response:
    return httpx.post(f"{svc.url}/v1/threads/{thread}/turns", json={"user_id": user, "text": text}, timeout=60, **kw)


def rows(pg: PostgresCluster, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(pg.url) as conn:
        return conn.execute(sql, args).fetchall()


def test_a_conversation_alternating_between_processes_keeps_its_state(pair: tuple[Service, Service]) -> None:
    a, b = pair
    first = turn(a, "alt-1", "show me dresses").json()
    second_item = first["items"][1]
    cheaper = turn(b, "alt-1", "something cheaper than the second one").json()
    assert cheaper["turn"] == 2 and cheaper["calls"][0]["args"]["item_id"] == second_item["id"]
    assert all(i["price"] < second_item["price"] for i in cheaper["items"])
    assert turn(a, "alt-1", "I love navy").status_code == 200
    facts = httpx.get(f"{b.url}/v1/users/u-scale/memory").json()["facts"]
    assert ("color", "navy") in {(f["kind"], f["value"]) for f in facts}
    state = httpx.get(f"{b.url}/v1/threads/alt-1").json()
    assert [m["role"] for m in state["messages"]] == ["user", "assistant"] * 3


def test_two_turns_of_one_thread_through_two_processes_run_in_order(pair: tuple[Service, Service]) -> None:
    a, b = pair

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as ac:
            async def send(svc: Service, text: str, delay: float) -> httpx.Response:
                await asyncio.sleep(delay)
                return await ac.post(f"{svc.url}/v1/threads/both-1/turns", json={"user_id": "u2", "text": text})
            return list(await asyncio.gather(send(a, "show me red dresses", 0.0),
                                             send(b, "an outfit for a wedding", 0.05)))

    r1, r2 = asyncio.run(main())
    assert r1.status_code == r2.status_code == 200
    assert (r1.json()["turn"], r2.json()["turn"]) == (1, 2)
    state = httpx.get(f"{a.url}/v1/threads/both-1").json()
    assert [m["text"] for m in state["messages"] if m["role"] == "user"] == ["show me red dresses",
                                                                           "an outfit for a wedding"]
    assert len(state["messages"]) == 4  # no lost update of the checkpoint


def test_an_idempotency_key_replayed_to_the_other_process_runs_nothing(
        pair: tuple[Service, Service], pg: PostgresCluster) -> None:
    a, b = pair
    first = turn(a, "idem-x", "show me black bags", headers={"Idempotency-Key": "k-1"})
    again = turn(b, "idem-x", "show me black bags", headers={"Idempotency-Key": "k-1"})
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["turn_id"] == again.json()["turn_id"] and first.json()["text"] == again.json()["text"]
    assert rows(pg, "SELECT count(*) FROM fm3_turns WHERE thread_id = %s", "idem-x") == [(1,)]
    # concurrently, to both processes at once: still one turn
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as ac:
            return list(await asyncio.gather(*[
                ac.post(f"{svc.url}/v1/threads/idem-y/turns", json={"user_id": "u", "text": "show me shirts"},
                        headers={"Idempotency-Key": "k-2"}) for svc in (a, b, a, b)]))
    ids = {r.json()["turn_id"] for r in asyncio.run(main())}
    assert len(ids) == 1 and rows(pg, "SELECT count(*) FROM fm3_turns WHERE thread_id = %s", "idem-y") == [(1,)]


def test_a_killed_process_leaves_its_turns_to_the_other_one_answered_once(
        pair: tuple[Service, Service], pg: PostgresCluster) -> None:
    a, b = pair
    assert a.process is not None
    pid = a.process.pid
    texts = ["show me red dresses", "something cheaper than the first one", "an outfit for a wedding"]
    threads = [f"kill-{n}" for n in range(8)]
    with httpx.Client(base_url=a.url, timeout=30) as c:
        for k, text in enumerate(texts):
            for t in threads:
                r = c.post(f"/v1/threads/{t}/turns", json={"user_id": t, "text": text},
                           headers={"Prefer": "respond-async", "Idempotency-Key": f"{t}-{k}"})
                assert r.status_code == 202
    deadline = time.monotonic() + 20
    while not rows(pg, "SELECT count(*) FROM fm3_turns WHERE status='running' AND owner LIKE %s", f"{pid}-%")[0][0]:
        assert time.monotonic() < deadline, "process A never held a turn"
        time.sleep(0.005)
    a.kill()
    held = rows(pg, "SELECT id FROM fm3_turns WHERE status='running' AND owner LIKE %s", f"{pid}-%")
    with httpx.Client(base_url=b.url, timeout=60) as c:
        for t in threads:
            state = c.get(f"/v1/threads/{t}").json()
            deadline = time.monotonic() + 90
            while any(x["status"] != "done" for x in state["turns"]):
                assert time.monotonic() < deadline, state["turns"]
                time.sleep(0.2)
                state = c.get(f"/v1/threads/{t}").json()
            assert [m["text"] for m in state["messages"] if m["role"] == "user"] == texts, t
            assert [x["response"]["turn"] for x in state["turns"]] == [1, 2, 3]
    for (turn_id,) in held:  # what A held was taken over by B after A's lease ran out
        [(status, attempts, owner)] = rows(pg, "SELECT status, attempts, owner FROM fm3_turns WHERE id=%s", turn_id)
        assert status == "done" and attempts == 2 and not owner.startswith(f"{pid}-")
    a.start()


def test_the_service_says_when_postgres_is_down_and_recovers(
        pair: tuple[Service, Service], pg: PostgresCluster) -> None:
    a, _ = pair
    assert turn(a, "pg-1", "show me shirts").status_code == 200
    pg.stop()
    try:
        ready = httpx.get(f"{a.url}/readyz", timeout=30)
        assert ready.status_code == 503 and "database is unreachable" in ready.json()["checks"]["queue"]
        down = turn(a, "pg-1", "show me coats")
        assert down.status_code == 503 and "Nothing was accepted" in down.json()["error"]["message"]
    finally:
        pg.start()
    pg.wait_ready()
    deadline = time.monotonic() + 60
    while httpx.get(f"{a.url}/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    again = turn(a, "pg-1", "show me coats")
    assert again.status_code == 200 and again.json()["turn"] == 2


def test_workers_above_one_need_shared_storage(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "FASHIONM3_DATA_DIR": str(tmp_path), "COLUMNS": "300"}
    out = subprocess.run([sys.executable, "-m", "agent.cli", "serve", "--workers", "2"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.returncode == 2
    assert "set FASHIONM3_POSTGRES_URL and FASHIONM3_CHROMA_URL" in out.stderr


def test_a_database_down_at_start_keeps_readyz_failing_until_it_is_back(
        pg: PostgresCluster, chroma_server: str, catalog_settings: Context, tmp_path: Path) -> None:
    data = copy_data(catalog_settings.data_dir, tmp_path / "data")
    svc = Service(data, env={"FASHIONM3_POSTGRES_URL": pg.url, "FASHIONM3_CHROMA_URL": chroma_server})
    pg.stop()
    try:
        svc.start(wait=False)
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, svc.log_tail()
            try:
                r = httpx.get(f"{svc.url}/readyz", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.3)
                continue
            if r.status_code == 503 and r.json()["checks"].get("checkpoints", "").startswith("failed"):
                break
            time.sleep(0.3)
        assert "unreachable" in r.json()["checks"]["queue"]
    finally:
        pg.start()
    pg.wait_ready()
    svc.wait_ready(timeout=120)
    assert turn(svc, "late-start", "show me shirts").status_code == 200
    svc.stop()
