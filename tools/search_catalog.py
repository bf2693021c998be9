"""Search the catalog by free text and filters."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.catalog.models import SearchFilters
from agent.preferences import PREFERENCE_POOL, drop_disliked, preference_score, size_note, sizes_for, variant_data
from tools.base import Tool, ToolContext, ToolResult


class SearchCatalogArgs(BaseModel):
    """Arguments of ``search_catalog``."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, description="What the shopper is looking for, in their words.")
    categories: list[str] | None = Field(default=None, description="Allowed categories, e.g. ['dress'].")
    colors: list[str] | None = Field(default=None, description="Allowed colours, e.g. ['navy', 'black'].")
    exclude_colors: list[str] | None = Field(default=None, description="Colours to avoid.")
    exclude_categories: list[str] | None = Field(default=None, description="Categories to avoid.")
    styles: list[str] | None = Field(default=None, description="Wanted styles, e.g. ['formal'].")
    materials: list[str] | None = Field(default=None, description="Allowed materials.")
    exclude_materials: list[str] | None = Field(default=None, description="Materials to avoid, e.g. ['leather'].")
    min_price: float | None = Field(default=None, ge=0, description="Lowest price per item.")
    max_price: float | None = Field(default=None, ge=0, description="Highest price per item.")
    sizes: list[str] | None = Field(default=None, description="Sizes the shopper asks for, e.g. ['M'] or ['39']: "
                                    "only items with that size in stock (a stored size is used when not given).")
    image: str | None = Field(default=None, description="Find items that look like an attached or generated "
                              "image: its hash, or 'latest'. Combine with filters for 'like this but in red'.")
    limit: int = Field(default=5, ge=1, le=20, description="How many items to return.")


class SearchCatalog(Tool):
    """Find in-stock catalog items matching a free-text query and optional filters.

    Filters: category, colour, style, material, price range. Use it when the shopper asks to see or
    find specific items.
    """

    name = "search_catalog"
    examples = (
        'show me navy coats under 120',
        'do you have white sneakers?',
        'find me a red dress',
        'any linen shirts in stock?',
        "I'm looking for a black bag",
    )
    intent = "search"
    Args = SearchCatalogArgs

    def run(self, args: SearchCatalogArgs, ctx: ToolContext) -> ToolResult:
        """Search, re-rank by stored preferences, and return the best items."""
        catalog = ctx.require_catalog()
        sizes, source = sizes_for(args.sizes, ctx.preferences)
        filters = SearchFilters(
            categories=args.categories,
            colors=args.colors,
            exclude_colors=args.exclude_colors,
            exclude_categories=args.exclude_categories,
            styles=args.styles,
            materials=args.materials,
            exclude_materials=args.exclude_materials,
            min_price=args.min_price,
            max_price=args.max_price,
            sizes=sizes,
        )
        explicit = [*(args.colors or []), *(args.categories or []), *(args.styles or []), *(args.materials or [])]
        pool = args.limit * 4 if not ctx.preferences else max(args.limit * 4, PREFERENCE_POOL)
        if args.image:
            hits = catalog.search(None, filters, k=pool, query_vector=image_query(ctx, args.image, args.query),
                                  space="image")
        else:
            hits = catalog.search(args.query, filters, k=pool)
        hits = drop_disliked(hits, lambda h: h.item, ctx.preferences, explicit)
        hits.sort(key=lambda h: -(h.score + preference_score(h.item, ctx.preferences, explicit)))
        items = [h.item for h in hits[: args.limit]]
        if not items:
            in_size = f" in size {'/'.join(sizes)}" if sizes else ""
            return ToolResult(tool=self.name, message=f"Nothing in stock{in_size} matches all of that. Try a wider "
                              "price range or fewer filters.", data={"sizes": sizes or [], "size_source": source})
        note = size_note(items, sizes or [], source)
        return ToolResult(tool=self.name, items=items, message=" ".join(x for x in (f"Found {len(items)} item(s).",
                                                                                    note) if x),
                          data=variant_data(items, sizes, source))


def image_query(ctx: ToolContext, ref: str, text: str | None) -> np.ndarray:
    """Embed an attached image (plus optional words) as a query in the shared MiniLM space.

    The photo's vector is the one made when it was received (the per-process photo cache): it is not
    decoded or encoded again.
    """
    info = ctx.image(ref)
    vec = ctx.embed_image(info)
    if text and text.strip():
        # Words shift the look ("but in red", "more formal"); the image stays the main signal.
        vec = vec + 0.5 * ctx.require_catalog().embedder.encode_one(text)
    return np.asarray(vec / (np.linalg.norm(vec) or 1.0), dtype=np.float32)
