"""Catalog commands: build the default catalog, import a retailer's file, describe what is there."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm import tqdm

from agent.catalog.build import build_default_items
from agent.catalog.models import Item
from agent.catalog.outfits import curated_outfits
from agent.catalog.store import Catalog
from agent.context import Context

ITEM_FIELDS = set(Item.model_fields)
ALIASES = {"colour": "color", "image_path": "image", "style": "styles", "name": "title", "qty": "stock",
           "quantity": "stock", "sku": "id", "type": "category"}


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
    """What ``catalog ingest`` did: counts and the rejected rows with their line numbers."""

    added: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0


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


def _rows(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """Return ``(line_number, row or error text)`` for every data row of a JSONL or CSV file."""
    text = path.read_text(encoding="utf-8-sig")
    rows: list[tuple[int, dict[str, Any] | str]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                rows.append((n, f"not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            rows.append((n, obj) if isinstance(obj, dict) else (n, "expected a JSON object"))
    elif path.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        for row in reader:
            n = reader.line_num
            if None in row:
                rows.append((n, "more values than header columns"))
                continue
            rows.append((n, {k.strip(): v for k, v in row.items() if k is not None}))
    else:
        raise ValueError(f"{path.name}: unsupported file type {path.suffix!r}; use .jsonl or .csv")
    return rows


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    meta: dict[str, Any] = dict(row.get("metadata") or {}) if isinstance(row.get("metadata"), dict) else {}
    for key, value in row.items():
        k = ALIASES.get(key.strip().lower(), key.strip().lower())
        if k == "metadata":
            continue
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
        if k in ITEM_FIELDS:
            out[k] = value
        else:
            meta[key] = value
    if "category" in out:
        meta.setdefault("original_category", out["category"])
    out["metadata"] = meta
    return out


def ingest_file(settings: Context, file: str | Path, progress: bool = True) -> IngestReport:
    """Import items from a JSONL or CSV file into the active catalog (update by id, never duplicate).

    Every row is validated; bad rows are reported by line number and the good ones are kept.
    Image paths are resolved relative to the file, checked to decode, and copied into the catalog.
    """
    from agent.media import ImageInputError, decode_image
    from agent.services import open_catalog

    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"{file}: no such file; give the path of a .jsonl or .csv catalog.")
    report = IngestReport()
    good: dict[str, Item] = {}
    images_dir = Path(settings.catalog_dir) / "images"
    rows = _rows(path)
    report.rows = len(rows)
    for line, row in tqdm(rows, desc="validate", unit="row", disable=not progress):
        if isinstance(row, str):
            report.errors.append((line, row))
            continue
        data = _normalise(row)
        image_src = data.pop("image", None)
        try:
            item = Item.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())
            report.errors.append((line, problems))
            continue
        if image_src:
            src = Path(str(image_src))
            src = src if src.is_absolute() else (path.parent / src)
            try:
                if not src.is_file():
                    raise ImageInputError(f"image {image_src!r} not found")
                img = decode_image(src.read_bytes(), src.name, settings.max_image_pixels)
            except ImageInputError as exc:
                report.errors.append((line, f"image: {exc}"))
                continue
            images_dir.mkdir(parents=True, exist_ok=True)
            dest = images_dir / f"{item.id}.png"
            tmp = dest.with_suffix(".tmp.png")
            img.save(tmp, format="PNG")
            shutil.move(str(tmp), dest)
            item = item.model_copy(update={"image": f"images/{item.id}.png"})
        if item.id in good:
            report.errors.append((line, f"duplicate id {item.id} in this file; the later row wins"))
        good[item.id] = item
    catalog: Catalog = open_catalog(settings)
    if good:
        with tqdm(total=len(good), desc="text index", unit="item", disable=not progress) as bar:
            report.added, report.updated = catalog.upsert(good.values(), progress=bar.update)
        with_images = [it for it in good.values() if it.image]
        with tqdm(total=len(with_images), desc="image index", unit="img", disable=not progress) as bar:
            catalog.index_images(with_images, progress=bar.update)
    return report


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
