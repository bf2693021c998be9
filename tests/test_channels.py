"""Messaging channels against fake Telegram, Slack and WhatsApp APIs on loopback, through a real service."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from service import Service, copy_data

from agent.channels import simulate as sim
from agent.channels.base import split_text
from agent.channels.fake import FakePlatform
from agent.context import Context

pytestmark = pytest.mark.integration

PHOTO = "photo-boots"


@pytest.fixture(scope="module")
def fake(catalog_settings: Context) -> Iterator[FakePlatform]:
    from agent.services import open_catalog

    cat = open_catalog(catalog_settings)
    boots = next(i for i in cat.items.values() if i.category == "ankle_boots")
    platform = FakePlatform().start()
    path = cat.image_path(boots)
    assert path is not None
    platform.files[PHOTO] = path.read_bytes()
    platform.files["not-an-image"] = b"%PDF-1.4 this is no photo"
    yield platform
    platform.stop()


@pytest.fixture(scope="module")
def server(fake: FakePlatform, catalog_settings: Context,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = copy_data(catalog_settings.data_dir, tmp_path_factory.mktemp("channels") / "data")
    svc = Service(data, env={**fake.settings_env(), "FASHIONM3_PUBLIC_URL": "http://shop.example"})
    svc.start()
    yield svc
    svc.stop()


def post(server: Service, platform: str, payload: dict[str, Any], **kw: Any) -> httpx.Response:
    path, body, headers = sim.signed(platform, payload, **kw)
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def replies(fake: FakePlatform, platform: str, chat_key: str, chat: Any, n: int, timeout: float = 60) -> list[dict]:
    def mine(c: dict[str, Any]) -> bool:
        data = c.get("json") or c.get("form") or {}
        return str(data.get(chat_key)) == str(chat)

    return fake.wait_sent(n, platform, timeout=timeout, where=mine)


def texts(calls: list[dict[str, Any]]) -> list[str]:
    out = []
    for c in calls:
        data = c.get("json") or c.get("form") or {}
        if c["method"] in ("sendMessage", "chat.postMessage"):
            out.append(str(data.get("text")))
        elif c["method"] == "messages" and data.get("type") == "text":
            out.append(str(data["text"]["body"]))
    return out


def settle(fake: FakePlatform, seconds: float = 1.5) -> int:
    """Wait until nothing new reaches the fake platform for ``seconds``; return the call count."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < seconds:
        n = len(fake.calls)
        if n != last:
            last, since = n, time.monotonic()
        time.sleep(0.05)
    return last


# -- Telegram ---------------------------------------------------------------------------------------------------------

def test_telegram_text_message_gets_one_reply_with_items_and_an_album(server: Service, fake: FakePlatform) -> None:
    r = post(server, "telegram", sim.telegram_update(1001, 501, 501, "show me dresses"))
    assert r.status_code == 200 and r.json()["new"] == 1
    calls = replies(fake, "telegram", "chat_id", 501, 2)
    settle(fake)
    calls = replies(fake, "telegram", "chat_id", 501, 2)
    [msg] = [c for c in calls if c["method"] == "sendMessage"]
    assert msg["json"]["parse_mode"] == "HTML" and "<b>" in msg["json"]["text"] and "€" in msg["json"]["text"]
    album = [c for c in calls if c["method"] in ("sendMediaGroup", "sendPhoto")]
    assert len(album) == 1 and len(album[0]["files"]) >= 2
    captions = [m["caption"] for m in json.loads(album[0]["form"]["media"])]
    assert all(len(c) <= 1024 and "€" in c for c in captions)


def test_telegram_bad_secret_is_refused_and_nothing_runs(server: Service, fake: FakePlatform) -> None:
    before = len(fake.calls)
    r = post(server, "telegram", sim.telegram_update(1002, 502, 502, "show me red dresses"), secret="wrong")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = httpx.post(server.url + "/channels/telegram", json=sim.telegram_update(1003, 502, 502, "hi"), timeout=10)
    assert r.status_code == 401
    assert settle(fake, 1.0) == before


REDELIVERED = {
    "telegram": (lambda: sim.telegram_update(1010, 510, 510, "an outfit for a wedding"), "chat_id", 510),
    "slack": (lambda: sim.slack_event("Ev1010", "U510", "an outfit for a wedding", channel="D510"), "channel",
              "D510"),
    "whatsapp": (lambda: sim.whatsapp_message("wamid.R1010", "447700900510", "an outfit for a wedding"), "to",
                 "447700900510"),
}


