"""The chat widget in a real browser: streaming, citations, refusal, error + Retry, history, keyboard, 360 px, XSS;
closing the panel aborts the answer, errors never read "undefined", the server's limits, the <ragqa-widget> tag."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from api.app import create_app
from rag.engine import Engine
from rag.errors import ModelError
from rag.models.generator import ChatMessage
from rag.settings import Settings
from tests.api.helpers import Harness, LiveServer, evidence_lines, ingest_text, seed_text
from tests.conftest import HEADLINE, SEED_SOURCE

pytestmark = pytest.mark.e2e

IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=1</script>"
HOSTILE_TITLE = f"Hostile {IMG} title"
HOSTILE_TEXT = (
    "Hostile markup notice\n"
    f"The hostile markup sample reads {IMG} inside the article body.\n"
    f"The hostile script sample reads {SCRIPT} near the end of the page.\n"
)
HOSTILE_QUESTION = "What do the hostile markup sample and the hostile script sample read?"
UNRELATED = "What is the recipe for Peruvian ceviche?"


class HostileGenerator:
    """Quotes every evidence sentence holding markup (else the best one); can be told to fail once.

    It pauses ``pause_s`` inside the second sentence, so the first one is on screen, streamed, before the answer; if
    the server cancels the generation meanwhile (the client went away), it stops there and sets ``cancelled``.
    """

    model_id = "hostile-generator"

    def __init__(self, pause_s: float = 0.0) -> None:
        self.fail_next = False
        self.pause_s = pause_s
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        with self.lock:
            if self.fail_next:
                self.fail_next = False
                raise ModelError("the answer model crashed")
        lines = evidence_lines(messages)
        chosen = [line for line in lines if "<" in line] or lines[:1] or ["NOT IN EVIDENCE"]
        for n, sentence in enumerate(chosen):
            for i, word in enumerate(sentence.split(" ")):
                yield word if n == 0 and i == 0 else " " + word
                if n == 1 and i == 0 and self.pause_s and (cancel or threading.Event()).wait(self.pause_s):
                    self.cancelled.set()
                    return


def serve_hostile_site(tmp_path: Path, pause_s: float) -> Iterator[tuple[str, HostileGenerator]]:
    harness = Harness(tmp_path)
    gen = HostileGenerator(pause_s=pause_s)
    engine = harness.engine(generator=gen, max_question_chars=300)
    ingest_text(engine, "hostile.txt", HOSTILE_TEXT, title=HOSTILE_TITLE)
    try:
        with LiveServer(create_app(engine.settings, engine)) as server:
            yield server.url, gen
    finally:
        harness.close()


@pytest.fixture
def fake_site(tmp_path: Path) -> Iterator[tuple[str, HostileGenerator]]:
    yield from serve_hostile_site(tmp_path, pause_s=1.0)


STALL_S = 20.0


@pytest.fixture
def stalling_site(tmp_path: Path) -> Iterator[tuple[str, HostileGenerator]]:
    """The hostile site, its generator stalled for ``STALL_S`` inside the second sentence of an answer."""
    yield from serve_hostile_site(tmp_path, pause_s=STALL_S)


def open_widget(page: Page, url: str) -> None:
    page.goto(url + "/")
    bubble = page.get_by_role("button", name="Open chat: Ask the articles")
    expect(bubble).to_be_visible()
    bubble.click()
    expect(page.get_by_role("dialog", name="Ask the articles")).to_be_visible()
    expect(page.get_by_label("Your question")).to_be_focused()


def ask(page: Page, question: str) -> None:
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")


def shadow_count(page: Page, selector: str) -> int:
    return int(
        page.evaluate("(s) => document.querySelector('#ragqa-widget').shadowRoot.querySelectorAll(s).length", selector)
    )


def test_hostile_text_is_inert(browser: Browser, fake_site: tuple[str, HostileGenerator], artifacts: Path) -> None:
    url, _ = fake_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_widget(page, url)
    # The demo page lists the hostile title as text.
    expect(page.locator("#documents")).to_contain_text(HOSTILE_TITLE)
    ask(page, HOSTILE_QUESTION)
    # Streamed: the first verified sentence is shown while the second is still being generated.
    streaming = page.locator(".msg.bot:not(.answer) .text")
    expect(streaming).to_contain_text("sample reads <", timeout=20_000)
    answer = page.locator(".msg.answer")
    expect(answer).to_be_visible(timeout=20_000)
    expect(answer).to_contain_text(IMG)
    expect(answer).to_contain_text(SCRIPT)
    cite = page.locator(".msg.answer .cite").first
    expect(cite).to_have_text("[1]")
    cite.click()
    quote = page.get_by_role("region", name="Cited passage")
    expect(quote).to_be_visible()
    expect(quote.locator("blockquote")).to_contain_text("<")
    expect(quote.locator("h3")).to_have_text(f"[1] {HOSTILE_TITLE}")
    expect(quote).to_contain_text("Source: hostile.txt")
    page.screenshot(path=str(artifacts / "widget-hostile-text.png"))

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert shadow_count(page, "img, script, iframe, object, embed") == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1  # only the widget's own tag
    # Esc closes the quote and gives focus back to the marker, a second Esc closes the panel.
    page.keyboard.press("Escape")
    expect(quote).to_be_hidden()
    expect(cite).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_role("button", name="Open chat: Ask the articles")).to_be_focused()
    assert errors == []
    page.close()


def test_refusal_error_retry_and_history(
    browser: Browser, fake_site: tuple[str, HostileGenerator], artifacts: Path
) -> None:
    url, gen = fake_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    open_widget(page, url)

    ask(page, UNRELATED)
    refused = page.locator(".msg.refused")
    expect(refused).to_be_visible(timeout=20_000)
    expect(refused.locator(".refusal")).to_have_text("The articles don't say.")
    expect(refused.locator(".reason")).to_contain_text("Why:")
    # The closest passage is shown, marked as related and not as an answer, and it is not a citation.
    expect(refused.locator(".related-head")).to_have_text("Related, not an answer:")
    expect(refused.locator(".related-quote").first).to_contain_text(HOSTILE_TITLE)
    assert refused.locator(".cite").count() == 0
    page.screenshot(path=str(artifacts / "widget-refusal.png"))

    gen.fail_next = True
    ask(page, HEADLINE)
    error = page.locator(".msg.error")
    expect(error).to_be_visible(timeout=20_000)
    expect(error).to_contain_text("the answer model crashed")
    retry = error.get_by_role("button", name="Retry the question")
    expect(retry).to_be_focused()
    page.screenshot(path=str(artifacts / "widget-error.png"))
    with page.expect_request("**/v1/ask/stream") as request_info:
        retry.click()
    answer = page.locator(".msg.answer:not(.refused)")
    expect(answer).to_be_visible(timeout=20_000)
    expect(page.locator(".msg.error")).to_have_count(0)
    history = json.loads(request_info.value.post_data or "{}")["history"]
    assert history == [
        {"role": "user", "content": UNRELATED},
        {"role": "assistant", "content": "The articles don't say."},
    ]

    # A follow-up sends the whole conversation so far.
    with page.expect_request("**/v1/ask/stream") as request_info:
        ask(page, "Why did it happen?")
    sent = json.loads(request_info.value.post_data or "{}")
    assert sent["question"] == "Why did it happen?" and len(sent["history"]) == 4
    assert sent["history"][2] == {"role": "user", "content": HEADLINE}
    expect(page.locator(".msg.answer")).to_have_count(3, timeout=20_000)

    # A limit error from the server (HTTP 422) is shown with its message.
    ask(page, "Why " + "very " * 80 + "?")
    expect(page.locator(".msg.error")).to_contain_text("max_question_chars", timeout=20_000)
    page.close()


def test_phone_width(browser: Browser, fake_site: tuple[str, HostileGenerator], artifacts: Path) -> None:
    url, _ = fake_site
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    open_widget(page, url)
    ask(page, HEADLINE)
    expect(page.locator(".msg.answer")).to_be_visible(timeout=20_000)
    box = page.get_by_role("dialog").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["width"] >= 300
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 360
    page.locator(".msg.answer .cite").first.click()
    expect(page.get_by_role("region", name="Cited passage")).to_be_visible()
    page.screenshot(path=str(artifacts / "widget-360px.png"))
    context.close()


@pytest.mark.slow
def test_seoul_question_with_the_real_models(
    browser: Browser, real_models_settings: Settings, seed_engine: Engine, artifacts: Path
) -> None:
    seed_engine.ensure_generator()
    seed_engine.ensure_judge()
    with LiveServer(create_app(real_models_settings, seed_engine)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        streamed: list[str] = []
        page.on("response", lambda r: streamed.append(r.url) if r.url.endswith("/v1/ask/stream") else None)
        open_widget(page, server.url)
        ask(page, HEADLINE)
        answer = page.locator(".msg.answer")
        expect(answer).to_be_visible(timeout=120_000)
        expect(answer).not_to_have_class("refused")
        cite = answer.locator(".cite").first
        expect(cite).to_be_visible()
        cite.click()
        quote = page.get_by_role("region", name="Cited passage")
        expect(quote).to_be_visible()
        quoted = quote.locator("blockquote").inner_text().strip().strip("\u201c\u201d")
        assert quoted and quoted in seed_text()
        title = seed_text().splitlines()[0]
        expect(quote.locator("h3")).to_contain_text(title)
        expect(quote).to_contain_text(SEED_SOURCE)
        page.screenshot(path=str(artifacts / "widget-seoul.png"))
        assert streamed
        page.close()


def test_closing_the_panel_aborts_the_answer_in_flight(
    browser: Browser, stalling_site: tuple[str, HostileGenerator]
) -> None:
    url, gen = stalling_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    open_widget(page, url)
    ask(page, HOSTILE_QUESTION)
    # Mid-answer: the first sentence is on screen, the generator is stalled inside the second.
    expect(page.locator(".msg.bot:not(.answer) .text")).to_contain_text("sample reads <", timeout=20_000)
    assert not gen.cancelled.is_set()
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/v1/ask/stream")) as failed:
        page.get_by_role("button", name="Close chat", exact=True).click()
    assert failed.value.failure == "net::ERR_ABORTED"
    # The server saw the client go away and stopped generating (long before STALL_S).
    assert gen.cancelled.wait(10.0)
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.get_by_role("button", name="Open chat: Ask the articles").click()
    stopped = page.locator(".msg.stopped")
    expect(stopped).to_contain_text("Stopped: the chat was closed before the answer was complete.")
    expect(page.locator(".msg.answer")).to_have_count(0)
    expect(page.get_by_role("button", name="Send question")).to_be_enabled()
    # Retry asks again with a new request (which closing stops too).
    with page.expect_request("**/v1/ask/stream"):
        stopped.get_by_role("button", name="Retry the question").click()
    expect(page.locator(".msg.stopped")).to_have_count(0)
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/v1/ask/stream")):
        page.get_by_role("button", name="Close chat", exact=True).click()
    assert page.evaluate("document.querySelectorAll('ragqa-widget').length") == 1
    page.close()


REJECT_NEXT_FETCH = """
const realFetch = window.fetch;
window.fetch = (url, options) => {
  if (window.__rejectNext && String(url).endsWith("/v1/ask/stream")) {
    window.__rejectNext = false;
    return Promise.reject(undefined);  // a rejection that carries nothing (some fetch wrappers do this)
  }
  return realFetch(url, options);
};
"""


# The answer streams through, but the connection then stays open (as when the server's last event is late).
HOLD_STREAM_OPEN = """
const realFetch = window.fetch;
window.__streams = 0;
window.fetch = async (url, options) => {
  const response = await realFetch(url, options);
  if (!String(url).endsWith("/v1/ask/stream")) return response;
  window.__streams += 1;
  const reader = response.body.getReader();
  const held = new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return new Promise(() => {});  // never closes
      controller.enqueue(value);
    }
  });
  return new Response(held, { status: response.status, headers: response.headers });
};
"""


def test_a_question_can_follow_as_soon_as_the_answer_shows(
    browser: Browser, fake_site: tuple[str, HostileGenerator]
) -> None:
    """The next question is sent once the answer is shown, even while the answer's stream has not closed yet."""
    url, _ = fake_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.add_init_script(HOLD_STREAM_OPEN)
    open_widget(page, url)
    ask(page, HEADLINE)
    expect(page.locator(".msg.answer")).to_have_count(1, timeout=20_000)
    expect(page.get_by_role("button", name="Send question")).to_be_enabled()
    with page.expect_request("**/v1/ask/stream", timeout=10_000) as request_info:
        ask(page, "Why did it happen?")
    assert len(json.loads(request_info.value.post_data or "{}")["history"]) == 2
    expect(page.locator(".msg.answer")).to_have_count(2, timeout=20_000)
    assert page.evaluate("window.__streams") == 2
    page.close()


