"""The web chat in a real browser: headless Chromium (Debian's) driven by Selenium against ``fashionm3 serve``.

One conversation: a search, a photo with "what goes with this?", a follow-up that points back at the
answer ("cheaper than the first one"), then a reload that must restore the thread from the URL.
A screenshot of the end state is written to ``out/web_chat.png``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service import Service, copy_data

from agent.context import Context

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
OUT = Path(__file__).resolve().parents[1] / "out"
ANSWER_TIMEOUT_S = 30

#: The n-th finished answer (1-based) once every card image in it has loaded; null while not yet.
ANSWER_JS = """
const n = arguments[0];
const done = document.querySelectorAll('#messages .msg.assistant.done');
if (done.length < n) return null;
const answer = done[n - 1];
if (answer.classList.contains('failed')) return {failed: answer.innerText};
const cards = Array.from(answer.querySelectorAll('.item-card'));
const loaded = (img) => img && img.complete && img.naturalWidth > 0;
if (!cards.every((c) => loaded(c.querySelector('img')))) return null;
const outfit = answer.querySelector('.outfit');
return {
  text: answer.innerText,
  outfit: outfit ? outfit.querySelector('.outfit-header').textContent : null,
  cards: cards.map((c) => ({id: c.dataset.itemId, price: parseFloat(c.dataset.price),
                            img: c.querySelector('img').src, text: c.innerText})),
};
"""

#: The user's messages: their text and whether their photos loaded.
USER_JS = """
return Array.from(document.querySelectorAll('#messages .msg.user')).map((m) => ({
  text: (m.querySelector('.bubble') || {}).innerText || '',
  photos: Array.from(m.querySelectorAll('.user-photos img')).map((i) => i.complete && i.naturalWidth > 0),
}));
"""


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    reason = (f"headless Chromium is not installed (missing {', '.join(missing)}); "
              "`make browser` installs Debian's chromium and chromium-driver")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the browser test must run: {reason}")
    pytest.skip(reason)


def chromium(width: int = 1280, height: int = 900) -> Any:
    """A headless Debian Chromium under Selenium (no Selenium Manager: both paths are given)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service as ChromeService

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=ChromeService(executable_path=str(CHROMEDRIVER)), options=options)


def wait_answer(driver: Any, n: int, timeout: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
    """Wait for the n-th answer with all its card images loaded; fail on an error answer."""
    from selenium.webdriver.support.ui import WebDriverWait

    answer = WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(ANSWER_JS, n),
                                                                     message=f"answer {n} did not arrive")
    assert "failed" not in answer, f"answer {n} is an error: {answer['failed']}"
    return answer


def say(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "message")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


@pytest.fixture(scope="session")
def chromium_installed() -> None:
    """Skip (fail under CI) before the catalog is built when Chromium or its driver is missing."""
    _require_browser()


@pytest.fixture()
def service(catalog_settings: Context, tmp_path: Path) -> Iterator[Service]:
    svc = Service(copy_data(catalog_settings.data_dir, tmp_path / "data")).start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture()
def browser(chromium_installed: None) -> Iterator[Any]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def test_web_chat_conversation(chromium_installed: None, service: Service, browser: Any, catalog_settings: Context,
                               tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    t0 = time.monotonic()
    browser.get(service.url + "/")
    WebDriverWait(browser, 10).until(lambda d: "thread=" in d.current_url, message="no thread id in the URL")
    url = browser.current_url

    # 1. a search: cards with loaded product images, title, colour and a price in euros
    say(browser, "show me red dresses")
    first = wait_answer(browser, 1)
    assert first["cards"], first["text"]
    assert all(c["img"].startswith(service.url + "/v1/media/") for c in first["cards"])
    assert all("€" in c["text"] for c in first["cards"])
    assert any("dress" in c["text"].lower() for c in first["cards"])
    assert "[DRS-" not in first["text"], "item lines should be shown as cards, not as text"

    # 2. a photo through the file input, shown as a chip, then sent with a question
    photo = sorted((Path(catalog_settings.data_dir) / "catalog" / "images").glob("SHT-*.png"))[0]
    upload = tmp_path / "my shirt.png"
    shutil.copy(photo, upload)
    browser.find_element(By.ID, "file-input").send_keys(str(upload))
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#attachments .chip.ready"),
                                     message="the photo did not upload")
    say(browser, "what goes with this?")
    second = wait_answer(browser, 2)
    assert second["cards"], second["text"]
    assert second["outfit"] and "Outfit" in second["outfit"] and "€" in second["outfit"], second
    total = round(sum(c["price"] for c in second["cards"]), 2)
    assert f"{total:,.2f}" in second["outfit"].replace("\u202f", ""), (total, second["outfit"])
    assert not browser.find_elements(By.CSS_SELECTOR, "#attachments .chip"), "the chip should go once sent"

    # 3. a follow-up about the answer: same thread, so "the first one" is the outfit's first piece
    say(browser, "something cheaper than the first one")
    third = wait_answer(browser, 3)
    anchor = second["cards"][0]
    assert third["cards"], third["text"]
    assert all(c["price"] < anchor["price"] for c in third["cards"]), (anchor, third["cards"])
    assert anchor["id"] not in {c["id"] for c in third["cards"]}

    users = browser.execute_script(USER_JS)
    assert [u["text"] for u in users] == ["show me red dresses", "what goes with this?",
                                          "something cheaper than the first one"]
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not logs, logs

    # 4. a reload restores the conversation from ?thread=...
    browser.refresh()
    restored = [wait_answer(browser, n) for n in (1, 2, 3)]
    assert browser.current_url == url
    for before, after in zip((first, second, third), restored, strict=True):
        assert [c["id"] for c in after["cards"]] == [c["id"] for c in before["cards"]]
    assert restored[1]["outfit"] == second["outfit"]
    WebDriverWait(browser, 10).until(lambda d: all(u["photos"] == ([True] if i == 1 else [])
                                                   for i, u in enumerate(d.execute_script(USER_JS))),
                                     message="the restored photo did not load")
    assert len(browser.execute_script(USER_JS)) == 3
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages .msg.assistant.pending")

    OUT.mkdir(exist_ok=True)
    browser.save_screenshot(str(OUT / "web_chat.png"))
    assert (OUT / "web_chat.png").stat().st_size > 10_000
    assert time.monotonic() - t0 < 60
