"""The plan a planner returns each step, and the view of the conversation it plans from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The intents of the core (the built-in tools' and the call-less ones). A tool may declare another
#: (``Tool.intent``); :func:`known_intents` is the full list.
CORE_INTENTS: tuple[str, ...] = (
    "recommend_outfit",
    "find_alternatives",
    "search",
    "generate_image",
    "try_on",
    "show_memory",
    "forget",
    "history",
    "small_talk",
    "out_of_scope",
    "unavailable",
    "clarify",
)
#: An intent: one of :data:`CORE_INTENTS` or a registered tool's (validated on :class:`Plan`).
Intent = str


def _registry() -> dict[str, Any]:
    from tools import discover

    return discover()


class _ToolIntents(Mapping[str, str]):
    """The intent a call of each registered tool implies (read from the tools' declarations)."""

    def _table(self) -> dict[str, str]:
        return {name: cls.tool_intent() for name, cls in _registry().items()}

    def __getitem__(self, name: str) -> str:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: The intent a call of each registered tool implies (planners that emit only calls use it).
TOOL_INTENTS: Mapping[str, str] = _ToolIntents()


def known_intents() -> tuple[str, ...]:
    """Return :data:`CORE_INTENTS` plus the intents registered tools declare."""
    return tuple(dict.fromkeys([*CORE_INTENTS, *TOOL_INTENTS.values()]))


FactKind = Literal["color", "category", "style", "material", "brand", "size", "budget", "occasion", "fit", "other"]


class ToolCall(BaseModel):
    """One tool invocation: the registered tool name and its arguments (validated by the tool)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class PreferenceFact(BaseModel):
    """A preference the shopper expressed (``I love navy``, ``no leather``, ``I'm a size M``)."""

    model_config = ConfigDict(extra="forbid")

    kind: FactKind
    value: str = Field(min_length=1, max_length=200)
    polarity: Literal["like", "dislike", "neutral"] = "like"
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    source_turn: int = 0
    timestamp: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    text: str = ""

    def key(self) -> str:
        """Identity of the fact regardless of polarity (a newer fact with the same key supersedes)."""
        return f"{self.kind}:{self.value.strip().lower()}"

    def sentence(self) -> str:
        """Return a readable sentence, e.g. ``likes colour navy``."""
        verb = {"like": "likes", "dislike": "dislikes", "neutral": "noted"}[self.polarity]
        return f"{verb} {self.kind} {self.value}"


class Plan(BaseModel):
    """What to do this step: tool calls, and/or a direct reply, plus noticed preference facts.

    ``final`` tells the graph whether to answer after running ``calls`` (True) or to consult the
    planner again with their results (False).
    """

    model_config = ConfigDict(extra="forbid")

    intent: Intent = "small_talk"
    calls: list[ToolCall] = Field(default_factory=list)
    reply: str | None = None
    facts: list[PreferenceFact] = Field(default_factory=list)
    forget: list[str] = Field(default_factory=list)
    final: bool = True
    #: The planner that wrote this plan (``smol``, ``rules``, ...), set by the planner pipeline.
    planner: str = ""
    #: Set when a check completed a model's plan from another reading (``"rules"``).
    completed_by: str | None = None

    @field_validator("intent")
    @classmethod
    def _known_intent(cls, value: str) -> str:
        if value not in CORE_INTENTS and value not in known_intents():
            raise ValueError(f"unknown intent {value!r}; intents are: {', '.join(known_intents())}")
        return value


class ShownItem(BaseModel):
    """An item the shopper has seen in this conversation, with where it was shown."""

    id: str
    title: str
    category: str
    color: str
    price: float
    turn: int
    position: int
    source: str = ""


class ImageInfo(BaseModel):
    """An image attached in this conversation, with what we could tell about it."""

    sha256: str
    path: str
    turn: int
    width: int = 0
    height: int = 0
    category: str | None = None
    category_confidence: float = 0.0
    color: str | None = None
    color_confidence: float = 0.0
    kind: Literal["upload", "generated", "try_on"] = "upload"
    #: What an upload shows, told when it arrives: a ``person`` (try-on takes the latest), a ``garment``,
    #: or ``other``; None when it could not be told (no body detector installed).
    role: Literal["person", "garment", "other"] | None = None
    #: How many people a person photo shows, and whether the (first) body stands upright.
    people: int = 0
    upright: bool = True


class ToolResultView(BaseModel):
    """A compact result of a tool already run this turn (what the planner sees on a later step)."""

    name: str
    ok: bool
    message: str = ""
    item_ids: list[str] = Field(default_factory=list)


class PlannerInput(BaseModel):
    """Everything a planner may look at to plan one step."""

    text: str
    turn: int
    step: int = 0
    history: list[dict[str, str]] = Field(default_factory=list)
    images: list[ImageInfo] = Field(default_factory=list)
    new_images: list[ImageInfo] = Field(default_factory=list)
    shown: list[ShownItem] = Field(default_factory=list)
    last_shown: list[ShownItem] = Field(default_factory=list)
    outfits: list[list[str]] = Field(default_factory=list)
    focus_item_id: str | None = None
    preferences: list[PreferenceFact] = Field(default_factory=list)
    tools: dict[str, dict[str, Any]] = Field(default_factory=dict)
    results: list[ToolResultView] = Field(default_factory=list)

    @property
    def parsed(self) -> Any:
        """Return the message read by :func:`agent.understanding.parse_message` (once per text; not in prompts).

        Typed ``Any`` here to keep this module free of the reader; it is a
        :class:`agent.understanding.ParsedMessage`.
        """
        from agent.understanding.message import parse_message

        return parse_message(self.text)

    def shown_by_id(self, item_id: str) -> ShownItem | None:
        """Return the most recent showing of an item id, if any."""
        for s in reversed(self.shown):
            if s.id == item_id:
                return s
        return None
