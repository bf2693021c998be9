"""Run scripted eval conversations through the real graph and tools, and score them.

Deterministic checks only (tool sequence, argument subsets, item constraints, reply substrings);
see ``evals/README.md`` for the YAML format.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.context import Context


class ItemExpect(BaseModel):
    """Constraints every item returned in a turn must satisfy."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = None
    exclude_categories: list[str] | None = None
    colors: list[str] | None = None
    exclude_colors: list[str] | None = None
    exclude_materials: list[str] | None = None
    max_price: float | None = None
    min_price: float | None = None
    max_total: float | None = None
    min_count: int | None = None
    max_count: int | None = None
    in_stock: bool | None = True


class TurnExpect(BaseModel):
    """What a turn must produce."""

    model_config = ConfigDict(extra="forbid")

    tools: list[str] | None = None
    args: dict[str, dict[str, Any]] = Field(default_factory=dict)
    items: ItemExpect | None = None
    reply_contains: list[str] = Field(default_factory=list)
    reply_not_contains: list[str] = Field(default_factory=list)
    intent: str | None = None
    errors: bool | None = None


class Turn(BaseModel):
    """One user message of a scripted conversation."""

    model_config = ConfigDict(extra="forbid")

    say: str
    image: str | None = None
    thread: str | None = None
    user_id: str | None = None
    expect: TurnExpect = Field(default_factory=TurnExpect)


class Conversation(BaseModel):
    """A scripted conversation (one YAML file)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    user_id: str = "eval-user"
    tags: list[str] = Field(default_factory=list)
    turns: list[Turn] = Field(min_length=1)


@dataclass
class Check:
    """One scored check in a turn."""

    kind: str
    ok: bool
    detail: str = ""


@dataclass
class CaseResult:
    """The outcome of one conversation."""

    name: str
    path: str
    checks: list[Check] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    error: str = ""
    personal: list[bool] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed and the run did not break."""
        return not self.error and all(c.ok for c in self.checks)


@dataclass
class EvalReport:
    """All case results with aggregate rates."""

    cases: list[CaseResult]
    planner: str

    def rate(self, kind: str) -> tuple[int, int]:
        """Return ``(passed, total)`` of checks of one kind."""
        checks = [c for case in self.cases for c in case.checks if c.kind == kind]
        return sum(c.ok for c in checks), len(checks)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        lat = [x for c in self.cases for x in c.latencies]
        return {
            "planner": self.planner,
            "passed": sum(c.passed for c in self.cases),
            "failed": sum(not c.passed for c in self.cases),
            "rates": {k: self.rate(k) for k in ("routing", "args", "items", "reply")},
            "personalisation": (sum(x for c in self.cases for x in c.personal),
                                sum(len(c.personal) for c in self.cases)),
            "latency_ms": {"p50": _pct(lat, 50), "p95": _pct(lat, 95)},
            "cases": [
                {"name": c.name, "path": c.path, "passed": c.passed, "error": c.error,
                 "failures": [f"{x.kind}: {x.detail}" for x in c.checks if not x.ok]}
                for c in self.cases
            ],
        }

    def print(self, console: Any) -> None:
        """Print a line per case, the rates, then ``N passed, N failed`` on its own line."""
        for case in self.cases:
            if case.passed:
                console.print(f"PASS {case.name}", markup=False)
            else:
                why = case.error or "; ".join(f"{c.kind}: {c.detail}" for c in case.checks if not c.ok)
                console.print(f"FAIL {case.name}: {why}", markup=False)
        d = self.to_dict()
        for kind, label in (("routing", "routing accuracy"), ("args", "argument accuracy"),
                            ("items", "item-constraint satisfaction"), ("reply", "reply checks")):
            ok, total = d["rates"][kind]
            console.print(f"{label}: {_fmt_rate(ok, total)}", markup=False)
        ok, total = d["personalisation"]
        if total:
            console.print(f"personalisation rate: {_fmt_rate(ok, total)}", markup=False)
        console.print(f"turn latency: p50 {d['latency_ms']['p50']:.0f} ms, p95 {d['latency_ms']['p95']:.0f} ms "
                      f"(planner {self.planner})", markup=False)
        console.print(f"{d['passed']} passed, {d['failed']} failed", markup=False)


