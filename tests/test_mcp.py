"""The MCP server through the official SDK client: in-process, over stdio (``fashionm3 mcp``) and over
Streamable HTTP (``fashionm3 serve``, behind API keys), plus the MCP Inspector's CLI from npm."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from PIL import Image
from service import Service, copy_data

import tools
from agent.context import Context

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
KEY = "mcp-test-key"


def png_b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def astronaut_b64() -> str:
    from skimage import data

    return png_b64(Image.fromarray(data.astronaut()))


def images_of(result: Any) -> list[Image.Image]:
    out = []
    for block in result.content:
        if block.type == "image":
            assert block.mime_type == "image/png"
            out.append(Image.open(io.BytesIO(base64.b64decode(block.data))))
    return out


def text_of(result: Any) -> str:
    return "\n".join(b.text for b in result.content if b.type == "text")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def mcp_data(catalog_settings: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder of its own (catalog and its index copied; threads, media and memory fresh)."""
    return copy_data(catalog_settings.data_dir, tmp_path_factory.mktemp("mcp") / "data")


@pytest.fixture(scope="module")
def local(mcp_data: Path) -> Any:
    from agent.mcp.server import create_local_server

    settings = Context(data_dir=str(mcp_data), user_id="mcp-default", planner="rules")
    return create_local_server(settings)


# -- in-process: the tool list, each tool, errors, chat ---------------------------------------------------


def test_every_registered_tool_is_listed_with_the_registry_schema_plus_chat_and_forget(local: Any) -> None:
    async def main() -> Any:
        async with Client(local) as client:
            return (await client.list_tools()).tools

    listed = {t.name: t for t in run(main())}
    registry = tools.discover()
    assert set(listed) == set(registry) | {"chat", "forget_user"}
    for name, cls in registry.items():
        assert listed[name].description == cls.description()
        props = listed[name].input_schema["properties"]
        assert set(props) == set(cls.args_schema()["properties"])
        assert listed[name].input_schema.get("required", []) == cls.args_schema().get("required", [])
    assert "base64" in listed["virtual_try_on"].input_schema["properties"]["person_image"]["description"]
    assert listed["chat"].input_schema["required"] == ["thread_id", "user_id", "message"]


def test_each_tool_answers_with_items_as_json_and_pictures_as_png(local: Any) -> None:
    photo = astronaut_b64()

    async def main() -> dict[str, Any]:
        async with Client(local) as client:
            out = {"search": await client.call_tool("search_catalog", {"categories": ["dress"], "limit": 3})}
            first = out["search"].structured_content["items"][0]
            out["alternatives"] = await client.call_tool("find_alternatives", {"item_id": first["id"], "cheaper": True})
            out["outfit"] = await client.call_tool("recommend_outfit", {"occasion": "office"})
            out["generate"] = await client.call_tool("generate_image", {"prompt": "a red dress"})
            out["try_on"] = await client.call_tool("virtual_try_on", {"item_id": "TOP-0001", "person_image": photo})
            out["recall"] = await client.call_tool("recall_outfit", {})
            return out

    out = run(main())
    search = out["search"]
    assert not search.is_error
    items = search.structured_content["items"]
    assert len(items) == 3 and all(i["category"] == "dress" for i in items)
    assert set(items[0]) >= {"id", "title", "category", "color", "price", "stock", "image"}
    assert items[0]["image"].startswith("file://") and items[0]["image"].endswith(f"{items[0]['id']}.png")
    thumbs = images_of(search)
    assert len(thumbs) == 3 and all(max(t.size) <= 256 for t in thumbs)
    alts = out["alternatives"].structured_content["items"]
    assert alts and all(a["price"] < items[0]["price"] for a in alts)
    assert out["outfit"].structured_content["is_outfit"] and len(out["outfit"].structured_content["items"]) >= 2
    generated = out["generate"]
    assert not generated.is_error and generated.structured_content["images"][0]["kind"] == "generated"
    assert images_of(generated)  # the picture itself, not a path
    try_on = out["try_on"]
    assert not try_on.is_error, text_of(try_on)
    picture = images_of(try_on)[0]
    assert max(picture.size) == 256  # the 512 px photo, sized for a chat
    assert out["recall"].is_error and "outfit" in text_of(out["recall"]).lower()