def test_redeliveries_run_once_even_while_running_and_after_a_restart(server: Service, fake: FakePlatform) -> None:
    events = {name: make() for name, (make, _, _) in REDELIVERED.items()}
    for platform, event in events.items():
        with ThreadPoolExecutor(3) as pool:  # delivered three times at once: the first is still running
            results = [f.result() for f in [pool.submit(post, server, platform, event) for _ in range(3)]]
        assert [r.status_code for r in results] == [200, 200, 200]
        assert sum(r.json()["new"] for r in results) == 1, platform
    for platform, (_, key, chat) in REDELIVERED.items():
        replies(fake, platform, key, chat, 1)
    n = settle(fake)
    server.stop()
    server.start()
    for platform, event in events.items():  # after a restart: still the same events
        assert post(server, platform, event).json()["new"] == 0, platform
    assert settle(fake) == n
    for platform, (_, key, chat) in REDELIVERED.items():
        assert len(sim.text_replies(fake, platform, key, chat)) == 1, platform


def test_telegram_photo_is_downloaded_and_anchors_an_outfit(server: Service, fake: FakePlatform) -> None:
    post(server, "telegram", sim.telegram_update(1020, 520, 520, "what goes with this?", photo_file_id=PHOTO))
    calls = replies(fake, "telegram", "chat_id", 520, 2)
    settle(fake)
    getfile = [c for c in fake.calls if c["method"] == "getFile" and (c["json"] or {}).get("file_id") == PHOTO]
    assert getfile, "the largest photo size is fetched with getFile"
    text = texts(calls)[0]
    assert "in total" in text and "ankle boots" in text.lower() and "Outfit total" not in text  # said once


def test_telegram_429_is_retried_and_the_reply_arrives_once(server: Service, fake: FakePlatform) -> None:
    fake.fail("sendMessage", 429, times=2, retry_after=0.2)
    post(server, "telegram", sim.telegram_update(1030, 530, 530, "show me white sneakers"))
    replies(fake, "telegram", "chat_id", 530, 1)
    settle(fake)
    attempts = [c for c in fake.calls if c["method"] == "sendMessage" and c["json"]["chat_id"] == 530]
    assert [c["failed"] for c in attempts] == [429, 429, None]


def test_telegram_conversation_resolves_the_second_one_and_cheaper(server: Service, fake: FakePlatform) -> None:
    post(server, "telegram", sim.telegram_update(1040, 540, 540, "show me black bags"))
    first = texts(replies(fake, "telegram", "chat_id", 540, 1))[0]
    post(server, "telegram", sim.telegram_update(1041, 540, 540, "something cheaper than the second one"))
    deadline = time.monotonic() + 60
    while len(texts([c for c in fake.sent("telegram") if c["json"] and c["json"].get("chat_id") == 540])) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = texts([c for c in fake.sent("telegram") if c["json"] and c["json"].get("chat_id") == 540])[1]
    assert "cheaper" in second.lower() and "Alternatives to the" in second
    assert first.split("\n")[-1] != second.split("\n")[-1]


def test_telegram_groups_edits_bots_and_unsupported_files(server: Service, fake: FakePlatform) -> None:
    quiet = [
        sim.telegram_update(1050, -900, 550, "show me red dresses", chat_type="group"),  # not addressed
        sim.telegram_update(1051, 551, 551, "show me red dresses", edited=True),
        sim.telegram_update(1052, 552, 552, "show me red dresses", from_bot=True),
        {"update_id": 1053, "my_chat_member": {"chat": {"id": 553}}},
    ]
    for u in quiet:
        r = post(server, "telegram", u)
        assert r.status_code == 200 and r.json()["messages"] == 0
    post(server, "telegram", sim.telegram_update(1054, -901, 554, "@fashion_test_bot show me red dresses",
                                                 chat_type="supergroup"))
    post(server, "telegram", sim.telegram_update(1055, -902, 555, "and in blue?", chat_type="group",
                                                 reply_to_bot=True))
    post(server, "telegram", sim.telegram_update(1056, 556, 556, voice=True))
    assert replies(fake, "telegram", "chat_id", -901, 1) and replies(fake, "telegram", "chat_id", -902, 1)
    group_reply = [c for c in fake.sent("telegram") if c["json"] and c["json"].get("chat_id") == -901][0]
    assert group_reply["json"]["reply_parameters"]["message_id"] == 10540
    [voice] = texts(replies(fake, "telegram", "chat_id", 556, 1))
    assert "can't use voice notes" in voice
    assert not [c for c in fake.sent("telegram") if (c["json"] or {}).get("chat_id") in (-900, 551, 552, 553)]


