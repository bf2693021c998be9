"""Export the fine-tuned planner for an OpenAI-compatible engine (vLLM): the base, the adapter, the merged model.

``fashionm3 export planner DIR`` writes

* ``DIR/base``: the SmolLM2-135M-Instruct base in float16 safetensors, with its tokenizer and chat template;
* ``DIR/adapter``: our LoRA adapter as trained (PEFT format; ``base_model_name_or_path`` points at ``../base``);
* ``DIR/merged`` (``--merged``): the base with the adapter merged in, float16, for engines without LoRA;
* ``DIR/planner.json``: the prompt settings the service's planner shares with the served model.

Serve it with ``vllm serve DIR/base --enable-lora --lora-modules fashion=DIR/adapter --max-lora-rank 16``
(or ``vllm serve DIR/merged --served-model-name fashion``) and point the service at it with
``FASHIONM3_PLANNER_REMOTE=1 FASHIONM3_PLANNER_URL=http://HOST:8000/v1``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

__all__ = ["export_planner"]


def export_planner(out: str | Path, *, weights_dir: str | Path | None = None, base: bool = True, adapter: bool = True,
                   merged: bool = False, settings: Any = None) -> dict[str, Any]:
    """Write the planner's base, adapter and (optionally) merged model under ``out``; return what was written.

    Returns ``{"dir", "parts": {name: folder}, "seconds", "vllm": the serve command}``.

    Raises:
        agent.errors.UserError: if nothing is asked for, ``out`` is a file, or the adapter is missing.
        agent.planners.smol.base.BaseModelError: if the base model cannot be loaded.
    """
    import torch

    from agent.errors import UserError
    from agent.planners.smol.base import load_base
    from agent.planners.smol.planner import ADAPTER_CONFIG, DEFAULT_WEIGHTS_DIR, PLANNER_CONFIG, merge_lora

    if not (base or adapter or merged):
        raise UserError("nothing to export: ask for at least one of --base, --adapter, --merged")
    start = time.perf_counter()
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file; give a folder to export the planner into")
    weights = Path(weights_dir or getattr(settings, "planner_weights", "") or DEFAULT_WEIGHTS_DIR)
    if not (weights / ADAPTER_CONFIG).is_file():
        raise UserError(f"no trained planner adapter in {weights}; train it with `fashionm3 train planner`")
    root.mkdir(parents=True, exist_ok=True)
    parts: dict[str, str] = {}
    loaded = load_base(None, device="cpu", settings=settings) if (base or merged) else None
    if base and loaded is not None:
        folder = root / "base"
        loaded.model.to(torch.float16).save_pretrained(folder, safe_serialization=True)
        loaded.tokenizer.save_pretrained(folder)
        loaded.model.to(torch.float32)
        parts["base"] = str(folder)
    if adapter:
        folder = root / "adapter"
        folder.mkdir(exist_ok=True)
        cfg = json.loads((weights / ADAPTER_CONFIG).read_text())
        cfg["base_model_name_or_path"] = "../base" if base else cfg.get("base_model_name_or_path")
        cfg["inference_mode"] = True
        (folder / ADAPTER_CONFIG).write_text(json.dumps(cfg, indent=1) + "\n")
        shutil.copyfile(weights / "adapter_model.safetensors", folder / "adapter_model.safetensors")
        parts["adapter"] = str(folder)
    if merged and loaded is not None:
        folder = root / "merged"
        model = merge_lora(loaded.model, weights)
        model.to(torch.float16).save_pretrained(folder, safe_serialization=True)
        loaded.tokenizer.save_pretrained(folder)
        parts["merged"] = str(folder)
    if (weights / PLANNER_CONFIG).is_file():
        shutil.copyfile(weights / PLANNER_CONFIG, root / PLANNER_CONFIG)
    if "base" in parts and "adapter" in parts:
        vllm = f"vllm serve {parts['base']} --enable-lora --lora-modules fashion={parts['adapter']} --max-lora-rank 16"
    elif "merged" in parts:
        vllm = f"vllm serve {parts['merged']} --served-model-name fashion"
    else:
        vllm = "vllm serve <SmolLM2-135M-Instruct> --enable-lora --lora-modules fashion=" + parts.get("adapter", "")
    return {"dir": str(root), "parts": parts, "seconds": time.perf_counter() - start, "vllm": vllm}
