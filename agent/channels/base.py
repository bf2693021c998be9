"""What every messaging channel is: verify -> parse -> (dedupe + enqueue, done by the service) -> render and send.

A channel is one file with one :class:`Channel` subclass. The service gives each webhook request to
its channel: :meth:`Channel.verify` checks the platform's signature on the raw body before anything
is parsed, :meth:`Channel.parse` turns the body into :class:`Inbound` messages (each with the
platform's own event id, used as the idempotency key of the turn queue, so a redelivered event never
runs a second turn or sends a second reply), and once the turn has run, :meth:`Channel.send` renders
the answer in the platform's format and sends it with retries. Photos are fetched in the worker
through :meth:`Channel.download`, from the platform's own hosts only, with a size cap checked while
streaming.
"""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from agent.context import Context

log = logging.getLogger(__name__)

HELP_TEXT = (
    "I'm a fashion assistant for this shop's catalog. Ask me for an outfit (\"an outfit for a summer wedding, "
    "nothing over 80 each\"), for items (\"white sneakers under 90\"), for alternatives (\"something cheaper "
    "than the second one\", \"in blue\"), or send a photo (\"what goes with this?\"). I remember what you like "
    "(\"I never wear leather\").\n"
    "Commands: /new starts a fresh conversation, /forget deletes what I remember about you, /help shows this."
)
FORGET_CONFIRM_TEXT = ("This deletes everything I remember about you (your likes, dislikes and sizes). "
                       "Send \"/forget confirm\" to go ahead.")
UNSUPPORTED_TEXT = ("I can read text messages and photos (JPEG, PNG, WebP). I can't use {what}; send a photo or "
                    "describe what you are looking for.")
#: Photos larger than this are refused before download (Telegram's bot API serves files up to 20 MB).
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff")


class ChannelAuthError(Exception):
    """The request's signature or secret is missing or wrong (answered 401, nothing runs)."""


class DeliveryError(Exception):
    """A reply could not be sent after the retries (recorded; the turn is not planned again)."""


class MediaError(Exception):
    """A user's file could not be fetched or is not something we can use; the message is for the user."""


@dataclass
class Inbound:
    """One message from a platform, ready to become a turn.

    Attributes:
        event_id: The platform's id of the event (Telegram ``update_id``, Slack ``event_id``, WhatsApp
            message ``id``), prefixed by the channel; the turn's idempotency key.
        base_thread: The conversation before ``/new`` restarts (e.g. ``telegram:<chat_id>``).
        user_id: Whose memory the turn uses (e.g. ``telegram:<user_id>``).
        chat: What :meth:`Channel.send` needs to answer (chat id, channel and thread ts, phone number).
        text: The message text (mentions of the bot removed).
        files: Remote photos to fetch (channel-specific references).
        kind: ``turn`` (the graph), ``notice`` (``notice`` is the reply), ``forget`` (delete the user's
            memory, then reply), or ``new`` (start a new conversation, then reply).
        shared: The chat is a group (several users in one thread).
    """

    event_id: str
    base_thread: str
    user_id: str
    chat: dict[str, Any]
    text: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "turn"
    notice: str = ""
    shared: bool = False


def command_of(text: str, bot_username: str = "") -> tuple[str, str]:
    """Split ``/cmd[@bot] rest`` into ``("cmd", "rest")``; plain text gives ``("", text)``."""
    m = re.match(r"^\s*/([A-Za-z_]+)(?:@(\w+))?\b\s*(.*)$", text, flags=re.S)
    if not m:
        return "", text
    if m.group(2) and bot_username and m.group(2).lower() != bot_username.lower():
        return "", text  # a command for another bot in the group
    return m.group(1).lower(), m.group(3).strip()


def command_inbound(base: Inbound) -> Inbound:
    """Turn ``/start``, ``/help``, ``/new``, ``/forget [confirm]`` (also without the slash) into their kind."""
    cmd, rest = command_of(base.text)
    if not cmd and base.text.strip().lower() in ("help", "new", "forget", "forget confirm", "start"):
        cmd, _, rest = base.text.strip().lower().partition(" ")
    if cmd in ("start", "help"):
        base.kind, base.notice = "notice", HELP_TEXT
    elif cmd == "new":
        base.kind, base.notice = "new", "Started a new conversation. What are you looking for?"
    elif cmd == "forget":
        if rest.lower() in ("confirm", "yes"):
            base.kind = "forget"
        else:
            base.kind, base.notice = "notice", FORGET_CONFIRM_TEXT
    return base


def split_text(parts: list[str], limit: int, sep: str = "\n") -> list[str]:
    """Join ``parts`` into messages of at most ``limit`` characters, never splitting a part.

    A single part longer than ``limit`` is cut at the last space before the limit (and continued).
    """
    messages: list[str] = []
    current = ""
    for part in parts:
        while len(part) > limit:
            cut = part.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                messages.append(current)
                current = ""
            messages.append(part[:cut])
            part = part[cut:].lstrip()
        candidate = f"{current}{sep}{part}" if current else part
        if len(candidate) > limit:
            messages.append(current)
            current = part
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages


def reply_lines(payload: dict[str, Any]) -> list[str]:
    """Return the reply's text lines without the item lines (the channel lists items its own way)."""
    ids = {f"[{i['id']}]" for i in payload.get("items", [])}
    return [ln for ln in str(payload.get("text", "")).splitlines() if ln.strip() and not any(ln.endswith(x)
                                                                                            for x in ids)]


def needs_total(payload: dict[str, Any]) -> bool:
    """Whether an outfit's total must be added (the reply text does not state it already)."""
    return bool(payload.get("is_outfit") and payload.get("total")) and "in total" not in str(payload.get("text", ""))


