"""Planner backends for full-size models: an OpenAI-compatible server (fake, on loopback) and transformers."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from agent.context import Context
from agent.plan import ImageInfo, Plan, PlannerInput, ShownItem, ToolResultView
from agent.planners import available_planners, get_planner
from agent.planners.base import Planner
from agent.planners.llm_common import PlanError, extract_json_values, plan_from_output, system_prompt, tool_specs
from agent.planners.openai_backend import OpenAIPlanner, PlannerServerError, PlannerUnavailableError
from agent.planners.rules import RulesPlanner
from tools import discover

TOOLS: dict[str, dict[str, Any]] = {name: cls.args_schema() for name, cls in discover().items()}
SHOWN = [
    ShownItem(id="TOP-0101", title="Relaxed White Cotton T-Shirt", category="top", color="white", price=19.99,
              turn=1, position=1),
    ShownItem(id="TRS-0102", title="Slim Navy Denim Jeans", category="trousers", color="navy", price=49.99,
              turn=1, position=2),
]


def view(text: str = "show me red dresses under 50", **kw: Any) -> PlannerInput:
    base: dict[str, Any] = {"text": text, "turn": 2, "tools": TOOLS, "shown": SHOWN, "last_shown": SHOWN,
                            "history": [{"role": "user", "content": "an outfit please"},
                                        {"role": "assistant", "content": "Here is an outfit."}]}
    base.update(kw)
    return PlannerInput(**base)


def tool_call(name: str, args: dict[str, Any], idx: int = 0) -> dict[str, Any]:
    return {"id": f"call_{idx}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def completion(content: str | None = None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "fake-vlm",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if tool_calls else "stop"}]}


def sse_tool_call(name: str, arguments: str, pieces: int = 4) -> list[dict[str, Any]]:
    """Chunks as vLLM streams a tool call: id and name first, then argument fragments, then finish."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "fake-vlm",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    size = max(1, len(arguments) // pieces + 1)
    frags = [arguments[i:i + size] for i in range(0, len(arguments), size)]
    out = [chunk({"role": "assistant", "content": None}),
           chunk({"tool_calls": [{"index": 0, "id": "call_s", "type": "function",
                                  "function": {"name": name, "arguments": ""}}]})]
    out += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in frags]
    out.append(chunk({}, "tool_calls"))
    return out


