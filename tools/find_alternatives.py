"""Find alternatives to an item: cheaper, another colour, another style, another material."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.catalog.models import Item, SearchFilters
from agent.catalog.store import Catalog
from agent.catalog.vocab import category_label, normalize_color, normalize_style, optional
from agent.preferences import (
    PREFERENCE_POOL,
    drop_disliked,
    preference_score,
    size_note,
    sizes_for,
    variant_data,
)
from tools.base import Tool, ToolContext, ToolError, ToolResult
from tools.search_catalog import SearchCatalogArgs, broken_constraints


class FindAlternativesArgs(BaseModel):
    """Arguments of ``find_alternatives``."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(description="The item to replace (an id shown earlier).")
    cheaper: bool = Field(default=False, description="Only items cheaper than the original.")
    pricier: bool = Field(default=False, description="Only items dearer (more premium) than the original.")
    max_price: float | None = Field(default=None, ge=0, description="Highest price.")
    min_price: float | None = Field(default=None, ge=0, description="Lowest price.")
    color: str | None = Field(default=None, description="Wanted colour, e.g. 'blue'.")
    exclude_colors: list[str] | None = Field(default=None, description="Colours to avoid.")
    style: str | None = Field(default=None, description="Wanted style, e.g. 'formal'.")
    material: str | None = Field(default=None, description="Wanted material.")
    exclude_materials: list[str] | None = Field(default=None, description="Materials to avoid, e.g. ['leather'].")
    query: str | None = Field(default=None, description="Other wishes in the shopper's words.")
    sizes: list[str] | None = Field(default=None, description="Sizes the shopper wants, e.g. ['M']: only items "
                                    "with that size in stock (a stored size is used when not given).")
    limit: int = Field(default=5, ge=1, le=20, description="How many alternatives.")

    _color = field_validator("color", mode="before")(optional(normalize_color))
    _style = field_validator("style", mode="before")(optional(normalize_style))


class FindAlternatives(Tool):
    """Find in-stock alternatives to one shown item, in the same category.

    Alternatives always differ from the original and satisfy the change: cheaper, pricier, another
    colour, another style, another material or not a material, or a price range.
    """

    name = "find_alternatives"
    examples = (
        'something cheaper than the second one',
        'show me that in blue instead',
        'alternatives to the coat',
        'a more formal version of this',
        "I don't like the shoes, other options?",
    )
    Args = FindAlternativesArgs

    def run(self, args: FindAlternativesArgs, ctx: ToolContext) -> ToolResult:
        """Search the original's category under the change and rank by similarity to the original."""
        catalog = ctx.require_catalog()
        original = catalog.get(args.item_id)
        sizes, size_source = sizes_for(args.sizes, ctx.preferences)
        max_price = args.max_price
        if args.cheaper:
            cap = round(original.price - 0.01, 2)
            max_price = cap if max_price is None else min(max_price, cap)
        min_price = args.min_price
        if args.pricier:
            floor = round(original.price + 0.01, 2)
            min_price = floor if min_price is None else max(min_price, floor)
        if min_price is not None and max_price is not None and min_price > max_price:
            raise ToolError(f"Nothing can be both under {ctx.settings.currency}{max_price:.2f} and over "
                            f"{ctx.settings.currency}{min_price:.2f}.")
        filters = SearchFilters(
            categories=[original.category], exclude_ids=[original.id],
            colors=[args.color] if args.color else None, exclude_colors=args.exclude_colors,
            styles=[args.style] if args.style else None, materials=[args.material] if args.material else None,
            exclude_materials=args.exclude_materials, min_price=min_price, max_price=max_price, sizes=sizes,
        )
        title = original.title
        if args.color:
            title = title.replace(original.color.capitalize(), args.color.capitalize())
        query = " ".join(x for x in (args.style, args.query, title) if x)
        explicit = [x for x in (args.color, args.style, args.material) if x]
        pool = args.limit * 4 if not ctx.preferences else max(args.limit * 4, PREFERENCE_POOL)
        hits = catalog.search(query, filters, k=pool)
        hits = drop_disliked(hits, lambda h: h.item, ctx.preferences, explicit)
        hits.sort(key=lambda h: -(h.score + preference_score(h.item, ctx.preferences, explicit)))
        items = [h.item for h in hits[: args.limit]]
        change = describe_change(args, ctx.settings.currency)
        label = category_label(original.category, plural=True)
        price = f"{ctx.settings.currency}{original.price:.2f}"
        if not items:
            in_size = f" in size {'/'.join(sizes)}" if sizes else ""
            message = f"No other in-stock {label}{in_size} {change} than the {original.title} ({price})."
            closest, note = _closest(catalog, original, filters, query, ctx.settings.currency, args.limit)
            closest = drop_disliked(closest, lambda i: i, ctx.preferences, explicit)
            if not closest:
                raise ToolError(message + " Try a different change.")
            if args.cheaper and note.startswith("over") and args.max_price is None:
                note = f"none is cheaper than {price}; the cheapest first"
            elif args.pricier and note.startswith("under") and args.min_price is None:
                note = f"none is dearer than {price}; the dearest first"
            return ToolResult(tool=self.name, message=message, closest=closest, closest_note=note,
                              data={"original_id": original.id, "change": change, "sizes": sizes or [],
                                    "size_source": size_source}, focus_item_id=original.id)
        note = size_note(items, sizes or [], size_source)
        return ToolResult(tool=self.name, items=items,
                          message=f"Alternatives to the {original.title} ({price}), {change}:"
                                  + (f" {note}" if note else ""),
                          data={"original_id": original.id, "change": change,
                                **variant_data(items, sizes, size_source)}, focus_item_id=original.id)