def test_error_messages_never_read_undefined(browser: Browser, fake_site: tuple[str, HostileGenerator]) -> None:
    url, _ = fake_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.add_init_script(REJECT_NEXT_FETCH)
    # As from a server without /v1/widget/config: no limits known, the widget asks all the same.
    page.route("**/v1/widget/config", lambda route: route.fulfill(status=404, json={"error": {}}))
    open_widget(page, url)
    errors = page.locator(".msg.error .error-text")

    page.evaluate("window.__rejectNext = true")
    ask(page, HEADLINE)
    expect(errors.last).to_have_text("Something went wrong: Could not reach the server.")

    page.route("**/v1/ask/stream", lambda route: route.fulfill(status=502, content_type="text/plain", body="down"))
    ask(page, HEADLINE)
    expect(errors.last).to_have_text(re.compile(r"^Something went wrong: the server answered 502\b"))
    page.unroute("**/v1/ask/stream")

    page.route("**/v1/ask/stream", lambda route: route.fulfill(status=503, json={"error": {}}))
    ask(page, HEADLINE)
    expect(errors.last).to_have_text(re.compile(r"^Something went wrong: the server answered 503\b"))
    page.unroute("**/v1/ask/stream")

    error_event = 'event: error\ndata: {"error": {}}\n\n'
    page.route("**/v1/ask/stream", lambda route: route.fulfill(content_type="text/event-stream", body=error_event))
    ask(page, HEADLINE)
    expect(errors.last).to_have_text("Something went wrong: the answer failed")
    page.unroute("**/v1/ask/stream")

    cut_short = "event: passages\ndata: []\n\n"
    page.route("**/v1/ask/stream", lambda route: route.fulfill(content_type="text/event-stream", body=cut_short))
    ask(page, HEADLINE)
    expect(errors.last).to_have_text(
        "Something went wrong: the connection ended before the answer was complete", timeout=10_000
    )
    page.unroute("**/v1/ask/stream")
    expect(errors).to_have_count(5)

    ask(page, HEADLINE)
    answer = page.locator(".msg.answer")
    expect(answer).to_be_visible(timeout=20_000)
    page.route("**/v1/feedback", lambda route: route.fulfill(status=500, json={"error": {}}))
    answer.get_by_role("button", name="Good answer").click()
    expect(answer.locator(".feedback-note")).to_have_text(
        re.compile(r"^Feedback not sent \(the server answered 500\b.*\)\.$")
    )
    expect(answer.get_by_role("button", name="Good answer")).to_be_enabled()
    shown = page.evaluate("document.querySelector('#ragqa-widget').shadowRoot.textContent")
    assert "undefined" not in shown and "null" not in shown
    page.close()


