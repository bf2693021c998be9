"""Try-on by inpainting: a diffusers inpainting pipeline repaints the garment's body region from a prompt.

The mask is the garment quad of :func:`agent.tryon.regions.garment_quad` limited to the person mask and
kept off the face and hands, so only clothing pixels are repainted; the result is pasted back through the
mask so everything else stays exactly as it was. The model is ``FASHIONM3_TRYON_MODEL`` (else
``FASHIONM3_IMAGE_MODEL``), loaded with ``AutoPipelineForInpainting.from_pretrained``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from agent.context import Context
from agent.tryon.base import TryOnRequest, TryOnResult, check_category, check_person_photo
from agent.tryon.body import get_analyzer
from agent.tryon.regions import garment_quad, polygon_mask, protected_mask

ENV_MODEL = "FASHIONM3_TRYON_MODEL"


class InpaintTryOn:
    """Repaint the body region with a garment-conditioned prompt."""

    name = "inpaint"

    def __init__(self, pipe: Any, steps: int = 30, guidance: float = 7.0, size: int = 512, seed: int = 0) -> None:
        self.pipe = pipe
        self.steps, self.guidance, self.size, self.seed = steps, guidance, size, seed

    @classmethod
    def from_settings(cls, settings: Context) -> InpaintTryOn:
        """Load the inpainting pipeline named by ``settings.tryon_model`` (else ``settings.image_model``).

        Raises:
            ValueError: if neither is set.
        """
        from diffusers import AutoPipelineForInpainting

        from agent.imagegen.full_size import load_pipeline

        name = settings.tryon_model or settings.image_model
        if not name:
            raise ValueError(f"the inpaint try-on backend needs {ENV_MODEL} (or FASHIONM3_IMAGE_MODEL)")
        return cls(load_pipeline(AutoPipelineForInpainting, name, settings))

    def mask_for(self, request: TryOnRequest) -> np.ndarray:
        """Return the boolean mask of pixels to repaint."""
        body = get_analyzer().analyze(request.person)
        quad = garment_quad(body, request.category)
        region = polygon_mask(quad, body.height, body.width) & (body.person > 0.5)
        return region & ~protected_mask(body)

    def try_on(self, request: TryOnRequest) -> TryOnResult:
        """Return the photo with the garment region repainted from the garment prompt."""
        import torch

        check_category(request.category)
        check_person_photo(request.person)
        mask = self.mask_for(request)
        h, w = request.person.shape[:2]
        size = (self.size, self.size)
        prompt = (f"a person wearing a {request.color} {request.category.replace('_', ' ')}, "
                  f"{request.description}, photo").replace(" ,", ",")
        out = self.pipe(prompt=prompt, image=Image.fromarray(request.person).resize(size),
                        mask_image=Image.fromarray(mask.astype(np.uint8) * 255).resize(size),
                        num_inference_steps=self.steps, guidance_scale=self.guidance, width=size[0], height=size[1],
                        generator=torch.Generator("cpu").manual_seed(self.seed), output_type="pil").images[0]
        painted = np.asarray(out.convert("RGB").resize((w, h), Image.Resampling.BICUBIC))
        image = np.where(mask[..., None], painted, request.person)
        return TryOnResult(image=image, mask=mask, backend=self.name, data={"prompt": prompt})
