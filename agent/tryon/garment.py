"""Cut a garment from its plain background (catalog images: off-white; uploads: any uniform colour)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.tryon.base import TryOnInputError

#: Most a border pixel may differ from the background colour to count as background.
BORDER_SPREAD = 28.0
#: Share of the border that must be plain background (garments may touch the edges).
PLAIN_BORDER = 0.5
#: Difference from the background colour that counts as garment (as the catalog's ``garment_mask``).
THRESHOLD = 24.0


@dataclass
class Garment:
    """A garment cut out of its image.

    Attributes:
        rgb: ``(h, w, 3)`` uint8 crop around the garment.
        alpha: ``(h, w)`` float32 coverage in ``[0, 1]`` (0 outside the garment).
    """

    rgb: np.ndarray
    alpha: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """Boolean garment mask."""
        return self.alpha > 0.5


def cut_garment(rgb: np.ndarray) -> Garment:
    """Return the garment of ``rgb`` (one object on a plain background) cropped with its alpha.

    Raises:
        TryOnInputError: if the background is not plain, or no single garment stands out from it.
    """
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 16:
        raise TryOnInputError("The garment image is too small or not RGB; use a product photo.")
    arr = rgb.astype(np.float32)
    b = max(2, min(rgb.shape[:2]) // 50)
    border = np.concatenate([arr[:b].reshape(-1, 3), arr[-b:].reshape(-1, 3),
                             arr[:, :b].reshape(-1, 3), arr[:, -b:].reshape(-1, 3)])
    q = (border // 8).astype(np.int32)
    keys, counts = np.unique(q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2], return_counts=True)
    top = int(keys[np.argmax(counts)])
    modal = (q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2]) == top
    bg = np.median(border[modal], axis=0)
    plain = float((np.abs(border - bg).max(axis=1) <= BORDER_SPREAD).mean())
    if plain < PLAIN_BORDER:
        raise TryOnInputError(
            "I can't separate this garment from its background; use a product photo of the garment alone on "
            "a plain background."
        )
    diff = np.abs(arr - bg).max(axis=-1)
    mask = (diff > THRESHOLD).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise TryOnInputError("The garment image looks empty: nothing stands out from its background.")
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    keep = labels == largest
    frac = float(keep.mean())
    if frac < 0.03 or frac > 0.95:
        raise TryOnInputError(
            "I can't separate this garment from its background; use a product photo of the garment alone on "
            "a plain background."
        )
    holes = (~keep).astype(np.uint8)
    _, hl, hs, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    touching = set(np.unique(np.concatenate([hl[0], hl[-1], hl[:, 0], hl[:, -1]])).tolist())
    small_hole = np.isin(hl, [i for i in range(1, hs.shape[0])
                              if i not in touching and hs[i, cv2.CC_STAT_AREA] < 0.02 * keep.size])
    keep |= small_hole
    alpha = np.clip((diff - THRESHOLD * 0.5) / THRESHOLD, 0.0, 1.0).astype(np.float32)
    alpha = np.where(keep, np.maximum(alpha, 0.9 * keep), 0.0).astype(np.float32)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0) * keep
    ys, xs = np.nonzero(keep)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return Garment(rgb=np.ascontiguousarray(rgb[y0:y1, x0:x1]), alpha=np.ascontiguousarray(alpha[y0:y1, x0:x1]))