def _closest(catalog: Catalog, original: Item, filters: SearchFilters, query: str, currency: str,
             limit: int) -> tuple[list[Item], str]:
    """Return the other items of the original's category that come closest to the change, and what they break.

    When no item makes the change: the items that break fewest of its wanted colour, style, material and
    price bounds, then the most similar. Exclusions ("not leather", "no black") and the wanted sizes are kept,
    the original is never one of them. When only a price bound rules items out, the nearest prices come first
    ("no cheaper bags": the cheapest other bags). Empty when no other item of the category is in stock.
    """
    keep = SearchFilters(categories=[original.category], exclude_ids=[original.id],
                         exclude_colors=filters.exclude_colors, exclude_materials=filters.exclude_materials,
                         sizes=filters.sizes)
    wanted = SearchCatalogArgs(categories=[original.category], colors=filters.colors, styles=filters.styles,
                               materials=filters.materials, max_price=filters.max_price, min_price=filters.min_price)
    hits = catalog.search(query, keep, k=400)
    broken = {h.item.id: broken_constraints(h.item, wanted) for h in hits}
    only_price = [h.item for h in hits if broken[h.item.id] in (["max_price"], ["min_price"])]
    if only_price and len(only_price) == sum(1 for h in hits if broken[h.item.id]):
        # every candidate is ruled out by price alone: the nearest prices first
        low, high = filters.min_price, filters.max_price

        def gap(item: Item) -> float:
            return max((low or 0.0) - item.price, item.price - (high if high is not None else item.price), 0.0)

        nearest = sorted(only_price, key=gap)[:limit]
        if low is not None and high is not None:
            return nearest, f"outside {currency}{low:.2f}-{currency}{high:.2f}, nearest price first"
        if high is not None:
            return nearest, f"over {currency}{high:.2f}, cheapest first"
        return nearest, f"under {currency}{low:.2f}, dearest first"
    ranked = sorted(((len(broken[h.item.id]), -h.score, h.item) for h in hits), key=lambda t: t[:2])
    closest = [item for n, _, item in ranked if n > 0][:limit]
    return closest, "the closest items, which do not match everything you asked"


def describe_change(args: FindAlternativesArgs, currency: str) -> str:
    """Describe the requested change in words."""
    parts = []
    if args.cheaper:
        parts.append("cheaper")
    if args.pricier:
        parts.append("more premium")
    if args.color:
        parts.append(f"in {args.color}")
    if args.style:
        parts.append(f"more {args.style}")
    if args.material:
        parts.append(f"in {args.material}")
    if args.exclude_materials:
        parts.append("not " + " or ".join(args.exclude_materials))
    if args.exclude_colors:
        parts.append("not " + " or ".join(args.exclude_colors))
    if args.max_price is not None:
        parts.append(f"up to {currency}{args.max_price:.2f}")
    if args.min_price is not None:
        parts.append(f"from {currency}{args.min_price:.2f}")
    return ", ".join(parts) if parts else "similar"
