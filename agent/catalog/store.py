"""The catalog: items on disk (``catalog.jsonl`` is the source of truth) indexed in Chroma.

A catalog folder holds ``catalog.jsonl`` (one :class:`Item` a line), ``images/``, ``outfits.json``
(curated outfits) and ``manifest.json``. The Chroma collection holds one vector per item (MiniLM
embedding of :meth:`Item.document`) with filterable metadata: category, color, price, in_stock,
stock, styles (list), material, brand.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.catalog.models import Item, Outfit, SearchFilters
from agent.chroma import get_client
from agent.embeddings import ChromaTextEmbeddingFunction, TextEmbedder, get_text_embedder

log = logging.getLogger(__name__)

#: Sidecar file in the catalog folder naming the image encoder that made the image index.
IMAGE_INDEX_FILE = "image_index.json"


class CatalogError(Exception):
    """A catalog problem the user can fix (the message says how)."""


class CatalogEmptyError(CatalogError):
    """The catalog has no items."""


class UnknownItemError(CatalogError, KeyError):
    """No item has the requested id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown item"


@dataclass
class ScoredItem:
    """An item with its semantic similarity to the query (cosine, higher is closer)."""

    item: Item
    score: float


def collection_name_for(catalog_dir: str | Path, kind: str = "") -> str:
    """Return a Chroma collection name unique to a catalog folder (several catalogs can share a DB).

    ``kind`` is ``""`` for the text index and ``"img"`` for the image index.
    """
    digest = hashlib.sha1(str(Path(catalog_dir).resolve()).encode()).hexdigest()[:12]
    return f"catalog-{kind + '-' if kind else ''}{digest}"


def _metadata(item: Item) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "category": item.category,
        "color": item.color,
        "price": float(item.price),
        "stock": int(item.stock),
        "in_stock": item.in_stock,
        "material": item.material.lower(),
        "brand": item.brand,
    }
    if item.styles:
        meta["styles"] = list(item.styles)
    meta["size_kind"] = item.size_kind or "none"
    sizes = item.sizes_in_stock
    if sizes:
        meta["sizes"] = sizes
    return meta