def test_bad_arguments_bad_images_and_unknown_media_ids_are_tool_errors_that_say_what_to_do(local: Any) -> None:
    async def main() -> dict[str, Any]:
        async with Client(local) as client:
            return {
                "limit": await client.call_tool("search_catalog", {"limit": 99}),
                "missing": await client.call_tool("find_alternatives", {}),
                "base64": await client.call_tool("virtual_try_on", {"item_id": "TOP-0001", "person_image": "%%%"}),
                "not_image": await client.call_tool("search_catalog", {"image": base64.b64encode(b"hello").decode()}),
                "media": await client.call_tool("virtual_try_on", {"item_id": "TOP-0001", "person_image": "a" * 64}),
                "user": await client.call_tool("chat", {"thread_id": "t", "user_id": "../x", "message": "hi"}),
                "thread": await client.call_tool("chat", {"thread_id": "no spaces", "user_id": "u", "message": "hi"}),
                "unknown": await client.call_tool("fly_to_the_moon", {}),
            }

    out = run(main())
    assert all(r.is_error for r in out.values())
    assert "limit" in text_of(out["limit"]) and "less than or equal to 20" in text_of(out["limit"])
    assert "item_id: Field required" in text_of(out["missing"])
    assert "neither base64 image data nor a media_id" in text_of(out["base64"])
    assert "not" in text_of(out["not_image"]).lower() and "image" in text_of(out["not_image"]).lower()
    assert "no uploaded image has media_id" in text_of(out["media"])
    assert "invalid user_id" in text_of(out["user"])
    assert "thread_id 'no spaces' is not valid" in text_of(out["thread"])
    assert "fly_to_the_moon" in text_of(out["unknown"]) and "search_catalog" in text_of(out["unknown"])


def test_chat_keeps_the_conversation_and_memory_per_user_and_forget_user_clears_it(local: Any) -> None:
    async def main() -> list[Any]:
        async with Client(local) as client:
            a = await client.call_tool("chat", {"thread_id": "mcp-t1", "user_id": "ana", "message": "show me dresses"})
            b = await client.call_tool("chat", {"thread_id": "mcp-t1", "user_id": "ana",
                                                "message": "something cheaper than the second one"})
            await client.call_tool("chat", {"thread_id": "mcp-t2", "user_id": "ana", "message": "I love navy"})
            known = await client.call_tool("chat", {"thread_id": "mcp-t3", "user_id": "ana",
                                                    "message": "what do you know about me?"})
            stranger = await client.call_tool("chat", {"thread_id": "mcp-t4", "user_id": "ben",
                                                       "message": "what do you know about me?"})
            forgot = await client.call_tool("forget_user", {"user_id": "ana"})
            return [a, b, known, stranger, forgot]

    from agent.nodes import memory_namespace

    assert local.store.search(memory_namespace("ana"), limit=10) == []
    a, b, known, stranger, forgot = run(main())
    shown = a.structured_content["items"]
    second = shown[1]
    cheaper = b.structured_content["items"]
    assert second["title"] in b.structured_content["text"]
    assert cheaper and all(i["price"] < second["price"] for i in cheaper)
    assert images_of(b)
    assert "you like navy" in known.structured_content["text"].lower()
    assert "you like navy" not in stranger.structured_content["text"].lower()
    assert forgot.structured_content["forgotten"] >= 1
    assert local.store.search(memory_namespace("ana"), limit=10) == []


# -- over stdio: a real `fashionm3 mcp` subprocess ---------------------------------------------------------


def stdio_params(data: Path) -> StdioServerParameters:
    env = {"FASHIONM3_DATA_DIR": str(data), "FASHIONM3_PLANNER": "rules", "HF_HUB_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return StdioServerParameters(command=sys.executable, args=["-m", "agent.cli", "mcp"], env=env, cwd=str(ROOT))


def test_the_stdio_server_lists_calls_and_chats(mcp_data: Path, tmp_path: Path) -> None:
    data = copy_data(mcp_data, tmp_path / "data")

    async def main() -> list[Any]:
        async with Client(stdio_params(data), read_timeout_seconds=120) as client:
            listed = await client.list_tools()
            search = await client.call_tool("search_catalog", {"categories": ["bag"], "limit": 2})
            first = await client.call_tool("chat", {"thread_id": "s1", "user_id": "bo", "message": "show me dresses"})
            second = await client.call_tool("chat", {"thread_id": "s1", "user_id": "bo",
                                                     "message": "something cheaper than the second one"})
            bad = await client.call_tool("search_catalog", {"max_price": -5})
            return [listed, search, first, second, bad]

    listed, search, first, second, bad = run(main())
    assert {t.name for t in listed.tools} == set(tools.discover()) | {"chat", "forget_user"}
    assert [i["category"] for i in search.structured_content["items"]] == ["bag", "bag"]
    assert len(images_of(search)) == 2
    second_item = first.structured_content["items"][1]
    assert second.structured_content["items"]
    assert all(i["price"] < second_item["price"] for i in second.structured_content["items"])
    assert bad.is_error and "max_price" in text_of(bad)


# -- over Streamable HTTP: a real `fashionm3 serve`, behind API keys ----------------------------------------


@pytest.fixture(scope="module")
def keyed_service(mcp_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = copy_data(mcp_data, tmp_path_factory.mktemp("mcp-http") / "data")
    svc = Service(data, env={"FASHIONM3_API_KEYS": KEY})
    svc.start()
    yield svc
    svc.stop()


def http_client(url: str, key: str | None) -> Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=120))
    return Client(transport, read_timeout_seconds=120)


