"""Photos in the conversation: image index, image queries, photo-anchored outfits, honest uncertainty."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

import tools
from agent.catalog.models import SearchFilters
from agent.catalog.store import Catalog
from agent.context import Context
from agent.plan import ImageInfo
from agent.planners import get_planner
from agent.reply import describe_photo
from agent.session import Session
from graph import build_graph
from tools.base import ToolContext

ASSETS = Path(__file__).resolve().parents[1] / "evals" / "conversations" / "assets"


def test_every_item_image_is_indexed(catalog: Catalog) -> None:
    assert catalog.image_index_count() == len(catalog.items)


def test_image_to_image_finds_itself_and_its_kind(catalog: Catalog) -> None:
    from PIL import Image

    from agent.vision import get_image_encoder

    enc = get_image_encoder()
    for item in list(catalog.items.values())[::40]:
        with Image.open(catalog.image_path(item)) as im:  # type: ignore[arg-type]
            q = enc.encode([im.convert("RGB")])[0]
        hits = catalog.search(None, SearchFilters(in_stock=False), k=5, query_vector=q, space="image")
        assert hits[0].item.id == item.id
        assert all(h.item.category == item.category or h.item.color == item.color for h in hits)


def test_text_to_image_search(catalog: Catalog) -> None:
    q = catalog.embedder.encode_one("a red dress")
    hits = catalog.search(None, SearchFilters(), k=5, query_vector=q, space="image")
    assert hits[0].item.category == "dress"
    assert all(h.item.category == "dress" or h.item.color == "red" for h in hits)


def _upload(settings: Context, name: str) -> ImageInfo:
    from agent.vision.ingest import ingest_attachment

    return ingest_attachment(str(ASSETS / name), settings.media_dir, 1, settings.max_upload_bytes,
                             settings.max_image_pixels)


def test_uploaded_photo_is_understood(settings: Context) -> None:
    info = _upload(settings, "grey-ankle-boots.png")
    assert (info.category, info.color) == ("ankle_boots", "grey")
    assert info.category_confidence > 0.8
    assert describe_photo(info) == f"That looks like grey ankle boots ({round(info.category_confidence * 100)}% sure)."


def test_low_confidence_is_said_not_hidden() -> None:
    img = ImageInfo(sha256="x", path="x", turn=1, category="dress", category_confidence=0.31, color="black",
                    color_confidence=0.9)
    assert describe_photo(img).startswith("I'm not sure what's in that photo; my best guess is a black dress")


def test_search_like_this_but_in_a_colour(settings: Context, catalog: Catalog) -> None:
    info = _upload(settings, "blue-trousers.png")
    ctx = ToolContext(settings=settings, catalog=catalog, images=[info])
    search = tools.default_tools()["search_catalog"]
    same = search({"image": "latest"}, ctx)
    assert same.ok and all(i.category == "trousers" or i.color == "blue" for i in same.items)
    red = search({"image": info.sha256[:10], "colors": ["red"]}, ctx)
    assert red.ok and red.items and all(i.color == "red" for i in red.items)
    assert red.items[0].category == "trousers"


def test_photo_anchor_needs_confidence(settings: Context, catalog: Catalog) -> None:
    unsure = ImageInfo(sha256="abc", path="/nope.png", turn=1, category="coat", category_confidence=0.2)
    ctx = ToolContext(settings=settings, catalog=catalog, images=[unsure])
    r = tools.default_tools()["recommend_outfit"]({"anchor_image": "latest"}, ctx)
    assert not r.ok and "couldn't tell what garment" in r.message
    r = tools.default_tools()["search_catalog"]({"image": "zzz"}, ctx)
    assert not r.ok and "No attached image matches" in r.message


@pytest.mark.parametrize(("asset", "category"), [("red-dress.png", "dress"), ("brown-bag.png", "bag")])
def test_what_goes_with_this_photo(settings: Context, catalog: Catalog, asset: str, category: str) -> None:
    g = build_graph(planner=get_planner("rules"), catalog=catalog, checkpointer=InMemorySaver())
    resp = Session(graph=g, settings=settings).turn("what goes with this?", attachments=[str(ASSETS / asset)])
    assert resp["tools"] == ["recommend_outfit"]
    assert resp["calls"][0]["args"]["anchor_category"] == category
    assert resp["items"] and all(i["category"] != category for i in resp["items"])
    assert resp["text"].startswith("That looks like")


def test_image_index_is_redone_when_the_encoder_changes(tmp_path: Path) -> None:
    import json

    import numpy as np

    from agent.catalog.manage import build_catalog
    from agent.catalog.store import IMAGE_INDEX_FILE
    from agent.services import open_catalog
    from agent.vision import get_image_encoder

    settings = Context(data_dir=str(tmp_path / "data"), user_id="u")
    build_catalog(settings, per_class=1, seed=0, progress=False)
    catalog = open_catalog(settings)
    identity = get_image_encoder().identity  # type: ignore[attr-defined]
    assert identity.startswith("fashionm3-cnn:") and catalog.image_index_encoder() == identity
    assert catalog.ensure_image_index() is False  # up to date: nothing to do
    item = next(iter(catalog.items))
    good = np.asarray(catalog.image_collection.get(ids=[item], include=["embeddings"])["embeddings"][0])
    # Pretend the index was built by older weights: stale vectors must not stay in it.
    catalog.image_collection.upsert(ids=[item], embeddings=[np.roll(good, 7).tolist()])
    (catalog.dir / IMAGE_INDEX_FILE).write_text(json.dumps({"encoder": "fashionm3-cnn:0000000000000000"}))
    assert catalog.ensure_image_index() is True
    redone = np.asarray(catalog.image_collection.get(ids=[item], include=["embeddings"])["embeddings"][0])
    assert np.allclose(redone, good, atol=1e-4) and catalog.image_index_encoder() == identity
    assert catalog.image_index_count() == len(catalog.items)
