"""Pydantic models at the catalog boundary: items, outfits and search filters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.catalog.vocab import CATEGORIES, STYLES, normalize_category, normalize_color

#: Letter sizes in order; numeric sizes (shoe sizes, waist) are kept as written.
LETTER_SIZES = ("XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL")
_SIZE_WORDS = {
    "extra small": "XS", "x small": "XS", "small": "S", "medium": "M", "med": "M", "large": "L",
    "extra large": "XL", "x large": "XL", "2xl": "XXL", "3xl": "XXXL", "4xl": "XXXXL", "5xl": "XXXXXL",
    "one size": "ONE SIZE", "onesize": "ONE SIZE", "os": "ONE SIZE", "one size fits all": "ONE SIZE",
}


def normalize_size(value: Any) -> str:
    """Return a size as the catalog stores it: letter sizes upper case (``medium`` -> ``M``), numbers as written.

    ``EU 38`` and ``UK 8`` keep only the number; ``""`` stays ``""`` (no size).
    """
    s = " ".join(str(value or "").strip().lower().replace("-", " ").replace("_", " ").split())
    if not s:
        return ""
    if s in _SIZE_WORDS:
        return _SIZE_WORDS[s]
    for prefix in ("size ", "eu ", "uk ", "us ", "fr ", "it "):
        if s.startswith(prefix) and s[len(prefix):].replace(".", "", 1).isdigit():
            s = s[len(prefix):]
    if s.replace(".", "", 1).isdigit():
        return s.rstrip("0").rstrip(".") if "." in s else s
    return s.upper()


def size_kind(size: str) -> str:
    """Return ``one``, ``numeric`` or ``letter`` for a normalised size."""
    if size == "ONE SIZE":
        return "one"
    return "numeric" if size.replace(".", "", 1).isdigit() else "letter"


class Variant(BaseModel):
    """One sellable variant of a product: a size (and its SKU, price, stock and image)."""

    model_config = ConfigDict(extra="forbid")

    sku: str = ""
    size: str = ""
    price: float | None = Field(default=None, ge=0)
    compare_at_price: float | None = Field(default=None, ge=0)
    stock: int = Field(default=0, ge=0)
    image: str = ""

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> str:
        return normalize_size(v)

    @field_validator("sku", mode="before")
    @classmethod
    def _sku(cls, v: Any) -> str:
        return "" if v is None else str(v).strip()


class Item(BaseModel):
    """One product of the catalog, in one colour; sizes are its :class:`Variant` s.

    With variants, ``stock`` is the sum of the variants' stock and ``price`` the lowest variant price.
    ``status`` other than ``active`` (a shop's draft or archived product) is never shown.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    title: str = Field(min_length=1, max_length=300)
    category: str
    color: str
    price: float = Field(ge=0)
    styles: list[str] = Field(default_factory=list)
    material: str = ""
    brand: str = ""
    stock: int = Field(default=0, ge=0)
    image: str = ""
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    variants: list[Variant] = Field(default_factory=list)
    status: str = "active"

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return str(v).strip() if isinstance(v, (int, str)) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _from_variants(self) -> Item:
        if self.variants:
            self.stock = sum(v.stock for v in self.variants)
            self.price = min(self.price if v.price is None else v.price for v in self.variants)
        return self

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, v: str) -> str:
        return normalize_category(str(v))

    @field_validator("color", mode="before")
    @classmethod
    def _color(cls, v: str) -> str:
        return normalize_color(str(v))

    @field_validator("styles", mode="before")
    @classmethod
    def _styles(cls, v: Any) -> list[str]:
        if v is None:
            return []
        if isinstance(v, str):
            v = [s for s in v.replace(";", ",").replace("|", ",").split(",")]
        out = []
        for s in v:
            s = str(s).strip().lower()
            if not s:
                continue
            if s not in STYLES:
                raise ValueError(f"unknown style {s!r}; use any of: {', '.join(STYLES)}")
            if s not in out:
                out.append(s)
        return out

    @field_validator("material", "brand", mode="before")
    @classmethod
    def _lower_strip(cls, v: Any) -> str:
        return "" if v is None else str(v).strip()

    @property
    def in_stock(self) -> bool:
        """Whether at least one unit can be sold (and the product is shown at all)."""
        return self.stock > 0 and self.status == "active"

    @property
    def has_sizes(self) -> bool:
        """Whether the catalog knows this item's sizes (some variant names a size)."""
        return any(v.size for v in self.variants)

    @property
    def sizes_in_stock(self) -> list[str]:
        """The sizes with stock, in the variants' order."""
        return list(dict.fromkeys(v.size for v in self.variants if v.size and v.stock > 0))

    @property
    def size_kind(self) -> str:
        """How this item is sized: ``""`` (unknown), ``one`` (one size), ``letter`` (S, M, L) or ``numeric`` (39)."""
        kinds = {size_kind(v.size) for v in self.variants if v.size}
        for kind in ("one", "letter", "numeric"):
            if kind in kinds:
                return kind
        return ""

    def relevant_sizes(self, sizes: list[str] | None) -> list[str]:
        """Return the asked sizes that apply to this item (a shoe size says nothing about a shirt)."""
        kind = self.size_kind
        return [s for s in sizes or [] if size_kind(s) == kind]

    def fits(self, sizes: list[str] | None) -> bool:
        """Whether a size asked for is in stock; True when sizes are unknown or do not apply to this item."""
        kind = self.size_kind
        if not sizes or kind in ("", "one"):
            return True
        wanted = self.relevant_sizes(sizes)
        return not wanted or any(v.stock > 0 and v.size in wanted for v in self.variants)

    def variant_for(self, sizes: list[str] | None) -> Variant | None:
        """Return the in-stock variant that fits ``sizes`` (the first in stock when no asked size applies)."""
        wanted = self.relevant_sizes(sizes)
        for v in self.variants:
            if v.stock > 0 and (not wanted or v.size in wanted or v.size == "ONE SIZE"):
                return v
        return None

    def document(self) -> str:
        """Return the text indexed for semantic search."""
        from agent.catalog.vocab import CATEGORY_SYNONYMS

        syn = ", ".join(CATEGORY_SYNONYMS[self.category][:4])
        parts = [
            self.title,
            f"{self.color} {self.category.replace('_', ' ')} ({syn})",
            f"style: {', '.join(self.styles)}" if self.styles else "",
            f"material: {self.material}" if self.material else "",
            f"brand: {self.brand}" if self.brand else "",
            self.description,
        ]
        return ". ".join(p for p in parts if p)

    def summary(self, currency: str = "€") -> str:
        """Return a one-line description for replies."""
        return f"{self.title} ({self.color}, {currency}{self.price:.2f}) [{self.id}]"