def test_the_http_endpoint_needs_a_key_when_keys_are_set(keyed_service: Service) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream"}
    refused = httpx.post(keyed_service.url + "/mcp", json=init, headers=headers)
    assert refused.status_code == 401 and "Authorization: Bearer" in refused.json()["error"]["message"]
    wrong = httpx.post(keyed_service.url + "/mcp", json=init, headers={**headers, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401

    async def main() -> None:
        async with http_client(keyed_service.url + "/mcp", None) as client:
            await client.list_tools()

    with pytest.raises(BaseException):  # noqa: B017 - the SDK surfaces the 401 as a transport error group
        run(main())


def test_the_http_endpoint_lists_calls_takes_media_ids_and_chats(keyed_service: Service) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    media_id = httpx.post(keyed_service.url + "/v1/media", files={"file": ("me.png", buf.getvalue(), "image/png")},
                          headers=auth).json()["media_id"]

    async def main() -> list[Any]:
        async with http_client(keyed_service.url + "/mcp", KEY) as client:
            listed = await client.list_tools()
            search = await client.call_tool("search_catalog", {"categories": ["sneakers"], "limit": 2})
            try_on = await client.call_tool("virtual_try_on", {"item_id": "TOP-0002", "person_image": media_id})
            first = await client.call_tool("chat", {"thread_id": "h1", "user_id": "cy", "message": "show me dresses"})
            second = await client.call_tool("chat", {"thread_id": "h1", "user_id": "cy",
                                                     "message": "something cheaper than the second one"})
            other = await client.call_tool("chat", {"thread_id": "h1", "user_id": "mallory", "message": "hi"})
            return [listed, search, try_on, first, second, other]

    listed, search, try_on, first, second, other = run(main())
    assert {t.name for t in listed.tools} >= {"search_catalog", "virtual_try_on", "chat", "forget_user"}
    items = search.structured_content["items"]
    assert [i["category"] for i in items] == ["sneakers", "sneakers"]
    assert items[0]["image"].startswith("/v1/media/")
    served = httpx.get(keyed_service.url + items[0]["image"])  # media URLs need no key, as in the HTTP API
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert len(images_of(search)) == 2
    assert not try_on.is_error, text_of(try_on)
    assert images_of(try_on) and try_on.structured_content["images"][0]["url"].startswith("/v1/media/")
    second_item = first.structured_content["items"][1]
    assert second.structured_content["items"]
    assert all(i["price"] < second_item["price"] for i in second.structured_content["items"])
    assert other.is_error and "belongs to another user" in text_of(other)


# -- a client this team did not write: the MCP Inspector's CLI (npm) ---------------------------------------

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


def test_the_mcp_inspector_cli_lists_tools_and_gets_an_image(keyed_service: Service, tmp_path: Path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        if os.environ.get("CI"):
            pytest.fail("npx (Node.js) is required in CI for the MCP Inspector test: apt-get install nodejs npm")
        pytest.skip("npx is not installed (Node.js and npm): the MCP Inspector CLI test needs it")
    base = [npx, "-y", INSPECTOR, "--cli", keyed_service.url + "/mcp", "--transport", "http",
            "--header", f"Authorization: Bearer {KEY}"]
    env = {**os.environ, "npm_config_yes": "true", "NO_UPDATE_NOTIFIER": "1"}
    listed = subprocess.run([*base, "--method", "tools/list"], capture_output=True, text=True, timeout=300,
                            env=env, cwd=tmp_path)
    if listed.returncode != 0 and "ENOTFOUND" in listed.stderr + listed.stdout and not os.environ.get("CI"):
        pytest.skip(f"the npm registry is not reachable: {listed.stderr[-300:]}")
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = {t["name"] for t in json.loads(listed.stdout)["tools"]}
    assert names >= {"search_catalog", "recommend_outfit", "find_alternatives", "generate_image",
                     "virtual_try_on", "chat", "forget_user"}
    called = subprocess.run([*base, "--method", "tools/call", "--tool-name", "search_catalog",
                             "--tool-arg", "query=red dress", "limit=1"],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert called.returncode == 0, called.stderr[-2000:]
    result = json.loads(called.stdout)
    kinds = [c["type"] for c in result["content"]]
    assert "image" in kinds and result["content"][kinds.index("image")]["mimeType"] == "image/png"
    assert result["structuredContent"]["items"][0]["category"] == "dress"
    (ROOT / "out").mkdir(exist_ok=True)
    (ROOT / "out" / "inspector.txt").write_text(
        f"$ inspector --cli URL --transport http --method tools/list\n{listed.stdout}\n"
        f"$ ... --method tools/call --tool-name search_catalog --tool-arg 'query=red dress' limit=1\n"
        f"{called.stdout}\n")
