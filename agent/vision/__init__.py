"""Image understanding: image loading, our MiniLM-aligned encoder, a CLIP backend, and a photo cache.

The per-process photo cache (:func:`embed_image`) decodes and encodes each photo once.

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
from agent.vision.photos import PhotoCache, embed_image, photo_cache

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "EMBEDDING_DIM",
    "CategoryScore",
    "ClipImageEncoder",
    "ImageEncoder",
    "ImageEncoderBackend",
    "ImageInputError",
    "ImageUnderstanding",
    "PhotoCache",
    "PreparedImage",
    "category_prompts",
    "color_prompts",
    "embed_image",
    "get_image_encoder",
    "load_image",
    "photo_cache",
    "prepare_image",
    "to_rgb",
]
