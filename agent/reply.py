"""Compose the reply of a turn from the plans and tool results (rendered from ``prompts/reply.j2``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.context import Context
from agent.plan import ImageInfo, Plan
from prompts import render
from tools.base import ToolResult

if TYPE_CHECKING:
    from agent.catalog.models import Item
    from agent.catalog.store import Catalog


def compose_reply(
    plans: list[Plan],
    results: list[ToolResult],
    input_errors: list[str],
    settings: Context,
    catalog: Catalog | None,
    new_images: list[ImageInfo] | None = None,
) -> dict[str, Any]:
    """Return the response payload: ``text`` plus structured items, images and errors."""
    direct = [p.reply for p in plans if p.reply]
    text = render(
        "reply.j2",
        input_errors=input_errors,
        image_notes=[describe_photo(img) for img in new_images or [] if img.kind == "upload"],
        direct=direct,
        results=results,
        currency=settings.currency,
    )
    items = [item_payload(item, catalog, r.tool, r.data.get("variants", {}).get(item.id))
             for r in results if r.ok for item in r.items]
    closest = [{**item_payload(item, catalog, r.tool), "matching": False}
               for r in results if r.ok for item in r.closest]
    return {
        "text": text,
        "intent": plans[-1].intent if plans else "small_talk",
        "tools": [r.tool for r in results],
        "calls": [{"tool": r.tool, "args": r.args, "ok": r.ok, "message": r.message} for r in results],
        "items": items,
        "closest": closest,
        "constraints": [r.constraints.model_dump() for r in results if r.ok and r.constraints is not None],
        "is_outfit": any(r.is_outfit and r.ok for r in results),
        "explanation": next((r.explanation for r in results if r.explanation and r.ok), ""),
        "images": [img.path for r in results for img in r.images],
        "errors": [*input_errors, *(r.message for r in results if not r.ok)],
        "facts": [f.model_dump() for p in plans for f in p.facts],
    }


def item_payload(item: Item, catalog: Catalog | None, tool: str,
                 variant: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return an item as the response shows it: id, title, category, colour, price, stock, ..., image path.

    ``sizes`` are the sizes in stock (empty: not known); ``variant`` the one that answers the request (the
    size asked for, in stock), when the tool chose one.
    """
    path = catalog.image_path(item) if catalog is not None else None
    out = {
        "id": item.id, "title": item.title, "category": item.category, "color": item.color,
        "price": item.price, "stock": item.stock, "styles": item.styles, "material": item.material,
        "brand": item.brand, "image": str(path) if path else "", "tool": tool, "sizes": item.sizes_in_stock,
    }
    if variant:
        out["variant"] = variant
    if not out["image"] and item.metadata.get("image_url"):
        out["image_url"] = item.metadata["image_url"]
    return out


#: Below this confidence the reply says it is not sure what the photo shows.
SURE = 0.6
_PLURAL = {"trousers", "sandals", "sneakers", "ankle_boots"}


def describe_photo(img: ImageInfo) -> str:
    """Say what an uploaded photo seems to show, and how sure we are (low confidence is said, not hidden)."""
    from agent.catalog.vocab import category_label

    if img.role == "person":
        many = f"; I can see {img.people} people in it" if img.people > 1 else ""
        turned = "; it looks rotated (the person isn't upright)" if not img.upright else ""
        return (f"That's a photo of a person{many}{turned}. I can show catalog items on you with a virtual "
                "try-on (say 'try the first one on me'), or find items like what you're wearing.")
    if not img.category:
        if img.color:
            return f"I can't tell what garment that is; its main colour looks {img.color}."
        return "I can't tell what garment that is."
    label = category_label(img.category)
    colour = f"{img.color} " if img.color and img.color_confidence >= SURE else ""
    phrase = f"{colour}{label}"
    if img.category not in _PLURAL:
        phrase = ("an " if phrase[0] in "aeiou" else "a ") + phrase
    pct = round(img.category_confidence * 100)
    if img.category_confidence >= SURE:
        return f"That looks like {phrase} ({pct}% sure)."
    return f"I'm not sure what's in that photo; my best guess is {phrase}, but only {pct}% sure."
