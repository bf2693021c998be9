"""The ASGI app: ``create_app(settings)`` builds the FastAPI service ``fashionm3 serve`` runs.

Routes (all JSON; errors are ``{"error": {"code", "message"}}``):

- ``POST /v1/threads/{thread_id}/turns``: one message -> the answer (``Accept: text/event-stream`` or
  ``/turns/stream`` for Server-Sent Events; ``Prefer: respond-async`` for 202 at once). An
  ``Idempotency-Key`` header (or ``message_id``) makes retries safe.
- ``GET /v1/threads/{thread_id}``, ``GET /v1/threads/{thread_id}/turns/{turn_id}``.
- ``POST /v1/media`` (multipart ``file``), ``GET /v1/media/{sha256}.png``.
- ``GET|DELETE /v1/users/{user_id}/memory``, ``DELETE /v1/users/{user_id}/memory/{fact_id}``.
- ``GET /healthz``, ``GET /readyz``, ``GET /openapi.json``, the web chat at ``/``.

``/v1`` needs ``Authorization: Bearer KEY`` when ``api_keys`` is set, except media downloads: their
URLs are content hashes (unguessable capability URLs) so ``<img>`` tags and messaging platforms can
fetch them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.context import Context
from agent.media import ImageInputError, decode_image, is_media_id, store_image
from agent.serve.queue import (
    IdempotencyConflictError,
    ThreadBusyError,
    ThreadOwnerError,
    TurnQueue,
    TurnRecord,
    unavailable,
)
from agent.serve.runner import MediaLinks, TurnRunner, service_planner
from agent.serve.schemas import (
    ErrorBody,
    ErrorDetail,
    ForgetOut,
    ImageIn,
    MediaOut,
    MemoryOut,
    ThreadOut,
    TurnAccepted,
    TurnOut,
    TurnRequest,
    TurnResponse,
)

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
#: Thread ids: letters, digits and ``._:@-`` (channels use ``telegram:123``, ``slack:T1:C1:17.2``), 1-128 long.
THREAD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
MEDIA_NAME_RE = re.compile(r"^([0-9a-f]{64})\.png$")
_STATUS = {"bad_request": 400, "malformed_json": 400, "unauthorized": 401, "not_found": 404,
           "thread_owner": 409, "thread_busy": 409, "too_large": 413, "unsupported_media_type": 415,
           "validation_error": 422, "idempotency_key_reused": 422, "too_many_pending": 429, "not_ready": 503,
           "bad_image": 400, "turn_failed": 500, "internal": 500}
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key",
                                               description="Makes retries of this message safe.")]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 422, 429, 503)}


class APIError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with the code's HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS.get(code, 400)
        self.headers = headers or {}


def error_response(code: str, message: str, status: int | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """Return the JSON error response for ``code``."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status or _STATUS.get(code, 400),
                        headers=headers)


class BodyLimitMiddleware:
    """Answer 413 for a request body over ``limit`` bytes, before reading it (Content-Length) or while reading."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send, int(declared))
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLargeError(seen)
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLargeError as exc:
            await self._reject(scope, receive, send, exc.size)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        response = error_response(
            "too_large", f"The request body is over the {self.limit / 1e6:.0f} MB limit ({size:,} bytes sent); send "
            "smaller or fewer images, or upload each through POST /v1/media and send its media_id.")
        await response(scope, receive, send)


class _BodyTooLargeError(StarletteHTTPException):
    """Raised while a body streams in (no Content-Length); an HTTPException so FastAPI's body parsing passes it on."""

    def __init__(self, size: int) -> None:
        super().__init__(413, f"The request body is over the limit ({size:,} bytes sent so far); send smaller or "
                              "fewer images, or upload each through POST /v1/media and send its media_id.")
        self.size = size


@dataclass
class ServiceState:
    """What the app holds while it runs: the queue, the graph's runner, readiness."""

    settings: Context
    queue: TurnQueue
    links: MediaLinks
    runner: TurnRunner | None = None
    hub: Any = None
    store: Any = None
    catalog: Any = None
    planner: Any = None
    #: The MCP server mounted at ``/mcp`` (:mod:`agent.mcp.server`).
    mcp: Any = None
    checks: dict[str, str] = field(default_factory=lambda: {"catalog": "loading", "planner": "loading",
                                                             "store": "loading", "checkpoints": "loading"})
    ready: bool = False
    started_at: float = field(default_factory=time.time)

    def ready_now(self) -> bool:
        """Whether every check passed (turns wait in the queue until then)."""
        return self.ready


