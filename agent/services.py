"""Infrastructure the nodes use: the planner, the tools and the catalog, resolved lazily.

The graph factory takes explicit objects (tests pass a scripted planner, a tiny catalog); the
exported ``graph`` resolves defaults from the runtime :class:`~agent.context.Context` on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.context import Context

if TYPE_CHECKING:
    from agent.catalog.store import Catalog
    from agent.planners.base import Planner
    from tools.base import Tool

_catalogs: dict[tuple[str, str, str], Catalog] = {}
_catalog_lock = threading.Lock()


def open_catalog(settings: Context) -> Catalog:
    """Return the (cached) catalog of ``settings.catalog_dir``; it may be empty."""
    from agent.catalog.store import Catalog

    key = (str(Path(settings.catalog_dir).resolve()), settings.chroma_path, settings.chroma_url)
    with _catalog_lock:
        cat = _catalogs.get(key)
        if cat is None:
            cat = Catalog(settings.catalog_dir, chroma_path=settings.chroma_path, chroma_url=settings.chroma_url)
            _catalogs[key] = cat
        return cat


def forget_catalog(settings: Context) -> None:
    """Drop a cached catalog (after rebuilding it on disk)."""
    key = (str(Path(settings.catalog_dir).resolve()), settings.chroma_path, settings.chroma_url)
    with _catalog_lock:
        _catalogs.pop(key, None)


@dataclass
class Services:
    """The planner, tools and catalog a compiled graph uses (``None`` = resolve from settings)."""

    planner: Planner | None = None
    tools: dict[str, Tool] | None = None
    catalog: Catalog | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _planners: dict[str, Planner] = field(default_factory=dict)
    _tool_instances: dict[str, Tool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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

    def get_catalog(self, settings: Context) -> Catalog:
        """Return the injected catalog, or the one in ``settings.catalog_dir``."""
        return self.catalog if self.catalog is not None else open_catalog(settings)


def open_store(settings: Context) -> Any:
    """Return the preference store: Chroma (embedded, or a server when ``chroma_url`` is set)."""
    try:
        from agent.memory import ChromaStore  # type: ignore[attr-defined]
    except ImportError:
        from langgraph.store.memory import InMemoryStore

        return InMemoryStore()
    return ChromaStore(path=settings.chroma_path, url=settings.chroma_url)


def open_queue(settings: Context) -> Any:
    """Return the service's turn queue: PostgreSQL when ``postgres_url`` is set, else the SQLite file."""
    if settings.postgres_url:
        from agent.serve.queue_pg import PostgresTurnQueue

        return PostgresTurnQueue(settings.postgres_url, min_size=settings.postgres_pool_min,
                                 max_size=settings.postgres_pool_max, lease_seconds=settings.turn_lease_seconds)
    from agent.serve.queue import SqliteTurnQueue

    return SqliteTurnQueue(settings.threads_db)


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
