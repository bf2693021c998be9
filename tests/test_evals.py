"""``fashionm3 eval``: validation, selection, side by side, baselines, JUnit, --jobs, --url, similarity."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from service import Service, copy_data

from agent.context import Context
from agent.plan import Plan, PlannerInput
from evals.report import compare, load_baseline, print_reports, reports_to_json, write_junit
from evals.runner import run_evals
from evals.spec import SpecError, load_conversations, schema, select

CONVERSATIONS = Path(__file__).resolve().parents[1] / "evals" / "conversations"


def write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


SEARCH = {"name": "red-dresses", "tags": ["basic"], "turns": [
    {"say": "show me red dresses", "expect": {"tools": ["search_catalog"], "items": {"categories": ["dress"],
                                                                                     "colors": ["red"]}}},
    {"say": "something cheaper than the first one", "expect": {"tools": ["find_alternatives"]}},
]}
MEMORY = {"name": "likes-navy", "tags": ["personal"], "turns": [
    {"say": "I love navy", "expect": {"tools": []}},
    {"say": "show me shirts", "expect": {"tools": ["search_catalog"], "items": {"categories": ["shirt"]}}},
]}
IMPOSSIBLE = {"name": "impossible", "tags": ["basic"], "turns": [
    {"say": "show me red dresses", "expect": {"tools": ["generate_image"]}}]}


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=220, highlight=False, color_system=None), buf


def test_malformed_files_are_reported_with_file_conversation_turn_and_key(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad", {"name": "typo", "turns": [
        {"say": "hi"},
        {"say": "show me shirts", "expect": {"itmes": {"max_price": 10}}},
        {"say": "and this?", "image": "assets/missing.png"},
        {"say": 5, "expect": {"items": {"max_price": "cheap"}}},
    ]})
    with pytest.raises(SpecError) as info:
        load_conversations([tmp_path])
    text = str(info.value)
    assert f"{bad}: conversation 'typo', turn 2, key expect.itmes: Extra inputs are not permitted" in text
    assert f"{bad}: conversation 'typo', turn 3, key image: no file 'assets/missing.png'" not in text  # pydantic first
    assert "turn 4, key say: Input should be a valid string" in text
    assert "turn 4, key expect.items.max_price: Input should be a valid number" in text
    # a file that validates but names a missing asset
    tmp2 = tmp_path / "two"
    write(tmp2, "img", {"name": "img", "turns": [{"say": "and this?", "image": "assets/missing.png"}]})
    with pytest.raises(SpecError, match=r"conversation 'img', turn 1, key image: no file 'assets/missing.png'"):
        load_conversations([tmp2])
    write(tmp2, "dup", {"name": "img", "turns": [{"say": "hi"}]})
    with pytest.raises(SpecError, match="the name is also used by"):
        load_conversations([tmp2])
    tmp3 = tmp_path / "three"
    write(tmp3, "spaced", {"name": "my case", "turns": [{"say": "hi"}]})
    with pytest.raises(SpecError, match="conversation 'my case', key name: String should match pattern"):
        load_conversations([tmp3])


def test_the_schema_accepts_every_shipped_conversation_and_rejects_unknown_keys() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    s = schema()
    for path in sorted(CONVERSATIONS.glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), s)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "turns": [{"say": "hi", "expect": {"itmes": {}}}]}, s)
    out = subprocess.run([sys.executable, "-m", "agent.cli", "eval", "--schema"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["title"] == "FashionM3 eval conversation"


def test_tags_and_keyword_select_conversations() -> None:
    convs = load_conversations([CONVERSATIONS])
    personal = select(convs, tags=["personal"])
    assert personal and all("personal" in c.tags for _, c in personal)
    assert {c.name for _, c in select(convs, keyword="TRYON")} == {c.name for _, c in convs if "tryon" in c.name}
    assert select(convs, tags=["personal"], keyword="navy") == [
        (p, c) for p, c in personal if "navy" in c.name]


class NoToolsPlanner:
    """A planner that never calls a tool (a broken change to compare against)."""

    name = "no-tools"

    def plan(self, view: PlannerInput) -> Plan:
        return Plan(intent="small_talk", reply="Hello!")


def test_side_by_side_baseline_regressions_and_junit(settings: Context, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from agent import planners

    folder = tmp_path / "convs"
    write(folder, "search", SEARCH)
    write(folder, "memory", MEMORY)
    monkeypatch.setitem(planners._FACTORIES, "no-tools", NoToolsPlanner)
    reports = run_evals([folder], settings, ["rules", "no-tools"])
    assert [r.planner for r in reports] == ["rules", "no-tools"]
    rules, broken = reports
    assert all(c.passed for c in rules.cases)
    assert not any(c.passed for c in broken.cases)
    con, buf = console()
    print_reports(reports, con)
    out = buf.getvalue()
    assert "red-dresses" in out and "PASS" in out
    assert "FAIL routing: turn 1: tools [] (expected ['search_catalog'])" in out
    assert out.strip().splitlines()[-1] == "2 passed, 2 failed"
    assert "routing" in out and "100.0%" in out  # the rates, one column per planner

    saved = tmp_path / "baseline.json"
    data = reports_to_json(reports)
    # pretend no-tools was what passed before, and rules is the new code
    for run in data["runs"]:
        run["planner"] = "rules" if run["planner"] == "no-tools" else "old"
    saved.write_text(json.dumps(data))
    cmp = compare([rules], load_baseline(saved))
    assert cmp.regressions == [] and sorted(cmp.fixes) == [("rules", "likes-navy"), ("rules", "red-dresses")]
    data["runs"] = [reports_to_json([rules])["runs"][0]]
    saved.write_text(json.dumps(data))
    cmp = compare([broken.__class__(cases=broken.cases, planner="rules")], load_baseline(saved))
    assert [(p, n) for p, n, _ in cmp.regressions] == [("rules", "likes-navy"), ("rules", "red-dresses")]
    assert "routing: turn 1" in dict(((n, w) for _, n, w in cmp.regressions))["red-dresses"]

    junit = tmp_path / "evals.xml"
    write_junit(reports, junit)
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    suites = {s.get("name"): s for s in root}
    assert set(suites) == {"fashionm3-evals[rules]", "fashionm3-evals[no-tools]"}
    failed = suites["fashionm3-evals[no-tools]"].findall("testcase")
    assert {c.get("name") for c in failed} == {"red-dresses", "likes-navy"}
    assert all(c.find("failure") is not None and "routing" in (c.find("failure").get("message") or "")
               for c in failed)
    assert all(c.find("failure") is None for c in suites["fashionm3-evals[rules]"].findall("testcase"))


def test_cli_exits_non_zero_on_a_regression_only_when_asked(catalog_settings: Context, tmp_path: Path) -> None:
    folder = tmp_path / "convs"
    write(folder, "impossible", IMPOSSIBLE)
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps({"runs": [{"planner": "rules", "cases": [{"name": "impossible", "passed": True}]}]}))
    env = {**os.environ, "FASHIONM3_DATA_DIR": catalog_settings.data_dir, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "agent.cli", "eval", str(folder), "--planner", "rules", "--baseline", str(baseline)]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert "REGRESSION [rules] impossible: routing: turn 1" in plain.stdout
    strict = subprocess.run([*cmd, "--fail-on-regression", "--junit", str(tmp_path / "j.xml")], capture_output=True,
                            text=True, env=env, timeout=300)
    assert strict.returncode == 1 and (tmp_path / "j.xml").is_file()
    bad = subprocess.run([*cmd[:-2], "--baseline", str(tmp_path / "nope.json")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert bad.returncode == 2 and "no such baseline report" in bad.stderr


def test_similarity_expectations_are_scored_with_minilm(settings: Context, tmp_path: Path) -> None:
    folder = tmp_path / "convs"
    write(folder, "soft", {"name": "soft", "turns": [
        {"say": "show me navy shirts", "expect": {
            "items_similar_to": "a navy shirt",
            "reply_similar_to": {"text": "Here are some navy shirts", "min": 0.3}}},
        {"say": "show me red dresses", "expect": {"items_similar_to": {"text": "quantum chromodynamics", "min": 0.5}}},
    ]})
    [report] = run_evals([folder], settings, ["rules"])
    case = report.cases[0]
    assert len(case.similarities) == 3
    items_navy, reply, nonsense = case.similarities
    assert items_navy > 0.6 and reply >= 0.3 and nonsense < 0.3
    assert [c.ok for c in case.checks if c.kind == "similarity"] == [True, True, False]
    d = report.to_dict()
    assert d["rates"]["similarity"] == (2, 3) and abs(d["similarity_mean"] - sum(case.similarities) / 3) < 1e-9


@pytest.mark.slow
def test_jobs_2_gives_the_same_results_as_jobs_1(settings: Context) -> None:
    kw = {"tags": ["personal"]}
    serial = run_evals([CONVERSATIONS], settings, ["rules"], jobs=1, **kw)[0]
    parallel = run_evals([CONVERSATIONS], settings, ["rules"], jobs=2, **kw)[0]
    assert len(serial.cases) >= 5

    def outcome(r):  # type: ignore[no-untyped-def]
        return [(c.name, c.passed, c.failures(), c.turns) for c in r.cases]

    assert outcome(serial) == outcome(parallel)


@pytest.mark.slow
@pytest.mark.integration
def test_url_runs_the_same_conversations_through_a_deployed_service(catalog_settings: Context,
                                                                     tmp_path: Path) -> None:
    names = ["search-then-second-in-blue", "photo-what-goes-with-boots", "bad-image-upload",
             "personal-forget-colour"]
    data = copy_data(catalog_settings.data_dir, tmp_path / "data")
    with Service(data, env={"FASHIONM3_API_KEYS": "eval-key"}) as svc:
        remote = []
        for name in names:
            remote += run_evals([CONVERSATIONS], catalog_settings, url=svc.url, api_key="eval-key", keyword=name)
        with pytest.raises(RuntimeError, match="401"):
            run_evals([CONVERSATIONS], catalog_settings, url=svc.url, api_key="wrong", keyword=names[0])
    local = []
    for name in names:
        local += run_evals([CONVERSATIONS], catalog_settings.with_(data_dir=str(data)), ["rules"], keyword=name)
    assert all(r.planner == "rules" and r.info is not None and r.info.target == svc.url for r in remote)
    assert remote[0].info is not None and remote[0].info.catalog["items"] == 200
    assert [[(c.name, c.passed, c.turns) for c in r.cases] for r in remote] == [
        [(c.name, c.passed, c.turns) for c in r.cases] for r in local]
    # the photo (uploaded through /v1/media), the refused upload and forget-me pass over HTTP as in-process
    assert all(c.passed for r in remote[1:] for c in r.cases), [c.failures() for r in remote for c in r.cases]


def test_pytest_plugin_runs_conversations_as_tests(catalog_settings: Context, tmp_path: Path) -> None:
    folder = tmp_path / "convs"
    write(folder, "search", SEARCH)
    write(folder, "impossible", IMPOSSIBLE)
    env = {**os.environ, "FASHIONM3_DATA_DIR": catalog_settings.data_dir}
    out = subprocess.run([sys.executable, "-m", "pytest", "--fashionm3-evals", str(folder), "--fashionm3-planner",
                          "rules", "-p", "no:cacheprovider", "-q", "--junitxml", str(tmp_path / "j.xml")],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 failed, 1 passed" in out.stdout
    assert "impossible (impossible.yaml) failed:" in out.stdout and "routing: turn 1: tools" in out.stdout
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")}
    assert set(cases) == {"red-dresses[rules]", "impossible[rules]"}
    assert cases["impossible[rules]"].find("failure") is not None


def test_planners_run_in_one_invocation_never_share_a_users_memory(tmp_path: Path) -> None:
    from typing import Any

    from evals.runner import run_conversation
    from evals.spec import Conversation

    seen: list[tuple[str, str]] = []

    class Recorder:
        def turn(self, thread: str, user: str, text: str, image: Any) -> dict[str, Any]:
            seen.append((thread, user))
            return {"calls": [], "items": [], "intent": "small_talk", "text": "hi"}

    conv = Conversation.model_validate({"name": "c", "user_id": "u", "turns": [{"say": "hi"}, {"say": "bye"}]})
    for planner in ("rules", "smol"):
        run_conversation(tmp_path / "c.yaml", conv, Recorder(), "run1", planner=planner)  # type: ignore[arg-type]
    rules, smol = seen[:2], seen[2:]
    assert len({u for _, u in rules}) == 1 and len({t for t, _ in rules}) == 1  # one user and thread per run
    assert not {u for _, u in rules} & {u for _, u in smol}  # the second planner starts with an empty memory
    assert not {t for t, _ in rules} & {t for t, _ in smol}
