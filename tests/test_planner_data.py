"""Planner training data: the compact plan format, the prompt, the sample builder, and the metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.context import Context
from agent.plan import ImageInfo, Plan, PlannerInput, PreferenceFact, ShownItem, ToolCall
from agent.planners.compact import CompactPlanError, from_compact, plan_key, render_prompt, to_compact
from agent.planners.rules import RulesPlanner
from tools import discover
from training.planner.data import (
    FAMILIES,
    TASK_WEIGHTS,
    PlannerSample,
    assign_splits,
    attach_images,
    build_samples,
    family_name,
    load_samples,
    number_words,
    write_dataset,
)
from training.planner.metrics import anchor_category, evaluate, slot_counts, triples

TOOLS = {name: cls.Args for name, cls in discover().items()}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose catalog holds 60 items (6 per class) and no search index (not needed here)."""
    from agent.catalog.build import build_default_items

    data = tmp_path_factory.mktemp("planner-data")
    out = data / "catalog"
    items = build_default_items(out, per_class=6, seed=0, image_size=28)
    (out / "catalog.jsonl").write_text("".join(i.model_dump_json() + "\n" for i in items))
    return data


@pytest.fixture(scope="module")
def items(small_data: Path) -> list[Any]:
    from agent.services import open_catalog

    return list(open_catalog(Context(data_dir=str(small_data))).items.values())


@pytest.fixture(scope="module")
def samples(items: list[Any]) -> list[PlannerSample]:
    return build_samples(items, n=900, seed=3)[0]


# ---------------------------------------------------------------------------------------------------
# compact format
# ---------------------------------------------------------------------------------------------------

HAND_PLANS = [
    Plan(intent="search", calls=[ToolCall(name="search_catalog", args={
        "query": "white, trainers; \"x\" = y | z \\ w", "categories": ["sneakers"], "colors": ["white", "navy"],
        "max_price": 99.5, "limit": 5})], facts=[PreferenceFact(kind="color", value="navy")]),
    Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives", args={
        "item_id": "BAG-0104", "cheaper": True, "exclude_colors": ["red"]})]),
    Plan(intent="forget", forget=["color:navy", "brand:harbour lane"]),
    Plan(intent="forget", forget=["*"]),
    Plan(intent="recommend_outfit"),
    Plan(intent="small_talk", facts=[PreferenceFact(kind="budget", value="max 100", polarity="neutral"),
                                     PreferenceFact(kind="material", value="leather", polarity="dislike")]),
    Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"query": "100", "colors": []})], final=False),
    Plan(intent="clarify", calls=[ToolCall(name="recall_outfit", args={"index": -1})]),
    Plan(intent="history", calls=[ToolCall(name="recall_outfit", args={"index": 2})]),
    Plan(intent="try_on", calls=[ToolCall(name="virtual_try_on", args={"item_id": "TOP-0001",
                                                                       "person_image": "latest"})]),
    Plan(intent="out_of_scope"),
]


@pytest.mark.parametrize("plan", HAND_PLANS, ids=[to_compact(p)[:40] for p in HAND_PLANS])
def test_compact_round_trips_hand_made_plans(plan: Plan) -> None:
    text = to_compact(plan)
    assert "\n" not in text
    back = from_compact(text, TOOLS)
    assert plan_key(back) == plan_key(plan)
    assert to_compact(back) == text
    assert plan_key(from_compact(text)) == plan_key(plan)  # typed from the registry without validation


def test_compact_examples_are_terse() -> None:
    plan = Plan(intent="recommend_outfit", calls=[ToolCall(name="recommend_outfit", args={
        "anchor_item_id": "TOP-0228", "occasion": "dinner", "max_price": 90.0})])
    assert to_compact(plan) == "recommend_outfit anchor_item_id=TOP-0228;occasion=dinner;max_price=90"
    plan = Plan(intent="small_talk", facts=[PreferenceFact(kind="color", value="navy")])
    assert to_compact(plan) == "small_talk | +color:navy"
    assert from_compact("forget | del:color:navy").forget == ["color:navy"]


def test_compact_round_trips_every_generated_target_and_rules_plan(samples: list[PlannerSample]) -> None:
    rules = RulesPlanner()
    for s in samples:
        assert s.compact == to_compact(s.target)
        assert plan_key(from_compact(s.compact, TOOLS)) == plan_key(s.target), s.compact
        plan = rules.plan(s.view)
        text = to_compact(plan)
        assert plan_key(from_compact(text, TOOLS)) == plan_key(plan), text


