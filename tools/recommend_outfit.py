"""Recommend a complete outfit around an anchor and/or for an occasion."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.catalog.models import Item
from agent.catalog.outfits import (
    Candidate,
    ComposedOutfit,
    OutfitRequest,
    choose_outfit,
    slots_for,
    style_score,
    suits,
    target_styles,
)
from agent.catalog.vocab import (
    OCCASIONS,
    category_label,
    normalize_category,
    normalize_color,
    normalize_style,
    optional,
)
from agent.preferences import (
    PREFERENCE_POOL,
    drop_disliked,
    preference_score,
    size_note,
    sizes_for,
    variant_data,
)
from tools.base import Tool, ToolContext, ToolError, ToolResult

#: Below this confidence a photo's predicted category or colour is not used without confirmation.
MIN_PHOTO_CONFIDENCE = 0.5
#: Closest catalog matches ranked per outfit slot (more when there are preferences to weigh).
POOL = 40
#: Matches looked through for a slot when none of the closest ``POOL`` suits the occasion (an occasion is a
#: hard requirement, so the outfit does not depend on how many matches happened to be ranked).
OCCASION_POOL = 400
#: Cheapest fitting pieces of a slot added (from the ``OCCASION_POOL`` widest matches) when the outfit of the
#: closest matches is over the shopper's total budget.
BUDGET_POOL = 20


class RecommendOutfitArgs(BaseModel):
    """Arguments of ``recommend_outfit``."""

    model_config = ConfigDict(extra="forbid")

    anchor_item_id: str | None = Field(
        default=None, description="Build around this catalog item (an id shown earlier)."
    )
    anchor_image: str | None = Field(default=None, description="Build around an uploaded photo: its hash, or 'latest'.")
    anchor_category: str | None = Field(
        default=None, description="Category of a garment the shopper already owns, e.g. 'ankle_boots'."
    )
    anchor_color: str | None = Field(default=None, description="Colour of that garment, e.g. 'black'.")
    occasion: str | None = Field(default=None, description="Occasion, e.g. 'dinner', 'office', 'wedding', 'gym'.")
    style: str | None = Field(default=None, description="Wanted style, e.g. 'formal', 'casual', 'sporty', 'evening'.")
    query: str | None = Field(default=None, description="Extra wishes in the shopper's words.")
    colors: list[str] | None = Field(default=None, description="Only these colours for the new pieces.")
    exclude_colors: list[str] | None = Field(default=None, description="Colours to avoid.")
    include_categories: list[str] | None = Field(
        default=None, description="Categories the outfit must include, e.g. ['dress']."
    )
    exclude_categories: list[str] | None = Field(default=None, description="Categories to leave out, e.g. ['bag'].")
    exclude_materials: list[str] | None = Field(default=None, description="Materials to avoid, e.g. ['leather'].")
    min_price: float | None = Field(default=None, ge=0, description="Lowest price per item.")
    max_price: float | None = Field(default=None, ge=0, description="Highest price per item.")
    max_total: float | None = Field(default=None, ge=0, description="Budget for all new pieces together.")
    sizes: list[str] | None = Field(default=None, description="Sizes the shopper wears, e.g. ['M', '39']: only "
                                    "pieces with that size in stock (a stored size is used when not given).")

    _category = field_validator("anchor_category", mode="before")(optional(normalize_category))
    _color = field_validator("anchor_color", mode="before")(optional(normalize_color))
    _style = field_validator("style", mode="before")(optional(normalize_style))

    @field_validator("occasion")
    @classmethod
    def _occasion(cls, v: str | None) -> str | None:
        return None if v is None else v.strip().lower()


class RecommendOutfit(Tool):
    """Recommend a complete outfit of in-stock items, one piece per complementary category.

    E.g. top + trousers + shoes + bag, or dress + shoes + bag. Anchor it on a shown item id, an
    uploaded photo, or a described garment (anchor_category/anchor_color), and/or an occasion or
    style. Honours colour, category, material and price constraints (max_price per item, max_total
    for all new pieces).
    """

    name = "recommend_outfit"
    examples = (
        'put together an outfit for a wedding',
        'what goes with these jeans?',
        'style me for a dinner date',
        'an outfit around this jacket',
        'dress me for the office',
    )
    Args = RecommendOutfitArgs

    def run(self, args: RecommendOutfitArgs, ctx: ToolContext) -> ToolResult:
        """Compose the outfit and explain why the pieces go together."""
        catalog = ctx.require_catalog()
        sizes, size_source = sizes_for(args.sizes, ctx.preferences)
        anchor: Item | None = None
        anchor_category, anchor_color = args.anchor_category, args.anchor_color
        if args.anchor_item_id:
            anchor = catalog.get(args.anchor_item_id)
            anchor_category, anchor_color = anchor.category, anchor.color
        elif args.anchor_image:
            image = ctx.image(args.anchor_image)
            if anchor_category is None and image.category_confidence >= MIN_PHOTO_CONFIDENCE:
                anchor_category = image.category
            if anchor_color is None and image.color_confidence >= MIN_PHOTO_CONFIDENCE:
                anchor_color = image.color
            if anchor_category is None:
                raise ToolError("I couldn't tell what garment is in that photo. Tell me what it is "
                                "(for example 'grey ankle boots') and I'll build the outfit around it.")
        occasion = args.occasion if args.occasion in OCCASIONS else None
        styles = target_styles(args.style, occasion, anchor)
        include = [normalize_category(c) for c in (args.include_categories or [])]
        excluded = [normalize_category(c) for c in (args.exclude_categories or [])]
        if anchor_category:
            excluded = list(dict.fromkeys([*excluded, anchor_category]))
        request = OutfitRequest(
            anchor=anchor, anchor_category=anchor_category, anchor_color=anchor_color, occasion=occasion,
            style=args.style, query=args.query or "", colors=args.colors, exclude_colors=args.exclude_colors,
            exclude_categories=excluded, include_categories=include, exclude_materials=args.exclude_materials,
            min_price=args.min_price, max_price=args.max_price, max_total=args.max_total, sizes=sizes,
        )
        slots = []
        for slot in slots_for(anchor_category, styles, include):
            allowed = tuple(c for c in slot if c not in excluded)
            if allowed:
                slots.append(allowed)
        if not slots:
            raise ToolError("Every category is excluded, so there is nothing left to build an outfit from.")
        explicit = [*(args.colors or []), *include, *([args.style] if args.style else [])]
        flavour = " ".join(x for x in (args.style, args.occasion or "", args.query or "") if x)

        full: set[tuple[str, ...]] = set()  # slots whose search returned all it was asked for (there may be more)

        def ranked(slot: tuple[str, ...], k: int) -> list[Candidate]:
            label = " or ".join(category_label(c) for c in slot)
            hits = catalog.search(f"{flavour} {label}".strip(), request.filters(slot), k=k)
            if len(hits) >= k:
                full.add(slot)
            hits = drop_disliked(hits, lambda h: h.item, ctx.preferences, explicit)
            return [Candidate(item=h.item, base=1.2 * style_score(h.item, styles) + 0.5 * h.score
                              + preference_score(h.item, ctx.preferences, explicit))
                    for h in hits]

        def within_budget(cands: dict[tuple[str, ...], list[Candidate]]) -> dict[tuple[str, ...], list[Candidate]]:
            # The closest matches may all be dear: add each slot's cheapest fitting pieces from a wider search,
            # so "no outfit under the budget" is said only when the catalog has none (not just the top matches).
            out = {}
            for slot, current in cands.items():
                wide = [c for c in ranked(slot, OCCASION_POOL) if suits(c.item, occasion)]
                seen = {c.item.id for c in current}
                cheap = sorted((c for c in wide if c.item.id not in seen), key=lambda c: c.item.price)
                out[slot] = [*current, *cheap[:BUDGET_POOL]]
            return out

        def new_pieces(outfit: ComposedOutfit) -> list[Item]:
            return [i for i in outfit.items if anchor is None or i.id != anchor.id]

        def new_total(outfit: ComposedOutfit) -> float:
            return sum(i.price for i in new_pieces(outfit))

        def fit_budget(cands: dict[tuple[str, ...], list[Candidate]]) -> tuple[ComposedOutfit, bool]:
            """Return the outfit, within ``max_total`` where the catalog allows, and whether the bag was left out.

            The closest matches first; over the budget, each slot's cheapest fitting pieces too; still over,
            the outfit without its bag (a bag is optional unless asked for). Over the budget whatever is
            tried, the cheapest outfit tried is returned (the closest to the budget).
            """
            outfit = choose_outfit(request, cands, styles)
            if args.max_total is None or new_total(outfit) <= args.max_total + 1e-9:
                return outfit, False
            wide = within_budget(cands)
            outfit = choose_outfit(request, wide, styles)
            if new_total(outfit) <= args.max_total + 1e-9 or ("bag",) not in wide or "bag" in include:
                return outfit, False
            bagless = choose_outfit(request, {s: c for s, c in wide.items() if s != ("bag",)}, styles)
            if new_total(bagless) <= args.max_total + 1e-9:
                return bagless, True
            return (bagless if new_total(bagless) < new_total(outfit) else outfit), False

        pool = POOL if not ctx.preferences else PREFERENCE_POOL
        candidates = {slot: ranked(slot, pool) for slot in slots}
        required = [s for s in slots if s != ("bag",)]
        missing = [s for s in required if not candidates[s]]
        if missing:
            names = ", ".join(" or ".join(category_label(c, plural=True) for c in s) for s in missing)
            raise ToolError(f"No in-stock {names} match your constraints, so I can't complete the outfit. "
                            "Try a higher budget or fewer colour/material limits.")
        cur = ctx.settings.currency
        if occasion is not None:
            # the occasion is a hard requirement: only pieces whose styles suit it (untagged pieces suit nothing)
            fitting = {s: [c for c in cands if suits(c.item, occasion)] for s, cands in candidates.items()}
            for s in slots:
                if not fitting[s] and s in full:
                    # none of the closest matches suits the occasion: look further down the slot for ones that do
                    fitting[s] = [c for c in ranked(s, OCCASION_POOL) if suits(c.item, occasion)]
            unsuited = [s for s in required if not fitting[s]]
            if not unsuited:
                outfit, no_bag = fit_budget(fitting)
                pieces = new_pieces(outfit)
                total = round(sum(i.price for i in pieces), 2)
                if args.max_total is not None and total > args.max_total + 1e-9:
                    return ToolResult(
                        tool=self.name, is_outfit=True, closest=pieces,
                        message=f"I can't put together {_a(occasion)} outfit under {cur}{args.max_total:g}; "
                                f"the closest is {cur}{total:.2f}.",
                        closest_note=f"suited to {_a(occasion)}, but {cur}{total:.2f} in total, over your budget")
                return self._result(anchor, anchor_category, anchor_color, outfit, pieces, styles, cur, sizes,
                                    size_source, no_bag=args.max_total if no_bag else None)
            names = " or ".join(category_label(c, plural=True) for s in unsuited for c in s)
            outfit = choose_outfit(request, candidates, styles)
            pieces = new_pieces(outfit)
            return ToolResult(
                tool=self.name, is_outfit=True, closest=pieces,
                message=f"I can't put together {_a(occasion)} outfit with these constraints: no {names} "
                        f"in stock suit {_a(occasion)}.",
                closest_note=f"a complete outfit, but not every piece suits {_a(occasion)}")
        outfit, no_bag = fit_budget(candidates)
        pieces = new_pieces(outfit)
        total = round(sum(i.price for i in pieces), 2)
        if args.max_total is not None and total > args.max_total + 1e-9:
            raise ToolError(f"The cheapest complete outfit I can find costs {ctx.settings.currency}{total:.2f}, "
                            f"over your {ctx.settings.currency}{args.max_total:.2f} budget. Raise the budget or "
                            "leave out a piece (for example the bag).")
        return self._result(anchor, anchor_category, anchor_color, outfit, pieces, styles, cur, sizes, size_source,
                            no_bag=args.max_total if no_bag else None)

    def _result(self, anchor: Item | None, anchor_category: str | None, anchor_color: str | None,
                outfit: ComposedOutfit, pieces: list[Item], styles: list[str], cur: str,
                sizes: list[str] | None = None, size_source: str = "", no_bag: float | None = None) -> ToolResult:
        total = round(sum(i.price for i in pieces), 2)
        lead = ""
        if anchor is not None:
            lead = f"Built around the {anchor.title}. "
        elif anchor_category:
            lead = f"To go with your {anchor_color + ' ' if anchor_color else ''}{category_label(anchor_category)}: "
        note = size_note(pieces, sizes or [], size_source)
        if no_bag is not None:  # the bag was left out to stay within the shopper's total budget
            note = (f"No bag: with one it would go over your {cur}{no_bag:g} budget." + (f" {note}" if note else ""))
        return ToolResult(
            tool=self.name, items=pieces, is_outfit=True, explanation=lead + outfit.explanation,
            message=f"An outfit of {len(pieces)} pieces, {cur}{total:.2f} in total."
                    + (f" {note}" if note else ""),
            data={"anchor_item_id": anchor.id if anchor else None, "anchor_category": anchor_category,
                  "anchor_color": anchor_color, "styles": styles, "total": total,
                  **variant_data(pieces, sizes, size_source)},
            outfit=[i.id for i in pieces], focus_item_id=anchor.id if anchor else None,
        )


def _a(occasion: str) -> str:
    """Return "a wedding", "an interview"."""
    return ("an " if occasion[0] in "aeiou" else "a ") + occasion
