"""Our default generator: a small class-conditional ``UNet2DModel`` on grey Fashion-MNIST, sampled with DDIM.

The UNet predicts noise for 28x28 grey garments (bright on black, as in Fashion-MNIST), conditioned on
the category through class embeddings. Label ``10`` is the "no class" token used for classifier-free
guidance. Colour is applied afterwards exactly as the catalog applies it
(:func:`agent.catalog.tint.tint_image`), so a generated "red dress" looks like a catalog item.

Torch and diffusers are imported inside functions: importing this module stays light.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.catalog.tint import tint_image
from agent.catalog.vocab import CATEGORIES, COLORS

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODEL_NAME = "fashionm3-fmnist-ddpm"
IMAGE_SIZE = 28
NULL_CLASS = len(CATEGORIES)
DEFAULT_STEPS = 30
DEFAULT_GUIDANCE = 1.5

#: Architecture of the default UNet (about 0.7M parameters); the training script records it in config.json.
UNET_CONFIG: dict[str, Any] = {
    "sample_size": IMAGE_SIZE,
    "in_channels": 1,
    "out_channels": 1,
    "block_out_channels": (16, 32, 64),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    "up_block_types": ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    "num_class_embeds": NULL_CLASS + 1,
    "norm_num_groups": 8,
    "attention_head_dim": 16,
}

#: Noise schedule used in training (DDPM) and sampling (DDIM with the same betas).
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "clip_sample": True,
}


class WeightsMissingError(FileNotFoundError):
    """The generator's weights are not installed; the message says how to train them."""


def build_unet(config: dict[str, Any] | None = None) -> Any:
    """Return a freshly initialised ``UNet2DModel`` with the default (or given) architecture."""
    from diffusers import UNet2DModel

    return UNet2DModel(**(config or UNET_CONFIG))


def to_model_space(gray: np.ndarray) -> np.ndarray:
    """Map uint8 grey images ``(N, 28, 28)`` to float32 ``(N, 1, 28, 28)`` in ``[-1, 1]``."""
    return (gray.astype(np.float32)[:, None] / 127.5) - 1.0


def from_model_space(x: Any) -> np.ndarray:
    """Map a tensor ``(N, 1, H, W)`` in ``[-1, 1]`` back to uint8 grey ``(N, H, W)``."""
    arr = x.detach().float().clamp(-1, 1).cpu().numpy()[:, 0]
    return np.clip((arr + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class GeneratedGarment:
    """One generated garment: its grey image, the RGB render and how it was made."""

    gray: np.ndarray
    image: Image.Image
    category: str
    color: str
    seed: int
    steps: int
    guidance: float
    model: str = MODEL_NAME


class FashionGenerator:
    """Sample grey Fashion-MNIST-style garments of a given category, and colour them like the catalog."""

    def __init__(self, unet: Any, scheduler_config: dict[str, Any] | None = None, name: str = MODEL_NAME) -> None:
        self.unet = unet.eval()
        self.scheduler_config = dict(scheduler_config or SCHEDULER_CONFIG)
        self.name = name
        self._lock = threading.Lock()

    @classmethod
    def load(cls, weights_dir: Path | str = WEIGHTS_DIR) -> FashionGenerator:
        """Load the UNet saved by the training script (``config.json`` + safetensors) from ``weights_dir``.

        Raises:
            WeightsMissingError: if no weights are there.
        """
        folder = Path(weights_dir)
        if not (folder / "config.json").is_file():
            raise WeightsMissingError(
                f"No generator weights in {folder}. Train them with `fashionm3 train generator` "
                "(= `python -m training.imagegen.train_generator`)."
            )
        from diffusers import UNet2DModel

        unet = UNet2DModel.from_pretrained(str(folder), local_files_only=True)
        return cls(unet)

    def sample_gray(self, labels: list[int], seed: int = 0, steps: int = DEFAULT_STEPS,
                    guidance: float = DEFAULT_GUIDANCE) -> np.ndarray:
        """Return uint8 grey garments ``(N, 28, 28)`` for class ``labels``, deterministic in ``seed``.

        Uses DDIM (eta 0) with classifier-free guidance: ``eps = eps_null + guidance * (eps_c - eps_null)``.
        """
        import torch
        from diffusers import DDIMScheduler

        n = len(labels)
        if n == 0:
            return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        scheduler: Any = DDIMScheduler(**self.scheduler_config)
        scheduler.set_timesteps(steps)
        gen = torch.Generator("cpu").manual_seed(int(seed))
        size = int(self.unet.config.sample_size)
        x = torch.randn((n, 1, size, size), generator=gen)
        y = torch.tensor(labels, dtype=torch.long)
        y_all = torch.cat([y, torch.full_like(y, NULL_CLASS)]) if guidance != 1.0 else y
        with self._lock, torch.inference_mode():
            for t in scheduler.timesteps:
                inp = torch.cat([x, x]) if guidance != 1.0 else x
                eps = self.unet(inp, t, class_labels=y_all).sample
                if guidance != 1.0:
                    eps_c, eps_u = eps.chunk(2)
                    eps = eps_u + guidance * (eps_c - eps_u)
                x = scheduler.step(eps, t, x, eta=0.0).prev_sample
        return from_model_space(x)

    def generate(self, category: str, color: str, seed: int = 0, steps: int = DEFAULT_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, size: int = 224) -> GeneratedGarment:
        """Return one garment of ``category`` tinted ``color`` and upscaled to ``size`` pixels."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; use one of: {', '.join(CATEGORIES)}")
        if color not in COLORS:
            raise ValueError(f"unknown colour {color!r}; use one of: {', '.join(COLORS)}")
        gray = self.sample_gray([CATEGORIES.index(category)], seed=seed, steps=steps, guidance=guidance)[0]
        image = tint_image(gray, COLORS[color], size=size)
        return GeneratedGarment(gray=gray, image=image, category=category, color=color, seed=seed,
                                steps=steps, guidance=guidance, model=self.name)

    def recolor(self, gray: np.ndarray, color: str, size: int = 224) -> Image.Image:
        """Return the same garment in another colour (the default path's edit)."""
        return tint_image(gray, COLORS[color], size=size)


_DEFAULT: FashionGenerator | None = None
_DEFAULT_LOCK = threading.Lock()


def get_generator(weights_dir: Path | str | None = None) -> FashionGenerator:
    """Return the process-wide default generator, loading it on first use."""
    global _DEFAULT
    if weights_dir is not None:
        return FashionGenerator.load(weights_dir)
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = FashionGenerator.load(WEIGHTS_DIR)
        return _DEFAULT
