"""Importing shops' exports: presets, values as shops write them, image URLs, and the summary, line by line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_server import image_server

from agent.catalog.importing import (
    ImportFormatError,
    detect_format,
    parse_category,
    parse_color,
    parse_price,
    sniff_delimiter,
)
from agent.catalog.manage import IngestOptions, IngestReport, ingest_file
from agent.catalog.models import SearchFilters
from agent.context import Context

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"
WEAK = ("warning: {n} product photo(s) are encoded with our own image encoder, which is trained on 28 px "
        "Fashion-MNIST garments: photo search over this catalog will be weak. Set FASHIONM3_IMAGE_ENCODER to a "
        "CLIP or SigLIP model for real photos.")
CATS = "(top, trousers, pullover, dress, coat, sandals, shirt, sneakers, bag, ankle_boots)"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, int]]]:
    with image_server() as s:
        yield s


def _copy(name: str, tmp_path: Path, base: str = "") -> Path:
    dst = tmp_path / name
    dst.write_bytes((FIXTURES / name).read_bytes().replace(b"{BASE}", base.encode()))
    return dst


def _settings(tmp_path: Path, **kw: object) -> Context:
    return Context(data_dir=str(tmp_path / "data"), image_fetch_timeout=1.0, **kw)  # type: ignore[arg-type]


def _ingest(settings: Context, path: Path, **kw: object) -> IngestReport:
    return ingest_file(settings, path, progress=False, options=IngestOptions(**kw))  # type: ignore[arg-type]


def _summary(report: IngestReport, tmp_path: Path) -> list[str]:
    return [line.replace(str(tmp_path) + "/", "") for line in report.summary()]


def _catalog(settings: Context):  # type: ignore[no-untyped-def]
    from agent.services import forget_catalog, open_catalog

    forget_catalog(settings)
    return open_catalog(settings)


# -- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [
    ("€9.99", 9.99), ("1,299.00", 1299.0), ("1.299,00", 1299.0), ("49,90", 49.9), ("59.00 EUR", 59.0),
    ("1 299,00 €", 1299.0), ("12", 12.0), (15, 15.0), ("EUR 7.50", 7.5),
])
def test_prices_as_shops_write_them(raw: object, value: float) -> None:
    assert parse_price(raw, "EUR", {})[0] == value


def test_another_currency_is_named_or_converted() -> None:
    with pytest.raises(ValueError, match="is in USD, but the catalog's currency is EUR; pass --rate USD=N"):
        parse_price("15.00 USD", "EUR", {})
    assert parse_price("15.00 USD", "EUR", {"USD": 0.9}) == (13.5, "15.00 USD at 0.9")
    with pytest.raises(ValueError, match="is not a price"):
        parse_price("abc", "EUR", {})


@pytest.mark.parametrize(("raw", "color"), [
    ("Light Pink", "pink"), ("Dark Grey", "grey"), ("Navy Blue", "navy"), ("Off White", "white"),
    ("Greyish Beige", "beige"), ("light blue", "blue"), ("Multi", None),
])
def test_colour_modifiers(raw: str, color: str | None) -> None:
    assert parse_color(raw) == color


@pytest.mark.parametrize(("raw", "category"), [
    ("Apparel & Accessories > Clothing > Dresses", "dress"),
    ("Apparel & Accessories > Clothing > Outerwear > Coats & Jackets", "coat"),
    ("Apparel & Accessories > Shoes > Athletic Shoes", "sneakers"),
    ("Apparel & Accessories > Handbags, Wallets & Cases > Handbags", "bag"),
    ("Vest top", "top"), ("Tshirts", "top"), ("Casual Shoes", "sneakers"), ("Jeans", "trousers"),
    ("Skirt", None), ("Hats", None),
])
def test_category_from_types_and_taxonomy(raw: str, category: str | None) -> None:
    assert parse_category(raw, {}) == category
    assert parse_category("Skirt", {"skirt": "dress"}) == "dress"


def test_delimiter_and_format_detection() -> None:
    assert sniff_delimiter("id;title;price", ".csv") == ";"
    assert sniff_delimiter("id\ttitle\tprice", ".csv") == "\t"
    assert sniff_delimiter('"a;b",c,d', ".csv") == ","
    assert detect_format(["Handle", "Title", "Variant Price"]) == "shopify"
    assert detect_format(["id", "title", "price", "availability", "image_link"]) == "gmc"
    assert detect_format(["article_id", "product_type_name"]) == "hm"
    assert detect_format(["id", "articleType", "baseColour", "productDisplayName"]) == "kaggle-styles"
    assert detect_format(["id", "title"]) == "generic"


# -- whole files ---------------------------------------------------------------------------------


def test_shopify_export(tmp_path: Path, server: tuple[str, dict[str, int]]) -> None:
    base, hits = server
    settings = _settings(tmp_path, image_fetch_allow_private="127.0.0.0/8")
    report = _ingest(settings, _copy("shopify.csv", tmp_path, base))
    assert _summary(report, tmp_path) == [
        "shopify.csv: 10 rows read as shopify (detected), ',' separated, utf-8",
        "added: 5 products (6 variants)",
        "updated: 0",
        "rejected: 2",
        "  shopify.csv:9: price: 'abc' is not a price",
        f"  shopify.csv:10: category 'Skirt' is not one of ours {CATS}; map it with --map-category 'Skirt=CATEGORY'",
        "imported without image: 3",
        f"  shopify.csv:6: wool-coat: {base}/slow.png: timed out after 1 s",
        "  shopify.csv:7: navy-tee: http://10.0.0.5/tee.png: refused: 10.0.0.5 is a private address (10.0.0.5); a "
        "shop's feed may not point the importer at internal addresses (FASHIONM3_IMAGE_FETCH_ALLOW_PRIVATE=1 "
        "allows it)",
        f"  shopify.csv:8: silk-dress: {base}/huge.png: 52.4 MB, over the 10 MB limit",
        "imported out of stock: 1",
        "  shopify.csv:6: wool-coat: draft (not shown)",
        "skipped duplicates: 1",
        "  shopify.csv:11: id LS-W-S already on line 2; this row skipped",
        "unknown categories: 'Skirt' (1 row); map them with --map-category 'TYPE=CATEGORY'",
        WEAK.format(n=2),
    ]
    cat = _catalog(settings)
    white = cat.get("linen-shirt-white")
    assert (white.category, white.color, white.price, white.stock) == ("shirt", "white", 39.0, 5)
    assert [(v.sku, v.size, v.stock, v.compare_at_price) for v in white.variants] == [
        ("LS-W-S", "S", 3, 49.0), ("LS-W-M", "M", 0, 49.0), ("LS-W-L", "L", 2, 49.0)]
    assert white.sizes_in_stock == ["S", "L"] and white.styles == ["casual"]
    assert white.description == "Breathable linen shirt" and white.brand == "Nordvik"
    assert white.metadata["product_group"] == "linen-shirt"
    assert cat.image_path(white).is_file()  # type: ignore[union-attr]
    blue = cat.get("linen-shirt-blue")
    assert blue.metadata["original_color"] == "Light Blue" and blue.price == 42.0
    coat = cat.get("wool-coat")
    assert (coat.price, coat.status, coat.in_stock, coat.image) == (1299.0, "draft", False, "")
    tee = cat.get("navy-tee")
    assert (tee.price, tee.variants, tee.stock, tee.color) == (9.99, [], 10, "navy")
    assert tee.metadata["image_url"] == "http://10.0.0.5/tee.png"
    assert "wool-coat" not in {h.item.id for h in cat.search("warm coat", SearchFilters(), k=20)}
    assert hits["/shirt-white.png"] == 1
    # a second import updates in place and does not download the images again
    again = _ingest(settings, _copy("shopify.csv", tmp_path, base))
    assert (again.added, again.updated) == (0, 5)
    assert hits["/shirt-white.png"] == 1


def test_image_urls_to_loopback_and_private_addresses_are_refused_by_default(
        tmp_path: Path, server: tuple[str, dict[str, int]]) -> None:
    base, hits = server
    f = tmp_path / "shop.csv"
    f.write_text("id,title,category,color,price,stock,image\n"
                 f"L-1,Red Dress,dress,red,20,1,{base}/dress.png\n"
                 "L-2,Blue Dress,dress,blue,20,1,http://169.254.169.254/latest/meta-data\n"
                 "L-3,Pink Dress,dress,pink,20,1,http://192.168.1.10/x.png\n")
    before = hits.get("/dress.png", 0)
    report = _ingest(_settings(tmp_path), f)
    assert report.added == 3 and hits.get("/dress.png", 0) == before
    assert [(ln, i, why.split(";")[0]) for ln, i, why in report.without_image] == [
        (2, "L-1", f"{base}/dress.png: refused: 127.0.0.1 is a loopback address (127.0.0.1)"),
        (3, "L-2", "http://169.254.169.254/latest/meta-data: refused: 169.254.169.254 is a link-local address "
                   "(169.254.169.254)"),
        (4, "L-3", "http://192.168.1.10/x.png: refused: 192.168.1.10 is a private address (192.168.1.10)"),
    ]


def test_images_that_are_not_images_or_missing_locally(tmp_path: Path, server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    (tmp_path / "broken.png").write_bytes(b"not an image")
    f = tmp_path / "shop.csv"
    f.write_text("id,title,category,color,price,stock,image\n"
                 f"N-1,Red Dress,dress,red,20,1,{base}/page.png\n"
                 f"N-2,Red Bag,bag,red,20,1,{base}/huge-undeclared.png\n"
                 "N-3,Red Top,top,red,20,1,broken.png\n"
                 "N-4,Red Coat,coat,red,20,1,nowhere.png\n"
                 "N-5,Red Shirt,shirt,red,20,1,\n")
    report = _ingest(_settings(tmp_path, image_fetch_allow_private="1"), f)
    assert report.added == 5 and not report.errors
    assert [(ln, why.split(" (")[0].replace(base, "BASE")) for ln, _i, why in report.without_image] == [
        (2, "BASE/page.png: not an image"),
        (3, "BASE/huge-undeclared.png: over the 10 MB limit"),
        (4, "image: broken.png is not a readable image"),
        (5, "image: image 'nowhere.png' not found"),
        (6, "no image given"),
    ]


def test_keep_image_urls_only(tmp_path: Path, server: tuple[str, dict[str, int]]) -> None:
    base, hits = server
    before = hits.get("/dress.png", 0)
    report = _ingest(_settings(tmp_path, image_fetch_allow_private="1"), _copy("gmc.tsv", tmp_path, base),
                     rates={"USD": 0.9}, fetch_images=False)
    assert hits.get("/dress.png", 0) == before
    assert report.without_image == []
    assert report.summary()[-1].startswith("warning: image URLs kept in metadata.image_url only")


def test_google_merchant_center_tsv(tmp_path: Path, server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    settings = _settings(tmp_path, image_fetch_allow_private="127.0.0.1/32")
    path = _copy("gmc.tsv", tmp_path, base)
    report = _ingest(settings, path, rates={"USD": 0.9})
    assert _summary(report, tmp_path) == [
        "gmc.tsv: 5 rows read as gmc (detected), tab separated, utf-8",
        "added: 3 products (3 variants)",
        "updated: 0",
        "rejected: 1",
        f"  gmc.tsv:6: category 'Hats' is not one of ours {CATS}; map it with --map-category 'Hats=CATEGORY'",
        "imported without image: 1",
        f"  gmc.tsv:5: SN-1: {base}/missing.png: HTTP 404",
        "imported out of stock: 1",
        "  gmc.tsv:5: SN-1: availability 'preorder'",
        "skipped duplicates: 0",
        "unknown categories: 'Hats' (1 row); map them with --map-category 'TYPE=CATEGORY'",
        WEAK.format(n=2),
    ]
    cat = _catalog(settings)
    red = cat.get("WD-1-red")
    assert [(v.sku, v.size, v.stock, v.price, v.compare_at_price) for v in red.variants] == [
        ("WD-RED-S", "S", 1, 53.1, None), ("WD-RED-M", "M", 0, 44.1, 53.1)]
    assert red.metadata["original_price"] == "59.00 USD at 0.9"
    pink = cat.get("WD-1-pink")
    assert pink.metadata["original_color"] == "Light Pink" and pink.sizes_in_stock == ["M"]
    assert cat.get("SN-1").category == "sneakers" and cat.get("SN-1").price == 45.0
    # the unknown category mapped by the user
    mapped = _ingest(settings, path, rates={"USD": 0.9}, category_map={"hats": "bag"}, dry_run=True)
    assert (mapped.errors, mapped.added, mapped.updated) == ([], 1, 3)


def test_google_merchant_center_currency_without_rate_names_it(tmp_path: Path) -> None:
    report = _ingest(_settings(tmp_path), _copy("gmc.tsv", tmp_path, "http://127.0.0.1:9"), dry_run=True)
    assert report.errors[0] == (2, "price: price '59.00 USD' is in USD, but the catalog's currency is EUR; pass "
                                   "--rate USD=N to convert (N EUR per USD)")


def test_google_merchant_center_xml_feed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    report = _ingest(settings, _copy("gmc.xml", tmp_path))
    assert _summary(report, tmp_path) == [
        "gmc.xml: 2 rows read as gmc (detected), utf-8",
        "added: 1 products (2 variants)",
        "updated: 0",
        "rejected: 0",
        "imported without image: 1 (the file has no image column)",
        "imported out of stock: 0",
        "skipped duplicates: 0",
    ]
    boots = _catalog(settings).get("X-1")
    assert boots.category == "ankle_boots" and boots.sizes_in_stock == ["38"]


def test_hm_articles(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    report = _ingest(settings, _copy("hm_articles.csv", tmp_path))
    assert _summary(report, tmp_path) == [
        "hm_articles.csv: 5 rows read as hm (detected), ',' separated, utf-8",
        "added: 4 products",
        "updated: 0",
        "rejected: 1",
        f"  hm_articles.csv:4: category 'Bra' is not one of ours {CATS}; map it with --map-category 'Bra=CATEGORY'",
        "imported without image: 4 (the file has no image column)",
        "imported out of stock: 0",
        "skipped duplicates: 0",
        "unknown categories: 'Bra' (1 row); map them with --map-category 'TYPE=CATEGORY'",
        "warning: hm_articles.csv: no stock column; every product is assumed to have 1 in stock "
        "(--default-stock 1); set --default-stock N to change it.",
    ]
    cat = _catalog(settings)
    top = cat.get("0108775044")
    assert (top.category, top.color, top.metadata["original_color"], top.stock) == ("top", "pink", "Light Pink", 1)
    assert cat.get("0176209023").color == "grey" and cat.get("0179950001").category == "shirt"
    assert cat.get("0108775015").metadata["product_code"] == "0108775"


def test_european_excel_export(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    report = _ingest(settings, _copy("eu_excel.csv", tmp_path))
    assert _summary(report, tmp_path) == [
        "eu_excel.csv: 4 rows read as generic (detected), ';' separated, utf-8 (BOM)",
        "added: 3 products",
        "updated: 0",
        "rejected: 1",
        "  eu_excel.csv:5: colour 'Blanc cassé' is not one we know",
        "imported without image: 3 (the file has no image column)",
        "imported out of stock: 1",
        "  eu_excel.csv:4: EU-3: zero stock",
        "skipped duplicates: 0",
    ]
    cat = _catalog(settings)
    assert [(cat.get(i).price, cat.get(i).color) for i in ("EU-1", "EU-2", "EU-3")] == [
        (49.9, "pink"), (1299.0, "grey"), (89.0, "navy")]
    assert cat.get("EU-1").title == "Robe d'été"


def test_cp1252_file_is_read_with_a_warning(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    report = _ingest(settings, _copy("cp1252.csv", tmp_path))
    assert _summary(report, tmp_path) == [
        "cp1252.csv: 2 rows read as generic (detected), ',' separated, cp1252",
        "added: 2 products",
        "updated: 0",
        "rejected: 0",
        "imported without image: 2 (the file has no image column)",
        "imported out of stock: 0",
        "skipped duplicates: 0",
        "warning: cp1252.csv: not UTF-8 (byte 0xe8 at offset 43); read as Windows-1252 (cp1252). Save it as UTF-8 "
        "to be sure of accents.",
    ]
    cat = _catalog(settings)
    assert cat.get("CP-1").title == "Crème Pullover – fine knit" and cat.get("CP-1").category == "pullover"
    assert cat.get("CP-1").price == 59.0


def test_kaggle_styles_with_unquoted_commas(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = _copy("styles.csv", tmp_path)
    with pytest.raises(ImportFormatError, match="no column gives price.*--default-price N"):
        _ingest(settings, path)
    report = _ingest(settings, path, default_price=25.0)
    assert _summary(report, tmp_path) == [
        "styles.csv: 5 rows read as kaggle-styles (detected), ',' separated, utf-8",
        "added: 4 products",
        "updated: 0",
        "rejected: 1",
        f"  styles.csv:5: category 'Socks' is not one of ours {CATS}; map it with --map-category 'Socks=CATEGORY'",
        "imported without image: 4 (the file has no image column)",
        "imported out of stock: 0",
        "skipped duplicates: 0",
        "repaired: styles.csv:6: 11 values for 10 columns: the unquoted comma(s) were kept as part of "
        "productDisplayName",
        "unknown categories: 'Socks' (1 row); map them with --map-category 'TYPE=CATEGORY'",
        "warning: styles.csv: no price column; every product is priced 25 (--default-price)",
        "warning: styles.csv: no stock column; every product is assumed to have 1 in stock (--default-stock 1); "
        "set --default-stock N to change it.",
    ]
    cat = _catalog(settings)
    heels = cat.get("12345")
    assert (heels.title, heels.category, heels.styles) == ("Catwalk Women, Black Heels", "sandals", ["evening"])
    assert cat.get("15970").color == "navy" and cat.get("53759").styles == ["sporty"]


def test_generic_jsonl_with_numbers_as_ids_and_inline_variants(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    report = _ingest(settings, _copy("numbers.jsonl", tmp_path))
    assert _summary(report, tmp_path) == [
        "numbers.jsonl: 5 rows read as generic (detected), utf-8",
        "added: 3 products (2 variants)",
        "updated: 0",
        "rejected: 1",
        "  numbers.jsonl:3: price: price '15.00 USD' is in USD, but the catalog's currency is EUR; pass --rate "
        "USD=N to convert (N EUR per USD)",
        "imported without image: 3 (the file has no image column)",
        "imported out of stock: 0",
        "skipped duplicates: 1",
        "  numbers.jsonl:5: id 55501 already on line 1; this row skipped",
    ]
    cat = _catalog(settings)
    assert (cat.get("55501").price, cat.get("55502").price, cat.get("55502").color) == (9.99, 1299.0, "grey")
    assert cat.get("55504").sizes_in_stock == ["M"] and cat.get("55504").stock == 4


def test_missing_stock_column_is_a_warning_with_the_assumption(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    report = _ingest(settings, _copy("no_stock.csv", tmp_path), default_stock=0)
    assert _summary(report, tmp_path) == [
        "no_stock.csv: 2 rows read as generic (detected), ',' separated, utf-8",
        "added: 2 products",
        "updated: 0",
        "rejected: 0",
        "imported without image: 2 (the file has no image column)",
        "imported out of stock: 2",
        "  no_stock.csv:2: NS-1: no stock column (--default-stock 0)",
        "  no_stock.csv:3: NS-2: no stock column (--default-stock 0)",
        "skipped duplicates: 0",
        "warning: no_stock.csv: no stock column; every product is assumed to have 0 in stock (--default-stock 0): "
        "none will be recommended until stock is set; set --default-stock N to change it.",
    ]
    report = _ingest(settings, _copy("no_stock.csv", tmp_path))
    assert (report.updated, report.out_of_stock) == (2, [])
    assert all(i.stock == 1 for i in _catalog(settings).items.values())


def test_unknown_header_names_the_columns_and_map_fixes_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = _copy("unknown_header.csv", tmp_path)
    with pytest.raises(ImportFormatError) as exc:
        _ingest(settings, path)
    assert str(exc.value) == (
        "unknown_header.csv: read as generic (detected), but no column gives id, price, category. Columns not "
        "recognised: Code, Cost, Kind (closest: id), Shade. Map them with --map id=COLUMN,price=COLUMN,"
        "category=COLUMN, or choose a format with --format shopify|gmc|hm|kaggle-styles|generic, or give every "
        "product one price with --default-price N.")
    report = _ingest(settings, path, column_map={"id": "Code", "price": "Cost", "category": "Kind", "color": "Shade"})
    assert (report.added, report.errors) == (1, [])
    assert _catalog(settings).get("U-1").category == "trousers"


def test_dry_run_stores_nothing_and_previews_rows(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    report = _ingest(settings, _copy("eu_excel.csv", tmp_path), dry_run=True)
    assert report.summary()[:2] == [
        f"{tmp_path}/eu_excel.csv: 4 rows read as generic (detected), ';' separated, utf-8 (BOM) (dry run: nothing "
        "stored)",
        "would be added: 3 products",
    ]
    assert json.loads(report.preview[0])["price"] == 49.9 and len(report.preview) == 3
    assert not (Path(settings.catalog_dir) / "catalog.jsonl").exists()


def test_the_download_goes_to_the_address_that_was_checked(tmp_path: Path, server: tuple[str, dict[str, int]],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a host that resolves to an allowed address for the check and elsewhere a moment later."""
    import socket
    from urllib.parse import urlsplit

    from agent.catalog.remote import FetchLimits, ImageFetcher

    base, hits = server
    port = urlsplit(base).port
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: str, *args: object, **kw: object) -> object:
        if host == "shop.test":
            asked.append(host)  # first answer: loopback (allowed here); later answers: an unroutable address
            return real("127.0.0.1" if len(asked) == 1 else "10.255.255.1", *args, **kw)  # type: ignore[arg-type]
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    fetcher = ImageFetcher(tmp_path / "remote", FetchLimits(timeout=2.0, allow_private="127.0.0.0/8"))
    url = f"http://shop.test:{port}/dress.png"
    out = fetcher.fetch_all([url])
    assert isinstance(out[url], str) and (tmp_path / "remote" / out[url].removeprefix("images/remote/")).is_file()
    assert asked == ["shop.test"]  # resolved once, by the check; the connection used that answer
    assert hits.get(f"Host shop.test:{port}") == 1  # the shop's host name was sent, not the address


