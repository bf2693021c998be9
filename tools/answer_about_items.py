"""Answer a question about the items already shown (cheapest, in stock, material, brand, price, total).

The answer is read from the catalog records of the shown items: prices, stock per size, material and
brand are the catalog's, never estimated. A field the catalog does not record for an item (an empty
material or brand) is said to be unknown, not guessed. Nothing new is searched and nothing is shown
again, so "the second one" keeps pointing into the same list afterwards.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.catalog.models import Item
from agent.plan import ShownItem
from tools.base import Tool, ToolContext, ToolError, ToolResult

#: What can be asked about the shown items.
Question = Literal["cheapest", "priciest", "total", "stock", "material", "brand", "price", "sizes"]

_CUES: tuple[tuple[Question, re.Pattern[str]], ...] = (
    ("cheapest", re.compile(r"\b(?:cheapest|least expensive|lowest price[sd]?|most affordable|lowest|best price|"
                            r"least money|cheaper of|costs? (?:the )?least)\b")),
    ("priciest", re.compile(r"\b(?:priciest|most expensive|dearest|highest price[sd]?|costs? (?:the )?most|"
                            r"pricier of)\b")),
    ("total", re.compile(r"\b(?:total|altogether|all together|in all|whole|entire|complete|full (?:look|outfit)|"
                         r"everything|the lot|all of (?:it|them|these|those|that)|add(?:s|ed)? up|"
                         r"add (?:it|them|that|everything)(?: all)? up|sum|come to|comes to|grand)\b")),
    ("stock", re.compile(r"\b(?:in stock|stocked|available|availability|sold out|out of stock|any left|left in|"
                         r"still (?:have|got)|can i (?:still )?(?:get|buy|order))\b")),
    ("sizes", re.compile(r"\b(?:what|which) sizes?\b|\bsizes? (?:does|do|is|are|it|they|left|available)\b")),
    ("material", re.compile(r"\b(?:made (?:of|from|out of)|materials?|fabrics?|what is it made)\b")),
    ("brand", re.compile(r"\b(?:brand|who makes|made by|label|designer)\b")),
    ("price", re.compile(r"\b(?:how much|price|cost|costs)\b")),
)


def read_question(text: str) -> Question | None:
    """Return what ``text`` asks about shown items ("which one is cheapest?" -> ``cheapest``), or None."""
    low = text.lower().replace("\u2019", "'")
    for kind, pattern in _CUES:
        if pattern.search(low):
            return kind
    return None


class AnswerAboutItemsArgs(BaseModel):
    """Arguments of ``answer_about_items``."""

    model_config = ConfigDict(extra="forbid")

    about: Question | None = Field(default=None, description=(
        "What is asked: cheapest, priciest, total (of the outfit or list shown last), stock, material, brand, "
        "price, sizes. Default: read from the shopper's message."))
    item_id: str | None = Field(default=None, description=(
        "The shown item asked about (an id shown earlier, or #2 for the second of the latest list); "
        "default: every item of the latest list."))


def _latest(shown: list[ShownItem]) -> list[ShownItem]:
    """Return the items of the latest showing, in display order."""
    if not shown:
        return []
    turn = max(s.turn for s in shown)
    seen: dict[str, ShownItem] = {}
    for s in sorted((s for s in shown if s.turn == turn), key=lambda s: s.position):
        seen.setdefault(s.id, s)
    return list(seen.values())


def _money(currency: str, value: float) -> str:
    return f"{currency}{value:.2f}"


class AnswerAboutItems(Tool):
    """Answer a question about items already shown, from their catalog records, without a new search.

    Which one is cheapest or dearest, whether an item is in stock (and in which sizes), what it is made
    of, its brand or price, and what the whole outfit (or list) shown last costs in total.
    """

    name = "answer_about_items"
    intent = "question"
    capability = "answer questions about the items I showed (prices, stock, material, the outfit's total)"
    examples = (
        'which one is the cheapest?',
        'which of these costs the least?',
        'is the second one in stock?',
        'do you still have it available?',
        "what's the first one made of?",
        'what material is the coat?',
        'how much is the whole outfit?',
        'what does it all come to in total?',
        'which brand makes the bag?',
        'which of them is the most expensive?',
    )
    Args = AnswerAboutItemsArgs

    def run(self, args: AnswerAboutItemsArgs, ctx: ToolContext) -> ToolResult:
        """Answer from the catalog records of the shown items."""
        catalog = ctx.require_catalog()
        latest = _latest(ctx.shown)
        if not latest:
            raise ToolError("I haven't shown any items in this conversation yet, so there is nothing to compare. "
                            "Ask me to find something first.")
        about = args.about or read_question(ctx.request)
        if about is None:
            raise ToolError("I couldn't tell what you'd like to know about these items. Ask, for example, "
                            "'which one is cheapest?', 'is the second one in stock?' or 'what is it made of?'.")
        cur = ctx.settings.currency
        if args.item_id is not None:
            if args.item_id not in {s.id for s in ctx.shown}:
                raise ToolError(f"{args.item_id!r} is not one of the items I showed; name one of them "
                                "(like 'the second one').")
            targets = [catalog.get(args.item_id)]
        else:
            targets = [catalog.get(s.id) for s in latest if s.id in catalog.items]
        if about == "total" and ctx.outfits and args.item_id is None:
            outfit = [catalog.get(i) for i in ctx.outfits[-1] if i in catalog.items]
            shown_ids = {s.id for s in latest}
            total = sum(i.price for i in outfit)
            parts = ", ".join(f"{i.title} {_money(cur, i.price)}" for i in outfit)
            after = "" if shown_ids <= set(ctx.outfits[-1]) else (
                " That is the outfit as I put it together; a swapped piece changes the total by the difference "
                "in price.")
            return ToolResult(tool=self.name, message=f"The outfit's {len(outfit)} pieces come to "
                              f"{_money(cur, total)} in total ({parts}).{after}",
                              data={"about": about, "total": round(total, 2), "item_ids": [i.id for i in outfit]})
        if about in ("cheapest", "priciest", "total"):
            pool = [catalog.get(s.id) for s in latest if s.id in catalog.items]
            return self._compare(about, pool, latest, cur)
        lines = [self._fact(about, item, cur) for item in targets]
        focus = targets[0].id if len(targets) == 1 else None
        return ToolResult(tool=self.name, message=" ".join(lines), focus_item_id=focus,
                          data={"about": about, "item_ids": [t.id for t in targets]})

    def _compare(self, about: Question, pool: list[Item], latest: list[ShownItem], cur: str) -> ToolResult:
        position = {s.id: s.position for s in latest}
        if about == "total":
            total = sum(i.price for i in pool)
            parts = ", ".join(f"{i.title} {_money(cur, i.price)}" for i in pool)
            return ToolResult(tool=self.name, message=f"The {len(pool)} pieces shown last come to "
                              f"{_money(cur, total)} in total ({parts}).",
                              data={"about": about, "total": round(total, 2), "item_ids": [i.id for i in pool]})
        if len(pool) == 1:
            only = pool[0]
            return ToolResult(tool=self.name, message=f"I showed only one item last: the {only.title}, "
                              f"{_money(cur, only.price)}.", focus_item_id=only.id,
                              data={"about": about, "item_ids": [only.id]})
        chosen = (min if about == "cheapest" else max)(pool, key=lambda i: i.price)
        ties = [i for i in pool if i.price == chosen.price]
        word = "cheapest" if about == "cheapest" else "most expensive"
        if len(ties) > 1:
            names = " and ".join(f"#{position.get(i.id, '?')} {i.title}" for i in ties)
            return ToolResult(tool=self.name, message=f"{names} are the {word}, both {_money(cur, chosen.price)}.",
                              data={"about": about, "item_ids": [i.id for i in ties]})
        others = sorted(pool, key=lambda i: i.price)
        span = f" (the list runs from {_money(cur, others[0].price)} to {_money(cur, others[-1].price)})"
        return ToolResult(tool=self.name, message=f"The {word} is #{position.get(chosen.id, '?')}, the {chosen.title} "
                          f"[{chosen.id}], at {_money(cur, chosen.price)}{span}.", focus_item_id=chosen.id,
                          data={"about": about, "item_ids": [chosen.id]})

    @staticmethod
    def _fact(about: Question, item: Item, cur: str) -> str:
        name = f"The {item.title} [{item.id}]"
        if about == "material":
            if not item.material:
                return f"{name}: the catalog doesn't list its material, so I can't tell you what it's made of."
            return f"{name} is made of {item.material}."
        if about == "brand":
            if not item.brand:
                return f"{name}: the catalog doesn't list its brand."
            return f"{name} is by {item.brand}."
        if about == "price":
            return f"{name} costs {_money(cur, item.price)}."
        sizes = item.sizes_in_stock
        if not item.in_stock:
            return f"{name} is out of stock right now."
        if about == "sizes" and not sizes:
            return f"{name} is in stock ({item.stock} left); the catalog lists no sizes for it."
        in_sizes = "" if not sizes or sizes == ["ONE SIZE"] else f" in sizes {', '.join(sizes)}"
        return f"{name} is in stock{in_sizes} ({item.stock} left)."
