"""Eval reports: rates per planner, side-by-side tables, baseline comparison, JSON and JUnit XML.

A JSON report carries what is needed to compare two runs honestly: the project version, the
planner, the fingerprints of the model weights and the catalog's identity.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.identity import catalog_identity, project_version, weights_fingerprints

if TYPE_CHECKING:
    from agent.context import Context
    from evals.runner import CaseResult

RATE_KINDS = (("routing", "routing"), ("args", "arguments"), ("items", "item constraints"), ("reply", "replies"),
              ("similarity", "similarity"))
REPORT_FORMAT = 2


@dataclass
class Check:
    """One scored check in a turn (``score`` for similarity checks)."""

    kind: str
    ok: bool
    detail: str = ""
    score: float | None = None


@dataclass
class RunInfo:
    """Where and with what an eval ran (reported so two reports can be compared honestly)."""

    version: str
    target: str
    weights: dict[str, str]
    catalog: dict[str, Any]
    planner: str = ""
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    service: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def collect(cls, settings: Context, url: str = "", api_key: str = "") -> RunInfo:
        """Describe this run: in-process on ``settings``, or the service at ``url`` (its ``/v1/info``)."""
        if url:
            from evals.runner import HttpTarget

            service = HttpTarget(url, api_key).info()
            return cls(version=str(service.get("version", "unknown")), target=url,
                       weights=dict(service.get("weights", {})), catalog=dict(service.get("catalog", {})),
                       service=service)
        return cls(version=project_version(), target="in-process", weights=weights_fingerprints(),
                   catalog=catalog_identity(settings.catalog_dir))

    def planner_label(self, name: str) -> str:
        """Return the planner's name as reports show it (the service's planner for a URL target)."""
        return str(self.service.get("planner") or name) if self.service else name

    def for_planner(self, planner: str) -> RunInfo:
        """Return a copy naming ``planner``."""
        return RunInfo(version=self.version, target=self.target, weights=self.weights, catalog=self.catalog,
                       planner=planner, created=self.created, service=self.service)

    def to_dict(self) -> dict[str, Any]:
        """Return plain data."""
        return {"version": self.version, "target": self.target, "planner": self.planner, "created": self.created,
                "weights": self.weights, "catalog": self.catalog}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _fmt_rate(ok: int, total: int) -> str:
    return f"{ok}/{total} ({100.0 * ok / total:.1f}%)" if total else "n/a"


@dataclass
class EvalReport:
    """All case results of one planner (or one deployed service) with aggregate rates."""

    cases: list[CaseResult]
    planner: str
    info: RunInfo | None = None

    def rate(self, kind: str) -> tuple[int, int]:
        """Return ``(passed, total)`` of checks of one kind."""
        checks = [c for case in self.cases for c in case.checks if c.kind == kind]
        return sum(c.ok for c in checks), len(checks)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        lat = [x for c in self.cases for x in c.latencies]
        sims = [x for c in self.cases for x in c.similarities]
        return {
            "format": REPORT_FORMAT,
            "planner": self.planner,
            "run": self.info.to_dict() if self.info else {},
            "passed": sum(c.passed for c in self.cases),
            "failed": sum(not c.passed for c in self.cases),
            "rates": {k: self.rate(k) for k, _ in RATE_KINDS},
            "personalisation": (sum(x for c in self.cases for x in c.personal),
                                sum(len(c.personal) for c in self.cases)),
            "similarity_mean": float(np.mean(sims)) if sims else None,
            "latency_ms": {"p50": _pct(lat, 50), "p95": _pct(lat, 95)},
            "cases": [
                {"name": c.name, "path": c.path, "passed": c.passed, "error": c.error, "tags": c.tags,
                 "seconds": round(c.seconds, 3), "failures": c.failures(),
                 "similarities": [round(s, 4) for s in c.similarities], "turns": c.turns}
                for c in self.cases
            ],
        }

    def print(self, console: Any) -> None:
        """Print a line per case, the rates, then ``N passed, N failed`` on its own line."""
        print_reports([self], console)


def _rate_cells(report: EvalReport) -> dict[str, str]:
    d = report.to_dict()
    cells = {label: _fmt_rate(*d["rates"][kind]) for kind, label in RATE_KINDS}
    ok, total = d["personalisation"]
    cells["personalisation"] = _fmt_rate(ok, total)
    cells["similarity (mean)"] = f"{d['similarity_mean']:.3f}" if d["similarity_mean"] is not None else "n/a"
    cells["latency p50 / p95"] = f"{d['latency_ms']['p50']:.0f} / {d['latency_ms']['p95']:.0f} ms"
    cells["conversations passed"] = f"{d['passed']}/{d['passed'] + d['failed']}"
    return cells


def print_reports(reports: list[EvalReport], console: Any) -> None:
    """Print the case x planner table, the rates per planner in columns, then ``N passed, N failed``.

    A case is PASS, or FAIL with its first failing check; the last line counts every planner's cases.
    """
    from rich.table import Table

    names = [r.planner for r in reports]
    by_case: dict[str, dict[str, CaseResult]] = {}
    for r in reports:
        for c in r.cases:
            by_case.setdefault(c.name, {})[r.planner] = c
    if len(reports) == 1:
        for case in reports[0].cases:
            if case.passed:
                console.print(f"PASS {case.name}", markup=False)
            else:
                console.print(f"FAIL {case.name}: {'; '.join(case.failures())}", markup=False)
    else:
        table = Table(header_style="bold", show_lines=False)
        table.add_column("conversation", overflow="fold")
        for n in names:
            table.add_column(n, overflow="fold")
        for case_name, per in by_case.items():
            row = [case_name]
            for n in names:
                got = per.get(n)
                row.append("-" if got is None else "PASS" if got.passed else "FAIL " + got.failures()[0])
            table.add_row(*row)
        console.print(table)
    rates = Table(header_style="bold")
    rates.add_column("")
    cells = [_rate_cells(r) for r in reports]
    for n in names:
        rates.add_column(n)
    for label in cells[0]:
        rates.add_row(label, *[c[label] for c in cells])
    console.print(rates)
    passed = sum(c.passed for r in reports for c in r.cases)
    failed = sum(not c.passed for r in reports for c in r.cases)
    console.print(f"{passed} passed, {failed} failed", markup=False)


def reports_to_json(reports: list[EvalReport]) -> dict[str, Any]:
    """Return the JSON document of a run (one entry per planner under ``runs``)."""
    return {"format": REPORT_FORMAT, "runs": [r.to_dict() for r in reports]}


def load_baseline(path: Path) -> dict[tuple[str, str], bool]:
    """Read a saved JSON report: ``{(planner, case): passed}``.

    Accepts this format (``runs``) and the single-planner reports of earlier versions.

    Raises:
        ValueError: the file is missing, not JSON, or not an eval report.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such baseline report; write one with `fashionm3 eval ... --json {path}`"
                         ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON eval report ({exc})") from None
    runs = data.get("runs") if isinstance(data, dict) else None
    if runs is None and isinstance(data, dict) and "cases" in data:
        runs = [data]
    if not isinstance(runs, list):
        raise ValueError(f"{path}: not an eval report (no 'runs' or 'cases'); write one with --json")
    return {(str(r.get("planner", "")), str(c["name"])): bool(c["passed"]) for r in runs for c in r.get("cases", [])}