class Outfit(BaseModel):
    """A group of compatible items, one per category."""

    id: str
    item_ids: list[str] = Field(min_length=2)
    style: str = ""
    occasion: str = ""
    note: str = ""


class SearchFilters(BaseModel):
    """Metadata constraints applied to catalog search (all optional, all combined with AND)."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = None
    colors: list[str] | None = None
    exclude_colors: list[str] | None = None
    exclude_categories: list[str] | None = None
    exclude_materials: list[str] | None = None
    exclude_ids: list[str] | None = None
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    styles: list[str] | None = None
    materials: list[str] | None = None
    sizes: list[str] | None = None
    in_stock: bool = True

    @field_validator("sizes", mode="before")
    @classmethod
    def _sizes(cls, v: Any) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        out = list(dict.fromkeys(normalize_size(s) for s in v if normalize_size(s)))
        return out or None

    @field_validator("categories", "exclude_categories", mode="before")
    @classmethod
    def _cats(cls, v: Any) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        return list(dict.fromkeys(normalize_category(c) for c in v))

    @field_validator("colors", "exclude_colors", mode="before")
    @classmethod
    def _cols(cls, v: Any) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        return list(dict.fromkeys(normalize_color(c) for c in v))

    @model_validator(mode="after")
    def _price_order(self) -> SearchFilters:
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError(f"min_price {self.min_price} is above max_price {self.max_price}")
        return self

    def accepts(self, item: Item) -> bool:
        """Return True when the item satisfies every constraint (the same logic as the index filter)."""
        if self.in_stock and not item.in_stock:
            return False
        if self.categories and item.category not in self.categories:
            return False
        if self.exclude_categories and item.category in self.exclude_categories:
            return False
        if self.colors and item.color not in self.colors:
            return False
        if self.exclude_colors and item.color in self.exclude_colors:
            return False
        if self.materials and item.material.lower() not in [m.lower() for m in self.materials]:
            return False
        if self.exclude_materials and item.material.lower() in [m.lower() for m in self.exclude_materials]:
            return False
        if self.exclude_ids and item.id in self.exclude_ids:
            return False
        if self.min_price is not None and item.price < self.min_price:
            return False
        if self.max_price is not None and item.price > self.max_price:
            return False
        if self.styles and not set(self.styles) & set(item.styles):
            return False
        if self.sizes and not item.fits(self.sizes):
            return False
        return True


__all__ = ["CATEGORIES", "Item", "Outfit", "SearchFilters"]
