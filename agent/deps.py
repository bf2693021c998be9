"""Missing packages are install problems: say which package is missing and how to install it.

A feature whose package is not installed fails with :class:`MissingDependencyError`, never by quietly
doing something else (an in-memory store that forgets everything, a photo that is never understood).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

#: Import names whose distribution (what ``pip install`` takes) is spelled differently.
PACKAGES = {
    "PIL": "pillow",
    "chromadb": "chromadb",
    "safetensors": "safetensors",
    "torch": "torch",
    "transformers": "transformers",
    "diffusers": "diffusers",
    "mediapipe": "--no-deps mediapipe==0.10.14",  # its protobuf<5 pin would break OpenTelemetry (see Makefile)
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
}


class MissingDependencyError(RuntimeError):
    """A package a feature needs is not installed; the message names it and says how to install it."""

    def __init__(self, package: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python package '{package}', which is not installed: install it with "
            f"`pip install {package}` (or run `make setup`, which installs everything FashionM3 needs)."
        )
        self.package = package


def package_of(module: str) -> str:
    """Return the distribution to install for an import name (its top-level package)."""
    top = module.split(".")[0]
    return PACKAGES.get(top, top.replace("_", "-"))


def missing(exc: ImportError, purpose: str) -> MissingDependencyError:
    """Turn an ``ImportError`` into a :class:`MissingDependencyError` naming the missing package."""
    return MissingDependencyError(package_of(exc.name or str(exc).rsplit(" ", 1)[-1].strip("'\"")), purpose)


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingDependencyError` naming its package.

    Args:
        module: The import name (``chromadb``, ``torch``).
        purpose: What needs it, as the start of a sentence ("The preference store").
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(exc, purpose) from exc


def ensure_installed(module: str, purpose: str) -> None:
    """Check that ``module`` can be imported, without importing it (for packages slow to import).

    Raises:
        MissingDependencyError: naming its package, when it is not installed.
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependencyError(package_of(module), purpose)
