"""The MCP server: every registered tool, ``chat`` (one assistant turn) and ``forget_user``.

Built on the official SDK's :class:`mcp.server.mcpserver.MCPServer` (``mcp`` 2.x): its tool list and
tool calls come from the tool registry (:func:`tools.discover`, through the graph's
:class:`~agent.services.Services`), so a tool added later is served with no edit here, with the
registry's JSON schema and planner-facing description. ``fashionm3 mcp`` serves it over stdio
(:func:`serve_stdio`); ``fashionm3 serve`` mounts it over Streamable HTTP at ``/mcp``.

Results carry structured content (the items as JSON: id, title, category, colour, price, stock,
image URL) and the pictures themselves as PNG image content (``image/png``), each at most
``mcp_image_size`` pixels a side: product thumbnails (at most ``mcp_thumbnails`` per result) and the
generated or try-on images. A photo argument takes base64 image data (or a ``data:`` URL) or the
media id ``POST /v1/media`` answered; anything else is a tool error saying what was wrong.

Memory is per ``user_id``: a hosting agent passes its own end-user's id (validated by
:func:`agent.memory.keys.normalise_user_id`), never one id for everybody.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context as MCPContext
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent
from mcp.types import Tool as MCPTool

from agent.context import Context
from agent.media import ImageInputError, is_media_id
from agent.plan import ImageInfo
from agent.services import Services

log = logging.getLogger(__name__)

THREAD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_DATA_URL = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,", re.IGNORECASE)
#: How a photo argument is described to MCP clients (the registry's own text speaks of hashes of attachments).
IMAGE_ARG_NOTE = ("A photo: base64 image data (PNG, JPEG or WebP; a data: URL works too) or the media_id "
                  "that POST /v1/media answered.")

CHAT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "thread_id": {"type": "string", "description": "The conversation: the same id continues it ('the second "
                      "one' refers to its items). 1-128 letters, digits and '._:@-'."},
        "user_id": {"type": "string", "description": "Your end-user's own id: their preferences are remembered "
                    "per id (never share one id between people)."},
        "message": {"type": "string", "description": "What the shopper says."},
        "images": {"type": "array", "items": {"type": "string"}, "default": [],
                   "description": "Photos sent with the message: " + IMAGE_ARG_NOTE},
    },
    "required": ["thread_id", "user_id", "message"],
    "additionalProperties": False,
}
FORGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"user_id": {"type": "string", "description": "Whose remembered preferences to delete, all of "
                               "them."}},
    "required": ["user_id"],
    "additionalProperties": False,
}
CHAT_DESCRIPTION = ("Talk to the FashionM3 shopping assistant: one full turn of a conversation (it plans, searches "
                    "the catalog, recommends outfits, finds alternatives, generates and tries on garments, and "
                    "remembers the shopper's preferences). Returns the reply, the items shown and any pictures.")
FORGET_DESCRIPTION = "Forget everything the assistant remembers about one shopper (their stored preferences)."


class MCPArgumentError(ValueError):
    """A tool argument an MCP client sent is unusable; the message says what was wrong and what to send."""


class Turns(Protocol):
    """Runs ``chat`` turns and tells where the images they show are.

    ``fashionm3 mcp`` runs them on its own graph (:class:`LocalTurns`); ``fashionm3 serve`` through its
    durable turn queue, so MCP turns share the HTTP API's ordering and exactly-once handling.
    """

    async def run(self, thread_id: str, user_id: str, text: str, media_ids: list[str]) -> dict[str, Any]:
        """Run one turn and return its response payload (the ``fashionm3 ask --json`` shape)."""
        ...

    def file(self, ref: str) -> Path | None:
        """Return the local file behind an image reference of a payload (a path or a media URL)."""
        ...

    def url(self, ref: str) -> str:
        """Return the URL a client fetches an image reference from."""
        ...


class LocalTurns:
    """Turns on a graph in this process (stdio server); one turn of a thread at a time."""

    def __init__(self, graph: Any, settings: Context) -> None:
        self.graph = graph
        self.settings = settings
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, thread_id: str, user_id: str, text: str, media_ids: list[str]) -> dict[str, Any]:
        """Run one turn on ``thread_id`` with ``user_id``'s memory."""
        from agent.session import Session

        media = self.settings.media_dir
        attachments = [{"path": str(media / f"{m}.png"), "sha256": m, "name": f"{m[:12]}.png"} for m in media_ids]
        session = Session(graph=self.graph, settings=self.settings.with_(user_id=user_id), thread_id=thread_id)
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        async with lock:
            return await anyio.to_thread.run_sync(session.turn, text, attachments)

    def file(self, ref: str) -> Path | None:
        """Return ``ref`` as a path when it is a file."""
        path = Path(ref) if ref else None
        return path if path is not None and path.is_file() else None

    def url(self, ref: str) -> str:
        """Return a ``file:`` URI (a stdio client runs on this machine), or the public URL when one is set."""
        path = self.file(ref)
        if path is None:
            return ref
        if self.settings.public_url and path.parent.resolve() == self.settings.media_dir.resolve():
            return f"{self.settings.public_url.rstrip('/')}/v1/media/{path.name}"
        return path.resolve().as_uri()