class FakeServer:
    """An OpenAI-compatible server on loopback that answers from a script and records requests."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any, dict[str, str]]] = []
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.paths.append(self.path)
                body = json.dumps({"object": "list", "data": [{"id": "served-model", "object": "model"}]})
                self._send(200, body.encode(), "application/json", {})

            def do_POST(self) -> None:
                server.paths.append(self.path)
                length = int(self.headers.get("content-length", 0))
                server.requests.append(json.loads(self.rfile.read(length)))
                server.headers.append(dict(self.headers))
                status, body, headers = server.script.pop(0) if server.script else (500, {"error": "no script"}, {})
                if isinstance(body, list):  # server-sent events
                    data = "".join(f"data: {json.dumps(c)}\n\n" for c in body) + "data: [DONE]\n\n"
                    self._send(status, data.encode(), "text/event-stream", headers)
                elif isinstance(body, bytes):
                    self._send(status, body, "application/json", headers)
                else:
                    self._send(status, json.dumps(body).encode(), "application/json", headers)

            def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> FakeServer:
        self.script.append((status, body, headers or {}))
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.close()


def planner(server: FakeServer, **kw: Any) -> OpenAIPlanner:
    kw.setdefault("model", "fake-vlm")
    kw.setdefault("backoff", 0.01)
    return OpenAIPlanner(url=server.url, settings=Context(), timeout=5, **kw)


# --------------------------------------------------------------------------------------------------
# Registry and prompt
# --------------------------------------------------------------------------------------------------


def test_registered_and_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"openai", "transformers"} <= set(available_planners())
    monkeypatch.setenv("FASHIONM3_PLANNER_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("FASHIONM3_PLANNER_MODEL", "my-model")
    monkeypatch.setenv("FASHIONM3_PLANNER_TIMEOUT", "7.5")
    p = get_planner("openai", settings=Context.from_env())  # the run's settings reach the backend
    assert isinstance(p, Planner) and isinstance(p, OpenAIPlanner)
    assert (p.endpoint, p.model, p.timeout) == ("http://127.0.0.1:9/v1/chat/completions", "my-model", 7.5)
    assert p._client is None  # no client opened before the first plan


def test_tool_specs_only_offered_tools_with_descriptions() -> None:
    v = view(tools={"search_catalog": TOOLS["search_catalog"]})
    (spec,) = tool_specs(v)
    assert spec["type"] == "function" and spec["function"]["name"] == "search_catalog"
    assert "in-stock" in spec["function"]["description"]
    assert spec["function"]["parameters"]["properties"]["max_price"]["anyOf"]


def test_system_prompt_lists_context() -> None:
    img = ImageInfo(sha256="ab" * 32, path="x.png", turn=2, category="ankle_boots", color="grey")
    v = view(images=[img], results=[ToolResultView(name="search_catalog", ok=True, item_ids=["DRS-1"])], step=1,
             preferences=[{"kind": "color", "value": "navy"}])
    text = system_prompt(v, tools_in_text=True, json_only=True)
    for needle in ("TOP-0101", "position 2", "abababababab", "grey ankle_boots", "likes color navy",
                   "search_catalog: ok", "final reply", '"intent"', "recommend_outfit:", '"max_price"'):
        assert needle in text, needle
    assert '"title"' not in text  # schema titles are stripped from the prompt


# --------------------------------------------------------------------------------------------------
# OpenAI-compatible server
# --------------------------------------------------------------------------------------------------


def test_non_streaming_tool_call(server: FakeServer) -> None:
    server.answer(completion(tool_calls=[tool_call("search_catalog", {"categories": ["dress"], "colors": ["red"],
                                                                     "max_price": 50})]))
    p = planner(server, api_key="sekret")
    plan = p.plan(view())
    assert plan.intent == "search" and plan.final
    assert plan.calls[0].name == "search_catalog"
    assert plan.calls[0].args == {"categories": ["dress"], "colors": ["red"], "max_price": 50.0}
    (req,) = server.requests
    assert server.paths == ["/v1/chat/completions"]
    assert req["model"] == "fake-vlm" and req["tool_choice"] == "auto" and req["stream"] is False
    assert req["temperature"] == 0
    assert sorted(t["function"]["name"] for t in req["tools"]) == sorted(TOOLS)
    assert req["messages"][0]["role"] == "system" and "TOP-0101" in req["messages"][0]["content"]
    assert [m["role"] for m in req["messages"][1:]] == ["user", "assistant", "user"]
    assert req["messages"][-1]["content"] == "show me red dresses under 50"
    assert server.headers[0].get("Authorization") == "Bearer sekret"
    assert p.stats == {"calls": 1, "repairs": 0, "fallbacks": 0, "retries": 0, "errors": 0}


def test_streaming_tool_call_fragments(server: FakeServer) -> None:
    args = json.dumps({"anchor_item_id": "TRS-0102", "occasion": "dinner", "max_price": 90})
    server.answer(sse_tool_call("recommend_outfit", args, pieces=5))
    p = planner(server, stream=True)
    plan = p.plan(view("an outfit around the jeans for a dinner"))
    assert server.requests[0]["stream"] is True
    assert plan.intent == "recommend_outfit"
    assert plan.calls[0].args == {"anchor_item_id": "TRS-0102", "occasion": "dinner", "max_price": 90.0}


def test_streaming_text_reply(server: FakeServer) -> None:
    chunks = [{"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
              for piece in ("Hello! ", "What are you ", "shopping for?")]
    server.answer(chunks)
    plan = planner(server, stream=True).plan(view("hi"))
    assert plan == Plan(intent="small_talk", reply="Hello! What are you shopping for?", final=True, planner="openai")


def test_json_plan_in_content(server: FakeServer) -> None:
    server.answer(completion('{"intent": "forget", "forget": ["color:navy"], "reply": "Done."}'))
    plan = planner(server).plan(view("forget that I like navy"))
    assert plan.intent == "forget" and plan.forget == ["color:navy"] and not plan.calls


def test_garbage_answer_repair_then_fallback(server: FakeServer) -> None:
    server.answer(completion('{"intent": "search", "calls": [{"name": "search_catalog", "args": {"max_price": '))
    server.answer(completion(tool_calls=[tool_call("search_catalog", {"max_price": "cheap"})]))
    p = planner(server)
    v = view("show me red dresses under 50")
    plan = p.plan(v)
    assert plan == RulesPlanner().plan(v)
    assert (p.stats["calls"], p.stats["repairs"], p.stats["fallbacks"]) == (1, 1, 1)
    assert "max_price" in (p.last_error or "")
    repair = server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and repair[-1]["role"] == "user"
    assert "not a valid plan: the answer is not valid JSON" in repair[-1]["content"]


def test_repair_succeeds(server: FakeServer) -> None:
    server.answer(completion(tool_calls=[tool_call("find_alternatives", {"item_id": "XYZ-9999"})]))
    server.answer(completion(tool_calls=[tool_call("find_alternatives", {"item_id": "TRS-0102", "cheaper": True})]))
    p = planner(server)
    plan = p.plan(view("something cheaper than the jeans"))
    assert plan.intent == "find_alternatives" and plan.calls[0].args == {"item_id": "TRS-0102", "cheaper": True}
    assert (p.stats["repairs"], p.stats["fallbacks"]) == (1, 0)
    assert "XYZ-9999" in server.requests[1]["messages"][-1]["content"]
    assert "TRS-0102" in server.requests[1]["messages"][-1]["content"]  # the error lists the shown ids


def test_unknown_tool_refused(server: FakeServer) -> None:
    server.answer(completion(tool_calls=[tool_call("buy_item", {"item_id": "TOP-0101"})]))
    server.answer(completion(tool_calls=[tool_call("generate_image", {"prompt": "a red dress"})]))
    p = planner(server)
    plan = p.plan(view("buy the top", tools={k: TOOLS[k] for k in ("search_catalog", "find_alternatives")}))
    assert all(c.name in ("search_catalog", "find_alternatives") for c in plan.calls)
    assert p.stats["fallbacks"] == 1 and "generate_image" in (p.last_error or "")
    assert "no tool called 'buy_item'" in server.requests[1]["messages"][-1]["content"]
    assert [t["function"]["name"] for t in server.requests[0]["tools"]] == ["search_catalog", "find_alternatives"]


def test_retry_after_500_and_429(server: FakeServer) -> None:
    server.answer({"error": "overloaded"}, status=500)
    server.answer({"error": "slow down"}, status=429, headers={"Retry-After": "0"})
    server.answer(completion(tool_calls=[tool_call("recall_outfit", {"index": 1})]))
    p = planner(server)
    plan = p.plan(view("what was the first outfit?", outfits=[["TOP-0101", "TRS-0102"]]))
    assert plan.intent == "history" and plan.calls[0].args == {"index": 1}
    assert len(server.requests) == 3 and p.stats["retries"] == 2


def test_persistent_500_is_a_clear_error(server: FakeServer) -> None:
    for _ in range(3):
        server.answer({"error": "CUDA out of memory"}, status=503)
    p = planner(server, retries=2)
    with pytest.raises(PlannerServerError, match="HTTP 503.*CUDA out of memory"):
        p.plan(view())
    assert len(server.requests) == 3


def test_client_error_not_retried(server: FakeServer) -> None:
    server.answer({"error": {"message": "model 'nope' does not exist"}}, status=404)
    with pytest.raises(PlannerServerError, match="HTTP 404.*does not exist"):
        planner(server).plan(view())
    assert len(server.requests) == 1


def test_protocol_garbage_is_a_clear_error(server: FakeServer) -> None:
    server.answer(b"<html>502 Bad Gateway</html>")
    with pytest.raises(PlannerServerError, match="not JSON"):
        planner(server).plan(view())
    server.answer({"object": "something else"})
    with pytest.raises(PlannerServerError, match="not a chat completion"):
        planner(server).plan(view())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_clear_error_or_fallback() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    p = OpenAIPlanner(url=url, model="m", settings=Context(), retries=1, backoff=0.01, timeout=2)
    with pytest.raises(PlannerUnavailableError) as err:
        p.plan(view())
    msg = str(err.value)
    assert f"cannot reach the planner server at {url}" in msg and "FASHIONM3_PLANNER_URL" in msg
    assert p.stats["retries"] == 1
    q = OpenAIPlanner(url=url, model="m", settings=Context(), retries=0, fallback_on_error=True, timeout=2)
    v = view()
    assert q.plan(v) == RulesPlanner().plan(v)
    assert (q.stats["fallbacks"], q.stats["errors"]) == (1, 1) and "cannot reach" in (q.last_error or "")


def test_model_resolved_from_server(server: FakeServer) -> None:
    server.answer(completion("Hi there!"))
    p = planner(server, model="")
    assert p.plan(view("hello")).reply == "Hi there!"
    assert server.paths == ["/v1/models", "/v1/chat/completions"]
    assert server.requests[0]["model"] == "served-model"


def test_images_sent_as_data_urls(server: FakeServer, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(path)
    img = ImageInfo(sha256="cd" * 32, path=str(path), turn=2, width=30, height=40, category="coat", color="beige")
    server.answer(completion(tool_calls=[tool_call("recommend_outfit", {"anchor_image": "cdcdcdcdcdcd"})]))
    plan = planner(server).plan(view("what goes with this?", images=[img], new_images=[img]))
    assert plan.calls[0].args == {"anchor_image": "cdcdcdcdcdcd"}
    content = server.requests[0]["messages"][-1]["content"]
    assert content[0]["type"] == "text" and "what goes with this?" in content[0]["text"]
    assert content[1]["type"] == "image_url"
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == path.read_bytes()


def test_unknown_image_reference_refused(server: FakeServer) -> None:
    server.answer(completion(tool_calls=[tool_call("search_catalog", {"image": "ffffffff"})]))
    server.answer(completion(tool_calls=[tool_call("search_catalog", {"image": "latest", "colors": ["red"]})]))
    p = planner(server)
    img = ImageInfo(sha256="ab" * 32, path="missing.png", turn=1)
    plan = p.plan(view("like this but in red", images=[img]))
    assert plan.calls[0].args == {"image": "latest", "colors": ["red"]} and p.stats["repairs"] == 1


# --------------------------------------------------------------------------------------------------
# Parsing model output
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    '{"intent": "search", "calls": [{"name": "search_catalog", "args": {"colors": ["red"], "max_price": 50}}]}',
    '<tool_call>\n{"name": "search_catalog", "arguments": {"colors": ["red"], "max_price": 50}}\n</tool_call>',
    '[TOOL_CALLS][{"name": "search_catalog", "arguments": {"colors": ["red"], "max_price": 50}}]',
    'Sure!\n```json\n{"name": "search_catalog", "parameters": {"colors": ["red"], "max_price": 50}}\n```',
    'I will search. {"name": "search_catalog", "arguments": "{\\"colors\\": [\\"red\\"], \\"max_price\\": 50}"}',
])
def test_parse_well_formed_outputs(text: str) -> None:
    plan = plan_from_output(text, view(), allow_plain_reply=False)
    assert plan.intent == "search"
    assert [(c.name, c.args) for c in plan.calls] == [("search_catalog", {"colors": ["red"], "max_price": 50.0})]


def test_parse_several_calls_and_facts() -> None:
    text = ('<tool_call>{"name": "search_catalog", "arguments": {"categories": ["bag"]}}</tool_call>\n'
            '<tool_call>{"name": "recall_outfit", "arguments": {"index": -1}}</tool_call>')
    plan = plan_from_output(text, view(), allow_plain_reply=False)
    assert [c.name for c in plan.calls] == ["search_catalog", "recall_outfit"]
    plan = plan_from_output('{"intent": "small_talk", "reply": "Noted!", "facts": [{"kind": "color", '
                            '"value": "navy", "polarity": "like"}, {"kind": "bogus", "value": "x"}]}',
                            view(), allow_plain_reply=False)
    assert plan.reply == "Noted!" and [f.key() for f in plan.facts] == ["color:navy"]
    assert plan.facts[0].source_turn == 2


@pytest.mark.parametrize(("text", "match"), [
    ("", "empty"),
    ("dress dress the the navy", "no JSON plan"),
    ('{"intent": "shopping"}', "unknown intent"),
    ('{"intent": "search", "calls": []}', "neither calls a tool nor replies"),
    ('{"name": "search_catalog", "arguments": {"limit": 500}}', "limit"),
    ('{"name": "search_catalog", "arguments": {"colour": "red"}}', "colour"),
    ('{"name": "launch_rocket", "arguments": {}}', "no tool called 'launch_rocket'"),
    ('{"intent": "search", "calls": [], "mood": "happy"}', "unknown plan fields"),
    ('{"name": "search_catalog", "arguments": "{broken"}', "not valid JSON"),
])
def test_parse_rejects(text: str, match: str) -> None:
    with pytest.raises(PlanError, match=match):
        plan_from_output(text, view(), allow_plain_reply=False)


def test_plain_reply_only_when_allowed() -> None:
    assert plan_from_output("Hello!", view(), allow_plain_reply=True).reply == "Hello!"
    with pytest.raises(PlanError):
        plan_from_output('{"name": "search_catal', view(), allow_plain_reply=True)
    assert extract_json_values("no json here") == []


# --------------------------------------------------------------------------------------------------
# transformers: tiny random models built from config, saved and loaded by path
# --------------------------------------------------------------------------------------------------

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}{% else %}<image>{% endif %}{% endfor %}"
    "{% endif %}</s>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
TOOLS_TEMPLATE = ("{% if tools %}<|tools|>\n{% for t in tools %}{{ t['function']['name'] }}\n{% endfor %}"
                  "{% endif %}" + CHAT_TEMPLATE)
SENTENCES = [
    "show me red dresses under fifty", "an outfit for a dinner with the jeans", "hello there",
    '{"intent": "search", "calls": [{"name": "search_catalog", "args": {"colors": ["red"]}}]}',
    "you are the planner of a fashion shopping assistant", "what goes with this photo",
]


def _word_tokenizer(extra: list[str] | None = None) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|tools|>",
                *(extra or [])]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=specials))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", additional_special_tokens=specials[4:])


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    tok = _word_tokenizer()
    tok.chat_template = TOOLS_TEMPLATE
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def _hf(path: Path, **kw: Any) -> Any:
    from agent.planners.hf_backend import TransformersPlanner

    return TransformersPlanner(str(path), settings=Context(), max_new_tokens=kw.pop("max_new_tokens", 12), **kw)


def test_transformers_needs_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.planners.hf_backend import TransformersPlanner

    monkeypatch.delenv("FASHIONM3_PLANNER_MODEL", raising=False)
    with pytest.raises(ValueError, match="FASHIONM3_PLANNER_MODEL"):
        TransformersPlanner(settings=Context())
    p = TransformersPlanner("/nowhere/model", settings=Context())  # lazy: nothing loaded yet
    assert p.model is None
    with pytest.raises(ValueError, match="cannot load planner model"):
        p.plan(view())


def test_transformers_random_causal_lm_falls_back(tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHIONM3_PLANNER_MODEL", str(tiny_llama))
    p = get_planner("transformers", settings=Context.from_env(), max_new_tokens=12)
    v = view()
    plan = p.plan(v)
    assert not p.is_vlm and p.device == "cpu" and p.template_takes_tools
    assert p.model.dtype.__repr__() == "torch.float32"
    assert plan == RulesPlanner().plan(v)  # random weights: garbage, repaired once, then the rules planner
    assert p.stats == {"calls": 1, "repairs": 1, "fallbacks": 1}
    assert p.last_error


def test_transformers_prompt_and_parse_path(tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _hf(tiny_llama)
    outputs = iter(['<tool_call>{"name": "find_alternatives", "arguments": {"item_id": "TRS-0102", '
                    '"cheaper": true}}</tool_call>'])
    prompts: list[str] = []

    def fake_generate(prompt: str, images: list[Any]) -> str:
        prompts.append(prompt)
        return next(outputs)

    p.setup()
    monkeypatch.setattr(p, "generate", fake_generate)
    plan = p.plan(view("cheaper jeans please"))
    assert plan.intent == "find_alternatives" and plan.calls[0].args == {"item_id": "TRS-0102", "cheaper": True}
    (prompt,) = prompts
    tools_part = prompt.split("<|user|>")[0]
    assert prompt.startswith("<|tools|>\n") and "\nfind_alternatives\n" in tools_part  # tools through the template
    assert "<|user|>\ncheaper jeans please</s>" in prompt and prompt.endswith("<|assistant|>\n")
    assert '"intent"' in prompt and "recommend_outfit:" not in prompt  # JSON form asked, tools not repeated
    assert p.stats == {"calls": 1, "repairs": 0, "fallbacks": 0}


def test_transformers_tools_in_system_text_without_template_support(tiny_llama: Path, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "no-tools"
    shutil.copytree(tiny_llama, path)
    cfg = json.loads((path / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (path / "tokenizer_config.json").write_text(json.dumps(cfg))
    (path / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    p = _hf(path)
    p.setup()
    assert not p.template_takes_tools
    prompt = p.render(p._messages(view()), view(), [])
    assert "search_catalog: Find in-stock" in prompt and '"max_price"' in prompt


def _tiny_idefics3(path: Path) -> None:
    """A tiny Idefics3 (the SmolVLM architecture): one image becomes one image token."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    extra = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
    tok = _word_tokenizer(extra)
    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 28},
                                                max_image_size={"longest_edge": 28})
    Idefics3Processor(image_processor=image_processor, tokenizer=tok, image_seq_len=1,
                      chat_template=CHAT_TEMPLATE).save_pretrained(path)
    cfg = Idefics3Config(
        image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=2,
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 4, "image_size": 28, "patch_size": 14},
        text_config={"model_type": "llama", "vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 4096, "bos_token_id": tok.bos_token_id,
                     "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id},
    )
    torch.manual_seed(0)
    Idefics3ForConditionalGeneration(cfg).save_pretrained(path)


