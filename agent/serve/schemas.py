"""Request and response bodies of the HTTP service (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ImageIn(BaseModel):
    """A photo sent with a message: inline base64 data, or the ``media_id`` of an earlier ``/v1/media`` upload."""

    model_config = ConfigDict(extra="forbid")

    data_base64: str | None = Field(default=None, description="The image file, base64-encoded (PNG, JPEG, ...).")
    name: str = Field(default="upload", max_length=200, description="File name, used in messages.")
    media_id: str | None = Field(default=None, description="SHA-256 media id returned by POST /v1/media.")


class TurnRequest(BaseModel):
    """One message from a shopper."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(description="The shopper's id: whose preferences are read and written.")
    text: str = Field(default="", max_length=4000, description="The message.")
    images: list[ImageIn] = Field(default_factory=list, max_length=4, description="Photos sent with it.")
    message_id: str | None = Field(default=None, max_length=200,
                                   description="The client's message id; used as the idempotency key when the "
                                               "Idempotency-Key header is absent.")


class ErrorDetail(BaseModel):
    """What went wrong and what to do."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class TurnAccepted(BaseModel):
    """A turn recorded but not finished yet (202): poll ``url`` or retry with the same idempotency key."""

    turn_id: str
    thread: str
    status: Literal["queued", "running"]
    url: str


class ItemOut(BaseModel):
    """A catalog item as shown to the shopper."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    category: str
    color: str
    price: float
    stock: int = 0
    image: str = Field(default="", description="URL of the product image served by this service.")


class TurnResponse(BaseModel):
    """The answer to one message (the ``fashionm3 ask --json`` shape, with image URLs)."""

    model_config = ConfigDict(extra="allow")

    thread: str
    turn_id: str
    text: str
    intent: str
    tools: list[str] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)
    items: list[ItemOut] = Field(default_factory=list)
    is_outfit: bool = False
    explanation: str = ""
    images: list[str] = Field(default_factory=list, description="URLs of generated and try-on images.")
    errors: list[str] = Field(default_factory=list)
    facts: list[dict[str, Any]] = Field(default_factory=list)
    turn: int = Field(default=0, description="The turn's number in its thread (1, 2, ...).")
    seconds: float = 0.0


class MediaOut(BaseModel):
    """A stored upload."""

    media_id: str
    url: str
    width: int
    height: int


class TurnOut(BaseModel):
    """A turn of a thread, as the thread endpoint lists it."""

    turn_id: str
    status: Literal["queued", "running", "done", "failed"]
    text: str
    media_ids: list[str] = Field(default_factory=list)
    created_at: float
    response: dict[str, Any] | None = None
    error: ErrorDetail | None = None


class ThreadOut(BaseModel):
    """A conversation: its turns, what it has shown and the images in it."""

    thread_id: str
    user_id: str
    turns: list[TurnOut]
    messages: list[dict[str, str]] = Field(default_factory=list, description="The conversation as the checkpoint "
                                           "holds it: role (user/assistant) and text.")
    shown: list[dict[str, Any]] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)


class FactOut(BaseModel):
    """A stored preference fact."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str = ""
    polarity: str = ""
    value: str = ""
    text: str = ""
    updated_at: str = ""


class MemoryOut(BaseModel):
    """What the assistant remembers about a shopper."""

    user_id: str
    facts: list[FactOut]


class ForgetOut(BaseModel):
    """How many facts were deleted."""

    user_id: str
    forgotten: int
