"""Tools from outside this package: LangChain tools adapted to the :class:`tools.base.Tool` contract.

Not a tool module itself (the leading underscore keeps it out of discovery).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from tools.base import Tool, ToolContext, ToolError, ToolResult


def is_langchain_tool(obj: Any) -> bool:
    """Whether ``obj`` is a ``langchain_core.tools.BaseTool`` (``@tool`` functions are)."""
    try:
        from langchain_core.tools import BaseTool
    except ImportError:  # pragma: no cover - langchain-core is a dependency
        return False
    return isinstance(obj, BaseTool)


def from_langchain(lc: Any) -> type[Tool]:
    """Return a :class:`Tool` subclass that runs the LangChain tool ``lc``.

    Its name, description (the planner-facing docstring) and argument schema are the LangChain
    tool's; a ``ToolException`` it raises becomes a :class:`ToolError` (something the shopper or the
    planner can fix); anything else propagates. The result's message is the tool's output (text, or
    JSON for structured output), also kept in ``data["output"]``.
    """
    from langchain_core.tools import ToolException

    schema = lc.args_schema if isinstance(lc.args_schema, type) and issubclass(lc.args_schema, BaseModel) else \
        lc.get_input_schema()
    tool_name = str(lc.name)

    class LangChainTool(Tool):
        def run(self, args: Any, ctx: ToolContext) -> ToolResult:
            try:
                out = lc.invoke(args.model_dump(exclude_none=True))
            except ToolException as exc:
                raise ToolError(str(exc)) from exc
            text = out if isinstance(out, str) else json.dumps(out, default=str, ensure_ascii=False)
            return ToolResult(tool=tool_name, message=text, data={"output": out})

    LangChainTool.name = tool_name
    LangChainTool.Args = schema
    LangChainTool.__doc__ = str(lc.description or tool_name)
    LangChainTool.__name__ = LangChainTool.__qualname__ = f"LangChainTool[{tool_name}]"
    return LangChainTool


def as_tool_class(obj: Any) -> type[Tool]:
    """Return the :class:`Tool` subclass for ``obj``: a Tool subclass, a LangChain tool, or a factory of either.

    Raises:
        TypeError: ``obj`` is none of these (the message names what it is).
    """
    if isinstance(obj, type) and issubclass(obj, Tool) and getattr(obj, "name", None):
        return obj
    if is_langchain_tool(obj):
        return from_langchain(obj)
    if callable(obj) and not isinstance(obj, type):
        made = obj()
        if (isinstance(made, type) and issubclass(made, Tool)) or is_langchain_tool(made):
            return as_tool_class(made)
    raise TypeError(f"{obj!r} is not a tool: give a tools.base.Tool subclass with a name, a LangChain tool "
                    "(langchain_core.tools.BaseTool, e.g. an @tool function), or a function returning one")
