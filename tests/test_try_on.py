"""Virtual try-on: the mediapipe backend on real photos shipped in packages, bad inputs, and the tool."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mediapipe")
pytest.importorskip("cv2")

from agent.catalog.store import Catalog  # noqa: E402
from agent.context import Context  # noqa: E402
from agent.plan import ImageInfo  # noqa: E402
from agent.tryon import TryOnInputError, TryOnRequest, get_backend  # noqa: E402
from tools.base import ToolContext  # noqa: E402
from tools.virtual_try_on import VirtualTryOn  # noqa: E402


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def cameraman() -> np.ndarray:
    from skimage import data

    return np.stack([data.camera()] * 3, axis=-1)


def grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(path).convert("RGB"))


PEOPLE = {"astronaut": astronaut, "cameraman": cameraman, "grace_hopper": grace_hopper}


def garment(catalog: Catalog, category: str, n: int = 1) -> list[tuple[str, np.ndarray]]:
    items = [i for i in catalog.items.values() if i.category == category][:n]
    return [(i.id, np.asarray(Image.open(catalog.image_path(i)).convert("RGB"))) for i in items]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def backend():  # type: ignore[no-untyped-def]
    return get_backend("mediapipe")


def _label(name: str, shape: tuple[int, ...]) -> np.ndarray:
    import json

    from PIL import ImageDraw

    spec = json.loads((Path(__file__).parents[1] / "benchmarks" / "try_on_labels.json").read_text())["photos"][name]
    img = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(img)
    for poly in spec["include"]:
        draw.polygon([tuple(p) for p in poly], fill=1)
    for poly in spec["exclude"]:
        draw.polygon([tuple(p) for p in poly], fill=0)
    return np.asarray(img, dtype=bool)


@pytest.mark.parametrize("photo", ["astronaut", "cameraman", "grace_hopper"])
def test_clothing_region_matches_hand_labels_and_leaves_skin_and_hair(photo: str) -> None:
    from agent.tryon.body import get_analyzer
    from agent.tryon.clothing import Cut, find_clothing
    from agent.tryon.regions import protected_mask

    person = PEOPLE[photo]()
    body = get_analyzer().analyze(person)
    region = find_clothing(person, body, Cut("long", "knee"))
    truth = _label(photo, person.shape)
    iou = (region.clothing & truth).sum() / (region.clothing | truth).sum()
    assert iou >= 0.8, iou
    # skin: the face-seeded model finds the face, and neither skin nor hair nor the face is ever in the region
    face = protected_mask(body) & (body.person > 0.5)
    assert (region.skin & face).sum() > 0.3 * face.sum()
    assert region.hair.sum() > 1000
    drawn = region.alpha > 0
    assert not (drawn & region.skin).any() and not (drawn & region.hair).any() and not (drawn & face).any()
    assert not (region.clothing & region.skin).any()


def test_skin_coloured_neck_and_hopper_face_stay_out_but_white_collar_is_clothing() -> None:
    from agent.tryon.body import get_analyzer
    from agent.tryon.clothing import Cut, find_clothing

    person = grace_hopper()
    region = find_clothing(person, get_analyzer().analyze(person), Cut("long", "hip"))
    assert region.skin[350:395, 240:290].mean() > 0.6  # the neck in the V of the collar
    assert region.alpha[350:395, 240:290].mean() < 0.2
    assert region.alpha[385:420, 212:232].mean() > 0.7  # the white collar beside it is clothing


def test_sleeves_follow_the_garment_cut() -> None:
    from agent.tryon.body import L_ELBOW, get_analyzer
    from agent.tryon.clothing import Cut, find_clothing, garment_cut

    person = astronaut()
    body = get_analyzer().analyze(person)
    # the astronaut's (image-)left arm: around the elbow, outside the trunk
    x, y = body.points[L_ELBOW] if body.points[L_ELBOW][0] < body.width / 2 else body.points[14]
    arm = np.zeros(person.shape[:2], bool)
    arm[int(y) - 25:int(y) + 25, max(0, int(x) - 25):int(x) + 10] = True
    drawn = {s: (find_clothing(person, body, Cut(s, "hip")).alpha > 0.5) for s in ("long", "short", "none")}
    assert drawn["long"][arm].mean() > 0.8
    assert drawn["none"][arm].mean() < 0.1 and drawn["short"][arm].mean() < 0.5
    assert drawn["none"].sum() < drawn["short"].sum() < drawn["long"].sum()
    cropped = find_clothing(person, body, Cut("long", "cropped")).alpha > 0.5
    assert cropped.sum() < 0.9 * drawn["long"].sum()
    assert garment_cut("top", "Relaxed Pink Silk Tank Top") == Cut("none", "hip")
    assert garment_cut("top", "Urban White Knit Crop Top").length == "cropped"
    assert garment_cut("pullover", "Street Black Knit Jumper").sleeves == "long"
    assert garment_cut("trousers", "Red Chinos") == Cut("none", "legs")


def _lab(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return np.asarray(rgb2lab(rgb))


def _first(catalog: Catalog, category: str, colour: str) -> tuple[str, str, np.ndarray]:
    item = next(i for i in catalog.items.values() if i.category == category and i.color == colour)
    return item.id, item.title, np.asarray(Image.open(catalog.image_path(item)).convert("RGB"))  # type: ignore[arg-type]


def test_white_renders_light_with_folds_black_dark_with_shading_rest_untouched(backend, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    person = astronaut()
    before = _lab(person)[..., 0]
    for category, colour in (("top", "white"), ("pullover", "black"), ("top", "pink")):
        _, title, g = _first(catalog, category, colour)
        r = backend.try_on(TryOnRequest(person=person, garment=g, category=category, description=title))
        assert r.image.shape == person.shape and r.image.dtype == np.uint8
        assert np.array_equal(r.image[~r.mask], person[~r.mask])  # byte-identical outside the region
        inside = r.mask & (np.abs(r.image.astype(int) - person.astype(int)).max(-1) >= 0)
        after = _lab(r.image)[..., 0][inside]
        corr = np.corrcoef(before[inside], after)[0, 1]
        if colour == "white":
            assert np.median(after) > 80 and np.std(after) > 4, (np.median(after), np.std(after))
        elif colour == "black":
            assert np.median(after) < 25 and np.std(after) > 2, (np.median(after), np.std(after))
        assert corr > 0.6, (colour, corr)
        # the shoulder-hip polygon also holds the neck ring, the patches and the helmet, which keep their pixels
        assert r.data["region_px"] > 40000 and r.data["torso_coverage"] > 0.5


def test_trim_keeps_its_pixels_while_the_fabric_around_it_changes(backend, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    person = astronaut()
    _, title, g = _first(catalog, "pullover", "black")
    r = backend.try_on(TryOnRequest(person=person, garment=g, category="pullover", description=title))
    patch = (slice(370, 400), slice(155, 185))  # the round mission patch on the chest
    suit = (slice(420, 450), slice(70, 100))  # orange suit below it
    same = (r.image[patch] == person[patch]).all(axis=-1).mean()
    assert same > 0.9, same
    assert _lab(r.image[suit])[..., 0].mean() < 30 < _lab(person[suit])[..., 0].mean()


def test_a_large_photo_gets_the_same_region_as_its_small_copy(backend, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    import cv2

    small = astronaut()
    big = cv2.resize(small, (1600, 1600), interpolation=cv2.INTER_CUBIC)
    _, title, g = _first(catalog, "pullover", "black")
    r_small = backend.try_on(TryOnRequest(person=small, garment=g, category="pullover", description=title))
    r_big = backend.try_on(TryOnRequest(person=big, garment=g, category="pullover", description=title))
    down = cv2.resize(r_big.mask.astype(np.uint8), (512, 512), interpolation=cv2.INTER_NEAREST) > 0
    assert (down & r_small.mask).sum() / (down | r_small.mask).sum() > 0.85
    assert np.array_equal(r_big.image[~r_big.mask], big[~r_big.mask])


def test_face_and_hands_untouched(backend, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    from agent.tryon.body import get_analyzer
    from agent.tryon.regions import protected_mask

    person = astronaut()
    (_, g), = garment(catalog, "pullover")
    r = backend.try_on(TryOnRequest(person=person, garment=g, category="pullover"))
    protect = protected_mask(get_analyzer().analyze(person))
    assert protect.sum() > 5000
    assert not (r.mask & protect).any()


def _bare_forearm(person: np.ndarray) -> np.ndarray:
    """The astronaut with her (image-)left forearm's sleeve painted in the colour of her cheeks."""
    import cv2

    from agent.tryon.body import L_ELBOW, L_WRIST, R_ELBOW, R_WRIST, get_analyzer

    body = get_analyzer().analyze(person)
    left = body.points[L_ELBOW][0] < body.points[R_ELBOW][0]
    e, w = (body.points[L_ELBOW], body.points[L_WRIST]) if left else (body.points[R_ELBOW], body.points[R_WRIST])
    cheek = np.median(person[100:125, 205:245].reshape(-1, 3), axis=0)
    out = person.copy()
    mask = np.zeros(person.shape[:2], np.uint8)
    cv2.line(mask, (int(e[0]), int(e[1])), (int(w[0]), int(w[1])), 1, 70)
    rng = np.random.default_rng(0)
    skin = np.clip(cheek + rng.normal(0, 4, person.shape), 0, 255).astype(np.uint8)
    out[(mask > 0) & (body.person > 0.5)] = skin[(mask > 0) & (body.person > 0.5)]
    return out


