"""Infrastructure the nodes use: settings, planner, tools, catalog and heavy models, resolved once.

The graph factory takes explicit objects (tests pass a scripted planner, a tiny catalog); everything
else is resolved from the run's :class:`~agent.context.Context` (``runtime.context``), never from the
environment: the image encoder a run's ``image_encoder`` names, the catalog of its ``catalog_dir``.
Photos are decoded and encoded once per process (:class:`~agent.vision.photos.PhotoCache`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.context import Context

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from agent.catalog.store import Catalog
    from agent.plan import ImageInfo
    from agent.planners.base import Planner
    from agent.vision.encoder import ImageEncoderBackend
    from agent.vision.photos import PhotoCache
    from tools.base import Tool

_catalogs: dict[tuple[str, str, str, str], Catalog] = {}
_catalog_lock = threading.Lock()


def _catalog_key(settings: Context) -> tuple[str, str, str, str]:
    return (str(Path(settings.catalog_dir).resolve()), settings.chroma_path, settings.chroma_url,
            settings.image_encoder.strip())


def open_catalog(settings: Context) -> Catalog:
    """Return the (cached) catalog of ``settings.catalog_dir``; it may be empty.

    Its image index is built with the encoder ``settings.image_encoder`` names.
    """
    from agent.catalog.store import Catalog

    key = _catalog_key(settings)
    with _catalog_lock:
        cat = _catalogs.get(key)
        if cat is None:
            cat = Catalog(settings.catalog_dir, chroma_path=settings.chroma_path, chroma_url=settings.chroma_url,
                          image_encoder=settings.image_encoder)
            _catalogs[key] = cat
        return cat


def forget_catalog(settings: Context) -> None:
    """Drop the cached catalogs of ``settings.catalog_dir`` (after rebuilding it on disk), whatever their encoder."""
    where = _catalog_key(settings)[:3]
    with _catalog_lock:
        for key in [k for k in _catalogs if k[:3] == where]:
            del _catalogs[key]


def _overlay(base: Context, run: Context) -> Context:
    """Return ``base`` with the fields ``run`` sets to something other than a plain ``Context()``'s values."""
    plain = _plain_context()
    changes = {f.name: getattr(run, f.name) for f in fields(Context) if getattr(run, f.name) != getattr(plain, f.name)}
    return base.with_(**changes) if changes else base


@functools.cache
def _plain_context() -> Context:
    return Context()


class MissingContextError(RuntimeError):
    """A graph run came without its settings and the graph has no default ones."""


@dataclass
class _SetupState:
    tool: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False


def _default_photos() -> PhotoCache:
    from agent.vision.photos import photo_cache

    return photo_cache()


