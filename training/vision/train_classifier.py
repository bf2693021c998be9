"""Train the supervised category head that sits beside our image encoder.

The encoder (:mod:`training.vision.train_encoder`) is trained contrastively into the MiniLM text space,
which is what search needs; its zero-shot category (nearest text prompt) is right about 90% of the
time on Fashion-MNIST. Naming a shopper's photo ("that looks like a grey coat") and anchoring an
outfit on it need the category more than the space, so this script trains a classifier for it:

* a small ensemble of networks shaped like the encoder (:func:`agent.vision.encoder.build_network`,
  10 outputs instead of the 384-d embedding). Each member is ``init:epochs:lr`` in ``--members``:
  ``encoder`` members start from the shipped encoder's convolutions and hidden layer (``--init``),
  ``scratch`` members from a seeded random initialisation, so the members err differently;
* the same tinted, augmented Fashion-MNIST garments as the encoder
  (:func:`training.vision.train_encoder.render_batch`), cross-entropy with label smoothing, AdamW with a
  one-cycle schedule; member ``k`` uses seed ``--seed + k`` and keeps its best validation epoch;
* the encoder's 6,000-image validation hold-out of the *train* split for model selection and
  temperature calibration; the Fashion-MNIST test split is left to ``benchmarks/bench_image_encoder.py``.

At inference the logits of every member, for the image and its mirror image, are averaged and divided
by the calibrated temperature (:func:`agent.vision.encoder.classifier_logits`). Writes
``classifier.safetensors`` (fp16) and ``classifier.json`` to ``--out``. Resumable: each member keeps a
checkpoint per epoch under ``--work-dir``, and a finished member is not trained again. Run::

    python -m training.vision.train_classifier --seed 0 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.catalog.fmnist import load_split
from agent.catalog.vocab import COLORS
from agent.vision.encoder import (
    CLASSIFIER_CONFIG_FILE,
    CLASSIFIER_WEIGHTS_FILE,
    CONFIG_FILE,
    DEFAULT_WEIGHTS_DIR,
    WEIGHTS_FILE,
    ClassifierConfig,
    EncoderConfig,
    build_classifier,
    build_network,
    classifier_logits,
    weights_fingerprint,
)
from training.vision.train_encoder import VAL_SEED, _calibrate, _say, render_batch, split_train_val

DEFAULT_MEMBERS = "encoder:10:2e-3"


@dataclass(frozen=True)
class MemberSpec:
    """How one ensemble member is trained: its initialisation, epochs and peak learning rate."""

    init: str
    epochs: int
    lr: float

    @classmethod
    def parse(cls, text: str) -> MemberSpec:
        """Read ``init:epochs:lr`` (``init`` is ``encoder`` or ``scratch``)."""
        parts = text.strip().split(":")
        if len(parts) != 3 or parts[0] not in ("encoder", "scratch"):
            raise ValueError(f"member {text!r} is not init:epochs:lr with init encoder or scratch "
                             "(e.g. encoder:10:2e-3)")
        try:
            spec = cls(parts[0], int(parts[1]), float(parts[2]))
        except ValueError as exc:
            raise ValueError(f"member {text!r}: epochs must be an integer and lr a number") from exc
        if spec.epochs < 1 or spec.lr <= 0:
            raise ValueError(f"member {text!r}: epochs must be at least 1 and lr positive")
        return spec


def calibrate_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Return the temperature T (0.25-8) minimising the negative log-likelihood of ``softmax(logits / T)``."""
    return 1.0 / _calibrate(logits, labels, scales=[1.0 / t for t in np.geomspace(0.25, 8.0, 150)])


