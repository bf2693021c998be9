"""Run scripted eval conversations and score them: in-process through the real graph, or over HTTP.

Deterministic checks first (tool sequence, argument subsets, item constraints, reply substrings),
then soft ones scored as the FashionM3 paper does (S-BERT cosine with all-MiniLM-L6-v2). See
``evals/README.md`` for the YAML format and every option of ``fashionm3 eval``.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.context import Context
from evals.report import Check, EvalReport, RunInfo
from evals.spec import (
    DEFAULT_ITEMS_SIMILARITY,
    DEFAULT_REPLY_SIMILARITY,
    Conversation,
    ItemExpect,
    SpecError,
    load_conversations,
    select,
)

__all__ = ["CaseResult", "EvalReport", "SpecError", "check_items", "load_conversations", "run_evals"]


@dataclass
class CaseResult:
    """The outcome of one conversation with one planner."""

    name: str
    path: str
    planner: str = ""
    checks: list[Check] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    similarities: list[float] = field(default_factory=list)
    error: str = ""
    personal: list[bool] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    turns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed and the run did not break."""
        return not self.error and all(c.ok for c in self.checks)

    def failures(self) -> list[str]:
        """Return the failed checks as ``kind: detail`` (or the error that broke the run)."""
        if self.error:
            return [self.error]
        return [f"{c.kind}: {c.detail}" for c in self.checks if not c.ok]


class Target(Protocol):
    """Where a conversation's turns go: the in-process graph or a deployed service."""

    def turn(self, thread: str, user: str, text: str, image: Path | None) -> dict[str, Any]:
        """Send one message and return the response payload (``fashionm3 ask --json`` shape)."""
        ...


class GraphTarget:
    """Turns through the real graph in this process (fresh in-memory threads, a given memory store)."""

    def __init__(self, settings: Context, planner: str, store: Any) -> None:
        from langgraph.checkpoint.memory import InMemorySaver

        from agent.planners import get_planner
        from agent.services import open_catalog
        from graph import build_graph

        self.settings = settings
        self.catalog = open_catalog(settings)
        self.graph = build_graph(planner=get_planner(planner, settings=settings), catalog=self.catalog,
                                 checkpointer=InMemorySaver(), store=store)

    def turn(self, thread: str, user: str, text: str, image: Path | None) -> dict[str, Any]:
        """Run one turn through the graph."""
        from agent.session import Session

        session = Session(graph=self.graph, settings=self.settings.with_(user_id=user), thread_id=thread)
        return session.turn(text, attachments=[str(image)] if image else [])


