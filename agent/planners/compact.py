r"""A compact, few-token text form of a :class:`Plan`, and the short prompt a small planner LM reads.

The format is one line of segments separated by `` | ``::

    search_catalog query=white trainers;categories=sneakers;colors=white;max_price=100
    recommend_outfit anchor_item_id=TOP-0228;occasion=dinner;max_price=90 | +color:navy
    forget | del:color:navy
    small_talk | ~size:M

* The first segment is the head: either a tool call (``tool_name args``), whose intent is the
  tool's usual one (``search_catalog`` -> ``search``, ``virtual_try_on`` -> ``try_on``,
  ``recall_outfit`` -> ``history``, the others their own name), or a bare intent (no call). A call
  whose intent is not the usual one is written ``@intent | tool args``.
* Further segments: another call (``tool args``), a noticed preference fact (``+kind:value`` like,
  ``-kind:value`` dislike, ``~kind:value`` neutral), a forget target (``del:kind:value``,
  ``del:*`` for everything), or ``more`` (the plan is not final: consult the planner again).
* Arguments are ``key=value`` joined by ``;``. Lists are items joined by ``,`` (a one-item list of
  an argument the tool schema does not declare as a list is written ``item,``; an empty list
  ``[]``); ``True`` is the bare key, ``False`` is ``key=false``; numbers are written shortest
  (``90``, ``89.99``); a string that would read as another type is double-quoted. ``\`` escapes
  ``; | , = " \`` inside values. ``None`` arguments are left out.
* An item argument (an argument of kind ``item``, :meth:`tools.base.Tool.argument_kinds`) holds a
  catalog id (``item_id=BAG-0195``) or the item's place in the prompt's ``shown:`` line
  (``item_id=#2``: the second item shown last). :func:`with_positions` writes the places,
  :func:`resolve_positions` reads them back into ids against the same step's view.

Replies are not part of the format: a call-less plan carries its intent, and the reply text is
composed by the caller (see :func:`agent.planners.checks.fill_reply`). Fact metadata (confidence, turn, timestamp, text)
is not carried either; :func:`plan_key` is the part of a plan that round-trips exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast, get_args

from pydantic import BaseModel, ValidationError

from agent.plan import TOOL_INTENTS, FactKind, Intent, Plan, PlannerInput, PreferenceFact, ToolCall, known_intents

__all__ = [
    "CompactPlanError", "ITEM_ID_FORM", "PROMPT_ITEMS", "TOOL_INTENTS", "from_compact", "plan_key", "render_prompt",
    "listed_places", "repair_hint", "resolve_positions", "to_compact", "with_positions",
]

FACT_KINDS: frozenset[str] = frozenset(get_args(FactKind))
POLARITY_MARK = {"like": "+", "dislike": "-", "neutral": "~"}
MARK_POLARITY = {v: k for k, v in POLARITY_MARK.items()}
#: Confidence given to facts read back from the compact form (the rules planner's "explicit").
FACT_CONFIDENCE = 0.9

_SPECIAL = '\\;|,="'
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
_POSITION_RE = re.compile(r"#\s*(\d{1,3})")
#: Items of the list shown last that the prompt lists (``shown: #1 ... #6 ...``), so that a plan can name by place.
PROMPT_ITEMS = 6


class CompactPlanError(ValueError):
    """A compact plan that cannot be read: the message names what was wrong and where."""


# --------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------


def _registry_schemas() -> dict[str, dict[str, Any]]:
    """Return the JSON schemas of the registered tools, by name (re-read: tools registered later count)."""
    from tools import discover

    return {name: cls.args_schema() for name, cls in discover().items()}


def _arg_type(schema: Mapping[str, Any] | None, key: str) -> str | None:
    """Return the JSON type of argument ``key`` (``array``, ``number``, ...), or None if unknown."""
    if not schema:
        return None
    prop = (schema.get("properties") or {}).get(key)
    if not isinstance(prop, dict):
        return None
    options = prop.get("anyOf") or [prop]
    types = [o.get("type") for o in options if isinstance(o, dict) and o.get("type") not in (None, "null")]
    return str(types[0]) if types else None


def _schema_for(tool: str, tools: Mapping[str, type[BaseModel]] | None) -> dict[str, Any] | None:
    if tools is not None and tool in tools:
        return tools[tool].model_json_schema()
    return _registry_schemas().get(tool)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if value is None:
        return "null"
    text = str(value)
    if (text == "" or text != text.strip() or text.startswith('"') or text in ("true", "false", "null", "[]")
            or _NUMBER_RE.fullmatch(text)):
        return '"' + _escape(text) + '"'
    return _escape(text)


def _arg(key: str, value: Any, schema: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    if value is True:
        return key
    if isinstance(value, list | tuple):
        if not value:
            return f"{key}=[]"
        parts = [_scalar(v) for v in value]
        tail = "," if len(parts) == 1 and _arg_type(schema, key) != "array" else ""
        return f"{key}={','.join(parts)}{tail}"
    return f"{key}={_scalar(value)}"


def _call(call: ToolCall) -> str:
    schema = _registry_schemas().get(call.name)
    order = {k: n for n, k in enumerate((schema or {}).get("properties") or {})}
    keys = sorted(call.args, key=lambda k: (order.get(k, len(order)), k))
    args = [a for k in keys if (a := _arg(k, call.args[k], schema)) is not None]
    return call.name + (" " + ";".join(args) if args else "")


def _fact(fact: PreferenceFact) -> str:
    return f"{POLARITY_MARK[fact.polarity]}{fact.kind}:{_escape(fact.value.strip())}"


def to_compact(plan: Plan) -> str:
    """Return the one-line compact form of ``plan`` (see the module docstring for the grammar)."""
    segments: list[str] = []
    calls = list(plan.calls)
    if calls and TOOL_INTENTS.get(calls[0].name) == plan.intent:
        segments.append(_call(calls[0]))
        calls = calls[1:]
    else:
        segments.append(f"@{plan.intent}" if calls or plan.intent in TOOL_INTENTS else plan.intent)
    segments.extend(_call(c) for c in calls)
    segments.extend(_fact(f) for f in plan.facts)
    segments.extend("del:" + _escape(key) for key in plan.forget)
    if not plan.final:
        segments.append("more")
    return " | ".join(segments)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _split(text: str, sep: str) -> list[str]:
    """Split on unescaped ``sep`` outside double quotes, keeping escapes in the parts."""
    parts, cur, i, quoted = [], [], 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if not quoted and text.startswith(sep, i):
            parts.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(text: str, where: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            if i + 1 >= len(text):
                raise CompactPlanError(f"{where}: a lone backslash at the end of {text!r}")
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _read_scalar(raw: str, kind: str | None, where: str) -> Any:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"') or (len(raw) - len(raw[:-1].rstrip("\\")) - 1) % 2:
            raise CompactPlanError(f"{where}: unterminated quoted value {raw!r}")
        return _unescape(raw[1:-1], where)
    text = _unescape(raw, where)
    if kind == "string":
        return text
    if text in ("true", "false") and kind in (None, "boolean"):
        return text == "true"
    if text == "null":
        return None
    if _NUMBER_RE.fullmatch(text) and kind in (None, "number", "integer"):
        number = float(text)
        if kind == "integer" or (kind is None and re.fullmatch(r"-?\d+", text)):
            return int(number)
        return number
    return text


def _read_args(text: str, schema: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if not text.strip():
        return args
    for n, part in enumerate(_split(text, ";"), start=1):
        part = part.strip()
        at = f"{where}, argument {n}"
        if not part:
            raise CompactPlanError(f"{at}: empty argument (two ';' in a row or a trailing ';')")
        key, eq, raw = part.partition("=")
        key = key.strip()
        if not _NAME_RE.fullmatch(key):
            raise CompactPlanError(f"{at}: {key!r} is not an argument name (expected key=value)")
        if key in args:
            raise CompactPlanError(f"{at}: argument {key!r} is given twice")
        kind = _arg_type(schema, key)
        if not eq:
            args[key] = True
            continue
        if raw == "[]":
            args[key] = []
            continue
        items = _split(raw, ",")
        if len(items) > 1 or kind == "array":
            if len(items) > 1 and items[-1] == "":
                items = items[:-1]
            if any(i == "" for i in items):
                raise CompactPlanError(f"{at}: empty item in the list {raw!r}")
            item_kind = _item_type(schema, key) if kind == "array" else None
            args[key] = [_read_scalar(i, item_kind, at) for i in items]
        else:
            if raw == "":
                raise CompactPlanError(f"{at}: {key}= has no value")
            args[key] = _read_scalar(raw, kind, at)
    return args


def _item_type(schema: Mapping[str, Any] | None, key: str) -> str | None:
    if not schema:
        return None
    prop = (schema.get("properties") or {}).get(key) or {}
    for option in prop.get("anyOf") or [prop]:
        if isinstance(option, dict) and option.get("type") == "array":
            items = option.get("items") or {}
            return items.get("type") if isinstance(items, dict) else None
    return None


def _read_call(segment: str, tools: Mapping[str, type[BaseModel]] | None, where: str) -> ToolCall:
    name, _, rest = segment.strip().partition(" ")
    if not _NAME_RE.fullmatch(name):
        raise CompactPlanError(f"{where}: {name!r} is not a tool name")
    if tools is not None and name not in tools:
        raise CompactPlanError(f"{where}: unknown tool {name!r}; known tools: {', '.join(sorted(tools))}")
    args = _read_args(rest, _schema_for(name, tools), f"{where} ({name})")
    if tools is not None:
        try:
            tools[name].model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors())
            raise CompactPlanError(f"{where}: invalid arguments for {name}: {problems}") from exc
    return ToolCall(name=name, args=args)


def from_compact(text: str, tools: Mapping[str, type[BaseModel]] | None = None) -> Plan:
    """Read a compact plan; with ``tools`` (name -> Args model), names and arguments are validated.

    Raises:
        CompactPlanError: naming the segment (and argument) that could not be read, and why.
    """
    line = text.strip()
    if not line:
        raise CompactPlanError("empty plan: expected a tool call or an intent such as 'small_talk'")
    if "\n" in line:
        raise CompactPlanError("a compact plan is one line; found a line break")
    segments = [s.strip() for s in _split(line, " | ")]
    head = segments[0]
    intent: str | None = None
    calls: list[ToolCall] = []
    facts: list[PreferenceFact] = []
    forget: list[str] = []
    final = True
    if head.startswith("@"):
        intent = head[1:]
        if intent not in known_intents():
            raise CompactPlanError(f"segment 1: unknown intent {intent!r}; known: {', '.join(sorted(known_intents()))}")
    elif " " not in head and head in known_intents() and head not in TOOL_INTENTS:
        intent = head
    elif head.split(" ", 1)[0] in TOOL_INTENTS or (tools is not None and head.split(" ", 1)[0] in tools):
        call = _read_call(head, tools, "segment 1")
        calls.append(call)
        intent = TOOL_INTENTS.get(call.name, "search")
    else:
        raise CompactPlanError(f"segment 1: {head.split(' ', 1)[0]!r} is neither a tool nor an intent "
                               f"(intents: {', '.join(sorted(known_intents()))})")
    for n, seg in enumerate(segments[1:], start=2):
        where = f"segment {n}"
        if not seg:
            raise CompactPlanError(f"{where}: empty segment (' | ' twice in a row or at the end)")
        mark = seg[0]
        if mark in MARK_POLARITY:
            kind, colon, value = seg[1:].partition(":")
            if not colon or kind not in FACT_KINDS:
                raise CompactPlanError(f"{where}: a fact is {mark}kind:value with kind one of "
                                       f"{', '.join(sorted(FACT_KINDS))}; got {seg!r}")
            value = _unescape(value, where).strip()
            if not value:
                raise CompactPlanError(f"{where}: the fact {seg!r} has no value")
            facts.append(PreferenceFact(kind=cast(FactKind, kind), value=value[:200],
                                        polarity=MARK_POLARITY[mark], confidence=FACT_CONFIDENCE))  # type: ignore[arg-type]
        elif seg.startswith("del:"):
            key = _unescape(seg[4:], where).strip()
            if key != "*" and ":" not in key:
                raise CompactPlanError(f"{where}: a forget target is del:kind:value or del:*; got {seg!r}")
            forget.append(key)
        elif seg == "more":
            final = False
        else:
            calls.append(_read_call(seg, tools, where))
    return Plan(intent=cast(Intent, intent), calls=calls, facts=facts, forget=forget, final=final)


def plan_key(plan: Plan) -> dict[str, Any]:
    """Return the part of a plan the compact form carries (what must round-trip exactly)."""
    return {
        "intent": plan.intent,
        "calls": [{"name": c.name, "args": {k: v for k, v in c.args.items() if v is not None}} for c in plan.calls],
        "facts": [(f.polarity, f.kind, f.value.strip()) for f in plan.facts],
        "forget": list(plan.forget),
        "final": plan.final,
    }


# --------------------------------------------------------------------------------------------------
# Item places (``item_id=#2``)
# --------------------------------------------------------------------------------------------------


def _map_item_args(plan: Plan, change: Any) -> Plan:
    """Return ``plan`` with ``change(value, where)`` applied to every value of every item argument."""
    from tools import argument_kinds

    calls = []
    for call in plan.calls:
        kinds = argument_kinds(call.name)
        args = dict(call.args)
        for key, value in call.args.items():
            if kinds.get(key) != "item" or value is None:
                continue
            where = f"{call.name}.{key}"
            args[key] = [change(v, where) for v in value] if isinstance(value, list) else change(value, where)
        calls.append(call.model_copy(update={"args": args}))
    return plan.model_copy(update={"calls": calls})


def listed_places(view: PlannerInput, max_items: int | None = PROMPT_ITEMS) -> dict[str, str]:
    """Return ``{id: "#k"}`` of the items shown last, by their position in that list.

    Only the first ``max_items`` (those the prompt's ``shown:`` line lists); None for all of them.
    """
    return {s.id: f"#{s.position}" for s in view.last_shown[:max_items]}


def with_positions(plan: Plan, view: PlannerInput, max_items: int = PROMPT_ITEMS) -> Plan:
    """Return ``plan`` with each item id that the prompt lists in its ``shown:`` line written as its place (``#2``).

    Ids the prompt does not list (an item in focus from an earlier list, an item of an older turn) stay ids.
    This is how training targets are written for an adapter trained with ``item_refs: position``.
    """
    places = listed_places(view, max_items)
    return _map_item_args(plan, lambda v, _where: places.get(v, v) if isinstance(v, str) else v)


def resolve_positions(plan: Plan, view: PlannerInput) -> Plan:
    """Return ``plan`` with every item place (``#2``) replaced by the id of the item at that place in ``view``.

    The places are the positions (from 1) of the items shown last, as the prompt's ``shown:`` line numbers
    them (a place past the line's first items, ``#7``, is read too). Other values (ids) are left as they are.

    Raises:
        CompactPlanError: a place with no item (``#7`` when five items were shown, any place before
            anything was shown), naming the argument and the places there are.
    """
    places = {int(place[1:]): item for item, place in listed_places(view, None).items()}

    def resolve(value: Any, where: str) -> Any:
        m = _POSITION_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if m is None:
            return value
        if int(m.group(1)) in places:
            return places[int(m.group(1))]
        have = ", ".join(f"#{k}" for k in sorted(places)) or "none: nothing is shown yet"
        raise CompactPlanError(f"{where}={value}: no item is shown at that place (places: {have})")

    return _map_item_args(plan, resolve)


# --------------------------------------------------------------------------------------------------
# Prompt
# --------------------------------------------------------------------------------------------------


#: The default catalog's item id form (``PUL-0279``): a category prefix and a number.
ITEM_ID_FORM = r"[A-Z]{2,4}-\d{3,5}"
#: An item id in brackets in an assistant reply (``[PUL-0279]``), left out of the prompt's ``A:`` line.
_REPLY_ID_RE = re.compile(rf"\s*\[{ITEM_ID_FORM}\]")


def _strip_reply_ids(text: str, view: PlannerInput) -> str:
    """Return an assistant reply without its bracketed item ids (``... €40.99 [PUL-0279]`` -> ``... €40.99``).

    Ids of any item shown in the conversation (an imported catalog's SKUs too) and ids of the default
    catalog's form are taken out; the prompt names items by their place in its ``shown:`` line instead.
    """
    for s in view.shown:
        text = text.replace(f"[{s.id}]", "")  # the space left is folded by the line's clip
    return _REPLY_ID_RE.sub("", text)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "~"


def _price(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value == int(value) else f"{value:.2f}"


def render_prompt(view: PlannerInput, image_text: bool = True, *, max_items: int = PROMPT_ITEMS,
                  history_lines: int = 2) -> str:
    """Return the short, deterministic prompt a compact planner LM reads for ``view``.

    Lines (each only when there is something to say): the last ``history_lines`` turns abbreviated
    (``U:``/``A:``), the items shown last (``#1 TOP-0228 navy top 50.99``), the item in focus ("it": ``focus: #2``
    when it is one of those, else its id and description), the recalled preferences
    (``prefs: +color:navy -material:leather``), earlier outfits and a photo from an earlier turn,
    tools missing from the registry, and the message with this turn's photos (``[photo: grey
    ankle_boots p=0.91]``, or ``[photo]`` when ``image_text`` is False).
    """
    lines: list[str] = []
    for h in view.history[-history_lines:]:
        role = "U" if h.get("role") == "user" else "A"
        content = h.get("content", "")
        if role == "A":  # ids belong to the shown: line (by place); a clipped id in a reply gets copied
            content = _strip_reply_ids(content, view)
        lines.append(f"{role}: {_clip(content, 70)}")
    shown = view.last_shown[:max_items]
    if shown:
        lines.append("shown: " + " ".join(
            f"#{s.position} {s.id} {s.color} {s.category} {_price(s.price)}" for s in shown))
    place = next((s.position for s in shown if s.id == view.focus_item_id), None) if view.focus_item_id else None
    if place is not None:  # "it" is an item of the list: name its place
        lines.append(f"focus: #{place}")
    elif view.focus_item_id:
        focus = view.shown_by_id(view.focus_item_id)
        extra = f" {focus.color} {focus.category} {_price(focus.price)}" if focus else ""
        lines.append(f"focus: {view.focus_item_id}{extra}")
    if view.preferences:
        lines.append("prefs: " + " ".join(_fact(p) for p in view.preferences[:8]))
    if view.outfits:
        lines.append(f"outfits: {len(view.outfits)}")
    new = {i.sha256 for i in view.new_images}
    older = [i for i in view.images if i.sha256 not in new]
    if older:
        lines.append("earlier " + _photo(older[-1], image_text))
    missing = sorted(set(_registry_schemas()) - set(view.tools)) if view.tools else []
    if missing:
        lines.append("no tools: " + ",".join(missing))
    photos = " ".join(_photo(i, image_text) for i in view.new_images)
    lines.append(f"user: {' '.join(view.text.split())}" + (f" {photos}" if photos else ""))
    return "\n".join(lines)


def _photo(image: Any, image_text: bool) -> str:
    label = {"upload": "photo", "generated": "generated", "try_on": "try-on"}.get(image.kind, "photo")
    if not image_text:
        return f"[{label}]"
    if image.role == "person":
        return f"[{label}: person]"
    if image.category:
        color = f"{image.color} " if image.color else ""
        return f"[{label}: {color}{image.category} p={image.category_confidence:.2f}]"
    return f"[{label}: person]" if image.kind == "upload" else f"[{label}]"


def repair_hint(text: str, error: Exception | str) -> str:
    """Return a one-line instruction for a repair retry after ``text`` failed to parse."""
    return (f"Your plan `{_clip(text, 120)}` is invalid: {error}. Answer again with one line: "
            "tool key=value;key=value (or an intent), then ' | ' segments for +kind:value facts.")
