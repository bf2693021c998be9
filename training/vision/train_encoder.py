"""Train our fashion image encoder into the frozen MiniLM text space.

Each training image is a Fashion-MNIST garment tinted a random catalog colour (with jitter in hue,
shading and background, small affine moves and noise). Its target is text: many generated
descriptions of its (category, colour) pair, embedded once by the frozen all-MiniLM-L6-v2 and cached.
The loss is contrastive (CLIP-style InfoNCE with learnable temperatures):

* against every (category, colour) description prototype, every category prototype and every colour
  prototype (the full label space as negatives, so no false in-batch negatives), and
* image-to-text and text-to-image over the batch with one randomly drawn description per image
  (pairs with the same category and colour count as positives),
* plus a small pull towards the image's own description prototype so vectors sit near the texts.

Validation uses a held-out part of the *train* split (the test split is left to the benchmark) and
zero-shot prompts worded differently from the training descriptions. Run::

    python -m training.vision.train_encoder --epochs 15 --seed 0 --out agent/vision/weights
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.catalog.build import ADJECTIVES, MATERIALS_BY_CATEGORY, NOUNS, STYLES_BY_CATEGORY
from agent.catalog.fmnist import load_split
from agent.catalog.vocab import CATEGORIES, CATEGORY_SYNONYMS, COLOR_SYNONYMS, COLORS, STYLE_SYNONYMS
from agent.vision.encoder import (
    CONFIG_FILE,
    DEFAULT_WEIGHTS_DIR,
    PROMPTS_FILE,
    WEIGHTS_FILE,
    EncoderConfig,
    build_network,
    category_prompts,
    color_prompts,
)

#: What each category is for, in plain words (mixed into the training descriptions).
USES: dict[str, tuple[str, ...]] = {
    "top": (
        "a light top for warm days",
        "an everyday short-sleeved tee",
        "a simple top to layer",
        "a basic tee for summer",
        "a sleeveless top",
    ),
    "trousers": (
        "long trousers for the legs",
        "full-length pants",
        "legwear for work or weekends",
        "a pair of long pants",
    ),
    "pullover": (
        "a cosy knitted layer with long sleeves",
        "warm knitwear for chilly days",
        "a snug sweater for autumn",
        "a soft jumper to keep warm",
    ),
    "dress": (
        "a one-piece dress with a skirt",
        "a dress for a party or a wedding",
        "a summer dress",
        "an elegant dress for the evening",
    ),
    "coat": (
        "warm outerwear for winter",
        "a jacket to wear over other clothes",
        "a layer for cold and rainy weather",
        "a long coat with buttons",
    ),
    "sandals": (
        "open shoes for summer",
        "footwear for the beach",
        "strappy summer shoes",
        "open-toe shoes for hot weather",
    ),
    "shirt": (
        "a collared shirt with buttons",
        "a smart shirt for the office",
        "a button-up shirt",
        "a long-sleeved shirt with a collar",
    ),
    "sneakers": (
        "sports shoes for running and the gym",
        "comfortable casual footwear",
        "lace-up athletic shoes",
        "shoes for walking all day",
    ),
    "bag": (
        "something to carry your things in",
        "an accessory for carrying essentials",
        "a bag with a strap or handles",
        "a carryall for work or travel",
    ),
    "ankle_boots": (
        "sturdy boots for autumn and winter",
        "footwear that covers the ankle",
        "short boots with a heel",
        "boots for cold wet days",
    ),
}

TEMPLATES: tuple[str, ...] = (
    "{color} {syn}",
    "a {color} {syn}",
    "a {syn} in {color}",
    "{color} {syn} for {style} wear",
    "a {style} {color} {syn}",
    "{color} {material} {syn}",
    "{Adj} {Color} {Material} {Noun}",
    "{adj} {noun} in {color} {material}",
    "{color} {syn}, {use}",
    "{use}, in {color}",
    "a {syn} coloured {color}",
    "shop this {color} {syn}",
    "{syn} ({color})",
    "{gender} {color} {syn}",
)

N_DESCRIPTIONS = 40
VAL_PER_CLASS = 600
VAL_SEED = 12345
PALETTE = np.asarray(list(COLORS.values()), dtype=np.float32)


def _say(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stdout)
    sys.stdout.flush()


def describe(category: str, color: str, rng: np.random.Generator) -> str:
    """Return one random training description of a ``color`` ``category`` item."""
    syns = list(CATEGORY_SYNONYMS[category]) + [n.lower() for n in NOUNS[category]]
    color_word = color if rng.random() < 0.6 else str(rng.choice(COLOR_SYNONYMS[color]))
    style = str(rng.choice(list(STYLES_BY_CATEGORY[category])))
    style_word = str(rng.choice(STYLE_SYNONYMS[style]))
    material = str(rng.choice(MATERIALS_BY_CATEGORY[category]))
    noun = str(rng.choice(NOUNS[category]))
    adj = str(rng.choice(ADJECTIVES[style]))
    template = str(rng.choice(TEMPLATES))
    return template.format(
        color=color_word,
        Color=color_word.title(),
        syn=str(rng.choice(syns)),
        style=style_word,
        material=material,
        Material=material.title(),
        Noun=noun,
        noun=noun.lower(),
        Adj=adj,
        adj=adj.lower(),
        use=str(rng.choice(USES[category])),
        gender=str(rng.choice(("women's", "men's", "unisex"))),
    )


def build_texts(seed: int) -> tuple[list[str], list[str], list[str]]:
    """Return (training descriptions, K per (category, colour) pair in row-major order, zero-shot prompts)."""
    rng = np.random.default_rng(seed)
    descriptions = [describe(cat, col, rng) for cat in CATEGORIES for col in COLORS for _ in range(N_DESCRIPTIONS)]
    cat_prompts = [p for c in CATEGORIES for p in category_prompts(c)]
    col_prompts = [p for c in COLORS for p in color_prompts(c)]
    return descriptions, cat_prompts, col_prompts


def embed_texts(texts: list[str], cache_dir: Path) -> np.ndarray:
    """Embed texts with the frozen MiniLM, caching the result under ``cache_dir`` by content hash."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"minilm_{key}.npy"
    if path.is_file():
        return np.load(path)
    from agent.embeddings import get_text_embedder

    t0 = time.time()
    vecs = get_text_embedder().encode(texts, batch_size=128)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    _say(f"embedded {len(texts)} texts with MiniLM in {time.time() - t0:.0f}s (cached at {path})")
    return vecs


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def prompt_prototypes(vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split embedded zero-shot prompts (categories then colours) into mean unit prototypes."""
    cats: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    i = 0
    for groups, out in ((CATEGORIES, cats), (COLORS, cols)):
        for name in groups:
            n = len(category_prompts(name) if groups is CATEGORIES else color_prompts(name))
            out.append(vecs[i : i + n].mean(axis=0))
            i += n
    return _unit(np.stack(cats)), _unit(np.stack(cols))


def split_train_val(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (train indices, validation indices): a fixed stratified hold-out of the train split."""
    rng = np.random.default_rng(VAL_SEED)
    val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:VAL_PER_CLASS] for c in range(10)])
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, np.sort(val)