def where_clause(filters: SearchFilters) -> dict[str, Any] | None:
    """Translate filters into a Chroma ``where`` clause (``exclude_ids`` is applied afterwards)."""
    clauses: list[dict[str, Any]] = []
    if filters.in_stock:
        clauses.append({"in_stock": True})
    if filters.categories:
        clauses.append({"category": {"$in": list(filters.categories)}})
    if filters.exclude_categories:
        clauses.append({"category": {"$nin": list(filters.exclude_categories)}})
    if filters.colors:
        clauses.append({"color": {"$in": list(filters.colors)}})
    if filters.exclude_colors:
        clauses.append({"color": {"$nin": list(filters.exclude_colors)}})
    if filters.materials:
        clauses.append({"material": {"$in": [m.lower() for m in filters.materials]}})
    if filters.exclude_materials:
        clauses.append({"material": {"$nin": [m.lower() for m in filters.exclude_materials]}})
    if filters.min_price is not None:
        clauses.append({"price": {"$gte": float(filters.min_price)}})
    if filters.max_price is not None:
        clauses.append({"price": {"$lte": float(filters.max_price)}})
    if filters.styles:
        style_clauses: list[dict[str, Any]] = [{"styles": {"$contains": s}} for s in filters.styles]
        clauses.append(style_clauses[0] if len(style_clauses) == 1 else {"$or": style_clauses})
    if filters.sizes:
        from agent.catalog.models import size_kind

        asked = {size_kind(s) for s in filters.sizes}
        free = [k for k in ("none", "one", "letter", "numeric") if k not in asked]
        size_clauses: list[dict[str, Any]] = [{"size_kind": {"$in": free}}]
        size_clauses += [{"sizes": {"$contains": s}} for s in filters.sizes]
        clauses.append({"$or": size_clauses})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class VectorMirror:
    """An in-memory copy of the index (unit vectors + metadata codes) for fast filtered search.

    Chroma 1.5's embedded ``where`` filtering costs 80-400 ms at 100k items on a 2-core CPU, while
    an unfiltered HNSW query costs about 3 ms. So the filter is a NumPy mask over integer codes
    (under a millisecond), a small allowed set (``exact_max`` rows or fewer) is ranked exactly, and a
    broad one is ranked by an unfiltered HNSW query oversampled by the filter's selectivity, with an
    exact fallback when too few hits survive the mask.
    """

    def __init__(self, items: list[Item], vectors: np.ndarray, exact_max: int = 10_000) -> None:
        from agent.catalog.vocab import STYLES

        self.ids = [it.id for it in items]
        self.pos = {item_id: n for n, item_id in enumerate(self.ids)}
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.valid = np.any(self.vectors != 0, axis=1)
        self.exact_max = exact_max
        self.codes: dict[str, dict[str, int]] = {"category": {}, "color": {}, "material": {}}
        self.category = self._encode("category", [it.category for it in items])
        self.color = self._encode("color", [it.color for it in items])
        self.material = self._encode("material", [it.material.lower() for it in items])
        self.price = np.array([it.price for it in items], dtype=np.float64)
        self.stock = np.array([it.stock if it.in_stock else 0 for it in items], dtype=np.int64)
        self.size_codes: dict[str, int] = {}
        kinds = {"": 0, "one": 0, "letter": 1, "numeric": 2}
        self.size_kind = np.array([kinds[it.size_kind] for it in items], dtype=np.int8)
        self.sizes = [self._size_bits(it.sizes_in_stock) for it in items]
        self.style_bit = {s: 1 << n for n, s in enumerate(STYLES)}
        self.styles = np.array(
            [sum(self.style_bit.get(s, 0) for s in it.styles) for it in items], dtype=np.int64
        )

    def _size_bits(self, sizes: list[str]) -> int:
        bits = 0
        for s in sizes:
            bits |= 1 << self.size_codes.setdefault(s, len(self.size_codes))
        return bits

    def _encode(self, field: str, values: list[str]) -> np.ndarray:
        table = self.codes[field]
        for v in values:
            table.setdefault(v, len(table))
        return np.array([table[v] for v in values], dtype=np.int32)

    def _isin(self, field: str, column: np.ndarray, values: list[str]) -> np.ndarray:
        table = self.codes[field]
        wanted = [table[v] for v in values if v in table]
        return np.isin(column, wanted) if wanted else np.zeros(len(column), dtype=bool)

    def mask(self, filters: SearchFilters) -> np.ndarray:
        """Return a boolean mask of the rows that satisfy ``filters``."""
        m = self.valid.copy()
        if filters.in_stock:
            m &= self.stock > 0
        if filters.categories:
            m &= self._isin("category", self.category, filters.categories)
        if filters.exclude_categories:
            m &= ~self._isin("category", self.category, filters.exclude_categories)
        if filters.colors:
            m &= self._isin("color", self.color, filters.colors)
        if filters.exclude_colors:
            m &= ~self._isin("color", self.color, filters.exclude_colors)
        if filters.materials:
            m &= self._isin("material", self.material, [x.lower() for x in filters.materials])
        if filters.exclude_materials:
            m &= ~self._isin("material", self.material, [x.lower() for x in filters.exclude_materials])
        if filters.min_price is not None:
            m &= self.price >= filters.min_price
        if filters.max_price is not None:
            m &= self.price <= filters.max_price
        if filters.styles:
            bits = sum(self.style_bit.get(x, 0) for x in filters.styles)
            m &= (self.styles & bits) != 0
        if filters.sizes:
            from agent.catalog.models import size_kind

            fits = self.size_kind == 0
            for code, kind in ((1, "letter"), (2, "numeric")):
                asked = [s for s in filters.sizes if size_kind(s) == kind]
                if not asked:
                    fits |= self.size_kind == code
                    continue
                wanted = sum(1 << self.size_codes[s] for s in asked if s in self.size_codes)
                hit = np.fromiter(((b & wanted) != 0 for b in self.sizes), dtype=bool, count=len(self.sizes))
                fits |= (self.size_kind == code) & hit
            m &= fits
        for item_id in filters.exclude_ids or []:
            n = self.pos.get(item_id)
            if n is not None:
                m[n] = False
        return m

    def exact(self, query: np.ndarray, rows: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Rank ``rows`` exactly by cosine to ``query``; return the best ``k`` ``(id, score)``."""
        scores = self.vectors[rows] @ np.asarray(query, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if rows.size > k else np.arange(rows.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[rows[t]], float(scores[t])) for t in top]

    def search(
        self, query: np.ndarray, filters: SearchFilters, k: int, ann: Callable[[np.ndarray, int], Any] | None = None
    ) -> list[tuple[str, float]]:
        """Return up to ``k`` ``(id, cosine)`` pairs of allowed rows, best first.

        ``ann(query, n)`` returns ``(ids, distances)`` of an unfiltered approximate query; without it
        every search is exact.
        """
        m = self.mask(filters)
        rows = np.flatnonzero(m)
        if rows.size == 0:
            return []
        if ann is None or rows.size <= self.exact_max:
            return self.exact(query, rows, k)
        frac = rows.size / len(self.ids)
        n = min(len(self.ids), int(k / frac * 3) + 50)
        ids, dists = ann(query, n)
        out: list[tuple[str, float]] = []
        for item_id, dist in zip(ids, dists, strict=True):
            p = self.pos.get(item_id)
            if p is not None and m[p]:
                out.append((item_id, 1.0 - float(dist)))
                if len(out) >= k:
                    return out
        return self.exact(query, rows, k)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Catalog:
    """Items of one catalog folder, their Chroma index, and the curated outfits.

    ``image_encoder`` names the encoder that builds the image index (a run's ``Context.image_encoder``;
    empty: ours); :func:`agent.services.open_catalog` passes it from the settings.
    """

    def __init__(
        self,
        catalog_dir: str | Path,
        chroma_path: str = "",
        chroma_url: str = "",
        embedder: TextEmbedder | None = None,
        backend: str = "mirror",
        image_encoder: str = "",
    ) -> None:
        if backend not in ("mirror", "chroma"):
            raise ValueError(f"unknown search backend {backend!r}; use 'mirror' or 'chroma'")
        self.dir = Path(catalog_dir)
        self._root = self.dir.resolve()
        self.chroma_path = chroma_path or str(self.dir.parent / "chroma")
        self.chroma_url = chroma_url
        self.embedder = embedder or get_text_embedder()
        self.image_encoder = image_encoder
        self.items: dict[str, Item] = {}
        self.outfits: list[Outfit] = []
        self._collection: Any = None
        self._mirror: VectorMirror | None = None
        self._image_collection: Any = None
        self._image_mirror: VectorMirror | None = None
        self.backend = backend
        self._lock = threading.RLock()
        self.reload()

    # -- files -------------------------------------------------------------------------------

    @property
    def items_path(self) -> Path:
        """The JSONL file holding the items."""
        return self.dir / "catalog.jsonl"

    @property
    def outfits_path(self) -> Path:
        """The JSON file holding the curated outfits."""
        return self.dir / "outfits.json"

    def reload(self) -> None:
        """Read items and outfits from disk."""
        with self._lock:
            self.items = {}
            if self.items_path.is_file():
                with self.items_path.open(encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            item = Item.model_validate_json(line)
                            self.items[item.id] = item
            self.outfits = []
            if self.outfits_path.is_file():
                raw = json.loads(self.outfits_path.read_text(encoding="utf-8"))
                self.outfits = [Outfit.model_validate(o) for o in raw]

    def save(self) -> None:
        """Write items and outfits to disk atomically."""
        with self._lock:
            lines = "".join(item.model_dump_json() + "\n" for item in self.items.values())
            _atomic_write(self.items_path, lines)
            _atomic_write(
                self.outfits_path, json.dumps([o.model_dump() for o in self.outfits], indent=1) + "\n"
            )

    def image_path(self, item: Item) -> Path | None:
        """Return the absolute path of an item's image, or None when it has none."""
        if not item.image:
            return None
        p = Path(item.image)
        if p.is_absolute():
            return p
        if ".." in p.parts:
            return (self._root / p).resolve()
        return self._root / p

    # -- index -------------------------------------------------------------------------------

    @property
    def collection(self) -> Any:
        """The Chroma collection of this catalog (created on first use)."""
        if self._collection is None:
            client = get_client(self.chroma_path, self.chroma_url)
            self._collection = client.get_or_create_collection(
                collection_name_for(self.dir),
                embedding_function=ChromaTextEmbeddingFunction(self.embedder),  # type: ignore[arg-type]
                metadata={"hnsw:space": "cosine"},
            )
        return self._collection

    @property
    def image_collection(self) -> Any:
        """The Chroma collection of item image embeddings (our encoder, in the MiniLM space)."""
        if self._image_collection is None:
            client = get_client(self.chroma_path, self.chroma_url)
            self._image_collection = client.get_or_create_collection(
                collection_name_for(self.dir, "img"),
                embedding_function=ChromaTextEmbeddingFunction(self.embedder),  # type: ignore[arg-type]
                metadata={"hnsw:space": "cosine"},
            )
        return self._image_collection

    def items_with_images(self) -> list[Item]:
        """Return the items whose image file exists."""
        out = []
        for it in self.items.values():
            path = self.image_path(it)
            if path is not None and path.is_file():
                out.append(it)
        return out

    def image_index_count(self) -> int:
        """Return the number of image vectors in the image index."""
        return int(self.image_collection.count())

    def index_images(
        self, items: Iterable[Item] | None = None, progress: Callable[[int], None] | None = None,
        batch_size: int = 256,
    ) -> int:
        """Encode item images with the image encoder and upsert them into the image index.

        Returns:
            The number of images indexed.
        """
        from PIL import Image

        from agent.vision import get_image_encoder
        from agent.vision.encoder import encoder_identity

        encoder = get_image_encoder(self.image_encoder)
        identity = encoder_identity(encoder)
        recorded = self.image_index_encoder()
        if items is not None and recorded is not None and recorded != identity:
            items = None  # vectors already in the index came from another encoder: redo them all
        todo = [it for it in (items if items is not None else self.items_with_images())
                if (p := self.image_path(it)) is not None and p.is_file()]
        with self._lock:
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                images = []
                for it in batch:
                    with Image.open(self.image_path(it)) as im:  # type: ignore[arg-type]
                        images.append(im.convert("RGB"))
                vecs = encoder.encode(images)
                self.image_collection.upsert(
                    ids=[it.id for it in batch], embeddings=np.asarray(vecs, dtype=np.float32),
                    metadatas=[_metadata(it) for it in batch],
                )
                self._image_mirror = None
                if progress:
                    progress(len(batch))
            self._write_image_index_encoder(identity)
        return len(todo)

    def image_index_encoder(self) -> str | None:
        """Return the identity of the encoder that made the image index (None when not recorded)."""
        path = self.dir / IMAGE_INDEX_FILE
        try:
            return str(json.loads(path.read_text())["encoder"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_image_index_encoder(self, identity: str) -> None:
        path = self.dir / IMAGE_INDEX_FILE
        if self.image_index_encoder() != identity:
            path.write_text(json.dumps({"encoder": identity}) + "\n")

    def ensure_image_index(self, progress: Callable[[int], None] | None = None) -> bool:
        """Index item images missing from the image index; return True if it did any work.

        When the image encoder changed since the index was built (new weights, another model), or the
        index does not say which encoder made it, every image is encoded again: vectors from two
        encoders are not comparable.
        """
        from agent.vision import get_image_encoder
        from agent.vision.encoder import encoder_identity

        if self.items and self.image_index_count():
            identity = encoder_identity(get_image_encoder(self.image_encoder))
            recorded = self.image_index_encoder()
            if recorded != identity:
                log.info("image index of %s was built by %s, not %s: re-encoding every image", self.dir,
                         recorded or "an unrecorded encoder", identity)
                self.index_images(progress=progress)
                return True
        have = set(self.image_collection.get(include=[])["ids"]) if self.items else set()
        missing = [it for it in self.items_with_images() if it.id not in have]
        if missing:
            self.index_images(missing, progress=progress)
            return True
        return False

    def index_count(self) -> int:
        """Return the number of vectors in the index."""
        return int(self.collection.count())

    def upsert(
        self,
        items: Iterable[Item],
        progress: Callable[[int], None] | None = None,
        batch_size: int = 256,
    ) -> tuple[int, int]:
        """Add or update items (by id) in memory, on disk and in the index.

        Returns:
            ``(added, updated)`` counts.
        """
        items = list(items)
        with self._lock:
            added = sum(1 for it in items if it.id not in self.items)
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                vecs = self.embedder.encode([it.document() for it in batch])
                self.collection.upsert(
                    ids=[it.id for it in batch],
                    embeddings=vecs,
                    metadatas=[_metadata(it) for it in batch],
                    documents=[it.document() for it in batch],
                )
                for it in batch:
                    self.items[it.id] = it
                self._mirror = None
                self._image_mirror = None
                if progress:
                    progress(len(batch))
            self.save()
        return added, len(items) - added

    def update_metadata(self, items: Iterable[Item]) -> int:
        """Replace items whose indexed text is unchanged (stock, sizes, status) without embedding them again.

        They are saved and their filterable metadata updated in both indexes. Returns how many were updated.
        """
        items = [it for it in items if it.id in self.items]
        with self._lock:
            for it in items:
                self.items[it.id] = it
            for start in range(0, len(items), 1000):
                batch = items[start : start + 1000]
                ids, metas = [it.id for it in batch], [_metadata(it) for it in batch]
                self.collection.update(ids=ids, metadatas=metas)
                have = set(self.image_collection.get(ids=ids, include=[])["ids"])
                img = [(i, m) for i, m in zip(ids, metas, strict=True) if i in have]
                if img:
                    self.image_collection.update(ids=[i for i, _ in img], metadatas=[m for _, m in img])
            self._mirror = None
            self._image_mirror = None
            self.save()
        return len(items)

    def reindex(self, progress: Callable[[int], None] | None = None) -> None:
        """Rebuild the index from the items on disk."""
        with self._lock:
            client = get_client(self.chroma_path, self.chroma_url)
            try:
                client.delete_collection(collection_name_for(self.dir))
            except Exception:  # noqa: BLE001 - absent collection: nothing to delete
                pass
            self._collection = None
            items = list(self.items.values())
            self.upsert(items, progress=progress)

    def ensure_index(self, progress: Callable[[int], None] | None = None) -> bool:
        """Reindex when the index does not match the items on disk; return True if it did."""
        if self.items and self.index_count() != len(self.items):
            self.reindex(progress=progress)
            return True
        return False

    def clear(self) -> None:
        """Remove every item, outfit and vector of this catalog (files of images are kept)."""
        with self._lock:
            client = get_client(self.chroma_path, self.chroma_url)
            try:
                client.delete_collection(collection_name_for(self.dir))
            except Exception:  # noqa: BLE001 - absent collection: nothing to delete
                pass
            try:
                client.delete_collection(collection_name_for(self.dir, "img"))
            except Exception:  # noqa: BLE001 - absent collection: nothing to delete
                pass
            self._collection = None
            self._mirror = None
            self._image_collection = None
            self._image_mirror = None
            (self.dir / IMAGE_INDEX_FILE).unlink(missing_ok=True)
            self.items = {}
            self.outfits = []
            self.save()

    # -- queries -----------------------------------------------------------------------------

    def get(self, item_id: str) -> Item:
        """Return an item by id.

        Raises:
            UnknownItemError: when no item has that id (the message suggests how to find one).
        """
        item = self.items.get(item_id) or self.items.get(item_id.strip().upper())
        if item is None:
            raise UnknownItemError(
                f"No item with id {item_id!r} in the catalog. Use an id from the items shown "
                "(like SHT-0042), or search first."
            )
        return item

    def require_items(self) -> None:
        """Raise :class:`CatalogEmptyError` when the catalog has no items."""
        if not self.items:
            raise CatalogEmptyError(
                f"The catalog in {self.dir} is empty. Build the default one with `fashionm3 catalog build` "
                "or import yours with `fashionm3 catalog ingest FILE`."
            )

    def search(
        self,
        query: str | None,
        filters: SearchFilters | None = None,
        k: int = 10,
        query_vector: np.ndarray | None = None,
        space: str = "text",
    ) -> list[ScoredItem]:
        """Return up to ``k`` items satisfying ``filters``, most similar to ``query`` first.

        With neither a query nor a vector, a query is composed from the filters, so results are
        still ranked by meaning rather than arbitrary. ``space="image"`` compares the query vector
        (a text or image embedding, both in the MiniLM space) with item *image* embeddings.
        """
        if space not in ("text", "image"):
            raise ValueError(f"unknown search space {space!r}; use 'text' or 'image'")
        self.require_items()
        filters = filters or SearchFilters()
        if query_vector is None:
            text = (query or "").strip() or describe_filters(filters)
            query_vector = self.embedder.encode_one(text)
        if space == "image":
            ranked = self.image_mirror().search(query_vector, filters, k, ann=self._image_ann)
            return [ScoredItem(item=self.items[i], score=sc) for i, sc in ranked if i in self.items]
        if self.backend == "mirror":
            ranked = self.mirror().search(query_vector, filters, k, ann=self._ann)
            return [ScoredItem(item=self.items[i], score=sc) for i, sc in ranked if i in self.items]
        return self._search_chroma(query_vector, filters, k)

    def mirror(self) -> VectorMirror:
        """Return the in-memory mirror of the text index, loading it from Chroma when stale."""
        with self._lock:
            if self._mirror is None or len(self._mirror.ids) != len(self.items):
                self._mirror = self._load_mirror(self.collection, fill_missing=True)
            return self._mirror

    def image_mirror(self) -> VectorMirror:
        """Return the in-memory mirror of the image index (items without an image are never returned)."""
        with self._lock:
            if self._image_mirror is None or len(self._image_mirror.ids) != len(self.items):
                if not self.image_index_count() and self.items_with_images():
                    self.index_images()
                self._image_mirror = self._load_mirror(self.image_collection, fill_missing=False)
            return self._image_mirror

    def _load_mirror(self, collection: Any, fill_missing: bool) -> VectorMirror:
        ids = list(self.items)
        vectors = np.zeros((len(ids), 384), dtype=np.float32)
        pos = {item_id: n for n, item_id in enumerate(ids)}
        page = 5000
        for start in range(0, len(ids), page):
            got = collection.get(ids=ids[start : start + page], include=["embeddings"])
            for item_id, vec in zip(got["ids"], got["embeddings"], strict=True):
                vectors[pos[item_id]] = vec
        if fill_missing:
            missing = [i for i in ids if not np.any(vectors[pos[i]])]
            if missing:
                vecs = self.embedder.encode([self.items[i].document() for i in missing])
                for item_id, vec in zip(missing, vecs, strict=True):
                    vectors[pos[item_id]] = vec
        return VectorMirror([self.items[i] for i in ids], vectors)

    def _ann(self, query_vector: np.ndarray, n: int) -> tuple[list[str], list[float]]:
        return _query_ann(self.collection, query_vector, n)

    def _image_ann(self, query_vector: np.ndarray, n: int) -> tuple[list[str], list[float]]:
        return _query_ann(self.image_collection, query_vector, min(n, max(1, self.image_index_count())))

    def _search_chroma(self, query_vector: np.ndarray, filters: SearchFilters, k: int) -> list[ScoredItem]:
        exclude = set(filters.exclude_ids or [])
        n = min(max(k + len(exclude), k * 2), max(1, len(self.items)))
        res = self.collection.query(
            query_embeddings=[np.asarray(query_vector, dtype=np.float32)],
            n_results=n,
            where=where_clause(filters),
            include=["distances"],
        )
        out: list[ScoredItem] = []
        for item_id, dist in zip(res["ids"][0], res["distances"][0], strict=True):
            item = self.items.get(item_id)
            if item is None or item_id in exclude or not filters.accepts(item):
                continue
            out.append(ScoredItem(item=item, score=1.0 - float(dist)))
            if len(out) >= k:
                break
        return out


def _query_ann(collection: Any, query_vector: np.ndarray, n: int) -> tuple[list[str], list[float]]:
    """Run an unfiltered approximate (HNSW) query; return ``(ids, distances)``."""
    res = collection.query(query_embeddings=[np.asarray(query_vector, dtype=np.float32)], n_results=n,
                           include=["distances"])
    return list(res["ids"][0]), list(res["distances"][0])


def describe_filters(filters: SearchFilters) -> str:
    """Compose a short query sentence from filters (used when the shopper gave no free text)."""
    words: list[str] = []
    if filters.styles:
        words.append(" ".join(filters.styles))
    if filters.colors:
        words.append(" or ".join(filters.colors))
    if filters.materials:
        words.append(" ".join(filters.materials))
    if filters.categories:
        words.append(" or ".join(c.replace("_", " ") for c in filters.categories))
    else:
        words.append("clothing")
    return " ".join(words)
