from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.catalog.build import build_default_items
from agent.catalog.manage import build_catalog, ingest_file
from agent.catalog.models import Item, SearchFilters
from agent.catalog.store import Catalog, CatalogEmptyError, UnknownItemError
from agent.catalog.tint import dominant_color
from agent.catalog.vocab import CATEGORIES, nearest_color
from agent.context import Context


def test_build_is_deterministic_and_covers_every_category(tmp_path: Path) -> None:
    a = build_default_items(tmp_path / "a", per_class=3, seed=7)
    b = build_default_items(tmp_path / "b", per_class=3, seed=7)
    c = build_default_items(tmp_path / "c", per_class=3, seed=8)
    assert [i.model_dump() for i in a] == [i.model_dump() for i in b]
    assert [i.model_dump() for i in a] != [i.model_dump() for i in c]
    assert sorted({i.category for i in a}) == sorted(CATEGORIES)
    png = "images/TOP-0001.png"
    assert (tmp_path / "a" / png).read_bytes() == (tmp_path / "b" / png).read_bytes()


def test_built_images_show_the_items_colour(catalog: Catalog) -> None:
    items = list(catalog.items.values())
    assert len(items) == 200
    agree = 0
    for item in items:
        path = catalog.image_path(item)
        assert path is not None and path.is_file()
        img = Image.open(path)
        assert img.size == (224, 224) and img.mode == "RGB"
        agree += nearest_color(dominant_color(np.asarray(img))) == item.color
    # A crude pixel probe (median of the garment core) reads the named colour back for almost all items.
    assert agree / len(items) >= 0.95


def test_built_items_have_complete_metadata(catalog: Catalog) -> None:
    for item in catalog.items.values():
        assert item.title and item.brand and item.material and item.styles
        assert item.price > 0 and item.stock >= 0
        assert item.color in item.title.lower()
    assert any(not i.in_stock for i in catalog.items.values()), "some items should be out of stock"
    assert catalog.index_count() == len(catalog.items)


def test_curated_outfits_are_compatible_and_in_stock(catalog: Catalog) -> None:
    assert len(catalog.outfits) >= 10
    for outfit in catalog.outfits:
        items = [catalog.get(i) for i in outfit.item_ids]
        assert all(i.in_stock for i in items)
        cats = [i.category for i in items]
        assert len(set(cats)) == len(cats), "one item per category"
        assert outfit.occasion and outfit.note


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(categories=["dress"]),
        SearchFilters(colors=["navy", "black"], categories=["shirt", "top"]),
        SearchFilters(max_price=40),
        SearchFilters(min_price=50, max_price=120, categories=["coat"]),
        SearchFilters(styles=["formal"]),
        SearchFilters(exclude_colors=["black", "white"], exclude_categories=["bag"]),
        SearchFilters(exclude_materials=["leather"], categories=["ankle_boots", "bag"]),
        SearchFilters(materials=["denim"]),
    ],
)
def test_search_returns_only_items_satisfying_filters(catalog: Catalog, filters: SearchFilters) -> None:
    hits = catalog.search("something nice", filters, k=10)
    assert hits, f"expected matches for {filters}"
    for h in hits:
        assert filters.accepts(h.item), (h.item, filters)
        assert h.item.in_stock


def test_search_ranks_by_meaning(catalog: Catalog) -> None:
    hits = catalog.search("comfortable trainers for running", SearchFilters(), k=5)
    assert [h.item.category for h in hits].count("sneakers") >= 4
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_filters_accept_matches_index_for_out_of_stock(catalog: Catalog) -> None:
    out = [i for i in catalog.items.values() if not i.in_stock]
    hits = catalog.search(out[0].title, SearchFilters(in_stock=False), k=200)
    assert out[0].id in {h.item.id for h in hits}
    hits = catalog.search(out[0].title, SearchFilters(), k=200)
    assert out[0].id not in {h.item.id for h in hits}


