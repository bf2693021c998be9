"""The graph's nodes: ingest -> recall -> plan -> act (-> plan ...) -> respond -> remember.

Nodes are built by :func:`make_nodes` around a :class:`~agent.services.Services`, read the run's
settings through ``Runtime[Context]`` (``Services.context``: the graph's default settings when a run
has none, else a clear error) and the memory store through ``runtime.store``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from agent.context import Context
from agent.media import ImageInputError
from agent.memory import MEMORY_ROOT, user_namespace
from agent.memory.extract import NO_FACT_INTENTS, extract_facts, merge_facts
from agent.plan import ImageInfo, Plan, PlannerInput, PreferenceFact, ShownItem, ToolResultView
from agent.reply import compose_reply, item_payload
from agent.services import Services
from agent.state import MAX_SHOWN, AgentState
from agent.vision.ingest import ingest_attachment
from tools.base import ToolContext, ToolResult

log = logging.getLogger(__name__)

PREFERENCES_NS = MEMORY_ROOT
#: Up to this many stored facts, recall returns them all; beyond it, by kind plus by meaning.
RECALL_ALL_LIMIT = 60
RECALL_SEMANTIC_K = 20
RANKING_KINDS = frozenset({"color", "category", "style", "material", "brand", "budget", "size"})


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return " ".join(parts)


def _last_user_text(state: AgentState) -> str:
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return _text(message).strip()
    return ""


def memory_namespace(user_id: str) -> tuple[str, str]:
    """Return the store namespace of a user's preferences (:func:`agent.memory.user_namespace`).

    Raises:
        InvalidUserIdError: (a ``ValueError``) for an id that cannot name a namespace.
    """
    return user_namespace(user_id)


def forget_all(store: Any, ns: tuple[str, ...]) -> int:
    """Delete every fact stored in a user's namespace (forget-me); return how many were deleted."""
    hits = store.search(ns, limit=10_000)
    for hit in hits:
        store.delete(ns, hit.key)
    return len(hits)


def fact_key(fact: PreferenceFact) -> str:
    """Return the store key of a fact: same kind and value share a key, so newer facts supersede."""
    return hashlib.sha1(fact.key().encode()).hexdigest()[:16]


