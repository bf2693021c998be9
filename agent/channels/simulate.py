"""Realistic, signed platform traffic: payload builders for tests and ``fashionm3 channels simulate``.

The builders follow the platforms' documented webhook bodies (Telegram ``Update``, Slack
``event_callback``, WhatsApp ``whatsapp_business_account`` notifications) and sign them as the
platforms do, with the secrets of :meth:`agent.channels.fake.FakePlatform.settings_env`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

TG_SECRET = "tg-secret"
SLACK_SECRET = "slack-secret"
WA_SECRET = "wa-secret"
WA_NUMBER = "1555000"


def telegram_update(update_id: int, chat_id: int, user_id: int, text: str | None = None, *,
                    photo_file_id: str | None = None, chat_type: str = "private", reply_to_bot: bool = False,
                    edited: bool = False, from_bot: bool = False, voice: bool = False) -> dict[str, Any]:
    """Return a Telegram ``Update`` with one message (https://core.telegram.org/bots/api#message)."""
    msg: dict[str, Any] = {
        "message_id": update_id * 10, "date": int(time.time()),
        "from": {"id": user_id, "is_bot": from_bot, "first_name": "Sam", "language_code": "en"},
        "chat": {"id": chat_id, "type": chat_type, **({"title": "Style club"} if chat_type != "private" else
                                                      {"first_name": "Sam"})},
    }
    if photo_file_id:
        msg["photo"] = [{"file_id": f"{photo_file_id}-small", "file_unique_id": "s", "width": 90, "height": 90,
                         "file_size": 1200},
                        {"file_id": photo_file_id, "file_unique_id": "l", "width": 800, "height": 800,
                         "file_size": 30000}]
        if text:
            msg["caption"] = text
    elif voice:
        msg["voice"] = {"file_id": "voice-1", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg"}
    elif text is not None:
        msg["text"] = text
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if reply_to_bot:
        msg["reply_to_message"] = {"message_id": 1, "date": 0, "chat": msg["chat"],
                                   "from": {"id": 4242, "is_bot": True, "username": "fashion_test_bot"}}
    return {"update_id": update_id, ("edited_message" if edited else "message"): msg}


def telegram_headers(secret: str = TG_SECRET) -> dict[str, str]:
    """Headers Telegram sends with a webhook that has a ``secret_token``."""
    return {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}


def slack_event(event_id: str, user: str, text: str, *, team: str = "T1", channel: str = "D1", ts: str = "",
                channel_type: str = "im", event_type: str = "message", thread_ts: str | None = None,
                files: list[dict[str, Any]] | None = None, bot_id: str | None = None,
                subtype: str | None = None) -> dict[str, Any]:
    """Return a Slack ``event_callback`` (https://api.slack.com/apis/events-api#callback-field)."""
    ts = ts or f"{time.time():.6f}"
    event: dict[str, Any] = {"type": event_type, "user": user, "text": text, "ts": ts, "channel": channel,
                             "channel_type": channel_type, "team": team, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = files
        event["subtype"] = "file_share"
    if bot_id:
        event["bot_id"] = bot_id
    if subtype:
        event["subtype"] = subtype
    return {"token": "deprecated", "team_id": team, "api_app_id": "A1", "event": event, "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}]}


def slack_headers(body: bytes, secret: str = SLACK_SECRET, timestamp: int | None = None,
                  retry: int | None = None) -> dict[str, str]:
    """Sign like Slack: ``v0=`` HMAC-SHA256 over ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def whatsapp_message(msg_id: str, wa_id: str, text: str | None = None, *, image_id: str | None = None,
                     kind: str | None = None, number: str = WA_NUMBER) -> dict[str, Any]:
    """Return a WhatsApp notification with one inbound message."""
    msg: dict[str, Any] = {"from": wa_id, "id": msg_id, "timestamp": str(int(time.time()))}
    if image_id:
        msg.update(type="image", image={"id": image_id, "mime_type": "image/jpeg", "sha256": "x",
                                        **({"caption": text} if text else {})})
    elif kind:
        msg.update(type=kind, **{kind: {"id": "m-1", "mime_type": "audio/ogg"}})
    else:
        msg.update(type="text", text={"body": text or ""})
    return _whatsapp({"messages": [msg], "contacts": [{"profile": {"name": "Sam"}, "wa_id": wa_id}]}, number)


def whatsapp_status(msg_id: str, wa_id: str, status: str = "delivered", number: str = WA_NUMBER) -> dict[str, Any]:
    """Return a WhatsApp status update (sent, delivered, read) for an outbound message."""
    return _whatsapp({"statuses": [{"id": msg_id, "status": status, "timestamp": str(int(time.time())),
                                    "recipient_id": wa_id}]}, number)


def _whatsapp(value: dict[str, Any], number: str) -> dict[str, Any]:
    metadata = {"display_phone_number": "15550000", "phone_number_id": number}
    change = {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [change]}]}


def whatsapp_headers(body: bytes, secret: str = WA_SECRET) -> dict[str, str]:
    """Sign like Meta: ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>``."""
    return {"Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def signed(platform: str, payload: dict[str, Any], **kw: Any) -> tuple[str, bytes, dict[str, str]]:
    """Return ``(path, body, headers)`` for posting ``payload`` to the service as ``platform`` would."""
    body = json.dumps(payload).encode()
    if platform == "telegram":
        return "/channels/telegram", body, telegram_headers(**kw)
    if platform == "slack":
        return "/channels/slack/events", body, slack_headers(body, **kw)
    if platform == "whatsapp":
        return "/channels/whatsapp", body, whatsapp_headers(body, **kw)
    raise ValueError(f"unknown platform {platform!r}; use telegram, slack or whatsapp")


def script(platform: str, chat: int, photo_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Return a short realistic conversation for ``platform``: help, a search, a follow-up, a photo, a voice note.

    Returns ``(label, payload)`` pairs; the same event id is reused once to show deduplication.
    """
    base = chat * 100
    if platform == "telegram":
        msgs = [("/start", telegram_update(base + 1, chat, chat, "/start")),
                ("show me red dresses", telegram_update(base + 2, chat, chat, "show me red dresses")),
                ("something cheaper than the first one",
                 telegram_update(base + 3, chat, chat, "something cheaper than the first one")),
                ("photo: what goes with this?", telegram_update(base + 4, chat, chat, "what goes with this?",
                                                                photo_file_id=photo_id)),
                ("voice note", telegram_update(base + 5, chat, chat, voice=True))]
    elif platform == "slack":
        user = f"U{chat}"
        msgs = [("help", slack_event(f"Ev{base + 1}", user, "help", channel=f"D{chat}")),
                ("show me red dresses", slack_event(f"Ev{base + 2}", user, "show me red dresses", channel=f"D{chat}")),
                ("something cheaper than the first one",
                 slack_event(f"Ev{base + 3}", user, "something cheaper than the first one", channel=f"D{chat}")),
                ("photo: what goes with this?", slack_event(
                    f"Ev{base + 4}", user, "what goes with this?", channel=f"D{chat}",
                    files=[{"id": photo_id, "mimetype": "image/png", "name": "boots.png", "size": 3000,
                            "url_private": f"{{fake}}/slack/files/{photo_id}"}])),
                ("a PDF", slack_event(f"Ev{base + 5}", user, "", channel=f"D{chat}", files=[
                    {"id": "F-pdf", "mimetype": "application/pdf", "filetype": "pdf", "pretty_type": "PDF",
                     "name": "cv.pdf", "size": 100, "url_private": "{fake}/slack/files/F-pdf"}]))]
    else:
        wa = f"4477{chat:06d}"
        msgs = [("help", whatsapp_message(f"wamid.{base + 1}", wa, "help")),
                ("show me red dresses", whatsapp_message(f"wamid.{base + 2}", wa, "show me red dresses")),
                ("something cheaper than the first one",
                 whatsapp_message(f"wamid.{base + 3}", wa, "something cheaper than the first one")),
                ("photo: what goes with this?", whatsapp_message(f"wamid.{base + 4}", wa, "what goes with this?",
                                                                 image_id=photo_id)),
                ("voice note", whatsapp_message(f"wamid.{base + 5}", wa, kind="audio"))]
    return msgs


def text_replies(fake: Any, platform: str, key: str | None = None, value: Any = None) -> list[dict[str, Any]]:
    """Return the text messages a fake platform received (optionally for one chat: ``data[key] == value``).

    Each answer starts with exactly one text message; photos follow it. Failed attempts are left out.
    """
    out = []
    for c in fake.sent(platform):
        data = c.get("json") or c.get("form") or {}
        if c.get("failed") or (key is not None and str(data.get(key)) != str(value)):
            continue
        if c["method"] in ("sendMessage", "chat.postMessage") or (c["method"] == "messages" and
                                                                  data.get("type") == "text"):
            out.append(c)
    return out


def describe_call(call: dict[str, Any]) -> str:
    """One line saying what a platform received."""
    method = call["method"]
    data = call.get("json") or call.get("form") or {}
    if method in ("sendMessage", "chat.postMessage"):
        text = str(data.get("text", ""))
    elif method == "messages":
        text = str((data.get("text") or {}).get("body") or (data.get("image") or {}).get("caption") or "")
        method = f"messages ({data.get('type')})"
    elif method == "sendMediaGroup":
        text = f"{len(call.get('files', {}))} photos: " + ", ".join(
            m.get("caption", "") for m in json.loads(data.get("media", "[]")))
    elif method == "sendPhoto":
        text = f"photo: {data.get('caption', '')}"
    else:
        text = ""
    flat = " | ".join(line for line in text.splitlines() if line.strip())
    return f"{call['platform']:>8} <- {method}: {flat[:300]}"
