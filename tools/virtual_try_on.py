"""Show a garment on the shopper's own photo (virtual try-on)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.catalog.models import Item
from agent.catalog.vocab import category_label
from agent.media import store_image, to_rgb
from agent.plan import ImageInfo
from tools.base import Tool, ToolContext, ToolError, ToolResult


class VirtualTryOnArgs(BaseModel):
    """Arguments of ``virtual_try_on``."""

    model_config = ConfigDict(extra="forbid")

    item_id: str | None = Field(default=None, description="The catalog item to try on (an id shown earlier).")
    person_image: str = Field(default="latest", description="The shopper's photo: 'latest' or an image hash.")
    garment_image: str | None = Field(
        default=None, description="Instead of an item: a generated or uploaded garment image (its hash).")
    category: str | None = Field(default=None, description="Category of the garment image, if not known.")

    @model_validator(mode="after")
    def _garment(self) -> VirtualTryOnArgs:
        if not self.item_id and not self.garment_image:
            raise ValueError("give item_id (a catalog item) or garment_image (a generated or uploaded garment)")
        return self


class VirtualTryOn(Tool):
    """Show a garment on the shopper's uploaded photo and return the picture.

    The garment is a catalog item (item_id) or a generated/uploaded garment image. Works for tops, shirts,
    pullovers, coats, dresses and trousers; the photo must show one person facing the camera.
    """

    name = "virtual_try_on"
    examples = (
        'how would the dress look on me?',
        'try the coat on my photo',
        'put that top on me',
        'show me wearing it',
    )
    intent = "try_on"
    Args = VirtualTryOnArgs

    def run(self, args: VirtualTryOnArgs, ctx: ToolContext) -> ToolResult:
        """Load the photo and garment, run the try-on backend, and save the result as a PNG."""
        from agent.tryon import TryOnInputError, TryOnRequest, get_backend

        person_info = _person(args.person_image, ctx)
        item: Item | None = None
        if args.item_id:
            catalog = ctx.require_catalog()
            item = catalog.get(args.item_id)
            path = catalog.image_path(item)
            if path is None or not path.is_file():
                raise ToolError(f"The {item.title} ({item.id}) has no product image to try on.")
            garment_path: Path | ImageInfo = path
            category, color, title = item.category, item.color, item.title
        else:
            g = ctx.image(str(args.garment_image))
            category = (args.category or g.category or "").strip().lower()
            if not category:
                raise ToolError("I can't tell what kind of garment that image shows; say whether it is a top, "
                                "shirt, pullover, coat, dress or trousers.")
            garment_path, color, title = g, g.color or "", f"{category_label(category)} in the image"
        person = _load(person_info, "your photo", ctx)
        garment = _load(garment_path, "the garment image", ctx)
        t0 = time.perf_counter()
        try:
            request = TryOnRequest(person=person, garment=garment, category=category, color=color, description=title)
            result = get_backend(settings=ctx.settings).try_on(request)
        except TryOnInputError as exc:
            raise ToolError(str(exc)) from exc
        latency = time.perf_counter() - t0
        img = Image.fromarray(result.image, mode="RGB")
        sha = hashlib.sha256(b"try_on:" + result.image.tobytes() + str(result.image.shape).encode()).hexdigest()
        saved = store_image(img, ctx.settings.media_dir, sha)
        info = ImageInfo(sha256=sha, path=str(saved), turn=ctx.turn, width=img.width, height=img.height,
                         category=category, category_confidence=1.0, color=color or None,
                         color_confidence=1.0 if color else 0.0, kind="try_on")
        data = {"backend": result.backend, "latency_s": round(latency, 3), "person_image": person_info.sha256,
                **{k: v for k, v in result.data.items() if k != "quad"}}
        message = f"Here is the {title} on your photo: {saved}"
        bare = [str(p) for p in result.data.get("uncovered", [])]
        if bare:
            message += (f". The preview shows it only where the clothes in your photo are: your {' and '.join(bare)} "
                        f"are bare in the photo, so the {'sleeves are' if 'forearms' in bare else 'garment is'} not "
                        "drawn there.")
        return ToolResult(tool=self.name, items=[item] if item else [], images=[info], message=message, data=data)


def _person(ref: str, ctx: ToolContext) -> ImageInfo:
    """Resolve the shopper's photo: ``latest`` is the most recent person photo uploaded, else the latest upload.

    A garment photo sent after "this is me" does not replace the shopper's photo.
    """
    if ref in ("", "latest", "last"):
        uploads = [img for img in ctx.images if img.kind == "upload"]
        people = [img for img in uploads if img.role == "person"]
        if people:
            return people[-1]
        if uploads:
            return uploads[-1]
        raise ToolError("Attach a photo of yourself (upper body or full length, facing the camera) and I'll show "
                        "the item on you.")
    info = ctx.image(ref)
    if info.kind == "upload" and info.role == "garment":
        people = [img for img in ctx.images if img.kind == "upload" and img.role == "person"]
        if people:
            return people[-1]  # the planner pointed at the garment photo; the shopper's photo is the person one
    if info.kind != "upload":
        raise ToolError("That image isn't a photo you uploaded; attach a photo of yourself to try things on.")
    return info


def _load(source: Path | ImageInfo, what: str, ctx: ToolContext) -> np.ndarray:
    """Return RGB pixels of a catalog image (a path) or of a conversation image (decoded once, shared)."""
    try:
        if isinstance(source, ImageInfo):
            return np.asarray(ctx.photo(source))
        with Image.open(source) as im:
            return np.asarray(to_rgb(im))
    except (ToolError, OSError, ValueError) as exc:
        raise ToolError(f"I couldn't read {what}; attach it again.") from exc
