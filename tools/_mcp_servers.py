"""Tools of MCP servers: each tool an MCP server offers becomes a registry :class:`~tools.base.Tool`.

``FASHIONM3_MCP_SERVERS`` names a JSON or YAML file listing the servers, stdio commands or Streamable
HTTP URLs (the ``mcpServers`` table other MCP clients use is read too)::

    servers:
      gift_shop:                      # a stdio server, started for each call
        command: python
        args: ["-m", "gift_shop.mcp"]
        env: {GIFT_SHOP_DB: /srv/gifts.db}
      stock:                          # a Streamable HTTP server
        url: http://127.0.0.1:9000/mcp
        headers: {Authorization: "Bearer ..."}

Each server's tools are listed once per discovery (:func:`tools.discover`) with the official ``mcp``
client; their JSON schema and description are the planner's (the OpenAI-compatible and transformers
planners see them at once). A server that cannot be reached at discovery contributes no tools and a
line in :func:`tools.tool_problems` (``fashionm3 tools list`` shows it); one that goes down later makes
its tools answer with a :class:`~tools.base.ToolError` saying so, which the reply explains: the turn
goes on. Not a tool module itself (the leading underscore keeps it out of discovery).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from tools.base import Tool, ToolContext, ToolError, ToolResult

#: Seconds to wait for a server to answer a tool listing or a call.
LIST_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 120.0


class MCPServerSpec(BaseModel):
    """One server of the file: a stdio ``command`` (with ``args``, ``env``, ``cwd``) or a Streamable HTTP ``url``."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=CALL_TIMEOUT_S, gt=0, description="Seconds a call may take.")

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerSpec:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either 'command' (a stdio server) or 'url' (a Streamable HTTP server)")
        return self

    def describe(self) -> str:
        """Return the server as one line (its command or URL)."""
        return self.url or " ".join([str(self.command), *self.args])


class MCPServersFileError(ValueError):
    """The ``FASHIONM3_MCP_SERVERS`` file cannot be read; the message names the file and the problem."""


