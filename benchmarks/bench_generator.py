"""Measure the default generator on generated samples (equal numbers per class):

* category accuracy by an independent judge, a supervised CNN trained on real Fashion-MNIST
  (``benchmarks/fmnist_judge.py``; its own accuracy on the real test split is printed beside it),
* category accuracy by our image encoder's zero-shot head (nearest text prompt) on the tinted samples,
* colour accuracy by the encoder's colour head,
* sampling time per image and the recorded training time. A grid of samples is written to
  ``out/generator/samples.png`` to look at.

    .venv/bin/python benchmarks/bench_generator.py --n 1000 --steps 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from agent.catalog.tint import tint_image
from agent.catalog.vocab import CATEGORIES, COLORS
from agent.imagegen.fmnist_ddpm import DEFAULT_GUIDANCE, WEIGHTS_DIR, get_generator

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from fmnist_judge import load as load_judge
    from fmnist_judge import predict, test_accuracy

    from agent.vision import get_image_encoder

    gen = get_generator()
    enc = get_image_encoder()
    colors = list(COLORS)
    labels = [i % len(CATEGORIES) for i in range(a.n)]
    cols = [colors[(i // len(CATEGORIES) + i) % len(colors)] for i in range(a.n)]
    grays = []
    t0 = time.perf_counter()
    for start in range(0, a.n, a.batch):
        grays.append(gen.sample_gray(labels[start:start + a.batch], seed=start, steps=a.steps, guidance=a.guidance))
    sample_s = (time.perf_counter() - t0) / a.n
    gray = np.concatenate(grays)
    images = [tint_image(g, COLORS[c]) for g, c in zip(gray, cols, strict=True)]
    und = enc.classify_many(images)
    cat_ok = np.array([u.category == CATEGORIES[y] for u, y in zip(und, labels, strict=True)])
    col_ok = np.array([u.color == c for u, c in zip(und, cols, strict=True)])
    per_class = {CATEGORIES[k]: round(float(cat_ok[np.array(labels) == k].mean()), 3) for k in range(len(CATEGORIES))}
    judge = load_judge()
    judge_ok = predict(judge, gray) == np.array(labels)
    judge_per_class = {
        CATEGORIES[k]: round(float(judge_ok[np.array(labels) == k].mean()), 3) for k in range(len(CATEGORIES))
    }
    out = Path("out/generator")
    out.mkdir(parents=True, exist_ok=True)
    grid = np.zeros((10 * 30, 10 * 30), dtype=np.uint8)
    for k in range(10):
        for j in range(min(10, a.n // 10)):
            grid[k * 30 + 1 : k * 30 + 29, j * 30 + 1 : j * 30 + 29] = gray[k + 10 * j]
    Image.fromarray(255 - grid).resize((600, 600), Image.Resampling.NEAREST).save(out / "samples.png")
    t1 = time.perf_counter()
    gen.generate("dress", "red", seed=0, steps=a.steps, guidance=a.guidance)
    single = time.perf_counter() - t1
    training = json.loads((WEIGHTS_DIR / "training.json").read_text())
    print(json.dumps({
        "n": a.n, "steps": a.steps, "guidance": a.guidance,
        "judge_category_accuracy": round(float(judge_ok.mean()), 4),
        "judge_accuracy_on_real_test_split": round(test_accuracy(judge), 4),
        "judge_per_class": judge_per_class,
        "encoder_category_accuracy": round(float(cat_ok.mean()), 4), "color_accuracy": round(float(col_ok.mean()), 4),
        "encoder_per_class": per_class, "sample_s_per_image_batched": round(sample_s, 4),
        "sample_s_single_image": round(single, 3), "train_steps": training["steps"],
        "train_seconds": training["train_seconds"], "parameters": training["parameters"],
    }, indent=2))


if __name__ == "__main__":
    main()