def _fmt_rate(ok: int, total: int) -> str:
    return f"{ok}/{total} ({100.0 * ok / total:.1f}%)" if total else "n/a"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def load_conversations(paths: list[Path]) -> list[tuple[Path, Conversation]]:
    """Load every YAML conversation under ``paths`` (files or folders), validating each.

    Raises:
        ValueError: naming the file and the problem when a file is malformed.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"{p}: no such file or folder of eval conversations")
    out = []
    for f in files:
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
            out.append((f, Conversation.model_validate(data)))
        except (yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"{f}: malformed eval conversation: {exc}") from exc
    if not out:
        raise ValueError(f"no eval conversations found in {', '.join(str(p) for p in paths)}")
    return out


def _subset(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    problems = []
    for key, want in expected.items():
        got = actual.get(key)
        if isinstance(want, list) and isinstance(got, list):
            ok = sorted(map(str, want)) == sorted(map(str, got))
        elif isinstance(want, float | int) and not isinstance(want, bool) and isinstance(got, float | int):
            ok = abs(float(want) - float(got)) < 1e-6
        else:
            ok = want == got
        if not ok:
            problems.append(f"{key}={got!r} (expected {want!r})")
    return problems


def check_items(expect: ItemExpect, items: list[dict[str, Any]], catalog: Any) -> list[Check]:
    """Check every returned item against the constraints (one check per item, plus counts)."""
    checks: list[Check] = []
    n = len(items)
    if expect.min_count is not None:
        checks.append(Check("items", n >= expect.min_count, f"{n} items (expected at least {expect.min_count})"))
    if expect.max_count is not None:
        checks.append(Check("items", n <= expect.max_count, f"{n} items (expected at most {expect.max_count})"))
    if expect.max_total is not None:
        total = sum(float(i["price"]) for i in items)
        checks.append(Check("items", total <= expect.max_total + 1e-6, f"total {total:.2f} > {expect.max_total}"))
    for it in items:
        item = catalog.items.get(it["id"])
        bad = []
        if item is None:
            bad.append("not in the catalog")
        else:
            if expect.categories and item.category not in expect.categories:
                bad.append(f"category {item.category}")
            if expect.exclude_categories and item.category in expect.exclude_categories:
                bad.append(f"excluded category {item.category}")
            if expect.colors and item.color not in expect.colors:
                bad.append(f"colour {item.color}")
            if expect.exclude_colors and item.color in expect.exclude_colors:
                bad.append(f"excluded colour {item.color}")
            if expect.exclude_materials and item.material in expect.exclude_materials:
                bad.append(f"excluded material {item.material}")
            if expect.max_price is not None and item.price > expect.max_price + 1e-6:
                bad.append(f"price {item.price} > {expect.max_price}")
            if expect.min_price is not None and item.price < expect.min_price - 1e-6:
                bad.append(f"price {item.price} < {expect.min_price}")
            if expect.in_stock and not item.in_stock:
                bad.append("out of stock")
        checks.append(Check("items", not bad, f"{it['id']}: {', '.join(bad)}"))
    return checks


def run_conversation(path: Path, conv: Conversation, settings: Context, planner_name: str,
                     store: Any, run_id: str) -> CaseResult:
    """Run one conversation on fresh threads and a fresh user id, and check every turn."""
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.planners import get_planner
    from agent.services import open_catalog
    from agent.session import Session
    from graph import build_graph

    result = CaseResult(name=conv.name, path=str(path))
    catalog = open_catalog(settings)
    graph = build_graph(planner=get_planner(planner_name), catalog=catalog, checkpointer=InMemorySaver(), store=store)
    sessions: dict[tuple[str, str], Session] = {}
    for n, turn in enumerate(conv.turns, start=1):
        user = f"{turn.user_id or conv.user_id}-{run_id}"
        thread = turn.thread or "main"
        key = (user, thread)
        if key not in sessions:
            sessions[key] = Session(graph=graph, settings=settings.with_(user_id=user),
                                    thread_id=f"{conv.name}-{thread}-{run_id}")
        attachments = [str((path.parent / turn.image).resolve())] if turn.image else []
        t0 = time.perf_counter()
        try:
            resp = sessions[key].turn(turn.say, attachments=attachments)
        except Exception as exc:  # noqa: BLE001 - a broken run is reported per case, then the suite goes on
            result.error = f"turn {n}: the run broke: {type(exc).__name__}: {exc}"
            return result
        result.latencies.append((time.perf_counter() - t0) * 1000.0)
        e = turn.expect
        where = f"turn {n}"
        tools = [c["tool"] for c in resp.get("calls", [])]
        if e.tools is not None:
            result.checks.append(Check("routing", tools == e.tools, f"{where}: tools {tools} (expected {e.tools})"))
        for tool, want in e.args.items():
            first = next((c for c in resp.get("calls", []) if c["tool"] == tool), None)
            if first is None:
                result.checks.append(Check("args", False, f"{where}: {tool} was not called"))
                continue
            problems = _subset(want, first["args"])
            result.checks.append(Check("args", not problems, f"{where}: {tool} " + ", ".join(problems)))
        if e.items is not None:
            for c in check_items(e.items, resp.get("items", []), catalog):
                c.detail = f"{where}: {c.detail}"
                result.checks.append(c)
                if "personal" in conv.tags:
                    result.personal.append(c.ok)
        text = resp.get("text", "").lower()
        for s in e.reply_contains:
            result.checks.append(Check("reply", s.lower() in text, f"{where}: reply lacks {s!r}"))
        for s in e.reply_not_contains:
            result.checks.append(Check("reply", s.lower() not in text, f"{where}: reply contains {s!r}"))
        if e.intent is not None:
            got = resp.get("intent")
            result.checks.append(Check("routing", got == e.intent, f"{where}: intent {got} (expected {e.intent})"))
        if e.errors is not None:
            has = bool(resp.get("errors"))
            result.checks.append(Check("reply", has == e.errors, f"{where}: errors {resp.get('errors')}"))
    return result


def run_evals(paths: list[Path], settings: Context) -> EvalReport:
    """Run every conversation under ``paths`` with the planner named in ``settings``."""
    from agent.services import open_store

    conversations = load_conversations([Path(p) for p in paths])
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="fashionm3-eval-") as tmp:
        store = open_store(settings.with_(chroma_path=str(Path(tmp) / "memory"), chroma_url=""))
        cases = [run_conversation(p, c, settings, settings.planner, store, run_id) for p, c in conversations]
    return EvalReport(cases=cases, planner=settings.planner)