def create_app(settings: Context | None = None, *, planner: Any = None, catalog: Any = None, store: Any = None,
               queue: TurnQueue | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: from the environment).

    Args:
        settings: The service's settings (planner, data folder, limits, API keys, workers).
        planner: A planner object to use instead of ``settings.planner`` (tests pass a scripted one).
        catalog: A catalog to use instead of the one in ``settings.catalog_dir``.
        store: A memory store to use instead of the Chroma store of the settings.
        queue: A turn queue to use instead of the SQLite one next to the checkpoints.
    """
    settings = settings or Context.from_env()
    keys = settings.api_key_list
    from agent.services import open_queue

    q = queue or open_queue(settings)
    stopping = threading.Event()
    st = ServiceState(settings=settings, queue=q,
                      links=MediaLinks(settings.media_dir, q, roots=[Path(settings.catalog_dir)]))
    from agent.channels import CHANNELS, ChannelAuthError, ChannelHub

    st.hub = ChannelHub(settings, q, st.links)

    def warm_up() -> None:
        """Load the catalog, planner and stores; retry what failed (a database still starting) until all work."""
        from agent.services import open_catalog, open_checkpointer, open_store
        from graph import build_graph

        checkpointer: Any = None
        while True:
            if st.checks["catalog"] != "ok":
                try:
                    st.catalog = catalog if catalog is not None else open_catalog(settings)
                    from agent.embeddings import get_text_embedder

                    get_text_embedder().encode_one("warm up")
                    n = len(st.catalog.items)
                    st.checks["catalog"] = ("ok" if n else
                                            f"empty: build one with `fashionm3 catalog build` in {settings.data_dir}")
                except Exception as exc:  # reported by /readyz
                    log.exception("catalog failed to load")
                    st.checks["catalog"] = f"failed: {exc}"
            if st.checks["planner"] != "ok":
                try:
                    if planner is not None:
                        st.planner = planner
                    else:
                        from agent.planners import get_planner

                        st.planner = get_planner(settings.planner, settings=settings)
                        setup = getattr(st.planner, "setup", None)
                        if callable(setup):
                            setup()
                    st.checks["planner"] = "ok"
                except Exception as exc:
                    log.exception("planner failed to load")
                    st.checks["planner"] = f"failed: {exc}"
            if st.checks["store"] != "ok":
                try:
                    st.store = store if store is not None else open_store(settings)
                    st.store.search(("preferences", "readyz-probe"), limit=1)
                    st.checks["store"] = "ok"
                    st.hub.store = st.store
                    if st.mcp is not None:
                        st.mcp.store = st.store
                except Exception as exc:
                    log.warning("memory store unreachable: %s", exc)
                    st.checks["store"] = f"failed: the memory store is unreachable ({type(exc).__name__}; see the log)"
            if st.checks.get("checkpoints") != "ok":
                try:
                    migrate = getattr(q, "migrate", None)
                    if callable(migrate):
                        migrate()
                    checkpointer = open_checkpointer(settings)
                    st.checks["checkpoints"] = "ok"
                except Exception as exc:
                    log.warning("thread checkpoints unreachable: %s", exc)
                    kind = type(exc).__name__
                    st.checks["checkpoints"] = f"failed: the checkpoint database is unreachable ({kind}; see the log)"
            if all(v == "ok" for v in st.checks.values()):
                break
            if stopping.wait(3.0):
                return
        graph = build_graph(planner=service_planner(st.planner, settings), catalog=st.catalog,
                            checkpointer=checkpointer, store=st.store)
        assert st.runner is not None
        st.runner.graph = graph
        st.ready = True

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st.runner = TurnRunner(None, settings, q, st.links, workers=settings.turn_workers, ready=st.ready_now)
        st.hub.attach(st.runner)
        loader = threading.Thread(target=warm_up, name="warm-up", daemon=True)
        loader.start()
        await st.runner.start()
        background = getattr(q, "start_background", None)
        if callable(background):
            loop = asyncio.get_running_loop()
            runner = st.runner
            background(runner.owner, lambda payload: loop.call_soon_threadsafe(runner.remote_event, payload))

        async def announce_ready() -> None:
            while loader.is_alive():
                await asyncio.sleep(0.05)
            if st.runner is not None:
                st.runner.notify()

        waiter = asyncio.create_task(announce_ready())
        try:
            async with st.mcp.session_manager.run():
                yield
        finally:
            stopping.set()
            waiter.cancel()
            await st.runner.stop()
            q.close()
            pool = getattr(getattr(st.runner.graph, "checkpointer", None), "conn", None)
            if pool is not None and hasattr(pool, "close"):
                pool.close()

    app = FastAPI(title="FashionM3", version="0.1.0", lifespan=lifespan,
                  description="A multimodal fashion assistant: turns with streaming, media, memory.")
    app.state.service = st
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.code, exc.message, exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response("malformed_json", "The request body is not valid JSON; send a JSON object like "
                                  '{"user_id": "u1", "text": "an outfit for a wedding"}.')
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', 'invalid')}"
            for e in errors)
        return error_response("validation_error", f"The request is not valid: {problems}.")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "too_large"}.get(
            exc.status_code, "http_error")
        message = "No such route; see /openapi.json." if exc.status_code == 404 else str(exc.detail)
        return error_response(code, message, exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        if unavailable(exc):
            return error_response("not_ready", "The database is unreachable right now "
                                  f"({type(exc).__name__}); try again in a few seconds.", 503, {"Retry-After": "3"})
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response("internal", f"The service failed on this request ({type(exc).__name__}); the error "
                              "is logged. Try again later.", 500)

    def require_key(authorization: Annotated[str | None, Header()] = None) -> None:
        if not keys:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(token.strip().encode(), k.encode()) for k in keys):
            raise APIError("unauthorized", "A valid API key is required: send 'Authorization: Bearer <key>' (the "
                           "keys are set in FASHIONM3_API_KEYS).", headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(require_key)]

    def check_thread_id(thread_id: str) -> str:
        if not THREAD_ID_RE.match(thread_id):
            raise APIError("bad_request", f"thread id {thread_id[:80]!r} is not valid: use 1-128 letters, digits and "
                           "'._:@-', starting with a letter or digit.")
        return thread_id

    def check_user_id(user_id: str) -> str:
        from agent.memory.keys import normalise_user_id

        try:
            return normalise_user_id(user_id)
        except ValueError as exc:
            raise APIError("bad_request", f"invalid user_id: {exc}") from None

    def store_upload(data: bytes, name: str) -> tuple[str, int, int]:
        if len(data) > settings.max_upload_bytes:
            raise APIError("too_large", f"Image {name} is {len(data) / 1e6:.1f} MB, over the "
                           f"{settings.max_upload_bytes / 1e6:.0f} MB limit; send a smaller or compressed photo.")
        try:
            img = decode_image(data, name, settings.max_image_pixels)
        except ImageInputError as exc:
            raise APIError(exc.code, str(exc)) from None
        sha = hashlib.sha256(data).hexdigest()
        store_image(img, settings.media_dir, sha)
        return sha, img.width, img.height

    def absolute(payload: dict[str, Any], request: Request) -> dict[str, Any]:
        base = (settings.public_url or str(request.base_url)).rstrip("/")

        def fix(url: str) -> str:
            return base + url if url.startswith("/") else url

        out = dict(payload)
        for key in ("items", "closest"):
            if isinstance(out.get(key), list):
                out[key] = [{**i, "image": fix(str(i.get("image", "")))} for i in out[key]]
        if isinstance(out.get("images"), list):
            out["images"] = [fix(str(u)) for u in out["images"]]
        if "url" in out and isinstance(out["url"], str):
            out["url"] = fix(out["url"])
        if isinstance(out.get("response"), dict):
            out["response"] = absolute(out["response"], request)
        return out

    def turn_url(rec: TurnRecord) -> str:
        return f"/v1/threads/{rec.thread_id}/turns/{rec.id}"

    def finished_response(rec: TurnRecord, request: Request, replayed: bool) -> JSONResponse:
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        result = rec.result or {}
        if rec.status == "failed":
            return error_response(str(result.get("code", "turn_failed")), str(result.get("message", "")), 500,
                                  headers)
        return JSONResponse(absolute(result, request), headers=headers)

    def accepted_response(rec: TurnRecord, replayed: bool) -> JSONResponse:
        body = TurnAccepted(turn_id=rec.id, thread=rec.thread_id, status="running" if rec.status == "running"
                            else "queued", url=turn_url(rec)).model_dump()
        headers = {"Location": body["url"], "Retry-After": "1"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body, status_code=202, headers=headers)

    async def accept_turn(thread_id: str, body: TurnRequest, idempotency_key: str | None) -> tuple[TurnRecord, bool]:
        check_thread_id(thread_id)
        user_id = check_user_id(body.user_id)
        text = body.text.strip()
        media_ids: list[str] = []
        for n, image in enumerate(body.images, start=1):
            if image.media_id is not None and image.data_base64 is not None:
                raise APIError("bad_request", f"images[{n - 1}]: send either data_base64 or media_id, not both.")
            if image.media_id is not None:
                if not is_media_id(image.media_id) or not (settings.media_dir / f"{image.media_id}.png").is_file():
                    raise APIError("not_found", f"images[{n - 1}]: no uploaded image with media_id "
                                   f"{image.media_id[:80]!r}; upload it with POST /v1/media first.")
                media_ids.append(image.media_id)
            elif image.data_base64 is not None:
                if len(image.data_base64) * 3 // 4 > settings.max_upload_bytes:
                    raise APIError("too_large", f"images[{n - 1}] ({image.name}) is over the "
                                   f"{settings.max_upload_bytes / 1e6:.0f} MB limit; send a smaller photo.")
                try:
                    data = base64.b64decode(image.data_base64, validate=True)
                except (binascii.Error, ValueError):
                    raise APIError("bad_request", f"images[{n - 1}] ({image.name}) is not valid base64 data; "
                                   "re-encode the file.") from None
                sha, _, _ = await asyncio.to_thread(store_upload, data, image.name)
                media_ids.append(sha)
            else:
                raise APIError("bad_request", f"images[{n - 1}]: give data_base64 or media_id.")
        if not text and not media_ids:
            raise APIError("bad_request", "The message is empty: send some text, an image, or both.")
        key = (idempotency_key or body.message_id or "").strip()
        if len(key) > 200:
            raise APIError("bad_request", "The idempotency key is longer than 200 characters; use a shorter one.")
        request = {"text": text, "media_ids": media_ids}
        try:
            rec, created = await asyncio.to_thread(
                q.enqueue, thread_id, user_id, request, key, settings.busy_policy, settings.max_pending_per_thread)
        except IdempotencyConflictError as exc:
            raise APIError("idempotency_key_reused", str(exc)) from None
        except ThreadOwnerError as exc:
            raise APIError("thread_owner", str(exc)) from None
        except ThreadBusyError as exc:
            raise APIError("too_many_pending" if exc.full else "thread_busy", str(exc),
                           headers={"Retry-After": "2"}) from None
        except Exception as exc:
            if unavailable(exc):
                raise APIError("not_ready", "The message could not be recorded: the database is unreachable "
                               f"({type(exc).__name__}). Nothing was accepted; send it again in a few seconds.",
                               headers={"Retry-After": "3"}) from None
            raise
        if created and st.runner is not None:
            st.runner.notify()
        return rec, not created

    async def sse(rec: TurnRecord, request: Request, replayed: bool) -> StreamingResponse:
        runner = st.runner
        assert runner is not None

        def frame(event: dict[str, Any]) -> str:
            name = str(event.get("event", "message"))
            data = {k: v for k, v in event.items() if k != "event"}
            if name == "final":
                data["response"] = absolute(data.get("response") or {}, request)
            elif name == "items":
                data = absolute(data, request)
            elif name == "image" and isinstance(data.get("url"), str):
                data["url"] = absolute({"url": data["url"]}, request)["url"]
            return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"

        async def events() -> AsyncIterator[str]:
            q_ = runner.subscribe(rec.id)
            try:
                yield frame({"event": "accepted", "turn_id": rec.id, "thread": rec.thread_id, "replayed": replayed})
                while True:
                    latest = await asyncio.to_thread(q.get, rec.id)
                    if latest is not None and latest.finished:
                        while not q_.empty():
                            event = q_.get_nowait()
                            if event.get("event") not in ("final", "error"):
                                yield frame(event)
                        if latest.status == "done":
                            yield frame({"event": "final", "turn_id": rec.id, "response": latest.result})
                        else:
                            yield frame({"event": "error", "turn_id": rec.id, "error": latest.result})
                        return
                    try:
                        event = await asyncio.wait_for(q_.get(), timeout=15.0)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event.get("event") in ("final", "error"):
                        yield frame(event)
                        return
                    if event.get("event") == "finished_elsewhere":
                        continue  # another process ran it: the next round reads the answer from the queue
                    yield frame(event)
            finally:
                runner.unsubscribe(rec.id, q_)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/threads/{thread_id}/turns", dependencies=auth, response_model=TurnResponse,
              responses={**ERRORS, 202: {"model": TurnAccepted}, 500: {"model": ErrorBody}},
              summary="Send a message; get the answer (or SSE with Accept: text/event-stream)")
    async def post_turn(thread_id: str, body: TurnRequest, request: Request, idempotency_key: IdempotencyKey = None,
                        accept: Annotated[str | None, Header()] = None,
                        prefer: Annotated[str | None, Header()] = None) -> Response:
        """Run one turn of a thread (created on first use) and return its response payload.

        With ``Accept: text/event-stream`` the answer streams as Server-Sent Events: ``accepted``, ``plan``,
        ``tool_start``, ``tool_end``, ``items``, ``image`` and ``final`` (or ``error``). With ``Prefer:
        respond-async`` the reply is 202 with the turn's URL at once; it is also 202 when the answer takes
        longer than ``turn_wait_seconds``. A retry with the same ``Idempotency-Key`` returns the first answer.
        """
        rec, replayed = await accept_turn(thread_id, body, idempotency_key)
        if accept and "text/event-stream" in accept:
            return await sse(rec, request, replayed)
        return await answer(rec, request, replayed, prefer)

    @app.post("/v1/threads/{thread_id}/turns/stream", dependencies=auth, responses={**ERRORS},
              summary="Send a message; stream the turn as Server-Sent Events")
    async def post_turn_stream(thread_id: str, body: TurnRequest, request: Request,
                               idempotency_key: IdempotencyKey = None) -> StreamingResponse:
        """Like ``POST .../turns`` with ``Accept: text/event-stream``."""
        rec, replayed = await accept_turn(thread_id, body, idempotency_key)
        return await sse(rec, request, replayed)

    async def answer(rec: TurnRecord, request: Request, replayed: bool, prefer: str | None) -> Response:
        if rec.finished:
            return finished_response(rec, request, replayed)
        if prefer and "respond-async" in prefer.lower():
            return accepted_response(rec, replayed)
        assert st.runner is not None
        latest = await st.runner.wait(rec.id, settings.turn_wait_seconds)
        if latest is not None and latest.finished:
            return finished_response(latest, request, replayed)
        return accepted_response(latest or rec, replayed)

    @app.get("/v1/threads/{thread_id}/turns/{turn_id}", dependencies=auth, responses={**ERRORS},
             summary="A turn's status and, once done, its answer")
    async def get_turn(thread_id: str, turn_id: str, request: Request,
                       wait: float = 0.0) -> Response:
        """Return the turn's answer when done (200), its status while queued or running (202).

        ``wait`` (seconds, at most 60) waits for the answer first.
        """
        check_thread_id(thread_id)
        rec = await asyncio.to_thread(q.get, turn_id)
        if rec is None or rec.thread_id != thread_id:
            raise APIError("not_found", f"No turn {turn_id[:80]!r} on thread {thread_id!r}.")
        if not rec.finished and wait > 0 and st.runner is not None:
            rec = await st.runner.wait(rec.id, min(wait, 60.0)) or rec
        return finished_response(rec, request, False) if rec.finished else accepted_response(rec, False)

    @app.get("/v1/threads/{thread_id}", dependencies=auth, response_model=ThreadOut, responses={**ERRORS},
             summary="A thread: its turns, the items shown and its images")
    async def get_thread(thread_id: str, request: Request) -> dict[str, Any]:
        """Return every turn of the thread (message, status, answer) with what it showed."""
        check_thread_id(thread_id)
        owner = await asyncio.to_thread(q.thread_owner, thread_id)
        if owner is None:
            raise APIError("not_found", f"No thread {thread_id!r}; it is created by its first message.")
        turns = await asyncio.to_thread(q.thread_turns, thread_id)
        values: dict[str, Any] = {}
        if st.runner is not None and st.runner.graph is not None:
            snap = await asyncio.to_thread(st.runner.graph.get_state, {"configurable": {"thread_id": thread_id}})
            values = dict(snap.values or {})
        out_turns = []
        for t in turns:
            result = t.result or {}
            out_turns.append(TurnOut(
                turn_id=t.id, status=t.status, text=str(t.request.get("text", "")),
                media_ids=list(t.request.get("media_ids", [])), created_at=t.created_at,
                response=absolute(result, request) if t.status == "done" else None,
                error=ErrorDetail.model_validate(result) if t.status == "failed" else None).model_dump())
        images = [absolute({"url": st.links.url(str(i.get("path", "")))}, request)["url"]
                  for i in values.get("images", [])]
        messages = [{"role": "user" if m.type == "human" else "assistant", "text": m.content if isinstance(
            m.content, str) else str(m.content)} for m in values.get("messages", [])]
        return {"thread_id": thread_id, "user_id": owner, "turns": out_turns, "messages": messages,
                "shown": values.get("shown", []), "images": images}

    @app.post("/v1/media", dependencies=auth, response_model=MediaOut, responses={**ERRORS},
              summary="Upload a photo; use its media_id in a turn")
    async def post_media(request: Request, file: Annotated[UploadFile, File(description="The image file.")]) -> dict:
        """Validate (size, pixels, decodability), normalise and store a photo; return its media id and URL."""
        data = await file.read(settings.max_upload_bytes + 1)
        sha, width, height = await asyncio.to_thread(store_upload, data, file.filename or "upload")
        return absolute({"media_id": sha, "url": f"/v1/media/{sha}.png", "width": width, "height": height}, request)

    @app.get("/v1/media/{name}", responses={200: {"content": {"image/png": {}}}, 404: {"model": ErrorBody}},
             summary="A catalog, uploaded, generated or try-on image (content-addressed)")
    async def get_media(name: str) -> Response:
        """Serve ``<sha256>.png``: only files in the media folder or images the service has shown."""
        m = MEDIA_NAME_RE.match(name)
        if not m:
            raise APIError("not_found", "Media URLs look like /v1/media/<64 hex digits>.png.")
        sha = m.group(1)
        path = await asyncio.to_thread(st.links.file, sha)
        if path is None:
            raise APIError("not_found", f"No image {name}.")
        return FileResponse(path, media_type="image/png",
                            headers={"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{sha}"'})

    def memory_ns(user_id: str) -> tuple[str, ...]:
        from agent.nodes import memory_namespace

        try:
            return tuple(memory_namespace(user_id))
        except ValueError as exc:
            raise APIError("bad_request", f"invalid user id: {exc}") from None

    def require_store() -> Any:
        if st.store is None:
            raise APIError("not_ready", "The memory store is not open yet; try again in a few seconds.",
                           headers={"Retry-After": "2"})
        return st.store

    @app.get("/v1/users/{user_id}/memory", dependencies=auth, response_model=MemoryOut, responses={**ERRORS},
             summary="What the assistant remembers about a shopper")
    async def get_memory(user_id: str) -> dict[str, Any]:
        """List the shopper's stored preference facts (oldest first), with the ids DELETE takes."""
        ns = memory_ns(user_id)
        hits = await asyncio.to_thread(require_store().search, ns, limit=10_000)
        hits = sorted(hits, key=lambda h: h.updated_at)
        return {"user_id": user_id, "facts": [{**h.value, "id": h.key, "updated_at": h.updated_at.isoformat()}
                                              for h in hits]}

    @app.delete("/v1/users/{user_id}/memory", dependencies=auth, response_model=ForgetOut, responses={**ERRORS},
                summary="Forget everything about a shopper")
    async def forget_user(user_id: str) -> dict[str, Any]:
        """Delete every stored fact of the shopper (forget-me); return how many."""
        from agent.nodes import forget_all

        ns = memory_ns(user_id)
        return {"user_id": user_id, "forgotten": await asyncio.to_thread(forget_all, require_store(), ns)}

    @app.delete("/v1/users/{user_id}/memory/{fact_id}", dependencies=auth, response_model=ForgetOut,
                responses={**ERRORS}, summary="Forget one fact")
    async def forget_fact(user_id: str, fact_id: str) -> dict[str, Any]:
        """Delete one stored fact; 404 when the shopper has no fact with that id."""
        ns = memory_ns(user_id)
        store_ = require_store()
        if await asyncio.to_thread(store_.get, ns, fact_id) is None:
            raise APIError("not_found", f"No fact {fact_id[:80]!r} for user {user_id!r}; list them with GET "
                           f"/v1/users/{user_id}/memory.")
        await asyncio.to_thread(store_.delete, ns, fact_id)
        return {"user_id": user_id, "forgotten": 1}

    @app.get("/v1/info", dependencies=auth, summary="Version, planner, model fingerprints, catalog identity")
    async def info() -> dict[str, Any]:
        """Describe what is deployed, so eval reports of two deployments can be compared honestly."""
        from agent.identity import catalog_identity, project_version, weights_fingerprints

        return {"version": project_version(), "planner": getattr(st.planner, "name", "") or settings.planner,
                "weights": weights_fingerprints(), "catalog": catalog_identity(settings.catalog_dir),
                "ready": st.ready}

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, Any]:
        """Answer 200 while the process serves requests."""
        return {"status": "ok", "uptime_s": round(time.time() - st.started_at, 1)}

    @app.get("/readyz", responses={503: {"model": ErrorBody}}, summary="Catalog, planner and store are ready")
    async def readyz() -> Response:
        """Answer 200 when the catalog and planner are loaded and the stores answer, else 503 saying which not."""
        checks = dict(st.checks)
        try:
            await asyncio.to_thread(q.ping)
            checks["queue"] = "ok"
        except Exception as exc:
            log.warning("turn queue unreachable: %s", exc)  # connection details stay in the log, not in /readyz
            checks["queue"] = f"failed: the turn queue's database is unreachable ({type(exc).__name__}; see the log)"
        bad = {k: v for k, v in checks.items() if v != "ok"}
        if bad or not st.ready:
            message = "; ".join(f"{k}: {v}" for k, v in bad.items()) or "starting"
            return JSONResponse({"error": {"code": "not_ready", "message": message}, "checks": checks},
                                status_code=503, headers={"Retry-After": "2"})
        return JSONResponse({"status": "ready", "checks": checks, "planner": getattr(st.planner, "name", "")})

    async def channel_webhook(name: str, request: Request) -> Response:
        channel = st.hub.channels.get(name)
        if channel is None:
            raise APIError("not_found", f"The {name} channel is off: set {', '.join(CHANNELS[name].missing(settings))} "
                           "and restart the service.")
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            channel.verify(headers, body)
        except ChannelAuthError as exc:
            raise APIError("unauthorized", f"{name} webhook refused: {exc}.") from None
        try:
            challenge = channel.challenge(body) if hasattr(channel, "challenge") else None
            if challenge is not None:
                return JSONResponse({"challenge": challenge})
            inbound = await asyncio.to_thread(channel.parse, body, headers)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise APIError("bad_request", f"{name} webhook: the body is not a payload this channel understands "
                           f"({type(exc).__name__}: {exc}).") from None
        created = 0
        for message in inbound:
            _, new = await asyncio.to_thread(st.hub.enqueue, channel, message)
            created += new
        if created and st.runner is not None:
            st.runner.notify()
        return JSONResponse({"ok": True, "messages": len(inbound), "new": created})

    @app.post("/channels/telegram", tags=["channels"], summary="Telegram webhook (setWebhook with secret_token)")
    async def telegram_webhook(request: Request) -> Response:
        """Receive a Telegram Update; answered 200 at once, the reply is sent when the turn has run."""
        return await channel_webhook("telegram", request)

    @app.post("/channels/slack/events", tags=["channels"], summary="Slack Events API request URL")
    async def slack_events(request: Request) -> Response:
        """Receive a Slack event (or the url_verification challenge); answered within Slack's 3 s."""
        return await channel_webhook("slack", request)

    @app.post("/channels/whatsapp", tags=["channels"], summary="WhatsApp Cloud API webhook")
    async def whatsapp_webhook(request: Request) -> Response:
        """Receive WhatsApp messages and status updates (statuses are ignored)."""
        return await channel_webhook("whatsapp", request)

    @app.get("/channels/whatsapp", tags=["channels"], summary="WhatsApp webhook subscription handshake")
    async def whatsapp_subscribe(request: Request) -> Response:
        """Answer ``hub.challenge`` when ``hub.verify_token`` matches (200, plain text), else 403."""
        from fastapi.responses import PlainTextResponse

        channel = st.hub.channels.get("whatsapp")
        if channel is None:
            raise APIError("not_found", "The whatsapp channel is off: set "
                           f"{', '.join(CHANNELS['whatsapp'].missing(settings))} and restart the service.")
        challenge = channel.subscribe(dict(request.query_params))
        if challenge is None:
            return error_response("forbidden", "hub.mode must be 'subscribe' and hub.verify_token must match "
                                  "FASHIONM3_WHATSAPP_VERIFY_TOKEN.", 403)
        return PlainTextResponse(challenge)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    mount_mcp(app, st, catalog, accept_turn, check_key=None if not keys else lambda header: key_ok(header, keys))
    return app