@pytest.mark.parametrize(("text", "expected"), [
    ("", "empty plan"),
    ("line one\nline two", "one line"),
    ("fly_to_moon x=1", "'fly_to_moon' is neither a tool nor an intent"),
    ("search_catalog colors=white;;max_price=3", "segment 1 (search_catalog), argument 2: empty argument"),
    ("search_catalog max_price=cheap", "segment 1: invalid arguments for search_catalog: max_price"),
    ("search_catalog colour=white", "colour: Extra inputs are not permitted"),
    ("find_alternatives cheaper", "item_id: Field required"),
    ("small_talk | +colour:navy", "segment 2: a fact is +kind:value"),
    ("small_talk | +color:", "segment 2: the fact '+color:' has no value"),
    ("forget | del:navy", "segment 2: a forget target is del:kind:value"),
    ("search_catalog query=\"abc", "unterminated quoted value"),
    ("search_catalog | generate_thing x=1", "segment 2: unknown tool 'generate_thing'"),
    ("@shopping | search_catalog", "unknown intent 'shopping'"),
    ("search_catalog query=a;query=b", "argument 'query' is given twice"),
])
def test_compact_parse_errors_name_what_and_where(text: str, expected: str) -> None:
    with pytest.raises(CompactPlanError) as info:
        from_compact(text, TOOLS)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)


def test_render_prompt_is_short_and_deterministic() -> None:
    shown = [ShownItem(id="TOP-0228", title="t", category="top", color="navy", price=50.99, turn=1, position=1),
             ShownItem(id="BAG-0001", title="b", category="bag", color="red", price=80.0, turn=1, position=2)]
    photo = ImageInfo(sha256="a" * 64, path="x.png", turn=2, category="ankle_boots", category_confidence=0.912,
                      color="grey", color_confidence=0.8)
    view = PlannerInput(text="what goes with these?", turn=2, shown=shown, last_shown=shown,
                        history=[{"role": "user", "content": "show me tops " * 20}, {"role": "assistant",
                                                                                   "content": "Here you go."}],
                        preferences=[PreferenceFact(kind="color", value="navy"),
                                     PreferenceFact(kind="material", value="leather", polarity="dislike")],
                        images=[photo], new_images=[photo], tools={n: c.args_schema() for n, c in discover().items()})
    text = render_prompt(view)
    assert text == render_prompt(view)
    assert "#1 TOP-0228 navy top 50.99" in text and "#2 BAG-0001 red bag 80" in text
    assert "prefs: +color:navy -material:leather" in text
    assert text.endswith("user: what goes with these? [photo: grey ankle_boots p=0.91]")
    assert render_prompt(view, image_text=False).endswith("user: what goes with these? [photo]")
    assert len(text.split()) < 60
    assert "no tools" not in text
    fewer = view.model_copy(update={"tools": {"search_catalog": {}}})
    assert "no tools: answer_about_items,find_alternatives,generate_image" in render_prompt(fewer)


# ---------------------------------------------------------------------------------------------------
# the data set
# ---------------------------------------------------------------------------------------------------


def test_splits_are_by_family_and_every_behaviour_is_tested(samples: list[PlannerSample]) -> None:
    fams: dict[str, set[str]] = {"train": set(), "valid": set(), "test": set()}
    for s in samples:
        fams[s.split].add(s.family)
        assert FAMILIES[s.group][0] == s.task and s.family.startswith(s.group + "#")
    assert not fams["train"] & fams["test"] and not fams["train"] & fams["valid"] and not fams["valid"] & fams["test"]
    split_of = assign_splits(3)
    assert len(split_of) == sum(len(p) for _, _, p in FAMILIES.values())
    for group, (_, _, phrasings) in FAMILIES.items():
        splits = {split_of[family_name(group, i)] for i in range(len(phrasings))}
        assert {"train", "test"} <= splits, group
    assert {s.split for s in samples} == {"train", "valid", "test"}


def test_targets_are_valid_plans_for_the_registered_tools(samples: list[PlannerSample]) -> None:
    for s in samples:
        for call in s.target.calls:
            assert call.name in s.view.tools
            TOOLS[call.name].model_validate(call.args)
        for ref in [c.args.get("item_id") or c.args.get("anchor_item_id") for c in s.target.calls]:
            if ref:
                assert s.view.shown_by_id(ref) is not None, (s.view.text, ref)
        assert s.view.text.strip()
    assert {s.task for s in samples} == set(TASK_WEIGHTS)


def test_builder_is_deterministic_by_seed(items: list[Any]) -> None:
    a = [s.model_dump_json() for s in build_samples(items, n=150, seed=5)[0]]
    b = [s.model_dump_json() for s in build_samples(items, n=150, seed=5)[0]]
    c = [s.model_dump_json() for s in build_samples(items, n=150, seed=6)[0]]
    assert a == b
    assert a != c