def test_unknown_item_and_empty_catalog_errors(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(UnknownItemError, match="No item with id 'NOPE-1'"):
        catalog.get("NOPE-1")
    empty = Catalog(tmp_path / "empty", chroma_path=str(tmp_path / "chroma"))
    with pytest.raises(CatalogEmptyError, match="fashionm3 catalog build"):
        empty.search("dress")


def test_build_refuses_to_overwrite_without_force(catalog_settings: Context) -> None:
    with pytest.raises(FileExistsError, match="--force"):
        build_catalog(catalog_settings, per_class=1, progress=False)


def test_missing_dataset_says_how_to_install(tmp_path: Path) -> None:
    from agent.catalog.fmnist import DatasetMissingError, load_split

    with pytest.raises(DatasetMissingError, match="apt-get install dataset-fashion-mnist"):
        load_split("train", str(tmp_path))


def _write_png(path: Path, color: tuple[int, int, int]) -> None:
    Image.new("RGB", (40, 60), color).save(path)


def test_ingest_jsonl_reports_bad_rows_and_keeps_good_ones(tmp_path: Path) -> None:
    settings = Context(data_dir=str(tmp_path / "data"))
    _write_png(tmp_path / "a.png", (200, 30, 40))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    rows = [
        {"id": "R-1", "title": "Red Wrap Dress", "category": "dress", "colour": "red", "price": 59.0,
         "styles": "evening, formal", "stock": 3, "image": "a.png", "season": "SS25"},
        {"id": "R-2", "title": "Jeans", "category": "jeans", "color": "blue", "price": 40, "stock": 2},
        {"id": "R-3", "title": "Bad price", "category": "dress", "color": "red", "price": -5},
        {"id": "R-4", "title": "Bad cat", "category": "spacesuit", "color": "red", "price": 5},
        {"id": "R-5", "title": "Broken image", "category": "bag", "color": "black", "price": 5, "image": "broken.png"},
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "{not json")
    f = tmp_path / "shop.jsonl"
    f.write_text("\n".join(lines) + "\n")
    report = ingest_file(settings, f, progress=False)
    assert (report.added, report.updated) == (3, 0)
    bad = dict(report.errors)
    assert set(bad) == {3, 4, 5}
    assert "price" in bad[3] and "not valid JSON" in bad[4] and "spacesuit" in bad[5]
    # a product whose image cannot be had is imported without it, and listed
    assert [(ln, i, why[:41]) for ln, i, why in report.without_image] == [
        (2, "R-2", "no image given"), (6, "R-5", "image: broken.png is not a readable image")]
    from agent.services import forget_catalog, open_catalog

    forget_catalog(settings)
    cat = open_catalog(settings)
    assert cat.get("R-2").category == "trousers"
    assert cat.get("R-2").metadata["original_category"] == "jeans"
    assert cat.get("R-1").metadata["season"] == "SS25"
    assert (Path(settings.catalog_dir) / "images" / "R-1.png").is_file()
    assert [h.item.id for h in cat.search("red dress", SearchFilters(categories=["dress"]))] == ["R-1"]


def test_reingest_csv_updates_in_place(tmp_path: Path) -> None:
    settings = Context(data_dir=str(tmp_path / "data"))
    f = tmp_path / "shop.csv"
    f.write_text("sku,name,category,colour,price,stock,style\n"
                 "C-1,Navy Blazer,blazer,navy,120,4,formal\n"
                 "C-2,White Tee,t-shirt,white,15,10,casual\n")
    r1 = ingest_file(settings, f, progress=False)
    assert (r1.added, r1.updated, r1.errors) == (2, 0, [])
    f.write_text("sku,name,category,colour,price,stock,style\n"
                 "C-1,Navy Blazer,blazer,navy,99,4,formal\n"
                 "C-2,White Tee,t-shirt,white,15,0,casual\n"
                 "C-3,,dress,red,10,1,\n")
    r2 = ingest_file(settings, f, progress=False)
    assert (r2.added, r2.updated) == (0, 2)
    assert [line for line, _ in r2.errors] == [4]
    from agent.services import forget_catalog, open_catalog

    forget_catalog(settings)
    cat = open_catalog(settings)
    assert len(cat.items) == 2 and cat.index_count() == 2
    assert cat.get("C-1").price == 99 and cat.get("C-1").category == "coat"
    assert [h.item.id for h in cat.search("tee", SearchFilters())] == ["C-1"]  # C-2 is now out of stock


def test_item_model_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown colour"):
        Item(id="X-1", title="t", category="top", color="octarine", price=1)
    with pytest.raises(ValueError, match="unknown style"):
        Item(id="X-1", title="t", category="top", color="red", price=1, styles=["spacey"])
    with pytest.raises(ValueError):
        Item(id="../etc", title="t", category="top", color="red", price=1)


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(),
        SearchFilters(categories=["dress", "top"], max_price=70),
        SearchFilters(colors=["black"], styles=["formal", "evening"]),
        SearchFilters(exclude_colors=["white"], exclude_materials=["cotton"], min_price=30),
        SearchFilters(in_stock=False, categories=["bag"], exclude_ids=["BAG-0001", "BAG-0002"]),
    ],
)
def test_mirror_and_chroma_backends_agree(catalog_settings: Context, catalog: Catalog,
                                          filters: SearchFilters) -> None:
    chroma = Catalog(catalog_settings.catalog_dir, chroma_path=catalog_settings.chroma_path, backend="chroma")
    for query in ("smart evening look", "warm and cosy", ""):
        a = [(h.item.id, round(h.score, 4)) for h in catalog.search(query, filters, k=8)]
        b = [(h.item.id, round(h.score, 4)) for h in chroma.search(query, filters, k=8)]
        assert [x[0] for x in a] == [x[0] for x in b]
        assert all(abs(x[1] - y[1]) < 1e-3 for x, y in zip(a, b, strict=True))


def test_broad_filters_use_hnsw_and_agree_with_exact(catalog: Catalog) -> None:
    mirror = catalog.mirror()
    calls: list[int] = []

    def ann(q, n):  # type: ignore[no-untyped-def]
        calls.append(n)
        return catalog._ann(q, n)

    q = catalog.embedder.encode_one("smart navy office look")
    old = mirror.exact_max
    mirror.exact_max = 0
    try:
        for f in (SearchFilters(), SearchFilters(max_price=60), SearchFilters(categories=["dress"], colors=["red"])):
            approx = mirror.search(q, f, 5, ann=ann)
            exact = mirror.search(q, f, 5, ann=None)
            assert [i for i, _ in approx] == [i for i, _ in exact]
            assert all(f.accepts(catalog.items[i]) for i, _ in approx)
    finally:
        mirror.exact_max = old
    assert calls, "the approximate path was used"
