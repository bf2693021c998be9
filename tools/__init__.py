"""Tools the planner can call: this package's modules, installed plug-ins, and tools registered at run time.

Adding a tool is adding one file here that defines one :class:`tools.base.Tool` subclass with a
``name``, an ``Args`` model and a docstring. From outside the repository, a package registers tools
under the ``fashionm3.tools`` entry-point group (each entry a Tool subclass, a LangChain tool, or a
function returning one), :func:`register_tool` adds one in-process, and the MCP servers the file in
``FASHIONM3_MCP_SERVERS`` lists bring their tools (:mod:`tools._mcp_servers`). Importing this package
never imports torch.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from tools.base import Tool, ToolContext, ToolError, ToolResult

__all__ = ["ENTRY_POINT_GROUP", "Tool", "ToolContext", "ToolError", "ToolResult", "argument_kinds", "default_tools",
           "discover", "register_tool", "tool_problems", "tool_sources"]

log = logging.getLogger(__name__)
_SKIP = {"base", "constraints"}
#: The entry-point group packages use to add tools (``[project.entry-points."fashionm3.tools"]``).
ENTRY_POINT_GROUP = "fashionm3.tools"
_registered: dict[str, type[Tool]] = {}
_sources: dict[str, str] = {}
_problems: list[str] = []


def register_tool(obj: Any) -> type[Tool]:
    """Add a tool in this process: a Tool subclass, a LangChain tool (``@tool``), or a factory of either.

    Returns the registered Tool subclass. Planners see it from their next plan on.

    Raises:
        TypeError: ``obj`` is not a tool.
    """
    from tools._external import as_tool_class

    cls = as_tool_class(obj)
    _registered[cls.name] = cls
    discover.cache_clear()
    return cls


def unregister_tool(name: str) -> None:
    """Remove a tool added with :func:`register_tool`."""
    _registered.pop(name, None)
    discover.cache_clear()


def tool_sources() -> dict[str, str]:
    """Return where each discovered tool comes from: ``builtin``, ``entry point <dist>``, ``registered``."""
    discover()
    return dict(_sources)


def tool_problems() -> list[str]:
    """Return why plug-in tools were left out (an entry point that fails to load, a name already taken)."""
    discover()
    return list(_problems)


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
    _sources.clear()
    _problems.clear()
    _sources.update({name: "builtin" for name in found})
    _add_plugins(found)
    _add_mcp_servers(found)
    for name, cls in _registered.items():
        if name in found and _sources.get(name) != "registered":
            _problems.append(f"registered tool {name!r} left out: a {_sources[name]} tool has that name")
            continue
        found[name] = cls
        _sources[name] = "registered"
    return dict(sorted(found.items()))


def _add_plugins(found: dict[str, type[Tool]]) -> None:
    """Add the tools of installed packages' ``fashionm3.tools`` entry points; a broken one is reported, not fatal."""
    from tools._external import as_tool_class

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            cls = as_tool_class(ep.load())
        except Exception as exc:  # a plug-in must not take the assistant down: say why it is missing
            _problems.append(f"entry point {ep.name} = {ep.value} ({dist}) left out: {type(exc).__name__}: {exc}")
            log.warning("tool plug-in %s (%s) left out: %s", ep.name, dist, exc)
            continue
        if cls.name in found:
            _problems.append(f"entry point {ep.name} ({dist}) left out: a {_sources[cls.name]} tool is already "
                             f"named {cls.name!r}")
            continue
        found[cls.name] = cls
        _sources[cls.name] = f"entry point {dist}"


def _add_mcp_servers(found: dict[str, type[Tool]]) -> None:
    """Add the tools of the MCP servers ``FASHIONM3_MCP_SERVERS`` lists; a server that is down is reported."""
    from agent.context import Context

    path = Context.from_env().mcp_servers
    if not path:
        return
    from tools._mcp_servers import mcp_tool_classes

    remote, problems = mcp_tool_classes(path)
    _problems.extend(problems)
    for name, (cls, server) in remote.items():
        if name in found:
            _problems.append(f"MCP server {server!r}: tool {name!r} left out: a {_sources[name]} tool has that name")
            continue
        found[name] = cls
        _sources[name] = f"mcp server {server}"


def argument_kinds(name: str) -> dict[str, str]:
    """Return what each argument of the tool ``name`` refers to (see :meth:`tools.base.Tool.argument_kinds`).

    An unknown tool has no kinds (its calls are refused by the plan checks as not offered).
    """
    cls = discover().get(name)
    return dict(cls.argument_kinds()) if cls is not None else {}


def default_tools() -> dict[str, Tool]:
    """Return one instance of every registered tool, by name."""
    return {name: cls() for name, cls in discover().items()}