def test_language_is_varied(samples: list[PlannerSample]) -> None:
    texts = [s.view.text.lower() for s in samples]
    joined = " ".join(texts)
    for word in ("jeans", "trainers", "purse", "quid", "€", "$"):
        assert word in joined, word
    assert len(set(texts)) > 0.8 * len(texts)
    assert number_words(120) == "a hundred and twenty" and number_words(45) == "forty-five"


def test_photos_come_from_the_right_fashion_mnist_split(items: list[Any], tmp_path: Path) -> None:
    from agent.catalog.fmnist import load_split
    from agent.catalog.tint import tint_image
    from agent.catalog.vocab import COLORS

    samples, jobs = build_samples(items, n=400, seed=1)
    assert any(s.split == "test" for s in samples if s.true_category)
    assert any(s.split != "test" for s in samples if s.true_category)
    attach_images(samples, jobs, tmp_path, seed=1)
    for job in jobs:
        sample = samples[job.sample]
        assert job.split == ("test" if sample.split == "test" else "train")
        assert sample.image_path is not None and sample.image_path.startswith(f"images/{job.split}/")
        assert (tmp_path / sample.image_path).is_file()
        info = sample.view.new_images[-1]
        assert info.path == sample.image_path and info.category is not None and 0 < info.category_confidence <= 1
        assert sample.true_category == job.category
    test_images, test_labels = load_split("test")
    for job in [j for j in jobs if j.split == "test"][:5]:
        assert int(test_labels[job.index]) == ["top", "trousers", "pullover", "dress", "coat", "sandals", "shirt",
                                               "sneakers", "bag", "ankle_boots"].index(job.category)
        expected = np.asarray(tint_image(test_images[job.index], COLORS[job.color], size=128))
        from PIL import Image

        saved = np.asarray(Image.open(tmp_path / samples[job.sample].image_path).convert("RGB"))
        assert np.array_equal(saved, expected)
    stats = write_dataset(samples, tmp_path, {"seed": 1})
    assert stats["splits"]["test"]["photo_source"] == "fashion-mnist test split"
    loaded = load_samples(tmp_path, "test")
    assert [s.id for s in loaded] == [s.id for s in samples if s.split == "test"]
    photo = next(s for s in loaded if s.image_path)
    assert Path(photo.image_path or "").is_file() and Path(photo.view.new_images[-1].path).is_file()
    assert set(loaded[0].view.tools) == set(TOOLS)


# ---------------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------------


def _search(**args: Any) -> Plan:
    return Plan(intent="search", calls=[ToolCall(name="search_catalog", args=args)])


def test_slot_counts_on_hand_made_plans() -> None:
    gold = _search(query="navy wool coats", categories=["coat"], colors=["navy", "black"], max_price=100.0)
    assert slot_counts(gold, gold) == (5, 5, 5)
    pred = _search(query="Navy coats please", categories=["coat"], colors=["black"], max_price=100.5)
    assert slot_counts(pred, gold) == (4, 4, 5)  # query by word overlap, colours as a set, price within 1%
    pred = _search(query="boots", categories=["coat"], max_price=120)
    assert slot_counts(pred, gold) == (1, 3, 5)
    facts = Plan(intent="small_talk", facts=[PreferenceFact(kind="color", value="Navy")])
    assert triples(facts) == [("fact", "color", "like:navy")]
    assert slot_counts(Plan(intent="small_talk"), facts) == (0, 0, 1)


class _Fixed:
    name = "fixed"

    def __init__(self, plans: dict[str, Plan]) -> None:
        self.plans = plans
        self.stats = {"fallbacks": 0}

    def plan(self, view: PlannerInput) -> Plan:
        if view.text == "boom":
            raise RuntimeError("boom")
        if view.text == "fallback":
            self.stats["fallbacks"] += 1
        return self.plans[view.text]


