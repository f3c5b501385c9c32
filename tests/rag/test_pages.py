"""Page numbers: PDF pages and slides are kept as offsets, passages and citations carry a 1-based ``page``, the
CLI prints "p. N" and its JSON has ``page``; an index of schema version 1 is migrated and keeps working."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from index import IndexStore
from index.records import page_for
from rag import cli
from rag.answer_types import Answer, AnswerSentence, Citation
from rag.documents import load_bytes
from rag.engine import Engine
from rag.ingest import ingest_document
from rag.pages import page_label, with_pages
from rag.retrieval import retrieve
from tests.conftest import FakeModelLoads
from tests.rag.test_documents import make_pdf
from tests.rag.test_loaders import make_pptx

FILLER = " The council met on Tuesday to discuss the weather, the roads and the school timetable for next year."
PAGES = (
    "Harbour report\nThe lighthouse keeper counts ships every morning." + FILLER * 3,
    "",
    "Orchard report\nThe cider press in the valley opens in October." + FILLER,
)


def test_page_for_offsets() -> None:
    starts = (0, 50, 50, 120)
    assert page_for((), 10) is None
    assert [page_for(starts, o) for o in (0, 49, 50, 119, 120, 500)] == [1, 1, 3, 3, 4, 4]


def test_pdf_pages_and_blank_pages_keep_their_numbers() -> None:
    doc = load_bytes(make_pdf(pages=PAGES), source="report.pdf")
    assert len(doc.page_starts) == 3
    cider = doc.text.index("cider press")
    assert page_for(doc.page_starts, cider) == 3
    assert page_for(doc.page_starts, doc.text.index("lighthouse")) == 1


def test_passages_and_citations_carry_pages(fake_engine: Engine) -> None:
    ingest_document(fake_engine, load_bytes(make_pdf(pages=PAGES), source="report.pdf"))
    ingest_document(
        fake_engine, load_bytes(make_pptx([("Deck", "Slide one."), ("Budget", "The cider budget.")]), source="d.pptx")
    )
    ingest_document(fake_engine, load_bytes(b"Plain text about cider presses.", source="plain.txt"))
    passages = retrieve(fake_engine, "cider press valley October", k=10).passages
    starts = fake_engine.store.get_document("report.pdf").page_starts
    pdf_pages = [p.page for p in passages if p.source == "report.pdf"]
    assert pdf_pages == [page_for(starts, p.start) for p in passages if p.source == "report.pdf"]
    assert any(p.page == 3 and "cider press" in p.text for p in passages if p.source == "report.pdf")
    assert [p.page for p in passages if p.source == "plain.txt"] == [None]
    text = fake_engine.store.document_text("report.pdf")
    start = text.index("The cider press")
    cite = Citation("report.pdf", "Report", start, start + 15, text[start : start + 15])
    plain = Citation("plain.txt", "Plain", 0, 5, "Plain")
    answer = Answer("q", "q", (AnswerSentence("s", (cite, plain)),), False, None, ())
    paged = with_pages(fake_engine.store, answer)
    assert [c.page for c in paged.citations] == [3, None]
    assert [(c.start, c.end, c.text) for c in paged.citations] == [(c.start, c.end, c.text) for c in answer.citations]
    assert fake_engine.store.page_of("d.pptx", fake_engine.store.document_text("d.pptx").index("Budget")) == 2
    assert page_label(4) == "p. 4" and page_label(None) == ""


def test_cli_ask_shows_pages(fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report.pdf").write_bytes(make_pdf(pages=PAGES))
    data = str(tmp_path / "data")
    assert cli.main(["ingest", str(tmp_path / "report.pdf"), "--data-dir", data]) == 0
    capsys.readouterr()
    assert cli.main(["ask", "When does the cider press in the valley open?", "--json", "--data-dir", data]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["citations"], result
    assert all(c["page"] == 3 for c in result["citations"] if "cider" in c["text"])
    assert any(c["page"] == 3 for c in result["citations"])
    assert cli.main(["ask", "When does the cider press in the valley open?", "--data-dir", data]) == 0
    assert "report.pdf, p. 3 [" in capsys.readouterr().out
    assert cli.main(["search", "cider press valley", "--json", "--data-dir", data]) == 0
    passages = json.loads(capsys.readouterr().out)["passages"]
    assert any(p["page"] == 3 and "cider press" in p["text"] for p in passages)
    assert all(p["meta"]["format"] == "pdf" for p in passages)


def test_schema_v1_catalog_is_migrated(tmp_path: Path, fake_engine: Engine) -> None:
    ingest_document(fake_engine, load_bytes(b"Old article\nAbout harbours and ships.", source="old.txt"))
    data_dir = fake_engine.store.data_dir
    emb = fake_engine.embedder
    fake_engine.store.close()
    # Turn the catalog back into schema version 1 (documents unique by source, no page/collection columns).
    conn = sqlite3.connect(str(data_dir / "catalog.sqlite3"))
    conn.executescript(
        """
        BEGIN;
        CREATE TABLE documents_v1 (
            id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
            content_id INTEGER NOT NULL REFERENCES contents(id), date TEXT, meta TEXT NOT NULL DEFAULT '{}',
            added_at REAL NOT NULL);
        INSERT INTO documents_v1 SELECT id, source, title, content_id, date, meta, added_at FROM documents;
        DROP TABLE documents;
        ALTER TABLE documents_v1 RENAME TO documents;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        COMMIT;
        """
    )
    conn.close()
    store = IndexStore.open(data_dir, embedder_id=emb.model_id, embedder_checksum=emb.checksum, dimension=emb.dimension)
    try:
        assert store._catalog.meta()["schema_version"] == "2"
        record = store.get_document("old.txt")
        assert record.collection == "default" and record.page_starts == () and record.origin == ""
        assert store.verify().ok
        assert [h.chunk_id for h in store.bm25_search("harbours", 5)]
    finally:
        store.close()
