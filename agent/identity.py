"""What identifies a deployment: project version, model weights fingerprints, catalog identity.

Eval reports and the service's ``/v1/info`` carry these so two runs can be compared honestly.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

_AGENT = Path(__file__).resolve().parent


def file_fingerprint(path: Path) -> str:
    """Return the first 16 hex digits of a file's sha256 ("" when the file is absent)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else ""


def project_version() -> str:
    """Return the installed ``fashionm3`` version ("unknown" when not installed)."""
    try:
        return metadata.version("fashionm3")
    except metadata.PackageNotFoundError:
        return "unknown"


def weights_fingerprints() -> dict[str, str]:
    """Return the fingerprint of each shipped model's weights file (planner, image encoder, generator)."""
    return {
        "planner_adapter": file_fingerprint(_AGENT / "planners" / "weights" / "adapter_model.safetensors"),
        "planner_projector": file_fingerprint(_AGENT / "planners" / "weights" / "projector.safetensors"),
        "image_encoder": file_fingerprint(_AGENT / "vision" / "weights" / "model.safetensors"),
        "image_classifier": file_fingerprint(_AGENT / "vision" / "weights" / "classifier.safetensors"),
        "generator": file_fingerprint(_AGENT / "imagegen" / "weights" / "diffusion_pytorch_model.safetensors"),
    }


def catalog_identity(catalog_dir: str | Path) -> dict[str, Any]:
    """Return a catalog's item count and the fingerprint of its ``catalog.jsonl``."""
    path = Path(catalog_dir) / "catalog.jsonl"
    if not path.is_file():
        return {"items": 0, "sha256": ""}
    data = path.read_bytes()
    return {"items": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()[:16]}