def test_evaluate_reports_expected_numbers() -> None:
    tools = {n: c.args_schema() for n, c in discover().items()}
    photo = ImageInfo(sha256="a" * 64, path="p.png", turn=1, category="coat", category_confidence=0.9)
    gold_photo = Plan(intent="recommend_outfit", calls=[ToolCall(name="recommend_outfit", args={
        "anchor_image": "latest", "anchor_category": "bag"})])

    def sample(i: int, text: str, target: Plan, task: str = "search", **kw: Any) -> PlannerSample:
        return PlannerSample(id=str(i), task=task, family="f", split="test",
                             view=PlannerInput(text=text, turn=1, tools=tools, **kw), target=target, **{
                                 k: v for k, v in kw.items() if k in ("true_category",)})

    gold = _search(categories=["coat"], colors=["navy"])
    samples = [
        sample(0, "a", gold),
        sample(1, "b", gold),
        sample(2, "fallback", Plan(intent="small_talk"), task="small_talk"),
        sample(3, "boom", gold),
        PlannerSample(id="4", task="image_recommendation", family="f", split="test", true_category="bag",
                      view=PlannerInput(text="c", turn=1, tools=tools, images=[photo], new_images=[photo]),
                      target=gold_photo),
    ]
    planner = _Fixed({
        "a": gold,
        "b": _search(categories=["coat"], colors=["red"], limit=50),  # invalid: limit > 20
        "fallback": Plan(intent="small_talk"),
        "c": Plan(intent="recommend_outfit",
                  calls=[ToolCall(name="recommend_outfit", args={"anchor_image": "latest"})]),
    })
    scores = evaluate(planner, samples, split="test")
    assert scores.n == 5
    assert scores.routing_accuracy == pytest.approx(4 / 5)
    assert scores.valid_rate == pytest.approx(4 / 5)
    # triples: gold 2+2+0+2+2 = 8; predicted 2+3+0+0+1 = 6; matched 2+1+0+0+1 = 4
    assert scores.slot_precision == pytest.approx(4 / 6)
    assert scores.slot_recall == pytest.approx(4 / 8)
    assert scores.fallbacks == 1 and scores.fallback_rate == pytest.approx(1 / 5)
    assert scores.errors == 1
    assert scores.anchor_n == 1 and scores.anchor_accuracy == 0.0  # the photo reads as a coat, truly a bag
    assert anchor_category(gold_photo, samples[4].view) == "bag"
    assert set(scores.per_task) == {"search", "small_talk", "image_recommendation"}
    assert scores.per_task["search"].routing_accuracy == pytest.approx(2 / 3)
    assert scores.latency_p95_ms >= scores.latency_p50_ms >= 0


# ---------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------


