"""Search the catalog by free text and filters."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.catalog.models import Item, SearchFilters
from agent.catalog.store import Catalog, UnknownItemError
from agent.catalog.vocab import category_label
from agent.preferences import PREFERENCE_POOL, drop_disliked, preference_score, size_note, sizes_for, variant_data
from agent.understanding.message import parse_message
from tools.base import Tool, ToolContext, ToolError, ToolResult
from tools.constraints import report_for, shades_used


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
    ids: list[str] | None = Field(default=None, description="Catalog ids the shopper typed, e.g. ['BAG-0251']: "
                                  "exactly those items (the other filters are not used).")
    image: str | None = Field(default=None, description="Find items that look like an attached or generated "
                              "image: its hash, or 'latest'. Combine with filters for 'like this but in red'.")
    more: bool = Field(default=False, description="'show me more' after a search: the same search, leaving out "
                       "every item already shown in this conversation (the next results).")
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
        if args.ids:
            return self._named(args.ids, catalog, args.sizes or [])
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
            exclude_ids=list(dict.fromkeys(s.id for s in ctx.shown)) if args.more and ctx.shown else None,
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
        dumped = args.model_dump(exclude_none=True)
        report = report_for(dumped, self.argument_kinds(), ctx.request, ctx.settings.currency)
        parsed = parse_message(ctx.request) if ctx.request.strip() else None
        strict = [s for s in shades_used(parsed, dumped, self.argument_kinds()) if s.strict]
        if strict:
            # "only turquoise": the nearest colour is not what was asked, so nothing here is a match
            shade = strict[0]
            what = category_label(args.categories[0], plural=True) if args.categories else "items"
            closest = items or nearest_misses(catalog, args, ctx.settings.currency)[1]
            return ToolResult(tool=self.name, constraints=report, closest=closest,
                              message=f"There are no {shade.word} {what}: the catalog has no {shade.word}.",
                              closest_note=f"the nearest colour is {shade.value}, which is not {shade.word}")
        if not items and args.more and filters.exclude_ids:
            # "show me more" with nothing left: say so; the closest misses would be the items already shown
            what = (" or ".join(category_label(c, plural=True) for c in args.categories) if args.categories
                    else "items")
            if args.colors:
                what = f"{' or '.join(args.colors)} {what}"
            if args.max_price is not None:
                what += f" under {ctx.settings.currency}{args.max_price:g}"
            return ToolResult(tool=self.name, constraints=report, data={"more": True},
                              message=f"That's all: no other in-stock {what} match beyond the ones I've shown.")
        if not items:
            message, closest, note = nearest_misses(catalog, args, ctx.settings.currency, sizes)
            return ToolResult(tool=self.name, constraints=report, closest=closest, closest_note=note,
                              message=message, data={"sizes": sizes or [], "size_source": source})
        note = size_note(items, sizes or [], source)
        found = (f"Found {len(items)} more item(s), leaving out the {len(filters.exclude_ids)} already shown."
                 if args.more and filters.exclude_ids else f"Found {len(items)} item(s).")
        return ToolResult(tool=self.name, items=items, constraints=report,
                          message=" ".join(x for x in (found, note) if x),
                          data=variant_data(items, sizes, source))


    def _named(self, ids: list[str], catalog: Catalog, sizes: list[str]) -> ToolResult:
        """Return the items the shopper named by id: those in stock (in one of ``sizes``, when asked) are shown.

        A sold-out item, one not in stock in the size asked (with the sizes that are), and an unknown id are
        said in the message, never replaced by other items; the other filters and the stored size are not used.

        Raises:
            ToolError: when none of the ids is in the catalog.
        """
        found: dict[str, Item] = {}
        unknown: list[str] = []
        for item_id in (i.strip() for i in ids if i.strip()):
            try:
                item = catalog.get(item_id)
            except UnknownItemError:
                if item_id.upper() not in {u.upper() for u in unknown}:
                    unknown.append(item_id)
                continue
            found.setdefault(item.id, item)
        missing = (f"No item with id {', '.join(repr(i) for i in unknown)} in the catalog."
                   if unknown else "")
        if not found:
            raise ToolError(f"{missing} Check the id, or describe the item (like 'black ankle boots').")
        items: list[Item] = []
        notes: list[str] = []
        wanted = {z.upper() for z in sizes}
        for item in found.values():
            have = item.sizes_in_stock
            if not item.in_stock:
                notes.append(f"The {item.title} ({item.id}) is out of stock.")
            elif wanted and have and not wanted & {z.upper() for z in have}:
                notes.append(f"The {item.title} ({item.id}) is not in stock in size {'/'.join(sizes)} "
                             f"(in stock: {', '.join(have)}).")
            else:
                items.append(item)
        shown = f"Here {'is' if len(items) == 1 else 'are'} {', '.join(i.id for i in items)}." if items else ""
        return ToolResult(tool=self.name, items=items, message=" ".join(p for p in (shown, *notes, missing) if p))


def _what(args: SearchCatalogArgs, colors: bool = True, plural: bool = True) -> str:
    """Describe the wanted items in words ("red dresses")."""
    cats = [category_label(c, plural=plural) for c in args.categories or []]
    cols = list(args.colors or []) if colors else []
    noun = " or ".join(cats) if cats else "items"
    return " ".join([*([" or ".join(cols)] if cols else []), noun])


def broken_constraints(item: Item, args: SearchCatalogArgs) -> list[str]:
    """Return which of the relaxable constraints an item breaks (exclusions are never relaxed)."""
    out = []
    if args.categories and item.category not in args.categories:
        out.append("category")
    if args.colors and item.color not in args.colors:
        out.append("colour")
    if args.styles and not set(args.styles) & set(item.styles):
        out.append("style")
    if args.materials and item.material.lower() not in {m.lower() for m in args.materials}:
        out.append("material")
    if args.max_price is not None and item.price > args.max_price:
        out.append("max_price")
    if args.min_price is not None and item.price < args.min_price:
        out.append("min_price")
    return out


def nearest_misses(catalog: Catalog, args: SearchCatalogArgs, currency: str,
                   sizes: list[str] | None = None) -> tuple[str, list[Item], str]:
    """When nothing satisfies every constraint: say which one rules the items out, and the closest items.

    The closest items keep every exclusion ("no pink", "not leather") and are ranked by how few of the
    other constraints they break, then by relevance.
    """
    keep = SearchFilters(exclude_colors=args.exclude_colors, exclude_categories=args.exclude_categories,
                         exclude_materials=args.exclude_materials, sizes=sizes)
    pool = catalog.search(args.query or _what(args), keep, k=400)
    ranked = sorted(((len(broken_constraints(h.item, args)), -h.score, h.item) for h in pool), key=lambda t: t[:2])
    closest = [item for n, _, item in ranked if n > 0][: args.limit]
    price = f"under {currency}{args.max_price:g}" if args.max_price is not None else ""
    in_size = f"in size {'/'.join(sizes)}" if sizes else ""
    wanted = " ".join(p for p in (_what(args), in_size, price) if p)
    message = f"Nothing in stock matches all of that ({wanted})."
    if args.max_price is not None:
        fits = [h.item for h in pool if broken_constraints(h.item, args) == ["max_price"]]
        if fits:
            cheapest = min(fits, key=lambda i: i.price)
            message = (f"There are no {wanted}; the cheapest {_what(args, plural=False)} is "
                       f"{currency}{cheapest.price:.2f} ({cheapest.id}).")
            closest = sorted(fits, key=lambda i: i.price)[: args.limit]
            return message, closest, f"over {currency}{args.max_price:g}, cheapest first"
    else:
        for name, label in (("colour", "colour"), ("category", "kind of item"), ("style", "style"),
                            ("material", "material"), ("min_price", "minimum price")):
            if any(broken_constraints(h.item, args) == [name] for h in pool):
                message = f"There are no {wanted}: the {label} rules them out."
                break
    if not closest:
        return message + " Try a wider price range or fewer filters.", [], ""
    return message, closest, "the closest items, which do not match everything you asked"


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