@dataclass
class Comparison:
    """How a run differs from a baseline, per (planner, conversation)."""

    regressions: list[tuple[str, str, str]]
    fixes: list[tuple[str, str]]
    new: list[tuple[str, str]]
    missing: list[tuple[str, str]]


def compare(reports: list[EvalReport], baseline: dict[tuple[str, str], bool]) -> Comparison:
    """Return how the run differs from ``baseline``.

    Regressions passed in the baseline and fail now (with the first failing check); fixes the other
    way round; cases of planners the baseline did not run count as new.
    """
    now = {(r.planner, c.name): c for r in reports for c in r.cases}
    regressions = [(p, n, now[(p, n)].failures()[0]) for (p, n), c in now.items()
                   if baseline.get((p, n)) is True and not c.passed]
    fixes = [(p, n) for (p, n), c in now.items() if baseline.get((p, n)) is False and c.passed]
    new = [k for k in now if k not in baseline]
    planners = {r.planner for r in reports}
    missing = [k for k in baseline if k not in now and k[0] in planners]
    return Comparison(sorted(regressions), sorted(fixes), sorted(new), sorted(missing))


def print_comparison(cmp: Comparison, baseline: Path, console: Any) -> None:
    """Print regressions and fixes against ``baseline``."""
    console.print(f"against {baseline}: {len(cmp.regressions)} regression(s), {len(cmp.fixes)} fix(es), "
                  f"{len(cmp.new)} new, {len(cmp.missing)} not run", markup=False)
    for p, n, why in cmp.regressions:
        console.print(f"REGRESSION [{p}] {n}: {why}", markup=False)
    for p, n in cmp.fixes:
        console.print(f"FIXED [{p}] {n}", markup=False)


def write_junit(reports: list[EvalReport], path: Path) -> None:
    """Write JUnit XML: a ``<testsuite>`` per planner, a ``<testcase>`` per conversation.

    A failed case has a ``<failure>`` listing its failed checks; a broken run an ``<error>``.
    """
    root = ET.Element("testsuites", name="fashionm3-evals")
    total = failures = errors = 0
    for r in reports:
        suite = ET.SubElement(root, "testsuite", name=f"fashionm3-evals[{r.planner}]")
        s_fail = s_err = 0
        s_time = 0.0
        for c in r.cases:
            case = ET.SubElement(suite, "testcase", classname=f"evals.{r.planner}", name=c.name,
                                 file=c.path, time=f"{c.seconds:.3f}")
            s_time += c.seconds
            if c.error:
                s_err += 1
                ET.SubElement(case, "error", message=c.error[:300], type="RunBroke").text = c.error
            elif not c.passed:
                s_fail += 1
                fails = c.failures()
                ET.SubElement(case, "failure", message=fails[0][:300], type="CheckFailed").text = "\n".join(fails)
        suite.set("tests", str(len(r.cases)))
        suite.set("failures", str(s_fail))
        suite.set("errors", str(s_err))
        suite.set("skipped", "0")
        suite.set("time", f"{s_time:.3f}")
        total += len(r.cases)
        failures += s_fail
        errors += s_err
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
