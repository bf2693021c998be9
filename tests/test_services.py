"""Services: a run's settings reach everything below the graph, tools are set up once, photos are decoded
and encoded once, and missing packages are named instead of silently worked around."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from PIL import Image
from pydantic import BaseModel

import tools
from agent.catalog.store import Catalog
from agent.context import Context
from agent.deps import MissingDependencyError
from agent.plan import ImageInfo, Plan, PlannerInput
from agent.planners.scripted import ScriptedPlanner
from agent.services import MissingContextError, Services
from agent.session import Session
from graph import build_graph
from tools.base import Tool, ToolContext, ToolResult

ASSETS = Path(__file__).resolve().parents[1] / "evals" / "conversations" / "assets"


# --- settings ----------------------------------------------------------------------------------------


def test_a_run_without_settings_is_refused_clearly(catalog: Catalog) -> None:
    g = build_graph(planner=ScriptedPlanner([{"intent": "small_talk", "reply": "hi"}]), catalog=catalog,
                    checkpointer=InMemorySaver())
    with pytest.raises(MissingContextError, match=r"context=Context\(\.\.\.\)"):
        g.invoke({"messages": [("user", "hello")]}, config={"configurable": {"thread_id": "no-context"}})


def test_default_settings_serve_runs_without_context(settings: Context, catalog: Catalog) -> None:
    planner = ScriptedPlanner([{"intent": "search", "calls": [{"name": "search_catalog", "args": {"limit": 5}}]}])
    g = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver(),
                    settings=settings.with_(max_tool_calls=0))
    out = g.invoke({"messages": [("user", "show me something")]}, config={"configurable": {"thread_id": "dflt"}})
    assert out["response"]["tools"] == []  # the default settings' budget (0 tool calls) was applied


def test_default_context_factory_is_called_once() -> None:
    made: list[Context] = []

    def make() -> Context:
        made.append(Context(max_steps=7))
        return made[-1]

    services = Services(default_context=make)
    assert services.context(None).max_steps == 7 and services.context(object()) is made[0]
    assert len(made) == 1
    run_settings = Context(max_steps=2)
    assert services.context(type("R", (), {"context": run_settings})()) is run_settings


def test_the_run_settings_choose_the_image_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.vision import ImageEncoder, get_image_encoder

    monkeypatch.setenv("FASHIONM3_IMAGE_ENCODER", "would/be-a-clip-model")
    enc = Services().get_image_encoder(Context())
    assert isinstance(enc, ImageEncoder) and enc is get_image_encoder("")
    fake = object()
    assert Services(encoder=fake).get_image_encoder(Context()) is fake  # type: ignore[arg-type]


# --- Tool.setup ---------------------------------------------------------------------------------------


class _NoArgs(BaseModel):
    pass


class _Recorder(Tool):
    """Record when it is set up and run."""

    name = "record"
    Args = _NoArgs

    def __init__(self) -> None:
        self.events: list[str] = []

    def setup(self) -> None:
        self.events.append("setup")

    def run(self, args: _NoArgs, ctx: ToolContext) -> ToolResult:
        self.events.append("run")
        return ToolResult(tool=self.name, message="recorded")


def test_tool_setup_runs_once_before_the_first_run_across_turns(settings: Context, catalog: Catalog) -> None:
    tool = _Recorder()
    call = {"intent": "small_talk", "calls": [{"name": "record", "args": {}}]}
    planner = ScriptedPlanner([call, call])
    g = build_graph(planner=planner, tools={"record": tool}, catalog=catalog, checkpointer=InMemorySaver())
    s = Session(graph=g, settings=settings)
    s.turn("first")
    s.turn("second")
    planner.assert_consumed()
    assert tool.events == ["setup", "run", "run"]


def test_registered_tool_is_set_up_once_for_its_kept_instance(settings: Context, catalog: Catalog) -> None:
    class Counted(_Recorder):
        """Count set-ups across instances."""

        name = "counted_record"
        instances: list[_Recorder] = []

        def __init__(self) -> None:
            super().__init__()
            Counted.instances.append(self)

    tools.register_tool(Counted)
    try:
        call = {"intent": "small_talk", "calls": [{"name": "counted_record", "args": {}}]}
        g = build_graph(planner=ScriptedPlanner([call, call]), catalog=catalog, checkpointer=InMemorySaver())
        s = Session(graph=g, settings=settings)
        s.turn("first")
        s.turn("second")
    finally:
        tools.unregister_tool("counted_record")
    events = [e for t in Counted.instances for e in t.events]
    assert events == ["setup", "run", "run"]


def test_prepare_tool_is_thread_safe_and_retries_a_failed_setup() -> None:
    calls: list[int] = []
    gate = threading.Barrier(8)

    class Slow(_Recorder):
        """Slow to set up."""

        name = "slow"

        def setup(self) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("model server not up yet")

    services, tool = Services(), Slow()
    with pytest.raises(RuntimeError):
        services.prepare_tool(tool)

    def go() -> None:
        gate.wait()
        services.prepare_tool(tool)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 2  # the failed one, then exactly one more


# --- photos: decoded and encoded once per turn ------------------------------------------------------------


class _PhotoPlanner(ScriptedPlanner):
    """A scripted planner that embeds new photos as the smol planner does (the shared per-process cache)."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        super().__init__(steps)
        self.vectors: list[np.ndarray] = []

    def plan(self, view: PlannerInput) -> Plan:
        from agent.vision import embed_image

        self.vectors.extend(embed_image(img) for img in view.new_images)
        return super().plan(view)


