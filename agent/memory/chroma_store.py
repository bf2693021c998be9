"""A LangGraph ``BaseStore`` kept in one Chroma collection.

Layout: every item is one or more Chroma records. Record ``<item>:0`` always exists; an item whose
indexed fields yield several texts (``"tags[*]"``, several field paths) gets one record per text,
``<item>:1``, ``<item>:2``, ..., and a semantic search keeps the best-scoring record of each item
(max pooling, as ``InMemoryStore`` does). ``<item>`` is a hash of the namespace and key.

A record has two kinds of metadata: ``item``, one JSON string with the namespace, key, value,
timestamps and bookkeeping (Chroma writes slow down with every metadata key, so the payload is one
key), and ``p1``, ``p2``, ...: the namespace prefix of each depth joined with ``.`` (labels cannot
contain ``.``). A namespace prefix is thus one exact equality filter on whole labels inside Chroma
(``("preferences", "ann")`` never matches ``("preferences", "anna")``), and every result is checked
again in Python. Filters on value fields (equality, ``$eq``/``$ne``/``$gt``/``$gte``/``$lt``/
``$lte``, nested dicts, lists) are applied in Python with ``InMemoryStore``'s semantics.

A semantic search under a prefix holding at most ``exact_search_limit`` records (one shopper's
namespace) fetches them with their vectors in one ``get`` and ranks them exactly in NumPy: faster
than Chroma's filtered HNSW query for such selective filters, and never approximate. Larger
prefixes use Chroma's HNSW query, asking for more neighbours until a page is full.

Items put with ``index=False`` (or whose index fields are missing) get a placeholder vector (a
pseudo-random unit vector fixed by the item id) and are marked unindexed. They are never ranked;
as in ``InMemoryStore``, they follow the ranked items, with ``score=None``, when a page has room.

Embedded Chroma (``PersistentClient``) is not safe with several processes on one folder (see
``tests/test_store_concurrency.py``): an embedded store takes an exclusive ``flock`` on
``<path>/fashionm3-store.lock`` when it first opens the collection and keeps it until
:meth:`ChromaStore.close`. A second process waits up to ``lock_timeout`` seconds, then gets a
:class:`StoreLockedError`. Processes that share memory should use a Chroma server (``url``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import operator
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from agent.embeddings import EMBEDDING_DIM

if TYPE_CHECKING:
    from agent.context import Context

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "fashionm3-memory"
"""Name of the Chroma collection holding the store."""

LOCK_FILE = "fashionm3-store.lock"
"""File, inside an embedded database folder, that an open embedded store holds an ``flock`` on."""

_Where = dict[str, Any]


class Embedder(Protocol):
    """What the store needs from a text embedder (``agent.embeddings.TextEmbedder`` fits)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one unit vector per text, as a ``(len(texts), dims)`` array."""
        ...


class StoreLockedError(RuntimeError):
    """Another process holds the embedded store's folder."""