def key_ok(authorization: str | None, keys: list[str]) -> bool:
    """Whether an ``Authorization`` header carries one of ``keys`` as a bearer token."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and any(hmac.compare_digest(token.strip().encode(), k.encode()) for k in keys)


class _ServiceTurns:
    """MCP ``chat`` turns through the service's durable turn queue (same order, owners and limits as the API)."""

    def __init__(self, st: ServiceState, accept_turn: Any) -> None:
        self.st = st
        self.accept_turn = accept_turn

    async def run(self, thread_id: str, user_id: str, text: str, media_ids: list[str]) -> dict[str, Any]:
        from agent.mcp.server import MCPArgumentError

        body = TurnRequest(user_id=user_id, text=text, images=[ImageIn(media_id=m) for m in media_ids])
        try:
            rec, _ = await self.accept_turn(thread_id, body, None)
        except APIError as exc:
            raise MCPArgumentError(f"chat: {exc.message}") from None
        assert self.st.runner is not None
        latest = await self.st.runner.wait(rec.id, self.st.settings.turn_wait_seconds) if not rec.finished else rec
        if latest is None or not latest.finished:
            raise MCPArgumentError(f"chat: the turn is still running after {self.st.settings.turn_wait_seconds:.0f} s; "
                                   f"its answer will be at /v1/threads/{thread_id}/turns/{rec.id}.")
        result = dict(latest.result or {})
        if latest.status == "failed":
            raise MCPArgumentError(f"chat: the turn failed: {result.get('message', '')}")
        return result

    def file(self, ref: str) -> Path | None:
        """Return the file behind a media URL, or a catalog/media path the service may serve."""
        path = self.st.links.path_for(ref) if "/v1/media/" in ref else None
        if path is None and ref and Path(ref).is_file():
            return self.st.links.path_for(self.st.links.url(ref))
        return path

    def url(self, ref: str) -> str:
        """Return the image's URL: absolute with ``FASHIONM3_PUBLIC_URL``, else relative to this server."""
        url = ref if "/v1/media/" in ref else self.st.links.url(ref)
        base = self.st.settings.public_url.rstrip("/")
        return f"{base}{url}" if base and url.startswith("/") else url