def test_the_element_follows_the_servers_limits(browser: Browser, tmp_path: Path) -> None:
    """``<ragqa-widget>`` written in a page whose CSP forbids inline styles (no auto-mounted second one; styled all
    the same) takes its limits from the server: with ``max_history=2`` it sends only the latest question and answer;
    above ``max_question_chars`` it says so."""
    harness = Harness(tmp_path)
    engine = harness.engine(max_history=2, max_question_chars=60)
    try:
        with LiveServer(create_app(engine.settings, engine)) as server:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # A strict page: no inline styles at all. The widget's constructable stylesheet still applies.
            csp = f"default-src 'none'; style-src 'none'; script-src {server.url}; connect-src {server.url}"
            page.set_content(
                f'<html><head><meta http-equiv="Content-Security-Policy" content="{csp}"></head><body>'
                f'<ragqa-widget data-endpoint="{server.url}" data-title="Docs help"></ragqa-widget>'
                f'<script src="{server.url}/widget.js"></script></body></html>'
            )
            bubble_js = "document.querySelector('ragqa-widget').shadowRoot.querySelector('.bubble')"
            assert page.evaluate(f"getComputedStyle({bubble_js}).position") == "fixed"
            page.get_by_role("button", name="Open chat: Docs help").click()
            expect(page.get_by_role("dialog", name="Docs help")).to_be_visible()
            for n, question in enumerate((HEADLINE, "Who said so?", "When was that?"), start=1):
                with page.expect_request("**/v1/ask/stream") as request_info:
                    ask(page, question)
                expect(page.locator(".msg.answer")).to_have_count(n, timeout=20_000)
                history = json.loads(request_info.value.post_data or "{}")["history"]
                assert len(history) == min(2, 2 * (n - 1)), history
            assert history[0] == {"role": "user", "content": "Who said so?"}
            assert history[1]["role"] == "assistant" and history[1]["content"]
            expect(page.locator(".msg.error")).to_have_count(0)

            box = page.get_by_label("Your question")
            box.fill("Why " + "really " * 10 + "?")  # 75 characters
            count = page.locator("#count")
            expect(count).to_have_text("75 characters; questions can have at most 60.")
            expect(box).to_have_attribute("aria-invalid", "true")
            box.fill("Why?")
            expect(count).to_be_hidden()
            assert page.evaluate("document.querySelectorAll('ragqa-widget').length") == 1
            assert errors == []
            page.close()
    finally:
        harness.close()
