"""Try-on figures over 5 catalog tops on 3 real photos: torso IoU, untouched pixels, latency; saves PNGs.

    .venv/bin/python benchmarks/bench_try_on.py   # PNGs in out/try_on/
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from agent.context import Context
from agent.services import open_catalog
from agent.tryon import TryOnRequest, get_backend


def photos() -> dict[str, np.ndarray]:
    from matplotlib import cbook
    from skimage import data

    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    return {"astronaut": data.astronaut(), "cameraman": np.stack([data.camera()] * 3, -1), "grace_hopper": hopper}


def main() -> None:
    catalog = open_catalog(Context.from_env())
    tops = [i for i in catalog.items.values() if i.category == "top"][:5]
    backend = get_backend("mediapipe")
    out = Path("out/try_on")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    backend.try_on(TryOnRequest(person=photos()["astronaut"], garment=np.asarray(
        Image.open(catalog.image_path(tops[0])).convert("RGB")), category="top"))  # type: ignore[arg-type]
    print(f"first call (loads mediapipe models): {time.perf_counter() - t0:.2f} s")
    for name, person in photos().items():
        ious, diffs, lats = [], [], []
        for item in tops:
            g = np.asarray(Image.open(catalog.image_path(item)).convert("RGB"))  # type: ignore[arg-type]
            t = time.perf_counter()
            r = backend.try_on(TryOnRequest(person=person, garment=g, category="top"))
            lats.append(time.perf_counter() - t)
            d = np.abs(r.image.astype(int) - person.astype(int)).mean(axis=-1)
            ious.append(r.data["torso_iou"])
            diffs.append(float(d[~r.mask].mean()))
            Image.fromarray(r.image).save(out / f"{name}_{item.id}.png")
        print(f"{name}: torso IoU mean {np.mean(ious):.3f} min {min(ious):.3f}; outside-mask mean abs diff "
              f"{max(diffs):.3f}; latency mean {np.mean(lats):.3f} s max {max(lats):.3f} s")


if __name__ == "__main__":
    main()
