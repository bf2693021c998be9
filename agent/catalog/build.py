"""Build the default catalog from Fashion-MNIST: real product images with generated metadata.

Every value comes from a seeded ``numpy.random.Generator``, so the same seed and size give the same
catalog byte for byte. Colour is applied to the image by tinting, so what the title says is what the
picture shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from agent.catalog.fmnist import load_split
from agent.catalog.models import Item, Variant
from agent.catalog.tint import tint_image
from agent.catalog.vocab import CATEGORIES, COLORS, FOOTWEAR

ID_PREFIX = {
    "top": "TOP", "trousers": "TRS", "pullover": "PUL", "dress": "DRS", "coat": "COT",
    "sandals": "SND", "shirt": "SHT", "sneakers": "SNK", "bag": "BAG", "ankle_boots": "BOT",
}

NOUNS = {
    "top": ("T-Shirt", "Tee", "Blouse", "Tank Top", "Crop Top"),
    "trousers": ("Trousers", "Jeans", "Chinos", "Slacks", "Joggers"),
    "pullover": ("Pullover", "Sweater", "Jumper", "Hoodie", "Cardigan"),
    "dress": ("Dress", "Midi Dress", "Maxi Dress", "Sundress", "Wrap Dress"),
    "coat": ("Coat", "Jacket", "Parka", "Trench Coat", "Overcoat"),
    "sandals": ("Sandals", "Strappy Sandals", "Slides", "Heeled Sandals", "Espadrilles"),
    "shirt": ("Shirt", "Oxford Shirt", "Button-Down Shirt", "Flannel Shirt", "Poplin Shirt"),
    "sneakers": ("Sneakers", "Trainers", "Running Shoes", "Low-Top Sneakers", "High-Top Sneakers"),
    "bag": ("Bag", "Tote", "Handbag", "Crossbody Bag", "Clutch"),
    "ankle_boots": ("Ankle Boots", "Chelsea Boots", "Heeled Ankle Boots", "Lace-Up Ankle Boots", "Booties"),
}

MATERIALS_BY_CATEGORY = {
    "top": ("cotton", "linen", "silk", "polyester", "knit"),
    "trousers": ("denim", "cotton", "linen", "wool", "polyester"),
    "pullover": ("wool", "cashmere", "cotton", "knit", "fleece"),
    "dress": ("cotton", "silk", "linen", "satin", "polyester"),
    "coat": ("wool", "leather", "nylon", "polyester", "suede"),
    "sandals": ("leather", "suede", "canvas"),
    "shirt": ("cotton", "linen", "silk", "denim"),
    "sneakers": ("canvas", "leather", "mesh", "suede"),
    "bag": ("leather", "canvas", "nylon", "suede"),
    "ankle_boots": ("leather", "suede"),
}

STYLES_BY_CATEGORY: dict[str, dict[str, float]] = {
    "top": {"casual": 4, "sporty": 1.5, "evening": 1.5, "classic": 1.5, "streetwear": 1.5, "boho": 1},
    "trousers": {"casual": 3, "formal": 2, "business": 2, "sporty": 1, "streetwear": 1, "classic": 1.5},
    "pullover": {"casual": 4, "classic": 2, "streetwear": 1.5, "sporty": 1},
    "dress": {"evening": 3, "formal": 2, "casual": 2, "boho": 1.5, "classic": 1},
    "coat": {"formal": 2, "classic": 2.5, "business": 1.5, "casual": 2, "streetwear": 1},
    "sandals": {"evening": 2.5, "casual": 3, "boho": 1.5, "formal": 1},
    "shirt": {"formal": 2.5, "business": 2.5, "casual": 2.5, "classic": 1.5},
    "sneakers": {"sporty": 3, "casual": 3, "streetwear": 2},
    "bag": {"formal": 1.5, "evening": 2, "casual": 2.5, "business": 1.5, "classic": 1.5},
    "ankle_boots": {"formal": 1.5, "casual": 2.5, "classic": 2, "evening": 1.5, "streetwear": 1},
}

ADJECTIVES = {
    "casual": ("Relaxed", "Everyday", "Easy"),
    "formal": ("Tailored", "Elegant", "Sharp"),
    "sporty": ("Active", "Performance", "Training"),
    "evening": ("Evening", "Statement", "Night-Out"),
    "business": ("Office", "Structured", "Smart"),
    "streetwear": ("Oversized", "Urban", "Street"),
    "boho": ("Flowing", "Boho", "Free-Spirit"),
    "classic": ("Classic", "Timeless", "Heritage"),
}

COLOR_WEIGHTS = {
    "black": 16, "white": 10, "grey": 9, "navy": 9, "blue": 8, "red": 7, "green": 6, "beige": 8,
    "brown": 6, "pink": 5, "yellow": 4, "purple": 4, "orange": 4,
}

BASE_PRICE = {
    "top": 22, "trousers": 45, "pullover": 48, "dress": 65, "coat": 110, "sandals": 42, "shirt": 38,
    "sneakers": 70, "bag": 60, "ankle_boots": 90,
}
MATERIAL_PRICE = {"leather": 1.45, "cashmere": 1.9, "silk": 1.5, "suede": 1.35, "wool": 1.25, "satin": 1.2}
STYLE_PRICE = {"formal": 1.25, "evening": 1.3, "business": 1.2, "classic": 1.1}

BRANDS = (
    "Nordvik", "Maison Lune", "Urbanist", "Kestrel", "Alder & Co", "Sora", "Bellweather", "Fjell",
    "Marlowe", "Tessaro", "Ondine", "Harbour Lane",
)


def _choice(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    p = np.asarray([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def make_item(category: str, n: int, rng: np.random.Generator, source_index: int) -> Item:
    """Draw the metadata of one item of ``category`` (the ``n``-th of its class)."""
    color = _choice(rng, COLOR_WEIGHTS)
    style_w = dict(STYLES_BY_CATEGORY[category])
    primary = _choice(rng, style_w)
    styles = [primary]
    if rng.random() < 0.45:
        del style_w[primary]
        styles.append(_choice(rng, style_w))
    material = str(rng.choice(MATERIALS_BY_CATEGORY[category]))
    noun = str(rng.choice(NOUNS[category]))
    adjective = str(rng.choice(ADJECTIVES[primary]))
    brand = str(rng.choice(BRANDS))
    price = BASE_PRICE[category] * MATERIAL_PRICE.get(material, 1.0) * STYLE_PRICE.get(primary, 1.0)
    price *= float(np.exp(rng.normal(0.0, 0.35)))
    price = float(np.clip(round(price) - 0.01, 4.99, 900.0))
    stock = 0 if rng.random() < 0.12 else int(rng.integers(1, 41))
    title = f"{adjective} {color.capitalize()} {material.capitalize()} {noun}"
    return Item(
        id=f"{ID_PREFIX[category]}-{n:04d}",
        title=title,
        category=category,
        color=color,
        price=price,
        styles=styles,
        material=material,
        brand=brand,
        stock=stock,
        image=f"images/{ID_PREFIX[category]}-{n:04d}.png",
        description=f"{adjective.lower()} {noun.lower()} by {brand} in {color} {material}",
        metadata={"source": "fashion-mnist", "split": "train", "index": source_index},
    )


LETTER_SIZES = ("XS", "S", "M", "L", "XL")
LETTER_WEIGHTS = (1.0, 2.5, 3.0, 2.5, 1.2)
SHOE_SIZES = tuple(str(n) for n in range(36, 46))
SHOE_WEIGHTS = (0.6, 1.0, 1.6, 2.0, 2.0, 1.8, 1.6, 1.4, 1.0, 0.6)


def add_sizes(item: Item, rng: np.random.Generator) -> Item:
    """Return ``item`` with size variants sharing its stock: XS-XL for clothes, EU 36-45 for shoes, one size for bags.

    The stock drawn for the item is split across sizes (some sizes end up at 0), so the item's total is
    unchanged; every draw comes from ``rng`` (seeded per item), so the rest of the catalog is as before.
    """
    sizes: tuple[str, ...]
    weights: tuple[float, ...]
    if item.category == "bag":
        sizes, weights = ("ONE SIZE",), (1.0,)
    elif item.category in FOOTWEAR:
        sizes, weights = SHOE_SIZES, SHOE_WEIGHTS
    else:
        sizes, weights = LETTER_SIZES, LETTER_WEIGHTS
    p = np.asarray(weights) / sum(weights)
    stocks = rng.multinomial(item.stock, p) if item.stock else np.zeros(len(sizes), dtype=int)
    variants = [Variant(sku=f"{item.id}-{s.replace(' ', '')}", size=s, stock=int(k))
                for s, k in zip(sizes, stocks, strict=True)]
    return item.model_copy(update={"variants": variants})


def build_default_items(
    out_dir: Path,
    per_class: int = 300,
    seed: int = 0,
    image_size: int = 224,
    fmnist_dir: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Item]:
    """Create items and their tinted PNG images under ``out_dir/images``; return the items.

    ``progress`` is called with the number of items finished since its last call.
    """
    if per_class < 1:
        raise ValueError("per_class must be at least 1")
    images, labels = load_split("train", fmnist_dir)
    rng = np.random.default_rng(seed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    for label, category in enumerate(CATEGORIES):
        idx = np.flatnonzero(labels == label)
        if per_class > len(idx):
            raise ValueError(f"per_class {per_class} exceeds the {len(idx)} images of class {category}")
        chosen = rng.permutation(idx)[:per_class]
        for n, src in enumerate(chosen, start=1):
            item = add_sizes(make_item(category, n, rng, int(src)), np.random.default_rng([seed, label, n]))
            tint_image(images[src], COLORS[item.color], size=image_size).save(out_dir / item.image)
            items.append(item)
            if progress:
                progress(1)
    return items