class _Data:
    """The Fashion-MNIST train split as tensors, with the validation hold-out and its fixed colours."""

    def __init__(self, limit: int) -> None:
        import torch

        images, labels = load_split("train")
        self.train_idx, self.val_idx = split_train_val(labels)
        if limit:
            self.train_idx = self.train_idx[:limit]
            self.val_idx = self.val_idx[: max(200, limit // 4)]
        self.val_colors = np.random.default_rng(VAL_SEED).integers(0, len(COLORS), len(self.val_idx))
        self.gray = torch.from_numpy(np.ascontiguousarray(images).copy())
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.val_labels = labels[self.val_idx]

    def val_logits(self, members: Any) -> np.ndarray:
        """Return validation logits of ``members`` (an iterable of networks), mirror-averaged."""
        import torch

        for m in members:
            m.eval()
        out = []
        with torch.inference_mode():
            for s in range(0, len(self.val_idx), 1000):
                sl = slice(s, s + 1000)
                x = render_batch(self.gray[self.val_idx[sl]], torch.from_numpy(self.val_colors[sl]), None,
                                 augment=False)
                out.append(classifier_logits(list(members), x.contiguous(memory_format=torch.channels_last)).numpy())
        return np.concatenate(out)


def train_member(k: int, spec: MemberSpec, args: argparse.Namespace, config: ClassifierConfig, data: _Data,
                 init_state: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train ensemble member ``k`` (resumably); return its best state dict and its training record."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    seed = args.seed + k
    torch.manual_seed(seed)
    net = build_network(config.network()).to(memory_format=torch.channels_last)
    if spec.init == "encoder":
        if init_state is None:
            raise ValueError("an encoder member needs --init pointing at encoder weights")
        last = f"{len(net) - 1}."
        result = net.load_state_dict({k: v for k, v in init_state.items() if not k.startswith(last)}, strict=False)
        if any(not name.startswith(last) for name in result.missing_keys):
            raise ValueError(f"encoder weights in {args.init} do not fit the classifier: {result.missing_keys}")
    opt = torch.optim.AdamW(net.parameters(), lr=spec.lr, weight_decay=args.weight_decay)
    steps_per_epoch = max(1, len(data.train_idx) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=spec.epochs * steps_per_epoch,
                                                pct_start=0.2)
    settings = {
        "init": spec.init if spec.init == "scratch" else f"encoder {weights_fingerprint(args.init)}",
        "epochs": spec.epochs, "lr": spec.lr, "seed": seed, "batch_size": args.batch_size,
        "weight_decay": args.weight_decay, "label_smoothing": args.label_smoothing, "aug": args.aug,
        "erase": args.erase, "limit": args.limit,
    }
    ckpt_path = args.work_dir / f"member{k}_seed{seed}.pt"
    start_epoch, history, trained_s = 0, [], 0.0
    best_acc, best_state = -1.0, None
    if ckpt_path.is_file() and not args.no_resume:
        ckpt = torch.load(ckpt_path, weights_only=False)
        if ckpt.get("settings") == settings:
            net.load_state_dict(ckpt["net"])
            opt.load_state_dict(ckpt["opt"])
            sched.load_state_dict(ckpt["sched"])
            start_epoch, history, trained_s = ckpt["epoch"] + 1, ckpt["history"], ckpt["trained_s"]
            best_acc, best_state = ckpt["best_acc"], ckpt["best_state"]
            _say(f"member {k}: resumed from {ckpt_path} after epoch {start_epoch}")
        else:
            _say(f"member {k}: checkpoint {ckpt_path} is for other settings; starting afresh")

    _say(f"member {k} ({spec.init}, seed {seed}): {sum(p.numel() for p in net.parameters()):,} parameters; "
         f"{len(data.train_idx)} train / {len(data.val_idx)} validation images; {steps_per_epoch} steps per epoch")
    for epoch in range(start_epoch, spec.epochs):
        t0 = time.time()
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)
        torch.manual_seed(seed * 1000 + epoch)
        order = torch.from_numpy(data.train_idx)[torch.randperm(len(data.train_idx), generator=gen)]
        net.train()
        bar = tqdm(range(steps_per_epoch), desc=f"member {k} epoch {epoch + 1}/{spec.epochs}", mininterval=20,
                   file=sys.stdout, ascii=True)
        running = 0.0
        for step in bar:
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            col = torch.randint(0, len(COLORS), (len(idx),), generator=gen)
            x = render_batch(data.gray[idx], col, gen, augment=True, strength=args.aug, erase=args.erase)
            loss = F.cross_entropy(net(x.contiguous(memory_format=torch.channels_last)), data.labels[idx],
                                   label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running = 0.98 * running + 0.02 * float(loss.detach()) if step else float(loss.detach())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{running:.3f}")
        bar.close()
        epoch_s = time.time() - t0
        trained_s += epoch_s
        acc = float(np.mean(data.val_logits([net]).argmax(1) == data.val_labels))
        history.append({"epoch": epoch + 1, "loss": round(running, 4), "val_acc": round(acc, 4),
                        "epoch_s": round(epoch_s, 1)})
        _say(f"member {k} epoch {epoch + 1}: loss {running:.3f}  validation accuracy {acc:.4f}  {epoch_s:.0f}s")
        if acc > best_acc:
            best_acc = acc
            best_state = {name: v.detach().clone() for name, v in net.state_dict().items()}
        args.work_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"epoch": epoch, "settings": settings, "net": net.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "history": history, "trained_s": trained_s,
                    "best_acc": best_acc, "best_state": best_state}, ckpt_path)
    if best_state is None:
        raise ValueError(f"member {k} trained no epoch")
    record = {**settings, "best_epoch": int(max(history, key=lambda r: r["val_acc"])["epoch"]),
              "best_val_acc": round(best_acc, 4), "train_seconds": round(trained_s, 1), "history": history}
    return best_state, record


def main(argv: Sequence[str] | None = None) -> int:
    """Train the category classifier and write its weights and config to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", default=DEFAULT_MEMBERS,
                        help=f"comma-separated init:epochs:lr per ensemble member (default {DEFAULT_MEMBERS})")
    parser.add_argument("--seed", type=int, default=0, help="seed of member 0 (member k uses seed + k)")
    parser.add_argument("--init", default=str(DEFAULT_WEIGHTS_DIR),
                        help="encoder weights folder that `encoder` members start from")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--aug", type=float, default=0.4, help="augmentation strength (0 = none)")
    parser.add_argument("--erase", type=float, default=0.1, help="random-erasing probability per image")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only (smoke tests)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/fashionm3_classifier"),
                        help="folder for the resumable per-epoch checkpoints")
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    args = parser.parse_args(argv)
    try:
        specs = [MemberSpec.parse(t) for t in args.members.split(",") if t.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if not specs:
        parser.error("--members names no member")

    import torch
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(args.threads)
    t_start = time.time()
    init_state = None
    base = EncoderConfig(depths=(2, 2, 2))
    if any(s.init == "encoder" for s in specs):
        init_dir = Path(args.init)
        base = EncoderConfig.from_json(init_dir / CONFIG_FILE)
        init_state = {k: v.float() for k, v in load_file(str(init_dir / WEIGHTS_FILE)).items()}
    config = ClassifierConfig(widths=base.widths, depths=base.depths, pool=base.pool, hidden=base.hidden,
                              dropout=base.dropout, members=len(specs))
    data = _Data(args.limit)
    states, records = [], []
    for k, spec in enumerate(specs):
        state, record = train_member(k, spec, args, config, data, init_state)
        states.append(state)
        records.append(record)

    ensemble = build_classifier(config)
    for member, state in zip(ensemble, states, strict=True):
        member.load_state_dict(state)
    logits = data.val_logits(ensemble)
    config.temperature = round(calibrate_temperature(logits, data.val_labels), 4)
    config.val_accuracy = round(float(np.mean(logits.argmax(1) == data.val_labels)), 4)
    config.training = {
        "data": "Fashion-MNIST train split minus a 6,000-image stratified validation hold-out, tinted",
        "members": records,
        "parameters": sum(p.numel() for p in ensemble.parameters()),
        "train_seconds": round(sum(r["train_seconds"] for r in records), 1),
        "threads": args.threads,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    state16: dict[str, Any] = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
        for k, v in ensemble.state_dict().items()
    }
    save_file(state16, str(args.out / CLASSIFIER_WEIGHTS_FILE))
    config.to_json(args.out / CLASSIFIER_CONFIG_FILE)
    singles = ", ".join(f"{r['best_val_acc']:.4f}" for r in records)
    _say(f"wrote {args.out / CLASSIFIER_WEIGHTS_FILE}: {len(specs)} members (alone: {singles}), ensemble "
         f"validation accuracy {config.val_accuracy:.4f}, temperature {config.temperature}; training "
         f"{config.training['train_seconds'] / 60:.1f} min, total {(time.time() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