def mount_mcp(app: FastAPI, st: ServiceState, catalog: Any, accept_turn: Any,
              check_key: Any = None) -> None:
    """Serve the MCP server over Streamable HTTP at ``/mcp``, behind the API keys when they are set."""
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.routing import Route

    from agent.mcp.server import FashionMCPServer
    from agent.services import Services

    services = Services(catalog=catalog, default_context=st.settings)
    server = FashionMCPServer(st.settings, services, _ServiceTurns(st, accept_turn), st.store)
    # with API keys the service faces a network under its own host name: the keys protect it, not Host checks
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=check_key is None,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
    # the SDK's app serves /mcp; its session manager (server.session_manager) runs in the service's lifespan
    handler = server.streamable_http_app(streamable_http_path="/mcp", transport_security=security)
    st.mcp = server

    app.router.routes.append(Route("/mcp", endpoint=_KeyGate(handler, check_key), methods=["GET", "POST", "DELETE"],
                                   include_in_schema=False))


class _KeyGate:
    """An ASGI app that answers 401 (the API's JSON error) unless ``check_key`` accepts the Authorization header."""

    def __init__(self, app: ASGIApp, check_key: Any) -> None:
        self.app = app
        self.check_key = check_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.check_key is not None:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if not self.check_key(headers.get("authorization")):
                response = error_response("unauthorized", "A valid API key is required: send 'Authorization: Bearer "
                                          "<key>' (the keys are set in FASHIONM3_API_KEYS).", 401,
                                          {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def app_from_env() -> FastAPI:
    """Build the app from ``FASHIONM3_*`` variables (the factory each ``--workers`` process calls)."""
    return create_app(Context.from_env())


__all__ = ["APIError", "app_from_env", "create_app", "error_response"]
