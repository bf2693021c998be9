"""Full-size generation through diffusers pipelines: text-to-image, image-to-image edits and inpainting.

The model is a local folder or hub id given by ``Context.image_model`` (env ``FASHIONM3_IMAGE_MODEL``;
Stable Diffusion, SDXL, FLUX, ...) and loaded with ``AutoPipelineForText2Image.from_pretrained``;
edits ("show it in blue") reuse the same weights through ``AutoPipelineForImage2Image.from_pipe``.
Device and dtype are chosen from what is available (CUDA: float16; Apple MPS: float16; else CPU float32) unless
``Context.image_device`` / ``Context.image_dtype`` (``FASHIONM3_IMAGE_DEVICE`` / ``_DTYPE``) say otherwise.

:func:`tiny_components` builds randomly initialised miniature components from config (no download),
as diffusers' own tests do, so every code path here is testable offline.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from agent.context import Context

ENV_MODEL = "FASHIONM3_IMAGE_MODEL"
ENV_DTYPE = "FASHIONM3_IMAGE_DTYPE"
DEFAULT_NEGATIVE = "person, model, mannequin, text, watermark, logo, blurry, deformed, cropped"


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling options of a full-size pipeline call."""

    seed: int = 0
    steps: int = 30
    guidance: float = 7.0
    negative_prompt: str = DEFAULT_NEGATIVE
    width: int = 512
    height: int = 512
    strength: float = 0.6


def select_device(requested: str | None, settings: Context) -> tuple[str, Any]:
    """Return ``(device, dtype)``: CUDA or MPS in float16 when present, else CPU float32.

    ``requested``, then ``settings.image_device`` / ``settings.image_dtype`` (the run's), override the choice.

    Raises:
        ValueError: for a dtype name torch does not know.
    """
    import torch

    device = requested or settings.image_device or (
        "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")
    dtype_name = settings.image_dtype or ("float32" if device == "cpu" else "float16")
    dtype = getattr(torch, dtype_name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown torch dtype {dtype_name!r} in {ENV_DTYPE}; use float16, bfloat16 or float32")
    return device, dtype


def load_pipeline(auto_class: Any, name: str, settings: Context, device: str | None = None) -> Any:
    """Load a diffusers pipeline with ``auto_class.from_pretrained`` on the chosen device/dtype, bars off."""
    dev, dtype = select_device(device, settings)
    pipe: Any = auto_class.from_pretrained(name, torch_dtype=dtype)
    pipe = pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def product_prompt(description: str, category: str | None = None, color: str | None = None,
                   style: str | None = None) -> str:
    """Return a product-photo prompt for the planner's description of a garment."""
    words = " ".join(x for x in (style, description) if x)
    extra = ", ".join(x for x in (color, category.replace("_", " ") if category else None) if x and x not in words)
    core = f"{words} ({extra})" if extra else words
    return f"a studio product photo of {core}, single garment, plain light background, e-commerce catalog"


class FullSizeGenerator:
    """A diffusers text-to-image pipeline plus the image-to-image pipeline sharing its components."""

    def __init__(self, pipe: Any, name: str = "") -> None:
        self.pipe = pipe
        self.name = name or type(pipe).__name__
        self._img2img: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, model: str | None = None, device: str | None = None, *,
                        settings: Context) -> FullSizeGenerator:
        """Load ``model`` (default ``settings.image_model``) with ``AutoPipelineForText2Image``.

        ``settings`` are the caller's (device, dtype, default model); nothing is read from the environment.

        Raises:
            ValueError: if no model is configured.
        """
        from diffusers import AutoPipelineForText2Image

        name = model or settings.image_model
        if not name:
            raise ValueError(f"no full-size image model configured; set {ENV_MODEL} to a local folder or hub id")
        return cls(load_pipeline(AutoPipelineForText2Image, name, settings, device), name=name)

    def _generator(self, seed: int) -> Any:
        import torch

        return torch.Generator("cpu").manual_seed(int(seed))

    def generate(self, prompt: str, options: GenerationOptions | None = None) -> Image.Image:
        """Return one image for ``prompt``, deterministic in ``options.seed``."""
        o = options or GenerationOptions()
        with self._lock:
            out = self.pipe(prompt=prompt, negative_prompt=o.negative_prompt or None, num_inference_steps=o.steps,
                            guidance_scale=o.guidance, width=o.width, height=o.height,
                            generator=self._generator(o.seed), output_type="pil")
        return out.images[0]

    def edit(self, image: Image.Image, prompt: str, options: GenerationOptions | None = None) -> Image.Image:
        """Return ``image`` changed towards ``prompt`` (img2img, e.g. "the same dress in blue")."""
        o = options or GenerationOptions()
        with self._lock:
            if self._img2img is None:
                from diffusers import AutoPipelineForImage2Image

                self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
                self._img2img.set_progress_bar_config(disable=True)
            out = self._img2img(prompt=prompt, image=image.convert("RGB"), strength=o.strength,
                                negative_prompt=o.negative_prompt or None, num_inference_steps=o.steps,
                                guidance_scale=o.guidance, generator=self._generator(o.seed), output_type="pil")
        return out.images[0]


def _byte_chars() -> list[str]:
    """Return the 256 printable stand-ins byte-level BPE uses for bytes (GPT-2's table)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_tokenizer_dir(folder: str | Path | None = None) -> Path:
    """Write a tiny byte-level CLIP vocabulary (no merges) and return its folder."""
    target = Path(folder or tempfile.mkdtemp(prefix="tiny-clip-tok-"))
    target.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab = {tok: i for i, tok in enumerate([*chars, *(c + "</w>" for c in chars),
                                             "<|startoftext|>", "<|endoftext|>"])}
    (target / "vocab.json").write_text(json.dumps(vocab))
    (target / "merges.txt").write_text("#version: 0.2\n")
    return target


def tiny_components(seed: int = 0, inpaint: bool = False) -> dict[str, Any]:
    """Return randomly initialised miniature Stable Diffusion components built from config (no download).

    With ``inpaint`` the UNet takes 9 input channels (latents, mask, masked-image latents).
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=9 if inpaint else 4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16, norm_num_groups=4,
        attention_head_dim=2)
    torch.manual_seed(seed)
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=4,
                        norm_num_groups=4, sample_size=32)
    torch.manual_seed(seed)
    tok_dir = tiny_tokenizer_dir()
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=32)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, hidden_size=16, intermediate_size=32, num_attention_heads=2,
        num_hidden_layers=2, vocab_size=len(tokenizer), max_position_embeddings=32, projection_dim=16))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
            "scheduler": scheduler, "safety_checker": None, "feature_extractor": None,
            "image_encoder": None, "requires_safety_checker": False}
