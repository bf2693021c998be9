"""A fake Telegram, Slack and WhatsApp API on loopback that records every call (tests and ``channels simulate``).

It answers the calls the channels make, serves the photos a test registers, and fails on demand
(``fail("sendMessage", 429, times=1, retry_after=1)``), so retries, downloads and replies can be
checked without the real platforms. Base URLs: ``<url>/telegram``, ``<url>/slack/api`` and
``<url>/whatsapp/v21.0``.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class _Failure:
    match: str
    status: int
    times: int
    retry_after: float | None


@dataclass
class FakePlatform:
    """The fake APIs, served by uvicorn in a background thread."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    port: int = 0
    delay: float = 0.0
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the fake."""
        return f"http://127.0.0.1:{self.port}"

    def settings_env(self) -> dict[str, str]:
        """Environment that points a service's three channels at this fake (with test secrets)."""
        return {
            "FASHIONM3_TELEGRAM_BOT_TOKEN": "123:TEST", "FASHIONM3_TELEGRAM_SECRET_TOKEN": "tg-secret",
            "FASHIONM3_TELEGRAM_API_URL": f"{self.url}/telegram",
            "FASHIONM3_SLACK_SIGNING_SECRET": "slack-secret", "FASHIONM3_SLACK_BOT_TOKEN": "xoxb-test",
            "FASHIONM3_SLACK_API_URL": f"{self.url}/slack/api",
            "FASHIONM3_WHATSAPP_APP_SECRET": "wa-secret", "FASHIONM3_WHATSAPP_VERIFY_TOKEN": "wa-verify",
            "FASHIONM3_WHATSAPP_TOKEN": "wa-token", "FASHIONM3_WHATSAPP_PHONE_NUMBER_ID": "1555000",
            "FASHIONM3_WHATSAPP_API_URL": f"{self.url}/whatsapp/v21.0",
        }

    def fail(self, match: str, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` calls whose path contains ``match`` with ``status``."""
        with self._lock:
            self._failures.append(_Failure(match, status, times, retry_after))

    def sent(self, platform: str | None = None) -> list[dict[str, Any]]:
        """Return the recorded calls that send something to a user (messages, photos)."""
        kinds = ("sendMessage", "sendPhoto", "sendMediaGroup", "chat.postMessage", "messages")
        with self._lock:
            return [c for c in self.calls if c["method"] in kinds and (platform is None or c["platform"] == platform)]

    def wait_sent(self, n: int, platform: str | None = None, timeout: float = 60.0,
                  where: Any = None) -> list[dict[str, Any]]:
        """Wait until at least ``n`` send calls (matching ``where(call)``) were recorded; return them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [c for c in self.sent(platform) if where is None or where(c)]
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    async def _record(self, request: Request, platform: str, method: str) -> tuple[dict[str, Any], Response | None]:
        call: dict[str, Any] = {"platform": platform, "method": method, "path": request.url.path, "json": None,
                                "form": {}, "files": {}, "headers": dict(request.headers), "time": time.time()}
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            call["json"] = await request.json()
        elif ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            for key, value in form.multi_items():
                if hasattr(value, "read"):
                    call["files"][key] = len(await value.read())
                else:
                    call["form"][key] = value
        failure = None
        with self._lock:
            for f in self._failures:
                if f.times > 0 and f.match in request.url.path:
                    f.times -= 1
                    failure = f
                    break
            call["failed"] = failure.status if failure else None
            self.calls.append(call)
        if self.delay:
            time.sleep(self.delay)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            body: dict[str, Any] = {"ok": False, "error": "injected", "description": f"injected {failure.status}"}
            if failure.retry_after is not None and platform == "telegram":
                body["parameters"] = {"retry_after": failure.retry_after}
            return call, JSONResponse(body, status_code=failure.status, headers=headers)
        return call, None

    async def _telegram(self, request: Request) -> Response:
        method = request.path_params["method"]
        call, failed = await self._record(request, "telegram", method)
        if failed:
            return failed
        if method == "getMe":
            return JSONResponse({"ok": True, "result": {"id": 4242, "is_bot": True, "username": "fashion_test_bot"}})
        if method == "getFile":
            file_id = (call["json"] or call["form"]).get("file_id")
            if file_id not in self.files:
                return JSONResponse({"ok": False, "error_code": 400, "description": "file not found"}, 400)
            return JSONResponse({"ok": True, "result": {"file_id": file_id, "file_path": f"photos/{file_id}.jpg",
                                                        "file_size": len(self.files[file_id])}})
        return JSONResponse({"ok": True, "result": {"message_id": len(self.calls)}})

    async def _telegram_file(self, request: Request) -> Response:
        await self._record(request, "telegram", "file")
        name = request.path_params["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        data = self.files.get(name)
        return Response(data, media_type="image/jpeg") if data is not None else Response(status_code=404)

    async def _slack(self, request: Request) -> Response:
        method = request.path_params["method"]
        _, failed = await self._record(request, "slack", method)
        if failed:
            return failed
        if method == "auth.test":
            return JSONResponse({"ok": True, "user_id": "UBOT", "team_id": "T1", "bot_id": "BBOT"})
        return JSONResponse({"ok": True, "channel": "C1", "ts": f"{time.time():.6f}"})

    async def _slack_file(self, request: Request) -> Response:
        await self._record(request, "slack", "file")
        if request.headers.get("authorization") != "Bearer xoxb-test":
            return Response(status_code=403)
        data = self.files.get(request.path_params["file_id"])
        return Response(data, media_type="image/png") if data is not None else Response(status_code=404)

    async def _whatsapp_get(self, request: Request) -> Response:
        media_id = request.path_params["obj"]
        _, failed = await self._record(request, "whatsapp", "media-url")
        if failed:
            return failed
        if media_id not in self.files:
            return JSONResponse({"error": {"message": "unknown media"}}, 404)
        return JSONResponse({"url": f"{self.url}/whatsapp/media-bytes/{media_id}", "mime_type": "image/jpeg",
                             "file_size": len(self.files[media_id]), "id": media_id})

    async def _whatsapp_post(self, request: Request) -> Response:
        edge = request.path_params["edge"]
        _, failed = await self._record(request, "whatsapp", edge)
        if failed:
            return failed
        if edge == "media":
            return JSONResponse({"id": f"up-{len(self.calls)}"})
        return JSONResponse({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.out{len(self.calls)}"}]})

    async def _whatsapp_bytes(self, request: Request) -> Response:
        await self._record(request, "whatsapp", "media-bytes")
        if request.headers.get("authorization") != "Bearer wa-token":
            return Response(status_code=401)
        data = self.files.get(request.path_params["media_id"])
        return Response(data, media_type="image/jpeg") if data is not None else Response(status_code=404)

    def app(self) -> Starlette:
        """Return the ASGI app of the fake."""
        return Starlette(routes=[
            Route("/telegram/bot{token}/{method}", self._telegram, methods=["POST", "GET"]),
            Route("/telegram/file/bot{token}/{path:path}", self._telegram_file),
            Route("/slack/api/{method}", self._slack, methods=["POST", "GET"]),
            Route("/slack/files/{file_id}", self._slack_file),
            Route("/whatsapp/media-bytes/{media_id}", self._whatsapp_bytes),
            Route("/whatsapp/v21.0/{obj}", self._whatsapp_get),
            Route("/whatsapp/v21.0/{number}/{edge}", self._whatsapp_post, methods=["POST"]),
        ])

    def start(self) -> FakePlatform:
        """Serve on 127.0.0.1 (a free port unless ``port`` is set) in a background thread."""
        import uvicorn

        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = int(s.getsockname()[1])
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="error", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="fake-platform")
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake platform did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def png(color: tuple[int, int, int] = (30, 30, 30), size: int = 64) -> bytes:
    """Return a small solid PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()
