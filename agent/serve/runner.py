"""Run queued turns through the compiled graph: a dispatcher, a bounded worker pool, progress events.

The dispatcher (an asyncio task) claims runnable turns from the :class:`~agent.serve.queue.TurnQueue`
and runs each in a worker thread; per-thread order comes from the queue's claim rule. Progress
events from the graph's ``custom`` stream are kept per turn (a late subscriber gets them replayed)
and pushed to subscribers (the SSE endpoint). A client that goes away does not cancel a turn.

Exactly once after a crash: each turn's human message carries the turn id as its message id and the
state records ``request_id``; a recovered turn whose checkpoint already holds its answer is not run
again, and the graph runs with ``durability="exit"``, so a turn killed half-way left nothing behind.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage

from agent.context import Context
from agent.media import is_media_id
from agent.plan import Plan, PlannerInput
from agent.serve.queue import TurnQueue, TurnRecord

log = logging.getLogger(__name__)

#: Finished turns whose events stay in memory for late subscribers (older ones are read from the queue).
KEEP_FINISHED_EVENTS = 2000


class SerialPlanner:
    """Let one turn at a time use a planner, first come first served.

    Model planners keep per-call state (and one model is not faster when called from several
    threads); the rules planner plans in about a millisecond. The lock is a ticket lock: a plain
    ``threading.Lock`` lets a busy thread take it again and again while another waits for many turns.
    """

    def __init__(self, planner: Any) -> None:
        self.inner = planner
        self.name = getattr(planner, "name", "planner")
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def plan(self, view: PlannerInput) -> Plan:
        """Plan one step when this call's turn comes (arrival order)."""
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()
        try:
            return self.inner.plan(view)
        finally:
            with self._cond:
                self._serving += 1
                self._cond.notify_all()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def service_planner(planner: Any, settings: Context) -> Any:
    """Return the planner the service's turns share: batched across threads where the planner can, else serial.

    A planner with ``enable_batching`` (the ``smol`` planner) decodes the steps of up to
    ``min(planner_batch, turn_workers)`` turns together (or, in remote mode, leaves batching to its
    completions server) and is called from the turn threads directly; any other planner (and
    ``planner_batch`` 1) goes behind a :class:`SerialPlanner`.
    """
    enable = getattr(planner, "enable_batching", None)
    size = min(settings.planner_batch, settings.turn_workers)
    if callable(enable) and size > 1:
        enable(max_batch=size)
    return planner if getattr(planner, "concurrent", False) else SerialPlanner(planner)


class MediaLinks:
    """Turn image paths into the service's content-addressed URLs (``/v1/media/<sha256>.png``).

    Files already named ``<sha256>.png`` in the media folder keep their name; any other image shown
    (catalog product images) is hashed once and recorded in the queue's media table, so only images
    the service has shown, uploaded or made can be fetched.
    """

    def __init__(self, media_dir: Path, queue: TurnQueue, prefix: str = "/v1/media",
                 roots: list[Path] | None = None) -> None:
        self.media_dir = media_dir.resolve()
        self.queue = queue
        self.prefix = prefix
        #: Folders a recorded media hash may point into (the media folder, the catalog's images).
        self.roots = [self.media_dir, *(r.resolve() for r in roots or [])]
        self._known: dict[tuple[str, float], str] = {}
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        """Return the URL serving ``path`` (empty for an empty or missing path)."""
        if not path:
            return ""
        p = Path(path)
        if p.suffix == ".png" and is_media_id(p.stem) and p.parent.resolve() == self.media_dir:
            return f"{self.prefix}/{p.stem}.png"
        try:
            key = (path, p.stat().st_mtime)
        except OSError:
            return ""
        with self._lock:
            sha = self._known.get(key)
        if sha is None:
            sha = hashlib.sha256(p.read_bytes()).hexdigest()
            self.queue.remember_media(sha, str(p.resolve()))
            with self._lock:
                self._known[key] = sha
        return f"{self.prefix}/{sha}.png"

    def path_for(self, url: str) -> Path | None:
        """Return the local file behind a media URL (relative or absolute), or ``None``."""
        name = str(url).rsplit("/", 1)[-1]
        stem = name[:-4] if name.endswith(".png") else ""
        return self.file(stem) if is_media_id(stem) else None

    def file(self, sha: str) -> Path | None:
        """Return the file a media hash serves: ``<media>/<sha>.png``, or a recorded file inside ``roots``."""
        path = self.media_dir / f"{sha}.png"
        if path.is_file():
            return path
        recorded = self.queue.media_path(sha)
        if not recorded:
            return None
        found = Path(recorded)
        if not found.is_file() or not any(found.resolve().is_relative_to(r) for r in self.roots):
            return None
        return found

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Return a progress event with image paths replaced by URLs."""
        out = dict(event)
        if "path" in out:
            out["url"] = self.url(str(out.pop("path")))
        if "items" in out and isinstance(out["items"], list):
            out["items"] = [{**i, "image": self.url(str(i.get("image", "")))} for i in out["items"]]
        return out

    def response(self, thread_id: str, turn_id: str, response: dict[str, Any]) -> dict[str, Any]:
        """Return a turn's response payload (``fashionm3 ask --json`` shape) with URLs for every image."""
        out = {"thread": thread_id, "turn_id": turn_id, **response}
        out["items"] = [{**i, "image": self.url(str(i.get("image", "")))} for i in response.get("items", [])]
        out["closest"] = [{**i, "image": self.url(str(i.get("image", "")))} for i in response.get("closest", [])]
        out["images"] = [self.url(str(p)) for p in response.get("images", [])]
        text = str(out.get("text", ""))
        for path, url in zip(response.get("images", []), out["images"], strict=True):
            text = text.replace(str(path), url)  # a server path means nothing to a remote client
        out["text"] = text
        if out.get("is_outfit") and out["items"]:
            out["total"] = round(sum(float(i.get("price", 0)) for i in out["items"]), 2)
        return out


