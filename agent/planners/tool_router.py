"""Route a request to a tool a planner was not trained on, by closeness to the tool's declared examples.

A tool declares a few example requests (``Tool.examples``). The rules planner and the fine-tuned
planner know the built-in tools; for any other tool offered in a step, :func:`route_untrained`
embeds the message with MiniLM (:mod:`agent.embeddings`) and compares it with every tool's examples
(the built-in tools' examples too). When the closest example belongs to an untrained tool and its
cosine similarity reaches :data:`THRESHOLD`, the step calls that tool, with its arguments filled
from the shared message reader (:mod:`agent.understanding`) by argument kind: a shown item the
message refers to (or the item in focus), the latest photo, categories and colours mentioned,
price bounds, and the message itself for free-text arguments. The plan checks then validate the
call like any other; a tool whose required arguments cannot be filled is not routed.

Nothing is embedded when every offered tool is a trained one, so the built-in path costs nothing.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Collection
from typing import Any

from agent.plan import Plan, PlannerInput, ToolCall

__all__ = ["THRESHOLD", "TRAINED_TOOLS", "fill_arguments", "route_untrained"]

log = logging.getLogger(__name__)

#: The tools the rules planner and the shipped fine-tuned planner were written or trained for.
TRAINED_TOOLS = frozenset({"search_catalog", "recommend_outfit", "find_alternatives", "recall_outfit",
                           "generate_image", "virtual_try_on"})
#: Lowest cosine similarity (MiniLM, unit vectors) between a message and an example that routes to a tool.
THRESHOLD = 0.6


@functools.lru_cache(maxsize=256)
def _example_vectors(tool: str, examples: tuple[str, ...]) -> Any:
    from agent.embeddings import get_text_embedder

    return get_text_embedder().encode(list(examples))


def fill_arguments(tool: type[Any], view: PlannerInput) -> dict[str, Any] | None:
    """Return arguments for ``tool`` read from the message by argument kind, or None if a required one is unknown."""
    from agent.understanding.prices import price_slots
    from agent.understanding.references import find_reference

    parsed = view.parsed
    kinds = tool.argument_kinds()
    fields = tool.Args.model_fields
    args: dict[str, Any] = {}
    prices = price_slots(parsed.prices, outfit=False)
    for key, info in fields.items():
        kind = kinds.get(key)
        is_list = "list" in str(info.annotation)
        value: Any = None
        if kind == "item":
            ref = find_reference(parsed, view, allow_bare=True)
            # an optional item argument stays unset unless the message points at an item ("it", "the second one")
            value = ref.item_id if ref.kind != "focus" else None
            if value is None and info.is_required():
                value = view.focus_item_id
        elif kind == "image":
            value = "latest" if view.images else None
        elif kind in ("category", "color", "style", "material", "occasion"):
            found = parsed.values(kind)
            value = (found or None) if is_list else (found[0] if found else None)
        elif kind and kind.startswith("exclude_"):
            found = parsed.values(kind.removeprefix("exclude_"), negated=True)
            value = found or None
        elif kind == "price":
            value = prices.get(key)
        elif kind == "text" or (info.is_required() and info.annotation is str):
            value = view.text.strip() or None
        if value is not None:
            args[key] = value
        elif info.is_required():
            return None
    return args


_LAST = threading.local()


def route_untrained(view: PlannerInput, trained: Collection[str] = TRAINED_TOOLS,
                    threshold: float = THRESHOLD) -> Plan | None:
    """Return a plan calling an untrained tool whose examples are closest to the message, or None.

    Only tools offered in ``view`` count; the built-in tools' examples compete, so a request for
    a built-in capability stays with it. The answer for the same view object is computed once per
    thread (the model planner asks before declining a step, then the rules planner asks again).
    """
    key = (view, view.text, tuple(view.tools), tuple(trained), threshold)
    last = getattr(_LAST, "entry", None)
    if last is not None and last[0][0] is view and last[0][1:] == key[1:]:
        return last[1].model_copy(deep=True) if last[1] is not None else None
    routed = _route_untrained(view, trained, threshold)
    _LAST.entry = (key, routed.model_copy(deep=True) if routed is not None else None)
    return routed


def _route_untrained(view: PlannerInput, trained: Collection[str], threshold: float) -> Plan | None:
    from tools import discover

    registry = discover()
    untrained = [n for n in view.tools if n not in trained and n in registry and registry[n].examples]
    if not untrained or not view.text.strip():
        return None
    from agent.embeddings import get_text_embedder

    message = get_text_embedder().encode_one(view.text.strip())
    best_tool, best = "", -1.0
    for name in view.tools:
        cls = registry.get(name)
        if cls is None or not cls.examples:
            continue
        score = float((_example_vectors(name, tuple(cls.examples)) @ message).max())
        if score > best:
            best_tool, best = name, score
    if best_tool not in untrained or best < threshold:
        return None
    args = fill_arguments(registry[best_tool], view)
    if args is None:
        log.info("tool %s matches the message (%.2f) but its required arguments are not in it", best_tool, best)
        return None
    log.info("routing to untrained tool %s (similarity %.2f to its examples)", best_tool, best)
    return Plan(intent=registry[best_tool].tool_intent(), calls=[ToolCall(name=best_tool, args=args)], final=True)