class ChromaStore(BaseStore):
    """LangGraph store on a Chroma collection, with semantic search through our text embedder.

    Args:
        path: Folder of an embedded Chroma database (used when ``url`` is empty).
        url: ``http://host:port`` of a ``chroma run`` server; several processes can share it.
        collection: Chroma collection name.
        embedder: Text embedder; defaults to the process-wide MiniLM embedder (loaded on first use).
        fields: JSON paths embedded when a put does not say (``["$"]``: the whole value as JSON).
        dims: Embedding size (used for placeholder vectors without loading the model).
        lock_timeout: Seconds an embedded store waits for another process to release the folder.
        exact_search_limit: Largest number of records under a prefix that a semantic search ranks
            exactly in NumPy; above it, Chroma's approximate HNSW index is used.
    """

    def __init__(
        self,
        path: str = "",
        url: str = "",
        collection: str = DEFAULT_COLLECTION,
        embedder: Embedder | None = None,
        *,
        fields: Sequence[str] | None = None,
        dims: int = EMBEDDING_DIM,
        lock_timeout: float = 30.0,
        exact_search_limit: int = 2000,
    ) -> None:
        if not path and not url:
            raise ValueError("ChromaStore needs a folder `path` or a server `url`; see from_env()")
        self.path = str(path) if not url else ""
        self.url = url
        self.collection_name = collection
        self.dims = dims
        self.lock_timeout = lock_timeout
        self.exact_search_limit = exact_search_limit
        self._embedder = embedder
        self._fields = _tokenized(fields or ["$"])
        self._open_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._col: Any = None
        self._client: Any = None
        self._space = "cosine"
        self._max_batch = 1000
        self._lock_key: str | None = None

    @classmethod
    def from_env(cls, **kwargs: Any) -> ChromaStore:
        """Build a store from the environment.

        ``CHROMA_URL`` or ``FASHIONM3_CHROMA_URL`` selects a server; otherwise the embedded folder
        is ``FASHIONM3_CHROMA_PATH`` or ``data/chroma``. Keyword arguments go to the constructor.
        """
        url = os.environ.get("CHROMA_URL") or os.environ.get("FASHIONM3_CHROMA_URL") or ""
        if url:
            return cls(url=url, **kwargs)
        return cls(path=os.environ.get("FASHIONM3_CHROMA_PATH") or "data/chroma", **kwargs)

    @classmethod
    def from_context(cls, context: Context, **kwargs: Any) -> ChromaStore:
        """Build a store from the run settings (``chroma_url`` wins over ``chroma_path``)."""
        if context.chroma_url:
            return cls(url=context.chroma_url, **kwargs)
        return cls(path=context.chroma_path, **kwargs)

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else f"path={self.path!r}"
        return f"ChromaStore({where}, collection={self.collection_name!r})"

    def __enter__(self) -> ChromaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        """The text embedder (the shared MiniLM one unless another was given)."""
        if self._embedder is None:
            from agent.embeddings import get_text_embedder

            self._embedder = get_text_embedder()
        return self._embedder

    def close(self) -> None:
        """Release the Chroma client and, for an embedded store, the folder lock (idempotent).

        The store reopens on its next use.
        """
        with self._open_lock:
            if self._client is not None and not self.url:
                self._client.close()
            self._client = None
            self._col = None
            if self._lock_key is not None:
                _release_folder(self._lock_key)
                self._lock_key = None

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run get, search and list operations, then the puts (last put of a key wins).

        Reads see the state from before the batch's puts, as in ``InMemoryStore``.
        """
        ops = list(ops)
        for op in ops:
            if not isinstance(op, GetOp | PutOp | SearchOp | ListNamespacesOp):
                raise ValueError(f"Unknown operation type: {type(op)}")
            validate_op_namespace(op)
            if isinstance(op, SearchOp) and (op.offset < 0 or op.limit < 0):
                raise ValueError(f"search limit and offset must be >= 0, got {op.limit} and {op.offset}")
        col = self._collection()
        results: list[Result] = [None] * len(ops)
        gets = [(i, op) for i, op in enumerate(ops) if isinstance(op, GetOp)]
        if gets:
            found = self._fetch(col, [_record_id(_item_id(op.namespace, op.key), 0) for _, op in gets])
            for i, op in gets:
                rec = found.get(_record_id(_item_id(op.namespace, op.key), 0))
                if rec is not None and rec.namespace == tuple(op.namespace) and rec.key == op.key:
                    results[i] = rec.item()
        searches = [(i, op) for i, op in enumerate(ops) if isinstance(op, SearchOp)]
        if searches:
            queries = sorted({op.query for _, op in searches if op.query})
            vectors = dict(zip(queries, self.embedder.encode(queries), strict=True)) if queries else {}
            for i, op in searches:
                if op.query:
                    results[i] = self._semantic_search(
                        col, op, np.asarray(vectors[op.query], dtype=np.float32)
                    )
                else:
                    results[i] = self._filter_search(col, op)
        for i, op in enumerate(ops):
            if isinstance(op, ListNamespacesOp):
                results[i] = self._list_namespaces(col, op)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts[(tuple(op.namespace), op.key)] = op
        if puts:
            self._apply_puts(col, list(puts.values()))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run :meth:`batch` in a worker thread."""
        return await asyncio.to_thread(self.batch, list(ops))

    def forget(self, namespace_prefix: tuple[str, ...]) -> int:
        """Delete every item under a namespace prefix ("forget me"); return how many there were."""
        if not namespace_prefix:
            raise InvalidNamespaceError("forget() needs a non-empty namespace prefix")
        prefix = tuple(namespace_prefix)
        validate_op_namespace(SearchOp(prefix))
        col = self._collection()
        with self._write_lock:
            records = list(self._scan(col, prefix, main_only=False))
            ids = [rec.id for rec in records]
            for start in range(0, len(ids), self._max_batch):
                col.delete(ids=ids[start : start + self._max_batch])
        return sum(1 for rec in records if rec.seq == 0)

    def _collection(self) -> Any:
        if self._col is not None:
            return self._col
        with self._open_lock:
            if self._col is not None:
                return self._col
            from agent.embeddings import ChromaTextEmbeddingFunction

            if self.url:
                from agent.chroma import get_client

                client = get_client(url=self.url)
            else:
                import chromadb
                from chromadb.config import Settings

                self._lock_key = _acquire_folder(self.path, self.lock_timeout)
                try:
                    client = chromadb.PersistentClient(
                        path=self.path, settings=Settings(anonymized_telemetry=False, allow_reset=True)
                    )
                except BaseException:
                    _release_folder(self._lock_key)
                    self._lock_key = None
                    raise
            embedding_function = ChromaTextEmbeddingFunction(cast(Any, self._embedder))
            col = client.get_or_create_collection(
                self.collection_name,
                embedding_function=cast(Any, embedding_function),
                configuration={"hnsw": {"space": "cosine"}},
            )
            hnsw = (col.configuration or {}).get("hnsw") or {}
            self._space = hnsw.get("space") or "cosine"
            self._max_batch = int(client.get_max_batch_size())
            self._client = client
            self._col = col
            return col

    def _fetch(self, col: Any, ids: Sequence[str]) -> dict[str, _Record]:
        """Return our records with these ids (missing ids are left out)."""
        unique = sorted(set(ids))
        out: dict[str, _Record] = {}
        for start in range(0, len(unique), self._max_batch):
            got = col.get(ids=unique[start : start + self._max_batch], include=["metadatas"])
            for rid, md in zip(got["ids"], got["metadatas"], strict=True):
                rec = _Record.parse(rid, md)
                if rec is not None:
                    out[rid] = rec
        return out

    def _scan(self, col: Any, prefix: tuple[str, ...], *, main_only: bool = True) -> Iterator[_Record]:
        """Yield the records under a prefix in insertion order, a page of Chroma rows at a time."""
        where = _prefix_where(prefix)
        offset = 0
        while True:
            got = col.get(where=where, include=["metadatas"], limit=self._max_batch, offset=offset)
            for rid, md in zip(got["ids"], got["metadatas"], strict=True):
                rec = _Record.parse(rid, md)
                if rec is not None and rec.under(prefix) and (rec.seq == 0 or not main_only):
                    yield rec
            if len(got["ids"]) < self._max_batch:
                return
            offset += self._max_batch

    def _filter_search(self, col: Any, op: SearchOp) -> list[SearchItem]:
        stop = op.offset + op.limit
        matches: list[_Record] = []
        if op.limit:
            for rec in self._scan(col, tuple(op.namespace_prefix)):
                if rec.matches(op.filter):
                    matches.append(rec)
                    if len(matches) >= stop:
                        break
        return [rec.search_item() for rec in matches[op.offset : stop]]

    def _semantic_search(self, col: Any, op: SearchOp, query: np.ndarray) -> list[SearchItem]:
        if op.limit == 0:
            return []
        prefix = tuple(op.namespace_prefix)
        need = op.offset + op.limit
        got = col.get(
            where=_prefix_where(prefix),
            include=["metadatas", "embeddings"],
            limit=self.exact_search_limit + 1,
        )
        if len(got["ids"]) <= self.exact_search_limit:
            ranked, unranked = self._rank_exactly(got, prefix, op.filter, query)
        else:
            ranked = self._rank_with_index(col, prefix, op.filter, query, need)
            unranked = [] if len(ranked) >= need else self._unindexed(col, prefix, op.filter)
        out = [rec.search_item(score) for score, rec in ranked[op.offset : need]]
        if len(out) < op.limit:
            skip = max(0, op.offset - len(ranked))
            out.extend(rec.search_item() for rec in unranked[skip : skip + op.limit - len(out)])
        return out

    def _rank_exactly(
        self, got: dict[str, Any], prefix: tuple[str, ...], filter: dict[str, Any] | None, query: np.ndarray
    ) -> tuple[list[tuple[float, _Record]], list[_Record]]:
        """Rank fetched records by cosine similarity, best record per item; return the rest unranked."""
        passes: dict[str, bool] = {}
        best: dict[str, tuple[float, _Record]] = {}
        order: list[str] = []
        vectors: list[Any] = []
        owners: list[_Record] = []
        unranked: list[_Record] = []
        for rid, md, vec in zip(got["ids"], got["metadatas"], got["embeddings"], strict=True):
            rec = _Record.parse(rid, md)
            if rec is None or not rec.under(prefix):
                continue
            if rec.item_id not in passes:
                passes[rec.item_id] = rec.matches(filter)
                order.append(rec.item_id)
            if not passes[rec.item_id]:
                continue
            if rec.indexed:
                vectors.append(vec)
                owners.append(rec)
            elif rec.seq == 0:
                unranked.append(rec)
        if vectors:
            matrix = np.asarray(vectors, dtype=np.float32)
            norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
            scores = (matrix @ query) / np.maximum(norms, 1e-12)
            for score, rec in zip(scores.tolist(), owners, strict=True):
                if rec.item_id not in best or score > best[rec.item_id][0]:
                    best[rec.item_id] = (score, rec)
        position = {item: i for i, item in enumerate(order)}
        ranked = sorted(best.values(), key=lambda pair: (-pair[0], position[pair[1].item_id]))
        return ranked, unranked

    def _rank_with_index(
        self, col: Any, prefix: tuple[str, ...], filter: dict[str, Any] | None, query: np.ndarray, need: int
    ) -> list[tuple[float, _Record]]:
        """Rank with Chroma's HNSW index, asking for more neighbours until ``need`` items pass."""
        k = max(2 * need, 16)
        while True:
            res = col.query(
                query_embeddings=[query],
                n_results=k,
                where=_prefix_where(prefix),
                include=["metadatas", "distances"],
            )
            ids, metadatas, distances = res["ids"][0], res["metadatas"][0], res["distances"][0]
            ranked: list[tuple[float, _Record]] = []
            seen: set[str] = set()
            for rid, md, distance in zip(ids, metadatas, distances, strict=True):
                rec = _Record.parse(rid, md)
                if rec is None or not rec.indexed or rec.item_id in seen:
                    continue
                seen.add(rec.item_id)
                if rec.under(prefix) and rec.matches(filter):
                    ranked.append((self._similarity(distance), rec))
            if len(ranked) >= need or len(ids) < k:
                return ranked
            k *= 4

    def _unindexed(self, col: Any, prefix: tuple[str, ...], filter: dict[str, Any] | None) -> list[_Record]:
        return [rec for rec in self._scan(col, prefix) if not rec.indexed and rec.matches(filter)]

    def _similarity(self, distance: float) -> float:
        if self._space == "l2":
            return 1.0 - float(distance) / 2.0
        return 1.0 - float(distance)

    def _list_namespaces(self, col: Any, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = tuple(op.match_conditions or ())
        prefix: tuple[str, ...] = ()
        for cond in conditions:
            if cond.match_type == "prefix":
                fixed = tuple(label for label in _takewhile_fixed(cond.path))
                prefix = fixed if len(fixed) > len(prefix) else prefix
        namespaces = {rec.namespace for rec in self._scan(col, prefix)}
        matching = [ns for ns in namespaces if all(_does_match(cond, ns) for cond in conditions)]
        if op.max_depth is not None:
            matching = list({ns[: op.max_depth] for ns in matching})
        return sorted(matching)[op.offset : op.offset + op.limit]

    def _apply_puts(self, col: Any, puts: list[PutOp]) -> None:
        item_ids = [_item_id(op.namespace, op.key) for op in puts]
        with self._write_lock:
            existing = self._fetch(col, [_record_id(item, 0) for item in item_ids])
            texts_per_put = [self._texts(op) for op in puts]
            unique = sorted({text for texts in texts_per_put for _, text in texts})
            vectors = dict(zip(unique, self.embedder.encode(unique), strict=True)) if unique else {}

            now = datetime.now(UTC).isoformat()
            ids: list[str] = []
            embeddings: list[np.ndarray] = []
            metadatas: list[dict[str, Any]] = []
            stale: list[str] = []
            for op, item, texts in zip(puts, item_ids, texts_per_put, strict=True):
                old = existing.get(_record_id(item, 0))
                old_count = old.count if old else 0
                if op.value is None:
                    stale.extend(_record_id(item, i) for i in range(old_count))
                    continue
                count = max(1, len(texts))
                payload: dict[str, Any] = {
                    "ns": list(op.namespace),
                    "key": op.key,
                    "value": dict(op.value),
                    "created_at": old.created_at if old else now,
                    "updated_at": now,
                    "n": count,
                    "indexed": bool(texts),
                }
                prefixes = _prefix_metadata(op.namespace)
                if texts:
                    for seq, (field, text) in enumerate(texts):
                        ids.append(_record_id(item, seq))
                        embeddings.append(np.asarray(vectors[text], dtype=np.float32))
                        metadatas.append({"item": json.dumps({**payload, "field": field}), **prefixes})
                else:
                    ids.append(_record_id(item, 0))
                    embeddings.append(_placeholder(item, self.dims))
                    metadatas.append({"item": json.dumps(payload), **prefixes})
                stale.extend(_record_id(item, i) for i in range(count, old_count))
            for start in range(0, len(ids), self._max_batch):
                stop = start + self._max_batch
                col.upsert(
                    ids=ids[start:stop],
                    embeddings=np.stack(embeddings[start:stop]),
                    metadatas=metadatas[start:stop],
                )
            for start in range(0, len(stale), self._max_batch):
                col.delete(ids=stale[start : start + self._max_batch])

    def _texts(self, op: PutOp) -> list[tuple[str, str]]:
        """Return ``(field, text)`` pairs to embed for a put (none for deletes and ``index=False``)."""
        if op.value is None or op.index is False:
            return []
        paths = self._fields if op.index is None else _tokenized(op.index)
        value = dict(op.value)
        out: list[tuple[str, str]] = []
        for name, path in paths:
            texts = get_text_at_path(value, path)
            if len(texts) == 1:
                out.append((name, texts[0]))
            else:
                out.extend((f"{name}.{i}", text) for i, text in enumerate(texts))
        return out


@dataclass(slots=True)
class _Record:
    """One Chroma row of the store, decoded."""

    id: str
    item_id: str
    seq: int
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: str
    updated_at: str
    count: int
    indexed: bool

    @classmethod
    def parse(cls, rid: str, md: dict[str, Any] | None) -> _Record | None:
        """Decode a row, or return ``None`` for rows this store did not write."""
        raw = (md or {}).get("item")
        item_id, _, seq = rid.rpartition(":")
        if not isinstance(raw, str) or not seq.isdigit():
            return None
        data = json.loads(raw)
        return cls(
            id=rid,
            item_id=item_id,
            seq=int(seq),
            namespace=tuple(data["ns"]),
            key=data["key"],
            value=data["value"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            count=int(data["n"]),
            indexed=bool(data["indexed"]),
        )

    def under(self, prefix: tuple[str, ...]) -> bool:
        """Whether the record's namespace starts with ``prefix`` (whole labels)."""
        return self.namespace[: len(prefix)] == prefix

    def matches(self, filter: dict[str, Any] | None) -> bool:
        """Whether the value passes a search filter."""
        return not filter or all(_compare_values(self.value.get(k), v) for k, v in filter.items())

    def item(self) -> Item:
        """Return the stored item."""
        return Item(
            namespace=self.namespace,
            key=self.key,
            value=self.value,
            created_at=datetime.fromisoformat(self.created_at),
            updated_at=datetime.fromisoformat(self.updated_at),
        )

    def search_item(self, score: float | None = None) -> SearchItem:
        """Return the item as a search result."""
        return SearchItem(
            namespace=self.namespace,
            key=self.key,
            value=self.value,
            created_at=datetime.fromisoformat(self.created_at),
            updated_at=datetime.fromisoformat(self.updated_at),
            score=score,
        )


def _tokenized(paths: Sequence[str]) -> list[tuple[str, str | list[str]]]:
    return [(p, p if p == "$" else tokenize_path(p)) for p in paths]


def _item_id(namespace: Sequence[str], key: str) -> str:
    raw = json.dumps([list(namespace), key], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _record_id(item_id: str, seq: int) -> str:
    return f"{item_id}:{seq}"


def _placeholder(item_id: str, dims: int) -> np.ndarray:
    """Return a unit vector fixed by the item id (distinct vectors keep the HNSW graph healthy)."""
    vec = np.random.default_rng(int(item_id[:16], 16)).standard_normal(dims).astype(np.float32)
    return cast(np.ndarray, vec / np.linalg.norm(vec))


def _prefix_metadata(namespace: Sequence[str]) -> dict[str, str]:
    """Return ``{"p1": "a", "p2": "a.b", ...}``: the namespace prefix of each depth."""
    return {f"p{d}": ".".join(namespace[:d]) for d in range(1, len(namespace) + 1)}


def _prefix_where(prefix: Sequence[str]) -> _Where | None:
    """Return the Chroma filter selecting every record under ``prefix`` (``None``: everything)."""
    return {f"p{len(prefix)}": ".".join(prefix)} if prefix else None


def _takewhile_fixed(path: Sequence[str]) -> Iterator[str]:
    for label in path:
        if label == "*":
            return
        yield label


def _compare_values(item_value: Any, filter_value: Any) -> bool:
    """Compare like ``InMemoryStore`` (JSONB-style: operators, nested dicts, lists)."""
    if isinstance(filter_value, dict):
        if any(k.startswith("$") for k in filter_value):
            return all(_apply_operator(item_value, op, operand) for op, operand in filter_value.items())
        if not isinstance(item_value, dict):
            return False
        return all(_compare_values(item_value.get(k), v) for k, v in filter_value.items())
    if isinstance(filter_value, list | tuple):
        return (
            isinstance(item_value, list | tuple)
            and len(item_value) == len(filter_value)
            and all(_compare_values(iv, fv) for iv, fv in zip(item_value, filter_value, strict=False))
        )
    return bool(item_value == filter_value)


def _apply_operator(value: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op not in _ORDERINGS:
        raise ValueError(f"Unsupported operator: {op}")
    try:
        left, right = float(value), float(operand)
    except (TypeError, ValueError):
        return False  # a missing or non-numeric field does not match (InMemoryStore raises here)
    return _ORDERINGS[op](left, right)


_ORDERINGS: dict[str, Callable[[float, float], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _does_match(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        part = namespace[: len(path)]
    elif condition.match_type == "suffix":
        part = namespace[len(namespace) - len(path) :]
    else:
        raise ValueError(f"Unsupported match type: {condition.match_type}")
    return all(p == "*" or p == label for label, p in zip(part, path, strict=True))


@dataclass
class _FolderLock:
    handle: Any
    pid: int
    count: int = 1


_folder_locks: dict[str, _FolderLock] = {}
_folder_locks_guard = threading.Lock()


def _acquire_folder(path: str, timeout: float) -> str:
    """Take (or share, within this process) the exclusive lock on an embedded database folder."""
    folder = Path(path).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder)
    with _folder_locks_guard:
        held = _folder_locks.get(key)
        if held is not None and held.pid == os.getpid():
            held.count += 1
            return key
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock on this platform
            log.warning("no file locks on this platform (no fcntl): nothing stops a second process from opening "
                        "the memory folder %s and corrupting it; run one process per folder, or a Chroma server "
                        "(FASHIONM3_CHROMA_URL) for several", key)
            _folder_locks[key] = _FolderLock(handle=None, pid=os.getpid())
            return key
        lock_path = folder / LOCK_FILE
        handle = open(lock_path, "a+")  # noqa: SIM115 - held open until release
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    handle.close()
                    raise StoreLockedError(
                        f"the embedded memory store at {key} is in use by another process (pid {holder}); "
                        f"waited {timeout:g} s. Embedded Chroma allows one process per folder: run "
                        f"`chroma run --path {key}` and set CHROMA_URL (or FASHIONM3_CHROMA_URL) to share "
                        "memory between processes."
                    ) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _folder_locks[key] = _FolderLock(handle=handle, pid=os.getpid())
        return key


def _release_folder(key: str) -> None:
    with _folder_locks_guard:
        held = _folder_locks.get(key)
        if held is None or held.pid != os.getpid():
            return
        held.count -= 1
        if held.count > 0:
            return
        del _folder_locks[key]
        if held.handle is not None:
            import fcntl

            fcntl.flock(held.handle.fileno(), fcntl.LOCK_UN)
            held.handle.close()
