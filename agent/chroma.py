"""Chroma clients: embedded ``PersistentClient`` by default, ``HttpClient`` when a server URL is set."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlparse

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def get_client(path: str = "", url: str = "") -> Any:
    """Return a (cached) Chroma client for an embedded folder or a server URL.

    Args:
        path: Folder of the embedded database (used when ``url`` is empty).
        url: ``http://host:port`` of a ``chroma run`` server.
    """
    import chromadb
    from chromadb.config import Settings

    key = f"url:{url}" if url else f"path:{path}"
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        settings = Settings(anonymized_telemetry=False, allow_reset=True)
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            if not parsed.hostname:
                raise ValueError(f"bad Chroma URL {url!r}; expected http://host:port")
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
        else:
            if not path:
                raise ValueError("an embedded Chroma client needs a folder path")
            client = chromadb.PersistentClient(path=path, settings=settings)
        _clients[key] = client
        return client


def forget_client(path: str = "", url: str = "") -> None:
    """Drop a cached client (tests that delete a database folder call this)."""
    key = f"url:{url}" if url else f"path:{path}"
    with _lock:
        _clients.pop(key, None)
