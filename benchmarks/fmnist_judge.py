"""An independent judge for generated garments: a small supervised CNN trained on real Fashion-MNIST.

It never sees generated images and shares nothing with the generator or the image encoder, so its
accuracy on generated samples says whether they look like the asked-for class to a model of real
garments. It is trained on first use (about 2-3 minutes on one thread, seed 0) and cached at
``data/judge/fmnist_judge.pt``; its accuracy on the real test split is printed next to every figure.

    .venv/bin/python benchmarks/fmnist_judge.py        # train (if not cached) and print test accuracy
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.catalog.fmnist import load_split

CACHE = Path("data/judge/fmnist_judge.pt")
EPOCHS = 5
SEED = 0


def build() -> Any:
    """Return the judge network: two conv stages and a small head (grey 28x28 in, 10 logits out)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def _to_input(gray: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(gray.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)


def train(path: Path = CACHE) -> Any:
    """Train the judge on the whole real train split, save it to ``path`` and return it."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    torch.manual_seed(SEED)
    images, labels = load_split("train")
    x_all, y_all = _to_input(images), torch.from_numpy(labels.astype(np.int64))
    net = build()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = EPOCHS * (len(images) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    with tqdm(total=steps, desc="judge", file=sys.stdout, mininterval=5) as bar:
        for _ in range(EPOCHS):
            order = torch.randperm(len(images), generator=gen)
            net.train()
            for s in range(len(images) // 128):
                idx = order[s * 128 : (s + 1) * 128]
                x = x_all[idx]
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x[flip] = x[flip].flip(-1)
                loss = F.cross_entropy(net(x), y_all[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
    net.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "train_s": round(time.time() - t0, 1)}, path)
    return net


def load(path: Path = CACHE) -> Any:
    """Return the cached judge, training it first when the cache is missing."""
    import torch

    if not path.is_file():
        return train(path)
    net = build()
    net.load_state_dict(torch.load(path, weights_only=True)["state"])
    return net.eval()


def predict(net: Any, gray: np.ndarray) -> np.ndarray:
    """Return the predicted class index for each ``(N, 28, 28)`` uint8 grey garment (white on black)."""
    import torch

    out = []
    with torch.inference_mode():
        for s in range(0, len(gray), 1000):
            out.append(net(_to_input(gray[s : s + 1000])).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def test_accuracy(net: Any) -> float:
    """Return the judge's accuracy on the 10,000 real test images."""
    images, labels = load_split("test")
    return float(np.mean(predict(net, images) == labels))


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    judge = load()
    print(f"judge accuracy on the real Fashion-MNIST test split: {test_accuracy(judge):.4f}")
