"""Score a planner on planning samples: routing, slots, validity, fallbacks, photo anchors, latency.

* routing accuracy: the intent and the set of tool names both equal the target's;
* slot F1: micro precision/recall over normalised ``(tool, arg, value)`` triples (lists as one
  triple per element, numbers within 1% (at least 0.01), strings case-folded; the free-text
  arguments ``query`` and ``prompt`` match when their word-set F1 is at least 0.5); noticed facts
  count as ``("fact", kind, polarity:value)`` and forget targets as ``("forget", "key", key)``;
* valid-plan rate: every call names a tool in ``view.tools`` and its arguments validate;
* fallback rate: read from the planner's ``stats["fallbacks"]`` counter when it has one;
* anchor accuracy: on samples whose target anchors on the attached photo, the category the plan
  anchors on (its explicit category, else what the tool would read from the photo) is the photo's
  true category;
* latency: p50/p95 of ``plan()`` per planning step;
* the model alone: for a planner built on :class:`~agent.planners.pipeline.FallbackPlanner` (``smol``,
  ``openai``, ``transformers``), the same routing and slot scores of the model's own first
  candidate (after the vocabulary and reference mapping, before grounding and completion; an
  unreadable one scores as an empty plan), and how often the pipeline took the model's plan as it
  was (``model``), completed it from the rules reading (``completed``), replaced it with the rules
  planner's (``fallback``), or let the rules planner plan a step the model declined (``delegated``;
  those steps are left out of the model-alone scores).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.plan import Plan, PlannerInput
from agent.planners.base import Planner
from training.planner.data import PlannerSample

__all__ = ["PlannerScores", "TaskScores", "anchor_category", "evaluate", "plan_valid", "print_scores",
           "slot_counts", "triples"]

FREE_TEXT = frozenset({"query", "prompt"})
MIN_PHOTO_CONFIDENCE = 0.5
_WORD_RE = re.compile(r"[a-z0-9]+")

Triple = tuple[str, str, Any]


class TaskScores(BaseModel):
    """Scores of one task (or of all samples)."""

    n: int = 0
    routing_accuracy: float = 0.0
    slot_precision: float = 0.0
    slot_recall: float = 0.0
    slot_f1: float = 0.0
    valid_rate: float = 0.0


class PlannerScores(TaskScores):
    """A planner's scores on a split, overall and per task."""

    planner: str
    split: str
    fallbacks: int = 0
    fallback_rate: float | None = None
    anchor_n: int = 0
    anchor_accuracy: float | None = None
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    errors: int = 0
    per_task: dict[str, TaskScores] = Field(default_factory=dict)
    failures: list[dict[str, Any]] = Field(default_factory=list)
    #: The model's own first candidates, scored alike (None for planners without a model pipeline).
    model_alone: TaskScores | None = None
    model_alone_per_task: dict[str, TaskScores] = Field(default_factory=dict)
    #: Steps by outcome: ``model``, ``completed`` (by rules), ``fallback`` (rules replaced it), ``delegated``.
    outcomes: dict[str, int] = Field(default_factory=dict)


def _norm_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return " ".join(str(value).casefold().split())


def triples(plan: Plan) -> list[Triple]:
    """Return the normalised ``(tool, arg, value)`` triples of a plan (facts and forget targets included)."""
    out: list[Triple] = []
    for call in plan.calls:
        for key, value in call.args.items():
            if value is None or value is False or value == "" or value == []:
                continue
            values = value if isinstance(value, list | tuple) else [value]
            out.extend((call.name, key, _norm_value(v)) for v in values)
    out.extend(("fact", f.kind, f"{f.polarity}:{_norm_value(f.value)}") for f in plan.facts)
    out.extend(("forget", "key", _norm_value(k)) for k in plan.forget)
    return out


def _words(text: str) -> set[str]:
    return set(_WORD_RE.findall(str(text).casefold()))


def _match(pred: Triple, gold: Triple) -> bool:
    if pred[:2] != gold[:2]:
        return False
    a, b = pred[2], gold[2]
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= max(0.01, 0.01 * abs(b))
    if pred[1] in FREE_TEXT and pred[0] != "fact":
        wa, wb = _words(a), _words(b)
        if not wa or not wb:
            return wa == wb
        common = len(wa & wb)
        return common > 0 and 2 * common / (len(wa) + len(wb)) >= 0.5
    return bool(a == b)


def slot_counts(pred: Plan, gold: Plan) -> tuple[int, int, int]:
    """Return (true positives, predicted, gold) triple counts for one sample."""
    p, g = triples(pred), triples(gold)
    used = [False] * len(g)
    tp = 0
    for t in p:
        for i, u in enumerate(g):
            if not used[i] and _match(t, u):
                used[i] = True
                tp += 1
                break
    return tp, len(p), len(g)


