"""Documents: add (JSON, multipart txt/md/html/pdf), list, read, delete; path traversal; bad uploads change nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF

from index import IndexStats
from rag.engine import Engine
from tests.api.helpers import AUTH, Harness
from tests.conftest import SEED_SOURCE


def make_pdf(text: str, title: str = "A PDF Title") -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_add_list_read_replace_delete(client: TestClient) -> None:
    doc = {
        "source": "news/2024/a.md",
        "text": "# Kyiv talks\n\nSeoul and Kyiv held talks on air defence.",
        "format": "md",
    }
    r = client.post("/v1/documents", json=doc, headers=AUTH)
    assert r.status_code == 201 and r.json() == {"source": "news/2024/a.md", "status": "added", "chunks": 1}
    assert client.post("/v1/documents", json=doc, headers=AUTH).json()["status"] == "unchanged"
    changed = {**doc, "text": doc["text"] + " More talks follow.", "title": "Custom title"}
    assert client.post("/v1/documents", json=changed, headers=AUTH).json()["status"] == "replaced"

    listing = client.get("/v1/documents").json()
    assert set(listing) == {"documents"}
    by_source = {d["source"]: d for d in listing["documents"]}
    assert set(by_source) == {SEED_SOURCE, "news/2024/a.md"}
    assert set(by_source["news/2024/a.md"]) == {"source", "collection", "title", "date", "chunks", "chars", "meta"}
    assert by_source["news/2024/a.md"]["title"] == "Custom title"

    detail = client.get("/v1/documents/news/2024/a.md").json()
    assert detail["text"].startswith("Kyiv talks") and detail["title"] == "Custom title"
    assert detail["chars"] == len(detail["text"]) and detail["meta"]["format"] == "md"

    r = client.delete("/v1/documents/news/2024/a.md", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"source": "news/2024/a.md", "status": "deleted"}
    for r in (client.get("/v1/documents/news/2024/a.md"), client.delete("/v1/documents/news/2024/a.md", headers=AUTH)):
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    ("filename", "data", "title"),
    [
        ("note.txt", b"Plain title\nSeoul reviews its export rules for artillery shells.", "Plain title"),
        ("note.md", b"# Markdown title\n\nSeoul reviews its **export** rules.", "Markdown title"),
        (
            "page.html",
            b"<html><head><title>HTML title</title></head><body><p>Seoul reviews rules.</p>"
            b"<script>alert(1)</script></body></html>",
            "HTML title",
        ),
        ("doc.pdf", make_pdf("Seoul reviews its export rules for artillery shells."), "A PDF Title"),
    ],
)
def test_multipart_upload(client: TestClient, filename: str, data: bytes, title: str) -> None:
    r = client.post("/v1/documents", headers=AUTH, files={"file": (filename, data)})
    assert r.status_code == 201, r.text
    assert r.json()["source"] == filename and r.json()["status"] == "added"
    detail = client.get(f"/v1/documents/{filename}").json()
    assert detail["title"] == title
    assert "alert" not in detail["text"]


def test_multipart_source_field_overrides_the_file_name(client: TestClient) -> None:
    r = client.post(
        "/v1/documents", headers=AUTH, files={"file": ("x.txt", b"Some text about Seoul.")}, data={"source": "a/b.txt"}
    )
    assert r.status_code == 201 and r.json()["source"] == "a/b.txt"
    assert client.get("/v1/documents/a/b.txt").status_code == 200


BAD_SOURCES = ["../etc/passwd", "a/../../b", "/etc/passwd", "a\\b.txt", "a\x00b.txt", "C:/x.txt", "./a.txt", "~/a"]


@pytest.mark.parametrize("source", BAD_SOURCES)
def test_path_traversal_sources_are_rejected(harness: Harness, source: str) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    before = engine.store.stats()
    r = client.post("/v1/documents", headers=AUTH, json={"source": source, "text": "Some text."})
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_source", r.text
    r = client.post("/v1/documents", headers=AUTH, files={"file": ("x.txt", b"Some text.")}, data={"source": source})
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_source"
    assert engine.store.stats() == before


def test_path_traversal_in_urls(client: TestClient) -> None:
    for path in ("/v1/documents/..%2Fsecret", "/v1/documents/a/..%2F..%2Fb", "/v1/documents/%2Fetc%2Fpasswd"):
        r = client.get(path)
        assert r.status_code == 400 and r.json()["error"]["type"] == "bad_source", path
        assert client.delete(path, headers=AUTH).status_code == 400
    r = client.post("/v1/documents", headers=AUTH, files={"file": ("../up.txt", b"Some text.")})
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_source"  # the file name is the source


def _assert_unchanged(engine: Engine, client: TestClient, before: IndexStats) -> None:
    assert engine.store.stats() == before
    assert [d["source"] for d in client.get("/v1/documents").json()["documents"]] == [SEED_SOURCE]


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("tool.exe", b"MZ\x90\x00binary", "unsupported file type '.exe'"),
        ("empty.txt", b"", "empty file"),
        ("bin.txt", bytes(range(256)) * 4, "binary file, not text"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "cannot read PDF"),
        ("blank.md", b"   \n\n  ", "no text after extraction"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not valid UTF-8 text"),
    ],
)
def test_bad_uploads_leave_the_index_untouched(harness: Harness, filename: str, data: bytes, message: str) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    before = engine.store.stats()
    r = client.post("/v1/documents", headers=AUTH, files={"file": (filename, data)})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["type"] == "bad_input"
    assert message in r.json()["error"]["message"]
    _assert_unchanged(engine, client, before)


def test_bad_json_documents(harness: Harness) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    before = engine.store.stats()
    cases = [
        ({"source": "a.txt", "text": ""}, 422),
        ({"source": "a.txt"}, 422),
        ({"source": "a.txt", "text": "x", "format": "pdf"}, 422),
        ({"source": "a.txt", "text": "x", "extra": 1}, 422),
        ({"source": "a.txt", "text": "bad\x00binary"}, 400),
        ({"source": "a.html", "text": "<script>only()</script>", "format": "html"}, 400),
    ]
    for body, status in cases:
        r = client.post("/v1/documents", headers=AUTH, json=body)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()) == {"error"}
    r = client.post("/v1/documents", headers={**AUTH, "Content-Type": "text/plain"}, content=b"hello")
    assert r.status_code == 415 and r.json()["error"]["type"] == "unsupported_media_type"
    r = client.post("/v1/documents", headers=AUTH, data={"source": "a.txt"}, files={"other": ("a.txt", b"x")})
    assert r.status_code == 422 and "'file'" in r.json()["error"]["message"]
    _assert_unchanged(engine, client, before)
