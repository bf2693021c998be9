"""What the model-backed planners share: the prompt, the tool specs, and turning model output into a valid plan.

A model answers with native tool calls (OpenAI ``tool_calls``), with tool-call markup in text
(``<tool_call>{...}</tool_call>``, ``[TOOL_CALLS][...]``), or with a JSON plan. Whatever the form, the
result goes through the plan checks (:mod:`agent.planners.checks`) before the graph sees it: only
tools offered this step, arguments valid for the tool's ``Args`` model, item ids that were shown,
image hashes that were attached. :class:`ChatProposer` is the base of the chat-model backends: it
proposes the model's answer, and after a rejection the answer repaired with the check's message;
:class:`~agent.planners.pipeline.FallbackPlanner` falls back to the rules planner when both fail.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from agent.plan import TOOL_INTENTS, Intent, Plan, PlannerInput, PreferenceFact, ToolCall, known_intents
from agent.planners.checks import MAX_CALLS, PlanError, validate_call

__all__ = [
    "ChatProposer",
    "PlanError",
    "build_messages",
    "extract_json_values",
    "plan_from_output",
    "plan_from_tool_calls",
    "repair_message",
    "system_prompt",
    "tool_specs",
]

log = logging.getLogger(__name__)

HISTORY_TURNS = 8


# --------------------------------------------------------------------------------------------------
# Prompt
# --------------------------------------------------------------------------------------------------


def _descriptions() -> dict[str, str]:
    """Return the planner-facing description of every registered tool."""
    from tools import discover

    return {name: cls.description() for name, cls in discover().items()}


def tool_specs(view: PlannerInput) -> list[dict[str, Any]]:
    """Return the OpenAI ``tools`` list for the tools offered in ``view`` (and only those)."""
    descriptions = _descriptions()
    return [
        {
            "type": "function",
            "function": {"name": name, "description": descriptions.get(name, ""), "parameters": schema},
        }
        for name, schema in view.tools.items()
    ]


def system_prompt(view: PlannerInput, *, tools_in_text: bool, json_only: bool, currency: str = "€") -> str:
    """Render ``prompts/planner_system.j2`` for this step.

    Args:
        view: The planner's view of the conversation.
        tools_in_text: Describe the tools (with their JSON schemas) in the prompt itself, for models
            whose API or chat template takes no separate tool list.
        json_only: Ask for a JSON plan instead of native function calls.
        currency: Currency symbol of catalog prices.
    """
    from agent.catalog.vocab import CATEGORIES
    from prompts import render

    tools = []
    if tools_in_text:
        tools = [
            {"name": s["function"]["name"], "description": s["function"]["description"],
             "parameters": json.dumps(_compact_schema(s["function"]["parameters"]), separators=(",", ":"))}
            for s in tool_specs(view)
        ]
    return render(
        "planner_system.j2",
        categories=list(CATEGORIES),
        currency=currency,
        max_calls=MAX_CALLS,
        step=view.step,
        json_only=json_only,
        intents=list(known_intents()),
        tools=tools,
        preferences=[p.sentence() for p in view.preferences],
        shown=view.shown[-20:],
        last_ids={s.id for s in view.last_shown},
        focus_item_id=view.focus_item_id or "",
        outfits=len(view.outfits),
        images=view.images[-6:],
        results=view.results,
    )


def _compact_schema(node: Any) -> Any:
    """Drop pydantic's ``title`` keys from a JSON schema (noise in a prompt that costs tokens)."""
    if isinstance(node, list):
        return [_compact_schema(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {name: _compact_schema(sub) for name, sub in value.items()}
        else:
            out[key] = _compact_schema(value)
    return out


def build_messages(view: PlannerInput, system: str) -> list[dict[str, Any]]:
    """Return chat messages: the system prompt, recent history, and the shopper's latest message (text only).

    Backends add this turn's photos to the last message in their own format.
    """
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    history = [h for h in view.history if h.get("role") in ("user", "assistant") and h.get("content")]
    for h in history[-HISTORY_TURNS:]:
        messages.append({"role": h["role"], "content": h["content"]})
    text = view.text.strip() or "(the shopper sent only a photo)"
    if view.new_images:
        hashes = ", ".join(img.sha256[:12] for img in view.new_images)
        text = f"{text}\n[attached photo: {hashes}]"
    messages.append({"role": "user", "content": text})
    return messages


def repair_message(error: PlanError | str) -> str:
    """Return the message that asks the model to fix an invalid answer."""
    return (f"That answer is not a valid plan: {error}. Answer again: call the right tool with valid "
            "arguments, or give a short reply.")


# --------------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_TOOL_TAG_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def extract_json_values(text: str) -> list[Any]:
    """Return the JSON values found in model output, in order.

    Understands a bare JSON value, fenced ```json blocks, ``<tool_call>...</tool_call>`` markup
    (Qwen, Hermes), ``[TOOL_CALLS][...]`` (Mistral) and JSON objects embedded in prose.
    """
    text = text.strip()
    if not text:
        return []
    for candidate in (text, text.removeprefix("[TOOL_CALLS]").strip()):
        try:
            return [json.loads(candidate)]
        except ValueError:
            pass
    tagged = _TOOL_TAG_RE.findall(text)
    if tagged:
        return [v for chunk in tagged for v in extract_json_values(chunk)]
    fenced = _FENCE_RE.findall(text)
    if fenced:
        return [v for chunk in fenced for v in extract_json_values(chunk)]
    values: list[Any] = []
    decoder = json.JSONDecoder()
    i = 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                i += 1
                continue
            if isinstance(value, dict | list):
                values.append(value)
            i = end
        else:
            i += 1
    return values


def _looks_structured(text: str) -> bool:
    """Whether free text seems to be an attempt at JSON or tool-call markup (not a plain reply)."""
    t = text.strip()
    return t.startswith(("{", "[", "```")) or "<tool_call>" in t or "[TOOL_CALLS]" in t or '"name"' in t


def _raw_call(obj: Mapping[str, Any]) -> tuple[str, Any]:
    """Return ``(name, arguments)`` of one tool call in any common shape."""
    fn = obj.get("function")
    if isinstance(fn, Mapping):
        obj = fn
    name = obj.get("name") or obj.get("tool")
    if not isinstance(name, str) or not name:
        raise PlanError(f"a tool call has no tool name: {json.dumps(obj)[:200]}")
    args: Any = next((obj[k] for k in ("arguments", "args", "parameters", "input") if k in obj), {})
    return name, args


def _parse_args(name: str, raw: Any) -> dict[str, Any]:
    """Return tool-call arguments as a dict (OpenAI sends them as a JSON string)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PlanError(f"the arguments of {name} are not valid JSON ({exc.msg}): {raw[:200]!r}") from None
    if not isinstance(raw, dict):
        raise PlanError(f"the arguments of {name} must be a JSON object, got {type(raw).__name__}")
    return raw


def _facts(raw: Any, view: PlannerInput) -> list[PreferenceFact]:
    """Return the valid preference facts of a JSON plan (invalid ones are dropped, not fatal)."""
    facts: list[PreferenceFact] = []
    for f in raw if isinstance(raw, list) else []:
        if not isinstance(f, dict):
            continue
        try:
            facts.append(PreferenceFact.model_validate({"source_turn": view.turn, **f}))
        except ValidationError:
            log.info("dropping invalid preference fact from the planner model: %s", f)
    return facts


def _intent(calls: Sequence[ToolCall], stated: Any = None) -> Intent:
    """Return the stated intent when valid, else the one implied by the first tool call."""
    if isinstance(stated, str) and stated in known_intents():
        return stated  # type: ignore[return-value]
    if calls:
        return TOOL_INTENTS.get(calls[0].name, "search")
    return "small_talk"


def plan_from_tool_calls(raw_calls: Iterable[Mapping[str, Any]], content: str | None,
                         view: PlannerInput) -> Plan:
    """Build a plan from native tool calls (OpenAI ``tool_calls`` shape) and the message text."""
    calls = []
    for raw in raw_calls:
        name, args = _raw_call(raw)
        calls.append(validate_call(name, _parse_args(name, args), view))
    if len(calls) > MAX_CALLS:
        raise PlanError(f"{len(calls)} tool calls in one step; call at most {MAX_CALLS}")
    reply = (content or "").strip() or None
    return Plan(intent=_intent(calls), calls=calls, reply=reply if not calls else None, final=True)


def _plan_from_value(value: Any, view: PlannerInput) -> Plan:
    """Build a plan from one JSON value: a plan object, one tool call, or a list of tool calls."""
    if isinstance(value, list):
        if not value or not all(isinstance(v, dict) for v in value):
            raise PlanError("expected a JSON object (a plan or a tool call), got a list of non-objects")
        return plan_from_tool_calls(value, None, view)
    if not isinstance(value, dict):
        raise PlanError(f"expected a JSON object (a plan or a tool call), got {json.dumps(value)[:80]}")
    if "tool_calls" in value and isinstance(value["tool_calls"], list):
        return plan_from_tool_calls(value["tool_calls"], value.get("content"), view)
    if ("name" in value or "tool" in value or "function" in value) and "intent" not in value:
        return plan_from_tool_calls([value], None, view)
    plan_keys = {"intent", "calls", "reply", "facts", "forget", "final"}
    if not plan_keys & value.keys():
        raise PlanError(f"the JSON object has none of the plan fields {sorted(plan_keys)}")
    unknown = sorted(set(value) - plan_keys)
    if unknown:
        raise PlanError(f"unknown plan fields {unknown}; a plan has {sorted(plan_keys)}")
    raw_calls = value.get("calls") or []
    if not isinstance(raw_calls, list):
        raise PlanError("'calls' must be a list of {\"name\": ..., \"args\": {...}}")
    calls = []
    for raw in raw_calls:
        if not isinstance(raw, dict):
            raise PlanError('each call must be an object {"name": ..., "args": {...}}')
        name, args = _raw_call(raw)
        calls.append(validate_call(name, _parse_args(name, args), view))
    if len(calls) > MAX_CALLS:
        raise PlanError(f"{len(calls)} tool calls in one step; call at most {MAX_CALLS}")
    stated = value.get("intent")
    if stated is not None and stated not in known_intents():
        raise PlanError(f"unknown intent {stated!r}; intents are: {', '.join(known_intents())}")
    reply = value.get("reply")
    if reply is not None and not isinstance(reply, str):
        raise PlanError("'reply' must be a string or null")
    forget = value.get("forget") or []
    if not isinstance(forget, list) or not all(isinstance(k, str) for k in forget):
        raise PlanError("'forget' must be a list of 'kind:value' strings")
    if not calls and not (reply or "").strip() and not forget and stated not in ("show_memory", "forget"):
        raise PlanError("the plan neither calls a tool nor replies")
    return Plan(intent=_intent(calls, stated), calls=calls, reply=(reply or "").strip() or None,
                facts=_facts(value.get("facts"), view), forget=forget, final=True)


def plan_from_output(text: str, view: PlannerInput, *, allow_plain_reply: bool) -> Plan:
    """Build a validated plan from a model's text output.

    Args:
        text: What the model generated.
        view: The view it planned from (tools offered, items shown, photos attached).
        allow_plain_reply: Accept prose that is not an attempt at JSON as a direct reply (chat
            servers with native tool calls); models asked for JSON only must answer with JSON.

    Raises:
        PlanError: when no valid plan can be read from ``text``.
    """
    stripped = text.strip()
    if not stripped:
        raise PlanError("the answer is empty")
    values = extract_json_values(stripped)
    if not values:
        if allow_plain_reply and not _looks_structured(stripped):
            return Plan(intent="small_talk", reply=stripped, final=True)
        if _looks_structured(stripped):
            raise PlanError(f"the answer is not valid JSON (malformed or cut off): {stripped[:120]!r}")
        raise PlanError(f"no JSON plan or tool call found in the answer: {stripped[:120]!r}")
    if len(values) == 1:
        return _plan_from_value(values[0], view)
    if all(isinstance(v, dict) and ("name" in v or "function" in v) and "intent" not in v for v in values):
        return plan_from_tool_calls(values, None, view)
    return _plan_from_value(values[0], view)


# --------------------------------------------------------------------------------------------------
# Repair and fallback, shared by the model backends
# --------------------------------------------------------------------------------------------------


class Answer:
    """What a model said: its text and any native tool calls (OpenAI shape)."""

    __slots__ = ("text", "tool_calls")

    def __init__(self, text: str = "", tool_calls: list[dict[str, Any]] | None = None) -> None:
        self.text = text
        self.tool_calls = tool_calls or []

    def as_message(self) -> dict[str, Any]:
        """Return the answer as an assistant message in plain text (tool calls written as JSON)."""
        if not self.tool_calls:
            return {"role": "assistant", "content": self.text}
        calls = [{"name": c.get("function", c).get("name"), "arguments": c.get("function", c).get("arguments")}
                 for c in self.tool_calls]
        return {"role": "assistant", "content": (self.text + "\n" if self.text else "") + json.dumps(calls)}


class ChatProposer:
    """Base of the chat-model planners: propose the model's answer, then one repaired with the check's message.

    Subclasses implement :meth:`_messages` (the prompt for a view), :meth:`_answer` (one model call)
    and :meth:`_to_plan` (plan from an answer, raising :class:`PlanError`). :meth:`plan` runs the
    :class:`~agent.planners.pipeline.FallbackPlanner` around it (:data:`~agent.planners.checks.MODEL_CHECKS`,
    then the rules planner); ``stats`` counts ``calls``, ``repairs`` and ``fallbacks``.
    """

    name = "model"

    def __init__(self, *, repair: bool = True, fallback: Any = None) -> None:
        """Configure the repair retry and the fallback planner (the rules planner when ``None``)."""
        from agent.planners.checks import MODEL_CHECKS
        from agent.planners.pipeline import FallbackPlanner

        self.repair = repair
        self.pipeline = FallbackPlanner(self, fallback, MODEL_CHECKS, reading=False)

    @property
    def repairs_enabled(self) -> bool:
        """Whether an invalid answer is sent back once with the check's message."""
        return self.repair

    @property
    def stats(self) -> dict[str, int]:
        """Return the pipeline's counts (``calls``, ``repairs``, ``fallbacks``, plus backend-specific ones)."""
        return self.pipeline.stats

    @property
    def fallback(self) -> Any:
        """Return the planner used when the model's answer stays invalid."""
        return self.pipeline.fallback

    @property
    def last_error(self) -> str | None:
        """Return why the last step's answers were refused (None when one passed)."""
        return self.pipeline.last_error

    @last_error.setter
    def last_error(self, value: str | None) -> None:
        self.pipeline.last_error = value

    def _messages(self, view: PlannerInput) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _answer(self, messages: list[dict[str, Any]], view: PlannerInput) -> Answer:
        raise NotImplementedError

    def _to_plan(self, answer: Answer, view: PlannerInput) -> Plan:
        raise NotImplementedError

    def _candidate(self, answer: Answer, view: PlannerInput, round_: int) -> Any:
        """Return the candidate of one answer; a closing reply after tools keeps their intent."""
        from agent.planners.pipeline import Candidate

        text = answer.as_message()["content"]
        try:
            plan = self._to_plan(answer, view)
        except PlanError as exc:
            return Candidate(text, error=str(exc), round=round_)
        if view.step > 0 and view.results and not plan.calls and plan.intent == "small_talk":
            plan.intent = TOOL_INTENTS.get(view.results[-1].name, plan.intent)
        return Candidate(text, plan=plan, round=round_)

    def propose(self, view: PlannerInput) -> Generator[Any, str | None, None]:
        """Yield the model's answer; after a rejection (its message sent in), the answer to a repair request."""
        messages = self._messages(view)
        answer = self._answer(messages, view)
        error = yield self._candidate(answer, view, 0)
        if not self.repair or error is None:
            return
        log.warning("%s planner: invalid plan (%s)", self.name, error)
        messages = [*messages, answer.as_message(), {"role": "user", "content": repair_message(error)}]
        yield self._candidate(self._answer(messages, view), view, 1)

    def plan(self, view: PlannerInput) -> Plan:
        """Return a checked plan from the model, after at most one repair, else the fallback's plan."""
        return self.pipeline.plan(view)
