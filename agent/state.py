"""The graph state: plain, serialisable data only (images are references, items are dicts)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class Attachment(TypedDict, total=False):
    """An image sent with a message: a local path, or base64 data with a file name.

    ``sha256`` (64 hex digits) names an image already stored under the media folder as ``<sha256>.png``
    (an upload made through the HTTP service's ``/v1/media``); it keeps that image's media id.
    """

    path: str
    data_base64: str
    name: str
    sha256: str


class InputState(TypedDict, total=False):
    """What a caller sends each turn."""

    messages: Annotated[list[AnyMessage], add_messages]
    attachments: list[str | Attachment]
    request_id: str


class AgentState(InputState, total=False):
    """Everything the graph keeps for a conversation thread.

    Conversation-long fields: ``messages``, ``turn``, ``images``, ``shown``, ``outfits``,
    ``focus_item_id``; ``request_id`` names the caller's request the latest turn answered (the HTTP
    service's turn id), so a turn replayed after a crash is recognised as already answered. Per-turn
    fields (reset by ``ingest``): ``new_images``, ``input_errors``,
    ``preferences``, ``plans``, ``results``, ``steps``, ``tool_calls``, ``response``.
    """

    turn: int
    images: list[dict[str, Any]]
    shown: list[dict[str, Any]]
    last_shown: list[dict[str, Any]]
    outfits: list[list[str]]
    focus_item_id: str | None
    new_images: list[dict[str, Any]]
    input_errors: list[str]
    preferences: list[dict[str, Any]]
    plans: list[dict[str, Any]]
    results: list[dict[str, Any]]
    steps: int
    tool_calls: int
    response: dict[str, Any]


class OutputState(TypedDict, total=False):
    """What a caller reads back after a turn."""

    messages: list[AnyMessage]
    response: dict[str, Any]
    turn: int


#: Cap on how many shown items a thread remembers (older ones drop off).
MAX_SHOWN = 300
