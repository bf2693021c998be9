"""Constrained decoding of the compact plan format: every token the model writes keeps the plan valid.

A small model trained on templates writes plausible-looking plans with made-up argument names
(``recommend_outfit styles=sporty``), values no tool accepts (``exclude_categories=pool``) or ids that
were never shown. :class:`PlanGrammar` knows, for one planning step, what a compact plan
(:mod:`agent.planners.compact`) may contain:

* the head: a call of a tool offered this step, or a call-less intent (``small_talk``), or ``@intent``;
* argument names: the properties of that tool's JSON schema, each at most once;
* argument values by the argument's kind (:meth:`tools.base.Tool.argument_kinds`) and schema type:
  catalog categories, colours, styles and materials in their canonical words, occasions of
  :data:`agent.catalog.vocab.OCCASIONS`, ids of the items shown in this conversation (or typed by the
  shopper) and the places of the prompt's ``shown:`` line (``#2``), a schema ``enum``, numbers, integers,
  booleans; free text elsewhere;
* later segments: another call, ``+kind:value`` facts of the known kinds, ``del:`` targets, ``more``.

During decoding, :meth:`PlanGrammar.choose` takes the highest-scoring token (of the :data:`WIDE_K`
best; beam search looks at the ``top_k`` best of each beam) that keeps the text a prefix of a valid plan,
and lets the line end (newline or EOS) only where the plan is complete and reads back with
:func:`~agent.planners.compact.from_compact` against the offered tools' argument models. The model still
makes every decision (which tool, which values among the valid ones); the grammar only removes outputs
that no check would accept. When none of those tokens is valid, the model's own best token is kept (the
plan checks then refuse the plan, as without a grammar).

Nothing here reads the message's words for meaning (that is the rules planner's reading, which the
model alone does not use): the only message-dependent values are item ids the shopper typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.plan import TOOL_INTENTS, PlannerInput, known_intents
from agent.planners.compact import ITEM_ID_FORM

__all__ = ["Domain", "PlanGrammar", "grammar_logits_processor"]

#: Candidate tokens examined per step by beam search (the best-scoring first); the top one is valid almost always.
TOP_K = 48
#: Candidate tokens the greedy decode examines before giving up on a step (rarely more than a few are read).
WIDE_K = 1024
_TYPED_ID_RE = re.compile(rf"\b{ITEM_ID_FORM}\b")
_NUMBER_PREFIX_RE = re.compile(r"-?\d*(?:\.\d*)?")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_INT_RE = re.compile(r"\d+")


@dataclass(frozen=True)
class Domain:
    """What one argument may hold.

    ``kind`` is ``enum`` (one of ``values``), ``number``, ``integer``, ``boolean`` or ``free`` (any text);
    ``is_list``: the argument is a list of such items.
    """

    kind: str
    values: tuple[str, ...] = ()
    is_list: bool = False

    def item_ok(self, item: str, complete: bool) -> bool:
        """Whether one (list) item is valid (``complete``) or can still become valid (a prefix)."""
        if self.kind == "enum":
            return item in self.values if complete else any(v.startswith(item) for v in self.values)
        if self.kind == "number":
            return bool(_NUMBER_RE.fullmatch(item)) if complete else bool(_NUMBER_PREFIX_RE.fullmatch(item))
        if self.kind == "integer":
            return bool(_INT_RE.fullmatch(item)) if complete else (item == "" or bool(_INT_RE.fullmatch(item)))
        if self.kind == "boolean":
            return item in ("true", "false") if complete else any(v.startswith(item) for v in ("true", "false"))
        return bool(item) or not complete


def _split(text: str, sep: str) -> list[str]:
    from agent.planners.compact import _split as split

    return split(text, sep)


def _schema_options(prop: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    options = prop.get("anyOf") or [prop]
    return [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]


def _vocab(kind: str) -> tuple[str, ...] | None:
    from agent.catalog import vocab

    base = kind.removeprefix("exclude_")
    table: dict[str, Any] = {"category": vocab.CATEGORIES, "color": vocab.COLORS, "style": vocab.STYLES,
                             "material": vocab.MATERIALS, "occasion": vocab.OCCASIONS}
    found = table.get(base)
    return tuple(found) if found is not None else None


class PlanGrammar:
    """The valid compact plans of one planning step (the tools offered in ``view`` and what it has shown).

    Args:
        view: The step's planner input: ``view.tools`` (name -> JSON schema) are the tools a plan may
            call; ``view.shown`` / ``view.focus_item_id`` and ids typed in ``view.text`` are the item
            ids it may name.
        top_k: Candidate tokens examined per decoding step.
    """

    def __init__(self, view: PlannerInput, top_k: int = TOP_K) -> None:
        """Read the offered tools' schemas and argument kinds, and the ids the step may name."""
        from agent.planners.checks import has_uploaded_photo, person_photo_args
        from tools import argument_kinds, discover

        registry = discover()
        self.top_k = top_k
        self.models = {name: cls.Args for name, cls in registry.items() if name in view.tools}
        ids = {s.id for s in view.shown} | {s.id for s in view.last_shown}
        if view.focus_item_id:
            ids.add(view.focus_item_id)
        ids.update(_TYPED_ID_RE.findall(view.text or ""))
        from agent.planners.compact import listed_places

        #: The places of the prompt's ``shown:`` line (``#1``...), which name those items too (id -> place).
        self.places = {item.lower(): place for item, place in listed_places(view).items()}
        self.item_ids = (*sorted(ids), *self.places.values())
        #: Values an image argument may take: ``latest`` and the photos' hashes, none before any photo.
        self.image_refs = ("latest", *sorted({i.sha256 for i in view.images})) if view.images else ()
        self.domains: dict[str, dict[str, Domain]] = {}
        for name, schema in view.tools.items():
            if name not in registry:
                continue
            kinds = argument_kinds(name)
            props = {key: prop for key, prop in (schema.get("properties") or {}).items() if isinstance(prop, Mapping)}
            domains = {key: self._domain(kinds.get(key), prop) for key, prop in props.items()}
            # an argument with no valid value this step (an item id before any item was shown) is no option,
            # and a tool that requires one cannot be called: the decode must not start down a dead end
            domains = {key: d for key, d in domains.items() if not (d.kind == "enum" and not d.values)}
            needs_photo = "latest" in person_photo_args(name).values()  # the shopper's photo, unless one is named
            if (any(key not in domains for key in schema.get("required") or ())
                    or (needs_photo and not has_uploaded_photo(view))):
                # a required argument without a valid value, or a tool that reads the shopper's latest photo before
                # any was uploaded (a generated design is not one)
                self.models.pop(name, None)
                continue
            self.domains[name] = domains
        self.intents = tuple(sorted(i for i in known_intents() if i not in TOOL_INTENTS))
        self.all_intents = tuple(sorted(known_intents()))
        from agent.planners.compact import FACT_KINDS

        self.fact_kinds = tuple(sorted(FACT_KINDS))
        self._pieces: dict[int, str] = {}
        #: ``(segment index, argument index)`` of the arguments where the grammar overrode the model's choice.
        self.forced: set[tuple[int, int]] = set()
        #: ``(tool, argument, value)`` a check refused this step (:meth:`ban`): no longer valid.
        self.banned: set[tuple[str, str, str]] = set()

    def ban(self, tool: str, argument: str, value: Any) -> None:
        """Make ``value`` (or each value of a list) of ``tool``'s ``argument`` invalid from now on (a refused value)."""
        for v in value if isinstance(value, list | tuple) else [value]:
            key = str(v).strip().lower()
            self.banned.add((tool, argument, key))
            if key in self.places:  # the refused item is refused by its place too
                self.banned.add((tool, argument, self.places[key]))

    def _domain(self, kind: str | None, prop: Mapping[str, Any]) -> Domain:
        options = _schema_options(prop)
        is_list = any(o.get("type") == "array" for o in options)
        scalar = [o.get("items") or {} for o in options if o.get("type") == "array"] or options
        enum = [v for o in scalar if isinstance(o, Mapping) for v in (o.get("enum") or [])]
        if not enum and any(isinstance(o, Mapping) and "const" in o for o in scalar):
            enum = [o["const"] for o in scalar if isinstance(o, Mapping) and "const" in o]
        if enum:
            return Domain("enum", tuple(str(v) for v in enum), is_list)
        if kind == "item":
            return Domain("enum", self.item_ids, is_list)
        if kind == "image":
            return Domain("enum", self.image_refs, is_list)
        words = _vocab(kind) if kind else None
        if words is not None:
            return Domain("enum", words, is_list)
        types = {o.get("type") for o in scalar if isinstance(o, Mapping)}
        if types == {"boolean"}:
            return Domain("boolean", (), is_list)
        if types and types <= {"integer"}:
            return Domain("integer", (), is_list)
        if types and types <= {"number", "integer"}:
            return Domain("number", (), is_list)
        return Domain("free", (), is_list)

    # -- text checks -------------------------------------------------------------------------------

    def ok_prefix(self, text: str) -> bool:
        """Whether ``text`` is the beginning of a valid plan (or a whole one)."""
        text = text.lstrip()
        if not text:
            return True
        segments = _split(text, " | ")
        for n, seg in enumerate(segments[:-1]):
            if not self._segment(seg, n == 0, True):
                return False
        last, head = segments[-1], len(segments) == 1
        if self._segment(last, head, False):
            return True
        return any(last.endswith(tail) and self._segment(last[: -len(tail)], head, True) for tail in (" ", " |"))

    def ok_complete(self, text: str) -> bool:
        """Whether ``text`` is a whole valid plan: every segment complete, read back against the offered tools."""
        from agent.planners.compact import CompactPlanError, from_compact

        text = text.strip()
        if not text:
            return False
        segments = _split(text, " | ")
        if not all(self._segment(seg, n == 0, True) for n, seg in enumerate(segments)):
            return False
        try:
            from_compact(text, self.models)
        except (CompactPlanError, ValueError):
            return False
        return True

    def _segment(self, seg: str, head: bool, complete: bool) -> bool:
        if head and seg.startswith("@"):
            name = seg[1:]
            return name in self.all_intents if complete else any(i.startswith(name) for i in self.all_intents)
        if not head:
            if seg[:1] in "+-~" and seg:
                kind, colon, value = seg[1:].partition(":")
                if not colon:
                    return not complete and any(k.startswith(kind) for k in self.fact_kinds)
                return kind in self.fact_kinds and (bool(value.strip()) or not complete)
            if seg.startswith("del:"):
                return len(seg) > 4 or not complete
            if seg == "more" or (not complete and "more".startswith(seg)) or (not complete and "del:".startswith(seg)):
                return True
        name, space, rest = seg.partition(" ")
        if not space:
            if complete:
                return (head and name in self.intents) or name in self.models
            names = [*self.models, *(self.intents if head else ())]
            return any(n.startswith(name) for n in names)
        if name not in self.models:
            return False
        return self._args(name, rest, complete)

    def _args(self, tool: str, rest: str, complete: bool) -> bool:
        domains = self.domains.get(tool, {})
        parts = _split(rest, ";")
        used: set[str] = set()
        for n, part in enumerate(parts):
            whole = complete or n < len(parts) - 1
            key, eq, raw = part.partition("=")
            if not eq:
                if whole:
                    return key in domains and key not in used and domains[key].kind == "boolean"
                return any(k.startswith(key) and k not in used for k in domains)
            if key not in domains or key in used:
                return False
            used.add(key)
            if not self._value(domains[key], raw, whole):
                return False
            if self.banned and self._has_banned(tool, key, domains[key], raw, whole):
                return False
        return True

    def _has_banned(self, tool: str, key: str, domain: Domain, raw: str, complete: bool) -> bool:
        items = _split(raw, ",")
        for n, item in enumerate(items):
            v = item.strip().lower()
            if (tool, key, v) not in self.banned:
                continue
            if complete or n < len(items) - 1:
                return True
        if not complete and domain.kind == "enum":  # still being written: it must grow into a value not banned
            v = items[-1].strip().lower()
            return not any(o.lower().startswith(v) and (tool, key, o.lower()) not in self.banned
                           for o in domain.values)
        return not complete and (tool, key, items[-1].strip().lower()) in self.banned

    @staticmethod
    def _value(domain: Domain, raw: str, complete: bool) -> bool:
        if domain.is_list and (raw == "[]" or (not complete and raw == "[")):
            return True
        if raw.startswith('"'):
            return domain.kind == "free"
        items = _split(raw, ",")
        if len(items) > 1 and not domain.is_list:
            return False
        for n, item in enumerate(items):
            whole = complete or n < len(items) - 1
            if not domain.item_ok(item, whole):
                return False
        return True

    # -- decoding ----------------------------------------------------------------------------------

    def piece(self, tokenizer: Any, token: int) -> str:
        """Return the text of one token (cached)."""
        text = self._pieces.get(token)
        if text is None:
            text = self._pieces[token] = str(tokenizer.decode([token], skip_special_tokens=False))
        return text

    def allowed(self, tokenizer: Any, text: str, token: int, stop: frozenset[int] | set[int]) -> bool:
        """Whether ``token`` may follow the plan text ``text`` (a stop token only after a complete plan)."""
        if token in stop:
            return self.ok_complete(text)
        piece = self.piece(tokenizer, token)
        if "\n" in piece:
            return self.ok_complete(text + piece.split("\n", 1)[0])
        if tokenizer.all_special_ids and token in tokenizer.all_special_ids:
            return False
        return self.ok_prefix(text + piece)

    def text_of(self, tokenizer: Any, ids: Sequence[int]) -> str:
        """Return the plan text of generated ``ids`` (the concatenated token texts the checks see)."""
        return "".join(self.piece(tokenizer, t) for t in ids)

    def valid_tokens(self, tokenizer: Any, text: str, scores: Any, k: int,
                     stop: frozenset[int] | set[int]) -> Iterator[int]:
        """Yield the tokens among the ``k`` best of ``scores`` (one row of logits) that may follow ``text``.

        Best first.
        """
        import torch

        for token in torch.topk(scores, min(k, int(scores.shape[-1]))).indices.tolist():
            if self.allowed(tokenizer, text, int(token), stop):
                yield int(token)

    def choose(self, tokenizer: Any, generated: Sequence[int], scores: Any, stop: frozenset[int] | set[int]) -> int:
        """Return the best-scoring valid next token after ``generated`` (``scores``: one row of logits).

        Reads up to :data:`WIDE_K` candidates, then (rarely: the model sure of an invalid token, ``color=`` where
        only ``colors=`` exists) the whole vocabulary; the model's own best token only when no token is valid.
        """
        text = self.text_of(tokenizer, generated)
        top = int(scores.argmax())
        token = next(self.valid_tokens(tokenizer, text, scores, WIDE_K, stop), None)
        if token is None and scores.shape[-1] > WIDE_K:
            token = next(self.valid_tokens(tokenizer, text, scores, int(scores.shape[-1]), stop), None)
        if token is None:
            return top
        if token != top:
            self._note_forced(text)
        return token

    def _note_forced(self, text: str) -> None:
        """Remember the argument (name or value) the model was writing when the grammar overrode it."""
        segments = _split(text.lstrip(), " | ")
        seg = segments[-1]
        _, space, rest = seg.partition(" ")
        if not space:
            return
        self.forced.add((len(segments) - 1, len(_split(rest, ";")) - 1))

    def without_forced(self, text: str) -> str:
        """Return ``text`` less the arguments whose name or value the grammar chose against the model.

        A value the model could not write validly (``colors=polyester``) is one it did not know; the
        grammar's stand-in (``colors=beige``) would be a made-up filter, so the argument is left out
        (and so is one whose name the model made up: ``styles=`` on a tool without ``styles``).
        """
        if not self.forced:
            return text
        segments = _split(text.strip(), " | ")
        for index in {i for i, _ in self.forced}:
            if index >= len(segments):
                continue
            name, space, rest = segments[index].partition(" ")
            if not space:
                continue
            dropped = {n for i, n in self.forced if i == index}
            args = [a for n, a in enumerate(_split(rest, ";")) if n not in dropped and a]
            segments[index] = name + (" " + ";".join(args) if args else "")
        return " | ".join(segments)


def grammar_logits_processor(grammar: PlanGrammar, tokenizer: Any, stop: frozenset[int] | set[int]) -> Any:
    """Return a transformers ``LogitsProcessor`` that keeps only valid tokens among each row's ``top_k`` best.

    For beam search: every beam stays a prefix of a valid plan. A row with no valid token among its
    best keeps its scores unchanged (the checks refuse that plan later).
    """
    import torch
    from transformers import LogitsProcessor

    class _Grammar(LogitsProcessor):  # type: ignore[misc]
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            out = scores.clone()
            for row in range(scores.shape[0]):
                text = grammar.text_of(tokenizer, input_ids[row].tolist())
                keep = list(grammar.valid_tokens(tokenizer, text, scores[row], grammar.top_k, stop))
                if keep:
                    out[row] = float("-inf")
                    index = torch.tensor(keep, device=scores.device)
                    out[row, index] = scores[row, index]
            return out  # type: ignore[return-value]

    return _Grammar()