def test_transformers_tiny_vlm_sees_the_photo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Qwen2-VL's processor needs torchvision (for its video processor), which is not installed here;
    # Idefics3 (SmolVLM's architecture) builds from config with the PIL image processor.
    pytest.importorskip("torch")
    path = tmp_path / "tiny-idefics3"
    _tiny_idefics3(path)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(photo)
    img = ImageInfo(sha256="ef" * 32, path=str(photo), turn=2, width=48, height=64)
    v = view("what goes with this?", images=[img], new_images=[img])
    p = _hf(path, max_new_tokens=6)
    seen: list[Any] = []
    real_generate = p.generate

    def spy(prompt: str, images: list[Any]) -> str:
        seen.append((prompt, images))
        return real_generate(prompt, images)

    monkeypatch.setattr(p, "generate", spy)
    plan = p.plan(v)
    assert p.is_vlm and type(p.model).__name__ == "Idefics3ForConditionalGeneration"
    assert plan == RulesPlanner().plan(v) and p.stats == {"calls": 1, "repairs": 1, "fallbacks": 1}
    prompt, images = seen[0]
    assert prompt.count("<image>") == 1 and "<|user|>\n<image>what goes with this?" in prompt
    assert len(images) == 1 and images[0].size == (48, 64)


def test_closing_reply_after_tools_keeps_their_intent(server: FakeServer) -> None:
    server.answer(completion("Here are three red dresses."))
    v = view(step=1, results=[ToolResultView(name="search_catalog", ok=True, item_ids=["DRS-1"])])
    plan = planner(server).plan(v)
    assert plan == Plan(intent="search", reply="Here are three red dresses.", final=True, planner="openai")
    assert "Tool results of this turn" in server.requests[0]["messages"][0]["content"]


