"""The training commands of ``fashionm3``: ``train ...``, ``data ...`` and ``eval-planner``.

They live here, outside the runtime package, and reach the ``fashionm3`` command line through the
``fashionm3.commands`` entry-point group (``pyproject.toml``)::

    [project.entry-points."fashionm3.commands"]
    train = "training.cli:train_app"
    data = "training.cli:data_app"
    eval-planner = "training.cli:eval_planner"

``agent.cli`` adds each entry: a Typer app as a command group, a function as a command. Importing
this module stays light (no torch, no training code); each command imports its module when it runs.
The ``train`` and ``data`` commands pass their options through to the module's argparse ``main``
(``fashionm3 train planner --help`` shows them).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["COMMANDS", "data_app", "eval_planner", "run_module_main", "train_app"]

train_app = typer.Typer(no_args_is_help=True, help="Train our own models (image encoder, generator, planner).")
data_app = typer.Typer(no_args_is_help=True, help="Build training data sets.")

#: What ``pyproject.toml`` registers under ``fashionm3.commands`` (entry-point name -> object path).
COMMANDS = {
    "train": "training.cli:train_app",
    "data": "training.cli:data_app",
    "eval-planner": "training.cli:eval_planner",
}

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def run_module_main(module: str, args: list[str]) -> None:
    """Call ``module.main(args)`` (an argparse entry point); a non-zero return becomes the exit code."""
    rc = importlib.import_module(module).main(list(args))
    if isinstance(rc, int) and rc:
        sys.exit(rc)


@train_app.command("image-encoder", context_settings=PASS_THROUGH)
def train_image_encoder(ctx: typer.Context) -> None:
    """Train our image encoder into the MiniLM text space (options: --help)."""
    run_module_main("training.vision.train_encoder", ctx.args)


@train_app.command("image-classifier", context_settings=PASS_THROUGH)
def train_image_classifier(ctx: typer.Context) -> None:
    """Train the image encoder's supervised category head (options: --help)."""
    run_module_main("training.vision.train_classifier", ctx.args)


@train_app.command("generator", context_settings=PASS_THROUGH)
def train_generator(ctx: typer.Context) -> None:
    """Train the class-conditional diffusion generator on Fashion-MNIST (options: --help)."""
    run_module_main("training.imagegen.train_generator", ctx.args)


@train_app.command("planner", context_settings=PASS_THROUGH)
def train_planner(ctx: typer.Context) -> None:
    """Fine-tune the SmolLM2 planner with LoRA and train its image projector (options: --help)."""
    run_module_main("training.planner.train", ctx.args)


@data_app.command("build-planner", context_settings=PASS_THROUGH)
def data_build_planner(ctx: typer.Context) -> None:
    """Build FashionRec-style planner samples from the catalog (options: --out, --n, --seed; --help)."""
    run_module_main("training.planner.data", ctx.args)


def eval_planner(
    planner: Annotated[str | None, typer.Option(
        "--planner", help="Planner backend to score (default: FASHIONM3_PLANNER, else smol).")] = None,
    split: Annotated[str, typer.Option("--split", help="Which split: train, valid or test.")] = "test",
    data: Annotated[Path, typer.Option("--data", help="Folder written by `data build-planner`.")] = Path(
        "data/planner"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the scores as JSON here.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Score only the first N samples.")] = None,
    photo_only: Annotated[bool, typer.Option(
        "--photo-only", help="Score only samples whose plan anchors on an attached photo (after --limit).")] = False,
) -> None:
    """Score a planner on held-out planning samples: routing, slot F1, validity, fallbacks, latency.

    With ``--photo-only`` the photo-anchored samples alone are scored; the ``smol`` planner's image
    route follows ``FASHIONM3_PLANNER_IMAGE_ROUTE`` (``text`` or ``native``).
    """
    from rich.console import Console

    from agent.context import Context
    from agent.errors import UserError
    from agent.planners import get_planner
    from training.planner.data import load_samples
    from training.planner.metrics import evaluate, photo_anchored, print_scores

    if split not in ("train", "valid", "test"):
        raise UserError(f"unknown split {split!r}; use train, valid or test")
    try:
        samples = load_samples(data, split)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from exc
    if limit is not None:
        samples = samples[: max(0, limit)]
    if photo_only:
        samples = [s for s in samples if s.true_category and photo_anchored(s.target)]
    if not samples:
        raise UserError(f"no {'photo-anchored ' if photo_only else ''}{split} samples in {data}")
    try:
        settings = Context.from_env()
        backend = get_planner(planner or settings.planner, settings=settings)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    scores = evaluate(backend, samples, split=split, progress=True)
    print_scores(scores, Console(highlight=False))
    if json_out:
        json_out.write_text(scores.model_dump_json(indent=1) + "\n")