def test_an_attached_photo_is_decoded_and_encoded_once_per_turn(
    settings: Context, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.media
    from agent.vision import get_image_encoder

    encoder = get_image_encoder(settings.image_encoder)
    catalog.image_mirror()  # the catalog's own image index is built outside the turn
    # A photo no earlier test has seen (the cache is per process): the shipped one with one pixel changed.
    with Image.open(ASSETS / "blue-trousers.png") as im:
        photo = im.convert("RGB")
    photo.putpixel((0, 0), tuple(uuid.uuid4().bytes[:3]))
    src = tmp_path / "photo.png"
    photo.save(src)

    decodes: list[str] = []
    encodes: list[int] = []
    real_load, real_encode = agent.media.load_image, encoder.encode_prepared  # type: ignore[attr-defined]

    def counting_load(source: Any, *a: Any, **kw: Any) -> Image.Image:
        decodes.append(str(kw.get("name") or source)[:40])
        return real_load(source, *a, **kw)

    def counting_encode(prepared: Any, *a: Any, **kw: Any) -> np.ndarray:
        encodes.append(len(prepared))
        return real_encode(prepared, *a, **kw)

    monkeypatch.setattr(agent.media, "load_image", counting_load)
    monkeypatch.setattr(encoder, "encode_prepared", counting_encode)

    planner = _PhotoPlanner([
        {"intent": "search", "calls": [{"name": "search_catalog", "args": {"image": "latest", "limit": 3}}],
         "final": False},
        {"intent": "search", "calls": [{"name": "search_catalog", "args": {"image": "latest", "colors": ["red"]}},
                                       {"name": "recommend_outfit", "args": {"anchor_image": "latest"}}]},
    ])
    g = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver())
    resp = Session(graph=g, settings=settings).turn("anything like this?", attachments=[str(src)])
    planner.assert_consumed()
    assert resp["tools"] == ["search_catalog", "search_catalog", "recommend_outfit"] and resp["items"]
    assert len(decodes) == 1, decodes
    assert encodes == [1]
    assert len(planner.vectors) == 2  # both plan steps saw the photo as new, and got the same vector
    monkeypatch.undo()
    direct = encoder.encode([photo])[0]
    assert np.allclose(planner.vectors[0], direct, atol=1e-5) and np.allclose(planner.vectors[1], direct, atol=1e-5)
    assert not planner.vectors[0].flags.writeable  # shared: nobody may change it


def test_photo_cache_reads_a_stored_photo_once(tmp_path: Path) -> None:
    from agent.vision import PhotoCache

    path = tmp_path / "p.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    info = ImageInfo(sha256="f" * 64, path=str(path), turn=1)

    class Enc:
        name, dim = "fake", 3

        def __init__(self) -> None:
            self.seen = 0

        def encode(self, images: list[Image.Image]) -> np.ndarray:
            self.seen += len(images)
            return np.ones((len(images), 3), dtype=np.float32)

    cache, a, b = PhotoCache(), Enc(), Enc()
    assert cache.image(info) is cache.image(info) and cache.decodes == 1
    assert np.array_equal(cache.vector(info, a), cache.vector(info, a))  # type: ignore[arg-type]
    cache.vector(info, b)  # type: ignore[arg-type]
    assert (a.seen, b.seen, cache.encodes, cache.decodes) == (1, 1, 2, 1)


# --- missing packages ---------------------------------------------------------------------------------------


def test_missing_chromadb_is_an_error_naming_it(settings: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from agent.services import open_store

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "chromadb" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"'chromadb'.*pip install chromadb"):
        open_store(settings)


def test_photo_understanding_names_a_missing_package(tmp_path: Path) -> None:
    from agent.vision import PhotoCache
    from agent.vision.ingest import understand

    class NoTorch:
        name, dim = "needs-torch", 384

        def embed_and_classify(self, images: list[Image.Image]) -> Any:
            raise ModuleNotFoundError("No module named 'torch'", name="torch")

    img = Image.new("RGB", (32, 32), (0, 0, 200))
    info = ImageInfo(sha256="e" * 64, path=str(tmp_path / "x.png"), turn=1)
    with pytest.raises(MissingDependencyError, match=r"'torch'.*pip install torch"):
        understand(img, info, NoTorch(), PhotoCache())  # type: ignore[arg-type]


def test_missing_encoder_weights_degrade_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from agent.vision import ImageEncoder, PhotoCache
    from agent.vision.ingest import understand

    img = Image.new("RGB", (32, 32), (0, 0, 200))
    info = ImageInfo(sha256="d" * 64, path=str(tmp_path / "x.png"), turn=1)
    with caplog.at_level(logging.WARNING, logger="agent.vision.ingest"):
        out = understand(img, info, ImageEncoder(tmp_path / "no-weights"), PhotoCache())
    assert out.category is None and out.color and out.color_confidence == 0.5
    assert "only a colour estimate" in caplog.text and "train_encoder" in caplog.text

