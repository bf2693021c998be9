"""Pydantic models at the catalog boundary: items, outfits and search filters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.catalog.vocab import CATEGORIES, STYLES, normalize_category, normalize_color


class Item(BaseModel):
    """One product of the catalog."""

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
        """Whether at least one unit can be sold."""
        return self.stock > 0

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
    in_stock: bool = True

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
        return True


__all__ = ["CATEGORIES", "Item", "Outfit", "SearchFilters"]
