"""The photos of a conversation, decoded and encoded once per process: a cache keyed by content hash.

A photo is stored content-addressed (``<sha256>.png``), so its hash names its pixels. The turn that
receives it decodes it once (to validate and store it) and runs the image encoder once (to say what it
shows); the vector made then is the one image search, the planner and every later turn use. Images
read back from the media folder (generated ones, earlier turns after a restart) are decoded once too.

:func:`embed_image` is the entry point for code without a :class:`~agent.services.Services` (a planner);
tools reach the same cache through :class:`~tools.base.ToolContext`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from agent import media

if TYPE_CHECKING:
    from PIL import Image

    from agent.plan import ImageInfo
    from agent.vision.encoder import ImageEncoderBackend, ImageUnderstanding

#: Largest photo read back from the media folder, in pixels (``Context.max_image_pixels``'s default).
DEFAULT_MAX_PIXELS = 40_000_000

_V = TypeVar("_V")


class PhotoCache:
    """Decoded photos and their encoder vectors, by sha256; thread-safe, bounded, shared per process.

    Vectors are kept per encoder instance (the encoders of :func:`~agent.vision.get_image_encoder` live
    as long as the process), so a CLIP search backend and our encoder never mix. Decoded images are
    kept up to ``max_image_bytes`` of pixels, least recently used first out; vectors up to
    ``max_vectors``. Values are shared: callers must not modify them (vectors are read-only).

    Attributes:
        decodes: How many images this cache has decoded from files.
        encodes: How many images it has run through an encoder.
    """

    def __init__(self, max_vectors: int = 4096, max_image_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_vectors = max_vectors
        self.max_image_bytes = max_image_bytes
        self._images: OrderedDict[str, Image.Image] = OrderedDict()
        self._image_bytes = 0
        self._vectors: OrderedDict[tuple[int, str], tuple[Any, np.ndarray, ImageUnderstanding | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[Any, threading.Lock] = {}
        self.decodes = 0
        self.encodes = 0

    # -- decoded images ----------------------------------------------------------------------------

    def put_image(self, sha: str, img: Image.Image) -> None:
        """Remember an image decoded elsewhere (the upload being ingested) under its hash."""
        size = img.width * img.height * max(len(img.getbands()), 1)
        if size > self.max_image_bytes:
            return
        with self._lock:
            old = self._images.pop(sha, None)
            if old is not None:
                self._image_bytes -= old.width * old.height * max(len(old.getbands()), 1)
            self._images[sha] = img
            self._image_bytes += size
            while self._image_bytes > self.max_image_bytes and self._images:
                _, dropped = self._images.popitem(last=False)
                self._image_bytes -= dropped.width * dropped.height * max(len(dropped.getbands()), 1)

    def image(self, info: ImageInfo, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
        """Return the photo ``info`` refers to as RGB, decoding its file only when not already decoded.

        Raises:
            ImageInputError: if the file is missing, unreadable or over ``max_pixels``.
        """
        with self._lock:
            img = self._images.get(info.sha256)
            if img is not None:
                self._images.move_to_end(info.sha256)
                return img

        def decode() -> Image.Image:
            with self._lock:
                found = self._images.get(info.sha256)
            if found is not None:
                return found
            decoded = media.load_image(Path(info.path), max_pixels=max_pixels, name=Path(info.path).name)
            with self._lock:
                self.decodes += 1
            self.put_image(info.sha256, decoded)
            return decoded

        return self._once(("image", info.sha256), decode)

    # -- vectors -----------------------------------------------------------------------------------

    def vector(self, info: ImageInfo, encoder: ImageEncoderBackend, max_pixels: int = DEFAULT_MAX_PIXELS,
               ) -> np.ndarray:
        """Return ``encoder``'s unit vector of the photo, encoding it only the first time.

        Raises:
            ImageInputError: if the photo has to be read and cannot be.
        """
        key = (id(encoder), info.sha256)
        found = self._lookup(key)
        if found is not None:
            return found[1]

        def encode() -> tuple[Any, np.ndarray, ImageUnderstanding | None]:
            again = self._lookup(key)
            if again is not None:
                return again
            img = self.image(info, max_pixels)
            vec = np.asarray(encoder.encode([img])[0], dtype=np.float32)
            return self._store(key, encoder, vec, None)

        return self._once(key, encode)[1]

    def understand(self, info: ImageInfo, encoder: ImageEncoderBackend, img: Image.Image | None = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, ImageUnderstanding]:
        """Return the photo's vector and what ``encoder`` makes of it, running the encoder once for both.

        ``img`` is the already decoded photo (the upload being ingested); it is remembered for later use.
        Encoders with ``embed_and_classify`` (ours, CLIP) encode the photo once; others are asked twice.
        """
        if img is not None:
            self.put_image(info.sha256, img)
        key = (id(encoder), info.sha256)
        found = self._lookup(key)
        if found is not None and found[2] is not None:
            return found[1], found[2]

        def run() -> tuple[Any, np.ndarray, ImageUnderstanding | None]:
            again = self._lookup(key)
            if again is not None and again[2] is not None:
                return again
            photo = img if img is not None else self.image(info, max_pixels)
            both = getattr(encoder, "embed_and_classify", None)
            if callable(both):
                vecs, understood = both([photo])
                vec, u = vecs[0], understood[0]
            else:
                vec, u = encoder.encode([photo])[0], encoder.classify(photo)
            return self._store(key, encoder, np.asarray(vec, dtype=np.float32), u)

        _, vec, u = self._once(key, run)
        assert u is not None
        return vec, u

    def clear(self) -> None:
        """Forget every image and vector (the counters too)."""
        with self._lock:
            self._images.clear()
            self._vectors.clear()
            self._image_bytes = 0
            self.decodes = self.encodes = 0

    # -- internals ---------------------------------------------------------------------------------

    def _lookup(self, key: tuple[int, str]) -> tuple[Any, np.ndarray, ImageUnderstanding | None] | None:
        with self._lock:
            found = self._vectors.get(key)
            if found is not None:
                self._vectors.move_to_end(key)
            return found

    def _store(self, key: tuple[int, str], encoder: Any, vec: np.ndarray, u: ImageUnderstanding | None,
               ) -> tuple[Any, np.ndarray, ImageUnderstanding | None]:
        vec = vec.copy()
        vec.flags.writeable = False
        # The encoder is held with its vectors so its id is never reused for another while they are kept.
        entry = (encoder, vec, u)
        with self._lock:
            self.encodes += 1
            self._vectors[key] = entry
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.max_vectors:
                self._vectors.popitem(last=False)
        return entry

    def _once(self, key: Any, make: Callable[[], _V]) -> _V:
        """Run ``make`` for ``key`` in one thread at a time (others wait, then find its result cached)."""
        with self._lock:
            lock = self._inflight.setdefault(key, threading.Lock())
        try:
            with lock:
                return make()
        finally:
            with self._lock:
                if self._inflight.get(key) is lock and not lock.locked():
                    del self._inflight[key]


_PHOTOS = PhotoCache()


def photo_cache() -> PhotoCache:
    """Return the process-wide photo cache."""
    return _PHOTOS


def embed_image(info: ImageInfo, encoder: ImageEncoderBackend | None = None,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return the image encoder's unit vector of a stored photo, decoding and encoding it once per process.

    The vector is the one the turn that received the photo already made (for its category and colour)
    whenever the encoders are the same.

    Args:
        info: The photo (its ``sha256`` and ``path``), as in ``PlannerInput.images``.
        encoder: The encoder to use; default: our shipped fashion encoder (``get_image_encoder("")``),
            the one the planners' photo projector was trained on.
        max_pixels: Largest image read back from its file.

    Returns:
        A read-only float32 vector (``(384,)`` for our encoder).

    Raises:
        ImageInputError: if the photo is not cached and its file is missing or unreadable (a ``ValueError``).
    """
    if encoder is None:
        from agent.vision.encoder import get_image_encoder

        encoder = get_image_encoder("")
    return _PHOTOS.vector(info, encoder, max_pixels)
