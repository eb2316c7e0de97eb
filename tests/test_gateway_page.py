"""The gateway's chat page (``GET /``) in a real headless browser: Debian's chromium and chromium-driver, driven by
selenium. The reply streams in word by word, reasoning apart from the answer; the stop button aborts the request
and the gateway closes its upstream connection; the conversation is kept for the next turn."""

import shutil
import time
import urllib.request

import pytest
from gateway_support import anthropic_stream, gateway

from llm_connector.testing import LocalServer

webdriver = pytest.importorskip("selenium.webdriver",
                                reason="selenium is not installed (pip install -e '.[gateway-test]')")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=(
    "chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)"))


def test_the_page_is_one_small_html_file_without_external_assets():
    with LocalServer() as upstream:
        with gateway("wsgiref", "anthropic", upstream.url, api_key="gw-secret") as url:
            with urllib.request.urlopen(url + "/") as r:  # open without the key: the page asks for it
                page = r.read().decode("utf-8")
                content_type = r.headers["Content-Type"]
    assert content_type == "text/html; charset=utf-8"
    assert len(page) < 10_000
    assert "http://" not in page and "https://" not in page and "src=" not in page and "<link" not in page


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _answer(browser) -> str:
    answers = browser.find_elements("css selector", ".assistant .answer")
    return answers[-1].text if answers else ""


@needs_browser
def test_a_reply_streams_in_word_by_word_and_stop_closes_the_upstream(browser):
    words = [f"word{i} " for i in range(30)]
    with LocalServer() as upstream:
        upstream.add(anthropic_stream(words, thinking=["Pondering."], pause=0.4))
        upstream.add(anthropic_stream(["Again."]))
        with gateway("wsgiref", "anthropic", upstream.url, models=["claude-up"]) as url:
            browser.get(url + "/")
            prompt = browser.find_element("id", "prompt")
            prompt.send_keys("Tell me a story")
            browser.find_element("id", "send").click()
            seen = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(seen) < 3:
                text = _answer(browser).strip()
                if text and (not seen or text != seen[-1]):
                    seen.append(text)
                time.sleep(0.05)
            reasoning = browser.find_element("css selector", ".assistant .reasoning").text
            browser.find_element("id", "stop").click()
            assert upstream.requests[0].closed_by_client.wait(8.0)
            stopped_at = _answer(browser)
            note = browser.find_element("css selector", ".assistant .note").text
            # The conversation is kept: the next request carries the first turn and the partial answer.
            prompt.send_keys("Go on")
            browser.find_element("id", "send").click()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _answer(browser) != "Again.":
                time.sleep(0.05)
            second = upstream.requests[1].json()["messages"]
    full = "".join(words).strip()
    assert len(seen) >= 3
    # At least two distinct intermediate states, each a true prefix of the reply, growing word by word.
    assert all(full.startswith(s) and len(s) < len(full) for s in seen)
    assert len(set(seen)) == len(seen)
    assert reasoning == "Pondering."
    assert "Pondering" not in stopped_at
    assert note == "(stopped)"
    assert len(stopped_at) < len(full)
    assert upstream.requests[0].json()["model"] == "claude-up"
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[0]["content"] == "Tell me a story" and second[2]["content"] == "Go on"
    assert second[1]["content"] == stopped_at.strip() or second[1]["content"].startswith("word0")