def test_cli_builds_data_and_scores_the_rules_planner(small_data: Path, tmp_path: Path,
                                                      commands_env: dict[str, str]) -> None:
    env = {**os.environ, **commands_env, "FASHIONM3_DATA_DIR": str(small_data)}
    out = tmp_path / "planner"
    cli = [sys.executable, "-m", "agent.cli"] if not (ROOT / ".venv/bin/fashionm3").exists() else [
        str(ROOT / ".venv/bin/fashionm3")]
    build = subprocess.run([*cli, "data", "build-planner", "--out", str(out), "--n", "120", "--seed", "2",
                            "--extra", "40", "--quiet"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    assert build.returncode == 0, build.stderr
    assert "test" in build.stdout and (out / "train.jsonl").is_file() and (out / "stats.json").is_file()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["samples"] == 160 and stats["catalog"] == str(small_data / "catalog")
    extra = [s for s in load_samples(out) if s.id.startswith("x")]
    assert len(extra) == 40 and {s.split for s in extra} == {"train"}
    report = tmp_path / "scores.json"
    ev = subprocess.run([*cli, "eval-planner", "--planner", "rules", "--split", "test", "--data", str(out),
                         "--json", str(report), "--limit", "30"], capture_output=True, text=True, env=env, cwd=ROOT,
                        timeout=180)
    assert ev.returncode == 0, ev.stderr
    assert "routing" in ev.stdout and "slot F1" in ev.stdout
    scores = json.loads(report.read_text())
    assert scores["planner"] == "rules" and 0 < scores["n"] <= 30 and scores["valid_rate"] == 1.0
    from training.planner.metrics import photo_anchored

    expected = [s for s in load_samples(out, "test") if s.true_category and photo_anchored(s.target)]
    photo = subprocess.run([*cli, "eval-planner", "--planner", "rules", "--data", str(out), "--photo-only",
                            "--json", str(report)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    if expected:
        assert photo.returncode == 0, photo.stderr
        photo_scores = json.loads(report.read_text())
        assert photo_scores["n"] == photo_scores["anchor_n"] == len(expected)
    else:
        assert photo.returncode == 2 and "no photo-anchored test samples" in photo.stderr
    bad = subprocess.run([*cli, "eval-planner", "--planner", "nope", "--data", str(out)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=180)
    assert bad.returncode == 2 and "unknown planner 'nope'" in bad.stderr


def test_fill_reply_composes_replies_for_call_less_plans() -> None:
    from agent.planners.checks import fill_reply

    prefs = [PreferenceFact(kind="color", value="navy")]
    view = PlannerInput(text="what do you know about me?", turn=1, preferences=prefs)
    assert "navy" in (fill_reply(Plan(intent="show_memory"), view).reply or "")
    view = PlannerInput(text="whats in my profile", turn=1, preferences=prefs)
    assert "navy" in (fill_reply(Plan(intent="show_memory"), view).reply or "")
    forget = fill_reply(Plan(intent="forget", forget=["color:navy"]), view)
    assert forget.reply and "navy" in forget.reply
    oos = fill_reply(Plan(intent="out_of_scope"), PlannerInput(text="tell me a joke", turn=0))
    assert oos.reply and oos.reply.startswith("Sorry")
    call = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"query": "x"})])
    assert fill_reply(call, view) is call


def test_every_generated_target_is_grounded_in_its_conversation(samples: list[PlannerSample]) -> None:
    """The grounding checks must never refuse (or rewrite) the plan a sample asks for."""
    from agent.planners.compact import to_compact
    from agent.planners.grounding import ground_plan

    for s in samples:
        assert to_compact(ground_plan(s.target, s.view)) == to_compact(s.target), s.view.text


def test_supplementary_samples_are_train_only_new_phrasings_and_grounded(items: list[Any]) -> None:
    """The supplementary groups add training phrasings only: none is a base test phrasing, all are grounded."""
    from agent.planners.grounding import ground_plan
    from agent.planners.smol.planner import check_plan
    from training.planner.data_extra import EXTRA_FAMILIES, EXTRA_WEIGHTS, build_extra_samples

    assert set(EXTRA_FAMILIES) == set(EXTRA_WEIGHTS) and not set(EXTRA_FAMILIES) & set(FAMILIES)
    split_of = assign_splits(0)
    test_phrasings = {p.lstrip("~").lower() for g, (_, _, ps) in FAMILIES.items() for i, p in enumerate(ps)
                      if split_of[family_name(g, i)] == "test"}
    for _, _, phrasings in EXTRA_FAMILIES.values():
        for p in phrasings:
            assert p.lstrip("~").lower() not in test_phrasings, p
    extra = build_extra_samples(items, 400, seed=0)
    assert len(extra) == 400 and {s.split for s in extra} == {"train"}
    assert [s.model_dump_json() for s in extra[:50]] == [s.model_dump_json() for s in build_extra_samples(
        items, 50, seed=0)]
    assert {s.group for s in extra} == set(EXTRA_FAMILIES)
    for s in extra:
        assert to_compact(ground_plan(s.target, s.view)) == to_compact(s.target), s.view.text
        check_plan(s.target, s.view)
    by_group = {s.group: s for s in extra}
    both = by_group["x_design_then_find"].target.calls
    assert [c.name for c in both] == ["generate_image", "search_catalog"] and both[1].args["image"] == "latest"
    edit = by_group["x_design_edit"]
    assert edit.target.calls[0].args["edit_image"] == "latest"
    assert edit.target.calls[0].args["category"] == edit.view.images[-1].category
    assert edit.view.images[-1].kind == "generated"
    again = by_group["x_alt_again"]
    assert again.target.calls[0].args["item_id"] == again.view.focus_item_id
    assert all(s.target.intent == "clarify" and not s.view.images for s in extra if s.group == "x_tryon_nophoto")


def test_phrasing_files_are_checked_when_read(tmp_path: Path) -> None:
    from training.planner.data import BUILDERS, FAMILIES_DIR, load_families

    assert list(load_families(FAMILIES_DIR / "families.yaml", BUILDERS, TASK_WEIGHTS)) == list(FAMILIES)
    assert FAMILIES["mem_ask"][1] is BUILDERS["b_show_memory"] and FAMILIES["search_plain"][1] is BUILDERS["b_search"]
    path = tmp_path / "groups.yaml"
    for text, message in [
        ("g:\n  task: search\n  builder: b_nope\n  phrasings: [hi]\n", "group 'g': unknown builder 'b_nope'"),
        ("g:\n  task: dancing\n  builder: b_search\n  phrasings: [hi]\n", "group 'g': unknown task 'dancing'"),
        ("g:\n  task: search\n  builder: b_search\n", "group 'g': needs exactly the keys"),
        ("g:\n  task: search\n  builder: b_search\n  phrasings: []\n", "group 'g': phrasings must be"),
        ("g:\n  task: search\n  builder: b_search\n  phrasings: [a, a]\n", "group 'g': a phrasing is listed twice"),
        ("- just a list\n", "expected a mapping"),
    ]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message) as exc:
            load_families(path, BUILDERS, TASK_WEIGHTS)
        assert str(path) in str(exc.value)