def load_servers(path: str | Path) -> dict[str, MCPServerSpec]:
    """Read the servers file (JSON or YAML): ``{servers|mcpServers: {name: spec}}``.

    Raises:
        MCPServersFileError: a missing or malformed file, or a server entry that is not valid.
    """
    import yaml

    p = Path(path).expanduser()
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except OSError as exc:
        raise MCPServersFileError(f"FASHIONM3_MCP_SERVERS={path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise MCPServersFileError(f"FASHIONM3_MCP_SERVERS={path}: not valid JSON or YAML ({exc})") from None
    table = raw.get("servers", raw.get("mcpServers")) if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        raise MCPServersFileError(f"FASHIONM3_MCP_SERVERS={path}: expected a 'servers' (or 'mcpServers') table of "
                                  "name: {command, args} or name: {url}")
    out = {}
    for name, spec in table.items():
        try:
            out[str(name)] = MCPServerSpec.model_validate(spec)
        except ValidationError as exc:
            problems = "; ".join(e["msg"] for e in exc.errors())
            raise MCPServersFileError(f"FASHIONM3_MCP_SERVERS={path}: server {name!r}: {problems}") from None
    return out


def _run(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
    """Run ``coro`` to completion on a fresh event loop in a worker thread (callers may be inside a loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, timeout)).result()


def _client(spec: MCPServerSpec) -> Any:
    from mcp import Client

    if spec.url:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(headers=spec.headers, timeout=spec.timeout)
        return Client(streamable_http_client(spec.url, http_client=http), read_timeout_seconds=spec.timeout)
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=str(spec.command), args=spec.args, env=spec.env or None, cwd=spec.cwd)
    return Client(params, read_timeout_seconds=spec.timeout)


async def _list(spec: MCPServerSpec) -> list[Any]:
    async with _client(spec) as client:
        return list((await client.list_tools()).tools)


async def _call(spec: MCPServerSpec, name: str, args: dict[str, Any]) -> Any:
    async with _client(spec) as client:
        return await client.call_tool(name, args)


def _why(exc: BaseException) -> str:
    """Return the innermost reasons of a (possibly grouped) failure, on one line."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(_why(e) for e in exc.exceptions))
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")[:300]


_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list,
                          "object": dict}


def args_model(tool_name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """Return a pydantic model of a JSON schema's top-level properties (types checked here, the rest by the server)."""
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for prop, sub in (schema.get("properties") or {}).items():
        kind = sub.get("type") if isinstance(sub, dict) else None
        py = _TYPES.get(kind, Any) if isinstance(kind, str) else Any
        desc = sub.get("description") if isinstance(sub, dict) else None
        if prop in required:
            fields[prop] = (py, Field(description=desc))
        else:
            fields[prop] = (py | None if py is not Any else Any, Field(default=None, description=desc))
    config = ConfigDict(extra="forbid") if schema.get("additionalProperties") is False else ConfigDict(extra="allow")
    model: type[BaseModel] = create_model(f"{tool_name}_args", __config__=config, **fields)
    return model


class MCPRemoteTool(Tool):
    """Base of the tools of an MCP server (one subclass per remote tool, made by :func:`mcp_tool_classes`)."""

    server_name: ClassVar[str] = ""
    server: ClassVar[MCPServerSpec]
    remote_schema: ClassVar[dict[str, Any]] = {}

    @classmethod
    def args_schema(cls) -> dict[str, Any]:
        """Return the server's own JSON schema of the arguments."""
        return cls.remote_schema

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        """Call the tool on its server; its text, structured content and images become the result.

        Raises:
            ToolError: the server cannot be reached (the tool is unavailable), or it answered an error.
        """
        try:
            result = _run(_call(self.server, self.name, args.model_dump(exclude_none=True)), self.server.timeout)
        except (OSError, TimeoutError, BaseExceptionGroup) as exc:
            where = self.server.describe()
            raise ToolError(f"{self.name} is unavailable right now: its MCP server {self.server_name!r} ({where}) "
                            f"could not be reached ({_why(exc)}). Try again later.") from None
        except Exception as exc:  # the SDK's transport and protocol errors (McpError, httpx2 errors)
            if type(exc).__module__.split(".")[0] not in ("mcp", "httpx2", "httpcore", "anyio"):
                raise
            raise ToolError(f"{self.name} is unavailable right now: its MCP server {self.server_name!r} "
                            f"failed ({_why(exc)}). Try again later.") from None
        text = "\n".join(b.text for b in result.content if getattr(b, "type", "") == "text").strip()
        if result.is_error:
            raise ToolError(text or f"{self.name} failed on its MCP server {self.server_name!r}.")
        images = [_store_image(b, ctx) for b in result.content if getattr(b, "type", "") == "image"]
        data: dict[str, Any] = {"server": self.server_name}
        if result.structured_content is not None:
            data["structured"] = result.structured_content
        return ToolResult(tool=self.name, message=text or json.dumps(result.structured_content or {}),
                          images=[i for i in images if i is not None], data=data)


def _store_image(block: Any, ctx: ToolContext) -> Any:
    """Store an image a server returned in the media folder; return its reference (None if it is not an image)."""
    from agent.media import ImageInputError, decode_image, store_image
    from agent.plan import ImageInfo

    try:
        raw = base64.b64decode(block.data)
        img = decode_image(raw, "mcp-image", ctx.settings.max_image_pixels)
    except (ValueError, ImageInputError):
        return None
    sha = hashlib.sha256(raw).hexdigest()
    path = store_image(img, ctx.settings.media_dir, sha)
    return ImageInfo(sha256=sha, path=str(path), turn=ctx.turn, width=img.width, height=img.height, kind="generated")


def mcp_tool_classes(path: str | Path) -> tuple[dict[str, tuple[type[Tool], str]], list[str]]:
    """Return the tools of the servers in ``path`` (``{name: (class, server name)}``) and why any are missing."""
    problems: list[str] = []
    try:
        servers = load_servers(path)
    except MCPServersFileError as exc:
        return {}, [str(exc)]
    found: dict[str, tuple[type[Tool], str]] = {}
    for server_name, spec in servers.items():
        try:
            listed = _run(_list(spec), LIST_TIMEOUT_S)
        except Exception as exc:  # a server that is down or broken must not take the assistant down: say why
            problems.append(f"MCP server {server_name!r} ({spec.describe()}) left out: unreachable ({_why(exc)}); "
                            "its tools are unavailable")
            continue
        for remote in listed:
            if remote.name in found:
                problems.append(f"MCP server {server_name!r}: tool {remote.name!r} left out: server "
                                f"{found[remote.name][1]!r} already has a tool of that name")
                continue
            schema = dict(remote.input_schema or {"type": "object", "properties": {}})
            cls = type(f"MCPTool[{remote.name}]", (MCPRemoteTool,), {
                "__doc__": remote.description or remote.title or remote.name,
                "__module__": __name__,
                "name": remote.name,
                "Args": args_model(remote.name, schema),
                "server_name": server_name,
                "server": spec,
                "remote_schema": schema,
            })
            found[remote.name] = (cls, server_name)
    return found, problems


__all__ = ["MCPRemoteTool", "MCPServerSpec", "MCPServersFileError", "args_model", "load_servers",
           "mcp_tool_classes"]
