"""The fine-tuned planner's generation on an OpenAI-compatible completions server (vLLM serving our LoRA).

The ``smol`` planner keeps its compact prompt, checks, repairs and rules fallback in the service
process and sends only the generation to ``POST {FASHIONM3_PLANNER_URL}/completions`` with model
``fashion`` (``FASHIONM3_PLANNER_MODEL`` overrides it): the prompt goes as token ids (the same ids
the local model would read, truncated the same way), ``temperature`` 0, ``max_tokens`` the plan
budget and ``stop`` a line break (a compact plan is one line). Photos reach the planner in this mode
through the text route: the image encoder's predicted colour and category are written into the
prompt (``[photo: grey ankle_boots p=0.91]``), since a completions endpoint takes no embeddings.

Many service processes then share one GPU server, which batches their requests itself::

    vllm serve DIR/base --enable-lora --lora-modules fashion=DIR/adapter --max-lora-rank 16

with ``DIR`` written by ``fashionm3 export planner DIR``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["CompletionsClient", "DEFAULT_MODEL"]

log = logging.getLogger(__name__)

#: The served name of the adapter (``--lora-modules fashion=...``).
DEFAULT_MODEL = "fashion"
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class CompletionsClient:
    """Ask an OpenAI-compatible ``/v1/completions`` endpoint for one greedy plan line.

    Args:
        url: The server's base URL (``http://host:8000/v1``; a URL ending in ``/completions`` is used as is).
        model: The served model name (the LoRA module's name under vLLM).
        api_key: Bearer token ('' sends none).
        timeout: Seconds per request.
        retries: Extra attempts after a connection error or a 408/429/5xx answer (exponential backoff).
        transport: An ``httpx`` transport (tests).
    """

    def __init__(self, url: str, model: str = DEFAULT_MODEL, *, api_key: str = "", timeout: float = 60.0,
                 retries: int = 2, backoff: float = 0.5, transport: Any = None) -> None:
        import httpx

        base = url.rstrip("/")
        self.url = base
        self.endpoint = base if base.endswith("/completions") else base + "/completions"
        self.model = model or DEFAULT_MODEL
        self.retries, self.backoff = max(0, retries), backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), headers=headers,
                                    transport=transport)
        #: ``requests``, ``retries`` and ``prompt_tokens`` / ``completion_tokens`` as the server reported them.
        self.counts: dict[str, int] = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def complete(self, prompt_ids: Sequence[int], max_tokens: int) -> str:
        """Return the server's greedy continuation of ``prompt_ids`` up to the first line break.

        Raises:
            agent.planners.openai_backend.PlannerUnavailableError: the server cannot be reached (after retries).
            agent.planners.openai_backend.PlannerServerError: it answered with an error or no completion.
        """
        import httpx

        from agent.planners.openai_backend import PlannerServerError, PlannerUnavailableError

        body = {"model": self.model, "prompt": list(prompt_ids), "max_tokens": int(max_tokens), "temperature": 0,
                "stop": ["\n"], "n": 1}
        attempt = 0
        while True:
            try:
                response = self._client.post(self.endpoint, json=body)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise PlannerUnavailableError(
                        f"cannot reach the planner completions server at {self.url}: {type(exc).__name__}: {exc}; "
                        "start it (see `fashionm3 export planner`) or unset FASHIONM3_PLANNER_REMOTE") from exc
            else:
                if response.status_code not in _RETRY_STATUS or attempt >= self.retries:
                    break
            attempt += 1
            self.counts["retries"] += 1
            time.sleep(self.backoff * 2 ** (attempt - 1))
        self.counts["requests"] += 1
        if response.status_code != 200:
            raise PlannerServerError(f"the planner completions server at {self.url} answered "
                                     f"{response.status_code}: {response.text[:300]}")
        try:
            data = response.json()
            text = data["choices"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise PlannerServerError(f"the planner completions server at {self.url} sent no completion: "
                                     f"{response.text[:300]}") from exc
        usage = data.get("usage") or {}
        for key in ("prompt_tokens", "completion_tokens"):
            self.counts[key] += int(usage.get(key) or 0)
        return str(text).split("\n", 1)[0].strip()
