"""Telegram: a bot webhook (``POST /channels/telegram``) answered through the Bot API.

Plain ``httpx`` rather than ``python-telegram-bot``: the service only needs the update's JSON, four
Bot API methods (``getMe``, ``getFile``, ``sendMessage``, ``sendPhoto``/``sendMediaGroup``) and its
own retry and dedupe rules; the SDK's application and polling machinery would sit unused.

- Verify: ``X-Telegram-Bot-Api-Secret-Token`` equals ``FASHIONM3_TELEGRAM_SECRET_TOKEN`` (the
  ``secret_token`` given to ``setWebhook``), compared in constant time.
- Dedupe: ``update_id``. Identity: thread ``telegram:<chat_id>``, user ``telegram:<user_id>``.
- Groups: answered only when the bot is mentioned (``@username``), commanded (``/cmd@username``) or
  replied to. Edited messages, channel posts, member updates and other bots are ignored.
- Out: HTML parse mode (escaped), messages up to 4,096 characters, photo captions up to 1,024
  (https://core.telegram.org/bots/api#sendmessage, #sendphoto), albums of up to 10 photos.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
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


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for Telegram's HTML parse mode (quotes need no escaping there)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
_UNSUPPORTED = {"voice": "voice notes", "audio": "audio files", "video": "videos", "video_note": "video notes",
                "sticker": "stickers", "animation": "GIFs", "location": "locations", "contact": "contacts",
                "poll": "polls"}


class TelegramChannel(Channel):
    """Telegram Bot API webhook channel."""

    name: ClassVar[str] = "telegram"
    settings_needed: ClassVar[tuple[str, ...]] = ("telegram_bot_token", "telegram_secret_token")
    api_default: ClassVar[str] = "https://api.telegram.org"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._me: dict[str, Any] | None = None
        self._me_lock = threading.Lock()

    @property
    def api_url(self) -> str:
        """Bot API base URL (``FASHIONM3_TELEGRAM_API_URL``)."""
        return self.settings.telegram_api_url.rstrip("/")

    def method_url(self, method: str) -> str:
        """Return ``<api>/bot<token>/<method>``."""
        return f"{self.api_url}/bot{self.settings.telegram_bot_token}/{method}"

    def me(self) -> dict[str, Any]:
        """Return the bot's own user (``getMe``, asked once), or the configured username."""
        with self._me_lock:
            if self._me is None:
                if self.settings.telegram_bot_username:
                    self._me = {"id": 0, "username": self.settings.telegram_bot_username.lstrip("@")}
                else:
                    self._me = dict(self.call("POST", self.method_url("getMe")).json().get("result") or {})
            return self._me

    def verify(self, headers: dict[str, str], body: bytes) -> None:
        """Compare the secret-token header with the setting."""
        got = headers.get("x-telegram-bot-api-secret-token", "")
        if not got or not hmac.compare_digest(got.encode(), self.settings.telegram_secret_token.encode()):
            raise ChannelAuthError("missing or wrong X-Telegram-Bot-Api-Secret-Token")

    def _addressed(self, msg: dict[str, Any], text: str) -> tuple[bool, str]:
        me = self.me()
        username = str(me.get("username") or "")
        reply_from = (msg.get("reply_to_message") or {}).get("from") or {}
        if reply_from and (reply_from.get("id") == me.get("id") or
                           (username and str(reply_from.get("username", "")).lower() == username.lower())):
            return True, text
        if username and re.search(rf"@{re.escape(username)}\b", text, flags=re.I):
            cleaned = re.sub(rf"(?<!/)(?<!\w)@{re.escape(username)}\b", "", text, flags=re.I)
            return True, " ".join(cleaned.split())
        return False, text

    def parse(self, body: bytes, headers: dict[str, str]) -> list[Inbound]:
        """Read one Update (https://core.telegram.org/bots/api#update)."""
        update = json.loads(body)
        msg = update.get("message")
        if not isinstance(msg, dict) or "update_id" not in update:
            return []  # edited_message, channel_post, my_chat_member, callback_query, ...: nothing to answer
        sender = msg.get("from") or {}
        if sender.get("is_bot"):
            return []
        chat = msg.get("chat") or {}
        group = chat.get("type") in ("group", "supergroup")
        text = str(msg.get("text") or msg.get("caption") or "")
        if group:
            addressed, text = self._addressed(msg, text)
            if not addressed:
                return []
        inbound = Inbound(event_id=f"telegram:{update['update_id']}", base_thread=f"telegram:{chat.get('id')}",
                          user_id=f"telegram:{sender.get('id')}", text=text.strip(), shared=group,
                          chat={"chat_id": chat.get("id"), "message_id": msg.get("message_id"), "group": group})
        if msg.get("photo"):
            largest = max(msg["photo"], key=lambda p: (p.get("width", 0) * p.get("height", 0), p.get("file_size", 0)))
            inbound.files.append({"file_id": largest["file_id"], "file_size": largest.get("file_size", 0),
                                  "name": "photo.jpg"})
        elif isinstance(msg.get("document"), dict):
            doc = msg["document"]
            if str(doc.get("mime_type", "")) in IMAGE_TYPES:
                inbound.files.append({"file_id": doc["file_id"], "file_size": doc.get("file_size", 0),
                                      "name": doc.get("file_name") or "image"})
            else:
                what = f"{doc.get('mime_type') or 'these'} files" if doc.get("mime_type") != "application/pdf" \
                    else "PDFs"
                inbound.kind, inbound.notice = "notice", UNSUPPORTED_TEXT.format(what=what)
                return [inbound]
        for key, what in _UNSUPPORTED.items():
            if key in msg:
                inbound.kind, inbound.notice = "notice", UNSUPPORTED_TEXT.format(what=what)
                return [inbound]
        if not inbound.text and not inbound.files:
            return []  # service messages (members joined, title changed, ...)
        if inbound.text.startswith("/"):
            username = str(self.me().get("username") or "")
            text = re.sub(rf"^(/\w+)@{re.escape(username)}\b", r"\1", inbound.text, flags=re.I) if username else \
                inbound.text
            inbound.text = text
            command_inbound(inbound)
        return [inbound]

    def download(self, ref: dict[str, Any]) -> tuple[bytes, str]:
        """``getFile``, then the file URL (files up to 20 MB, https://core.telegram.org/bots/api#getfile)."""
        if int(ref.get("file_size") or 0) > MAX_DOWNLOAD_BYTES:
            raise MediaError(f"That photo is {int(ref['file_size']) / 1e6:.0f} MB; I can take photos up to "
                             f"{MAX_DOWNLOAD_BYTES / 1e6:.0f} MB.")
        try:
            info = self.call("POST", self.method_url("getFile"), json={"file_id": ref["file_id"]}).json()
        except Exception as exc:
            raise MediaError("I couldn't get that photo from Telegram; please send it again.") from exc
        path = str((info.get("result") or {}).get("file_path") or "")
        if not path:
            raise MediaError("Telegram did not give me that photo; please send it again.")
        url = f"{self.api_url}/file/bot{self.settings.telegram_bot_token}/{path}"
        return self.fetch(url), str(ref.get("name") or path.rsplit("/", 1)[-1])

    def send(self, chat: dict[str, Any], payload: dict[str, Any], media: Any) -> None:
        """Send the text (HTML), then the items' photos as albums, then generated and try-on images."""
        currency = self.settings.currency
        items = payload.get("items", [])
        parts = [escape(line) for line in reply_lines(payload)]
        if needs_total(payload):
            parts.append(f"<b>Outfit total: {escape(price(payload['total'], currency))}</b>")
        parts += [f"{n}. <b>{escape(i['title'])}</b> — {escape(i['color'])}, "
                  f"{escape(price(i['price'], currency))}" for n, i in enumerate(items, start=1)]
        if not parts:
            parts = ["…"]
        first = True
        for text in split_text(parts, MESSAGE_LIMIT):
            body: dict[str, Any] = {"chat_id": chat["chat_id"], "text": text, "parse_mode": "HTML"}
            if first and chat.get("group") and chat.get("message_id"):
                body["reply_parameters"] = {"message_id": chat["message_id"], "allow_sending_without_reply": True}
            self.call("POST", self.method_url("sendMessage"), json=body)
            first = False
        photos = [(media.path_for(i.get("image", "")), f"{n}. {i['title']} — {price(i['price'], currency)}")
                  for n, i in enumerate(items, start=1)]
        photos = [(p, c) for p, c in photos if p is not None]
        for start in range(0, len(photos), ALBUM_LIMIT):
            self._photos(chat["chat_id"], photos[start:start + ALBUM_LIMIT])
        for url in payload.get("images", []):
            path = media.path_for(url)
            if path is not None:
                self._photos(chat["chat_id"], [(path, "Here it is.")])

    def _photos(self, chat_id: Any, photos: list[tuple[Any, str]]) -> None:
        if len(photos) == 1:
            path, caption = photos[0]
            self.call("POST", self.method_url("sendPhoto"), data={"chat_id": str(chat_id),
                                                                  "caption": caption[:CAPTION_LIMIT]},
                      files={"photo": (path.name, path.read_bytes(), "image/png")})
            return
        media = [{"type": "photo", "media": f"attach://p{n}", "caption": caption[:CAPTION_LIMIT]}
                 for n, (_, caption) in enumerate(photos)]
        files = {f"p{n}": (path.name, path.read_bytes(), "image/png") for n, (path, _) in enumerate(photos)}
        self.call("POST", self.method_url("sendMediaGroup"), data={"chat_id": str(chat_id),
                                                                   "media": json.dumps(media)}, files=files)
