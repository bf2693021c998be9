"""Our fashion image encoder (committed weights), safe image loading, and the CLIP backend (tiny, offline)."""

from __future__ import annotations

import io
import json
import shutil
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.catalog.tint import tint_image
from agent.catalog.vocab import CATEGORIES, COLORS
from agent.vision import (
    ClipImageEncoder,
    ImageEncoder,
    ImageEncoderBackend,
    ImageInputError,
    ImageUnderstanding,
    get_image_encoder,
    load_image,
    prepare_image,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and "/" not in host:
            raise RuntimeError(f"network access in tests: {address}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return ImageEncoder.load()


@pytest.fixture(scope="module")
def test_items() -> list[tuple[Image.Image, str, str]]:
    """Ten TEST-split garments per class (never trained on), tinted like the catalog at 224 px."""
    from agent.catalog.fmnist import load_split

    images, labels = load_split("test")
    colors = list(COLORS)
    items = []
    for label, category in enumerate(CATEGORIES):
        for k, idx in enumerate(np.flatnonzero(labels == label)[:10]):
            color = colors[(10 * label + k) % len(colors)]
            items.append((tint_image(images[idx], COLORS[color], size=224), category, color))
    return items


def _png(img: Image.Image, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


# --- our encoder ---------------------------------------------------------------------------------------


def test_importing_agent_vision_does_not_import_torch() -> None:
    code = (
        "import sys, agent.vision; "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_zero_shot_category_and_colour_on_test_split(
    encoder: ImageEncoder, test_items: list[tuple[Image.Image, str, str]]
) -> None:
    results = encoder.classify_many([img for img, _, _ in test_items])
    cats = sum(r.category == cat for r, (_, cat, _) in zip(results, test_items, strict=True))
    cols = sum(r.color == col for r, (_, _, col) in zip(results, test_items, strict=True))
    assert cats >= 85, [(r.category, cat) for r, (_, cat, _) in zip(results, test_items, strict=True)]
    assert cols >= 97, [(r.color, col) for r, (_, _, col) in zip(results, test_items, strict=True)]
    assert all(r.plain_background for r in results)
    assert sum(r.is_confident for r in results) >= 60
    for r in results:
        assert r.top3[0].category == r.category
        assert r.top3[0].probability >= r.top3[1].probability >= r.top3[2].probability
        assert 0.0 <= r.category_confidence <= 1.0 and 0.0 <= r.color_confidence <= 1.0


def test_encode_returns_unit_vectors_in_minilm_dimension(
    encoder: ImageEncoder, test_items: list[tuple[Image.Image, str, str]]
) -> None:
    imgs = [img for img, _, _ in test_items[:3]] + [test_items[0][0].convert("RGBA")]
    vecs = encoder.encode(imgs)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs[0], vecs[3], atol=1e-5)  # RGBA without transparency: same picture
    assert encoder.encode([]).shape == (0, 384)


def test_same_garment_and_colour_are_nearest_neighbours(encoder: ImageEncoder) -> None:
    from agent.catalog.fmnist import load_split

    images, labels = load_split("test")
    dress = np.flatnonzero(labels == CATEGORIES.index("dress"))[:2]
    bag = np.flatnonzero(labels == CATEGORIES.index("bag"))[0]
    vecs = encoder.encode(
        [
            tint_image(images[dress[0]], COLORS["red"]),
            tint_image(images[dress[1]], COLORS["red"]),
            tint_image(images[dress[1]], COLORS["green"]),
            tint_image(images[bag], COLORS["red"]),
        ]
    )
    sims = vecs[0] @ vecs[1:].T
    assert int(np.argmax(sims)) == 0, sims


def test_text_query_finds_matching_image(encoder: ImageEncoder) -> None:
    from agent.catalog.fmnist import load_split

    images, labels = load_split("test")
    picks = [("sneakers", "white"), ("dress", "red"), ("coat", "navy"), ("bag", "brown")]
    imgs = [tint_image(images[np.flatnonzero(labels == CATEGORIES.index(c))[3]], COLORS[k]) for c, k in picks]
    image_vecs = encoder.encode(imgs)
    text_vecs = encoder.encode_text(["white trainers", "a red dress", "a navy jacket", "a brown handbag"])
    assert list(np.argmax(text_vecs @ image_vecs.T, axis=1)) == [0, 1, 2, 3]


def _encoder_copy(encoder: ImageEncoder, folder: Path, *extra: str) -> Path:
    """Copy the encoder's own weight files (no category head), plus ``extra`` files, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json", "prompts.npz", *extra):
        shutil.copy(encoder.weights_dir / name, folder / name)
    return folder


def test_category_head_names_test_garments_better_than_zero_shot(encoder: ImageEncoder, tmp_path: Path) -> None:
    """The shipped supervised head names more test garments than the nearest text prompt does.

    The first 3,000 Fashion-MNIST test garments (never trained on), tinted a cycling catalog colour.
    """
    assert encoder.classifier_config is not None, "the category head ships in agent/vision/weights"
    zero_shot = ImageEncoder.load(_encoder_copy(encoder, tmp_path / "zero_shot"))
    assert zero_shot.classifier_config is None
    from agent.catalog.fmnist import load_split
    from agent.catalog.tint import tint_array

    gray, labels = load_split("test")
    gray, labels = gray[:3000], labels[:3000]
    palette = list(COLORS.values())
    images = [Image.fromarray(tint_array(g, palette[i % len(palette)])) for i, g in enumerate(gray)]
    truth = [CATEGORIES[int(label)] for label in labels]
    head = encoder.classify_many(images)
    plain = zero_shot.classify_many(images)
    head_right = sum(r.category == c for r, c in zip(head, truth, strict=True)) / len(truth)
    plain_right = sum(r.category == c for r, c in zip(plain, truth, strict=True)) / len(truth)
    assert head_right >= 0.91 and head_right > plain_right + 0.01, (head_right, plain_right)
    # Same vectors and colours: the head only names the category.
    np.testing.assert_allclose(encoder.encode(images[:5]), zero_shot.encode(images[:5]), atol=1e-6)
    assert [r.color for r in head] == [r.color for r in plain]
    probs = encoder.category_probabilities(encoder.prepare(images[:3]))
    assert probs is not None and probs.shape == (3, len(CATEGORIES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_half_installed_category_head_says_what_to_do(encoder: ImageEncoder, tmp_path: Path) -> None:
    _encoder_copy(encoder, tmp_path, "classifier.json")
    with pytest.raises(FileNotFoundError, match="train image-classifier"):
        ImageEncoder.load(tmp_path)


def test_category_head_training_writes_loadable_weights(encoder: ImageEncoder, tmp_path: Path) -> None:
    from training.vision.train_classifier import main as train_classifier

    out = _encoder_copy(encoder, tmp_path / "weights")
    argv = ["--members", "encoder:1:1e-3,scratch:1:1e-3", "--limit", "256", "--batch-size", "128",
            "--threads", "1", "--out", str(out), "--work-dir", str(tmp_path / "work")]
    assert train_classifier([*argv, "--no-resume"]) == 0
    config = json.loads((out / "classifier.json").read_text())
    assert config["categories"] == list(CATEGORIES) and config["temperature"] > 0 and config["members"] == 2
    first, second = config["training"]["members"]
    assert first["init"].startswith("encoder ") and second["init"] == "scratch"
    assert (first["seed"], second["seed"]) == (0, 1) and len(first["history"]) == 1
    trained = ImageEncoder.load(out)
    assert trained.classifier_config is not None and len(trained._classifier) == 2
    # Finished members are resumed from their checkpoints, not trained again: same weights.
    before = (out / "classifier.safetensors").read_bytes()
    assert train_classifier(argv) == 0
    assert (out / "classifier.safetensors").read_bytes() == before
    with pytest.raises(SystemExit) as exc:
        train_classifier(["--members", "imagenet:3:1e-3", "--out", str(out)])
    assert exc.value.code == 2
    result = trained.classify(Image.new("RGB", (64, 64), (250, 250, 250)))
    assert result.category in CATEGORIES and abs(sum(s.probability for s in result.top3)) <= 1.0001


def test_real_photo_is_not_claimed_confidently_as_a_wrong_garment(encoder: ImageEncoder) -> None:
    data = pytest.importorskip("skimage.data")
    result = encoder.classify(Image.fromarray(data.astronaut()))
    assert not result.plain_background
    assert (not result.is_confident) or result.category in ("top", "shirt", "coat", "pullover"), result


def test_get_image_encoder_defaults_to_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHIONM3_IMAGE_ENCODER", "some/clip-model")  # settings come from the caller, not here
    enc = get_image_encoder()
    assert isinstance(enc, ImageEncoder) and isinstance(enc, ImageEncoderBackend)
    assert enc is get_image_encoder() is get_image_encoder("fashionm3")


def test_missing_weights_say_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train_encoder"):
        ImageEncoder.load(tmp_path)


# --- preprocessing -------------------------------------------------------------------------------------


def test_prepare_crops_garment_from_plain_background() -> None:
    canvas = Image.new("RGB", (300, 200), (250, 250, 250))
    canvas.paste((200, 30, 40), (20, 30, 80, 170))  # a tall red block off to the left
    prepared = prepare_image(canvas)
    assert prepared.plain_background and prepared.bbox == (20, 30, 80, 170)
    assert prepared.array.shape == (28, 28, 3)
    assert tuple(prepared.array[14, 14]) == (200, 30, 40)
    assert tuple(prepared.array[14, 0]) == (250, 250, 250)  # padded with the background colour


def test_prepare_keeps_busy_photo_whole() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    prepared = prepare_image(Image.fromarray(noise))
    assert not prepared.plain_background and prepared.bbox is None
    assert prepared.array.shape == (28, 28, 3)


# --- bad input -----------------------------------------------------------------------------------------


def test_load_image_rejects_non_image_bytes() -> None:
    with pytest.raises(ImageInputError, match="not an image format"):
        load_image(b"hello, this is a text file\n" * 10)


def test_load_image_rejects_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageInputError, match="does not exist"):
        load_image(tmp_path / "nope.png")


def test_load_image_rejects_truncated_file() -> None:
    data = _png(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(ImageInputError, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])


def test_load_image_rejects_corrupt_payload() -> None:
    data = bytearray(_png(Image.new("RGB", (32, 32), (10, 20, 30))))
    idat = data.index(b"IDAT")
    data[idat + 4 : idat + 20] = b"\x00" * 16
    with pytest.raises(ImageInputError, match="corrupt or truncated"):
        load_image(bytes(data))


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge picture (the pixels are never there)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def test_load_image_rejects_decompression_bomb_before_decoding() -> None:
    with pytest.raises(ImageInputError, match="too large"):
        load_image(_bomb_png(50_000, 50_000))
    with pytest.raises(ImageInputError, match="too large"):
        load_image(_bomb_png(50_000, 50_000), max_pixels=10**12)  # PIL's own guard also maps to our error
    with pytest.raises(ImageInputError, match="over the 1,000-pixel limit"):
        load_image(_png(Image.new("RGB", (40, 40))), max_pixels=1000)


def test_load_image_takes_first_frame_of_animation() -> None:
    frames = [Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = load_image(buf.getvalue())
    assert img.mode == "RGB" and img.getpixel((8, 8))[0] > 200 and img.getpixel((8, 8))[2] < 50


def test_load_image_composites_transparency_on_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    rgba.putpixel((5, 5), (200, 0, 0, 255))
    img = load_image(_png(rgba))
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((5, 5)) == (200, 0, 0)
    la = Image.new("LA", (4, 4), (0, 0))
    assert load_image(_png(la)).getpixel((0, 0)) == (255, 255, 255)


def test_load_image_palette_with_and_without_transparency() -> None:
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert load_image(_png(pal)).getpixel((0, 0)) == (10, 200, 30)
    assert load_image(_png(pal, transparency=1)).getpixel((0, 0)) == (255, 255, 255)


def test_load_image_converts_cmyk() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    buf = io.BytesIO()
    cmyk.save(buf, format="JPEG", quality=95)
    r, g, b = load_image(buf.getvalue()).getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60


def test_load_image_scales_16_bit_and_greyscale() -> None:
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    img16 = Image.fromarray(arr)
    assert img16.mode.startswith("I;16")
    img = load_image(_png(img16))
    assert img.mode == "RGB" and [img.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    grey = load_image(_png(Image.new("L", (4, 4), 77)))
    assert grey.mode == "RGB" and grey.getpixel((0, 0)) == (77, 77, 77)
    bw = load_image(_png(Image.new("1", (4, 4), 1)))
    assert bw.getpixel((0, 0)) == (255, 255, 255)


def test_load_image_accepts_path_and_file_object(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (5, 5), (1, 2, 3)).save(path)
    assert load_image(path).getpixel((0, 0)) == (1, 2, 3)
    assert load_image(str(path)).size == (5, 5)
    with path.open("rb") as fh:
        assert load_image(fh).getpixel((0, 0)) == (1, 2, 3)


# --- CLIP backend (tiny, random, built offline) --------------------------------------------------------


def _tiny_clip(folder: Path) -> Path:
    import torch
    import transformers
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer

    image_processor_cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    chars = list("abcdefghijklmnopqrstuvwxyz.,-'")
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))
    eos = vocab["<|endoftext|>"]
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "eos_token_id": eos,
            "bos_token_id": vocab["<|startoftext|>"],
            "pad_token_id": eos,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 30,
            "patch_size": 6,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    image_processor = image_processor_cls(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def test_clip_backend_with_tiny_random_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    from agent.context import Context
    from agent.services import Services

    folder = _tiny_clip(tmp_path / "tiny-clip")
    monkeypatch.setenv("FASHIONM3_IMAGE_ENCODER", "")  # the environment is never read below start-up
    enc = Services().get_image_encoder(Context(image_encoder=str(folder)))
    assert enc is get_image_encoder(str(folder))
    assert isinstance(enc, ClipImageEncoder) and isinstance(enc, ImageEncoderBackend)
    imgs = [Image.new("RGB", (50, 40), (200, 0, 0)), Image.new("RGBA", (20, 60), (0, 0, 200, 128))]
    vecs = enc.encode(imgs)
    assert vecs.shape == (2, 16) and enc.dim == 16
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    text = enc.encode_text(["a red coat.", "a blue bag."])
    assert text.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    result = enc.classify(imgs[0])
    assert isinstance(result, ImageUnderstanding)
    assert result.category in CATEGORIES and result.color in COLORS and result.backend.startswith("clip:")
    assert abs(sum(s.probability for s in result.top3) - 1.0) < 1.0
    assert isinstance(get_image_encoder(), ImageEncoder)
    assert isinstance(Services().get_image_encoder(Context()), ImageEncoder)
