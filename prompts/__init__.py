"""Prompt and reply templates, shipped as package data and rendered strictly (missing variables fail)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent


@cache
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(name: str, **variables: Any) -> str:
    """Render template ``name`` (e.g. ``reply.j2``); an undefined variable raises ``UndefinedError``."""
    return _environment().get_template(name).render(**variables).strip()
