"""Messaging channels: one file per platform, one small interface (:class:`agent.channels.base.Channel`).

:class:`ChannelHub` connects them to the service: each webhook is verified, parsed, deduplicated by
the platform's event id and enqueued on the durable turn queue; the runner runs the turn and the
hub sends the reply through the channel. Adding a platform is one more file and one line in
:data:`CHANNELS`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from agent.channels.base import Channel, ChannelAuthError, Inbound, MediaError
from agent.channels.slack import SlackChannel
from agent.channels.telegram import TelegramChannel
from agent.channels.whatsapp import WhatsAppChannel
from agent.context import Context

if TYPE_CHECKING:
    from agent.serve.queue import TurnQueue, TurnRecord
    from agent.serve.runner import MediaLinks, TurnRunner

log = logging.getLogger(__name__)

#: Every platform adapter, by name.
CHANNELS: dict[str, type[Channel]] = {c.name: c for c in (TelegramChannel, SlackChannel, WhatsAppChannel)}

__all__ = ["CHANNELS", "Channel", "ChannelAuthError", "ChannelHub", "Inbound", "channel_status"]


def channel_status(settings: Context) -> dict[str, list[str]]:
    """Return, per platform, the settings it still needs (an empty list: the channel is on)."""
    return {name: cls.missing(settings) for name, cls in CHANNELS.items()}


class ChannelHub:
    """The channels that are on, wired to the service's queue, runner and memory store."""

    def __init__(self, settings: Context, queue: TurnQueue, links: MediaLinks, store: Any = None) -> None:
        self.settings = settings
        self.queue = queue
        self.links = links
        self.store = store
        self.channels: dict[str, Channel] = {name: cls(settings) for name, cls in CHANNELS.items()
                                             if not cls.missing(settings)}

    def attach(self, runner: TurnRunner) -> None:
        """Let the runner fetch channel photos, answer commands and send replies through the channels."""
        runner.prepare = self.prepare
        runner.deliver = self.deliver
        runner.handlers.update({"notice": self._notice, "new": self._notice, "forget": self._forget})

    def enqueue(self, channel: Channel, inbound: Inbound) -> tuple[TurnRecord, bool]:
        """Record an inbound message as a turn once (a redelivered event finds its first turn)."""
        generation = self.queue.generation(inbound.base_thread)
        thread = inbound.base_thread if not generation else f"{inbound.base_thread}:n{generation}"
        request = {"text": inbound.text, "media_ids": [], "files": inbound.files, "kind": inbound.kind,
                   "notice": inbound.notice, "channel": {"name": channel.name, "chat": inbound.chat}}
        key = hashlib.sha256(inbound.event_id.encode()).hexdigest()[:32]
        rec, created = self.queue.enqueue(thread, inbound.user_id, request, idempotency_key=key, shared=True,
                                          event_id=inbound.event_id)
        if created and inbound.kind == "new":
            self.queue.bump_generation(inbound.base_thread)
        return rec, created

    def prepare(self, rec: TurnRecord) -> tuple[list[str], list[str]]:
        """Fetch a channel turn's photos into the media folder; return ``(media_ids, notes for the user)``."""
        from agent.media import ImageInputError, decode_image, store_image

        channel = self.channels.get(str(rec.request.get("channel", {}).get("name")))
        media_ids: list[str] = []
        notes: list[str] = []
        if channel is None:
            return media_ids, ["That channel is switched off, so I couldn't fetch your photo."]
        for ref in rec.request.get("files", []):
            try:
                data, name = channel.download(ref)
                if len(data) > self.settings.max_upload_bytes:
                    raise MediaError(f"That photo is {len(data) / 1e6:.1f} MB; I can take photos up to "
                                     f"{self.settings.max_upload_bytes / 1e6:.0f} MB.")
                img = decode_image(data, name, self.settings.max_image_pixels)
            except (MediaError, ImageInputError) as exc:
                notes.append(f"I couldn't use your photo: {exc}")
                continue
            sha = hashlib.sha256(data).hexdigest()
            store_image(img, self.settings.media_dir, sha)
            media_ids.append(sha)
        return media_ids, notes

    def deliver(self, rec: TurnRecord, payload: dict[str, Any]) -> None:
        """Send a turn's answer to the chat it came from."""
        target = rec.request.get("channel") or {}
        channel = self.channels.get(str(target.get("name")))
        if channel is None:
            raise RuntimeError(f"the {target.get('name')} channel is off; the reply was not sent")
        channel.send(dict(target.get("chat") or {}), payload, self.links)

    def _notice(self, rec: TurnRecord) -> dict[str, Any]:
        return {"thread": rec.thread_id, "turn_id": rec.id, "text": str(rec.request.get("notice", "")),
                "intent": "small_talk", "items": [], "images": [], "errors": [], "calls": [], "tools": []}

    def _forget(self, rec: TurnRecord) -> dict[str, Any]:
        from agent.nodes import forget_all, memory_namespace

        if self.store is None:
            raise RuntimeError("the memory store is not open")
        forgotten = forget_all(self.store, memory_namespace(rec.user_id))
        out = self._notice(rec)
        out["text"] = (f"Done: I've forgotten everything I knew about you ({forgotten} fact(s)). "
                       "Tell me what you like any time.")
        out["intent"] = "forget"
        return out

