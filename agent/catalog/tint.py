"""Colour a grey Fashion-MNIST garment and place it on a light background.

Fashion-MNIST garments are bright on black. We use the grey level as coverage (alpha) and as
shading, so the garment takes the named colour with its texture kept, on an off-white background.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

BACKGROUND = (250, 250, 250)


def tint_array(gray: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """Return an ``(H, W, 3)`` uint8 image of the garment in ``gray`` coloured ``rgb``."""
    g = gray.astype(np.float32) / 255.0
    alpha = np.clip(g * 4.0, 0.0, 1.0)[..., None]
    peak = max(float(g.max()), 1e-6)
    shade = (0.78 + 0.22 * (g / peak))[..., None]
    colour = np.asarray(rgb, dtype=np.float32)[None, None, :]
    garment = np.clip(colour * shade, 0, 255)
    bg = np.asarray(BACKGROUND, dtype=np.float32)[None, None, :]
    out = bg * (1.0 - alpha) + garment * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def tint_image(gray: np.ndarray, rgb: tuple[int, int, int], size: int = 224) -> Image.Image:
    """Return the tinted garment as an RGB PIL image upscaled to ``size`` pixels square."""
    img = Image.fromarray(tint_array(gray, rgb), mode="RGB")
    if size != img.width:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return img


def garment_mask(img: np.ndarray, threshold: float = 24.0) -> np.ndarray:
    """Return a boolean mask of pixels that differ from the background (the garment)."""
    arr = img.astype(np.float32)
    diff = np.abs(arr - np.asarray(BACKGROUND, dtype=np.float32)).max(axis=-1)
    return diff > threshold


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(r):
        m = out
        out = m.copy()
        out[1:, :] &= m[:-1, :]
        out[:-1, :] &= m[1:, :]
        out[:, 1:] &= m[:, :-1]
        out[:, :-1] &= m[:, 1:]
    return out


def dominant_color(img: np.ndarray) -> tuple[float, float, float]:
    """Return the median RGB of the garment's core pixels (edges eroded; falls back to the whole image)."""
    arr = img.astype(np.float32)
    mask = garment_mask(img, threshold=10.0)
    core = _erode(mask, max(1, img.shape[0] // 32))
    if core.sum() >= 0.01 * core.size:
        mask = core
    pix = arr[mask] if mask.sum() >= 0.005 * mask.size else arr.reshape(-1, 3)
    return tuple(float(x) for x in np.median(pix, axis=0))  # type: ignore[return-value]
