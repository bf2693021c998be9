"""Make the image assets the eval conversations use (deterministic; run once, outputs are committed).

Garment photos are Fashion-MNIST *test-split* images (the catalog only uses the train split), tinted
like catalog items and upscaled to 224 px. ``astronaut.png`` is a real photo from scikit-image.
Usage: python evals/make_assets.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.catalog.fmnist import load_split
from agent.catalog.tint import tint_image
from agent.catalog.vocab import CATEGORIES, COLORS

ASSETS = Path(__file__).resolve().parent / "conversations" / "assets"

#: name -> (category, colour, which test image of that class)
GARMENTS = {
    "grey-ankle-boots": ("ankle_boots", "grey", 0),
    "red-dress": ("dress", "red", 0),
    "white-sneakers": ("sneakers", "white", 0),
    "brown-bag": ("bag", "brown", 0),
    "blue-trousers": ("trousers", "blue", 0),
    "beige-coat": ("coat", "beige", 0),
    "navy-pullover": ("pullover", "navy", 0),
}


def main() -> None:
    """Write the PNG assets."""
    images, labels = load_split("test")
    ASSETS.mkdir(parents=True, exist_ok=True)
    for name, (category, color, nth) in GARMENTS.items():
        idx = np.flatnonzero(labels == CATEGORIES.index(category))[nth]
        tint_image(images[idx], COLORS[color], size=224).save(ASSETS / f"{name}.png")
    from PIL import Image
    from skimage.data import astronaut

    Image.fromarray(astronaut()).save(ASSETS / "astronaut.png")


if __name__ == "__main__":
    main()
