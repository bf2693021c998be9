"""A loopback HTTP server for catalog-import tests: product images, a slow one, a 50 MB one, a non-image."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

COLOURS = {"/shirt-white.png": (236, 236, 230), "/shirt-blue.png": (120, 160, 220), "/dress.png": (200, 30, 40)}
HUGE = 50 * 1024 * 1024


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 80)) -> bytes:
    """Return a small PNG of one colour."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the importer hung up (a timeout or a size limit): what the tests want

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        host = f"Host {self.headers.get('Host')}"  # which virtual host was asked for
        _Handler.hits[host] = _Handler.hits.get(host, 0) + 1
        if self.path in COLOURS:
            body = png(COLOURS[self.path])
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow.png":
            time.sleep(3)
            body = png((90, 90, 90))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(body)
        elif self.path in ("/huge.png", "/huge-undeclared.png"):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            if self.path == "/huge.png":
                self.send_header("Content-Length", str(HUGE))
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(HUGE // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/page.png":
            body = b"<html>not an image</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@contextmanager
def image_server() -> Iterator[tuple[str, dict[str, int]]]:
    """Serve the test images on 127.0.0.1; yield ``(base URL, hits per path)``."""
    _Handler.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.hits
    finally:
        server.shutdown()
        server.server_close()
