"""WhatsApp Cloud API: the webhook (``GET|POST /channels/whatsapp``) answered through the Graph API.

Plain ``httpx``: Meta publishes no official Python SDK for the Cloud API, and the service needs five
calls (media URL, media bytes, media upload, send message) and its own retries.

- Subscribe: ``GET`` with ``hub.mode=subscribe``, ``hub.verify_token`` equal to
  ``FASHIONM3_WHATSAPP_VERIFY_TOKEN`` and ``hub.challenge``: 200 with the challenge, else 403.
- Verify: ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with FASHIONM3_WHATSAPP_APP_SECRET>``.
- Dedupe: the message ``id`` (``wamid...``). Identity: thread and user
  ``whatsapp:<phone_number_id>:<wa_id>``. Status updates (sent, delivered, read) and reactions are ignored.
- Photos in: ``GET /{media-id}`` (bearer) gives a short-lived URL on Meta's servers, fetched with the
  same token. Out: plain text up to 4,096 characters a message, images uploaded (``POST
  /{phone-number-id}/media``) and sent with captions up to 1,024
  (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar

from agent.channels.base import (
    IMAGE_TYPES,
    MAX_DOWNLOAD_BYTES,
    UNSUPPORTED_TEXT,
    Channel,
    ChannelAuthError,
    Inbound,
    MediaError,
    command_inbound,
    needs_total,
    price,
    reply_lines,
    split_text,
)

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
_UNSUPPORTED = {"audio": "voice notes or audio", "video": "videos", "sticker": "stickers", "location": "locations",
                "contacts": "contacts", "document": "documents"}


class WhatsAppChannel(Channel):
    """WhatsApp Cloud API webhook channel."""

    name: ClassVar[str] = "whatsapp"
    settings_needed: ClassVar[tuple[str, ...]] = ("whatsapp_app_secret", "whatsapp_verify_token", "whatsapp_token",
                                                  "whatsapp_phone_number_id")
    file_hosts: ClassVar[tuple[str, ...]] = ("fbsbx.com", "whatsapp.net")
    api_default: ClassVar[str] = "https://graph.facebook.com"

    @property
    def api_url(self) -> str:
        """Graph API base URL with version (``FASHIONM3_WHATSAPP_API_URL``)."""
        return self.settings.whatsapp_api_url.rstrip("/")

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.whatsapp_token}"}

    def subscribe(self, params: dict[str, str]) -> str | None:
        """Answer the subscription handshake: the challenge when mode and token match, else ``None`` (403)."""
        if params.get("hub.mode") == "subscribe" and hmac.compare_digest(
                params.get("hub.verify_token", "").encode(), self.settings.whatsapp_verify_token.encode()):
            return params.get("hub.challenge", "")
        return None

    def verify(self, headers: dict[str, str], body: bytes) -> None:
        """Check ``X-Hub-Signature-256`` against the HMAC-SHA256 of the raw body."""
        got = headers.get("x-hub-signature-256", "")
        want = "sha256=" + hmac.new(self.settings.whatsapp_app_secret.encode(), body, hashlib.sha256).hexdigest()
        if not got or not hmac.compare_digest(got.encode(), want.encode()):
            raise ChannelAuthError("missing or wrong X-Hub-Signature-256")

    def parse(self, body: bytes, headers: dict[str, str]) -> list[Inbound]:
        """Read the messages of a ``whatsapp_business_account`` notification (statuses are ignored)."""
        data = json.loads(body)
        out: list[Inbound] = []
        for entry in data.get("entry") or []:
            for change in entry.get("changes") or []:
                if change.get("field") != "messages":
                    continue
                value = change.get("value") or {}
                number = str((value.get("metadata") or {}).get("phone_number_id") or
                             self.settings.whatsapp_phone_number_id)
                for msg in value.get("messages") or []:
                    inbound = self._message(number, msg)
                    if inbound is not None:
                        out.append(inbound)
        return out

    def _message(self, number: str, msg: dict[str, Any]) -> Inbound | None:
        kind, wa_id = msg.get("type"), str(msg.get("from") or "")
        if not wa_id or kind in ("reaction", "system", "unsupported") or "id" not in msg:
            return None
        base = f"whatsapp:{number}:{wa_id}"
        inbound = Inbound(event_id=f"whatsapp:{msg['id']}", base_thread=base, user_id=base,
                          chat={"phone_number_id": number, "to": wa_id, "message_id": msg["id"]})
        if kind == "text":
            inbound.text = str((msg.get("text") or {}).get("body") or "").strip()
        elif kind == "interactive":
            reply = (msg.get("interactive") or {})
            inbound.text = str((reply.get("button_reply") or reply.get("list_reply") or {}).get("title") or "")
        elif kind == "button":
            inbound.text = str((msg.get("button") or {}).get("text") or "")
        elif kind == "image" or (kind == "document" and
                                 str((msg.get("document") or {}).get("mime_type", "")) in IMAGE_TYPES):
            media = msg.get(kind) or {}
            inbound.text = str(media.get("caption") or "").strip()
            inbound.files.append({"media_id": media.get("id"), "mime_type": media.get("mime_type", ""),
                                  "name": media.get("filename") or "photo.jpg"})
        else:
            inbound.kind = "notice"
            inbound.notice = UNSUPPORTED_TEXT.format(what=_UNSUPPORTED.get(str(kind), f"{kind} messages"))
            return inbound
        if not inbound.text and not inbound.files:
            return None
        return command_inbound(inbound)

    def download(self, ref: dict[str, Any]) -> tuple[bytes, str]:
        """``GET /{media-id}`` for the media URL, then the bytes, both with the access token."""
        try:
            info = self.call("GET", f"{self.api_url}/{ref['media_id']}", headers=self._auth).json()
        except Exception as exc:
            raise MediaError("I couldn't get that photo from WhatsApp; please send it again.") from exc
        size = int(info.get("file_size") or 0)
        if size > MAX_DOWNLOAD_BYTES:
            raise MediaError(f"That photo is {size / 1e6:.0f} MB; I can take photos up to "
                             f"{MAX_DOWNLOAD_BYTES / 1e6:.0f} MB.")
        return self.fetch(str(info.get("url") or ""), headers=self._auth), str(ref.get("name") or "photo")

    def send(self, chat: dict[str, Any], payload: dict[str, Any], media: Any) -> None:
        """Send the text (split at 4,096 characters, never inside an item), then each image with its caption."""
        currency = self.settings.currency
        url = f"{self.api_url}/{chat['phone_number_id']}/messages"
        items = payload.get("items", [])
        parts = list(reply_lines(payload))
        if needs_total(payload):
            parts.append(f"Outfit total: {price(payload['total'], currency)}")
        parts += [f"{n}. {i['title']} — {i['color']}, {price(i['price'], currency)}"
                  for n, i in enumerate(items, start=1)]
        for text in split_text(parts or ["…"], MESSAGE_LIMIT):
            self.call("POST", url, headers=self._auth, json={
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": chat["to"], "type": "text",
                "text": {"body": text, "preview_url": False}})
        images = [(media.path_for(i.get("image", "")), f"{n}. {i['title']} — {price(i['price'], currency)}")
                  for n, i in enumerate(items, start=1)]
        images += [(media.path_for(u), "Here it is.") for u in payload.get("images", [])]
        for path, caption in images:
            if path is None:
                continue
            up = self.call("POST", f"{self.api_url}/{chat['phone_number_id']}/media", headers=self._auth,
                           data={"messaging_product": "whatsapp", "type": "image/png"},
                           files={"file": (path.name, path.read_bytes(), "image/png")})
            self.call("POST", url, headers=self._auth, json={
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": chat["to"], "type": "image",
                "image": {"id": up.json().get("id"), "caption": caption[:CAPTION_LIMIT]}})
