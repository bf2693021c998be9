"""Read retailers' catalog files: encodings, delimiters, presets for the formats shops export.

Values are read the way shops write them (``1.299,00``, ``59.00 USD``, ``Light Pink``, taxonomy paths).

This module only reads and interprets: it turns a file into products (:class:`ProductDraft`, one per
product and colour, with its size variants) plus the problems found, each with its ``FILE:LINE``.
:func:`agent.catalog.manage.ingest_file` fetches images, validates and stores them.

Presets (``--format``, detected from the header when not given):

- ``shopify``: Shopify's product CSV; variant rows repeat the ``Handle`` with ``Title`` empty; options named
  Size or Color become the variant's size and the product's colour.
- ``gmc``: Google Merchant Center feeds (TSV/CSV, or the RSS/Atom XML feed); ``item_group_id`` groups variants,
  ``availability`` gives stock when there is no quantity, ``price``/``sale_price`` carry an ISO currency.
- ``hm``: H&M ``articles.csv``-style (``article_id`` kept as text, leading zeros and all).
- ``kaggle-styles``: the Kaggle Fashion Product Images ``styles.csv`` (its unquoted commas in the last
  column, ``productDisplayName``, are joined back and reported).
- ``generic``: our own JSONL/CSV columns (``id``, ``title``, ``category``, ``color``, ``price``, ...).

A product with several colours becomes one catalog item per colour (``<product id>-<colour>``): colour
is what a shopper filters on, size is what a variant answers.
"""

from __future__ import annotations

import csv
import difflib
import html
import io
import json
import re
import xml.parsers.expat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.catalog.vocab import CATEGORIES, STYLES, resolve

FORMATS = ("shopify", "gmc", "hm", "kaggle-styles", "generic")

#: Canonical fields a row can give (before grouping into products and variants).
FIELDS = (
    "id", "product_id", "title", "description", "brand", "material", "styles", "category", "category_path",
    "color", "color_alt", "size", "price", "sale_price", "compare_at_price", "stock", "availability", "image",
    "status", "tags",
)

GENERIC_COLUMNS = {
    "id": "id", "sku": "id", "article_id": "id", "product_id": "product_id", "item_group_id": "product_id",
    "group_id": "product_id", "title": "title", "name": "title", "product_name": "title",
    "description": "description", "brand": "brand", "material": "material", "styles": "styles",
    "style": "styles", "category": "category", "type": "category", "product_type": "category",
    "color": "color", "colour": "color", "size": "size", "price": "price", "sale_price": "sale_price",
    "compare_at_price": "compare_at_price", "stock": "stock", "qty": "stock", "quantity": "stock",
    "inventory": "stock", "availability": "availability", "image": "image", "image_path": "image",
    "image_url": "image", "image_link": "image", "status": "status", "tags": "tags",
}

SHOPIFY_COLUMNS = {
    "handle": "product_id", "title": "title", "body (html)": "description", "vendor": "brand",
    "product category": "category_path", "type": "category", "tags": "tags", "published": "published",
    "variant sku": "id", "variant inventory qty": "stock", "variant price": "price",
    "variant compare at price": "compare_at_price", "image src": "image", "variant image": "variant_image",
    "status": "status", "option1 name": "option1 name", "option1 value": "option1 value",
    "option2 name": "option2 name", "option2 value": "option2 value", "option3 name": "option3 name",
    "option3 value": "option3 value",
}

GMC_COLUMNS = {
    "id": "id", "item_group_id": "product_id", "title": "title", "description": "description",
    "brand": "brand", "material": "material", "product_type": "category",
    "google_product_category": "category_path", "color": "color", "size": "size", "price": "price",
    "sale_price": "sale_price", "availability": "availability", "image_link": "image", "quantity": "stock",
}

HM_COLUMNS = {
    "article_id": "id", "prod_name": "title", "product_type_name": "category",
    "garment_group_name": "category_path", "colour_group_name": "color",
    "perceived_colour_master_name": "color_alt", "detail_desc": "description", "price": "price",
    "stock": "stock", "image": "image", "size": "size",
}

KAGGLE_COLUMNS = {
    "id": "id", "articletype": "category", "subcategory": "category_path", "basecolour": "color",
    "usage": "styles", "productdisplayname": "title", "price": "price", "stock": "stock", "image": "image",
}

PRESET_COLUMNS: dict[str, dict[str, str]] = {
    "shopify": SHOPIFY_COLUMNS, "gmc": GMC_COLUMNS, "hm": HM_COLUMNS, "kaggle-styles": KAGGLE_COLUMNS,
    "generic": GENERIC_COLUMNS,
}