def render_batch(
    gray: Any, color_idx: Any, gen: Any, augment: bool, strength: float = 1.0, erase: float = 0.0
) -> Any:
    """Tint a batch of grey garments like the catalog does and return network input in [-1, 1].

    With ``augment``: colour jitter, shading depth, background tint, affine moves, flips, blur, noise;
    ``strength`` scales the geometric ranges and the odds of background changes, blur and noise.
    ``erase`` is the probability of hiding a random rectangle of the garment (random erasing: the
    background shows through), which makes the network use the whole silhouette, not one cue.
    """
    import torch
    import torch.nn.functional as F

    b = gray.shape[0]

    def u(lo: float, hi: float, *shape: int) -> Any:
        return lo + (hi - lo) * torch.rand(*shape, generator=gen)

    g = gray.float().unsqueeze(1) / 255.0
    alpha = (g * 4.0).clamp(0.0, 1.0)
    peak = g.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    depth = u(0.14, 0.30, b, 1, 1, 1) if augment else torch.full((b, 1, 1, 1), 0.22)
    shade = (1.0 - depth) + depth * g / peak
    rgb = torch.from_numpy(PALETTE)[color_idx]
    if augment:
        rgb = (rgb + 6.0 * torch.randn(b, 3, generator=gen)) * u(0.95, 1.04, b, 1)
    rgb = rgb.clamp(0, 255)
    garment = rgb[:, :, None, None] * shade
    bg = torch.full((b, 3), 250.0)
    if augment:
        r = torch.rand(b, generator=gen)
        bg = bg + 1.5 * torch.randn(b, 1, generator=gen)
        light = (r > 1 - 0.28 * strength) & (r <= 1 - 0.07 * strength)
        bg[light] = u(205, 255, int(light.sum()), 1) + u(-12, 12, int(light.sum()), 3)
        anyc = r > 1 - 0.07 * strength
        bg[anyc] = u(0, 255, int(anyc.sum()), 3)
        bg = bg.clamp(0, 255)
    fg = alpha * (garment - bg[:, :, None, None])
    if augment:
        ang = u(-10 * strength, 10 * strength, b) * math.pi / 180
        scale = u(1 - 0.1 * strength, 1 + 0.1 * strength, b)
        sx = scale * u(0.95, 1.05, b) * torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
        sy = scale * u(0.95, 1.05, b)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = torch.cos(ang) / sx
        theta[:, 0, 1] = -torch.sin(ang) / sy
        theta[:, 1, 0] = torch.sin(ang) / sx
        theta[:, 1, 1] = torch.cos(ang) / sy
        theta[:, :, 2] = u(-0.07 * strength, 0.07 * strength, b, 2)
        grid = F.affine_grid(theta, list(fg.shape), align_corners=False)
        fg = F.grid_sample(fg, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if erase > 0:
            side = fg.shape[-1]
            hit = torch.rand(b, generator=gen) < erase
            eh = (u(0.15, 0.45, b) * side).long()
            ew = (u(0.15, 0.45, b) * side).long()
            y0 = (torch.rand(b, generator=gen) * (side - eh)).long()
            x0 = (torch.rand(b, generator=gen) * (side - ew)).long()
            pos = torch.arange(side)
            rows = (pos[None, :] >= y0[:, None]) & (pos[None, :] < (y0 + eh)[:, None])
            cols = (pos[None, :] >= x0[:, None]) & (pos[None, :] < (x0 + ew)[:, None])
            box = rows[:, :, None] & cols[:, None, :] & hit[:, None, None]
            fg = fg * (~box).unsqueeze(1).float()
    x = bg[:, :, None, None] + fg
    if augment:
        blur = torch.rand(b, generator=gen) < 0.2 * strength
        if blur.any():
            side = int(torch.randint(14, 24, (1,), generator=gen))
            small = F.interpolate(x[blur], size=(side, side), mode="bilinear", antialias=True, align_corners=False)
            x[blur] = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
        ramp = torch.linspace(-1, 1, x.shape[-1])
        lit = (torch.rand(b, generator=gen) < 0.2 * strength).float() * u(-12, 12, b)
        x = x + lit[:, None, None, None] * ramp[None, None, None, :]
        noisy = (torch.rand(b, generator=gen) < 0.35 * strength).float() * u(0, 8, b)
        x = x + noisy[:, None, None, None] * torch.randn(x.shape, generator=gen)
    x = x.clamp(0, 255).round()
    return x / 127.5 - 1.0


def _accuracy(z: np.ndarray, protos: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(z @ protos.T, axis=1) == labels))


