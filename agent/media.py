"""Image attachments: validate, normalise and store content-addressed; state keeps references only.

An upload is checked for size before it is read, decoded with a pixel cap (decompression bombs),
normalised to RGB (animated: first frame; transparency: composited on white; CMYK, 16-bit, palette
and greyscale: converted), and saved once as ``<sha256>.png`` under the media folder. Writes are
atomic, so a failure never leaves a half-written file. Understanding a photo with the image encoder
is :mod:`agent.vision.ingest` (this module imports no model).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

log = logging.getLogger(__name__)


class ImageInputError(ValueError):
    """An attachment we cannot use; the message says what was wrong and what to do.

    ``code`` says which kind of problem (the HTTP service maps it to a status): ``too_large`` (bytes or
    pixels over a limit), ``unsupported_media_type`` (not an image format we read), ``bad_image``
    (anything else: missing, empty, corrupt, bad base64).
    """

    def __init__(self, message: str, code: str = "bad_image") -> None:
        super().__init__(message)
        self.code = code


def read_attachment(att: Any, max_bytes: int) -> tuple[bytes, str]:
    """Return ``(bytes, display_name)`` of an attachment given as a path or ``{data_base64, name}``."""
    if isinstance(att, str) or (isinstance(att, dict) and "path" in att):
        raw_path = att if isinstance(att, str) else str(att["path"])
        path = Path(raw_path).expanduser()
        if not path.is_file():
            raise ImageInputError(f"Image {raw_path!r} does not exist or is not a file; check the path.")
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageInputError(
                f"Image {path.name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; "
                "send a smaller or compressed photo.", code="too_large"
            )
        return path.read_bytes(), path.name
    if isinstance(att, dict) and "data_base64" in att:
        name = str(att.get("name") or "upload")
        encoded = str(att["data_base64"])
        if len(encoded) * 3 // 4 > max_bytes:
            raise ImageInputError(
                f"Image {name} is over the {max_bytes / 1e6:.0f} MB limit; send a smaller or compressed photo.",
                code="too_large",
            )
        try:
            return base64.b64decode(encoded, validate=True), name
        except (binascii.Error, ValueError) as exc:
            raise ImageInputError(f"Image {name} is not valid base64 data; re-encode the file.") from exc
    raise ImageInputError(
        "An attachment must be a file path or an object with 'data_base64' and 'name'; got "
        f"{type(att).__name__}."
    )


#: Smallest side, and largest ratio of the long side to the short one, of a photo worth understanding.
MIN_SIDE = 32
MAX_ASPECT = 8.0


def check_usable(img: Image.Image, name: str) -> None:
    """Refuse a photo too small, or too thin a strip, to show anything (a 1x1 pixel, a 20000x30 banner).

    Raises:
        ImageInputError: saying what is wrong with it.
    """
    w, h = img.size
    if max(w, h) / min(w, h) > MAX_ASPECT:
        raise ImageInputError(f"{name} is a thin strip ({w}x{h} pixels), not a photo of a garment or a person; "
                              "attach an ordinary photo")
    if min(w, h) < MIN_SIDE:
        raise ImageInputError(f"{name} is too small to see anything ({w}x{h} pixels); attach a photo at least "
                              f"{MIN_SIDE} pixels on each side")


def decode_image(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Decode image bytes into an RGB PIL image, refusing non-images and oversized images."""
    return load_image(data, max_pixels=max_pixels, name=name)


def load_image(
    source: str | Path | bytes | IO[bytes], max_pixels: int = 40_000_000, name: str | None = None
) -> Image.Image:
    """Open an image file or bytes and return it as an RGB PIL image.

    Animated images give their first frame, transparency is composited on white, and CMYK, 16-bit,
    palette and greyscale images are converted to 8-bit RGB. EXIF orientation is applied.

    Args:
        source: A path, the raw file bytes, or a binary file object.
        max_pixels: Largest accepted width x height, checked from the header before decoding.
        name: How to call the image in error messages (default: the file name, else "the image").

    Raises:
        ImageInputError: if the file is missing, empty, not an image, corrupt, or too large.
    """
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "the image")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageInputError(f"image file {str(path)!r} does not exist; check the path and try again")
        data: IO[bytes] = io.BytesIO(path.read_bytes())
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = io.BytesIO(bytes(source))
    else:
        data = source
    if isinstance(data, io.BytesIO) and not data.getbuffer().nbytes:
        raise ImageInputError(f"{label} is empty (0 bytes); attach a PNG, JPEG, WebP or GIF file again")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(data)
            width, height = img.size
            if width * height > max_pixels:
                raise ImageInputError(
                    f"{label} is too large ({width}x{height} pixels, over the {max_pixels:,}-pixel limit); "
                    "resize it below that and try again", code="too_large"
                )
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.load()
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageInputError(
            f"{label} is too large to decode safely ({exc}); resize it below {max_pixels:,} pixels and try again",
            code="too_large",
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageInputError(
            f"{label} is not a readable image (not an image format we can read); use a PNG, JPEG, WebP, GIF, "
            "BMP or TIFF file", code="unsupported_media_type"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(
            f"{label} is not a readable image: its data is corrupt or truncated ({exc}); re-export or "
            "re-download the file and try again"
        ) from exc
    oriented: Image.Image = img
    try:
        oriented = ImageOps.exif_transpose(img) or img
    except (OSError, ValueError, SyntaxError):
        pass
    return to_rgb(oriented)


def to_rgb(img: Image.Image) -> Image.Image:
    """Return ``img`` as 8-bit RGB: transparency on white, 16-bit and float modes rescaled.

    Raises:
        ImageInputError: if the colour mode cannot be converted.
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            peak = float(arr.max()) if arr.size else 0.0
            if mode == "F" and peak <= 1.0:
                arr = arr * 255.0
            elif peak > 255.0:
                arr = arr * (255.0 / (65535.0 if peak <= 65535.0 else peak))
        grey = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode != "RGB" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageInputError(
            f"images in colour mode {mode!r} are not supported; save it as an RGB PNG or JPEG and try again"
        ) from exc


def _atomic_save(img: Image.Image, path: Path, meta: dict[str, str] | None = None) -> None:
    info = None
    if meta:
        info = PngInfo()
        for key, value in meta.items():
            info.add_text(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
    os.close(fd)
    try:
        img.save(tmp, format="PNG", pnginfo=info)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_image(img: Image.Image, media_dir: Path, sha: str, meta: dict[str, str] | None = None) -> Path:
    """Save ``img`` as ``<sha>.png`` under ``media_dir`` (PNG text chunks ``meta``) unless it is already there.

    The write is atomic: a failure never leaves a half-written file.
    """
    path = media_dir / f"{sha}.png"
    if not path.exists():
        _atomic_save(img, path, meta)
    return path


def is_media_id(value: str) -> bool:
    """Whether ``value`` is a media id: 64 lower-case hex digits (a SHA-256), nothing else."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
