"""What every tool is: a pydantic args model, a planner-facing docstring, and a ``run`` method.

Two kinds of failure (as LangGraph's ``ToolNode``): a :class:`ToolError` is something the shopper or
the planner can fix ("no item with id X", "no person in the photo") and becomes an error result the
reply explains; anything else is a bug and propagates.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.catalog.models import Item
from agent.catalog.store import CatalogError
from agent.plan import ImageInfo, PreferenceFact, ShownItem
from tools.constraints import ConstraintReport, report_for

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from agent.catalog.store import Catalog
    from agent.context import Context
    from agent.services import Services
    from agent.vision.encoder import ImageEncoderBackend


class ToolError(Exception):
    """A failure the user or planner can fix; the message says what was wrong and what to do."""


@dataclass
class ToolContext:
    """Infrastructure injected into tools (never part of the args schema the planner sees).

    ``settings`` are the run's; heavy resources come through :meth:`image_encoder`, :meth:`photo` and
    :meth:`embed_image`, which use ``resources`` (the running graph's :class:`~agent.services.Services`)
    when set, else the process-wide instances the settings name. ``services`` holds objects injected by
    name (``Services.extra``).
    """

    settings: Context
    catalog: Catalog | None = None
    user_id: str = ""
    preferences: list[PreferenceFact] = field(default_factory=list)
    shown: list[ShownItem] = field(default_factory=list)
    outfits: list[list[str]] = field(default_factory=list)
    images: list[ImageInfo] = field(default_factory=list)
    turn: int = 0
    store: Any = None
    services: dict[str, Any] = field(default_factory=dict)
    resources: Services | None = None
    #: The shopper's message this turn (tools compare their arguments with it: shades, currencies, sizes).
    request: str = ""

    def require_catalog(self) -> Catalog:
        """Return the catalog, or fail with a message on how to create one."""
        if self.catalog is None:
            raise ToolError("No catalog is loaded. Build one with `fashionm3 catalog build`.")
        self.catalog.require_items()
        return self.catalog

    def image(self, sha: str) -> ImageInfo:
        """Return an attached image by (a prefix of) its hash, or the latest when ``sha`` is ``latest``."""
        if not self.images:
            raise ToolError("No photo has been attached in this conversation; attach one first.")
        if sha in ("", "latest", "last"):
            return self.images[-1]
        for img in reversed(self.images):
            if img.sha256.startswith(sha):
                return img
        raise ToolError(f"No attached image matches {sha!r}; attach the photo again.")

    def _resources(self) -> Services:
        if self.resources is None:
            from agent.services import Services

            self.resources = Services()
        return self.resources

    def image_encoder(self) -> ImageEncoderBackend:
        """Return the run's image encoder (the one ``settings.image_encoder`` names, shared per process)."""
        return self._resources().get_image_encoder(self.settings)

    def photo(self, info: ImageInfo) -> Image.Image:
        """Return a stored photo decoded, reading its file only the first time (shared: do not modify it).

        Raises:
            ToolError: if its file can no longer be read.
        """
        from agent.media import ImageInputError

        try:
            return self._resources().photo(info, self.settings)
        except (OSError, ImageInputError) as exc:
            raise ToolError(f"The image {info.sha256[:12]} can no longer be read ({exc}); attach it again.") from exc

    def embed_image(self, info: ImageInfo) -> np.ndarray:
        """Return the image encoder's vector of a stored photo, encoding it only the first time (read-only).

        Raises:
            ToolError: if its file has to be read and can no longer be.
        """
        from agent.media import ImageInputError

        try:
            return self._resources().embed_image(info, self.settings)
        except (OSError, ImageInputError) as exc:
            raise ToolError(f"The image {info.sha256[:12]} can no longer be read ({exc}); attach it again.") from exc


class ToolResult(BaseModel):
    """What a tool returns: items to show, images, a short message, and its effects on the conversation.

    State effects (the graph applies them; no tool-name branches): ``outfit`` (item ids) is kept as an
    outfit the shopper can recall; ``focus_item_id`` becomes the item "it" refers to next turn (when
    unset, a result of exactly one item puts that item in focus).
    """

    model_config = ConfigDict(extra="forbid")

    tool: str
    ok: bool = True
    message: str = ""
    args: dict[str, Any] = Field(default_factory=dict)
    items: list[Item] = Field(default_factory=list)
    is_outfit: bool = False
    explanation: str = ""
    images: list[ImageInfo] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    outfit: list[str] | None = None
    focus_item_id: str | None = None
    #: Which of the request's constraints were applied exactly, approximated (with the reason), or not applied.
    constraints: ConstraintReport | None = None
    #: Items that do not satisfy the request but come closest (shown apart, labelled as not matching).
    closest: list[Item] = Field(default_factory=list)
    #: What the closest items break ("not turquoise", "over €40").
    closest_note: str = ""


#: What an argument refers to, for the plan checks and the readers: a shown ``item`` id, an ``image``
#: of the conversation, a catalog ``category`` or ``color`` (mapped onto the vocabulary), a ``style``,
#: ``material`` or ``occasion`` word, a ``price`` bound, or ``exclude_*`` of those (a negated mention).
ArgKind = Literal["item", "image", "category", "color", "style", "material", "occasion", "price", "exclude_category",
                  "exclude_color", "exclude_material", "text", "other"]

#: Kinds of the conventional argument names; a tool that uses them needs to declare nothing.
CONVENTIONAL_KINDS: dict[str, ArgKind] = {
    "item_id": "item", "anchor_item_id": "item",
    "image": "image", "anchor_image": "image", "edit_image": "image", "person_image": "image", "garment_image": "image",
    "category": "category", "anchor_category": "category", "categories": "category", "include_categories": "category",
    "color": "color", "anchor_color": "color", "colors": "color",
    "exclude_categories": "exclude_category", "exclude_colors": "exclude_color",
    "style": "style", "styles": "style", "material": "material", "materials": "material",
    "exclude_materials": "exclude_material", "occasion": "occasion",
    "min_price": "price", "max_price": "price", "max_total": "price", "query": "text", "prompt": "text",
}


def default_argument_kinds(fields: Iterable[str]) -> dict[str, ArgKind]:
    """Return the kinds of the conventional argument names among ``fields``."""
    return {f: CONVENTIONAL_KINDS[f] for f in fields if f in CONVENTIONAL_KINDS}


@functools.cache
def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


class Tool(ABC):
    """Base class of tools. Subclasses set ``name`` and ``Args`` and write a docstring for the planner."""

    name: ClassVar[str]
    Args: ClassVar[type[BaseModel]]
    #: What an argument refers to, beyond the conventional names (:data:`CONVENTIONAL_KINDS`).
    arg_kinds: ClassVar[dict[str, ArgKind]] = {}
    #: The intent a call of this tool implies (default: the tool's name); see :func:`agent.plan.known_intents`.
    intent: ClassVar[str] = ""
    #: A few requests this tool answers, in shoppers' words. Planners not trained on the tool route a
    #: message to it when it is close in meaning to one of these (see :mod:`agent.planners.tool_router`).
    examples: ClassVar[tuple[str, ...]] = ()
    #: What the assistant says it can do with this tool ("check which sizes an item comes in").
    capability: ClassVar[str] = ""

    @classmethod
    def tool_intent(cls) -> str:
        """Return the intent a call of this tool implies."""
        return cls.intent or cls.name

    @classmethod
    def argument_kinds(cls) -> dict[str, ArgKind]:
        """Return the kind of each argument: conventional names, then the tool's own ``arg_kinds``."""
        return {**default_argument_kinds(cls.Args.model_fields), **cls.arg_kinds}

    @classmethod
    def description(cls) -> str:
        """Return the planner-facing description (the class docstring, on one line)."""
        return " ".join((inspect.getdoc(cls) or "").split())

    @classmethod
    def args_schema(cls) -> dict[str, Any]:
        """Return the JSON schema of the arguments (built once per args model; callers must not mutate it)."""
        return _schema_of(cls.Args)

    @classmethod
    def spec(cls) -> dict[str, Any]:
        """Return the OpenAI-style function spec of this tool."""
        return {"name": cls.name, "description": cls.description(), "parameters": cls.args_schema()}

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load heavy resources (models); the graph calls it once per instance, before its first run.

        (``Services.prepare_tool``; a setup that raises is tried again before the next run.)
        """

    def available(self, ctx: ToolContext) -> bool:
        """Whether the tool can run in this deployment (e.g. its model is installed)."""
        return True

    @abstractmethod
    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        """Do the work for validated ``args``."""

    def __call__(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Validate ``raw_args`` and run; bad arguments become an error result, not an exception."""
        try:
            args = self.Args.model_validate(raw_args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'args'}: {err['msg']}" for err in exc.errors()
            )
            return ToolResult(tool=self.name, ok=False, message=f"Invalid arguments for {self.name}: {problems}",
                              args=dict(raw_args))
        try:
            result = self.run(args, ctx)
        except (ToolError, CatalogError) as exc:
            return ToolResult(tool=self.name, ok=False, message=str(exc), args=args.model_dump(exclude_none=True))
        result.args = args.model_dump(exclude_none=True)
        if result.ok and result.constraints is None:
            result.constraints = report_for(result.args, self.argument_kinds(), ctx.request, ctx.settings.currency)
        return result