def test_telegram_commands_new_and_forget(server: Service, fake: FakePlatform) -> None:
    chat = 560
    steps = ["/start", "I love navy", "/forget", "/forget confirm", "/new"]
    for n, text in enumerate(steps):
        post(server, "telegram", sim.telegram_update(1060 + n, chat, chat, text))
        replies(fake, "telegram", "chat_id", chat, n + 1)
    got = texts([c for c in fake.sent("telegram") if (c["json"] or {}).get("chat_id") == chat])
    assert "Commands: /new" in got[0] and "navy" in got[1].lower()
    assert 'Send "/forget confirm"' in got[2]
    assert "forgotten everything" in got[3] and "1 fact" in got[3]
    assert "new conversation" in got[4]
    assert httpx.get(f"{server.url}/v1/users/telegram:{chat}/memory").json()["facts"] == []
    # after /new the chat continues on a fresh thread: a reference to "the first one" has nothing to point at
    post(server, "telegram", sim.telegram_update(1070, chat, chat, "show me shirts"))
    replies(fake, "telegram", "chat_id", chat, 6)
    assert httpx.get(f"{server.url}/v1/threads/telegram:{chat}:n1").json()["messages"][0]["text"] == "show me shirts"


# -- Slack ------------------------------------------------------------------------------------------------------------

def test_slack_url_verification_signatures_and_stale_timestamps(server: Service) -> None:
    challenge = {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                 "type": "url_verification"}
    r = post(server, "slack", challenge)
    assert r.status_code == 200 and r.json() == {"challenge": challenge["challenge"]}
    assert post(server, "slack", challenge, secret="wrong").status_code == 401
    stale = post(server, "slack", sim.slack_event("EvStale", "U9", "hi"), timestamp=int(time.time()) - 600)
    assert stale.status_code == 401


def test_slack_message_reply_in_thread_with_item_images_and_retries_deduped(
        server: Service, fake: FakePlatform) -> None:
    event = sim.slack_event("Ev2001", "U21", "<@UBOT> show me red dresses", channel="C21", channel_type="channel",
                            event_type="app_mention", ts="1700000000.000100")
    assert post(server, "slack", event).json()["new"] == 1
    assert post(server, "slack", event, retry=1).json()["new"] == 0
    # the same message also arrives as a plain channel message event: ignored (the mention is answered)
    plain = sim.slack_event("Ev2002", "U21", "<@UBOT> show me red dresses", channel="C21", channel_type="channel",
                            ts="1700000000.000100")
    assert post(server, "slack", plain).json()["messages"] == 0
    [call] = replies(fake, "slack", "channel", "C21", 1)
    settle(fake)
    assert len(fake.sent("slack")) >= 1 and len(replies(fake, "slack", "channel", "C21", 1)) == 1
    body = call["form"] or call["json"]
    assert body["thread_ts"] == "1700000000.000100"
    blocks = json.loads(body["blocks"]) if isinstance(body["blocks"], str) else body["blocks"]
    images = [b["accessory"]["image_url"] for b in blocks if b.get("accessory")]
    assert images and all(u.startswith("http://shop.example/v1/media/") for u in images)
    assert len(blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in blocks if "text" in b)