def make_nodes(services: Services) -> dict[str, Callable[..., dict[str, Any]]]:
    """Return the node functions bound to ``services``.

    Progress goes to LangGraph's ``custom`` stream (``runtime.stream_writer``), one dict per event:
    ``{"event": "plan", "step", "intent", "calls": [{"tool", "args"}], "reply"}``,
    ``{"event": "tool_start", "tool", "args"}``, ``{"event": "tool_end", "tool", "ok", "message", "items",
    "images"}``, ``{"event": "items", "tool", "is_outfit", "items": [...]}`` and ``{"event": "image", "tool",
    "kind", "path"}``. The HTTP service forwards them as Server-Sent Events; LangGraph Server clients
    read them with ``stream_mode="custom"``.
    """

    def ingest(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        """Start a turn: count it, validate and store attached images, reset per-turn fields."""
        settings = services.context(runtime)
        turn = int(state.get("turn", 0)) + 1
        new_images: list[dict[str, Any]] = []
        errors: list[str] = []
        for att in state.get("attachments") or []:
            try:
                info = ingest_attachment(att, settings.media_dir, turn, settings.max_upload_bytes,
                                         settings.max_image_pixels, encoder=services.get_image_encoder(settings),
                                         photos=services.photos)
            except ImageInputError as exc:
                errors.append(str(exc))
                continue
            new_images.append(info.model_dump())
        return {
            "turn": turn,
            "request_id": str(state.get("request_id") or ""),
            "attachments": [],
            "images": [*state.get("images", []), *new_images],
            "new_images": new_images,
            "input_errors": errors,
            "preferences": [],
            "plans": [],
            "results": [],
            "steps": 0,
            "tool_calls": 0,
            "response": {},
        }

    def recall(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        """Fetch the user's stored preferences relevant to this turn (by kind, then by meaning)."""
        store = runtime.store
        if store is None:
            return {"preferences": []}
        settings = services.context(runtime)
        ns = memory_namespace(settings.user_id)
        everything = store.search(ns, limit=RECALL_ALL_LIMIT + 1)
        if len(everything) <= RECALL_ALL_LIMIT:
            hits = everything
        else:
            # Many facts: every fact of a kind that steers ranking, plus the ones closest in meaning.
            ranking = [h for h in everything if h.value.get("kind") in RANKING_KINDS]
            query = _last_user_text(state) or "preferences"
            semantic = store.search(ns, query=query, limit=RECALL_SEMANTIC_K)
            seen = {h.key for h in ranking}
            hits = ranking + [h for h in semantic if h.key not in seen]
        facts = []
        for hit in hits:
            try:
                facts.append(PreferenceFact.model_validate(hit.value).model_dump())
            except ValueError:
                log.warning("skipping malformed stored fact %s", hit.key)
        return {"preferences": facts}

    def plan(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        """Ask the planner for the next step and keep only calls to registered tools."""
        settings = services.context(runtime)
        tools = services.get_tools()
        view = planner_input(state, tools)
        planner = services.get_planner(settings)
        result = planner.plan(view)
        if not isinstance(result, Plan):
            result = Plan.model_validate(result)
        unknown = [c.name for c in result.calls if c.name not in tools]
        if unknown:
            log.warning("planner asked for unregistered tools %s", unknown)
            result = result.model_copy(update={"calls": [c for c in result.calls if c.name in tools]})
            if not result.calls and not result.reply:
                result.reply = f"Sorry, {', '.join(unknown)} isn't available in this installation."
        runtime.stream_writer({"event": "plan", "step": int(state.get("steps", 0)) + 1, "intent": result.intent,
                               "calls": [{"tool": c.name, "args": c.args} for c in result.calls],
                               "reply": bool(result.reply)})
        return {"plans": [*state.get("plans", []), result.model_dump()], "steps": int(state.get("steps", 0)) + 1}

    def act(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        """Run the latest plan's tool calls (bounded by ``max_tool_calls`` per turn)."""
        settings = services.context(runtime)
        tools = services.get_tools()
        current = Plan.model_validate(state["plans"][-1])
        ctx = tool_context(state, settings, services)
        ctx.request = _last_user_text(state)
        # a dislike said in this message ("I can't stand yellow, ...") already counts for this turn's items
        said = [PreferenceFact.model_validate(f) for p in state["plans"] for f in p.get("facts", [])]
        ctx.preferences = [*ctx.preferences, *(f for f in said if f.polarity == "dislike")]
        emit = runtime.stream_writer
        results = list(state.get("results", []))
        used = int(state.get("tool_calls", 0))
        produced: list[dict[str, Any]] = []
        for call in current.calls:
            if used >= settings.max_tool_calls:
                over = ToolResult(tool=call.name, ok=False, message="Too many tool calls in one turn; ask more simply.")
                results.append(over.model_dump())
                break
            used += 1
            tool = tools[call.name]
            emit({"event": "tool_start", "tool": call.name, "args": call.args})
            if not tool.available(ctx):
                result = ToolResult(tool=call.name, ok=False, message=f"{call.name} isn't available right now.")
            else:
                services.prepare_tool(tool)  # Tool.setup(), once per instance, before its first run
                result = tool(call.args, ctx)
            results.append(result.model_dump())
            emit({"event": "tool_end", "tool": call.name, "ok": result.ok, "message": result.message,
                  "items": len(result.items), "images": len(result.images)})
            if result.ok and result.items:
                emit({"event": "items", "tool": call.name, "is_outfit": result.is_outfit,
                      "items": [item_payload(i, ctx.catalog, call.name) for i in result.items]})
            for img in result.images if result.ok else []:
                emit({"event": "image", "tool": call.name, "kind": img.kind, "path": img.path})
            if result.ok and result.images:
                # later calls of this turn (same step or the next) can use what was just made ("latest")
                ctx.images = [*ctx.images, *result.images]
                produced.extend(img.model_dump() for img in result.images)
        update: dict[str, Any] = {"results": results, "tool_calls": used}
        if produced:
            update["images"] = [*state.get("images", []), *produced]
        return update

    def respond(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        """Compose the reply from tool results and update what has been shown."""
        settings = services.context(runtime)
        catalog = services.get_catalog(settings)
        plans = [Plan.model_validate(p) for p in state.get("plans", [])]
        results = [ToolResult.model_validate(r) for r in state.get("results", [])]
        response = compose_reply(plans, results, state.get("input_errors", []), settings, catalog,
                                 [ImageInfo.model_validate(i) for i in state.get("new_images", [])])
        turn = int(state.get("turn", 0))
        shown = list(state.get("shown", []))
        last_shown = list(state.get("last_shown", []))
        outfits = list(state.get("outfits", []))
        focus = state.get("focus_item_id")
        turn_items: list[dict[str, Any]] = []
        for r in results:
            if not r.ok:
                continue
            for item in r.items:
                if any(s["id"] == item.id for s in turn_items):
                    continue
                turn_items.append(ShownItem(id=item.id, title=item.title, category=item.category, color=item.color,
                                            price=item.price, turn=turn, position=len(turn_items) + 1,
                                            source=r.tool).model_dump())
            if r.outfit:
                outfits.append(list(r.outfit))
            if r.focus_item_id:
                focus = r.focus_item_id
            elif len(r.items) == 1 and not r.outfit:
                focus = r.items[0].id
        if turn_items:
            shown = (shown + turn_items)[-MAX_SHOWN:]
            last_shown = turn_items
        return {
            "response": response,
            "messages": [AIMessage(content=response["text"])],
            "shown": shown,
            "last_shown": last_shown,
            "outfits": outfits,
            "focus_item_id": focus,
        }

    def remember(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        """Write new preference facts and apply forget requests before the turn ends."""
        store = runtime.store
        if store is None:
            return {}
        settings = services.context(runtime)
        ns = memory_namespace(settings.user_id)
        turn = int(state.get("turn", 0))
        planned: list[PreferenceFact] = []
        intents: set[str] = set()
        for p in state.get("plans", []):
            current = Plan.model_validate(p)
            for key in current.forget:
                if key == "*":
                    forget_all(store, ns)
                    continue
                kind, _, value = key.partition(":")
                for hit in store.search(ns, filter={"kind": kind}, limit=1000):
                    if not value or str(hit.value.get("value", "")).lower() == value.lower():
                        store.delete(ns, hit.key)
            planned.extend(current.facts)
            intents.add(current.intent)
        heard = [] if intents & NO_FACT_INTENTS else extract_facts(_last_user_text(state), turn)
        for fact in merge_facts(heard, planned):
            fact = fact.model_copy(update={"source_turn": fact.source_turn or turn})
            record = fact.model_dump()
            record["text"] = fact.text or fact.sentence()
            store.put(ns, fact_key(fact), record)
        return {}

    return {"ingest": ingest, "recall": recall, "plan": plan, "act": act, "respond": respond, "remember": remember}


def planner_input(state: AgentState, tools: dict[str, Any]) -> PlannerInput:
    """Build the planner's view of the conversation from the state."""
    history = []
    for message in state.get("messages", [])[-9:-1]:
        role = "user" if isinstance(message, HumanMessage) else "assistant"
        history.append({"role": role, "content": _text(message)[:500]})
    results = [
        ToolResultView(name=r["tool"], ok=r["ok"], message=r.get("message", ""),
                       item_ids=[i["id"] for i in r.get("items", [])])
        for r in state.get("results", [])
    ]
    return PlannerInput(
        text=_last_user_text(state),
        turn=int(state.get("turn", 0)),
        step=int(state.get("steps", 0)),
        history=history,
        images=[ImageInfo.model_validate(i) for i in state.get("images", [])],
        new_images=[ImageInfo.model_validate(i) for i in state.get("new_images", [])],
        shown=[ShownItem.model_validate(s) for s in state.get("shown", [])],
        last_shown=[ShownItem.model_validate(s) for s in state.get("last_shown", [])],
        outfits=list(state.get("outfits", [])),
        focus_item_id=state.get("focus_item_id"),
        preferences=[PreferenceFact.model_validate(p) for p in state.get("preferences", [])],
        tools={name: tool.args_schema() for name, tool in tools.items()},
        results=results,
    )


def tool_context(state: AgentState, settings: Context, services: Services) -> ToolContext:
    """Build the injected context tools run with."""
    return ToolContext(
        settings=settings,
        catalog=services.get_catalog(settings),
        user_id=settings.user_id,
        preferences=[PreferenceFact.model_validate(p) for p in state.get("preferences", [])],
        shown=[ShownItem.model_validate(s) for s in state.get("shown", [])],
        outfits=list(state.get("outfits", [])),
        images=[ImageInfo.model_validate(i) for i in state.get("images", [])],
        turn=int(state.get("turn", 0)),
        services=services.extra,
        resources=services,
    )
