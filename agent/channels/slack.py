"""Slack: the Events API (``POST /channels/slack/events``) answered with ``chat.postMessage``.

Signature checks and the Web API go through the official ``slack_sdk``: its ``SignatureVerifier``
(v0 HMAC-SHA256 over ``v0:{timestamp}:{body}``, timestamps more than 5 minutes off refused) and its
``WebClient`` with the built-in retry handlers (429 honouring ``Retry-After``, 5xx, connection errors).

- ``url_verification`` is answered with its challenge. Dedupe: ``event_id`` (a retry carries
  ``X-Slack-Retry-Num``; it is answered 200 and runs nothing new).
- Identity: thread ``slack:<team>:<channel>:<thread_ts>`` in channels (the bot answers in the thread
  of the mention), ``slack:<team>:<channel>`` in a direct message; user ``slack:<team>:<user>``.
- In channels only ``app_mention`` events are answered; in direct messages ``message`` events. Bot
  messages, edits, deletions and other subtypes are ignored.
- Out: mrkdwn (``&``, ``<``, ``>`` escaped), one section per item with its image as accessory (needs
  ``FASHIONM3_PUBLIC_URL``: Slack fetches images itself), at most 50 blocks a message and 3,000
  characters a section (https://api.slack.com/reference/block-kit/blocks), text fallback 40,000.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, ClassVar

from agent.channels.base import (
    IMAGE_TYPES,
    MAX_DOWNLOAD_BYTES,
    UNSUPPORTED_TEXT,
    Channel,
    ChannelAuthError,
    DeliveryError,
    Inbound,
    MediaError,
    command_inbound,
    needs_total,
    price,
    reply_lines,
    split_text,
)

log = logging.getLogger(__name__)

BLOCKS_LIMIT = 50
SECTION_LIMIT = 3000
TEXT_LIMIT = 40000
_MENTION = re.compile(r"<@[A-Z0-9]+>")


def mrkdwn(text: str) -> str:
    """Escape text for Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(Channel):
    """Slack Events API channel."""

    name: ClassVar[str] = "slack"
    settings_needed: ClassVar[tuple[str, ...]] = ("slack_signing_secret", "slack_bot_token")
    file_hosts: ClassVar[tuple[str, ...]] = ("files.slack.com",)
    api_default: ClassVar[str] = "https://slack.com/api"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        from slack_sdk import WebClient
        from slack_sdk.http_retry.builtin_handlers import (
            ConnectionErrorRetryHandler,
            RateLimitErrorRetryHandler,
            ServerErrorRetryHandler,
        )
        from slack_sdk.signature import SignatureVerifier

        self.verifier = SignatureVerifier(self.settings.slack_signing_secret)
        retries = self.max_attempts - 1
        self.web = WebClient(token=self.settings.slack_bot_token, base_url=self.api_url + "/", timeout=30,
                             retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=retries),
                                             RateLimitErrorRetryHandler(max_retry_count=retries),
                                             ServerErrorRetryHandler(max_retry_count=retries)])
        self._warned_no_public_url = False

    @property
    def api_url(self) -> str:
        """Web API base URL (``FASHIONM3_SLACK_API_URL``)."""
        return self.settings.slack_api_url.rstrip("/")

    def verify(self, headers: dict[str, str], body: bytes) -> None:
        """Check ``X-Slack-Signature`` over ``v0:{X-Slack-Request-Timestamp}:{body}`` (5-minute window)."""
        ts, sig = headers.get("x-slack-request-timestamp", ""), headers.get("x-slack-signature", "")
        if not ts.isdigit() or not sig.isascii() or not self.verifier.is_valid(body=body, timestamp=ts, signature=sig):
            raise ChannelAuthError("missing, wrong or stale X-Slack-Signature")

    def challenge(self, body: bytes) -> str | None:
        """Return the ``url_verification`` challenge, or ``None`` for other payloads."""
        data = json.loads(body)
        return str(data.get("challenge", "")) if data.get("type") == "url_verification" else None

    def parse(self, body: bytes, headers: dict[str, str]) -> list[Inbound]:
        """Read an ``event_callback`` (https://api.slack.com/apis/events-api#callback-field)."""
        data = json.loads(body)
        if data.get("type") != "event_callback":
            return []
        event = data.get("event") or {}
        team = str(data.get("team_id") or event.get("team") or "")
        bot_user = next((str(a.get("user_id")) for a in data.get("authorizations") or [] if a.get("is_bot")), "")
        if event.get("bot_id") or (bot_user and event.get("user") == bot_user) or not event.get("user"):
            return []
        subtype = event.get("subtype")
        if subtype not in (None, "file_share"):
            return []  # message_changed, message_deleted, channel_join, ...
        kind, channel_type = event.get("type"), event.get("channel_type")
        im = channel_type == "im"
        if not ((kind == "app_mention" and not im) or (kind == "message" and im)):
            return []
        channel = str(event.get("channel"))
        thread_ts = str(event.get("thread_ts") or event.get("ts") or "")
        base = f"slack:{team}:{channel}" if im else f"slack:{team}:{channel}:{thread_ts}"
        text = " ".join(_MENTION.sub("", str(event.get("text") or "")).split())
        inbound = Inbound(event_id=f"slack:{data.get('event_id')}", base_thread=base,
                          user_id=f"slack:{team}:{event.get('user')}", text=text, shared=not im,
                          chat={"channel": channel, "thread_ts": None if im else thread_ts})
        for f in event.get("files") or []:
            if str(f.get("mimetype", "")) in IMAGE_TYPES:
                inbound.files.append({"url": f.get("url_private_download") or f.get("url_private"),
                                      "size": f.get("size", 0), "name": f.get("name") or "image"})
            else:
                inbound.kind = "notice"
                inbound.notice = UNSUPPORTED_TEXT.format(what=f"{f.get('pretty_type') or f.get('filetype') or 'these'}"
                                                              " files")
                return [inbound]
        if not inbound.text and not inbound.files:
            return []
        return [command_inbound(inbound)]

    def download(self, ref: dict[str, Any]) -> tuple[bytes, str]:
        """Fetch ``url_private`` with the bot token (https://api.slack.com/types/file#auth)."""
        if int(ref.get("size") or 0) > MAX_DOWNLOAD_BYTES:
            raise MediaError(f"That file is {int(ref['size']) / 1e6:.0f} MB; I can take photos up to "
                             f"{MAX_DOWNLOAD_BYTES / 1e6:.0f} MB.")
        url = str(ref.get("url") or "")
        data = self.fetch(url, headers={"Authorization": f"Bearer {self.settings.slack_bot_token}"})
        return data, str(ref.get("name") or "image")

    def send(self, chat: dict[str, Any], payload: dict[str, Any], media: Any) -> None:
        """Post the answer in the thread: text section(s), one section per item with its image, then images."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        currency = self.settings.currency
        base = self.settings.public_url.rstrip("/")
        if not base and not self._warned_no_public_url and (payload.get("items") or payload.get("images")):
            log.warning("Slack replies carry no images: set FASHIONM3_PUBLIC_URL so Slack can fetch them")
            self._warned_no_public_url = True
        lines = [mrkdwn(line) for line in reply_lines(payload)]
        if needs_total(payload):
            lines.append(f"*Outfit total: {price(payload['total'], currency)}*")
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": part}}
                                        for part in split_text(lines or ["…"], SECTION_LIMIT)]
        fallback = list(reply_lines(payload))
        for n, item in enumerate(payload.get("items", []), start=1):
            line = f"*{n}. {mrkdwn(item['title'])}* — {mrkdwn(item['color'])}, {price(item['price'], currency)}"
            fallback.append(f"{n}. {item['title']} — {item['color']}, {price(item['price'], currency)}")
            block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": line}}
            if base and str(item.get("image", "")).startswith("/"):
                block["accessory"] = {"type": "image", "image_url": base + item["image"], "alt_text": item["title"]}
            blocks.append(block)
        for url in payload.get("images", []):
            if base and url.startswith("/"):
                blocks.append({"type": "image", "image_url": base + url, "alt_text": "generated image"})
        texts = split_text(fallback or ["…"], TEXT_LIMIT)
        chunks = [blocks[i:i + BLOCKS_LIMIT] for i in range(0, len(blocks), BLOCKS_LIMIT)]
        for n, chunk in enumerate(chunks):
            text = texts[n] if n < len(texts) else texts[-1]
            try:
                self.web.chat_postMessage(channel=chat["channel"], thread_ts=chat.get("thread_ts"), text=text,
                                          blocks=chunk, unfurl_links=False, unfurl_media=False)
            except (SlackApiError, SlackClientError) as exc:
                raise DeliveryError(f"slack chat.postMessage failed: {exc}") from exc