def test_slack_direct_message_photo_and_bots_ignored(server: Service, fake: FakePlatform) -> None:
    ignored = [sim.slack_event("Ev2101", "U22", "hello", channel="D22", bot_id="B1"),
               sim.slack_event("Ev2102", "UBOT", "my own reply", channel="D22"),
               sim.slack_event("Ev2103", "U22", "edited", channel="D22", subtype="message_changed")]
    for e in ignored:
        assert post(server, "slack", e).json()["messages"] == 0
    files = [{"id": PHOTO, "mimetype": "image/png", "name": "boots.png", "size": 3000,
              "url_private": f"{fake.url}/slack/files/{PHOTO}"}]
    post(server, "slack", sim.slack_event("Ev2104", "U22", "what goes with this?", channel="D22", files=files))
    [call] = replies(fake, "slack", "channel", "D22", 1)
    assert "in total" in texts([call])[0]
    downloads = [c for c in fake.calls if c["method"] == "file" and c["platform"] == "slack"]
    assert downloads and downloads[-1]["headers"]["authorization"] == "Bearer xoxb-test"
    # a file on another host is never fetched
    evil = [{"id": "x", "mimetype": "image/png", "name": "x.png", "size": 10, "url_private": "http://10.0.0.1/x.png"}]
    post(server, "slack", sim.slack_event("Ev2105", "U23", "and this?", channel="D23", files=evil))
    [call] = replies(fake, "slack", "channel", "D23", 1)
    assert "not on the platform's own servers" in texts([call])[0]


@pytest.mark.parametrize("platform", ["slack", "whatsapp"])
def test_429_is_retried_and_a_multi_turn_chat_resolves_references(server: Service, fake: FakePlatform,
                                                                  platform: str) -> None:
    if platform == "slack":
        fake.fail("chat.postMessage", 429, times=1, retry_after=1)  # Slack sends whole seconds
        first = sim.slack_event("Ev3001", "U31", "show me black bags", channel="D31")
        second = sim.slack_event("Ev3002", "U31", "something cheaper than the second one", channel="D31")
        key, chat = "channel", "D31"
    else:
        fake.fail("/messages", 429, times=1, retry_after=0.2)
        first = sim.whatsapp_message("wamid.T1", "447700900031", "show me black bags")
        second = sim.whatsapp_message("wamid.T2", "447700900031", "something cheaper than the second one")
        key, chat = "to", "447700900031"
    post(server, platform, first)
    deadline = time.monotonic() + 60
    while not sim.text_replies(fake, platform, key, chat):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    post(server, platform, second)
    while len(sim.text_replies(fake, platform, key, chat)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    settle(fake)
    got = texts(sim.text_replies(fake, platform, key, chat))
    assert len(got) == 2 and "Alternatives to the" in got[1] and "cheaper" in got[1].lower()
    failed = [c for c in fake.calls if c["platform"] == platform and c["failed"] == 429]
    assert len(failed) == 1  # the 429 was retried, and the reply arrived once


def test_slack_5xx_is_retried_and_the_reply_arrives_once(server: Service, fake: FakePlatform) -> None:
    fake.fail("chat.postMessage", 503, times=1)
    post(server, "slack", sim.slack_event("Ev2201", "U24", "show me white sneakers", channel="D24"))
    replies(fake, "slack", "channel", "D24", 1)
    settle(fake)
    attempts = [c for c in fake.calls if c["method"] == "chat.postMessage" and
                (c["form"] or c["json"]).get("channel") == "D24"]
    assert [c["failed"] for c in attempts] == [503, None]


# -- WhatsApp ---------------------------------------------------------------------------------------------------------

def test_whatsapp_subscription_handshake(server: Service) -> None:
    ok = httpx.get(server.url + "/channels/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "wa-verify",
                                                              "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = httpx.get(server.url + "/channels/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                                               "hub.challenge": "1"})
    assert bad.status_code == 403


def test_whatsapp_text_photo_statuses_and_signatures(server: Service, fake: FakePlatform) -> None:
    wa = "447700900001"
    assert post(server, "whatsapp", sim.whatsapp_message("wamid.A1", wa, "hi"), secret="wrong").status_code == 401
    assert post(server, "whatsapp", sim.whatsapp_status("wamid.out1", wa)).json()["messages"] == 0
    for _ in range(3):
        post(server, "whatsapp", sim.whatsapp_message("wamid.A2", wa, "show me red dresses"))
    calls = replies(fake, "whatsapp", "to", wa, 2)
    settle(fake)
    calls = [c for c in fake.sent("whatsapp") if (c["json"] or {}).get("to") == wa]
    assert len([c for c in calls if c["json"]["type"] == "text"]) == 1
    images = [c for c in calls if c["json"]["type"] == "image"]
    assert images and all(c["json"]["image"]["id"].startswith("up-") and "€" in c["json"]["image"]["caption"]
                          for c in images)
    post(server, "whatsapp", sim.whatsapp_message("wamid.A3", wa, "what goes with this?", image_id=PHOTO))
    deadline = time.monotonic() + 60
    while len(texts([c for c in fake.sent("whatsapp") if (c["json"] or {}).get("to") == wa])) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "in total" in texts([c for c in fake.sent("whatsapp") if (c["json"] or {}).get("to") == wa])[1]
    post(server, "whatsapp", sim.whatsapp_message("wamid.A4", "447700900002", kind="audio"))
    [voice] = texts(replies(fake, "whatsapp", "to", "447700900002", 1))
    assert "can't use voice notes" in voice


