"""Tools the planner can call, discovered from the modules of this package.

Adding a tool is adding one file here that defines one :class:`tools.base.Tool` subclass with a
``name``, an ``Args`` model and a docstring. Importing this package never imports torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from tools.base import Tool, ToolContext, ToolError, ToolResult

__all__ = ["Tool", "ToolContext", "ToolError", "ToolResult", "discover", "default_tools"]

_SKIP = {"base"}


@cache
def discover() -> dict[str, type[Tool]]:
    """Import every module of this package and return its tools by name.

    Raises:
        RuntimeError: if two tools share a name or a module defines no tool.
    """
    found: dict[str, type[Tool]] = {}
    for mod in pkgutil.iter_modules(__path__):
        if mod.name in _SKIP or mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        classes = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, Tool) and obj is not Tool
            and obj.__module__ == module.__name__ and getattr(obj, "name", None)
        ]
        if not classes:
            raise RuntimeError(f"tools/{mod.name}.py defines no Tool subclass with a name")
        for cls in classes:
            if cls.name in found:
                other = found[cls.name].__module__
                raise RuntimeError(f"two tools are named {cls.name!r}: {other} and {module.__name__}")
            found[cls.name] = cls
    return dict(sorted(found.items()))


def default_tools() -> dict[str, Tool]:
    """Return one instance of every registered tool, by name."""
    return {name: cls() for name, cls in discover().items()}