class HttpTarget:
    """Turns through a deployed ``fashionm3 serve`` (its turn API; photos uploaded through ``/v1/media``)."""

    def __init__(self, url: str, api_key: str = "", timeout: float = 300.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.catalog = None

    def info(self) -> dict[str, Any]:
        """Return the service's ``/v1/info`` (version, planner, fingerprints, catalog identity)."""
        r = self.client.get("/v1/info")
        if r.status_code != 200:
            raise RuntimeError(f"{self.client.base_url}/v1/info answered {r.status_code}: {r.text[:300]}")
        return dict(r.json())

    def turn(self, thread: str, user: str, text: str, image: Path | None) -> dict[str, Any]:
        """POST the turn (after uploading its photo) and return the answer.

        A photo the service refuses (not an image, too large) is reported as the web page does: the
        upload's error is shown and the text is sent on its own, so the reply carries both.
        """
        body: dict[str, Any] = {"user_id": user, "text": text}
        upload_error = ""
        if image is not None:
            up = self.client.post("/v1/media", files={"file": (image.name, image.read_bytes())})
            if up.status_code == 200:
                body["images"] = [{"media_id": up.json()["media_id"]}]
            else:
                reason = str(up.json().get("error", {}).get("message") or up.text[:300])
                upload_error = f"I couldn't use an attached image: {reason}"
        r = self.client.post(f"/v1/threads/{thread}/turns", json=body,
                             headers={"Idempotency-Key": f"{thread}-{uuid.uuid4().hex[:8]}"})
        if r.status_code == 202:
            r = self.client.get(r.json()["url"], params={"wait": 60})
        if r.status_code != 200:
            raise RuntimeError(f"the service answered {r.status_code}: {r.text[:300]}")
        resp = dict(r.json())
        if upload_error:
            resp["errors"] = [upload_error, *resp.get("errors", [])]
            resp["text"] = f"{upload_error}\n{resp.get('text', '')}"
        return resp


class _Similarity:
    """Cosine similarity of MiniLM sentence embeddings (the packaged all-MiniLM-L6-v2)."""

    def __init__(self) -> None:
        from agent.embeddings import get_text_embedder

        self.embedder = get_text_embedder()

    def __call__(self, a: str, bs: list[str]) -> list[float]:
        vecs = np.asarray(self.embedder.encode([a, *bs]), dtype=np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
        return [float(v @ vecs[0]) for v in vecs[1:]]


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


def check_items(expect: ItemExpect, items: list[dict[str, Any]], catalog: Any = None) -> list[Check]:
    """Check every returned item against the constraints (one check per item, plus counts).

    With a ``catalog`` each item is checked as the catalog holds it (and must be in it); without one
    (a deployed service), as the response describes it.
    """
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
        bad = []
        if catalog is not None:
            item = catalog.items.get(it["id"])
            fields = None if item is None else {"category": item.category, "color": item.color,
                                                "material": item.material, "price": item.price,
                                                "in_stock": item.in_stock}
        else:
            fields = {"category": it.get("category"), "color": it.get("color"), "material": it.get("material"),
                      "price": float(it.get("price", 0)), "in_stock": int(it.get("stock", 0)) > 0}
        if fields is None:
            bad.append("not in the catalog")
        else:
            if expect.categories and fields["category"] not in expect.categories:
                bad.append(f"category {fields['category']}")
            if expect.exclude_categories and fields["category"] in expect.exclude_categories:
                bad.append(f"excluded category {fields['category']}")
            if expect.colors and fields["color"] not in expect.colors:
                bad.append(f"colour {fields['color']}")
            if expect.exclude_colors and fields["color"] in expect.exclude_colors:
                bad.append(f"excluded colour {fields['color']}")
            if expect.exclude_materials and fields["material"] in expect.exclude_materials:
                bad.append(f"excluded material {fields['material']}")
            if expect.max_price is not None and fields["price"] > expect.max_price + 1e-6:
                bad.append(f"price {fields['price']} > {expect.max_price}")
            if expect.min_price is not None and fields["price"] < expect.min_price - 1e-6:
                bad.append(f"price {fields['price']} < {expect.min_price}")
            if expect.in_stock and not fields["in_stock"]:
                bad.append("out of stock")
        checks.append(Check("items", not bad, f"{it['id']}: {', '.join(bad)}"))
    return checks


def item_description(it: dict[str, Any], catalog: Any = None) -> str:
    """Return the text an item is scored by: the catalog's document, else built from the response fields."""
    item = catalog.items.get(it["id"]) if catalog is not None else None
    if item is not None:
        return str(item.document())
    styles = ", ".join(it.get("styles") or [])
    return f"{it.get('title', '')}. {it.get('color', '')} {it.get('category', '')}, {it.get('material', '')}; {styles}"


def run_conversation(path: Path, conv: Conversation, target: Target, run_id: str, planner: str = "",
                     similarity: _Similarity | None = None) -> CaseResult:
    """Run one conversation on fresh threads and fresh user ids, and check every turn.

    The ids carry the planner's name, so planners run in one invocation never share a user's memory (a
    preference the first planner's run stored would otherwise change the second's results).
    """
    result = CaseResult(name=conv.name, path=str(path), planner=planner, tags=list(conv.tags))
    catalog = getattr(target, "catalog", None)
    t_case = time.perf_counter()
    own = f"{run_id}-{planner}" if planner else run_id
    for n, turn in enumerate(conv.turns, start=1):
        user = f"{turn.user_id or conv.user_id}-{conv.name}-{own}"
        thread = f"{conv.name}-{turn.thread or 'main'}-{own}"
        image = (path.parent / turn.image).resolve() if turn.image else None
        t0 = time.perf_counter()
        try:
            resp = target.turn(thread, user, turn.say, image)
        except Exception as exc:  # noqa: BLE001 - a broken run is reported per case, then the suite goes on
            result.error = f"turn {n}: the run broke: {type(exc).__name__}: {exc}"
            break
        result.latencies.append((time.perf_counter() - t0) * 1000.0)
        result.turns.append({"say": turn.say, "tools": [c["tool"] for c in resp.get("calls", [])],
                             "items": [i["id"] for i in resp.get("items", [])], "intent": resp.get("intent", "")})
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
        if e.reply_similar_to is not None or e.items_similar_to is not None:
            similarity = similarity or _Similarity()
        if e.reply_similar_to is not None and similarity is not None:
            floor = e.reply_similar_to.min if e.reply_similar_to.min is not None else DEFAULT_REPLY_SIMILARITY
            score = similarity(e.reply_similar_to.text, [resp.get("text", "")])[0]
            result.similarities.append(score)
            result.checks.append(Check("similarity", score >= floor, f"{where}: reply similarity {score:.3f} "
                                       f"(expected >= {floor:.2f})", score=score))
        if e.items_similar_to is not None and similarity is not None:
            floor = e.items_similar_to.min if e.items_similar_to.min is not None else DEFAULT_ITEMS_SIMILARITY
            items = resp.get("items", [])
            scores = similarity(e.items_similar_to.text, [item_description(i, catalog) for i in items]) if items else []
            score = float(np.mean(scores)) if scores else 0.0
            result.similarities.append(score)
            result.checks.append(Check("similarity", score >= floor, f"{where}: items similarity {score:.3f} over "
                                       f"{len(items)} item(s) (expected >= {floor:.2f})", score=score))
    result.seconds = time.perf_counter() - t_case
    return result


# -- parallel workers: each process has its own memory folder, graphs and threads ----------------------------------

_WORKER: dict[str, Any] = {}


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def _worker_init(settings: Context, seed: int) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _seed(seed)
    tmp = tempfile.mkdtemp(prefix="fashionm3-eval-worker-")
    _WORKER.update(settings=settings, memory=str(Path(tmp) / "memory"), targets={})


def _worker_target(planner: str, url: str, api_key: str) -> Target:
    from agent.services import open_store

    targets: dict[str, Target] = _WORKER["targets"]
    key = url or planner
    if key not in targets:
        if url:
            targets[key] = HttpTarget(url, api_key)
        else:
            settings: Context = _WORKER["settings"]
            if "store" not in _WORKER:
                _WORKER["store"] = open_store(settings.with_(chroma_path=_WORKER["memory"], chroma_url=""))
            targets[key] = GraphTarget(settings, planner, _WORKER["store"])
    return targets[key]


def _run_one(path: Path, conv: Conversation, planner: str, run_id: str, url: str, api_key: str) -> CaseResult:
    target = _worker_target(planner, url, api_key)
    sim = _WORKER.get("similarity")
    if sim is None and any(t.expect.reply_similar_to or t.expect.items_similar_to for t in conv.turns):
        sim = _WORKER["similarity"] = _Similarity()
    return run_conversation(path, conv, target, run_id, planner=planner, similarity=sim)


def run_evals(paths: list[Path], settings: Context, planners: list[str] | None = None, *, jobs: int = 1,
              url: str = "", api_key: str = "", tags: list[str] | None = None, keyword: str | None = None,
              seed: int = 0, progress: Any = None) -> list[EvalReport]:
    """Run every selected conversation with each planner (or against ``url``) and return one report each.

    Args:
        paths: YAML files or folders.
        settings: Settings of the in-process runs (catalog, planner defaults).
        planners: Planner names to compare; default ``[settings.planner]``. Ignored with ``url``.
        jobs: Conversations run at once in separate processes (each with its own memory folder).
        url: Base URL of a deployed ``fashionm3 serve``; turns go through its HTTP API.
        api_key: Bearer key for ``url``.
        tags: Keep conversations carrying any of these tags.
        keyword: Keep conversations whose name contains this.
        seed: Seed of ``random``, NumPy and torch in every process.
        progress: Called with each finished :class:`CaseResult`.

    Raises:
        SpecError: a file is malformed, or the selection is empty.
    """
    conversations = select(load_conversations([Path(p) for p in paths]), tags, keyword)
    if not conversations:
        raise SpecError(f"no eval conversation matches the selection (tags {tags or '-'}, -k {keyword or '-'})")
    names = [url] if url else (planners or [settings.planner])
    run_id = uuid.uuid4().hex[:8]
    info = RunInfo.collect(settings, url=url, api_key=api_key)
    tasks = [(p, c, name) for name in names for p, c in conversations]
    results: list[CaseResult] = []
    if jobs <= 1:
        _worker_init(settings, seed)
        for p, c, name in tasks:
            r = _run_one(p, c, "" if url else name, run_id, url, api_key)
            results.append(r)
            if progress:
                progress(r)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                 initargs=(settings, seed)) as pool:
            futures = [pool.submit(_run_one, p, c, "" if url else name, run_id, url, api_key) for p, c, name in tasks]
            for f in futures:
                r = f.result()
                results.append(r)
                if progress:
                    progress(r)
    reports = []
    for name in names:
        label = info.planner_label(name)
        cases = [r for r, (_, _, n) in zip(results, tasks, strict=True) if n == name]
        for case in cases:
            case.planner = label
        reports.append(EvalReport(cases=cases, planner=label, info=info.for_planner(label)))
    return reports
