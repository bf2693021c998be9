"""generate_image: prompt parsing, the default DDIM generator, and full-size diffusers paths with tiny components."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.context import Context
from agent.imagegen.prompt import PromptError, parse_garment
from agent.plan import ImageInfo
from tools.base import ToolContext
from tools.generate_image import GenerateImage

pytest.importorskip("diffusers")


@pytest.mark.parametrize(("prompt", "cat", "col", "want"), [
    ("design me a red evening dress", None, None, ("dress", "red")),
    ("a burgundy hoodie", None, None, ("pullover", "red")),
    ("some navy blue jeans", None, None, ("trousers", "navy")),
    ("chelsea boots", None, None, ("ankle_boots", "grey")),
    ("something nice", "coat", "beige", ("coat", "beige")),
    ("a tote", None, "Gray", ("bag", "grey")),
])
def test_parse_garment(prompt: str, cat: str | None, col: str | None, want: tuple[str, str]) -> None:
    spec = parse_garment(prompt, cat, col)
    assert (spec.category, spec.color) == want


def test_parse_garment_errors() -> None:
    with pytest.raises(PromptError, match="I can draw these kinds"):
        parse_garment("a nice hat")
    with pytest.raises(PromptError, match="don't know the colour"):
        parse_garment("a dress", color="octarine")


@pytest.fixture()
def random_generator(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import torch

    from agent.imagegen import fmnist_ddpm

    torch.manual_seed(0)
    gen = fmnist_ddpm.FashionGenerator(fmnist_ddpm.build_unet())
    monkeypatch.setattr(fmnist_ddpm, "_DEFAULT", gen)
    monkeypatch.setattr(fmnist_ddpm, "DEFAULT_STEPS", 4)
    monkeypatch.delenv("FASHIONM3_IMAGE_MODEL", raising=False)
    return gen


def _ctx(tmp_path: Path, settings: dict | None = None, **kw) -> ToolContext:  # type: ignore[no-untyped-def,type-arg]
    return ToolContext(settings=Context(data_dir=str(tmp_path / "data"), **(settings or {})), **kw)


def test_default_generator_is_seed_deterministic(random_generator) -> None:  # type: ignore[no-untyped-def]
    a = random_generator.sample_gray([3, 0], seed=7, steps=4)
    b = random_generator.sample_gray([3, 0], seed=7, steps=4)
    c = random_generator.sample_gray([3, 0], seed=8, steps=4)
    assert a.shape == (2, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_tool_default_path_saves_png_with_metadata(random_generator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(tmp_path, turn=3)
    res = GenerateImage()({"prompt": "a red evening dress", "category": "dress", "color": "red", "seed": 5}, ctx)
    assert res.ok, res.message
    (info,) = res.images
    assert info.kind == "generated" and info.category == "dress" and info.color == "red" and info.turn == 3
    with Image.open(info.path) as im:
        assert im.size == (224, 224) and im.format == "PNG"
        assert im.text["prompt"] == "a red evening dress" and im.text["seed"] == "5"
        assert im.text["model"] == "fashionm3-fmnist-ddpm"
        arr = np.asarray(im.convert("RGB")).astype(int)
    # colour is applied like the catalog: garment pixels are reddish, background off-white
    assert arr[..., 0].mean() > arr[..., 1].mean() + 20 and arr[..., 0].mean() > arr[..., 2].mean() + 20
    again = GenerateImage()({"prompt": "a red evening dress", "category": "dress", "color": "red", "seed": 5}, ctx)
    assert again.images[0].sha256 == info.sha256
    assert [p.name for p in Path(info.path).parent.iterdir()] == [Path(info.path).name]


def test_tool_reads_category_and_colour_from_prompt(random_generator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = GenerateImage()({"prompt": "design me navy chinos"}, _ctx(tmp_path))
    assert res.ok and (res.images[0].category, res.images[0].color) == ("trousers", "navy")


def test_tool_unknown_garment_is_a_clear_error(random_generator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = GenerateImage()({"prompt": "a spaceship"}, _ctx(tmp_path))
    assert not res.ok and "I can draw these kinds of item" in res.message
    assert not (tmp_path / "data" / "media").exists()


# -- full-size paths with tiny random components (no download) -------------------------------------


@pytest.fixture(scope="module")
def tiny_full():  # type: ignore[no-untyped-def]
    from diffusers import StableDiffusionPipeline

    from agent.imagegen.full_size import FullSizeGenerator, tiny_components

    pipe = StableDiffusionPipeline(**tiny_components())
    pipe.set_progress_bar_config(disable=True)
    return FullSizeGenerator(pipe, name="tiny-sd")


def test_image_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHIONM3_IMAGE_STEPS", "2")
    monkeypatch.setenv("FASHIONM3_IMAGE_SIZE", "64")
    monkeypatch.setenv("FASHIONM3_TRYON_TIMEOUT", "2.5")
    s = Context.from_env()
    assert (s.image_steps, s.image_size, s.tryon_timeout) == (2, 64, 2.5)
    monkeypatch.setenv("FASHIONM3_IMAGE_STEPS", "many")
    with pytest.raises(ValueError, match="FASHIONM3_IMAGE_STEPS='many' is not a number"):
        Context.from_env()


def test_full_size_text_to_image_deterministic(tiny_full) -> None:  # type: ignore[no-untyped-def]
    from agent.imagegen.full_size import GenerationOptions

    o = GenerationOptions(seed=3, steps=2, width=64, height=64, guidance=5.0, negative_prompt="blurry")
    a, b = tiny_full.generate("a red dress", o), tiny_full.generate("a red dress", o)
    assert a.size == (64, 64) and np.array_equal(np.asarray(a), np.asarray(b))
    c = tiny_full.generate("a red dress", GenerationOptions(seed=4, steps=2, width=64, height=64))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_full_size_tool_and_img2img_edit(tiny_full, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(tmp_path, settings={"image_steps": 2, "image_size": 64}, services={"image_generator": tiny_full})
    res = GenerateImage()({"prompt": "a red evening dress", "seed": 1}, ctx)
    assert res.ok, res.message
    first = res.images[0]
    with Image.open(first.path) as im:
        assert im.size == (64, 64) and im.text["model"] == "tiny-sd"
    ctx.images = [first]
    edit = GenerateImage()({"prompt": "show it in blue", "edit_image": first.sha256[:10]}, ctx)
    assert edit.ok, edit.message
    e = edit.images[0]
    assert e.category == "dress" and e.color == "blue" and e.sha256 != first.sha256
    from diffusers import StableDiffusionImg2ImgPipeline

    assert isinstance(tiny_full._img2img, StableDiffusionImg2ImgPipeline)


@pytest.mark.slow
def test_full_size_from_pretrained_local_folder(tiny_full, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from agent.imagegen.full_size import FullSizeGenerator, GenerationOptions

    folder = tmp_path / "tiny-sd"
    tiny_full.pipe.save_pretrained(str(folder))
    monkeypatch.setenv("FASHIONM3_IMAGE_MODEL", "not/this-one")  # the caller's settings decide, not the environment
    gen = FullSizeGenerator.from_pretrained(device="cpu", settings=Context(image_model=str(folder)))
    img = gen.generate("a coat", GenerationOptions(steps=2, width=64, height=64))
    assert img.size == (64, 64) and gen.name == str(folder)


def test_generated_image_info_is_usable_later(random_generator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = GenerateImage()({"prompt": "a green shirt"}, _ctx(tmp_path))
    info = ImageInfo.model_validate(res.images[0].model_dump())
    assert Path(info.path).is_file() and info.width == 224 and info.kind == "generated"
