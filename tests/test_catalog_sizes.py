"""Products with size variants: the default catalog's sizes, size filters, and conversations that ask for a size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from agent.catalog.manage import ingest_file
from agent.catalog.models import Item, SearchFilters, Variant
from agent.catalog.store import Catalog
from agent.context import Context
from agent.planners.rules import RulesPlanner
from agent.session import Session
from graph import build_graph

HEADER = ("Handle,Title,Type,Tags,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Qty,Variant Price,"
          "Status\n")
ROWS = [
    # handle, title, type, size, qty, price
    ("linen-a", "White Linen Shirt", "Shirt", "S", 2, "39.00"),
    ("linen-a", "", "", "M", 0, "39.00"),
    ("linen-a", "", "", "L", 3, "39.00"),
    ("linen-b", "White Linen Oxford Shirt", "Shirt", "M", 2, "42.00"),
    ("linen-b", "", "", "L", 1, "42.00"),
    ("linen-c", "White Linen Camp Shirt", "Shirt", "M", 5, "35.00"),
    ("linen-c", "", "", "L", 0, "35.00"),
    ("linen-d", "White Linen Poplin Shirt", "Shirt", "L", 4, "59.00"),
    ("linen-e", "White Linen Popover Shirt", "Shirt", "", 6, "30.00"),
    ("black-f", "Black Linen Shirt", "Shirt", "L", 3, "30.00"),
    ("dress-g", "White Linen Dress", "Dress", "L", 3, "40.00"),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Context:
    tmp = tmp_path_factory.mktemp("sized-shop")
    lines = [HEADER]
    for handle, title, kind, size, qty, price in ROWS:
        opt = ("Size", size) if size else ("Title", "Default Title")
        lines.append(f"{handle},{title},{kind},{'casual' if title else ''},{opt[0] if title else ''},{opt[1]},"
                     f"{handle}-{size or 'X'},{qty},{price},{'active' if title else ''}\n")
    f = tmp / "products.csv"
    f.write_text("".join(lines))
    settings = Context(data_dir=str(tmp / "data"), user_id="sized-shopper", planner="rules")
    report = ingest_file(settings, f, progress=False)
    assert (report.added, report.errors) == (7, [])
    return settings


def _session(settings: Context, store: InMemoryStore | None = None, user: str = "sized-shopper") -> Session:
    from agent.services import forget_catalog, open_catalog

    forget_catalog(settings)
    g = build_graph(planner=RulesPlanner(), catalog=open_catalog(settings), checkpointer=InMemorySaver(),
                    store=store)
    return Session(graph=g, settings=settings.with_(user_id=user))


def _fits(item: dict[str, Any], size: str, text: str) -> bool:
    """An item fits when the size is in stock, or its sizes are not known and the reply says so."""
    if item["sizes"]:
        return size in item["sizes"] and item["variant"]["size"] == size
    return f"Sizes are not known for {item['title']} [{item['id']}]" in text


def test_a_size_asked_for_filters_and_the_reply_says_so(shop: Context) -> None:
    s = _session(shop)
    resp = s.turn("a white linen shirt in size L under 45")
    assert resp["calls"][0]["args"]["sizes"] == ["L"]
    ids = [i["id"] for i in resp["items"]]
    assert set(ids) == {"linen-a", "linen-b", "linen-e"}, ids  # c has no L, d is over 45, f black, g a dress
    assert all(i["color"] == "white" and i["category"] == "shirt" and i["price"] <= 45 for i in resp["items"])
    assert all(_fits(i, "L", resp["text"]) for i in resp["items"]), resp["text"]
    assert "2 of these are in stock in size L." in resp["text"]
    assert "Sizes are not known for White Linen Popover Shirt [linen-e]." in resp["text"]
    assert ", size L [linen-a]" in resp["text"]

    second = resp["items"][1]
    resp = s.turn("the second one in M")
    call = resp["calls"][0]
    assert call["args"]["sizes"] == ["M"] and call["args"]["query"] == second["title"]
    assert resp["items"] and all(_fits(i, "M", resp["text"]) for i in resp["items"]), resp["text"]
    assert "linen-a" not in {i["id"] for i in resp["items"]}  # its M is sold out
    assert all(i["color"] == second["color"] and i["category"] == "shirt" for i in resp["items"])

    resp = s.turn("something cheaper than the first one, in size M")
    call = resp["calls"][0]
    assert (call["tool"], call["args"]["sizes"], call["args"]["cheaper"]) == ("find_alternatives", ["M"], True)
    assert resp["items"] and all(_fits(i, "M", resp["text"]) for i in resp["items"]), resp["text"]


def test_a_stored_size_is_applied_and_said(shop: Context) -> None:
    store = InMemoryStore()
    s = _session(shop, store, user="size-m")
    s.turn("I'm a size M")
    resp = s.turn("show me white linen shirts")
    assert resp["calls"][0]["args"].get("sizes") is None  # the tool applies the stored size
    ids = {i["id"] for i in resp["items"]}
    assert {"linen-b", "linen-c"} <= ids and "linen-a" not in ids and "linen-d" not in ids
    assert "in stock in your size (M, as you told me)" in resp["text"]
    assert all(_fits(i, "M", resp["text"]) for i in resp["items"])


def test_nothing_in_that_size_says_the_size(shop: Context) -> None:
    resp = _session(shop).turn("a white linen dress in size XS")
    # no match is presented as one: the reply names the size and labels the closest items as not matching
    assert resp["items"] == [] and "no white dresses in size XS" in resp["text"]
    assert "Not a match" in resp["text"]


def test_default_catalog_has_sizes(catalog: Catalog) -> None:
    items = list(catalog.items.values())
    assert all(i.variants and i.stock == sum(v.stock for v in i.variants) for i in items)
    assert {v.size for i in items if i.category == "top" for v in i.variants} == {"XS", "S", "M", "L", "XL"}
    assert {v.size for i in items if i.category == "bag" for v in i.variants} == {"ONE SIZE"}
    assert {v.size for i in items if i.category == "sneakers" for v in i.variants} == {str(n) for n in range(36, 46)}
    hits = catalog.search("something nice", SearchFilters(sizes=["M", "39"]), k=40)
    assert hits and all(h.item.fits(["M", "39"]) for h in hits)
    for h in hits:
        if h.item.category in ("top", "shirt", "dress"):
            assert "M" in h.item.sizes_in_stock
        if h.item.category == "sneakers":
            assert "39" in h.item.sizes_in_stock


@pytest.mark.parametrize("sizes", [["M"], ["XL"], ["38"], ["S", "42"]])
def test_size_filters_agree_between_mirror_and_chroma(catalog_settings: Context, catalog: Catalog,
                                                      sizes: list[str]) -> None:
    chroma = Catalog(catalog_settings.catalog_dir, chroma_path=catalog_settings.chroma_path, backend="chroma")
    f = SearchFilters(sizes=sizes)
    a = [h.item.id for h in catalog.search("smart evening look", f, k=15)]
    b = [h.item.id for h in chroma.search("smart evening look", f, k=15)]
    assert a == b and all(f.accepts(catalog.items[i]) for i in a)


def test_fits_and_variant_for() -> None:
    shirt = Item(id="S-1", title="t", category="shirt", color="white", price=10, variants=[
        Variant(size="s", stock=1), Variant(size="Medium", stock=0), Variant(size="L", stock=2, price=12)])
    assert [v.size for v in shirt.variants] == ["S", "M", "L"] and (shirt.stock, shirt.price) == (3, 10)
    assert shirt.fits(["L"]) and not shirt.fits(["M"]) and shirt.fits(["39"])  # a shoe size says nothing here
    assert shirt.variant_for(["L"]).price == 12  # type: ignore[union-attr]
    plain = Item(id="P-1", title="t", category="shirt", color="white", price=10, stock=1)
    assert plain.fits(["M"]) and plain.size_kind == ""
    assert SearchFilters(sizes=["medium", "eu 39"]).sizes == ["M", "39"]



def test_a_default_catalog_built_before_sizes_gains_them(tmp_path: Path) -> None:
    from agent.catalog.manage import add_default_sizes, build_catalog
    from agent.services import forget_catalog, open_catalog

    settings = Context(data_dir=str(tmp_path / "data"))
    build_catalog(settings, per_class=2, seed=3, progress=False)
    cat = open_catalog(settings)
    built = {i.id: i.model_dump() for i in cat.items.values()}
    cat.update_metadata([i.model_copy(update={"variants": []}) for i in cat.items.values()])  # as an old build
    forget_catalog(settings)
    assert not any(i.variants for i in open_catalog(settings).items.values())
    assert add_default_sizes(settings) == 20 and add_default_sizes(settings) == 0
    forget_catalog(settings)
    cat = open_catalog(settings)
    assert {i.id: i.model_dump() for i in cat.items.values()} == built
    chroma = Catalog(settings.catalog_dir, chroma_path=settings.chroma_path, backend="chroma")
    f = SearchFilters(sizes=["M"])
    assert [h.item.id for h in chroma.search("top", f, k=5)] == [h.item.id for h in cat.search("top", f, k=5)]
