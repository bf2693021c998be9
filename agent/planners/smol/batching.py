"""Plan several conversations' steps in one batch: a decode queue shared by the threads of a process.

The HTTP service runs turns of different threads at once (``turn_workers``). Without batching each
planning step decodes alone and the steps queue for the model; here every step's greedy decode is
handed to one worker thread, which takes whatever is waiting (up to ``max_batch`` prompts) and
decodes it together with :func:`~agent.planners.smol.model.generate_batch` (one forward pass per
token for all rows: the weights are read once per pass instead of once per row). A step that finds
nobody else waiting is decoded alone with the speculative drafter (lowest latency). Requests that
arrive while a batch runs wait for the next one (a simple static batching loop). Callers that are
planning a step but have not asked for their decode yet (building the prompt, checking the previous
candidate) are counted (:meth:`BatchDecoder.planning`): the worker waits for them a little
(``await_s``) instead of decoding the first arrival alone while the others are a few milliseconds
behind. With one conversation nobody else is planning, so nothing waits.

Only the greedy decode is batched; the prompt build, the checks and the fallback run in the
calling thread, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchDecoder"]

log = logging.getLogger(__name__)


@dataclass
class _Request:
    prompt: Any
    embeds: Any
    done: threading.Event = field(default_factory=threading.Event)
    text: str = ""
    error: BaseException | None = None
    call: Callable[[], Any] | None = None
    result: Any = None


class BatchDecoder:
    """Greedy-decode planner prompts from many threads, batching those that wait at the same time.

    Args:
        single: Decodes one prompt alone: ``single(prompt, embeds) -> text`` (the speculative decode;
            ``prompt`` is whatever the caller passed to :meth:`decode`).
        batch: Decodes several: ``batch(prompts, embeds) -> list of texts`` (:func:`generate_batch`).
        max_batch: Most prompts decoded together.
        gather_s: How long the worker waits for more prompts after the first one arrives, in seconds
            (0: take only what is already waiting).
        await_s: Longest wait, in seconds, for prompts of callers inside :meth:`planning` that have not
            asked for their decode yet (0: do not wait for them).

    ``counts`` holds ``requests`` (prompts), ``batches`` (decodes of two or more prompts), ``batched``
    (prompts decoded in those), ``singles`` and ``calls`` (other work run with :meth:`run`).
    """

    def __init__(self, single: Callable[[Any, Any], str], batch: Callable[[list[Any], list[Any]], list[str]], *,
                 max_batch: int = 32, gather_s: float = 0.0, await_s: float = 0.05) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._single, self._batch = single, batch
        self.max_batch = max_batch
        self.gather_s = gather_s
        self.await_s = await_s
        self._planning = 0
        self._pending: list[_Request] = []
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.counts: dict[str, int] = {"requests": 0, "batches": 0, "batched": 0, "singles": 0, "calls": 0}

    @contextmanager
    def planning(self) -> Iterator[None]:
        """Count the caller as planning a step for as long as the block runs (it may ask for decodes in it)."""
        with self._cond:
            self._planning += 1
        try:
            yield
        finally:
            with self._cond:
                self._planning -= 1
                self._cond.notify_all()

    def run(self, call: Callable[[], Any]) -> Any:
        """Return ``call()`` run on the worker thread between batches (other model work: the beam re-decode).

        All model work of the process then runs on one thread, so concurrent turns do not fight over the
        cores with their own forward passes.
        """
        request = _Request(None, None, call=call)
        self._submit(request)
        if request.error is not None:
            raise request.error
        return request.result

    def decode(self, prompt: Any, embeds: Any) -> str:
        """Return the greedy plan text of one prompt (``(1, T, H)`` embeddings; blocks until its batch is decoded).

        Raises:
            RuntimeError: if the decoder was closed.
            Exception: whatever the model raised while decoding this prompt's batch.
        """
        request = _Request(prompt, embeds)
        self._submit(request)
        if request.error is not None:
            raise request.error
        return request.text

    def _submit(self, request: _Request) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the planner's batch decoder is closed")
            self._pending.append(request)
            self.counts["requests" if request.call is None else "calls"] += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="planner-batch", daemon=True)
                self._worker.start()
            self._cond.notify_all()
        request.done.wait()

    def close(self) -> None:
        """Stop the worker thread once the prompts already waiting are decoded."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join()

    def _take(self) -> list[_Request]:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self.gather_s > 0 and len(self._pending) < self.max_batch:
                self._cond.wait(self.gather_s)
            deadline = time.monotonic() + self.await_s
            # callers inside planning() will ask soon: wait (briefly) until each has asked or left
            while (len(self._pending) < min(self._planning, self.max_batch) and not self._closed
                   and (left := deadline - time.monotonic()) > 0):
                self._cond.wait(left)
            taken, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            return taken

    def _run(self) -> None:
        while True:
            taken = self._take()
            if not taken:
                return  # closed and nothing left
            for request in [r for r in taken if r.call is not None]:
                try:
                    request.result = request.call()  # type: ignore[misc]
                except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                    request.error = exc
                finally:
                    request.done.set()
            taken = [r for r in taken if r.call is None]
            if not taken:
                continue
            try:
                if len(taken) == 1:
                    self.counts["singles"] += 1
                    taken[0].text = self._single(taken[0].prompt, taken[0].embeds)
                else:
                    self.counts["batches"] += 1
                    self.counts["batched"] += len(taken)
                    texts = self._batch([r.prompt for r in taken], [r.embeds for r in taken])
                    for request, text in zip(taken, texts, strict=True):
                        request.text = text
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller, who re-raises it
                log.exception("planner batch decode failed")
                for request in taken:
                    request.error = exc
            finally:
                for request in taken:
                    request.done.set()