def test_two_chats_and_two_platforms_never_share_memory(server: Service, fake: FakePlatform) -> None:
    post(server, "telegram", sim.telegram_update(1090, 77, 77, "I love purple"))
    replies(fake, "telegram", "chat_id", 77, 1)
    post(server, "whatsapp", sim.whatsapp_message("wamid.M1", "77", "I never wear leather"))
    replies(fake, "whatsapp", "to", "77", 1)
    tg = httpx.get(f"{server.url}/v1/users/telegram:77/memory").json()["facts"]
    wa = httpx.get(f"{server.url}/v1/users/whatsapp:{sim.WA_NUMBER}:77/memory").json()["facts"]
    assert [f["value"] for f in tg] == ["purple"] and [f["value"] for f in wa] == ["leather"]
    assert httpx.get(f"{server.url}/v1/users/telegram:78/memory").json()["facts"] == []


def test_a_channel_without_settings_is_off(server: Service) -> None:
    from agent.channels import channel_status

    status = channel_status(Context())
    assert status["telegram"] == ["FASHIONM3_TELEGRAM_BOT_TOKEN", "FASHIONM3_TELEGRAM_SECRET_TOKEN"]
    assert "on at" in server.log_tail() and "channel telegram: on" in server.log_tail()


def test_long_replies_are_split_between_items_never_inside_one() -> None:
    parts = [f"{n}. " + "x" * 300 for n in range(40)]
    chunks = split_text(parts, 4096)
    assert all(len(c) <= 4096 for c in chunks) and len(chunks) == 4  # 13 parts of 305 characters a message
    assert all(len(c) > 4096 - 305 for c in chunks[:-1])
    assert "\n".join(chunks).split("\n") == parts
    long = split_text(["a " * 3000], 4096)  # one part longer than a message is cut at a space
    assert len(long) == 2 and all(len(c) <= 4096 for c in long) and " ".join(long).split() == ["a"] * 3000


def test_bad_json_gets_400(server: Service) -> None:
    body = b"{not json"
    r = httpx.post(server.url + "/channels/whatsapp", content=body, headers=sim.whatsapp_headers(body))
    assert r.status_code == 400 and "not a payload" in r.json()["error"]["message"]


def test_media_path_helper_maps_urls(tmp_path: Path) -> None:
    from agent.serve.queue import SqliteTurnQueue
    from agent.serve.runner import MediaLinks

    links = MediaLinks(tmp_path, SqliteTurnQueue(tmp_path / "q.sqlite"))
    (tmp_path / ("a" * 64 + ".png")).write_bytes(b"x")
    assert links.path_for("http://h/v1/media/" + "a" * 64 + ".png") == tmp_path / ("a" * 64 + ".png")
    assert links.path_for("/v1/media/../../etc/passwd") is None


def test_a_send_is_retried_only_when_it_never_reached_the_platform(tmp_path: Path) -> None:
    import httpx as hx

    from agent.channels.base import DeliveryError
    from agent.channels.telegram import TelegramChannel

    attempts: list[str] = []

    def handler(request: hx.Request) -> hx.Response:
        attempts.append(request.url.path)
        if len(attempts) == 1:
            raise hx.ConnectError("refused", request=request)
        if len(attempts) == 2:
            raise hx.ReadTimeout("no answer", request=request)
        return hx.Response(200, json={"ok": True})

    settings = Context(telegram_bot_token="1:T", telegram_secret_token="s", telegram_api_url="http://tg.test")
    channel = TelegramChannel(settings, client=hx.Client(transport=hx.MockTransport(handler)))
    channel.max_attempts = 3
    with pytest.raises(DeliveryError, match="broke after sending"):
        channel.call("POST", channel.method_url("sendMessage"), json={"chat_id": 1, "text": "hi"})
    assert len(attempts) == 2  # the refused connection was retried; the read timeout was not