def test_openai_planner_drives_the_graph(server: FakeServer, settings: Context, catalog: Any) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.session import Session
    from graph import build_graph

    server.answer(sse_tool_call("search_catalog", json.dumps({"categories": ["dress"], "limit": 3})))
    p = planner(server, stream=True)
    g = build_graph(planner=p, catalog=catalog, checkpointer=InMemorySaver(), store=None)
    resp = Session(graph=g, settings=settings).turn("show me some dresses")
    assert resp["tools"] == ["search_catalog"]
    assert [i["category"] for i in resp["items"]] == ["dress"] * 3
    assert p.stats["calls"] == 1 and p.stats["fallbacks"] == 0


def test_device_and_dtype_selection() -> None:
    torch = pytest.importorskip("torch")
    from agent.planners.hf_backend import pick_device_dtype

    assert pick_device_dtype("cpu") == ("cpu", torch.float32)
    assert pick_device_dtype("cpu", "bfloat16") == ("cpu", torch.bfloat16)
    with pytest.raises(ValueError, match="unknown torch dtype"):
        pick_device_dtype("cpu", "float12")


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_transformers_on_gpu_uses_bfloat16(tiny_llama: Path) -> None:
    import torch

    p = _hf(tiny_llama)
    v = view()
    plan = p.plan(v)
    assert p.device == "cuda" and p.model.dtype in (torch.bfloat16, torch.float16)
    assert plan == RulesPlanner().plan(v) and p.stats["fallbacks"] == 1
