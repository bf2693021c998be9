"""Read the Fashion-MNIST IDX files shipped by Debian's ``dataset-fashion-mnist`` package."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from agent.context import DEFAULT_FASHION_MNIST_DIR

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DatasetMissingError(RuntimeError):
    """Fashion-MNIST is not installed where we looked."""


def dataset_dir(explicit: str | None = None) -> Path:
    """Return the folder holding the Fashion-MNIST files, checking that they are there.

    Looks at ``explicit``, then ``FASHIONM3_FASHION_MNIST_DIR``, then the Debian package location.
    """
    folder = Path(explicit or os.environ.get("FASHIONM3_FASHION_MNIST_DIR") or DEFAULT_FASHION_MNIST_DIR)
    missing = [name for pair in FILES.values() for name in pair if not (folder / name).is_file()]
    if missing:
        raise DatasetMissingError(
            f"Fashion-MNIST files not found in {folder} (missing {', '.join(missing)}). Install Debian's "
            "package with `sudo apt-get install dataset-fashion-mnist` (or `make setup`), or point "
            "FASHIONM3_FASHION_MNIST_DIR at a folder holding the four *-ubyte.gz files."
        )
    return folder


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    if (magic >> 8) != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x})")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    arr = np.frombuffer(data, dtype=np.uint8, offset=offset)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {arr.size}")
    return arr.reshape(dims)


def load_split(split: str = "train", folder: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)``: uint8 arrays of shape ``(N, 28, 28)`` and ``(N,)``."""
    if split not in FILES:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    root = dataset_dir(folder)
    img_name, lbl_name = FILES[split]
    images = _read_idx(root / img_name)
    labels = _read_idx(root / lbl_name)
    if len(images) != len(labels):
        raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
    return images, labels
