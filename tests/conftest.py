"""Shared fixtures: no network beyond loopback, a small real catalog built once per session."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Tool, graph and CLI tests pin the deterministic rules planner (the product's default is the fine-tuned
# `smol` planner, which has its own tests, including whole turns through the graph in test_smol_planner).
os.environ.setdefault("FASHIONM3_PLANNER", "rules")

from agent.context import Context  # noqa: E402

_real_connect = socket.socket.connect


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"tests must not reach the network (tried {address!r})")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


SMALL_PER_CLASS = 20


@pytest.fixture(scope="session")
def catalog_settings(tmp_path_factory: pytest.TempPathFactory) -> Context:
    """Settings whose data folder holds a built 200-item default catalog (20 per class, seed 0)."""
    from agent.catalog.manage import build_catalog

    data = tmp_path_factory.mktemp("data")
    settings = Context(data_dir=str(data), user_id="test-user", planner="rules")
    build_catalog(settings, per_class=SMALL_PER_CLASS, seed=0, progress=False)
    return settings


@pytest.fixture(scope="session")
def catalog(catalog_settings: Context):  # type: ignore[no-untyped-def]
    from agent.services import open_catalog

    return open_catalog(catalog_settings)


@pytest.fixture()
def settings(catalog_settings: Context, tmp_path: Path) -> Iterator[Context]:
    """Per-test settings on the shared catalog, with their own media folder and user."""
    yield catalog_settings.with_(extra={"tmp": str(tmp_path)})


@pytest.fixture(scope="session")
def commands_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ``fashionm3`` subprocesses in which the ``fashionm3.commands`` entry points resolve.

    ``pyproject.toml`` declares them (``train``, ``data``, ``eval-planner`` from ``training.cli``), but
    they reach the command line through the *installed* metadata, which lacks them until the package is
    reinstalled. A stand-in distribution declaring the same table goes on ``PYTHONPATH``, with the
    repository root (so ``training`` imports from any working directory); the command line skips an
    entry point declared twice with the same value, so this also works once the package is reinstalled.
    """
    import tomllib

    root = Path(__file__).resolve().parents[1]
    table = tomllib.loads((root / "pyproject.toml").read_text())["project"]["entry-points"]["fashionm3.commands"]
    from fake_dist import write_distribution

    site = tmp_path_factory.mktemp("commands-site")
    write_distribution(site, "fashionm3-commands-stand-in", {"fashionm3.commands": dict(table)}, version="0")
    path = [str(site), str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path)}
