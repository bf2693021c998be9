"""Find alternatives to an item: cheaper, another colour, another style, another material."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.catalog.models import SearchFilters
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
            raise ToolError(f"No other in-stock {label}{in_size} {change} than the {original.title} ({price}). "
                            "Try a different change.")
        note = size_note(items, sizes or [], size_source)
        return ToolResult(tool=self.name, items=items,
                          message=f"Alternatives to the {original.title} ({price}), {change}:"
                                  + (f" {note}" if note else ""),
                          data={"original_id": original.id, "change": change,
                                **variant_data(items, sizes, size_source)}, focus_item_id=original.id)


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
