"""A small OpenAI-compatible completions server for the tests: the real adapter through transformers, on loopback.

``POST /v1/completions`` (``prompt``: a string or token ids; ``max_tokens``; ``temperature`` 0 only;
``stop``) answers an OpenAI ``text_completion``; ``GET /v1/models`` lists the served name. It loads
the base model and a PEFT adapter folder (as ``fashionm3 export planner`` writes it) with peft (merged), in
float32, and decodes greedily with ``model.generate`` (no drafter, no prefix cache: an independent
implementation of what the planner does locally). It is what vLLM does for the planner, minus the GPU.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class CompletionsServer:
    """Serve ``base`` + the adapter in ``adapter_dir`` as ``model_name`` on 127.0.0.1 (a free port)."""

    def __init__(self, base: str | Path, adapter_dir: str | Path, model_name: str = "fashion") -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(base))
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
        self.model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload().eval()
        self.model_name = model_name
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> CompletionsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Return ``(status, JSON body)`` for one completions request."""
        import torch

        if body.get("model") != self.model_name:
            return 404, {"error": {"message": f"model {body.get('model')!r} not found", "type": "NotFoundError"}}
        if float(body.get("temperature", 1.0)) != 0.0:
            return 400, {"error": {"message": "this test server decodes greedily: send temperature 0"}}
        prompt = body.get("prompt")
        ids = (list(prompt) if isinstance(prompt, list)
               else self.tokenizer(str(prompt), add_special_tokens=False)["input_ids"])
        stops = body.get("stop") or []
        with self._lock, torch.inference_mode():  # one request at a time through the model
            out = self.model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids),
                                      dtype=torch.long), max_new_tokens=int(body.get("max_tokens", 16)),
                                      do_sample=False, pad_token_id=self.tokenizer.eos_token_id)
        new = out[0, len(ids):].tolist()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finish = "length"
        for stop in stops:
            if stop in text:
                text, finish = text.split(stop, 1)[0], "stop"
        if self.tokenizer.eos_token_id in new:
            finish = "stop"
        self.requests.append(body)
        return 200, {"id": f"cmpl-{len(self.requests)}", "object": "text_completion", "created": int(time.time()),
                     "model": self.model_name,
                     "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
                     "usage": {"prompt_tokens": len(ids), "completion_tokens": len(new),
                               "total_tokens": len(ids) + len(new)}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                return

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": server.model_name, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                if self.path != "/v1/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                self._send(*server.complete(body))

        return Handler
