"""The eval conversation format: pydantic models, loading with clear errors, selection, JSON schema.

A file is checked completely before anything runs: unknown keys, wrong types and missing image
assets are reported as ``FILE: conversation NAME, turn N, key K: problem``. ``fashionm3 eval --schema``
prints the JSON schema of the format so editors can check files as they are written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: Default cosine thresholds of the similarity checks (all-MiniLM-L6-v2, as the FashionM3 paper scores).
DEFAULT_REPLY_SIMILARITY = 0.5
DEFAULT_ITEMS_SIMILARITY = 0.6


class ItemExpect(BaseModel):
    """Constraints every item returned in a turn must satisfy."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = None
    exclude_categories: list[str] | None = None
    colors: list[str] | None = None
    exclude_colors: list[str] | None = None
    exclude_materials: list[str] | None = None
    max_price: float | None = None
    min_price: float | None = None
    max_total: float | None = None
    min_count: int | None = None
    max_count: int | None = None
    in_stock: bool | None = True


class Similarity(BaseModel):
    """A soft expectation: the cosine similarity of MiniLM sentence embeddings must reach ``min``.

    Written as a string (the reference text, default threshold) or ``{text: ..., min: 0.6}``.
    """

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    min: float | None = Field(default=None, ge=-1.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


class TurnExpect(BaseModel):
    """What a turn must produce."""

    model_config = ConfigDict(extra="forbid")

    tools: list[str] | None = None
    args: dict[str, dict[str, Any]] = Field(default_factory=dict)
    items: ItemExpect | None = None
    reply_contains: list[str] = Field(default_factory=list)
    reply_not_contains: list[str] = Field(default_factory=list)
    reply_similar_to: Similarity | None = Field(
        default=None, description="The reply must mean roughly this (S-BERT cosine >= min, default 0.5).")
    items_similar_to: Similarity | None = Field(
        default=None, description="The shown items' descriptions must match this (mean cosine >= min, default 0.6).")
    intent: str | None = None
    errors: bool | None = None


class Turn(BaseModel):
    """One user message of a scripted conversation."""

    model_config = ConfigDict(extra="forbid")

    say: str
    image: str | None = None
    thread: str | None = None
    user_id: str | None = None
    expect: TurnExpect = Field(default_factory=TurnExpect)


class Conversation(BaseModel):
    """A scripted conversation (one YAML file)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
                      description="Unique; letters, digits and '._@-' (it becomes part of thread ids).")
    description: str = ""
    user_id: str = "eval-user"
    tags: list[str] = Field(default_factory=list)
    turns: list[Turn] = Field(min_length=1)


class SpecError(ValueError):
    """One or more eval files are malformed; the message lists every problem with file, turn and key."""


def schema() -> dict[str, Any]:
    """Return the JSON schema of an eval conversation file."""
    out = Conversation.model_json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "FashionM3 eval conversation"
    return out


def schema_json() -> str:
    """Return the JSON schema as indented text."""
    return json.dumps(schema(), indent=1)


def _where(data: Any, loc: tuple[Any, ...]) -> str:
    """Say where a pydantic error location is: ``turn 3, key expect.itmes`` (turns counted from 1)."""
    parts = list(loc)
    out = []
    if len(parts) >= 2 and parts[0] == "turns" and isinstance(parts[1], int):
        out.append(f"turn {parts[1] + 1}")
        parts = parts[2:]
    key = ".".join(str(p) for p in parts)
    if key:
        out.append(f"key {key}")
    return ", ".join(out) or "top level"


def find_files(paths: list[Path]) -> list[Path]:
    """Return the YAML files under ``paths`` (files, or folders searched one level deep), sorted per folder."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        elif p.is_file():
            files.append(p)
        else:
            raise SpecError(f"{p}: no such file or folder of eval conversations")
    return files


def load_conversations(paths: list[Path]) -> list[tuple[Path, Conversation]]:
    """Load and validate every conversation under ``paths``.

    Raises:
        SpecError: (a ``ValueError``) listing every problem found, each as
            ``FILE: conversation NAME, turn N, key K: problem``; nothing is run when a file is bad.
    """
    files = find_files(paths)
    out: list[tuple[Path, Conversation]] = []
    problems: list[str] = []
    names: dict[str, Path] = {}
    for f in files:
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"{f}: not valid YAML: {exc}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{f}: top level: expected a mapping with name and turns, got {type(data).__name__}")
            continue
        label = f"conversation {data.get('name')!r}" if isinstance(data.get("name"), str) else "conversation"
        try:
            conv = Conversation.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                problems.append(f"{f}: {label}, {_where(data, tuple(e['loc']))}: {e['msg']}")
            continue
        for n, turn in enumerate(conv.turns, start=1):
            if turn.image and not (f.parent / turn.image).is_file():
                problems.append(f"{f}: {label}, turn {n}, key image: no file {turn.image!r} next to the YAML file")
        if conv.name in names:
            problems.append(f"{f}: {label}: the name is also used by {names[conv.name]}; names must be unique")
        names[conv.name] = f
        out.append((f, conv))
    if problems:
        raise SpecError("malformed eval conversations:\n" + "\n".join(f"  {p}" for p in problems))
    if not out:
        raise SpecError(f"no eval conversations found in {', '.join(str(p) for p in paths)}")
    return out


def select(conversations: list[tuple[Path, Conversation]], tags: list[str] | None = None,
           keyword: str | None = None) -> list[tuple[Path, Conversation]]:
    """Keep conversations that carry any of ``tags`` and whose name contains ``keyword`` (case-insensitive)."""
    out = conversations
    if tags:
        wanted = set(tags)
        out = [(p, c) for p, c in out if wanted & set(c.tags)]
    if keyword:
        k = keyword.lower()
        out = [(p, c) for p, c in out if k in c.name.lower()]
    return out
