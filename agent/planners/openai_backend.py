"""A planner on an OpenAI-compatible chat-completions server (vLLM, Ollama, TGI, llama.cpp server).

The registered tools go to the server as ``tools`` (function schemas, ``tool_choice: auto``); the
photos attached this turn go as ``image_url`` data URLs, so a served VLM sees them. The answer's
``tool_calls`` (or a JSON plan in its text) become a validated :class:`Plan`; an invalid answer is sent
back once with the validation error, then the rules planner takes over (counted in ``stats``).
Streaming (server-sent events) and plain responses are both understood. Connection errors, 5xx and
429 answers are retried with exponential backoff; when the server stays unreachable the error says
where it was looked for and how to start one.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.plan import ImageInfo, Plan, PlannerInput
from agent.planners.llm_common import (
    Answer,
    ChatProposer,
    PlanError,
    build_messages,
    plan_from_output,
    plan_from_tool_calls,
    system_prompt,
    tool_specs,
)

if TYPE_CHECKING:
    import httpx

    from agent.context import Context

__all__ = ["OpenAIPlanner", "PlannerServerError", "PlannerUnavailableError", "image_data_url"]

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_IMAGE_SIDE = 1024
MAX_RETRY_AFTER = 30.0


class PlannerServerError(RuntimeError):
    """The planner server answered with an error or with something that is not a chat completion."""


class PlannerUnavailableError(PlannerServerError):
    """The planner server could not be reached (after retries)."""


def image_data_url(image: ImageInfo, max_side: int = MAX_IMAGE_SIDE) -> str:
    """Return a stored image as a ``data:`` URL (PNG as stored; re-encoded smaller when very large).

    Raises:
        FileNotFoundError: if the image file is gone.
    """
    data = Path(image.path).read_bytes()
    mime = "image/png"
    if data[:3] == b"\xff\xd8\xff":
        mime = "image/jpeg"
    if max(image.width, image.height) > max_side or not image.width:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as opened:
            if max(opened.size) > max_side:
                small = opened.convert("RGB")
                small.thumbnail((max_side, max_side))
                buf = io.BytesIO()
                small.save(buf, format="PNG")
                data, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class OpenAIPlanner(ChatProposer):
    """Plan with a model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    name = "openai"

    def __init__(
        self,
        url: str | None = None,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        max_tokens: int | None = None,
        stream: bool = False,
        retries: int = 2,
        backoff: float = 0.5,
        send_images: bool = True,
        fallback_on_error: bool = False,
        repair: bool = True,
        fallback: Any = None,
        settings: Context | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Configure the server; unset values come from ``FASHIONM3_PLANNER_*`` settings.

        Args:
            url: Base URL (``http://localhost:8000/v1``) or the full ``.../chat/completions`` URL.
            model: Served model name; empty asks the server's ``/models`` for its first model.
            api_key: Bearer token, if the server wants one.
            timeout: Seconds per request.
            max_tokens: Most tokens generated per answer.
            stream: Ask for a streamed answer (server-sent events).
            retries: Extra attempts after a connection error, a timeout, a 5xx or a 429.
            backoff: First wait between attempts, in seconds (doubled each time).
            send_images: Send this turn's photos as ``image_url`` parts (off for text-only models).
            fallback_on_error: Plan with the rules planner instead of raising when the server is
                unreachable or answers errors (counted in ``stats["errors"]`` and ``stats["fallbacks"]``).
            repair: Send an invalid answer back once with the validation error.
            fallback: Planner used when the answer stays invalid (the rules planner by default).
            settings: The run's settings to read defaults from (``Context()`` defaults when ``None``).
            transport: An ``httpx`` transport (tests).
        """
        super().__init__(repair=repair, fallback=fallback)
        if settings is None:
            from agent.context import Context

            settings = Context()
        self.url = (url or settings.planner_url).rstrip("/")
        self.endpoint = self.url if self.url.endswith("/chat/completions") else self.url + "/chat/completions"
        self.model = model if model is not None else settings.planner_model
        self.api_key = api_key if api_key is not None else settings.planner_api_key
        self.timeout = float(timeout if timeout is not None else settings.planner_timeout)
        self.max_tokens = int(max_tokens if max_tokens is not None else settings.planner_max_tokens)
        self.currency = settings.currency
        self.stream = stream
        self.retries = max(0, retries)
        self.backoff = backoff
        self.send_images = send_images
        self.fallback_on_error = fallback_on_error
        self._transport = transport
        self._client: httpx.Client | None = None
        self.stats.update({"retries": 0, "errors": 0})
        self.last_request: dict[str, Any] | None = None

    # -- HTTP ----------------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """Return the HTTP client, opened on first use."""
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                                        headers=headers, transport=self._transport)
        return self._client

    def close(self) -> None:
        """Close the HTTP client (a later call opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _unreachable(self, exc: Exception) -> PlannerUnavailableError:
        return PlannerUnavailableError(
            f"cannot reach the planner server at {self.url}: {type(exc).__name__}: {exc}; "
            "start vLLM/Ollama or set FASHIONM3_PLANNER_URL")

    def _with_retries(self, send: Any) -> Any:
        """Run ``send()`` with retries on transport errors and retryable statuses."""
        import httpx

        attempt = 0
        while True:
            try:
                return send()
            except _RetryableStatus as exc:
                if attempt >= self.retries:
                    raise PlannerServerError(
                        f"the planner server at {self.url} answered HTTP {exc.status}: {exc.body[:300]}") from None
                wait = min(exc.retry_after, MAX_RETRY_AFTER) if exc.retry_after else self.backoff * 2**attempt
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt >= self.retries:
                    raise self._unreachable(exc) from exc
                wait = self.backoff * 2**attempt
            attempt += 1
            self.stats["retries"] += 1
            log.info("planner server at %s: retrying in %.2fs (attempt %d)", self.url, wait, attempt + 1)
            time.sleep(wait)

    def _check(self, response: httpx.Response) -> None:
        """Raise on an error status: retryable ones as :class:`_RetryableStatus`."""
        if response.status_code < 400:
            return
        response.read()
        body = response.text
        if response.status_code in RETRY_STATUS:
            retry_after = 0.0
            try:
                retry_after = float(response.headers.get("retry-after", "0"))
            except ValueError:
                pass
            raise _RetryableStatus(response.status_code, body, retry_after)
        raise PlannerServerError(f"the planner server at {self.url} refused the request with HTTP "
                                 f"{response.status_code}: {body[:300]}")

    def resolve_model(self) -> str:
        """Return the model name, asking the server's ``/models`` when none is configured."""
        if self.model:
            return self.model
        base = self.endpoint.removesuffix("/chat/completions")

        def send() -> Any:
            response = self.client.get(base + "/models")
            self._check(response)
            return response.json()

        try:
            listing = self._with_retries(send)
            self.model = str(listing["data"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise PlannerServerError(f"no model configured and {base}/models lists none; set "
                                     "FASHIONM3_PLANNER_MODEL to the served model name") from exc
        return self.model

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Answer:
        """Send one chat-completions request and return the answer (text and tool calls)."""
        body: dict[str, Any] = {
            "model": self.resolve_model(),
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "stream": self.stream,
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        self.last_request = body
        if self.stream:
            return self._with_retries(lambda: self._send_streaming(body))
        return self._with_retries(lambda: self._send(body))

    def _send(self, body: dict[str, Any]) -> Answer:
        response = self.client.post(self.endpoint, json=body)
        self._check(response)
        try:
            payload = response.json()
        except ValueError:
            raise PlannerServerError(f"the planner server at {self.url} answered something that is not JSON: "
                                     f"{response.text[:200]!r}") from None
        return self._parse_completion(payload)

    def _parse_completion(self, payload: Any) -> Answer:
        try:
            message = payload["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            detail = payload.get("error") if isinstance(payload, dict) else None
            raise PlannerServerError(f"the planner server at {self.url} answered something that is not a chat "
                                     f"completion: {json.dumps(detail or payload)[:300]}") from None
        text = message.get("content") or ""
        if isinstance(text, list):
            text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise PlannerServerError(f"the planner server at {self.url} sent tool_calls that are not a list")
        return Answer(str(text), [c for c in calls if isinstance(c, dict)])

    def _send_streaming(self, body: dict[str, Any]) -> Answer:
        with self.client.stream("POST", self.endpoint, json=body) as response:
            self._check(response)
            return self._read_events(response.iter_lines())

    def _read_events(self, lines: Iterator[str]) -> Answer:
        """Assemble a streamed answer: content deltas, and tool calls whose arguments arrive in fragments."""
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        done = False
        for line in lines:
            line = line.strip()
            if not line or line.startswith(":") or not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                event = json.loads(data)
            except ValueError:
                raise PlannerServerError(f"the planner server at {self.url} streamed an event that is not "
                                         f"JSON: {data[:200]!r}") from None
            if isinstance(event, dict) and "error" in event:
                raise PlannerServerError(f"the planner server at {self.url} reported an error while streaming: "
                                         f"{json.dumps(event['error'])[:300]}")
            for choice in event.get("choices", []) if isinstance(event, dict) else []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    text.append(delta["content"])
                for part in delta.get("tool_calls") or []:
                    slot = calls.setdefault(int(part.get("index", len(calls))),
                                            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                    slot["id"] = part.get("id") or slot["id"]
                    fn = part.get("function") or {}
                    slot["function"]["name"] += fn.get("name") or ""
                    slot["function"]["arguments"] += fn.get("arguments") or ""
        if not done and not text and not calls:
            raise PlannerServerError(f"the planner server at {self.url} closed the stream without an answer")
        return Answer("".join(text), [calls[i] for i in sorted(calls)])

    # -- planning ------------------------------------------------------------------------------------

    def _messages(self, view: PlannerInput) -> list[dict[str, Any]]:
        system = system_prompt(view, tools_in_text=False, json_only=False, currency=self.currency)
        messages = build_messages(view, system)
        if self.send_images and view.new_images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": messages[-1]["content"]}]
            for image in view.new_images:
                try:
                    parts.append({"type": "image_url", "image_url": {"url": image_data_url(image)}})
                except OSError as exc:
                    log.warning("not sending photo %s to the planner: %s", image.sha256[:12], exc)
            messages[-1] = {"role": "user", "content": parts}
        return messages

    def _answer(self, messages: list[dict[str, Any]], view: PlannerInput) -> Answer:
        return self.complete(messages, tool_specs(view))

    def _to_plan(self, answer: Answer, view: PlannerInput) -> Plan:
        if answer.tool_calls:
            return plan_from_tool_calls(answer.tool_calls, answer.text, view)
        if not answer.text.strip():
            raise PlanError("the answer has neither tool calls nor text")
        return plan_from_output(answer.text, view, allow_plain_reply=True)

    def plan(self, view: PlannerInput) -> Plan:
        """Return a validated plan from the served model (see the module docstring for the failure paths).

        Raises:
            PlannerUnavailableError: the server is unreachable (unless ``fallback_on_error``).
            PlannerServerError: the server answers errors or non-completions (unless ``fallback_on_error``).
        """
        try:
            return super().plan(view)
        except PlannerServerError as exc:
            if not self.fallback_on_error:
                raise
            log.warning("%s; planning this step with the rules planner", exc)
            self.last_error = str(exc)
            self.stats["errors"] += 1
            self.stats["fallbacks"] += 1
            return self.fallback.plan(view)


class _RetryableStatus(Exception):
    """An HTTP status worth retrying (5xx, 429), with the server's ``Retry-After`` if any."""

    def __init__(self, status: int, body: str, retry_after: float) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.retry_after = retry_after