def test_long_sleeves_on_bare_forearms_are_said_in_the_reply(settings: Context, catalog: Catalog,
                                                             tmp_path: Path) -> None:
    settings = settings.with_(data_dir=str(tmp_path / "data"), catalog_dir=settings.catalog_dir)
    photo = _upload(tmp_path, _bare_forearm(astronaut()))
    item = next(i for i in catalog.items.values() if i.category == "pullover")
    res = VirtualTryOn()({"item_id": item.id}, ToolContext(settings=settings, catalog=catalog, images=[photo], turn=2))
    assert res.ok, res.message
    assert res.data["sleeves"] == "long" and res.data["uncovered"] == ["forearms"]
    assert "only where the clothes in your photo are" in res.message and "forearms" in res.message
    # a sleeveless top needs no sleeves: nothing to say
    tank = next(i for i in catalog.items.values() if i.category == "top" and "Tank" in i.title)
    res = VirtualTryOn()({"item_id": tank.id}, ToolContext(settings=settings, catalog=catalog, images=[photo], turn=3))
    assert res.ok and res.data["sleeves"] == "none" and "only where" not in res.message


def test_trousers_on_a_full_length_photo(backend, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    (_, g), = garment(catalog, "trousers")
    r = backend.try_on(TryOnRequest(person=cameraman(), garment=g, category="trousers"))
    assert r.mask.sum() > 2000
    ys = np.nonzero(r.mask)[0]
    assert ys.mean() > 0.55 * r.image.shape[0]  # below the waist


@pytest.mark.parametrize(("make", "category", "message"), [
    (lambda: __import__("skimage.data", fromlist=["x"]).chelsea(), "top", "couldn't find a person"),
    (lambda: __import__("skimage.data", fromlist=["x"]).coffee(), "top", "couldn't find a person"),
    (lambda: np.concatenate([astronaut(), astronaut()[:, ::-1]], axis=1), "top", "2 people"),
    (lambda: astronaut(), "trousers", "hips and legs aren't in this photo"),
    (lambda: grace_hopper(), "dress", "dress needs your body down to the hips"),
    (lambda: np.asarray(Image.fromarray(astronaut()).resize((96, 96))), "top", "too small"),
    (lambda: np.zeros((300, 4200, 3), np.uint8), "top", "too large"),
    (lambda: astronaut(), "sneakers", "can't show sneakers on a photo"),
    (lambda: astronaut(), "bag", "can't show bags on a photo"),
])
def test_bad_person_inputs_are_clear(backend, catalog: Catalog, make, category: str, message: str) -> None:  # type: ignore[no-untyped-def]
    cat = category if category not in ("sneakers", "bag") else category
    (_, g), = garment(catalog, cat)
    with pytest.raises(TryOnInputError, match=message):
        backend.try_on(TryOnRequest(person=make(), garment=g, category=category))


def test_garment_without_separable_background(backend) -> None:  # type: ignore[no-untyped-def]
    from skimage import data

    with pytest.raises(TryOnInputError, match="can't separate this garment"):
        backend.try_on(TryOnRequest(person=astronaut(), garment=data.coffee(), category="top"))


def _upload(ctx_dir: Path, arr: np.ndarray, turn: int = 1) -> ImageInfo:
    img = Image.fromarray(arr)
    sha = hashlib.sha256(arr.tobytes()).hexdigest()
    path = ctx_dir / f"{sha}.png"
    img.save(path)
    return ImageInfo(sha256=sha, path=str(path), turn=turn, width=img.width, height=img.height)


def test_tool_saves_png_and_returns_image(settings: Context, catalog: Catalog, tmp_path: Path) -> None:
    settings = settings.with_(data_dir=str(tmp_path / "data"), catalog_dir=settings.catalog_dir)
    photo = _upload(tmp_path, astronaut())
    item = next(i for i in catalog.items.values() if i.category == "top")
    ctx = ToolContext(settings=settings, catalog=catalog, images=[photo], turn=2)
    res = VirtualTryOn()({"item_id": item.id, "person_image": "latest"}, ctx)
    assert res.ok, res.message
    (info,) = res.images
    assert info.kind == "try_on" and info.category == "top" and info.color == item.color
    assert Path(info.path).is_file() and Path(info.path).parent == settings.media_dir
    out = np.asarray(Image.open(info.path).convert("RGB"))
    assert out.shape == (512, 512, 3)
    assert res.items[0].id == item.id and res.data["torso_coverage"] >= 0.5 and "only where" not in res.message


@pytest.mark.parametrize(("args", "images", "message"), [
    ({"item_id": "TOP-0001", "person_image": "latest"}, [], "Attach a photo of yourself"),
    ({"item_id": "NOPE-1", "person_image": "latest"}, ["astronaut"], "NOPE-1"),
    ({"item_id": "BAG-0001", "person_image": "latest"}, ["astronaut"], "can't show bags"),
    ({"item_id": "TOP-0001", "person_image": "latest"}, ["chelsea"], "couldn't find a person"),
    ({"person_image": "latest"}, ["astronaut"], "item_id"),
])
def test_tool_errors_write_nothing(settings: Context, catalog: Catalog, tmp_path: Path, args, images,  # type: ignore[no-untyped-def]
                                   message: str) -> None:
    from skimage import data

    settings = settings.with_(data_dir=str(tmp_path / "data"), catalog_dir=settings.catalog_dir)
    arrays = {"astronaut": astronaut(), "chelsea": data.chelsea()}
    infos = [_upload(tmp_path, arrays[n]) for n in images]
    res = VirtualTryOn()(args, ToolContext(settings=settings, catalog=catalog, images=infos))
    assert not res.ok and message in res.message
    assert not settings.media_dir.exists() or not any(settings.media_dir.iterdir())


def test_generated_garment_image_can_be_tried_on(settings: Context, catalog: Catalog, tmp_path: Path) -> None:
    settings = settings.with_(data_dir=str(tmp_path / "data"), catalog_dir=settings.catalog_dir)
    photo = _upload(tmp_path, astronaut())
    (_, g), = garment(catalog, "pullover")
    gen = _upload(tmp_path, g, turn=2).model_copy(update={"kind": "generated", "category": "pullover",
                                                          "color": "red"})
    ctx = ToolContext(settings=settings, catalog=catalog, images=[photo, gen], turn=3)
    res = VirtualTryOn()({"garment_image": gen.sha256[:12], "person_image": "latest"}, ctx)
    assert res.ok, res.message
    assert res.images[0].kind == "try_on" and res.data["person_image"] == photo.sha256


# -- HTTP backend against a loopback fake service -------------------------------------------------


class _FakeService:
    def __init__(self, mode: str) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.mode = mode
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

            def do_POST(self) -> None:  # noqa: N802
                import base64
                import io
                import time

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if outer.mode == "slow":
                    time.sleep(2)
                if outer.mode == "reject":
                    code, payload = 422, {"error": "No person found in the photo."}
                elif outer.mode == "broken":
                    code, payload = 500, {"detail": "boom"}
                else:
                    with Image.open(io.BytesIO(base64.b64decode(body["person_png_base64"]))) as im:
                        arr = np.asarray(im.convert("RGB")).copy()
                    arr[100:200, 100:200] = 0
                    buf = io.BytesIO()
                    Image.fromarray(arr).save(buf, format="PNG")
                    code, payload = 200, {"image_png_base64": base64.b64encode(buf.getvalue()).decode()}
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout test): nothing to answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/try-on"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("mode", ["ok", "reject", "broken", "slow"])
def test_http_backend_contract(catalog: Catalog, mode: str) -> None:
    from agent.tryon.http_backend import HttpTryOn, TryOnServiceError

    svc = _FakeService(mode)
    try:
        (_, g), = garment(catalog, "top")
        person = astronaut()
        be = HttpTryOn(svc.url, timeout=0.5)
        req = TryOnRequest(person=person, garment=g, category="top", color="white", description="a top")
        if mode == "ok":
            r = be.try_on(req)
            assert 9000 < r.mask.sum() <= 100 * 100 and r.backend == "http"
            assert svc.requests[0]["category"] == "top" and svc.requests[0]["color"] == "white"
        elif mode == "reject":
            with pytest.raises(TryOnInputError, match="No person found"):
                be.try_on(req)
        elif mode == "broken":
            with pytest.raises(TryOnServiceError, match="answered 500"):
                be.try_on(req)
        else:
            with pytest.raises(TryOnServiceError, match="timed out"):
                be.try_on(req)
    finally:
        svc.close()


