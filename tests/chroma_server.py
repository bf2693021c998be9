"""A real ``chroma run`` server on loopback for integration tests.

Import the ``chroma_server`` fixture into a test module
(``from chroma_server import chroma_server``). The server starts once per test process, on a free
127.0.0.1 port with a temporary database folder, and stops when the session ends. When the
``chroma`` executable is missing next to the interpreter the fixture skips with the reason.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

HEARTBEAT = "/api/v2/heartbeat"
START_TIMEOUT_S = 60.0


class ChromaServer:
    """One ``chroma run`` subprocess serving a temporary folder."""

    def __init__(self, executable: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fashionm3-chroma-server-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.folder / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                str(executable),
                "run",
                "--path",
                str(self.folder / "db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + HEARTBEAT, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma run did not answer {HEARTBEAT} within {timeout:g} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def chroma_executable() -> Path:
    return Path(sys.executable).parent / "chroma"


_server: ChromaServer | None = None


def start_server() -> ChromaServer:
    """Return the process's server, starting it on first use."""
    global _server
    if _server is None or _server.process.poll() is not None:
        exe = chroma_executable()
        if not exe.exists():
            pytest.skip(f"no `chroma` executable at {exe}; install chromadb in this environment")
        server = ChromaServer(exe)
        server.wait_ready()
        _server = server
        atexit.register(server.stop)
    return _server


def stop_server() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[str]:
    """Yield the URL of a live ``chroma run`` server on 127.0.0.1."""
    server = start_server()
    yield server.url
    stop_server()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