def _calibrate(sims: np.ndarray, labels: np.ndarray, scales: Sequence[float] | None = None) -> float:
    """Return the logit scale minimising validation negative log-likelihood (temperature scaling).

    ``scales`` are the candidates tried, in order (default: 120 from 2 to 400, geometric).
    """
    best, best_nll = 1.0, float("inf")
    for s in np.geomspace(2.0, 400.0, 120) if scales is None else scales:
        z = sims * s
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), labels]))
        if nll < best_nll:
            best, best_nll = float(s), nll
    return best


def main(argv: Sequence[str] | None = None) -> int:
    """Train the encoder and write ``model.safetensors``, ``config.json`` and ``prompts.npz`` to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--aug", type=float, default=0.3, help="augmentation strength (0 = none)")
    parser.add_argument("--erase", type=float, default=0.0, help="random-erasing probability per image")
    parser.add_argument("--scale-init", type=float, default=30.0, help="initial contrastive logit scale")
    parser.add_argument("--scale-max", type=float, default=200.0, help="largest contrastive logit scale")
    parser.add_argument(
        "--aux-weight",
        type=float,
        default=1.0,
        help="weight of an auxiliary linear category head on the hidden features (training only)",
    )
    parser.add_argument("--widths", default="32,64,128", help="channels per convolution stage, comma-separated")
    parser.add_argument("--depths", default="1,2,2", help="3x3 conv blocks per stage, comma-separated")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only (smoke tests)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("/tmp/fashionm3_encoder"),
        help="text-embedding cache and resumable checkpoint",
    )
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()

    descriptions, cat_prompts, col_prompts = build_texts(args.seed)
    vecs = embed_texts(descriptions + cat_prompts + col_prompts, args.work_dir)
    n_cat, n_col = len(CATEGORIES), len(COLORS)
    bank = vecs[: len(descriptions)].reshape(n_cat * n_col, N_DESCRIPTIONS, -1)
    combo_protos = _unit(bank.mean(axis=1))
    cat_protos_train = _unit(combo_protos.reshape(n_cat, n_col, -1).mean(axis=1))
    col_protos_train = _unit(combo_protos.reshape(n_cat, n_col, -1).mean(axis=0))
    eval_cat, eval_col = prompt_prototypes(vecs[len(descriptions) :])

    images, labels = load_split("train")
    train_idx, val_idx = split_train_val(labels)
    if args.limit:
        train_idx = train_idx[: args.limit]
    val_colors = np.random.default_rng(VAL_SEED).integers(0, n_col, len(val_idx))
    gray_t = torch.from_numpy(np.ascontiguousarray(images).copy())
    labels_t = torch.from_numpy(labels.astype(np.int64))

    config = EncoderConfig(
        widths=tuple(int(v) for v in args.widths.split(",")), depths=tuple(int(v) for v in args.depths.split(","))
    )
    net = build_network(config).to(memory_format=torch.channels_last)
    log_scales = torch.nn.Parameter(torch.full((4,), math.log(args.scale_init)))
    aux_head = torch.nn.Linear(config.hidden, n_cat)
    params = [
        {"params": list(net.parameters()) + list(aux_head.parameters())},
        {"params": [log_scales], "weight_decay": 0.0, "lr": args.lr * 10},
    ]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = len(train_idx) // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15
    )
    t_bank = torch.from_numpy(bank.astype(np.float32))
    t_combo = torch.from_numpy(combo_protos.astype(np.float32))
    t_cat = torch.from_numpy(cat_protos_train.astype(np.float32))
    t_col = torch.from_numpy(col_protos_train.astype(np.float32))

    settings = {k: str(v) for k, v in vars(args).items() if k not in ("out", "work_dir", "no_resume", "threads")}
    ckpt_path = args.work_dir / f"checkpoint_seed{args.seed}.pt"
    start_epoch, history, trained_s = 0, [], 0.0
    if ckpt_path.is_file() and not args.no_resume:
        ckpt = torch.load(ckpt_path, weights_only=False)
        if ckpt.get("settings") == settings:
            net.load_state_dict(ckpt["net"])
            aux_head.load_state_dict(ckpt["aux_head"])
            with torch.no_grad():
                log_scales.copy_(ckpt["log_scales"])
            opt.load_state_dict(ckpt["opt"])
            sched.load_state_dict(ckpt["sched"])
            start_epoch, history, trained_s = ckpt["epoch"] + 1, ckpt["history"], ckpt["trained_s"]
            _say(f"resumed from {ckpt_path} after epoch {start_epoch}")
        else:
            _say(f"checkpoint {ckpt_path} is for other settings; starting afresh")

    def embed_val() -> np.ndarray:
        net.eval()
        out = []
        with torch.inference_mode():
            for s in range(0, len(val_idx), 1000):
                sl = slice(s, s + 1000)
                x = render_batch(gray_t[val_idx[sl]], torch.from_numpy(val_colors[sl]), None, augment=False)
                out.append(F.normalize(net(x.contiguous(memory_format=torch.channels_last)), dim=-1).numpy())
        return np.concatenate(out)

    n_params = sum(p.numel() for p in net.parameters())
    _say(
        f"{n_params:,} parameters; {len(train_idx)} train / {len(val_idx)} validation images; "
        f"{steps_per_epoch} steps per epoch; {args.threads} threads"
    )
    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        torch.manual_seed(args.seed * 1000 + epoch)
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        order = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=gen)]
        net.train()
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{args.epochs}",
            mininterval=20,
            file=sys.stdout,
            ascii=True,
        )
        running = 0.0
        for step in bar:
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            cat = labels_t[idx]
            col = torch.randint(0, n_col, (len(idx),), generator=gen)
            combo = cat * n_col + col
            x = render_batch(gray_t[idx], col, gen, augment=True, strength=args.aug, erase=args.erase).contiguous(
                memory_format=torch.channels_last
            )
            hidden = net[:-1](x)
            z = F.normalize(net[-1](hidden), dim=-1)
            s = log_scales.clamp(max=math.log(args.scale_max)).exp()
            loss_combo = F.cross_entropy(s[0] * z @ t_combo.T, combo)
            loss_cat = F.cross_entropy(s[1] * z @ t_cat.T, cat)
            loss_col = F.cross_entropy(s[2] * z @ t_col.T, col)
            txt = t_bank[combo, torch.randint(0, N_DESCRIPTIONS, (len(idx),), generator=gen)]
            logits = s[3] * z @ txt.T
            same = (combo[:, None] == combo[None, :]).float()
            target = same / same.sum(dim=1, keepdim=True)
            loss_batch = 0.5 * (
                -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
                - (target * F.log_softmax(logits.T, dim=1)).sum(1).mean()
            )
            loss_pull = (1.0 - (z * t_combo[combo]).sum(dim=1)).mean()
            loss = loss_combo + loss_cat + loss_col + 0.5 * loss_batch + 0.5 * loss_pull
            if args.aux_weight:
                loss = loss + args.aux_weight * F.cross_entropy(aux_head(hidden), cat)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running = 0.98 * running + 0.02 * float(loss.detach()) if step else float(loss.detach())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{running:.3f}", scales=",".join(f"{v:.0f}" for v in s.tolist()))
        bar.close()
        epoch_s = time.time() - t0
        trained_s += epoch_s
        zv = embed_val()
        val_labels = labels[val_idx]
        record = {
            "epoch": epoch + 1,
            "loss": round(running, 4),
            "val_category_acc": round(_accuracy(zv, eval_cat, val_labels), 4),
            "val_color_acc": round(_accuracy(zv, eval_col, val_colors), 4),
            "val_category_acc_train_prompts": round(_accuracy(zv, cat_protos_train, val_labels), 4),
            "val_combo_acc": round(_accuracy(zv, combo_protos, val_labels * n_col + val_colors), 4),
            "epoch_s": round(epoch_s, 1),
        }
        history.append(record)
        _say(
            f"epoch {epoch + 1}: loss {running:.3f}  val zero-shot category {record['val_category_acc']:.4f} "
            f"colour {record['val_color_acc']:.4f}  (train-prompt category "
            f"{record['val_category_acc_train_prompts']:.4f}, category+colour {record['val_combo_acc']:.4f})"
            f"  {epoch_s:.0f}s"
        )
        args.work_dir.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "epoch": epoch,
                "settings": settings,
                "net": net.state_dict(),
                "aux_head": aux_head.state_dict(),
                "log_scales": log_scales.detach().clone(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "history": history,
                "trained_s": trained_s,
            },
            ckpt_path,
        )

    zv = embed_val()
    val_labels = labels[val_idx]
    cat_sims = zv @ eval_cat.T
    config.category_scale = round(_calibrate(cat_sims, val_labels), 2)
    config.color_scale = round(_calibrate(zv @ eval_col.T, val_colors), 2)
    best_sim = cat_sims.max(axis=1)
    config.min_similarity = round(float(np.percentile(best_sim, 1)), 4)
    config.training = {
        "data": "Fashion-MNIST train split minus a 6,000-image stratified validation hold-out, tinted",
        "epochs": args.epochs,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "threads": args.threads,
        "augmentation_strength": args.aug,
        "random_erasing": args.erase,
        "aux_weight": args.aux_weight,
        "scale_init": args.scale_init,
        "parameters": n_params,
        "train_seconds": round(trained_s, 1),
        "descriptions_per_pair": N_DESCRIPTIONS,
        "val_best_similarity_percentiles": {
            str(p): round(float(np.percentile(best_sim, p)), 4) for p in (1, 5, 50, 95)
        },
        "history": history,
        "category_prompt_templates": list(category_prompts("coat")[:6]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
        for k, v in net.state_dict().items()
    }
    save_file(state, str(args.out / WEIGHTS_FILE))
    config.to_json(args.out / CONFIG_FILE)
    np.savez(
        args.out / PROMPTS_FILE,
        categories=np.asarray(CATEGORIES),
        colors=np.asarray(list(COLORS)),
        category_embeddings=eval_cat.astype(np.float32),
        color_embeddings=eval_col.astype(np.float32),
    )
    _say(
        f"wrote {args.out} (category scale {config.category_scale}, colour scale {config.color_scale}, "
        f"min similarity {config.min_similarity}); training {trained_s / 60:.1f} min, "
        f"total {(time.time() - t_start) / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