@dataclass
class _TurnEvents:
    history: list[dict[str, Any]] = field(default_factory=list)
    subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)
    finished: bool = False


class TurnRunner:
    """Claim turns from the queue and run them in a bounded pool of worker threads.

    Args:
        graph: The compiled graph (with a checkpointer and a store).
            Besides it, ``handlers`` answer turns of other ``request["kind"]`` (a messaging command,
            a canned notice), ``prepare`` turns a request's remote attachments (``request["files"]``)
            into media ids and notes, and ``deliver`` sends the answer of a turn whose request names a
            ``channel``; a reply is recorded ``pending`` before it is sent, and sent again after a restart.
        settings: The service's settings; each turn runs with ``user_id`` set to the turn's user.
        queue: Where turns are recorded.
        links: Image path -> URL mapping for responses and events.
        workers: Turns run at once (different threads); turns of one thread never overlap.
        ready: Called before dispatching; while it returns False turns wait in the queue.
    """

    def __init__(self, graph: Any, settings: Context, queue: TurnQueue, links: MediaLinks, workers: int = 4,
                 ready: Callable[[], bool] | None = None) -> None:
        self.handlers: dict[str, Callable[[TurnRecord], dict[str, Any]]] = {}
        self.prepare: Callable[[TurnRecord], tuple[list[str], list[str]]] | None = None
        self.deliver: Callable[[TurnRecord, dict[str, Any]], None] | None = None
        self.graph = graph
        self.settings = settings
        self.queue = queue
        self.links = links
        self.workers = max(1, workers)
        self.owner = f"{os.getpid()}-{id(self):x}"
        self._ready = ready or (lambda: True)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="turn")
        self._active = 0
        self._events: OrderedDict[str, _TurnEvents] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending: set[str] = set()
        self._rescan_at = 0.0
        self._purge_at = time.monotonic() + 3600.0
        self.recovered = 0

    async def start(self) -> None:
        """Re-queue turns a dead process left running and start dispatching."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            self.recovered = await asyncio.to_thread(self.queue.recover)
            await asyncio.to_thread(self.queue.purge)
        except Exception as exc:  # the database is not up yet: the dispatcher and lease keeper retry
            log.warning("could not recover turns at start: %s", exc)
        if self.recovered:
            log.warning("re-queued %d turn(s) left running by a previous process", self.recovered)
        self._task = asyncio.create_task(self._dispatch(), name="turn-dispatcher")
        if self.deliver is not None:
            try:
                pending = await asyncio.to_thread(self.queue.pending_deliveries)
            except Exception as exc:
                log.warning("could not read unsent replies at start: %s", exc)
                pending = []
            if pending:
                log.warning("sending %d reply(ies) left unsent by a previous process", len(pending))
            self._resend(pending)
        self.notify()

    async def stop(self) -> None:
        """Stop dispatching; running turns finish in their threads."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _resend(self, pending: list[TurnRecord]) -> None:
        """Send replies that a previous or dead process left unsent (never one this process is sending)."""
        for rec in pending:
            if rec.id not in self._sending:
                self._pool.submit(self._send, rec, rec.result or {})

    async def _rescan_deliveries(self) -> None:
        """Every few seconds, where several processes share the queue, pick up replies a dead one left unsent."""
        if self.deliver is None or not hasattr(self.queue, "start_background") or time.monotonic() < self._rescan_at:
            return
        self._rescan_at = time.monotonic() + 10.0
        try:
            self._resend(await asyncio.to_thread(self.queue.pending_deliveries))
        except Exception as exc:
            log.warning("could not read unsent replies: %s", exc)

    def remote_event(self, payload: str) -> None:
        """Handle another process's news (call on the event loop): a turn queued or finished there."""
        if payload.startswith("done:"):
            slot = self._events.get(payload[5:])
            if slot is not None and slot.subscribers:
                self._publish_now(payload[5:], {"event": "finished_elsewhere"})
        self.notify()

    def notify(self) -> None:
        """Wake the dispatcher (a turn was queued or the service became ready); call on the event loop."""
        if self._wake is not None:
            self._wake.set()

    async def _dispatch(self) -> None:
        assert self._wake is not None and self._loop is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._ready():
                continue
            await self._rescan_deliveries()
            if time.monotonic() > self._purge_at:  # keys and seen events older than 7 days, hourly
                self._purge_at = time.monotonic() + 3600.0
                try:
                    await asyncio.to_thread(self.queue.purge)
                except Exception as exc:
                    log.warning("could not purge old turns: %s", exc)
            while self._active < self.workers:
                try:
                    rec = await asyncio.to_thread(self.queue.claim_next, self.owner)
                except Exception:  # the database is unreachable: try again on the next tick
                    log.exception("could not claim a turn")
                    break
                if rec is None:
                    break
                self._active += 1
                self._slot(rec.id)
                fut = self._loop.run_in_executor(self._pool, self._execute, rec)
                fut.add_done_callback(functools.partial(self._finished, rec))

    def _finished(self, rec: TurnRecord, fut: asyncio.Future[dict[str, Any]]) -> None:
        self._active -= 1
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            log.error("turn %s could not be recorded: %r", rec.id, exc)
        else:
            self._publish_now(rec.id, fut.result())
            slot = self._events.get(rec.id)
            if slot is not None:
                slot.finished = True
        self.notify()

    def _execute(self, rec: TurnRecord) -> dict[str, Any]:
        """Run one turn (worker thread) and record its outcome; return the terminal event."""
        t0 = time.perf_counter()
        channel = bool(rec.request.get("channel")) and self.deliver is not None
        try:
            handler = self.handlers.get(str(rec.request.get("kind") or "turn"))
            payload = handler(rec) if handler is not None else self._run_graph(rec)
        except Exception as exc:
            log.exception("turn %s of thread %s failed", rec.id, rec.thread_id)
            error = {"code": "turn_failed",
                     "message": f"The assistant failed on this message ({type(exc).__name__}); the error is "
                                "logged. Send it again with a new idempotency key, or rephrase it."}
            if channel:
                self.queue.set_delivery(rec.id, "pending")
            self.queue.finish(rec.id, "failed", error, owner=self.owner)
            if channel:
                self._send(rec, {"text": "Sorry, something went wrong on my side with that message. Please try "
                                         "again in a moment.", "items": [], "images": [], "error": error})
            return {"event": "error", "turn_id": rec.id, "error": error}
        payload["seconds"] = round(time.perf_counter() - t0, 3)
        if channel:
            self.queue.set_delivery(rec.id, "pending")
        self.queue.finish(rec.id, "done", payload, owner=self.owner)
        if channel:
            self._send(rec, payload)
        return {"event": "final", "turn_id": rec.id, "response": payload}

    def _send(self, rec: TurnRecord, payload: dict[str, Any]) -> None:
        """Send a finished turn's reply to its platform and record the outcome (never re-plans the turn)."""
        assert self.deliver is not None
        self._sending.add(rec.id)
        try:
            self.deliver(rec, payload)
        except Exception as exc:
            log.error("reply of turn %s to %s could not be sent: %s", rec.id, rec.request.get("channel"), exc)
            self.queue.set_delivery(rec.id, "failed", f"{type(exc).__name__}: {exc}"[:500])
        else:
            self.queue.set_delivery(rec.id, "sent")
        finally:
            self._sending.discard(rec.id)
        self._publish(rec.id, {"event": "delivered", "turn_id": rec.id})
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.notify)

    def _run_graph(self, rec: TurnRecord) -> dict[str, Any]:
        config: dict[str, Any] = {"configurable": {"thread_id": rec.thread_id}}
        settings = self.settings.with_(user_id=rec.user_id)
        snap = self.graph.get_state(config)
        values = dict(snap.values or {})
        if values.get("request_id") == rec.id and not snap.next and values.get("response"):
            log.warning("turn %s was answered before a restart; returning that answer", rec.id)
            return self.links.response(rec.thread_id, rec.id, {**values["response"], "turn": values.get("turn", 0)})
        media_ids: list[str] = list(rec.request.get("media_ids", []))
        notes: list[str] = []
        if rec.request.get("files") and self.prepare is not None:
            fetched, notes = self.prepare(rec)
            media_ids += fetched
        attachments = [{"path": str(self.settings.media_dir / f"{m}.png"), "sha256": m, "name": f"{m[:12]}.png"}
                       for m in media_ids]
        text = str(rec.request.get("text", ""))
        if not text and not attachments:
            return self.links.response(rec.thread_id, rec.id, {"text": " ".join(notes), "errors": notes, "items": [],
                                                                "images": [], "intent": "small_talk"})
        inp: dict[str, Any] | None = {
            "messages": [HumanMessage(content=text, id=rec.id)],
            "attachments": attachments,
            "request_id": rec.id,
        }
        if values.get("request_id") == rec.id and snap.next:
            inp = None  # a checkpoint in the middle of this very turn: resume it
        final: dict[str, Any] = {}
        for mode, chunk in self.graph.stream(inp, config, context=settings, stream_mode=["custom", "values"],
                                             durability="exit"):
            if mode == "custom" and isinstance(chunk, dict):
                self._publish(rec.id, self.links.event(chunk))
            elif mode == "values":
                final = chunk
        response = dict(final.get("response") or {})
        if notes:
            response["errors"] = [*notes, *response.get("errors", [])]
            response["text"] = " ".join(notes) + "\n" + str(response.get("text", ""))
        return self.links.response(rec.thread_id, rec.id, {**response, "turn": final.get("turn", 0)})

    def _slot(self, turn_id: str) -> _TurnEvents:
        slot = self._events.get(turn_id)
        if slot is None:
            slot = self._events[turn_id] = _TurnEvents()
            if len(self._events) > KEEP_FINISHED_EVENTS:
                # drop the oldest slots nobody listens to (finished or not: a late reader re-reads the queue)
                idle = [k for k, v in self._events.items() if not v.subscribers and k != turn_id]
                for key in idle[: len(self._events) - KEEP_FINISHED_EVENTS]:
                    del self._events[key]
        return slot

    def _publish(self, turn_id: str, event: dict[str, Any]) -> None:
        """Publish an event from a worker thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._publish_now, turn_id, event)

    def _publish_now(self, turn_id: str, event: dict[str, Any]) -> None:
        slot = self._slot(turn_id)
        slot.history.append(event)
        for q in list(slot.subscribers):
            q.put_nowait(event)

    def subscribe(self, turn_id: str) -> asyncio.Queue[dict[str, Any]]:
        """Return a queue that gets the turn's events so far, then the live ones (call on the event loop)."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        slot = self._slot(turn_id)
        for event in slot.history:
            q.put_nowait(event)
        slot.subscribers.add(q)
        return q

    def unsubscribe(self, turn_id: str, q: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering events to ``q``."""
        slot = self._events.get(turn_id)
        if slot is not None:
            slot.subscribers.discard(q)

    async def wait(self, turn_id: str, timeout: float) -> TurnRecord | None:
        """Wait up to ``timeout`` seconds for a turn to finish; return its latest record."""
        q = self.subscribe(turn_id)
        deadline = time.monotonic() + timeout
        try:
            while True:
                rec = await asyncio.to_thread(self.queue.get, turn_id)
                if rec is None or rec.finished:
                    return rec
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return rec
                try:
                    while True:
                        event = await asyncio.wait_for(q.get(), timeout=min(remaining, 1.0))
                        if event.get("event") in ("final", "error", "finished_elsewhere"):
                            break
                except TimeoutError:
                    pass
        finally:
            self.unsubscribe(turn_id, q)
