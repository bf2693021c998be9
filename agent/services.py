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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_planner(self, settings: Context) -> Planner:
        """Return the injected planner, or the one named by ``settings.planner``."""
        if self.planner is not None:
            return self.planner
        with self._lock:
            planner = self._planners.get(settings.planner)
            if planner is None:
                from agent.planners import get_planner

                planner = get_planner(settings.planner)
                self._planners[settings.planner] = planner
            return planner

    def get_tools(self) -> dict[str, Tool]:
        """Return the injected tools, or every registered tool."""
        if self.tools is None:
            from tools import default_tools

            self.tools = default_tools()
        return self.tools

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


def open_checkpointer(settings: Context) -> Any:
    """Return a SQLite checkpointer on ``settings.threads_db`` (threads survive restarts)."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.threads_db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(settings.threads_db), check_same_thread=False)
    return SqliteSaver(conn)
