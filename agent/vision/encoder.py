"""Image understanding: our small fashion image encoder aligned to the MiniLM text space, and a CLIP backend.

The default backend (:class:`ImageEncoder`) is a ~0.7M-parameter CNN trained by
``training.vision.train_encoder`` on tinted Fashion-MNIST garments so that its 384-d unit vectors live in
the same space as the frozen all-MiniLM-L6-v2 text embeddings (:mod:`agent.embeddings`). Text queries
and catalog images can therefore be compared directly, and zero-shot classification is the nearest
text prompt: the category (or colour) whose mean prompt embedding is most similar to the image. A
supervised category head of the same architecture (``training.vision.train_classifier``), shipped next to
the encoder weights, names the category when present.

:class:`ClipImageEncoder` loads any CLIP/SigLIP-family model through ``transformers`` (a local path or a
hub id, given by a run's ``Context.image_encoder``, env ``FASHIONM3_IMAGE_ENCODER``). Its vectors live
in that model's own joint space, not the MiniLM one, so its text side
(:meth:`ClipImageEncoder.encode_text`) is what zero-shot classification and text-to-image search use
with it.

Torch and transformers are imported lazily, on first use: importing this module stays light.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from agent.catalog.vocab import CATEGORIES, COLOR_SYNONYMS, COLORS
from agent.media import ImageInputError, load_image, to_rgb  # noqa: F401 - re-exported for callers of this module

EMBEDDING_DIM = 384
INPUT_SIZE = 28
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PROMPTS_FILE = "prompts.npz"
CLASSIFIER_WEIGHTS_FILE = "classifier.safetensors"
CLASSIFIER_CONFIG_FILE = "classifier.json"
ENV_IMAGE_ENCODER = "FASHIONM3_IMAGE_ENCODER"

#: Below this softmax probability for the category, :attr:`ImageUnderstanding.is_confident` is False.
CONFIDENCE_THRESHOLD = 0.6

#: Names used in the zero-shot category prompts (several per category; their embeddings are averaged).
CATEGORY_PROMPT_NAMES: dict[str, tuple[str, ...]] = {
    "top": ("t-shirt", "top", "tee", "blouse", "tank top"),
    "trousers": ("pair of trousers", "pair of pants", "pair of jeans", "pair of slacks"),
    "pullover": ("pullover", "sweater", "jumper", "hoodie", "cardigan"),
    "dress": ("dress", "gown", "sundress", "frock"),
    "coat": ("coat", "jacket", "parka", "overcoat"),
    "sandals": ("pair of sandals", "sandal", "pair of slides", "pair of flip flops"),
    "shirt": ("shirt", "button-down shirt", "collared shirt", "flannel shirt"),
    "sneakers": ("pair of sneakers", "pair of trainers", "pair of running shoes", "sneaker"),
    "bag": ("bag", "handbag", "purse", "tote bag"),
    "ankle_boots": ("pair of ankle boots", "pair of boots", "pair of booties", "pair of chelsea boots"),
}

#: Zero-shot category prompt templates. Training uses different wordings (see training/vision/train_encoder.py).
CATEGORY_PROMPT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a product shot of a {}.",
    "this is a {}.",
    "a close-up photo of the {}.",
)

#: Zero-shot colour prompt templates, filled with each colour's first three names.
COLOR_PROMPT_TEMPLATES: tuple[str, ...] = (
    "something {}.",
    "a {} item.",
    "the colour {}.",
    "a {} thing.",
    "it is {}.",
    "mostly {}.",
)


def category_prompts(category: str) -> list[str]:
    """Return the zero-shot prompts whose mean embedding stands for ``category``."""
    return [t.format(n) for n in CATEGORY_PROMPT_NAMES[category] for t in CATEGORY_PROMPT_TEMPLATES]


def color_prompts(color: str) -> list[str]:
    """Return the zero-shot prompts whose mean embedding stands for ``color``."""
    return [t.format(n) for n in COLOR_SYNONYMS[color][:3] for t in COLOR_PROMPT_TEMPLATES]


@dataclass(frozen=True)
class PreparedImage:
    """A model-ready square image and what preprocessing found.

    Attributes:
        array: ``(size, size, 3)`` uint8 RGB pixels.
        plain_background: True when the border was near-uniform (a product shot), so the garment was
            cropped to its bounding box.
        bbox: The crop box ``(left, top, right, bottom)`` in the original image, or None.
    """

    array: np.ndarray
    plain_background: bool
    bbox: tuple[int, int, int, int] | None


def prepare_image(image: Image.Image, size: int = INPUT_SIZE) -> PreparedImage:
    """Crop the garment from a plain background, pad it square with that background, and resize.

    The background colour is the median of a thin border ring. When at least half of the border and
    three of the four corners are within a small tolerance of it (garments may touch the edges, but
    rarely the corners), the image counts as a product shot and is cropped to the box of the pixels
    that differ from it; otherwise the whole image is padded square.
    """
    rgb = to_rgb(image)
    if max(rgb.size) > 320:
        rgb = rgb.copy()
        rgb.thumbnail((320, 320), Image.Resampling.BOX)
    arr = np.asarray(rgb, dtype=np.int16)
    h, w = arr.shape[:2]
    ring = max(1, round(0.02 * min(h, w)))
    border = np.concatenate(
        [
            arr[:ring].reshape(-1, 3),
            arr[-ring:].reshape(-1, 3),
            arr[:, :ring].reshape(-1, 3),
            arr[:, -ring:].reshape(-1, 3),
        ]
    )
    bg = np.median(border, axis=0)
    border_diff = np.abs(border - bg).max(axis=1)
    patch = max(2, round(0.06 * min(h, w)))
    corners = [arr[:patch, :patch], arr[:patch, -patch:], arr[-patch:, :patch], arr[-patch:, -patch:]]
    clean_corners = sum(float(np.mean(np.abs(c - bg).max(axis=2) <= 24)) >= 0.8 for c in corners)
    plain = bool(np.mean(border_diff <= 24) >= 0.5 and clean_corners >= 3)
    bbox: tuple[int, int, int, int] | None = None
    if plain:
        noise = float(np.percentile(border_diff[border_diff <= 24], 95))
        mask = np.abs(arr - bg).max(axis=2) > max(10.0, 2.0 * noise)
        rows = np.flatnonzero(mask.sum(axis=1) > 0.002 * w)
        cols = np.flatnonzero(mask.sum(axis=0) > 0.002 * h)
        if rows.size and cols.size and mask.sum() >= 0.001 * h * w:
            bbox = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            rgb = rgb.crop(bbox)
        else:
            plain = False
    fill = tuple(int(round(v)) for v in bg)
    cw, ch = rgb.size
    side = max(cw, ch)
    canvas = Image.new("RGB", (side, side), fill)  # type: ignore[arg-type]
    canvas.paste(rgb, ((side - cw) // 2, (side - ch) // 2))
    if side != size:
        canvas = canvas.resize((size, size), Image.Resampling.BOX if side >= 2 * size else Image.Resampling.BILINEAR)
    return PreparedImage(array=np.asarray(canvas, dtype=np.uint8), plain_background=plain, bbox=bbox)


# ---------------------------------------------------------------------------------------------------
# Results


class CategoryScore(BaseModel):
    """One candidate category and its probability."""

    category: str
    probability: float


class ImageUnderstanding(BaseModel):
    """What an image encoder makes of one image."""

    category: str = Field(description="Most likely canonical category.")
    category_confidence: float = Field(description="Softmax probability of that category (0-1).")
    top3: list[CategoryScore] = Field(description="Three most likely categories, best first.")
    color: str = Field(description="Most likely basic colour name.")
    color_confidence: float = Field(description="Softmax probability of that colour (0-1).")
    similarity: float = Field(description="Cosine between the image and its best category prompt.")
    plain_background: bool = Field(description="Whether the image looked like a product shot.")
    is_confident: bool = Field(
        description=(
            "True when the category probability reaches the backend's threshold, the image is close "
            "enough to a garment prompt, and (for our encoder) the image is a product shot."
        )
    )
    backend: str = Field(description="Which encoder produced this.")


@runtime_checkable
class ImageEncoderBackend(Protocol):
    """What the assistant needs from an image encoder."""

    name: str
    dim: int

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Return ``(n, dim)`` float32 unit vectors for the images."""
        ...

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Return ``(n, dim)`` float32 unit vectors for texts, comparable with :meth:`encode`."""
        ...

    def classify(self, image: Image.Image) -> ImageUnderstanding:
        """Return the zero-shot category and colour of one image."""
        ...


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def _understand(
    image_vecs: np.ndarray,
    category_protos: np.ndarray,
    color_protos: np.ndarray,
    category_scale: float,
    color_scale: float,
    min_similarity: float,
    plain: Sequence[bool],
    require_plain: bool,
    backend: str,
    category_probs: np.ndarray | None = None,
) -> list[ImageUnderstanding]:
    """Turn image vectors into understandings.

    ``category_probs`` (from a supervised category head) replaces the zero-shot category softmax;
    the similarity that tells garments from other pictures is then the best one over all category
    prompts, as it was calibrated.
    """
    cat_sims = image_vecs @ category_protos.T
    col_sims = image_vecs @ color_protos.T
    cat_p = _softmax(cat_sims * category_scale) if category_probs is None else category_probs
    col_p = _softmax(col_sims * color_scale)
    colors = list(COLORS)
    out = []
    for i in range(len(image_vecs)):
        order = np.argsort(-cat_p[i])
        best = int(order[0])
        ci = int(np.argmax(col_p[i]))
        sim = float(cat_sims[i, best] if category_probs is None else cat_sims[i].max())
        confident = (
            float(cat_p[i, best]) >= CONFIDENCE_THRESHOLD
            and sim >= min_similarity
            and (bool(plain[i]) or not require_plain)
        )
        out.append(
            ImageUnderstanding(
                category=CATEGORIES[best],
                category_confidence=round(float(cat_p[i, best]), 4),
                top3=[
                    CategoryScore(category=CATEGORIES[int(j)], probability=round(float(cat_p[i, j]), 4))
                    for j in order[:3]
                ],
                color=colors[ci],
                color_confidence=round(float(col_p[i, ci]), 4),
                similarity=round(sim, 4),
                plain_background=bool(plain[i]),
                is_confident=confident,
                backend=backend,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------
# Our encoder


@dataclass
class EncoderConfig:
    """Architecture and calibration of our encoder, stored as ``config.json`` next to the weights.

    Attributes:
        input_size: Side of the square RGB input.
        widths: Channels of each convolution stage (a 2x2 max-pool follows each stage but the last).
        depths: 3x3 conv + BatchNorm + ReLU blocks per stage.
        pool: Side of the adaptive average pool before the head.
        hidden: Width of the head's hidden layer.
        embed_dim: Output dimension (the MiniLM space).
        dropout: Dropout before the head (training only).
        category_scale: Softmax temperature (logit scale) for category prompts, calibrated on validation.
        color_scale: Same for colour prompts.
        min_similarity: Cosine to the best category prompt below which an image is out of domain.
        text_model: The text model whose space the embeddings live in.
        training: Free-form record of how the weights were trained and validated.
    """

    input_size: int = INPUT_SIZE
    widths: tuple[int, ...] = (32, 64, 128)
    depths: tuple[int, ...] = (1, 2, 2)
    pool: int = 3
    hidden: int = 256
    embed_dim: int = EMBEDDING_DIM
    dropout: float = 0.1
    category_scale: float = 30.0
    color_scale: float = 30.0
    min_similarity: float = 0.0
    text_model: str = "all-MiniLM-L6-v2"
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, path: Path) -> EncoderConfig:
        """Read a config written by :meth:`to_json`."""
        raw = json.loads(path.read_text())
        raw["widths"] = tuple(raw["widths"])
        raw["depths"] = tuple(raw["depths"])
        return cls(**raw)

    def to_json(self, path: Path) -> None:
        """Write the config as indented JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def build_network(config: EncoderConfig) -> Any:
    """Return the (untrained) ``torch.nn.Sequential`` encoder network described by ``config``.

    Input: ``(B, 3, S, S)`` floats in [-1, 1] (see :func:`to_model_input`). Output: ``(B, embed_dim)``
    unnormalised vectors.
    """
    from torch import nn

    if len(config.widths) != len(config.depths):
        raise ValueError("widths and depths must have the same length")
    layers: list[nn.Module] = []
    c_in = 3
    for stage, (width, depth) in enumerate(zip(config.widths, config.depths, strict=True)):
        for _ in range(depth):
            layers += [
                nn.Conv2d(c_in, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            c_in = width
        layers.append(nn.MaxPool2d(2) if stage < len(config.widths) - 1 else nn.AdaptiveAvgPool2d(config.pool))
    layers += [
        nn.Flatten(),
        nn.Dropout(config.dropout),
        nn.Linear(c_in * config.pool * config.pool, config.hidden),
        nn.ReLU(inplace=True),
        nn.Linear(config.hidden, config.embed_dim),
    ]
    return nn.Sequential(*layers)


@dataclass
class ClassifierConfig:
    """Architecture and calibration of the supervised category head (``classifier.json``).

    Attributes:
        widths, depths, pool, hidden, dropout: As in :class:`EncoderConfig`; the output is one logit
            per category in :data:`CATEGORIES` order.
        members: How many independently trained networks of that shape are averaged (an ensemble).
        temperature: Logits (averaged over the members, the image and its mirror image) are divided by
            this before the softmax; calibrated on validation.
        val_accuracy: Accuracy on the validation hold-out, with the mirror averaging.
        categories: The category order of the logits.
        training: Free-form record of how the weights were trained.
    """

    widths: tuple[int, ...] = (32, 64, 128)
    depths: tuple[int, ...] = (2, 2, 2)
    pool: int = 3
    hidden: int = 256
    dropout: float = 0.1
    members: int = 1
    temperature: float = 1.0
    val_accuracy: float = 0.0
    categories: tuple[str, ...] = tuple(CATEGORIES)
    training: dict[str, Any] = field(default_factory=dict)

    def network(self) -> EncoderConfig:
        """Return the :class:`EncoderConfig` that builds one member network of this classifier."""
        return EncoderConfig(widths=self.widths, depths=self.depths, pool=self.pool, hidden=self.hidden,
                             dropout=self.dropout, embed_dim=len(self.categories))

    @classmethod
    def from_json(cls, path: Path) -> ClassifierConfig:
        """Read a config written by :meth:`to_json`."""
        raw = json.loads(path.read_text())
        for key in ("widths", "depths", "categories"):
            raw[key] = tuple(raw[key])
        return cls(**raw)

    def to_json(self, path: Path) -> None:
        """Write the config as indented JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def build_classifier(config: ClassifierConfig) -> Any:
    """Return the (untrained) ``torch.nn.ModuleList`` of ``config.members`` category networks."""
    from torch import nn

    return nn.ModuleList([build_network(config.network()) for _ in range(config.members)])


def classifier_logits(members: Any, x: Any) -> Any:
    """Return the category logits of ``members`` for input ``x``: averaged over members and mirroring."""
    flipped = x.flip(-1)
    return sum(m(x) + m(flipped) for m in members) / (2 * len(members))


def weights_fingerprint(weights_dir: str | Path = DEFAULT_WEIGHTS_DIR) -> str:
    """Return the first 16 hex digits of the sha256 of our encoder's weights file ("" when absent)."""
    path = Path(weights_dir) / WEIGHTS_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else ""


def encoder_fingerprint() -> str:
    """Return a short hash of the shipped image encoder's weights (the planner's image projector is tied to them).

    Training writes it into the planner's ``planner.json``; the fine-tuned planner compares it at load time.
    """
    return weights_fingerprint()


def encoder_identity(encoder: Any) -> str:
    """Return what identifies the vectors an encoder backend makes (its ``identity``, else its name)."""
    return str(getattr(encoder, "identity", getattr(encoder, "name", type(encoder).__name__)))


def to_model_input(arrays: np.ndarray) -> np.ndarray:
    """Turn ``(B, S, S, 3)`` uint8 pixels into the network's ``(B, 3, S, S)`` float32 input in [-1, 1]."""
    x = arrays.astype(np.float32).transpose(0, 3, 1, 2)
    return x / 127.5 - 1.0


class ImageEncoder:
    """Our fashion image encoder: 384-d unit vectors in the MiniLM text space.

    Zero-shot prompts are precomputed with MiniLM at training time and shipped in ``prompts.npz``,
    so :meth:`classify` needs no text model; :meth:`encode_text` loads MiniLM on first use.
    """

    name = "fashionm3-cnn"
    dim = EMBEDDING_DIM

    def __init__(self, weights_dir: str | Path | None = None, threads: int | None = None) -> None:
        self.weights_dir = Path(weights_dir) if weights_dir else DEFAULT_WEIGHTS_DIR
        self.threads = threads
        self.config = EncoderConfig()
        self._net: Any = None
        self._torch: Any = None
        self.category_prototypes = np.zeros((len(CATEGORIES), EMBEDDING_DIM), dtype=np.float32)
        self.color_prototypes = np.zeros((len(COLORS), EMBEDDING_DIM), dtype=np.float32)
        self.classifier_config: ClassifierConfig | None = None
        self._classifier: Any = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        """Which weights make the vectors (``fashionm3-cnn:<sha256 prefix of the weights file>``)."""
        return f"{self.name}:{weights_fingerprint(self.weights_dir) or 'missing'}"

    @classmethod
    def load(cls, weights_dir: str | Path | None = None, threads: int | None = None) -> ImageEncoder:
        """Return an encoder with its weights loaded from ``weights_dir`` (the shipped ones by default)."""
        enc = cls(weights_dir, threads=threads)
        enc.setup()
        return enc

    def setup(self) -> None:
        """Load the weights and prompt embeddings (idempotent).

        Raises:
            FileNotFoundError: if the weights folder lacks a file; the message says how to train them.
        """
        if self._net is not None:
            return
        with self._lock:
            if self._net is not None:
                return
            missing = [f for f in (WEIGHTS_FILE, CONFIG_FILE, PROMPTS_FILE) if not (self.weights_dir / f).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"image encoder weights missing in {self.weights_dir} ({', '.join(missing)}); train them "
                    "with `fashionm3 train image-encoder --out agent/vision/weights` "
                    "(= `python -m training.vision.train_encoder`)"
                )
            import torch
            from safetensors.torch import load_file

            if self.threads:
                torch.set_num_threads(self.threads)
            self.config = EncoderConfig.from_json(self.weights_dir / CONFIG_FILE)
            net = build_network(self.config)
            state = {
                k: v.float() if v.is_floating_point() else v
                for k, v in load_file(str(self.weights_dir / WEIGHTS_FILE)).items()
            }
            net.load_state_dict(state)
            net.eval()
            prompts = np.load(self.weights_dir / PROMPTS_FILE)
            self._check_labels(list(prompts["categories"]), list(CATEGORIES), "categories")
            self._check_labels(list(prompts["colors"]), list(COLORS), "colours")
            self.category_prototypes = _unit(prompts["category_embeddings"].astype(np.float32))
            self.color_prototypes = _unit(prompts["color_embeddings"].astype(np.float32))
            self._load_classifier(load_file)
            self._torch = torch
            self._net = net

    def _load_classifier(self, load_file: Any) -> None:
        """Load the supervised category head when the weights folder has one (trained by train_classifier)."""
        weights, config_path = self.weights_dir / CLASSIFIER_WEIGHTS_FILE, self.weights_dir / CLASSIFIER_CONFIG_FILE
        if not weights.is_file() and not config_path.is_file():
            return
        if not (weights.is_file() and config_path.is_file()):
            raise FileNotFoundError(
                f"{self.weights_dir} has only one of {CLASSIFIER_WEIGHTS_FILE} and {CLASSIFIER_CONFIG_FILE}; "
                "retrain the category head with `fashionm3 train image-classifier` or remove the other file"
            )
        config = ClassifierConfig.from_json(config_path)
        self._check_labels(list(config.categories), list(CATEGORIES), "categories")
        net = build_classifier(config)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()})
        net.eval()
        self.classifier_config = config
        self._classifier = net

    def category_probabilities(self, prepared: Sequence[PreparedImage], batch_size: int = 512) -> np.ndarray | None:
        """Return the category head's calibrated ``(n, 10)`` probabilities, or None without a head.

        The logits of every member network, for each image and its mirror image (garments are
        left-right symmetric in the training data), are averaged, then divided by the calibrated
        temperature.
        """
        self.setup()
        if self._classifier is None or self.classifier_config is None:
            return None
        torch = self._torch
        out = np.zeros((len(prepared), len(CATEGORIES)), dtype=np.float32)
        for start in range(0, len(prepared), batch_size):
            chunk = torch.from_numpy(to_model_input(np.stack([p.array for p in prepared[start : start + batch_size]])))
            with torch.inference_mode():
                logits = classifier_logits(self._classifier, chunk)
                probs = torch.softmax(logits / self.classifier_config.temperature, dim=-1)
            out[start : start + len(chunk)] = probs.numpy()
        return out

    @staticmethod
    def _check_labels(found: list[str], expected: list[str], what: str) -> None:
        if [str(x) for x in found] != expected:
            raise ValueError(f"prompt embeddings were made for other {what} ({found}); retrain the encoder")

    def prepare(self, images: Sequence[Image.Image]) -> list[PreparedImage]:
        """Preprocess images for the network (crop, pad square, resize)."""
        return [prepare_image(img, self.config.input_size) for img in images]

    def encode_prepared(self, prepared: Sequence[PreparedImage], batch_size: int = 512) -> np.ndarray:
        """Return unit vectors for already prepared images."""
        self.setup()
        torch = self._torch
        out = np.zeros((len(prepared), self.dim), dtype=np.float32)
        for start in range(0, len(prepared), batch_size):
            chunk = np.stack([p.array for p in prepared[start : start + batch_size]])
            with torch.inference_mode():
                vec = self._net(torch.from_numpy(to_model_input(chunk)))
                vec = torch.nn.functional.normalize(vec, dim=-1)
            out[start : start + len(chunk)] = vec.numpy()
        return out

    def encode(self, images: Sequence[Image.Image], batch_size: int = 512) -> np.ndarray:
        """Return ``(n, 384)`` float32 unit vectors for PIL images (any mode; converted to RGB)."""
        self.setup()
        return self.encode_prepared(self.prepare(images), batch_size=batch_size)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Return MiniLM unit vectors for texts (the same space as :meth:`encode`)."""
        from agent.embeddings import get_text_embedder

        return get_text_embedder().encode(list(texts))

    def classify_many(self, images: Sequence[Image.Image]) -> list[ImageUnderstanding]:
        """Return category and colour for each image.

        The category comes from the supervised category head when the weights folder has one
        (``classifier.safetensors``), else from the nearest text prompt (zero-shot); the colour is
        always the nearest colour prompt.
        """
        return self.embed_and_classify(images)[1]

    def embed_and_classify(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[ImageUnderstanding]]:
        """Return the images' vectors (as :meth:`encode`) and understandings (as :meth:`classify_many`).

        Each image is prepared and run through the encoder once for both.
        """
        self.setup()
        prepared = self.prepare(images)
        vecs = self.encode_prepared(prepared)
        return vecs, _understand(
            vecs,
            self.category_prototypes,
            self.color_prototypes,
            self.config.category_scale,
            self.config.color_scale,
            self.config.min_similarity,
            [p.plain_background for p in prepared],
            require_plain=True,
            backend=self.name,
            category_probs=self.category_probabilities(prepared),
        )

    def classify(self, image: Image.Image) -> ImageUnderstanding:
        """Return the zero-shot category and colour of one image.

        ``is_confident`` is False when the category probability is below :data:`CONFIDENCE_THRESHOLD`,
        when the image is further from every category prompt than validation garments were
        (``config.min_similarity``), or when the background is busy: the encoder only ever saw
        product shots on a plain background.
        """
        return self.classify_many([image])[0]


# ---------------------------------------------------------------------------------------------------
# CLIP / SigLIP backend


class ClipImageEncoder:
    """A CLIP/SigLIP-family model loaded with ``transformers`` (``AutoModel`` + ``AutoProcessor``).

    Its vectors live in the model's own joint space (not MiniLM's): use :meth:`encode_text` for
    text queries against its image vectors. Zero-shot classification uses the same prompt wording
    as our encoder, embedded by the model's text tower.
    """

    def __init__(self, model_id: str, device: str = "cpu") -> None:
        self.model_id = model_id
        self.device = device
        self.name = f"clip:{model_id}"
        self.dim = 0
        self._model: Any = None
        self._processor: Any = None
        self._torch: Any = None
        self._protos: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        """Which model makes the vectors (``clip:<path or hub id>``)."""
        return self.name

    @classmethod
    def load(cls, model_id: str, device: str = "cpu") -> ClipImageEncoder:
        """Return a loaded encoder for a local path or hub id."""
        enc = cls(model_id, device)
        enc.setup()
        return enc

    def setup(self) -> None:
        """Load the model and processor (idempotent)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModel, AutoProcessor

            model = AutoModel.from_pretrained(self.model_id)
            model.eval().to(self.device)
            self._processor = AutoProcessor.from_pretrained(self.model_id)
            cfg = model.config
            self.dim = int(getattr(cfg, "projection_dim", 0) or cfg.text_config.hidden_size)
            self._torch = torch
            self._model = model

    @staticmethod
    def _features(out: Any) -> Any:
        return out if hasattr(out, "norm") else out.pooler_output

    def encode(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        """Return ``(n, dim)`` unit vectors for PIL images."""
        self.setup()
        torch = self._torch
        chunks = []
        for start in range(0, len(images), batch_size):
            batch = [to_rgb(im) for im in images[start : start + batch_size]]
            inputs = self._processor(images=batch, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                feats = self._features(self._model.get_image_features(pixel_values=inputs["pixel_values"]))
            chunks.append(torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, self.dim), np.float32)

    def encode_text(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Return ``(n, dim)`` unit vectors for texts from the model's text tower."""
        self.setup()
        torch = self._torch
        chunks = []
        for start in range(0, len(texts), batch_size):
            inputs = self._processor(
                text=list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                feats = self._features(
                    self._model.get_text_features(
                        **{k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
                    )
                )
            chunks.append(torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, self.dim), np.float32)

    def _prototypes(self) -> tuple[np.ndarray, np.ndarray]:
        if self._protos is None:
            cats = np.stack([_unit(self.encode_text(category_prompts(c)).mean(0)) for c in CATEGORIES])
            cols = np.stack([_unit(self.encode_text(color_prompts(c)).mean(0)) for c in COLORS])
            self._protos = (cats, cols)
        return self._protos

    def classify(self, image: Image.Image) -> ImageUnderstanding:
        """Return zero-shot category and colour using the model's text tower and its logit scale."""
        return self.embed_and_classify([image])[1][0]

    def embed_and_classify(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[ImageUnderstanding]]:
        """Return the images' vectors (as :meth:`encode`) and zero-shot understandings, encoding each once."""
        self.setup()
        cats, cols = self._prototypes()
        scale = float(self._model.logit_scale.exp().item()) if hasattr(self._model, "logit_scale") else 100.0
        vecs = self.encode(images)
        return vecs, _understand(
            vecs,
            cats,
            cols,
            scale,
            scale,
            -1.0,
            [True] * len(vecs),
            require_plain=False,
            backend=self.name,
        )


# ---------------------------------------------------------------------------------------------------
# Shared instances

_shared: dict[str, ImageEncoderBackend] = {}
_shared_lock = threading.Lock()


def get_image_encoder(model: str = "") -> ImageEncoderBackend:
    """Return the process-wide image encoder for ``model`` (created on first use, weights loaded lazily).

    ``model`` is a run's ``Context.image_encoder`` (the caller passes it; nothing is read from the
    environment here): empty, ``fashionm3`` or ``default`` for ours, a folder of our weights (holding
    ``config.json`` and ``prompts.npz``), or a local path / hub id of a CLIP/SigLIP model. One
    instance is kept per ``model``, so runs with different settings each get theirs.
    """
    key = model.strip()
    if key in ("fashionm3", "default"):
        key = ""
    with _shared_lock:
        encoder = _shared.get(key)
        if encoder is None:
            if not key:
                encoder = ImageEncoder()
            elif (Path(key) / PROMPTS_FILE).is_file():
                encoder = ImageEncoder(key)
            else:
                encoder = ClipImageEncoder(key)
            _shared[key] = encoder
        return encoder
