"""Image understanding: safe image loading, our MiniLM-aligned fashion encoder, and a CLIP backend.

Importing this package does not import torch or transformers; models load on first use.
"""

from agent.media import ImageInputError, load_image, to_rgb
from agent.vision.encoder import (
    CONFIDENCE_THRESHOLD,
    EMBEDDING_DIM,
    CategoryScore,
    ClipImageEncoder,
    ImageEncoder,
    ImageEncoderBackend,
    ImageUnderstanding,
    PreparedImage,
    category_prompts,
    color_prompts,
    get_image_encoder,
    prepare_image,
)

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "EMBEDDING_DIM",
    "CategoryScore",
    "ClipImageEncoder",
    "ImageEncoder",
    "ImageEncoderBackend",
    "ImageInputError",
    "ImageUnderstanding",
    "PreparedImage",
    "category_prompts",
    "color_prompts",
    "get_image_encoder",
    "load_image",
    "prepare_image",
    "to_rgb",
]
