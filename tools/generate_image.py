"""Design a garment: generate a product image from the shopper's description."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from agent.catalog.vocab import category_label
from agent.context import Context
from agent.media import store_image
from agent.plan import ImageInfo
from tools.base import Tool, ToolContext, ToolError, ToolResult


class GenerateImageArgs(BaseModel):
    """Arguments of ``generate_image``."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=500, description="The garment to draw, in the shopper's words.")
    category: str | None = Field(default=None, description="Category, e.g. 'dress' (else read from the prompt).")
    color: str | None = Field(default=None, description="Colour, e.g. 'red' (else read from the prompt).")
    style: str | None = Field(default=None, description="Style word, e.g. 'formal'.")
    seed: int = Field(default=0, ge=0, description="Random seed; the same seed gives the same image.")
    edit_image: str | None = Field(default=None, description="Hash of a generated image to change instead.")


class GenerateImage(Tool):
    """Generate a product image of a garment the shopper describes (e.g. 'a red evening dress').

    Returns the image, which can then be used to search the catalog for similar real items or be tried on.
    """

    name = "generate_image"
    examples = (
        'draw me a floral summer dress',
        'design a red leather jacket',
        'generate an image of a striped shirt',
        'make it with long sleeves',
    )
    #: ``style`` is a drawing style in the shopper's words, not a catalog style the conversation must name.
    arg_kinds = {"style": "other"}
    Args = GenerateImageArgs

    def run(self, args: GenerateImageArgs, ctx: ToolContext) -> ToolResult:
        """Parse the description, sample an image deterministically and save it as a PNG with metadata."""
        from agent.imagegen.prompt import PromptError, parse_garment

        base: ImageInfo | None = ctx.image(args.edit_image) if args.edit_image else None
        try:
            spec = parse_garment(args.prompt, args.category or (base.category if base else None), args.color)
        except PromptError as exc:
            raise ToolError(str(exc)) from exc
        full = ctx.services.get("image_generator") or _full_size(ctx.settings)
        if full is not None:
            img, model = self._full_size(full, args, spec.category, spec.color, base, ctx)
        else:
            img, model = self._default(args, spec.category, spec.color)
        meta = {"prompt": args.prompt, "seed": str(args.seed), "model": model, "category": spec.category,
                "color": spec.color}
        sha = hashlib.sha256(img.tobytes() + repr(sorted(meta.items())).encode()).hexdigest()
        path = store_image(img, ctx.settings.media_dir, sha, meta)
        info = ImageInfo(sha256=sha, path=str(path), turn=ctx.turn, width=img.width, height=img.height,
                         category=spec.category, category_confidence=1.0, color=spec.color, color_confidence=1.0,
                         kind="generated")
        label = category_label(spec.category)
        return ToolResult(tool=self.name, images=[info],
                          message=f"Here is a design for a {spec.color} {label}: {path}",
                          data={"model": model, "seed": args.seed, "category": spec.category, "color": spec.color})

    def _default(self, args: GenerateImageArgs, category: str, color: str) -> tuple[Image.Image, str]:
        from agent.imagegen.fmnist_ddpm import WeightsMissingError, get_generator

        try:
            gen = get_generator()
        except WeightsMissingError as exc:
            raise ToolError("Image generation isn't set up here (no generator weights installed).") from exc
        out = gen.generate(category, color, seed=args.seed)
        return out.image, out.model

    def _full_size(self, full: Any, args: GenerateImageArgs, category: str, color: str,
                   base: ImageInfo | None, ctx: ToolContext) -> tuple[Image.Image, str]:
        from agent.imagegen.full_size import GenerationOptions, product_prompt

        prompt = product_prompt(args.prompt, category, color, args.style)
        options = GenerationOptions(seed=args.seed, **_size_overrides(ctx.settings))
        if base is not None:
            return full.edit(ctx.photo(base), prompt, options), full.name
        return full.generate(prompt, options), full.name


def _size_overrides(settings: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if settings.image_steps > 0:
        out["steps"] = settings.image_steps
    if settings.image_size > 0:
        out["width"] = out["height"] = settings.image_size
    return out


_FULL: dict[str, Any] = {}
_FULL_LOCK = threading.Lock()


def _full_size(settings: Context) -> Any:
    """Return the full-size generator named by ``settings.image_model`` (loaded once per process), or None."""
    name = settings.image_model
    if not name:
        return None
    key = f"{name}|{settings.image_device}|{settings.image_dtype}"
    with _FULL_LOCK:
        if key not in _FULL:
            from agent.imagegen.full_size import FullSizeGenerator

            _FULL[key] = FullSizeGenerator.from_pretrained(name, settings=settings)
        return _FULL[key]
