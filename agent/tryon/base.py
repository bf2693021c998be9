"""What every try-on backend takes and returns, input checks shared by all, and backend selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agent.catalog.vocab import category_label

ENV_BACKEND = "FASHIONM3_TRYON_BACKEND"

#: Categories that can be shown on a person, and the body region each covers.
TRYON_CATEGORIES: dict[str, str] = {
    "top": "shoulders to hips",
    "shirt": "shoulders to hips",
    "pullover": "shoulders to hips",
    "coat": "shoulders to mid-thigh",
    "dress": "shoulders to knees",
    "trousers": "hips to ankles",
}

#: Smallest and largest accepted person photo.
MIN_SIDE = 128
MAX_SIDE = 4096
MAX_PIXELS = 16_000_000


class TryOnInputError(ValueError):
    """A photo or garment we cannot use; the message says what was wrong and what to do."""


@dataclass
class TryOnRequest:
    """A person photo and a garment to show on it.

    Attributes:
        person: ``(H, W, 3)`` uint8 RGB photo of the shopper.
        garment: ``(h, w, 3)`` uint8 RGB image of the garment on a plain background.
        category: Canonical category of the garment (decides the body region).
        color: Basic colour name of the garment (used in prompts).
        description: Title or description of the garment (used in prompts).
    """

    person: np.ndarray
    garment: np.ndarray
    category: str
    color: str = ""
    description: str = ""


@dataclass
class TryOnResult:
    """The person photo with the garment on it, and where the garment was drawn.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB result, same size as the person photo.
        mask: ``(H, W)`` bool mask of the pixels the backend changed (may be all-False if unknown).
        backend: Name of the backend that made it.
        data: Backend-specific figures (timings, landmarks, coverage).
    """

    image: np.ndarray
    mask: np.ndarray
    backend: str
    data: dict[str, Any] = field(default_factory=dict)


class TryOnBackend(Protocol):
    """A try-on backend: ``try_on`` raises :class:`TryOnInputError` for inputs the shopper can fix."""

    name: str

    def try_on(self, request: TryOnRequest) -> TryOnResult:
        """Return the person photo with the garment on it."""
        ...


def check_category(category: str) -> None:
    """Refuse categories that are not worn on the body region a photo shows (shoes, bags)."""
    if category not in TRYON_CATEGORIES:
        worn = ", ".join(category_label(c, plural=True) for c in TRYON_CATEGORIES)
        raise TryOnInputError(
            f"Sorry, I can't show {category_label(category, plural=True)} on a photo yet: try-on works for "
            f"clothes ({worn}). I can find outfits that go with them instead."
        )


def check_person_photo(person: np.ndarray) -> None:
    """Refuse photos that are too small or too large to use."""
    if person.ndim != 3 or person.shape[2] != 3:
        raise TryOnInputError("The photo must be an RGB image; attach a regular colour photo.")
    h, w = person.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise TryOnInputError(
            f"Your photo is only {w}x{h} pixels, too small to find your body; attach one at least "
            f"{MIN_SIDE * 2} pixels on its shorter side."
        )
    if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise TryOnInputError(
            f"Your photo is {w}x{h} pixels, too large for try-on (at most {MAX_SIDE} pixels a side and "
            f"{MAX_PIXELS // 1_000_000} megapixels); resize it and attach it again."
        )