def test_an_address_that_refuses_the_connection_falls_back_to_the_hosts_next(
        tmp_path: Path, server: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A host with two addresses, the first down (nothing listens on 127.0.0.2): the image comes from the second."""
    import socket
    from ipaddress import ip_network
    from urllib.parse import urlsplit

    from agent.catalog.remote import FetchError, FetchLimits, ImageFetcher, public_addresses

    base, hits = server
    port = urlsplit(base).port
    real = socket.getaddrinfo

    def two(host: str, *args: object, **kw: object) -> object:
        if host in ("shop.test", "down.test"):
            first = real("127.0.0.2", *args, **kw)  # type: ignore[arg-type]
            return first if host == "down.test" else first + real("127.0.0.1", *args, **kw)  # type: ignore[arg-type]
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", two)
    url = f"http://shop.test:{port}/dress.png"
    assert [str(a) for a in public_addresses(url, [ip_network("127.0.0.0/8")])] == ["127.0.0.2", "127.0.0.1"]
    fetcher = ImageFetcher(tmp_path / "remote", FetchLimits(timeout=2.0, allow_private="127.0.0.0/8"))
    before = hits.get(f"Host shop.test:{port}", 0)
    out = fetcher.fetch_all([url, f"http://down.test:{port}/dress.png"])
    assert isinstance(out[url], str) and hits.get(f"Host shop.test:{port}") == before + 1
    down = out[f"http://down.test:{port}/dress.png"]
    assert isinstance(down, FetchError) and "ConnectError" in str(down)  # the one address refused: said, not hung
    with pytest.raises(FetchError, match="refused: shop.test is a loopback address"):
        public_addresses(url, [ip_network("127.0.0.1/32")])  # one internal address refuses the host


@pytest.mark.parametrize("url, addr, target, host, sni", [
    ("https://bücher.de/a.png", "93.184.216.34", "https://93.184.216.34/a.png", "xn--bcher-kva.de",
     "xn--bcher-kva.de"),
    ("http://user:pw@shop.example:8080/a.png?x=1", "2001:db8::1", "http://user:pw@[2001:db8::1]:8080/a.png?x=1",
     "shop.example:8080", None),
])
def test_a_pinned_request_goes_to_the_address_and_names_the_host(url: str, addr: str, target: str, host: str,
                                                                 sni: str | None) -> None:
    import ipaddress

    import httpx

    from agent.catalog.remote import pinned_request

    with httpx.Client() as client:
        req = pinned_request(client, url, ipaddress.ip_address(addr))
    assert str(req.url) == target and req.headers["Host"] == host
    assert req.extensions.get("sni_hostname") == sni
