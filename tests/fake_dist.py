"""Lay out an installed distribution (modules and a dist-info with entry points) the way pip does, for plug-in tests."""

from __future__ import annotations

from pathlib import Path


def write_distribution(site: Path, name: str, entry_points: dict[str, dict[str, str]],
                       modules: dict[str, str] | None = None, version: str = "0.1") -> Path:
    """Write ``modules`` (module name -> source) and ``<name>-<version>.dist-info`` into ``site``; return the dist-info.

    ``entry_points`` maps a group (``fashionm3.tools``) to its entries (name -> ``module:attr``), in order.
    Put ``site`` on ``sys.path`` (or ``PYTHONPATH``) for ``importlib.metadata`` to find the distribution.
    """
    site.mkdir(parents=True, exist_ok=True)
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
        for group, entries in entry_points.items()))
    return info