def plan_valid(plan: Plan, view: PlannerInput, models: dict[str, type[BaseModel]]) -> bool:
    """Whether every call names a tool offered in ``view.tools`` and its arguments validate."""
    for call in plan.calls:
        if call.name not in view.tools or call.name not in models:
            return False
        try:
            models[call.name].model_validate(call.args)
        except ValidationError:
            return False
    return True


def routed(pred: Plan, gold: Plan) -> bool:
    """Whether the intent and the set of tool names match the target's."""
    return pred.intent == gold.intent and {c.name for c in pred.calls} == {c.name for c in gold.calls}


def photo_anchored(plan: Plan) -> bool:
    """Whether a plan anchors on the photo attached this turn (outfit around it, or search like it)."""
    return any((c.name == "recommend_outfit" and c.args.get("anchor_image"))
               or (c.name == "search_catalog" and c.args.get("image")) for c in plan.calls)


def anchor_category(plan: Plan, view: PlannerInput) -> str | None:
    """Return the category a plan anchors on: explicit, else read from the photo or the shown item."""
    photo = view.new_images[-1] if view.new_images else (view.images[-1] if view.images else None)
    for call in plan.calls:
        args = call.args
        if call.name == "recommend_outfit":
            if args.get("anchor_item_id"):
                item = view.shown_by_id(str(args["anchor_item_id"]))
                return item.category if item else None
            if args.get("anchor_category"):
                return str(args["anchor_category"])
            if args.get("anchor_image") and photo is not None and photo.category_confidence >= MIN_PHOTO_CONFIDENCE:
                return photo.category
            return None
        if call.name == "search_catalog":
            cats = args.get("categories") or []
            if len(cats) == 1:
                return str(cats[0])
            if args.get("image") and photo is not None and photo.category_confidence >= MIN_PHOTO_CONFIDENCE:
                return photo.category
            return None
    return None


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _fallbacks(planner: Any) -> int | None:
    stats = getattr(planner, "stats", None)
    if isinstance(stats, dict) and "fallbacks" in stats:
        return int(stats["fallbacks"])
    return None


def _trace(planner: Any) -> Any:
    pipeline = getattr(planner, "pipeline", planner)
    return getattr(pipeline, "last_trace", None)


def model_alone_plan(trace: Any, final: Plan, view: PlannerInput) -> Plan:
    """Return the model's own plan of a step: its first candidate after the mapping checks (see module doc)."""
    from agent.planners.checks import MODEL_CHECKS, PlanError, run_checks

    if trace.first is None:
        return final  # delegated: the model proposed nothing (evaluate leaves these steps out)
    if trace.first.plan is None:
        return Plan(intent="clarify")  # unreadable
    try:
        return run_checks(trace.first.plan, view, MODEL_CHECKS)
    except PlanError:
        return trace.first.plan


