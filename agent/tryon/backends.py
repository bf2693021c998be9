"""The try-on backend factory: ``get_backend(name, settings)`` builds and caches one backend per configuration.

Kept apart from :mod:`agent.tryon.base` (the contract every backend imports) so the contract never
imports a backend.
"""

from __future__ import annotations

import threading

from agent.context import Context
from agent.tryon.base import ENV_BACKEND, TryOnBackend

_BACKENDS: dict[str, TryOnBackend] = {}
_LOCK = threading.Lock()


def get_backend(name: str | None = None, settings: Context | None = None) -> TryOnBackend:
    """Return the try-on backend ``name`` (default: ``settings.tryon_backend``), cached per process.

    ``settings`` are the caller's (a run's); without them, the defaults of :class:`Context` (the
    ``mediapipe`` backend), never the environment.

    Raises:
        ValueError: for an unknown backend name or a backend missing its settings.
    """
    s = settings if settings is not None else Context()
    key = (name or s.tryon_backend or "mediapipe").strip().lower()
    cache_key = f"{key}|{s.tryon_url}|{s.tryon_timeout}|{s.tryon_model or s.image_model}"
    with _LOCK:
        if cache_key not in _BACKENDS:
            _BACKENDS[cache_key] = _make(key, s)
        return _BACKENDS[cache_key]


def _make(key: str, settings: Context) -> TryOnBackend:
    if key == "mediapipe":
        from agent.tryon.recolour import RecolourTryOn

        return RecolourTryOn()
    if key == "inpaint":
        from agent.tryon.inpaint import InpaintTryOn

        return InpaintTryOn.from_settings(settings)
    if key == "http":
        from agent.tryon.http_backend import HttpTryOn

        return HttpTryOn.from_settings(settings)
    raise ValueError(f"unknown try-on backend {key!r}; use mediapipe, inpaint or http ({ENV_BACKEND})")