#: Columns whose presence identifies a preset (all must be in the header, lower-cased).
SIGNATURES: dict[str, tuple[str, ...]] = {
    "shopify": ("handle", "variant price"),
    "hm": ("article_id", "product_type_name"),
    "kaggle-styles": ("articletype", "basecolour", "productdisplayname"),
    "gmc": ("id", "title", "price", "availability"),
}

#: Columns other known formats carry that mean nothing to us (kept in metadata, never "unrecognised").
KNOWN_EXTRA = {
    "shopify": {"seo title", "seo description", "gift card", "variant grams", "variant inventory tracker",
                "variant inventory policy", "variant fulfillment service", "variant requires shipping",
                "variant taxable", "variant barcode", "image position", "image alt text", "variant weight unit",
                "variant tax code", "cost per item", "google shopping / gender", "google shopping / age group",
                "published"},
    "gmc": {"link", "gender", "age_group", "condition", "gtin", "mpn", "shipping", "mobile_link",
            "additional_image_link", "size_system", "size_type", "pattern"},
    "hm": {"product_code", "product_type_no", "product_group_name", "graphical_appearance_no",
           "graphical_appearance_name", "colour_group_code", "perceived_colour_value_id",
           "perceived_colour_value_name", "perceived_colour_master_id", "department_no", "department_name",
           "index_code", "index_name", "index_group_no", "index_group_name", "section_no", "section_name",
           "garment_group_no"},
    "kaggle-styles": {"gender", "mastercategory", "season", "year"},
}

#: Usage values of the Kaggle dataset onto our styles.
USAGE_STYLES = {"casual": "casual", "formal": "formal", "sports": "sporty", "party": "evening",
                "smart casual": "classic"}

#: Product-type words shops use that the shopper vocabulary does not carry (checked before it).
IMPORT_CATEGORY_WORDS: dict[str, str] = {
    "shirts & tops": "top", "shirts and tops": "top", "tops & t-shirts": "top", "tshirts": "top",
    "t-shirt": "top", "vest top": "top", "tank tops": "top", "polo shirt": "shirt", "shirts": "shirt",
    "shorts": "trousers", "track pants": "trousers", "capris": "trousers", "jeggings": "trousers",
    "sweat pants": "trousers", "trousers & shorts": "trousers", "sweatshirts": "pullover",
    "sweatshirt": "pullover", "sweater": "pullover", "knitwear": "pullover", "jersey basic": "top",
    "jersey fancy": "top", "blouses": "top", "coats & jackets": "coat", "jacket": "coat", "outdoor": "coat",
    "outerwear": "coat", "blazers": "coat", "casual shoes": "sneakers", "sports shoes": "sneakers",
    "athletic shoes": "sneakers", "flip flops": "sandals", "heels": "sandals", "flats": "sandals",
    "boots": "ankle_boots", "wedge": "sandals", "handbags": "bag", "backpacks": "bag", "clutches": "bag",
    "wallets": "bag", "duffel bag": "bag", "laptop bag": "bag", "messenger bag": "bag", "dresses": "dress",
    "dress": "dress", "dresses ladies": "dress", "dresses/skirts": "dress",
}

#: Words in front of a colour that shops add (``Light Pink`` is pink; the original is kept).
COLOR_MODIFIERS = ("light", "dark", "pale", "bright", "deep", "medium", "soft", "dusty", "washed", "neon",
                   "greyish", "grayish", "yellowish", "greenish", "bluish", "reddish", "other", "heather",
                   "melange", "faded", "vintage", "true", "hot", "warm", "cool")

#: Currency symbols onto ISO codes.
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "kr": "SEK", "zł": "PLN",
                    "chf": "CHF", "us$": "USD"}


class ImportFormatError(ValueError):
    """The file cannot be read as a catalog at all (one message says why and what to do)."""


@dataclass
class Problem:
    """Something the import reports: where (file line) and what."""

    line: int
    message: str


@dataclass
class Table:
    """A file read into rows of raw strings, with how it was read."""

    columns: list[str]
    rows: list[tuple[int, dict[str, Any] | str]]
    encoding: str = "utf-8"
    delimiter: str = ""
    warnings: list[str] = field(default_factory=list)
    repaired: list[Problem] = field(default_factory=list)