def test_http_backend_unreachable() -> None:
    from agent.tryon.http_backend import HttpTryOn, TryOnServiceError

    be = HttpTryOn("http://127.0.0.1:9/none", timeout=1.0)
    with pytest.raises(TryOnServiceError, match="unreachable"):
        be.try_on(TryOnRequest(person=astronaut(), garment=astronaut(), category="top"))


def test_inpaint_backend_with_tiny_components(catalog: Catalog) -> None:
    pytest.importorskip("diffusers")
    from diffusers import StableDiffusionInpaintPipeline

    from agent.imagegen.full_size import tiny_components
    from agent.tryon.inpaint import InpaintTryOn

    pipe = StableDiffusionInpaintPipeline(**tiny_components(inpaint=True))
    pipe.set_progress_bar_config(disable=True)
    be = InpaintTryOn(pipe, steps=2, size=64)
    (_, g), = garment(catalog, "top")
    person = astronaut()
    req = TryOnRequest(person=person, garment=g, category="top", color="red", description="a red top")
    r1, r2 = be.try_on(req), be.try_on(req)
    assert np.array_equal(r1.image, r2.image)
    assert r1.mask.sum() > 10000 and (r1.image[~r1.mask] == person[~r1.mask]).all()
    with pytest.raises(TryOnInputError, match="can't show bags"):
        be.try_on(TryOnRequest(person=person, garment=g, category="bag"))


def test_person_photo_is_analysed_once_from_ingest_to_try_on(settings: Context, catalog: Catalog,
                                                             tmp_path: Path) -> None:
    from agent.tryon.body import get_analyzer
    from agent.vision.ingest import ingest_attachment

    settings = settings.with_(data_dir=str(tmp_path / "data"), catalog_dir=settings.catalog_dir)
    src = tmp_path / "me.png"
    pixels = astronaut().copy()
    pixels[0, 0] ^= 1  # a photo no earlier test analysed
    Image.fromarray(pixels).save(src)
    analyzer = get_analyzer()
    before = analyzer.detections
    info = ingest_attachment(str(src), settings.media_dir, 1, settings.max_upload_bytes, settings.max_image_pixels)
    assert info.role == "person" and analyzer.detections == before + 1
    item = next(i for i in catalog.items.values() if i.category == "top")
    ctx = ToolContext(settings=settings, catalog=catalog, images=[info], turn=1)
    res = VirtualTryOn()({"item_id": item.id, "person_image": "latest"}, ctx)
    assert res.ok, res.message
    assert analyzer.detections == before + 1  # the try-on reused the detections made at ingest