def _summary(rows: Iterable[dict[str, Any]]) -> TaskScores:
    rows = list(rows)
    n = len(rows)
    if not n:
        return TaskScores()
    tp = sum(r["tp"] for r in rows)
    np_ = sum(r["np"] for r in rows)
    ng = sum(r["ng"] for r in rows)
    precision = tp / np_ if np_ else (1.0 if not ng else 0.0)
    recall = tp / ng if ng else (1.0 if not np_ else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TaskScores(n=n, routing_accuracy=sum(r["routed"] for r in rows) / n, slot_precision=precision,
                      slot_recall=recall, slot_f1=f1, valid_rate=sum(r["valid"] for r in rows) / n)


def evaluate(planner: Planner, samples: Sequence[PlannerSample], *, split: str = "",
             max_failures: int = 200, progress: bool = False) -> PlannerScores:
    """Run ``planner`` over ``samples`` and score it (see the module docstring)."""
    from tqdm import tqdm

    from tools import discover

    models = {name: cls.Args for name, cls in discover().items()}
    start_fallbacks = _fallbacks(planner)
    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    failures: list[dict[str, Any]] = []
    anchor_hits: list[bool] = []
    alone_rows: list[dict[str, Any]] = []
    outcomes: dict[str, int] = defaultdict(int)
    errors = 0
    for sample in tqdm(samples, desc=f"eval {getattr(planner, 'name', 'planner')}", disable=not progress):
        view = sample.view.model_copy(deep=True)
        t0 = time.perf_counter()
        try:
            plan = planner.plan(view)
        except Exception as exc:  # noqa: BLE001 - a crashing planner scores zero on the sample, and is reported
            errors += 1
            plan = Plan(intent="clarify", reply=f"planner error: {exc!r}")
        latencies.append(time.perf_counter() - t0)
        tp, np_, ng = slot_counts(plan, sample.target)
        row = {"task": sample.task, "routed": routed(plan, sample.target), "valid": plan_valid(plan, view, models),
               "tp": tp, "np": np_, "ng": ng}
        rows.append(row)
        trace = _trace(planner)
        if trace is not None and trace.outcome:
            outcomes[trace.outcome] += 1
        if trace is not None and trace.outcome and trace.first is not None:  # delegated steps have no model plan
            alone = model_alone_plan(trace, plan, view)
            a_tp, a_np, a_ng = slot_counts(alone, sample.target)
            alone_rows.append({"task": sample.task, "routed": routed(alone, sample.target),
                               "valid": plan_valid(alone, view, models), "tp": a_tp, "np": a_np, "ng": a_ng})
        if sample.true_category and photo_anchored(sample.target):
            anchor_hits.append(anchor_category(plan, sample.view) == sample.true_category)
        if (not row["routed"] or tp != np_ or tp != ng) and len(failures) < max_failures:
            from agent.planners.compact import to_compact

            failures.append({"id": sample.id, "task": sample.task, "family": sample.family, "text": sample.view.text,
                             "target": to_compact(sample.target), "got": to_compact(plan)})
    overall = _summary(rows)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    alone_by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in alone_rows:
        alone_by_task[r["task"]].append(r)
    end_fallbacks = _fallbacks(planner)
    fallbacks = (end_fallbacks - (start_fallbacks or 0)) if end_fallbacks is not None else 0
    return PlannerScores(
        **overall.model_dump(), planner=str(getattr(planner, "name", type(planner).__name__)), split=split,
        fallbacks=fallbacks, fallback_rate=(fallbacks / len(rows) if rows else 0.0) if end_fallbacks is not None
        else None,
        anchor_n=len(anchor_hits), anchor_accuracy=(sum(anchor_hits) / len(anchor_hits)) if anchor_hits else None,
        latency_p50_ms=1000 * _percentile(latencies, 0.5), latency_p95_ms=1000 * _percentile(latencies, 0.95),
        errors=errors, per_task={t: _summary(r) for t, r in sorted(by_task.items())}, failures=failures,
        model_alone=_summary(alone_rows) if alone_rows else None,
        model_alone_per_task={t: _summary(r) for t, r in sorted(alone_by_task.items())}, outcomes=dict(outcomes),
    )


def print_scores(scores: PlannerScores, console: Any) -> None:
    """Print the scores as a rich table (per task, then overall) and a line of the other figures."""
    from rich.table import Table

    table = Table(title=f"planner {scores.planner!r} on {scores.split or 'samples'} ({scores.n} samples)")
    for col in ("task", "n", "routing", "slot P", "slot R", "slot F1", "valid"):
        table.add_column(col, justify="left" if col == "task" else "right")

    def add(name: str, s: TaskScores, style: str = "") -> None:
        table.add_row(name, str(s.n), f"{s.routing_accuracy:.1%}", f"{s.slot_precision:.3f}",
                      f"{s.slot_recall:.3f}", f"{s.slot_f1:.3f}", f"{s.valid_rate:.1%}", style=style)

    for task, s in scores.per_task.items():
        add(task, s)
    add("all", scores, "bold")
    console.print(table)
    fb = "n/a (planner keeps no fallback counter)" if scores.fallback_rate is None else (
        f"{scores.fallback_rate:.1%} ({scores.fallbacks})")
    anchor = "n/a" if scores.anchor_accuracy is None else f"{scores.anchor_accuracy:.1%} of {scores.anchor_n}"
    console.print(f"fallback rate {fb}; photo anchor-category accuracy {anchor}; latency p50 "
                  f"{scores.latency_p50_ms:.1f} ms, p95 {scores.latency_p95_ms:.1f} ms; planner errors {scores.errors}",
                  markup=False)
    if scores.model_alone is not None:
        a, n = scores.model_alone, max(1, sum(scores.outcomes.values()))
        shares = ", ".join(f"{k} {scores.outcomes.get(k, 0) / n:.1%}" for k in ("model", "completed", "fallback",
                                                                                 "delegated"))
        console.print(f"model alone: routing {a.routing_accuracy:.1%}, slot F1 {a.slot_f1:.3f}, valid "
                      f"{a.valid_rate:.1%}; steps: {shares} (completed = rules added arguments, fallback = rules "
                      "replaced the plan, delegated = rules planned a step the model declined)", markup=False)
