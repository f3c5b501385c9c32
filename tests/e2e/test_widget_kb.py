"""The widget in a real browser over the knowledge-base features: ``data-collection`` scopes the answers, the
citation shows its PDF page ("p. 3"), and 👍/👎 under an answer reach ``POST /v1/feedback`` (👎 with a comment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from api.app import create_app
from index.feedback import FeedbackStore
from rag.documents import load_bytes
from rag.engine import Engine
from rag.ingest import ingest_document
from tests.api.helpers import Harness, LiveServer
from tests.rag.test_documents import make_pdf
from tests.rag.test_pages import PAGES

pytestmark = pytest.mark.e2e
QUESTION = "When does the cider press in the valley open?"


@pytest.fixture
def kb_site(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    harness = Harness(tmp_path)
    engine = harness.engine()
    with engine.store.writer():
        ingest_document(engine, load_bytes(make_pdf(pages=PAGES), source="report.pdf"), collection="pdfs")
    try:
        with LiveServer(create_app(engine.settings, engine)) as server:
            yield server.url, engine
    finally:
        harness.close()


def test_collection_pages_and_feedback(browser: Browser, kb_site: tuple[str, Engine], artifacts: Path) -> None:
    url, engine = kb_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    tag = f'<script src="{url}/widget.js" data-endpoint="{url}" data-collection="pdfs"></script>'
    page.set_content(f"<html><body>{tag}</body></html>")
    page.get_by_role("button", name="Open chat: Ask the articles").click()
    box = page.get_by_label("Your question")
    box.fill(QUESTION)
    box.press("Enter")
    answer = page.locator(".msg.answer")
    expect(answer).to_be_visible(timeout=20_000)
    expect(answer.locator(".sources")).to_contain_text("(p. 3)")
    answer.locator(".cite").first.click()
    expect(page.get_by_role("region", name="Cited passage")).to_contain_text("Source: report.pdf · p. 3")

    answer.get_by_role("button", name="Bad answer").click()
    comment = answer.get_by_label("What was wrong with the answer (optional)")
    expect(comment).to_be_focused()
    comment.fill("wrong page")
    answer.get_by_role("button", name="Send").click()
    expect(answer.locator(".feedback-note")).to_have_text("Thanks for the feedback.", timeout=10_000)
    expect(answer.get_by_role("button", name="Good answer")).to_be_disabled()
    page.screenshot(path=str(artifacts / "widget-feedback.png"))
    assert errors == []
    page.close()

    store = FeedbackStore.open(engine.settings.data_dir)
    try:
        [record] = store.feedback("down")
        assert record.comment == "wrong page" and record.answer.question == QUESTION
        assert record.answer.collection == "pdfs"
        assert record.answer.citations and all(c["source"] == "report.pdf" for c in record.answer.citations)
        assert any(c["page"] == 3 for c in record.answer.citations)
    finally:
        store.close()
