"""The plan a planner returns each step, and the view of the conversation it plans from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Intent = Literal[
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
]

#: The intent a call of each registered tool implies (planners that emit only calls use it).
TOOL_INTENTS: dict[str, Intent] = {
    "search_catalog": "search",
    "recommend_outfit": "recommend_outfit",
    "find_alternatives": "find_alternatives",
    "generate_image": "generate_image",
    "virtual_try_on": "try_on",
    "recall_outfit": "history",
}

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
