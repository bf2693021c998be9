"""Catalog commands: build the default catalog, import a retailer's file, describe what is there."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from tqdm import tqdm

from agent.catalog.build import build_default_items
from agent.catalog.models import Item
from agent.catalog.outfits import curated_outfits
from agent.catalog.store import Catalog
from agent.context import Context


@dataclass
class BuildReport:
    """What ``catalog build`` did."""

    items: int
    outfits: int
    seconds_images: float
    seconds_index: float
    catalog_dir: str


@dataclass
class IngestReport:
    """What ``catalog ingest`` did: counts, and every row or product not imported as asked, by line.

    ``errors`` are the rejected rows ``(line, reason)``; ``without_image`` and ``out_of_stock`` are
    ``(line, item id, why)`` of products imported all the same; ``duplicates`` rows skipped.
    """

    file: str = ""
    format: str = ""
    detected: bool = False
    encoding: str = ""
    delimiter: str = ""
    rows: int = 0
    added: int = 0
    updated: int = 0
    variants: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    without_image: list[tuple[int, str, str]] = field(default_factory=list)
    out_of_stock: list[tuple[int, str, str]] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    repaired: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown_categories: dict[str, int] = field(default_factory=dict)
    preview: list[str] = field(default_factory=list)
    dry_run: bool = False
    image_column: bool = True
    seconds: float = 0.0

    def summary(self, limit: int | None = None) -> list[str]:
        """Return the summary printed at the end of an import, one line each (``limit`` lines per list)."""
        name = self.file
        how = f"{self.format} ({'detected' if self.detected else 'chosen'})"
        read = ", ".join(x for x in (how, f"{self.delimiter} separated" if self.delimiter and self.delimiter != "xml"
                                     else "", self.encoding) if x)
        would = "would be " if self.dry_run else ""
        lines = [f"{name}: {self.rows} rows read as {read}{' (dry run: nothing stored)' if self.dry_run else ''}"]

        def listing(title: str, entries: list[str]) -> None:
            lines.append(f"{title}: {len(entries)}")
            shown = entries if limit is None else entries[:limit]
            lines.extend(f"  {e}" for e in shown)
            if len(shown) < len(entries):
                lines.append(f"  ... and {len(entries) - len(shown)} more")

        lines.append(f"{would}added: {self.added} products ({self.variants} variants)" if self.variants
                     else f"{would}added: {self.added} products")
        lines.append(f"{would}updated: {self.updated}")
        listing("rejected", [f"{name}:{ln}: {why}" for ln, why in self.errors])
        if self.image_column:
            listing(f"{would}imported without image",
                    [f"{name}:{ln}: {i}: {why}" for ln, i, why in self.without_image])
        else:
            lines.append(f"{would}imported without image: {len(self.without_image)} (the file has no image column)")
        listing(f"{would}imported out of stock", [f"{name}:{ln}: {i}: {why}" for ln, i, why in self.out_of_stock])
        listing("skipped duplicates", [f"{name}:{ln}: {why}" for ln, why in self.duplicates])
        for ln, why in self.repaired:
            lines.append(f"repaired: {name}:{ln}: {why}")
        if self.unknown_categories:
            cats = ", ".join(f"{c!r} ({n} row{'' if n == 1 else 's'})"
                             for c, n in sorted(self.unknown_categories.items()))
            lines.append(f"unknown categories: {cats}; map them with --map-category 'TYPE=CATEGORY'")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return lines


def is_built(settings: Context) -> bool:
    """Whether the catalog folder holds items."""
    p = Path(settings.catalog_dir) / "catalog.jsonl"
    return p.is_file() and p.stat().st_size > 0


def build_catalog(
    settings: Context, per_class: int = 300, seed: int = 0, force: bool = False, progress: bool = True
) -> BuildReport:
    """Create the default catalog (items, images, curated outfits, index) in ``settings.catalog_dir``."""
    from agent.services import forget_catalog, open_catalog

    out = Path(settings.catalog_dir)
    if is_built(settings) and not force:
        raise FileExistsError(
            f"A catalog already exists in {out}; pass --force to rebuild it (this replaces its items)."
        )
    t0 = time.perf_counter()
    with tqdm(total=per_class * 10, desc="images", unit="item", disable=not progress) as bar:
        items = build_default_items(out, per_class=per_class, seed=seed, fmnist_dir=settings.fashion_mnist_dir,
                                    progress=bar.update)
    t1 = time.perf_counter()
    forget_catalog(settings)
    catalog = open_catalog(settings)
    catalog.clear()
    catalog.outfits = curated_outfits(items, n=60, seed=seed)
    with tqdm(total=len(items), desc="text index", unit="item", disable=not progress) as bar:
        catalog.upsert(items, progress=bar.update)
    with tqdm(total=len(items), desc="image index", unit="img", disable=not progress) as bar:
        catalog.index_images(items, progress=bar.update)
    t2 = time.perf_counter()
    (out / "manifest.json").write_text(json.dumps({
        "source": "fashion-mnist", "per_class": per_class, "seed": seed, "items": len(items),
        "outfits": len(catalog.outfits),
    }, indent=1) + "\n")
    return BuildReport(items=len(items), outfits=len(catalog.outfits), seconds_images=t1 - t0,
                       seconds_index=t2 - t1, catalog_dir=str(out))


@dataclass
class IngestOptions:
    """Choices of ``catalog ingest`` beyond the file (see :class:`agent.catalog.importing.ReadOptions`)."""

    fmt: str | None = None
    column_map: dict[str, str] = field(default_factory=dict)
    category_map: dict[str, str] = field(default_factory=dict)
    default_stock: int | None = None
    default_price: float | None = None
    rates: dict[str, float] = field(default_factory=dict)
    fetch_images: bool = True
    dry_run: bool = False
    preview_rows: int = 3


def _local_image(src: str, base: Path, dest: Path, max_pixels: int, save: bool) -> str:
    from agent.media import ImageInputError, decode_image

    path = Path(src)
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ImageInputError(f"image {src!r} not found")
    img = decode_image(path.read_bytes(), path.name, max_pixels)
    if save:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp.png")
        img.save(tmp, format="PNG")
        shutil.move(str(tmp), dest)
    return f"images/{dest.name}"


def ingest_file(settings: Context, file: str | Path, progress: bool = True,
                options: IngestOptions | None = None) -> IngestReport:
    """Import products from a shop's file into the active catalog (update by id, never duplicate).

    The file is read by a preset (Shopify, Google Merchant Center, H&M, Kaggle styles, or our generic
    JSONL/CSV; detected from the header unless ``options.fmt`` says). Every row is validated; rejected
    rows are reported by line and the good ones kept. A product whose image cannot be had (a local path
    that is missing or not an image, a URL that fails or is refused) is imported without an image and
    listed; images named by URL are fetched (see :mod:`agent.catalog.remote`) unless
    ``options.fetch_images`` is off, in which case the URL is kept in ``metadata["image_url"]``.

    Raises:
        FileNotFoundError: no such file.
        ImportFormatError: the file cannot be read as a catalog (the message names the columns).
    """
    from agent.catalog.importing import ReadOptions, currency_code, read_products
    from agent.catalog.models import Variant
    from agent.catalog.remote import FetchError, FetchLimits, ImageFetcher, is_url
    from agent.media import ImageInputError
    from agent.services import open_catalog

    opts = options or IngestOptions()
    t0 = time.perf_counter()
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"{file}: no such file; give the path of a .jsonl, .csv, .tsv or .xml catalog.")
    read = read_products(path, ReadOptions(
        fmt=opts.fmt, column_map=opts.column_map, category_map=opts.category_map,
        default_stock=opts.default_stock, default_price=opts.default_price,
        currency=currency_code(settings.currency), rates=opts.rates))
    report = IngestReport(
        file=str(file), format=read.format, detected=read.detected, encoding=read.table.encoding,
        delimiter=read.table.delimiter, rows=len(read.table.rows), dry_run=opts.dry_run,
        warnings=list(read.warnings), unknown_categories=dict(read.unknown_categories),
        errors=[(p.line, p.message) for p in read.rejected], image_column=read.image_column,
        duplicates=[(p.line, p.message) for p in read.duplicates],
        repaired=[(p.line, p.message) for p in read.table.repaired],
    )
    catalog_dir = Path(settings.catalog_dir)
    images_dir = catalog_dir / "images"

    urls = [ref for d in read.products for ref in [d.image, *(v.image for v in d.variants)] if ref and is_url(ref)]
    fetched: dict[str, str | FetchError] = {}
    if urls and opts.fetch_images and not opts.dry_run:
        limits = FetchLimits(timeout=settings.image_fetch_timeout, max_bytes=settings.image_fetch_max_bytes,
                             max_pixels=settings.max_image_pixels, concurrency=settings.image_fetch_concurrency,
                             allow_private=str(settings.image_fetch_allow_private))
        fetcher = ImageFetcher(images_dir / "remote", limits)
        distinct = list(dict.fromkeys(urls))
        with tqdm(total=len(distinct), desc="images", unit="url", disable=not progress) as bar:
            fetched = fetcher.fetch_all(distinct, progress=bar.update)

    def image_of(ref: str, dest_name: str, meta: dict[str, Any]) -> tuple[str, str]:
        """Return ``(stored image path or "", why not)``."""
        if not ref:
            return "", "no image given"
        if is_url(ref):
            meta.setdefault("image_url", ref)
            if opts.dry_run:
                return "", ""
            if not opts.fetch_images:
                return "", ""
            got = fetched.get(ref)
            if isinstance(got, str):
                return got, ""
            return "", f"{ref}: {got}"
        try:
            return _local_image(ref, path.parent, images_dir / dest_name, settings.max_image_pixels,
                                save=not opts.dry_run), ""
        except ImageInputError as exc:
            return "", f"image: {exc}"

    good: dict[str, Item] = {}
    for draft in tqdm(read.products, desc="validate", unit="product", disable=not progress):
        meta: dict[str, Any] = dict(draft.data.get("metadata") or {})
        image, why = image_of(draft.image, f"{draft.id}.png", meta)
        variants: list[Variant] = []
        keep_variants = len(draft.variants) > 1 or any(v.size for v in draft.variants)
        try:
            for v in draft.variants:
                vmeta: dict[str, Any] = {}
                vimage = ""
                if v.image and v.image != draft.image:
                    vimage, _ = image_of(v.image, f"{draft.id}-{v.sku or v.size or v.line}.png", vmeta)
                variants.append(Variant(sku=v.sku, size=v.size, price=v.price, compare_at_price=v.compare_at_price,
                                        stock=v.stock or 0, image=vimage))
            first = draft.variants[0]
            if first.original_price:
                meta["original_price"] = first.original_price
            if first.compare_at_price is not None and not keep_variants:
                meta["compare_at_price"] = first.compare_at_price
            data = {**draft.data, "metadata": meta, "image": image, "status": draft.status,
                    "price": min(v.price for v in draft.variants if v.price is not None),
                    "stock": sum(v.stock or 0 for v in draft.variants)}
            if keep_variants:
                data["variants"] = variants
            if not keep_variants and first.sku and first.sku != draft.id:
                meta["sku"] = first.sku
            item = Item.model_validate({"id": draft.id, **data})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())
            report.errors.extend((ln, problems) for ln in draft.lines)
            continue
        if item.id in good:
            report.duplicates.append((draft.line, f"product {item.id} already imported from line "
                                                  f"{good[item.id].metadata.get('_line', '?')}; skipped"))
            continue
        if not image and (draft.image or why) and not (is_url(draft.image) and (opts.dry_run or not opts.fetch_images)):
            report.without_image.append((draft.line, item.id, why))
        elif not draft.image:
            report.without_image.append((draft.line, item.id, why or "no image given"))
        if not item.in_stock:
            if item.status != "active":
                reason = f"{item.status} (not shown)"
            else:
                reason = ", ".join(dict.fromkeys(v.stock_reason or "zero stock" for v in draft.variants))
            report.out_of_stock.append((draft.line, item.id, reason))
        item.metadata["_line"] = draft.line
        good[item.id] = item
    for item in good.values():
        item.metadata.pop("_line", None)
    report.errors.sort()
    report.variants = sum(len(it.variants) for it in good.values())
    if any(is_url(d.image) for d in read.products) and not opts.fetch_images:
        report.warnings.append("image URLs kept in metadata.image_url only (--keep-image-urls): these products "
                               "have no photo in the image index")
    with_images = [it for it in good.values() if it.image]
    if with_images and not settings.image_encoder:
        report.warnings.append(
            f"{len(with_images)} product photo(s) are encoded with our own image encoder, which is trained on "
            "28 px Fashion-MNIST garments: photo search over this catalog will be weak. Set "
            "FASHIONM3_IMAGE_ENCODER to a CLIP or SigLIP model for real photos.")
    if opts.dry_run:
        catalog_items = _existing_ids(settings)
        report.added = sum(1 for i in good if i not in catalog_items)
        report.updated = len(good) - report.added
        report.preview = [it.model_dump_json(exclude_defaults=True) for it in list(good.values())[: opts.preview_rows]]
        report.seconds = time.perf_counter() - t0
        return report
    catalog: Catalog = open_catalog(settings)
    if good:
        with tqdm(total=len(good), desc="text index", unit="item", disable=not progress) as bar:
            report.added, report.updated = catalog.upsert(good.values(), progress=bar.update)
        with tqdm(total=len(with_images), desc="image index", unit="img", disable=not progress) as bar:
            catalog.index_images(with_images, progress=bar.update)
    report.seconds = time.perf_counter() - t0
    return report


def _existing_ids(settings: Context) -> set[str]:
    path = Path(settings.catalog_dir) / "catalog.jsonl"
    ids: set[str] = set()
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    ids.add(str(json.loads(line)["id"]))
    return ids


def add_default_sizes(settings: Context) -> int:
    """Give the default catalog's items their size variants when it was built before items had sizes.

    The sizes are what ``catalog build`` now draws for each item (seeded per item), so an old default
    catalog ends up as a new build would. Imported catalogs are left alone. Returns how many items gained sizes.
    """
    from agent.catalog.build import add_sizes
    from agent.catalog.vocab import CATEGORIES
    from agent.services import open_catalog

    manifest = Path(settings.catalog_dir) / "manifest.json"
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return 0
    if info.get("source") != "fashion-mnist":
        return 0
    catalog = open_catalog(settings)
    seed = int(info.get("seed", 0))
    todo = []
    for item in catalog.items.values():
        if item.variants or item.metadata.get("source") != "fashion-mnist":
            continue
        try:
            n = int(item.id.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        label = CATEGORIES.index(item.category)
        todo.append(add_sizes(item, np.random.default_rng([seed, label, n])))
    return catalog.update_metadata(todo) if todo else 0


def describe(settings: Context) -> dict[str, Any]:
    """Return counts by category, colour and stock for ``catalog info``."""
    from agent.services import open_catalog

    catalog = open_catalog(settings)
    by_cat: dict[str, int] = {}
    by_color: dict[str, int] = {}
    for item in catalog.items.values():
        by_cat[item.category] = by_cat.get(item.category, 0) + 1
        by_color[item.color] = by_color.get(item.color, 0) + 1
    return {
        "catalog_dir": str(catalog.dir),
        "items": len(catalog.items),
        "in_stock": sum(1 for i in catalog.items.values() if i.in_stock),
        "indexed": catalog.index_count() if catalog.items else 0,
        "images_indexed": catalog.image_index_count() if catalog.items else 0,
        "outfits": len(catalog.outfits),
        "by_category": dict(sorted(by_cat.items())),
        "by_color": dict(sorted(by_color.items())),
    }
