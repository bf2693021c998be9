"""The HTTP service, as a real ``fashionm3 serve`` process on loopback driven over HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from service import Service, copy_data

from agent.context import Context

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(catalog_settings: Context, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = copy_data(catalog_settings.data_dir, tmp_path_factory.mktemp("serve") / "data")
    svc = Service(data, env={"FASHIONM3_MAX_REQUEST_BYTES": "3000000", "FASHIONM3_MAX_UPLOAD_BYTES": "2000000"})
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture()
def client(server: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def turn(client: httpx.Client, thread: str, text: str, user: str = "u-serve", **kw: Any) -> httpx.Response:
    body = {"user_id": user, "text": text, **kw.pop("body", {})}
    return client.post(f"/v1/threads/{thread}/turns", json=body, **kw)


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: int = 96) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


def sse_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.split("\n\n"):
        name, data = "", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        if name:
            events.append((name, json.loads(data)))
    return events


def test_a_turn_over_http_then_a_follow_up_on_the_same_thread(client: httpx.Client) -> None:
    r = turn(client, "http-1", "show me red dresses")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["thread"] == "http-1" and body["turn"] == 1 and body["tools"] == ["search_catalog"]
    assert body["items"] and all(i["category"] == "dress" and i["color"] == "red" for i in body["items"])
    first = body["items"][0]
    img = client.get(first["image"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert "immutable" in img.headers["cache-control"]
    assert Image.open(io.BytesIO(img.content)).size[0] > 0
    r = turn(client, "http-1", "something cheaper than the first one")
    body = r.json()
    assert body["turn"] == 2 and body["calls"][0]["args"]["item_id"] == first["id"]
    assert body["items"] and all(i["price"] < first["price"] for i in body["items"])
    thread = client.get("/v1/threads/http-1").json()
    assert [t["text"] for t in thread["turns"]] == ["show me red dresses", "something cheaper than the first one"]
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant", "user", "assistant"]
    assert {s["id"] for s in thread["shown"]} >= {first["id"]}


def test_a_turn_streams_progress_as_server_sent_events(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/threads/sse-1/turns", json={"user_id": "u-sse", "text": "show me white sneakers"},
                       headers={"Accept": "text/event-stream"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = sse_events(raw)
    names = [n for n, _ in events]
    assert names[0] == "accepted" and names[-1] == "final"
    assert names.index("plan") < names.index("tool_start") < names.index("tool_end") < names.index("items")
    plan = dict(events)["plan"]
    assert plan["calls"][0]["tool"] == "search_catalog"
    items = dict(events)["items"]["items"]
    assert items and all(i["image"].startswith("http://127.0.0.1") for i in items)
    final = dict(events)["final"]["response"]
    assert [i["id"] for i in final["items"]] == [i["id"] for i in items]
    # the same answer is readable afterwards
    again = client.get(f"/v1/threads/sse-1/turns/{final['turn_id']}").json()
    assert again["text"] == final["text"]
    # the /turns/stream route is the same thing
    with client.stream("POST", "/v1/threads/sse-1/turns/stream",
                       json={"user_id": "u-sse", "text": "the second one in black"}) as r:
        names = [n for n, _ in sse_events("".join(r.iter_text()))]
    assert names[0] == "accepted" and names[-1] == "final"


def test_a_client_that_disconnects_does_not_cancel_the_turn(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/threads/gone-1/turns", json={"user_id": "u-gone", "text": "show me navy coats"},
                       headers={"Accept": "text/event-stream"}) as r:
        lines = r.iter_lines()
        assert next(lines) == "event: accepted"
        turn_id = json.loads(next(lines)[6:])["turn_id"]
    done = client.get(f"/v1/threads/gone-1/turns/{turn_id}", params={"wait": 30})
    assert done.status_code == 200 and done.json()["items"]


def test_an_idempotency_key_replays_the_first_answer_and_never_runs_twice(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "msg-1"}
    a = turn(client, "idem-1", "show me black bags", headers=headers)
    b = turn(client, "idem-1", "show me black bags", headers=headers)
    assert a.status_code == b.status_code == 200
    assert b.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in a.headers
    assert a.json()["turn_id"] == b.json()["turn_id"] and a.json()["text"] == b.json()["text"]
    # message_id in the body works like the header
    c = turn(client, "idem-1", "show me black bags", body={"message_id": "msg-1"})
    assert c.json()["turn_id"] == a.json()["turn_id"]
    # the same key for a different message is refused, nothing recorded
    d = turn(client, "idem-1", "show me red bags", headers=headers)
    assert d.status_code == 422 and d.json()["error"]["code"] == "idempotency_key_reused"
    thread = client.get("/v1/threads/idem-1").json()
    assert len(thread["turns"]) == 1 and len(thread["messages"]) == 2


def test_concurrent_retries_with_one_key_run_one_turn(server: Service) -> None:
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as ac:
            return await asyncio.gather(*[
                ac.post("/v1/threads/idem-2/turns", json={"user_id": "u", "text": "an outfit for a party"},
                        headers={"Idempotency-Key": "same"}) for _ in range(6)])

    responses = asyncio.run(main())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert len({r.json()["turn_id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 5
    thread = httpx.get(f"{server.url}/v1/threads/idem-2").json()
    assert len(thread["turns"]) == 1 and len(thread["messages"]) == 2


def test_turns_of_one_thread_run_in_arrival_order_while_threads_run_concurrently(server: Service) -> None:
    texts = ["show me red dresses", "something cheaper than the first one", "show me white sneakers",
             "the second one in black", "an outfit for a wedding"]

    async def conversation(ac: httpx.AsyncClient, thread: str) -> list[str]:
        accepted = []
        for text in texts:  # sent back to back, without waiting for answers
            r = await ac.post(f"/v1/threads/{thread}/turns", json={"user_id": f"u-{thread}", "text": text},
                              headers={"Prefer": "respond-async"})
            assert r.status_code == 202, r.text
            accepted.append(r.json()["turn_id"])
        return accepted

    async def main() -> dict[str, list[str]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as ac:
            threads = [f"order-{n}" for n in range(6)]
            ids = await asyncio.gather(*[conversation(ac, t) for t in threads])
            return dict(zip(threads, ids, strict=True))

    accepted = asyncio.run(main())
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for thread, turn_ids in accepted.items():
            numbers = [c.get(f"/v1/threads/{thread}/turns/{t}", params={"wait": 60}).json()["turn"] for t in turn_ids]
            assert numbers == [1, 2, 3, 4, 5], (thread, numbers)
            state = c.get(f"/v1/threads/{thread}").json()
            assert [m["text"] for m in state["messages"] if m["role"] == "user"] == texts


def test_a_photo_uploaded_as_media_anchors_a_turn_and_is_served(
        client: httpx.Client, catalog_settings: Context) -> None:
    from agent.services import open_catalog

    cat = open_catalog(catalog_settings)
    item = next(i for i in cat.items.values() if i.category == "ankle_boots")
    path = cat.image_path(item)
    assert path is not None
    up = client.post("/v1/media", files={"file": ("boots.png", path.read_bytes(), "image/png")})
    assert up.status_code == 200, up.text
    media = up.json()
    assert len(media["media_id"]) == 64 and client.get(media["url"]).status_code == 200
    r = turn(client, "photo-1", "what goes with this?", body={"images": [{"media_id": media["media_id"]}]})
    body = r.json()
    assert r.status_code == 200 and body["tools"] == ["recommend_outfit"] and body["items"], body
    # inline base64 works too and is stored once, content-addressed
    r = turn(client, "photo-2", "anything like this?",
             body={"images": [{"data_base64": base64.b64encode(path.read_bytes()).decode(), "name": "b.png"}]})
    assert r.status_code == 200 and r.json()["items"]
    thread = client.get("/v1/threads/photo-2").json()
    assert thread["turns"][0]["media_ids"] == [media["media_id"]]


def test_memory_can_be_read_and_forgotten_over_http(client: httpx.Client) -> None:
    assert turn(client, "mem-1", "I love navy and I never wear leather", user="u-mem").status_code == 200
    facts = client.get("/v1/users/u-mem/memory").json()["facts"]
    values = {(f["kind"], f["value"], f["polarity"]) for f in facts}
    assert ("color", "navy", "like") in values and ("material", "leather", "dislike") in values
    one = facts[0]["id"]
    assert client.delete(f"/v1/users/u-mem/memory/{one}").json()["forgotten"] == 1
    again = client.delete(f"/v1/users/u-mem/memory/{one}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert client.delete("/v1/users/u-mem/memory").json()["forgotten"] == len(facts) - 1
    assert client.get("/v1/users/u-mem/memory").json()["facts"] == []
    # another user's memory is untouched and separate
    assert client.get("/v1/users/u-other/memory").json()["facts"] == []


def test_health_readiness_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and set(ready["checks"]) >= {"catalog", "planner", "store", "queue"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/threads/{thread_id}/turns", "/v1/media", "/v1/users/{user_id}/memory", "/readyz"} <= set(paths)


BAD = [
    ("malformed JSON", dict(content=b'{"user_id": "u1", "text": ', headers={"content-type": "application/json"}),
     400, "malformed_json"),
    ("missing user_id", dict(json={"text": "hi"}), 422, "validation_error"),
    ("empty message, no image", dict(json={"user_id": "u1", "text": "   "}), 400, "bad_request"),
    ("unknown media_id", dict(json={"user_id": "u1", "text": "hi", "images": [{"media_id": "a" * 64}]}), 404,
     "not_found"),
    ("bad base64", dict(json={"user_id": "u1", "text": "hi", "images": [{"data_base64": "@@@not base64"}]}), 400,
     "bad_request"),
    ("not an image", dict(json={"user_id": "u1", "text": "hi", "images": [
        {"data_base64": base64.b64encode(b"%PDF-1.4 hello").decode(), "name": "cv.pdf"}]}), 415,
     "unsupported_media_type"),
    ("invalid user id", dict(json={"user_id": "../etc", "text": "hi"}), 400, "bad_request"),
    ("unknown field", dict(json={"user_id": "u1", "text": "hi", "colour": "red"}), 422, "validation_error"),
]


@pytest.mark.parametrize(("what", "request_kw", "status", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_turn_requests_get_a_clear_json_error_and_record_nothing(
        client: httpx.Client, what: str, request_kw: dict[str, Any], status: int, code: str) -> None:
    thread = f"bad-{abs(hash(what)) % 10**8}"
    r = client.post(f"/v1/threads/{thread}/turns", **request_kw)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and len(err["message"]) > 20 and "Traceback" not in r.text
    assert client.get(f"/v1/threads/{thread}").status_code == 404  # nothing half-written
    assert turn(client, f"ok-{thread}", "show me a shirt").status_code == 200  # and the server keeps serving


def test_oversized_bodies_odd_thread_ids_and_traversal_are_refused(client: httpx.Client) -> None:
    big = client.post("/v1/threads/big-1/turns", content=b"{" + b" " * 3_500_000 + b"}",
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"

    def chunks():  # no Content-Length: counted while it streams in
        for _ in range(40):
            yield b" " * 100_000

    chunked = client.post("/v1/threads/big-2/turns", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "too_large"
    up = client.post("/v1/media", files={"file": ("huge.png", png_bytes(size=2000) + b"\0" * 2_100_000)})
    assert up.status_code == 413 and "limit" in up.json()["error"]["message"]
    junk = client.post("/v1/media", files={"file": ("notes.txt", b"just text", "text/plain")})
    assert junk.status_code == 415
    for thread in ["a b", "-dash-first", "x" * 200, "semi;colon"]:
        r = client.post(f"/v1/threads/{thread}/turns", json={"user_id": "u1", "text": "hi"})
        assert r.status_code in (400, 404) and r.json()["error"]["code"] in ("bad_request", "not_found"), thread
    for path in ["/v1/media/..%2F..%2Fetc%2Fpasswd", "/v1/media/../../etc/passwd", "/v1/media/%2e%2e/threads.sqlite",
                 "/v1/media/" + "0" * 64 + ".png", "/static/../threads.sqlite"]:
        r = client.get(path)
        assert r.status_code == 404 and b"root:" not in r.content and b"SQLite" not in r.content, path
    assert client.get("/v1/threads/never-seen").status_code == 404
    assert client.get("/v1/threads/http-1/turns/turn-nope").status_code == 404


def test_a_thread_belongs_to_its_first_user(client: httpx.Client) -> None:
    assert turn(client, "owned-1", "show me a shirt", user="alice").status_code == 200
    r = turn(client, "owned-1", "show me a shirt", user="mallory")
    assert r.status_code == 409 and r.json()["error"]["code"] == "thread_owner"


def test_api_keys_are_required_when_set(catalog_settings: Context, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from agent.serve.app import create_app

    data = copy_data(catalog_settings.data_dir, tmp_path / "data")
    settings = catalog_settings.with_(data_dir=str(data), api_keys="k-one, k-two")
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/threads/t/turns", json={"user_id": "u", "text": "hi"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        r = c.get("/v1/users/u/memory", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = c.get("/v1/users/u/memory", headers={"Authorization": "Bearer ключ".encode()})  # not ASCII: 401, not 500
        assert r.status_code == 401
        deadline = time.monotonic() + 60
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.get("/v1/users/u/memory", headers={"Authorization": "Bearer k-two"}).status_code == 200
        assert c.get("/healthz").status_code == 200


def test_busy_policy_reject_refuses_a_second_message_while_one_runs(catalog_settings: Context, tmp_path: Path) -> None:
    from agent.serve.queue import SqliteTurnQueue, ThreadBusyError

    q = SqliteTurnQueue(tmp_path / "q.sqlite")
    q.enqueue("t", "u", {"text": "one", "media_ids": []})
    with pytest.raises(ThreadBusyError, match="still answering"):
        q.enqueue("t", "u", {"text": "two", "media_ids": []}, busy_policy="reject")
    q.enqueue("t", "u", {"text": "two", "media_ids": []})
    with pytest.raises(ThreadBusyError, match="2 messages waiting"):
        q.enqueue("t", "u", {"text": "three", "media_ids": []}, max_pending=2)
    first = q.claim_next("w")
    assert first is not None and first.request["text"] == "one"
    assert q.claim_next("w") is None  # the thread's next turn waits for the running one
    q.finish(first.id, "done", {"text": "ok"})
    second = q.claim_next("w")
    assert second is not None and second.request["text"] == "two"


@pytest.mark.slow
def test_accepted_turns_survive_a_kill_9_and_are_answered_exactly_once(
        catalog_settings: Context, tmp_path: Path) -> None:
    data = copy_data(catalog_settings.data_dir, tmp_path / "data")
    svc = Service(data, env={"FASHIONM3_TURN_WORKERS": "2"})
    svc.start()
    texts = ["show me red dresses", "something cheaper than the first one", "an outfit for a wedding",
             "show me white sneakers"]
    accepted: dict[str, list[str]] = {}
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            for n in range(8):
                thread = f"crash-{n}"
                for k, text in enumerate(texts):
                    r = c.post(f"/v1/threads/{thread}/turns", json={"user_id": f"u{n}", "text": text},
                               headers={"Prefer": "respond-async", "Idempotency-Key": f"{thread}-{k}"})
                    assert r.status_code == 202
                    accepted.setdefault(thread, []).append(r.json()["turn_id"])
            statuses = [t["status"] for t in c.get("/v1/threads/crash-7").json()["turns"]]
        svc.kill()  # mid-run: most turns are still queued or running
        assert "queued" in statuses or "running" in statuses, statuses
        svc.start()
        with httpx.Client(base_url=svc.url, timeout=60) as c:
            # a client retry with the same key after the restart gets the same turn
            retry = c.post("/v1/threads/crash-0/turns", json={"user_id": "u0", "text": texts[0]},
                           headers={"Idempotency-Key": "crash-0-0"})
            assert retry.status_code == 200 and retry.json()["turn_id"] == accepted["crash-0"][0]
            for thread, ids in accepted.items():
                numbers = [c.get(f"/v1/threads/{thread}/turns/{t}", params={"wait": 60}).json()["turn"] for t in ids]
                assert numbers == [1, 2, 3, 4], (thread, numbers)
                state = c.get(f"/v1/threads/{thread}").json()
                assert [m["text"] for m in state["messages"] if m["role"] == "user"] == texts, thread
                assert [m["role"] for m in state["messages"]] == ["user", "assistant"] * 4
    finally:
        svc.stop()
