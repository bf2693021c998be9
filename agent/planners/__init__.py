"""Planner backends, by name: ``get_planner("rules")``.

Backends are created through factories imported lazily, so naming a heavy backend (a local model)
never loads it for callers that use another one.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from agent.planners.base import Planner

__all__ = ["Planner", "available_planners", "get_planner", "register_planner"]

_FACTORIES: dict[str, Callable[..., Planner]] = {}
_BUILTIN: dict[str, tuple[str, str]] = {
    "rules": ("agent.planners.rules", "RulesPlanner"),
    "scripted": ("agent.planners.scripted", "ScriptedPlanner"),
    "openai": ("agent.planners.openai_backend", "OpenAIPlanner"),
    "transformers": ("agent.planners.hf_backend", "TransformersPlanner"),
    "smol": ("agent.planners.smol", "SmolPlanner"),
    "smol-alone": ("agent.planners.smol.alone", "model_alone"),
}


def register_planner(name: str, factory: Callable[..., Planner]) -> None:
    """Register (or replace) a planner factory under ``name``."""
    if not name or not name.strip():
        raise ValueError("a planner needs a non-empty name")
    _FACTORIES[name.strip().lower()] = factory


def available_planners() -> list[str]:
    """Return the names ``get_planner`` accepts, sorted."""
    return sorted({*_BUILTIN, *_FACTORIES})


def get_planner(name: str, settings: Any = None, **kw: Any) -> Planner:
    """Create the planner called ``name`` with keyword arguments ``kw``.

    ``settings`` (the run's :class:`~agent.context.Context`) is passed to factories that take a
    ``settings`` argument (the model backends read their defaults from it).

    Raises:
        ValueError: if no planner has that name (the message lists the known ones).
    """
    key = (name or "").strip().lower()
    factory = _FACTORIES.get(key)
    if factory is None and key in _BUILTIN:
        module, attr = _BUILTIN[key]
        factory = getattr(importlib.import_module(module), attr)
    if factory is None:
        raise ValueError(f"unknown planner {name!r}; known planners: {', '.join(available_planners())}")
    if settings is not None and _takes_settings(factory):
        kw["settings"] = settings
    return factory(**kw)


def _takes_settings(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "settings" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
