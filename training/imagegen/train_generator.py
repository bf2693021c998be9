"""Train the default class-conditional diffusion generator on Fashion-MNIST (DDPM objective).

Usage::

    python -m training.imagegen.train_generator --steps 4000 --batch-size 64 --threads 1

Resumable: a checkpoint (model, EMA, optimiser, step, RNG state, elapsed time) is written every
``--checkpoint-every`` steps to ``--checkpoint`` and picked up on the next run; the EMA weights are
exported to ``--out`` (``config.json`` + safetensors, loadable by ``UNet2DModel.from_pretrained``) at
each checkpoint, so a stopped run still leaves usable weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.catalog.fmnist import load_split
from agent.imagegen.fmnist_ddpm import (
    NULL_CLASS,
    SCHEDULER_CONFIG,
    UNET_CONFIG,
    WEIGHTS_DIR,
    build_unet,
    to_model_space,
)

log = logging.getLogger("fashionm3.train_generator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=4000, help="total optimiser steps (resume continues to this)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the exported weights")
    p.add_argument("--cond-drop", type=float, default=0.1, help="label dropout for classifier-free guidance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 while other jobs share the CPU)")
    p.add_argument("--checkpoint", type=Path, default=Path("data/imagegen/generator_ckpt.pt"))
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    p.add_argument("--fashion-mnist-dir", default=None)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def export(ema: Any, out: Path, meta: dict[str, Any]) -> None:
    """Write the EMA UNet to ``out`` (atomic per file) with training metadata."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    ema.save_pretrained(str(tmp), safe_serialization=True)
    (tmp / "scheduler_config.json").write_text(json.dumps(SCHEDULER_CONFIG, indent=2))
    (tmp / "training.json").write_text(json.dumps(meta, indent=2))
    for f in tmp.iterdir():
        f.replace(out / f.name)
    tmp.rmdir()


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or resume) training; return the final training metadata."""
    import copy

    import torch
    from diffusers import DDPMScheduler
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    images, labels = load_split("train", args.fashion_mnist_dir)
    data = torch.from_numpy(to_model_space(images))
    targets = torch.from_numpy(labels.astype(np.int64))

    torch.manual_seed(args.seed)
    model = build_unet()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    scheduler: Any = DDPMScheduler(**SCHEDULER_CONFIG)
    gen = torch.Generator("cpu").manual_seed(args.seed)
    step, elapsed = 0, 0.0
    if args.checkpoint.is_file():
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        log.info("resumed from %s at step %d", args.checkpoint, step)
    n_params = sum(p.numel() for p in model.parameters())
    alphas = scheduler.alphas_cumprod

    def meta() -> dict[str, Any]:
        return {"steps": step, "batch_size": args.batch_size, "lr": args.lr, "ema": args.ema,
                "cond_drop": args.cond_drop, "seed": args.seed, "threads": args.threads,
                "train_seconds": round(elapsed, 1), "parameters": n_params,
                "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in UNET_CONFIG.items()}}

    def checkpoint() -> None:
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "gen": gen.get_state(), "step": step, "elapsed": elapsed}, tmp)
        tmp.replace(args.checkpoint)
        export(ema, args.out, meta())

    model.train()
    bar = tqdm(total=args.steps, initial=step, disable=args.no_progress, desc="generator", mininterval=5)
    loss_avg = None
    while step < args.steps:
        t0 = time.perf_counter()
        idx = torch.randint(0, len(data), (args.batch_size,), generator=gen)
        x0, y = data[idx], targets[idx].clone()
        y[torch.rand(args.batch_size, generator=gen) < args.cond_drop] = NULL_CLASS
        t = torch.randint(0, scheduler.config.num_train_timesteps, (args.batch_size,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        warm = min(1.0, (step + 1) / 200)
        for g in opt.param_groups:
            g["lr"] = args.lr * warm
        loss = torch.nn.functional.mse_loss(model(xt, t, class_labels=y).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - decay)
        step += 1
        elapsed += time.perf_counter() - t0
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{loss_avg:.4f}")
        if step % args.checkpoint_every == 0 or step == args.steps:
            checkpoint()
    bar.close()
    return meta()


def main(argv: list[str] | None = None) -> None:
    """Train from the command line."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    info = train(parse_args(argv))
    log.info("done: %s", json.dumps(info))


if __name__ == "__main__":
    main()
