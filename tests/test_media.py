from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.media import ImageInputError, decode_image, read_attachment
from agent.vision.ingest import ingest_attachment

MAX = 10 * 1024 * 1024
PIX = 40_000_000


def _png(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def test_stores_content_addressed_and_deduplicates(tmp_path: Path) -> None:
    from skimage.data import astronaut

    src = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut()).save(src, quality=90)
    a = ingest_attachment(str(src), tmp_path / "media", 1, MAX, PIX)
    b = ingest_attachment({"data_base64": base64.b64encode(src.read_bytes()).decode(), "name": "x.jpg"},
                          tmp_path / "media", 2, MAX, PIX)
    assert a.sha256 == b.sha256 and a.path == b.path
    assert Path(a.path).name == f"{a.sha256}.png"
    assert (a.width, a.height) == (512, 512)
    assert len(list((tmp_path / "media").iterdir())) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, I am text", "not a readable image"),
        (_png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))[:900],
         "not a readable image"),
    ],
)
def test_unreadable_images_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(ImageInputError, match=message):
        decode_image(data, "photo.png", PIX)


def test_oversized_pixels_refused_before_decoding() -> None:
    data = _png(Image.new("L", (8000, 6000)))
    with pytest.raises(ImageInputError, match="8000x6000 pixels, over the 40,000,000-pixel limit"):
        decode_image(data, "huge.png", PIX)


def test_oversized_file_refused_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    p.write_bytes(b"\0" * 2048)
    with pytest.raises(ImageInputError, match="over the 0 MB limit"):
        read_attachment(str(p), 1024)


def test_missing_file_and_bad_base64(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="does not exist"):
        read_attachment(str(tmp_path / "nope.jpg"), MAX)
    with pytest.raises(ImageInputError, match="not valid base64"):
        read_attachment({"data_base64": "@@@", "name": "x.png"}, MAX)
    with pytest.raises(ImageInputError, match="file path or an object"):
        read_attachment(42, MAX)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _png(Image.new("RGBA", (10, 10), (255, 0, 0, 0))),
        lambda: _png(Image.new("CMYK", (10, 10), (0, 255, 255, 0)), format="JPEG"),
        lambda: _png(Image.fromarray(np.full((10, 10), 40000, dtype=np.uint16))),
        lambda: _png(Image.new("P", (10, 10), 3)),
        lambda: _png(Image.new("L", (10, 10), 128)),
    ],
)
def test_unusual_modes_normalised_to_rgb(make) -> None:  # type: ignore[no-untyped-def]
    img = decode_image(make(), "x", PIX)
    assert img.mode == "RGB" and img.size == (10, 10)


def test_transparent_becomes_white_and_animated_takes_first_frame() -> None:
    img = decode_image(_png(Image.new("RGBA", (4, 4), (255, 0, 0, 0))), "x", PIX)
    assert img.getpixel((0, 0)) == (255, 255, 255)
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    img = decode_image(buf.getvalue(), "anim.gif", PIX)
    r, g, b = img.getpixel((0, 0))
    assert r > 200 and b < 50