@dataclass
class VariantDraft:
    """One row's variant, before validation."""

    line: int
    sku: str = ""
    size: str = ""
    price: float | None = None
    compare_at_price: float | None = None
    stock: int | None = None
    stock_reason: str = ""
    image: str = ""
    original_price: str = ""


@dataclass
class ProductDraft:
    """One product in one colour, with its variants, before validation."""

    id: str
    line: int
    lines: list[int]
    data: dict[str, Any]
    variants: list[VariantDraft]
    image: str = ""
    status: str = "active"


@dataclass
class ReadResult:
    """What reading a file gave: products, rejected rows, file-level warnings, and how it was read."""

    format: str
    detected: bool
    table: Table
    products: list[ProductDraft] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    duplicates: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown_categories: dict[str, int] = field(default_factory=dict)
    stock_column: bool = True
    image_column: bool = True


# -- reading the file ----------------------------------------------------------------------------


def decode(path: Path) -> tuple[str, str, list[str]]:
    """Return ``(text, encoding, warnings)``: UTF-8 with or without BOM, else cp1252 with a warning."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        enc = "utf-8 (BOM)"
    else:
        enc = "utf-8"
    try:
        return data.decode("utf-8"), enc, []
    except UnicodeDecodeError as exc:
        text = data.decode("cp1252", errors="replace")
        return text, "cp1252", [f"{path.name}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
                                "read as Windows-1252 (cp1252). Save it as UTF-8 to be sure of accents."]


def sniff_delimiter(header: str, suffix: str) -> str:
    """Pick the delimiter from the header line: the most frequent of tab, ``;`` and ``,`` outside quotes."""
    if suffix == ".tsv":
        return "\t"
    counts = {d: 0 for d in ("\t", ";", ",")}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def read_table(path: Path, fmt: str | None = None) -> Table:
    """Read a JSONL, CSV/TSV or XML feed into rows of raw values keyed by the file's own column names."""
    suffix = path.suffix.lower()
    text, enc, warnings = decode(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(text, enc, warnings)
    if suffix in (".xml", ".rss", ".atom"):
        return _read_xml(text, enc, warnings)
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ImportFormatError(f"{path.name}: unsupported file type {suffix!r}; use .jsonl, .csv, .tsv or .xml")
    header = next((ln for ln in text.splitlines() if ln.strip()), "")
    delim = sniff_delimiter(header, suffix)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    columns: list[str] = []
    rows: list[tuple[int, dict[str, Any] | str]] = []
    repaired: list[Problem] = []
    start = 1
    for values in reader:
        line = start
        start = reader.line_num + 1
        if not columns:
            if not any(v.strip() for v in values):
                continue
            columns = [v.strip() for v in values]
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(columns):
            last = columns[-1].lower()
            if fmt == "kaggle-styles" or last == "productdisplayname":
                extra = len(values) - len(columns)
                values = values[: len(columns) - 1] + [delim.join(values[len(columns) - 1 :])]
                repaired.append(Problem(line, f"{len(columns) + extra} values for {len(columns)} columns: "
                                              f"the unquoted comma(s) were kept as part of {columns[-1]}"))
            else:
                hint = " (a decimal comma in a ','-separated file? quote the value or use ';')" if delim == "," else ""
                rows.append((line, f"{len(values)} values for {len(columns)} columns{hint}"))
                continue
        rows.append((line, {c: (values[i] if i < len(values) else "") for i, c in enumerate(columns)}))
    names = {"\t": "tab", ";": "';'", ",": "','"}
    return Table(columns, rows, enc, names[delim], warnings, repaired)


def _read_jsonl(text: str, enc: str, warnings: list[str]) -> Table:
    rows: list[tuple[int, dict[str, Any] | str]] = []
    columns: dict[str, None] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((n, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            rows.append((n, "expected a JSON object"))
            continue
        columns.update(dict.fromkeys(obj))
        rows.append((n, obj))
    return Table(list(columns), rows, enc, "", warnings)


def _read_xml(text: str, enc: str, warnings: list[str]) -> Table:
    """Read a Google Merchant Center RSS 2.0 (``<item>``) or Atom (``<entry>``) feed; ``g:`` prefixes dropped."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    rows: list[tuple[int, dict[str, Any] | str]] = []
    columns: dict[str, None] = {}
    state: dict[str, Any] = {"item": None, "line": 0, "tag": None, "text": []}

    def local(name: str) -> str:
        return name.rsplit(" ", 1)[-1]

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = local(name)
        if tag in ("item", "entry") and state["item"] is None:
            state["item"], state["line"] = {}, parser.CurrentLineNumber
        elif state["item"] is not None:
            state["tag"], state["text"] = tag, []
            if tag == "link" and "href" in attrs:
                state["item"]["link"] = attrs["href"]

    def end(name: str) -> None:
        tag = local(name)
        item = state["item"]
        if item is None:
            return
        if tag in ("item", "entry"):
            columns.update(dict.fromkeys(item))
            rows.append((state["line"], item))
            state["item"] = None
        elif state["tag"] == tag:
            value = "".join(state["text"]).strip()
            if value and tag not in item:
                item[tag] = value
            state["tag"] = None

    def chars(data: str) -> None:
        if state["tag"] is not None:
            state["text"].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        raise ImportFormatError(f"not a well-formed XML feed: {exc}") from exc
    return Table(list(columns), rows, enc, "xml", warnings)


# -- presets -------------------------------------------------------------------------------------


def detect_format(columns: Iterable[str]) -> str:
    """Return the preset whose signature columns the header has (``generic`` when none fits)."""
    cols = {c.strip().lower() for c in columns}
    for name, sig in SIGNATURES.items():
        if all(s in cols for s in sig):
            return name
    return "generic"


def parse_mapping(spec: str | None) -> dict[str, str]:
    """Parse ``title=Name,price=Cost`` into ``{"title": "Name", "price": "Cost"}`` (field -> column)."""
    out: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ImportFormatError(f"--map takes FIELD=COLUMN pairs separated by commas, not {part!r}")
        key, value = (x.strip() for x in part.split("=", 1))
        out[key.lower()] = value
    return out


def column_map(fmt: str, columns: list[str], user_map: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Return ``{file column: field}`` and the columns nobody recognised."""
    preset = PRESET_COLUMNS[fmt]
    mapped: dict[str, str] = {}
    user_cols = {col.strip().lower(): fld for fld, col in user_map.items()}
    for col in columns:
        key = col.strip().lower()
        if key in user_cols:
            mapped[col] = user_cols[key]
        elif key in preset:
            mapped[col] = preset[key]
        elif fmt == "generic" and key.replace(" ", "_") in preset:
            mapped[col] = preset[key.replace(" ", "_")]
    extra = KNOWN_EXTRA.get(fmt, set())
    unknown = [c for c in columns if c not in mapped and c.strip().lower() not in extra
               and c not in ("metadata", "variants")]
    return mapped, unknown


REQUIRED = ("title", "price")


def closest_columns(unknown: list[str]) -> list[str]:
    """For each unrecognised column, the closest known column names (all formats)."""
    known = sorted({*GENERIC_COLUMNS, *FIELDS})
    out = []
    for col in unknown:
        near = difflib.get_close_matches(col.strip().lower().replace(" ", "_"), known, n=2, cutoff=0.6)
        out.append(f"{col} (closest: {', '.join(near)})" if near else col)
    return out


# -- values as shops write them ------------------------------------------------------------------


_NUM_RE = re.compile(r"[-+]?[\d.,' \u00a0\u202f]*\d")


def parse_number(raw: str) -> float:
    """Parse ``49,90``, ``1.299,00``, ``1,299.00``, ``1 299,00`` or ``15``; raise ValueError otherwise."""
    s = raw.strip()
    m = _NUM_RE.search(s)
    if not m:
        raise ValueError(f"{raw!r} is not a number")
    num = m.group(0).replace(" ", "").replace("\u00a0", "").replace("\u202f", "").replace("'", "")
    if "," in num and "." in num:
        dec = "," if num.rfind(",") > num.rfind(".") else "."
        num = num.replace("." if dec == "," else ",", "").replace(dec, ".")
    elif "," in num:
        if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", num) and num.count(",") > 1:
            num = num.replace(",", "")
        elif re.fullmatch(r"[-+]?\d{1,3},\d{3}", num):
            num = num.replace(",", "")  # 1,299: a thousands separator (a decimal comma has 2 digits)
        else:
            num = num.replace(",", ".")
    elif num.count(".") > 1:
        num = num.replace(".", "")
    return float(num)


def parse_price(raw: Any, currency: str, rates: dict[str, float]) -> tuple[float, str]:
    """Return ``(price in the catalog's currency, note)`` from ``€9.99``, ``59.00 USD``, ``1.299,00`` ...

    Raises:
        ValueError: not a price, or a currency other than the catalog's with no rate given.
    """
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value, code = float(raw), ""
    else:
        s = str(raw).strip()
        if not s:
            raise ValueError("no price")
        code = ""
        letters = re.sub(r"[\d.,'\s\u00a0\u202f+-]", " ", s).strip().lower()
        for tok in letters.split():
            if tok.upper() in _ISO or tok.upper() == currency:
                code = tok.upper()
            elif tok in CURRENCY_SYMBOLS:
                code = CURRENCY_SYMBOLS[tok]
            else:
                sym = next((k for k in CURRENCY_SYMBOLS if tok.endswith(k) or tok.startswith(k)), None)
                if sym is None:
                    raise ValueError(f"{s!r} is not a price")
                code = CURRENCY_SYMBOLS[sym]
        try:
            value = parse_number(s)
        except ValueError:
            raise ValueError(f"{s!r} is not a price") from None
    if value < 0:
        raise ValueError(f"price {value:g} is negative")
    if code and code != currency:
        if code not in rates:
            raise ValueError(f"price {raw!r} is in {code}, but the catalog's currency is {currency}; "
                             f"pass --rate {code}=N to convert (N {currency} per {code})")
        return round(value * rates[code], 2), f"{raw} at {rates[code]:g}"
    return round(value, 2), ""


_ISO = {"EUR", "USD", "GBP", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "CAD", "AUD", "NZD", "INR",
        "CNY", "HKD", "SGD", "KRW", "BRL", "MXN", "ZAR", "TRY", "AED"}


def currency_code(symbol_or_code: str) -> str:
    """Return the ISO code of the catalog's currency setting (``€`` -> ``EUR``)."""
    s = symbol_or_code.strip()
    return CURRENCY_SYMBOLS.get(s.lower(), s.upper() if s.upper() in _ISO else s)


def parse_color(raw: str) -> str | None:
    """Map a shop's colour name onto the catalog's (``Light Pink`` -> pink, ``Navy Blue`` -> navy)."""
    s = " ".join(str(raw).strip().lower().replace("/", " ").replace("-", " ").split())
    if not s:
        return None
    found = resolve("color", s, typos=False)
    if found:
        return found.value
    words = [w for w in s.split() if w not in COLOR_MODIFIERS]
    if words:
        found = resolve("color", " ".join(words), typos=False)
        if found:
            return found.value
    for w in reversed(words):
        found = resolve("color", w, typos=False)
        if found:
            return found.value
    return None


def color_in_text(text: str) -> str | None:
    """Return the first catalog colour named in a text (a product title), or None."""
    return word_in_text("color", text)


def word_in_text(kind: str, text: str) -> str | None:
    """Return the first catalog ``color`` or ``material`` named in a text (a product title), or None."""
    from agent.catalog.vocab import COLOR_PATTERNS, MATERIAL_PATTERNS

    low = text.lower()
    best: tuple[int, str] | None = None
    for color, pattern in (COLOR_PATTERNS if kind == "color" else MATERIAL_PATTERNS).items():
        m = pattern.search(low)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), color)
    return best[1] if best else None


def parse_category(raw: str, user_map: dict[str, str]) -> str | None:
    """Map a product type or a taxonomy path (``Apparel & Accessories > Clothing > Dresses``) onto a category."""
    text = str(raw).strip()
    if not text:
        return None
    if text.lower() in user_map:
        return user_map[text.lower()]
    segments = [seg.strip() for seg in re.split(r">|›", text) if seg.strip()]
    for seg in reversed(segments):
        low = seg.lower()
        if low in user_map:
            return user_map[low]
        if low in IMPORT_CATEGORY_WORDS:
            return IMPORT_CATEGORY_WORDS[low]
        found = resolve("category", low, typos=False)
        if found:
            return found.value
        for part in re.split(r"&|,|/| and ", low):
            part = part.strip()
            hit = IMPORT_CATEGORY_WORDS.get(part) or (
                r.value if (r := resolve("category", part, typos=False)) else None)
            if hit:
                return hit
        words = low.replace("-", " ").split()
        for i in range(len(words) - 1, -1, -1):
            for span in (" ".join(words[max(0, i - 1) : i + 1]), words[i]):
                hit = IMPORT_CATEGORY_WORDS.get(span) or (
                    r.value if (r := resolve("category", span, typos=False)) else None)
                if hit:
                    return hit
    return None


def parse_stock(raw: Any) -> int:
    """Parse a stock count (``12``, ``12.0``, ``1.200``); negative counts are 0."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return max(0, int(raw))
    s = str(raw).strip()
    try:
        return max(0, int(float(s)))
    except ValueError:
        return max(0, int(parse_number(s)))


def strip_html(text: str) -> str:
    """Shopify's ``Body (HTML)`` as plain text."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


_ID_BAD = re.compile(r"[^A-Za-z0-9._:-]+")


def clean_id(raw: Any) -> str:
    """Return an id the catalog accepts: numbers as text, other characters as ``-``."""
    s = str(raw).strip()
    s = _ID_BAD.sub("-", s).strip("-._:")
    return s[:120]


# -- rows into products --------------------------------------------------------------------------


@dataclass
class ReadOptions:
    """How to read a file: format, column and category maps, stock and currency rules."""

    fmt: str | None = None
    column_map: dict[str, str] = field(default_factory=dict)
    category_map: dict[str, str] = field(default_factory=dict)
    default_stock: int | None = None
    default_price: float | None = None
    currency: str = "EUR"
    rates: dict[str, float] = field(default_factory=dict)


def _fields(row: dict[str, Any], mapped: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    data: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for col, value in row.items():
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
        if value is None:
            continue
        fld = mapped.get(col)
        if fld is None:
            if col == "metadata" and isinstance(value, dict):
                meta.update(value)
            elif col == "variants":
                data["variants"] = value
            else:
                meta[col] = value
        elif fld not in data:
            data[fld] = value
    return data, meta


def _shopify_options(data: dict[str, Any], names: dict[int, str]) -> None:
    for i in (1, 2, 3):
        name = data.pop(f"option{i} name", None)
        if name:
            names[i] = str(name).strip().lower()
        value = data.pop(f"option{i} value", None)
        if value is None:
            continue
        kind = names.get(i, "")
        if kind in ("size", "taille", "größe", "groesse", "talla", "maat"):
            data.setdefault("size", value)
        elif kind in ("color", "colour", "couleur", "farbe", "kleur"):
            data.setdefault("color", value)
        elif kind != "title":
            data.setdefault("options", {})[kind or f"option{i}"] = value


def read_products(path: Path, opts: ReadOptions) -> ReadResult:
    """Read a file into products and variants, with every problem reported by line."""
    table = read_table(path, opts.fmt)
    detected = opts.fmt is None
    fmt = opts.fmt or detect_format(table.columns)
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    result = ReadResult(format=fmt, detected=detected, table=table, warnings=list(table.warnings))
    mapped, unknown = column_map(fmt, table.columns, opts.column_map)
    have = set(mapped.values())
    missing = [f for f in REQUIRED if f not in have and not (f == "price" and opts.default_price is not None)]
    if fmt == "generic" and "id" not in have:
        missing.insert(0, "id")
    if fmt == "generic" and "category" not in have and "category_path" not in have:
        missing.append("category")
    if missing and table.rows and any(isinstance(r, dict) for _, r in table.rows):
        near = closest_columns(unknown)
        raise ImportFormatError(
            f"{path.name}: read as {fmt} ({'detected' if detected else 'chosen'}), but no column gives "
            f"{', '.join(missing)}. Columns not recognised: {', '.join(near) or 'none'}. "
            f"Map them with --map {','.join(f'{m}=COLUMN' for m in missing)}"
            + (", or choose a format with --format " + "|".join(FORMATS) if fmt == "generic" else "")
            + ("" if "price" not in missing else ", or give every product one price with --default-price N")
            + "."
        )
    if "price" not in have and opts.default_price is not None:
        result.warnings.append(f"{path.name}: no price column; every product is priced {opts.default_price:g} "
                               "(--default-price)")
    if unknown:
        result.warnings.append(f"{path.name}: columns kept as metadata only: {', '.join(unknown)}")
    result.stock_column = "stock" in have
    result.image_column = "image" in have or "variant_image" in have
    if not result.stock_column and "availability" not in have:
        n = 1 if opts.default_stock is None else opts.default_stock
        result.warnings.append(
            f"{path.name}: no stock column; every product is assumed to have {n} in stock "
            f"(--default-stock {n})" + ("" if n else ": none will be recommended until stock is set")
            + "; set --default-stock N to change it.")

    groups: dict[str, list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
    option_names: dict[str, dict[int, str]] = {}
    seen_ids: dict[str, int] = {}
    for line, row in table.rows:
        if isinstance(row, str):
            result.rejected.append(Problem(line, row))
            continue
        data, meta = _fields(row, mapped)
        if "id" in data:
            data["id"] = clean_id(data["id"])
        key = str(data.get("product_id") or data.get("id") or "")
        if fmt == "shopify":
            key = str(data.get("product_id") or "")
            _shopify_options(data, option_names.setdefault(key, {}))
        if not key:
            result.rejected.append(Problem(line, "no id" + (" (Handle)" if fmt == "shopify" else "")))
            continue
        sku = data.get("id")
        if sku:
            if sku in seen_ids:
                result.duplicates.append(Problem(line, f"id {sku} already on line {seen_ids[sku]}; this row skipped"))
                continue
            seen_ids[str(sku)] = line
        groups.setdefault(clean_id(key), []).append((line, data, meta))

    for key, rows in groups.items():
        _build_products(key, rows, fmt, opts, result, path)
    return result


def _first(rows: list[tuple[int, dict[str, Any], dict[str, Any]]], name: str) -> Any:
    for _, data, _meta in rows:
        if data.get(name) not in (None, ""):
            return data[name]
    return None


def _build_products(key: str, rows: list[tuple[int, dict[str, Any], dict[str, Any]]], fmt: str,
                    opts: ReadOptions, result: ReadResult, path: Path) -> None:
    # Shopify: a row with no price and no option values only adds an image to the product.
    if fmt == "shopify":
        extra_images = [d.get("image") for _, d, _ in rows if "price" not in d and d.get("image")]
        rows = [r for r in rows if "price" in r[1] or not r[1].get("image") or r is rows[0]]
    else:
        extra_images = []
    title = _first(rows, "title")
    base: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for _, d, m in rows:
        for k, v in m.items():
            meta.setdefault(k, v)
    problems: list[str] = []
    if not title:
        problems.append("title: missing")
    cat_raw = [str(x) for x in (_first(rows, "category"), _first(rows, "category_path")) if x]
    category = None
    for raw in cat_raw:
        category = parse_category(raw, opts.category_map)
        if category:
            break
    if category is None and not cat_raw and title:
        category = parse_category(str(title), opts.category_map)
        if category:
            meta["category_from"] = "title"
    if category is None:
        shown = cat_raw[0] if cat_raw else "(none)"
        if cat_raw:
            result.unknown_categories[cat_raw[0]] = result.unknown_categories.get(cat_raw[0], 0) + len(rows)
        problems.append(f"category {shown!r} is not one of ours ({', '.join(CATEGORIES)}); "
                        f"map it with --map-category '{shown}=CATEGORY'")
    elif cat_raw:
        meta["original_category"] = cat_raw[0]
        if len(cat_raw) > 1:
            meta["category_path"] = cat_raw[1]
    if problems:
        for line, _d, _m in rows:
            result.rejected.append(Problem(line, "; ".join(problems)))
        return
    base["title"] = str(title)
    base["category"] = category
    desc = _first(rows, "description")
    if desc:
        base["description"] = strip_html(str(desc)) if fmt == "shopify" else str(desc)
    for name in ("brand", "material"):
        v = _first(rows, name)
        if v:
            base[name] = str(v)
    if "material" not in base:
        found = word_in_text("material", f"{title} {_first(rows, 'tags') or ''}")
        if found:
            base["material"] = found
            meta["material_from"] = "title"
    styles: list[str] = []
    for raw in (_first(rows, "styles"), _first(rows, "tags")):
        if not raw:
            continue
        values = raw if isinstance(raw, list) else re.split(r"[,;|]", str(raw))
        for s in values:
            w = str(s).strip().lower()
            st = USAGE_STYLES.get(w) if fmt == "kaggle-styles" else None
            found = st or (r.value if (r := resolve("style", w, typos=False)) else None)
            if found and found in STYLES and found not in styles:
                styles.append(found)
            elif w and raw is _first(rows, "styles"):
                meta.setdefault("unmapped_styles", []).append(str(s).strip())
    base["styles"] = styles
    status = str(_first(rows, "status") or "active").strip().lower()
    if fmt == "shopify" and status not in ("active", "draft", "archived"):
        status = "active"
    if fmt != "shopify" and status not in ("draft", "archived"):
        status = "active"

    # split by colour: one catalog item per product and colour
    by_color: dict[str, list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
    original_colors: dict[str, str] = {}
    group_color = _first(rows, "color")
    if group_color is None and _first(rows, "color_alt") is None:
        group_color = color_in_text(str(title))
        if group_color:
            meta["color_from"] = "title"
    for line, d, m in rows:
        raw_color = d.get("color") or group_color or d.get("color_alt") or _first(rows, "color_alt")
        color = parse_color(str(raw_color)) if raw_color else None
        if color is None and d.get("color_alt"):
            color = parse_color(str(d["color_alt"]))
        if color is None:
            result.rejected.append(Problem(line, f"colour {raw_color!r} is not one we know" if raw_color
                                           else "colour: missing (no colour column or option, and no colour "
                                           "word in the title)"))
            continue
        by_color.setdefault(color, []).append((line, d, m))
        if raw_color and str(raw_color).strip().lower() != color:
            original_colors.setdefault(color, str(raw_color).strip())
    multi = len(by_color) > 1
    for color, crow in by_color.items():
        variants: list[VariantDraft] = []
        for line, d, _m in crow:
            if isinstance(d.get("variants"), list):
                variants.extend(_json_variants(line, d, opts, result))
                continue
            v = VariantDraft(line=line, sku=str(d.get("id") or ""), size=str(d.get("size") or ""))
            try:
                price_raw = d.get("price", "" if opts.default_price is None else opts.default_price)
                price, note = parse_price(price_raw, opts.currency, opts.rates)
                v.price, v.original_price = price, note
                sale_raw = d.get("sale_price")
                if sale_raw not in (None, ""):
                    sale, _ = parse_price(sale_raw, opts.currency, opts.rates)
                    if sale < price:
                        v.price, v.compare_at_price = sale, price
                cmp_raw = d.get("compare_at_price")
                if cmp_raw not in (None, ""):
                    cmp, _ = parse_price(cmp_raw, opts.currency, opts.rates)
                    if cmp > v.price:
                        v.compare_at_price = cmp
            except ValueError as exc:
                result.rejected.append(Problem(line, f"price: {exc}"))
                continue
            if "stock" in d:
                try:
                    v.stock = parse_stock(d["stock"])
                except ValueError:
                    result.rejected.append(Problem(line, f"stock: {d['stock']!r} is not a number"))
                    continue
                if v.stock == 0:
                    v.stock_reason = "zero stock"
            elif "availability" in d:
                avail = str(d["availability"]).strip().lower().replace("_", " ")
                if avail in ("in stock", "instock", "available", "limited availability"):
                    v.stock = 1 if opts.default_stock is None else max(1, opts.default_stock)
                else:
                    v.stock, v.stock_reason = 0, f"availability {avail!r}"
            elif result.stock_column:
                v.stock, v.stock_reason = 0, "stock empty"
            else:
                v.stock = 1 if opts.default_stock is None else opts.default_stock
                if v.stock == 0:
                    v.stock_reason = "no stock column (--default-stock 0)"
            img = d.get("variant_image") or d.get("image")
            v.image = str(img) if img else ""
            variants.append(v)
        if not variants:
            continue
        pid = f"{key}-{color}" if multi else key
        data = dict(base)
        data["color"] = color
        m = dict(meta)
        if color in original_colors:
            m["original_color"] = original_colors[color]
        if multi or fmt in ("shopify", "gmc"):
            m["product_group"] = key
        options = [d.get("options") for _, d, _m in crow if d.get("options")]
        if options:
            m["options"] = options
        image = next((v.image for v in variants if v.image), "") or next((str(i) for i in extra_images if i), "")
        result.products.append(ProductDraft(id=pid, line=variants[0].line, lines=[v.line for v in variants],
                                            data={**data, "metadata": m}, variants=variants, image=image,
                                            status=status))


def _json_variants(line: int, d: dict[str, Any], opts: ReadOptions, result: ReadResult) -> list[VariantDraft]:
    """Variants given inline in a generic JSON row (``"variants": [{"size": "M", "stock": 3}, ...]``)."""
    out = []
    for n, raw in enumerate(d["variants"], start=1):
        if not isinstance(raw, dict):
            result.rejected.append(Problem(line, f"variants[{n}]: expected an object"))
            continue
        try:
            price_raw = raw.get("price", d.get("price", ""))
            price, note = parse_price(price_raw, opts.currency, opts.rates)
            stock = parse_stock(raw.get("stock", 0))
        except ValueError as exc:
            result.rejected.append(Problem(line, f"variants[{n}]: {exc}"))
            continue
        out.append(VariantDraft(line=line, sku=str(raw.get("sku") or ""), size=str(raw.get("size") or ""),
                                price=price, stock=stock, image=str(raw.get("image") or ""), original_price=note,
                                stock_reason="" if stock else "zero stock"))
    return out