@dataclass
class Services:
    """What a compiled graph's nodes use, resolved once and shared by its runs (``None`` = from settings).

    Attributes:
        planner: The planner; default: the one ``settings.planner`` names (one per name).
        tools: The tools; default: every registered tool, one instance per tool class.
        catalog: The catalog; default: the one in ``settings.catalog_dir``.
        encoder: The image encoder; default: the one ``settings.image_encoder`` names (one per process).
        default_context: Settings for runs invoked without ``context`` (a :class:`Context`, or a function
            called once to make it); ``None``: such a run fails with :class:`MissingContextError`.
        extra: Objects injected into tools as ``ToolContext.services`` (e.g. ``image_generator``).
        photos: Decoded photos and their vectors by hash (default: the process-wide cache).
        overlay_context: A run's ``context`` overrides ``default_context`` field by field (fields it leaves at
            their defaults keep the start-up values) instead of replacing it: LangGraph Server's exported
            graph, whose clients send ``context={"user_id": ...}`` and coerce it into a :class:`Context`.
    """

    planner: Planner | None = None
    tools: dict[str, Tool] | None = None
    catalog: Catalog | None = None
    encoder: ImageEncoderBackend | None = None
    default_context: Context | Callable[[], Context] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    photos: PhotoCache = field(default_factory=_default_photos)
    overlay_context: bool = False
    _planners: dict[str, Planner] = field(default_factory=dict)
    _tool_instances: dict[str, Tool] = field(default_factory=dict)
    _setups: dict[int, _SetupState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def context(self, runtime: Any) -> Context:
        """Return a run's settings: ``runtime.context``, else the graph's default settings.

        Raises:
            MissingContextError: if the run has no context and the graph no default.
        """
        ctx = getattr(runtime, "context", None) if runtime is not None else None
        if isinstance(ctx, Context) and not (self.overlay_context and self.default_context is not None):
            return ctx
        if ctx is not None and not isinstance(ctx, Context):
            raise TypeError(f"the graph's context must be an agent.context.Context, not {type(ctx).__name__}")
        default = self.default_context
        if default is None:
            raise MissingContextError(
                "this graph run has no settings: invoke it with context=Context(...) (Context.from_env() reads "
                "the FASHIONM3_* variables), or build the graph with Services(default_context=...)")
        if not isinstance(default, Context):
            with self._lock:
                if not isinstance(self.default_context, Context):
                    self.default_context = default()  # type: ignore[operator]
                default = self.default_context
        assert isinstance(default, Context)
        if isinstance(ctx, Context):
            return _overlay(default, ctx)
        return default

    def get_planner(self, settings: Context) -> Planner:
        """Return the injected planner, or the one named by ``settings.planner``."""
        if self.planner is not None:
            return self.planner
        with self._lock:
            planner = self._planners.get(settings.planner)
            if planner is None:
                from agent.planners import get_planner

                planner = get_planner(settings.planner, settings=settings)
                self._planners[settings.planner] = planner
            return planner

    def get_tools(self) -> dict[str, Tool]:
        """Return the injected tools, or every registered tool (re-read, so a tool registered later is used).

        One instance per tool class is kept, so models a tool loaded stay loaded.
        """
        if self.tools is not None:
            return self.tools
        from tools import discover

        with self._lock:
            out: dict[str, Tool] = {}
            for name, cls in discover().items():
                tool = self._tool_instances.get(name)
                if type(tool) is not cls:
                    tool = self._tool_instances[name] = cls()
                out[name] = tool
            return out

    def prepare_tool(self, tool: Tool) -> None:
        """Call ``tool.setup()`` once per tool instance, before its first run (thread-safe).

        A setup that raises is tried again before the next run.
        """
        with self._lock:
            state = self._setups.get(id(tool))
            if state is None or state.tool is not tool:
                state = self._setups[id(tool)] = _SetupState(tool)  # holds the tool: its id stays unique
        if state.done:
            return
        with state.lock:
            if not state.done:
                tool.setup()
                state.done = True

    def get_catalog(self, settings: Context) -> Catalog:
        """Return the injected catalog, or the one in ``settings.catalog_dir``."""
        return self.catalog if self.catalog is not None else open_catalog(settings)

    def get_image_encoder(self, settings: Context) -> ImageEncoderBackend:
        """Return the injected image encoder, or the process-wide one ``settings.image_encoder`` names."""
        if self.encoder is not None:
            return self.encoder
        from agent.vision.encoder import get_image_encoder

        return get_image_encoder(settings.image_encoder)

    def photo(self, info: ImageInfo, settings: Context) -> Image.Image:
        """Return a stored photo decoded (once per process; shared: do not modify it)."""
        return self.photos.image(info, settings.max_image_pixels)

    def embed_image(self, info: ImageInfo, settings: Context) -> np.ndarray:
        """Return the run's image encoder's vector of a stored photo (encoded once per process; read-only)."""
        return self.photos.vector(info, self.get_image_encoder(settings), settings.max_image_pixels)


def open_store(settings: Context) -> Any:
    """Return the preference store: Chroma (embedded, or a server when ``chroma_url`` is set).

    Raises:
        MissingDependencyError: if ``chromadb`` is not installed (preferences would not persist).
    """
    from agent.deps import ensure_installed
    from agent.memory import ChromaStore

    ensure_installed("chromadb", "The preference store (remembering what shoppers like)")
    return ChromaStore(path=settings.chroma_path, url=settings.chroma_url)


def open_queue(settings: Context) -> Any:
    """Return the service's turn queue: PostgreSQL when ``postgres_url`` is set, else the SQLite file."""
    if settings.postgres_url:
        from agent.serve.queue_pg import PostgresTurnQueue

        return PostgresTurnQueue(settings.postgres_url, min_size=settings.postgres_pool_min,
                                 max_size=settings.postgres_pool_max, lease_seconds=settings.turn_lease_seconds)
    from agent.serve.queue import SqliteTurnQueue

    return SqliteTurnQueue(settings.threads_db)


def server_store() -> Any:
    """Return LangGraph Server's long-term store: the Chroma preference store the ``FASHIONM3_*`` variables name.

    ``langgraph.json`` names it (``"store": {"path": "agent.services.server_store"}``), so threads on
    LangGraph Server read and write the same per-user memory as ``fashionm3 chat`` and ``fashionm3 serve``
    with the same settings (``data/chroma``, or the Chroma server of ``FASHIONM3_CHROMA_URL``).
    """
    return open_store(Context.from_env())


def open_checkpointer(settings: Context) -> Any:
    """Return the thread checkpointer: PostgreSQL when ``postgres_url`` is set, else SQLite on ``threads_db``.

    The PostgreSQL saver (``langgraph-checkpoint-postgres``) runs on a connection pool and creates its
    tables on first use; several service processes share it.
    """
    import sqlite3

    if settings.postgres_url:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(settings.postgres_url, min_size=settings.postgres_pool_min,
                              max_size=settings.postgres_pool_max, open=True, name="fm3-checkpoints",
                              kwargs={"autocommit": True, "prepare_threshold": 0}, timeout=10.0,
                              check=ConnectionPool.check_connection)  # a restarted server leaves dead connections
        saver = PostgresSaver(pool)  # type: ignore[arg-type]
        try:
            saver.setup()
        except BaseException:
            pool.close()  # a database still starting: the caller tries again with a new pool
            raise
        return saver

    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.threads_db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(settings.threads_db), check_same_thread=False)
    return SqliteSaver(conn)
