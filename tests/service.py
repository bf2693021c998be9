"""A real ``fashionm3 serve`` process on loopback for service, browser and benchmark tests.

``start_service(data_dir)`` copies nothing: pass a data folder of its own (``copy_data`` copies the
session's small built catalog into a fresh folder so each server has its own Chroma and SQLite files).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_data(src: str | Path, dst: Path) -> Path:
    """Copy a built data folder (catalog, its Chroma index) into ``dst`` without threads or media."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("threads.sqlite*", "media", "fashionm3-store.lock"))
    return dst


class Service:
    """One ``python -m agent.cli serve`` subprocess."""

    def __init__(self, data_dir: Path, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FASHIONM3_DATA_DIR": str(self.data_dir), "FASHIONM3_PLANNER": "rules",
                    "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", **(env or {})}
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Service:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "serve", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"fashionm3 serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"fashionm3 serve not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """Kill -9 (no clean shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
