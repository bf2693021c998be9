"""Virtual try-on: show a garment on the shopper's photo.

Backends (chosen by ``FASHIONM3_TRYON_BACKEND``):

- ``mediapipe`` (default): pose landmarks and a person mask from mediapipe 0.10.14 (TFLite models shipped
  in its wheel) find the clothes the shopper wears where the garment goes (minus skin, hair, face and
  hands); they are recoloured in Lab to the garment's colour keeping the photo's shading
  (:mod:`agent.tryon.clothing`, :mod:`agent.tryon.recolour`). Everything else stays untouched.
- ``inpaint``: a diffusers inpainting pipeline repaints the same body region from a garment prompt.
- ``http``: an external try-on service speaking the JSON contract in :mod:`agent.tryon.http_backend`.

Importing this package does not import mediapipe, cv2, torch or diffusers.
"""

from agent.tryon.backends import get_backend
from agent.tryon.base import (
    TRYON_CATEGORIES,
    TryOnBackend,
    TryOnInputError,
    TryOnRequest,
    TryOnResult,
)

__all__ = ["TRYON_CATEGORIES", "TryOnBackend", "TryOnInputError", "TryOnRequest", "TryOnResult", "get_backend"]
