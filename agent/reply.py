"""Compose the reply of a turn from the plans and tool results (rendered from ``prompts/reply.j2``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.context import Context
from agent.plan import ImageInfo, Plan
from prompts import render
from tools.base import ToolResult

if TYPE_CHECKING:
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
        images=new_images or [],
        direct=direct,
        results=results,
        currency=settings.currency,
    )
    items: list[dict[str, Any]] = []
    for r in results:
        if not r.ok:
            continue
        for item in r.items:
            path = catalog.image_path(item) if catalog is not None else None
            items.append({
                "id": item.id, "title": item.title, "category": item.category, "color": item.color,
                "price": item.price, "stock": item.stock, "styles": item.styles, "material": item.material,
                "brand": item.brand, "image": str(path) if path else "", "tool": r.tool,
            })
    return {
        "text": text,
        "intent": plans[-1].intent if plans else "small_talk",
        "tools": [r.tool for r in results],
        "calls": [{"tool": r.tool, "args": r.args, "ok": r.ok, "message": r.message} for r in results],
        "items": items,
        "is_outfit": any(r.is_outfit and r.ok for r in results),
        "explanation": next((r.explanation for r in results if r.explanation and r.ok), ""),
        "images": [img.path for r in results for img in r.images],
        "errors": [*input_errors, *(r.message for r in results if not r.ok)],
        "facts": [f.model_dump() for p in plans for f in p.facts],
    }
