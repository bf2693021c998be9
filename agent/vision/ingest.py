"""Photos entering a conversation: read, decode, store content-addressed, and understand with the image encoder.

This sits above :mod:`agent.media` (image input and storage, no model) and beside the encoder, so
``media`` never imports ``vision``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from agent.media import check_usable, decode_image, is_media_id, read_attachment, store_image
from agent.plan import ImageInfo

if TYPE_CHECKING:
    from agent.vision.encoder import ImageEncoderBackend
    from agent.vision.photos import PhotoCache

log = logging.getLogger(__name__)


def ingest_attachment(att: Any, media_dir: Path, turn: int, max_bytes: int, max_pixels: int,
                      encoder: ImageEncoderBackend | None = None, photos: PhotoCache | None = None) -> ImageInfo:
    """Validate, normalise and store one attachment; return its reference, with what it shows.

    Args:
        att: A file path, or ``{"data_base64", "name"}`` (optionally with a known ``sha256``).
        media_dir: Folder the normalised photo is stored in, as ``<sha256>.png``.
        turn: The turn it arrived in.
        max_bytes: Largest accepted upload, in bytes.
        max_pixels: Largest accepted image, in pixels.
        encoder: The run's image encoder (``Services.get_image_encoder(settings)``); default: ours.
        photos: Where the decoded photo and its vector are kept for the rest of the turn (and later
            turns); default: the process-wide cache.
    """
    data, name = read_attachment(att, max_bytes)
    img = decode_image(data, name, max_pixels)
    check_usable(img, name)
    known = str(att.get("sha256") or "") if isinstance(att, dict) else ""
    sha = known if is_media_id(known) else hashlib.sha256(data).hexdigest()
    path = store_image(img, media_dir, sha)
    info = ImageInfo(sha256=sha, path=str(path), turn=turn, width=img.width, height=img.height)
    return with_role(img, understand(img, info, encoder, photos))


def with_role(img: Image.Image, info: ImageInfo) -> ImageInfo:
    """Tell whether a photo shows a person (mediapipe's pose and face models) or a garment, and record it."""
    import numpy as np

    try:
        from agent.tryon.body import get_analyzer

        people, upright = get_analyzer().people(np.asarray(img.convert("RGB")))
    except ImportError:  # no body detector installed: the role stays unknown
        return info
    if people:
        return info.model_copy(update={"role": "person", "people": people, "upright": upright})
    role = "garment" if info.category and info.category_confidence >= 0.3 else "other"
    return info.model_copy(update={"role": role})


_warned: set[str] = set()


def understand(img: Image.Image, info: ImageInfo, encoder: ImageEncoderBackend | None = None,
               photos: PhotoCache | None = None) -> ImageInfo:
    """Fill in what the image shows (category and colour, with confidences) using the image encoder.

    The photo is encoded once: its vector stays in ``photos`` (default: the process-wide cache) for image
    search and the planner. When our encoder's weights are not installed, only the dominant colour is
    estimated, and a warning says so.

    Raises:
        MissingDependencyError: if a package the encoder needs (torch, safetensors, transformers) is missing.
    """
    from agent.deps import missing
    from agent.vision.encoder import get_image_encoder
    from agent.vision.photos import photo_cache

    cache = photos if photos is not None else photo_cache()
    try:
        enc = encoder if encoder is not None else get_image_encoder("")
        _, u = cache.understand(info, enc, img)
    except ImportError as exc:
        raise missing(exc, "Understanding photos (the image encoder)") from exc
    except FileNotFoundError as exc:  # our encoder's weights are not installed
        if str(exc) not in _warned:
            _warned.add(str(exc))
            log.warning("photos get only a colour estimate, no category: %s", exc)
        return info.model_copy(update=_colour_only(img))
    return info.model_copy(update={
        "category": u.category, "category_confidence": float(u.category_confidence),
        "color": u.color, "color_confidence": float(u.color_confidence),
    })


def _colour_only(img: Image.Image) -> dict[str, Any]:
    import numpy as np

    from agent.catalog.tint import dominant_color
    from agent.catalog.vocab import nearest_color

    small = np.asarray(img.resize((64, 64)))
    return {"color": nearest_color(dominant_color(small)), "color_confidence": 0.5}