def price(value: Any, currency: str) -> str:
    """Format a price the way the catalog shows it."""
    return f"{currency}{float(value):.2f}"


class Channel(ABC):
    """A messaging platform adapter. Subclasses set ``name``, ``settings_needed`` and ``api_default``."""

    name: ClassVar[str]
    #: Settings fields that must be set for the channel to be on.
    settings_needed: ClassVar[tuple[str, ...]]
    #: Hosts (besides the API URL's own) that serve the platform's files when the real API is used.
    file_hosts: ClassVar[tuple[str, ...]] = ()
    api_default: ClassVar[str] = ""
    #: Attempts per platform call before a send is given up.
    max_attempts: ClassVar[int] = 5

    def __init__(self, settings: Context, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=False)

    @classmethod
    def missing(cls, settings: Context) -> list[str]:
        """Return the ``FASHIONM3_*`` variables this channel still needs (empty: the channel is on)."""
        return [f"FASHIONM3_{f.upper()}" for f in cls.settings_needed if not str(getattr(settings, f, "")).strip()]

    @property
    @abstractmethod
    def api_url(self) -> str:
        """Base URL of the platform API (a setting; the real platform by default)."""

    @abstractmethod
    def verify(self, headers: dict[str, str], body: bytes) -> None:
        """Check the request's signature or secret; raise :class:`ChannelAuthError` when it is wrong."""

    @abstractmethod
    def parse(self, body: bytes, headers: dict[str, str]) -> list[Inbound]:
        """Return the messages in a verified webhook body (none for events to ignore)."""

    @abstractmethod
    def download(self, ref: dict[str, Any]) -> tuple[bytes, str]:
        """Fetch a user's photo; return ``(bytes, name)``; raise :class:`MediaError` with a message for the user."""

    @abstractmethod
    def send(self, chat: dict[str, Any], payload: dict[str, Any], media: Any) -> None:
        """Send a turn's answer (text, items with their images, generated images) to the chat.

        ``media`` resolves the payload's image URLs to local files (``media.path_for(url)``).

        Raises:
            DeliveryError: the platform refused or kept failing after the retries.
        """

    # -- shared helpers ---------------------------------------------------------------------------------------

    def allowed_host(self, url: str) -> bool:
        """Whether ``url`` is on the platform's own API host (or its file hosts, for the real API)."""
        parts = urlsplit(url)
        api = urlsplit(self.api_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return False
        if parts.hostname == api.hostname and parts.port == api.port:
            return True
        return self.api_url.rstrip("/").startswith(self.api_default.rstrip("/")) and parts.scheme == "https" and \
            any(parts.hostname == h or parts.hostname.endswith("." + h) for h in self.file_hosts)

    def fetch(self, url: str, headers: dict[str, str] | None = None, limit: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """GET a file from the platform, refusing other hosts and stopping once it is over ``limit`` bytes."""
        if not self.allowed_host(url):
            raise MediaError("I couldn't fetch that photo (it was not on the platform's own servers).")
        try:
            with self.client.stream("GET", url, headers=headers or {}) as r:
                if r.status_code != 200:
                    raise MediaError(f"I couldn't download that photo (the platform answered {r.status_code}); "
                                     "please send it again.")
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise MediaError(f"That file is {int(declared) / 1e6:.0f} MB; I can take photos up to "
                                     f"{limit / 1e6:.0f} MB.")
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise MediaError(f"That file is over {limit / 1e6:.0f} MB; I can take photos up to "
                                         f"{limit / 1e6:.0f} MB.")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise MediaError("I couldn't download that photo (the connection failed); please send it again.") from exc

    def call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """Call the platform with retries: 429 (honouring ``Retry-After``) and 5xx back off, up to ``max_attempts``.

        A connection that could not be made is retried; one that broke after the request was sent (a
        read timeout) is not, since the platform may have accepted the message: sending it again could
        show the shopper the reply twice.

        Raises:
            DeliveryError: a 4xx other than 429, a broken connection after sending, or still failing after
                the last attempt.
        """
        delay = 0.5
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                r = self.client.request(method, url, **kw)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last = f"{type(exc).__name__}: {exc}"  # never reached the platform: safe to send again
            except httpx.TransportError as exc:
                method_name = url.rsplit("/", 1)[-1]
                raise DeliveryError(f"{self.name}: {method_name} broke after sending ({type(exc).__name__}); not "
                                    "sent again, as the platform may have accepted it") from exc
            else:
                if r.status_code < 400:
                    return r
                last = f"{r.status_code} {r.text[:200]}"
                if r.status_code == 429:
                    wait = _retry_after(r)
                    if attempt < self.max_attempts:
                        time.sleep(min(wait if wait is not None else delay, 30.0))
                        delay *= 2
                        continue
                elif r.status_code < 500:
                    raise DeliveryError(f"{self.name} refused {url.rsplit('/', 1)[-1]}: {last}")
            if attempt < self.max_attempts:
                time.sleep(delay)
                delay *= 2
        raise DeliveryError(f"{self.name}: {url.rsplit('/', 1)[-1]} failed after {self.max_attempts} attempts: {last}")


def _retry_after(r: httpx.Response) -> float | None:
    header = r.headers.get("retry-after")
    if header:
        try:
            return float(header)
        except ValueError:
            return None
    try:
        params = r.json().get("parameters") or {}  # Telegram puts it in the body
        return float(params["retry_after"]) if "retry_after" in params else None
    except (ValueError, AttributeError):
        return None