def thumbnail_png(path: Path, size: int) -> str:
    """Return the image at ``path`` as base64 PNG, at most ``size`` pixels a side (aspect kept)."""
    from PIL import Image

    with Image.open(path) as opened:
        img = opened.convert("RGBA" if opened.mode in ("RGBA", "LA", "P") else "RGB")
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


class FashionMCPServer(MCPServer):
    """The assistant as an MCP server: the registry's tools, ``chat`` and ``forget_user``.

    Args:
        settings: The server's settings (per-call ``user_id`` replaces ``settings.user_id``).
        services: The graph's services (catalog, tools, image encoder, photo cache).
        turns: Where ``chat`` turns run.
        store: The preference store ``forget_user`` deletes from.
    """

    def __init__(self, settings: Context, services: Services, turns: Turns, store: Any) -> None:
        super().__init__(name="fashionm3", title="FashionM3 fashion assistant", version="0.1.0",
                         instructions="A fashion shopping assistant over a real catalog. Call `chat` for a "
                                      "conversation (pass your end-user's own user_id and a thread_id), or the "
                                      "catalog tools directly. Photos go in as base64 data or /v1/media ids.",
                         log_level="WARNING")
        self.fm3_settings = settings
        self.services = services
        self.turns = turns
        self.store = store

    # -- the tool list -------------------------------------------------------------------------------
    async def list_tools(self) -> list[MCPTool]:
        """Return every registered tool (registry schema and description), then ``chat`` and ``forget_user``."""
        out = []
        for name, tool in self.services.get_tools().items():
            cls = type(tool)
            out.append(MCPTool(name=name, description=cls.description(), input_schema=self._schema(cls)))
        out.append(MCPTool(name="chat", description=CHAT_DESCRIPTION, input_schema=CHAT_SCHEMA))
        out.append(MCPTool(name="forget_user", description=FORGET_DESCRIPTION, input_schema=FORGET_SCHEMA))
        return out

    @staticmethod
    def _schema(cls: Any) -> dict[str, Any]:
        """Return the registry schema, with photo arguments described for remote clients."""
        schema = json.loads(json.dumps(cls.args_schema()))
        props = schema.get("properties", {})
        for arg, kind in cls.argument_kinds().items():
            if kind == "image" and arg in props:
                props[arg]["description"] = IMAGE_ARG_NOTE
        return dict(schema)

    # -- tool calls ------------------------------------------------------------------------------------
    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: MCPContext[Any, Any] | None = None) -> CallToolResult:  # type: ignore[override]
        """Run ``name``: a registered tool, ``chat`` or ``forget_user``; what the caller can fix is an error result."""
        try:
            if name == "chat":
                return await self._chat(arguments)
            if name == "forget_user":
                return await self._forget(arguments)
            tools = self.services.get_tools()
            if name not in tools:
                known = ", ".join([*tools, "chat", "forget_user"])
                raise MCPArgumentError(f"Unknown tool {name!r}; the tools are: {known}.")
            return await self._run_tool(name, tools[name], dict(arguments or {}))
        except (MCPArgumentError, ImageInputError) as exc:
            return error_result(str(exc))

    async def _run_tool(self, name: str, tool: Any, args: dict[str, Any]) -> CallToolResult:
        from tools.base import ToolContext

        settings = self.fm3_settings
        images: list[ImageInfo] = []
        for arg, kind in type(tool).argument_kinds().items():
            value = args.get(arg)
            if kind == "image" and isinstance(value, str) and value.strip() and value not in ("latest", "last"):
                info = await anyio.to_thread.run_sync(self._ingest, value, arg)
                images.append(info)
                args[arg] = info.sha256
        ctx = ToolContext(settings=settings, catalog=self.services.get_catalog(settings), user_id=settings.user_id,
                          images=images, turn=1, services=self.services.extra, resources=self.services)

        def run() -> Any:
            self.services.prepare_tool(tool)
            return tool(args, ctx)

        result = await anyio.to_thread.run_sync(run)
        if not result.ok:
            return error_result(result.message)
        from agent.reply import item_payload

        items = [self._item(item_payload(i, ctx.catalog, name)) for i in result.items]
        closest = [self._item(item_payload(i, ctx.catalog, name)) for i in result.closest]
        pictures = [{"kind": img.kind, "media_id": img.sha256, "url": self.turns.url(img.path)}
                    for img in result.images]
        structured: dict[str, Any] = {"tool": name, "message": result.message, "items": items, "closest": closest,
                                      "images": pictures, "is_outfit": result.is_outfit,
                                      "explanation": result.explanation}
        if result.constraints is not None:
            structured["constraints"] = result.constraints.model_dump()
        if result.data:
            structured["data"] = json.loads(json.dumps(result.data, default=str))
        text = result.message or f"{len(items)} items"
        product_files = [self.turns.file(str(item_payload(i, ctx.catalog, name)["image"])) for i in result.items]
        made_files = [self.turns.file(img.path) for img in result.images]
        return self._result(text, structured, product_files, made_files)

    async def _chat(self, arguments: dict[str, Any]) -> CallToolResult:
        from agent.memory.keys import normalise_user_id

        args = dict(arguments or {})
        unknown = sorted(set(args) - set(CHAT_SCHEMA["properties"]))
        if unknown:
            raise MCPArgumentError(f"chat: unknown argument(s) {', '.join(unknown)}; it takes thread_id, user_id, "
                                   "message and images.")
        thread_id = str(args.get("thread_id") or "")
        if not THREAD_ID_RE.match(thread_id):
            raise MCPArgumentError(f"chat: thread_id {thread_id[:80]!r} is not valid: use 1-128 letters, digits and "
                                   "'._:@-', starting with a letter or digit.")
        try:
            user_id = normalise_user_id(args.get("user_id"))  # type: ignore[arg-type]
        except ValueError as exc:
            raise MCPArgumentError(f"chat: invalid user_id: {exc}") from None
        message = args.get("message")
        if not isinstance(message, str):
            raise MCPArgumentError("chat: message must be a string (what the shopper says).")
        raw_images = args.get("images") or []
        if not isinstance(raw_images, list) or not all(isinstance(i, str) for i in raw_images):
            raise MCPArgumentError("chat: images must be a list of strings: " + IMAGE_ARG_NOTE)
        media_ids = []
        for n, value in enumerate(raw_images):
            info = await anyio.to_thread.run_sync(self._ingest, value, f"images[{n}]")
            media_ids.append(info.sha256)
        if not message.strip() and not media_ids:
            raise MCPArgumentError("chat: the message is empty: send some text, an image, or both.")
        resp = await self.turns.run(thread_id, user_id, message.strip(), media_ids)
        items = [self._item(i) for i in resp.get("items", [])]
        pictures = [{"url": self.turns.url(str(ref))} for ref in resp.get("images", [])]
        structured = {"thread_id": thread_id, "user_id": user_id, "text": resp.get("text", ""),
                      "intent": resp.get("intent", ""), "items": items, "images": pictures,
                      "is_outfit": bool(resp.get("is_outfit")), "errors": list(resp.get("errors", []))}
        product_files = [self.turns.file(str(i.get("image", ""))) for i in resp.get("items", [])]
        made_files = [self.turns.file(str(ref)) for ref in resp.get("images", [])]
        return self._result(str(resp.get("text", "")), structured, product_files, made_files)

    async def _forget(self, arguments: dict[str, Any]) -> CallToolResult:
        from agent.memory.keys import normalise_user_id
        from agent.nodes import forget_all, memory_namespace

        args = dict(arguments or {})
        try:
            user_id = normalise_user_id(args.get("user_id"))  # type: ignore[arg-type]
        except ValueError as exc:
            raise MCPArgumentError(f"forget_user: invalid user_id: {exc}") from None
        if self.store is None:
            raise MCPArgumentError("forget_user: the preference store is not available yet (the server is still "
                                   "starting); try again in a few seconds.")
        n = await anyio.to_thread.run_sync(forget_all, self.store, memory_namespace(user_id))
        text = f"Forgot {n} remembered preference{'s' if n != 1 else ''} of {user_id}."
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content={"user_id": user_id, "forgotten": n})

    # -- helpers ---------------------------------------------------------------------------------------
    def _ingest(self, value: str, arg: str) -> ImageInfo:
        """Store a photo argument (base64 data or a media id) like an upload and return its reference.

        Raises:
            MCPArgumentError: an unknown media id, or data that is not base64.
            ImageInputError: data that is not a usable image (type, size, pixels).
        """
        from agent.vision.ingest import ingest_attachment

        settings = self.fm3_settings
        value = value.strip()
        if is_media_id(value):
            path = settings.media_dir / f"{value}.png"
            if not path.is_file():
                raise MCPArgumentError(f"{arg}: no uploaded image has media_id {value[:16]}...; upload it with POST "
                                       "/v1/media first, or send the photo as base64 data.")
            att: dict[str, Any] = {"path": str(path), "sha256": value, "name": f"{value[:12]}.png"}
        else:
            data = _DATA_URL.sub("", value)
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise MCPArgumentError(f"{arg}: {value[:24]!r}... is neither base64 image data nor a media_id "
                                       "from POST /v1/media; send the photo's bytes base64-encoded.") from None
            att = {"data_base64": data, "name": arg}
        return ingest_attachment(att, settings.media_dir, 1, settings.max_upload_bytes, settings.max_image_pixels,
                                 encoder=self.services.get_image_encoder(settings), photos=self.services.photos)

    def _item(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Return an item as MCP clients get it: id, title, category, colour, price, stock, sizes, image URL."""
        out = {k: payload.get(k) for k in ("id", "title", "category", "color", "price", "stock")}
        out["sizes"] = list(payload.get("sizes") or [])
        out["image"] = self.turns.url(str(payload.get("image", ""))) if payload.get("image") else \
            str(payload.get("image_url", ""))
        return out

    def _result(self, text: str, structured: dict[str, Any], product_files: list[Path | None],
                made_files: list[Path | None]) -> CallToolResult:
        size = max(16, int(self.fm3_settings.mcp_image_size))
        thumbs = [p for p in product_files if p is not None][: max(0, int(self.fm3_settings.mcp_thumbnails))]
        content: list[ContentBlock] = [TextContent(type="text", text=text),
                                       TextContent(type="text", text=json.dumps(structured, ensure_ascii=False))]
        for path in [*(p for p in made_files if p is not None), *thumbs]:
            content.append(ImageContent(type="image", data=thumbnail_png(path, size), mime_type="image/png"))
        return CallToolResult(content=content, structured_content=structured)


def error_result(message: str) -> CallToolResult:
    """Return an MCP tool error whose text says what was wrong."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def create_local_server(settings: Context, planner: Any = None, catalog: Any = None, store: Any = None,
                        checkpointer: Any = None) -> FashionMCPServer:
    """Return a server running turns on its own graph (threads in ``settings.threads_db``, memory in Chroma)."""
    from agent.services import open_checkpointer, open_store
    from graph import create_builder

    services = Services(planner=planner, catalog=catalog, default_context=settings)
    store = store if store is not None else open_store(settings)
    graph = create_builder(services).compile(
        checkpointer=checkpointer if checkpointer is not None else open_checkpointer(settings), store=store)
    return FashionMCPServer(settings, services, LocalTurns(graph, settings), store)


def serve_stdio(server: FashionMCPServer, ready: Callable[[], None] | None = None) -> None:
    """Serve ``server`` over stdin/stdout until the client closes it."""
    if ready is not None:
        ready()
    anyio.run(server.run_stdio_async)
