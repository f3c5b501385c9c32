"""Issue 13 at the HTTP edge: bounded uploads that a disconnect cancels, answers that survive a concurrent delete,
trusted proxies, CORS by route, path-free errors, confusable sources, and one per-message limit for chat."""

from __future__ import annotations

import json
import socket
import threading
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import map_exception
from api.schemas import MAX_TURN_CHARS
from index.errors import IndexLockedError
from index.lock import WriterLock
from rag import ingest
from tests.api.helpers import AUTH, Harness, LiveServer, ingest_seed, parse_sse
from tests.conftest import FAKE_DIMENSION, HEADLINE, SEED_SOURCE, make_settings
from tests.fakes import HashEmbedder
from tests.rag.test_snapshot import WriteMidAnswer

EVIL = "https://evil.example"


# ---------------------------------------------------------------- 1. bounded, cancellable uploads


class SlowOnMarker(HashEmbedder):
    """The hashing fake; texts containing ``SLOWMARKER`` take ``delay_s`` each (counted in ``slow_embedded``)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(FAKE_DIMENSION)
        self.delay_s = delay_s
        self.slow_embedded = 0
        self.slow_started = threading.Event()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        for text in texts:
            if "SLOWMARKER" in text:
                self.slow_started.set()
                time.sleep(self.delay_s)
                self.slow_embedded += 1
        return super().embed_documents(texts)


def _slow_text(sentences: int) -> str:
    return " ".join(f"SLOWMARKER sentence {i} about the harbour ferry and its ledger." for i in range(sentences))


def test_an_upload_does_not_block_other_uploads_while_it_embeds(harness: Harness) -> None:
    embedder = SlowOnMarker(delay_s=0.05)
    engine = harness.engine(chunk_max_words=20)
    engine.embedder = embedder
    client = harness.client(engine)
    slow: dict[str, Any] = {}

    def upload_slow() -> None:
        r = client.post("/v1/documents", json={"source": "slow.txt", "text": _slow_text(200)}, headers=AUTH)
        slow["status"] = r.status_code

    worker = threading.Thread(target=upload_slow)
    worker.start()
    try:
        assert embedder.slow_started.wait(10)
        started = time.monotonic()
        r = client.post("/v1/documents", json={"source": "quick.txt", "text": "A quick note."}, headers=AUTH)
        assert r.status_code == 201, r.text
        assert time.monotonic() - started < 5, "the quick upload waited for the slow one's writer lock"
    finally:
        worker.join(60)
    assert slow["status"] == 201
    assert {d.source for d in engine.store.list_documents()} == {SEED_SOURCE, "slow.txt", "quick.txt"}


def test_disconnecting_cancels_an_upload_and_writes_nothing(harness: Harness) -> None:
    embedder = SlowOnMarker(delay_s=0.02)
    engine = harness.engine(chunk_max_words=20)
    engine.embedder = embedder
    before = engine.store.stats()
    body = json.dumps({"source": "slow.txt", "text": _slow_text(1000)}).encode()  # ~1000 chunks: ~20 s
    with LiveServer(create_app(engine.settings, engine)) as live:
        request = (
            f"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
            sock.sendall(request)
            assert embedder.slow_started.wait(10)
        # The client is gone: embedding must stop within a batch or two, and nothing is stored.
        time.sleep(3)
        stopped_at = embedder.slow_embedded
        time.sleep(1)
        assert embedder.slow_embedded == stopped_at, "embedding went on after the client disconnected"
        assert stopped_at < 500
        assert engine.store.stats() == before


def test_an_over_limit_upload_is_a_clear_4xx_naming_the_limit(harness: Harness) -> None:
    engine = harness.engine(seed=False, max_document_chunks=3, chunk_max_words=20)
    client = harness.client(engine)
    r = client.post("/v1/documents", json={"source": "long.txt", "text": _slow_text(50)}, headers=AUTH)
    assert r.status_code == 400 and "max_document_chunks=3" in r.json()["error"]["message"]
    assert engine.store.stats().documents == 0


# ---------------------------------------------------------------- 2. a concurrent delete never fails a question


def test_a_delete_mid_answer_fails_no_route(harness: Harness) -> None:
    engine = harness.engine()
    client = harness.client(engine)

    def arm() -> WriteMidAnswer:
        if not engine.store.list_documents():
            ingest_seed(engine)
        reranker = WriteMidAnswer(lambda: ingest.remove_document(engine, SEED_SOURCE))
        engine.reranker = reranker
        return reranker

    reranker = arm()
    r = client.post("/v1/ask", json={"question": HEADLINE})
    assert reranker.calls >= 2 and not engine.store.list_documents()
    assert r.status_code == 200, r.text
    assert r.json()["citations"]

    reranker = arm()
    messages = [{"role": "user", "content": HEADLINE}]
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": messages})
    assert reranker.calls >= 2 and r.status_code == 200, r.text

    reranker = arm()
    r = client.post("/v1/ask/stream", json={"question": HEADLINE})
    events = parse_sse(r.text)
    assert reranker.calls >= 2
    assert [e.event for e in events][-2:] == ["answer", "done"], r.text

    reranker = arm()
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": messages, "stream": True})
    assert reranker.calls >= 2 and r.status_code == 200
    assert "event: error" not in r.text and r.text.rstrip().endswith("data: [DONE]")


# ---------------------------------------------------------------- 4. CORS: widget routes vs document routes


def test_cors_defaults_are_an_empty_allow_list_and_an_embeddable_widget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RAGQA_CORS_ORIGINS", "RAGQA_WIDGET_ORIGINS", "RAGQA_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    settings = make_settings(tmp_path)
    assert settings.cors_origins == []
    assert settings.widget_origins == ["*"]
    assert settings.trusted_proxies == []


def _preflight(client: TestClient, path: str, method: str, origin: str) -> Any:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type",
    }
    return client.options(path, headers=headers)


def test_document_routes_are_not_readable_from_another_site(harness: Harness) -> None:
    client = harness.client(cors_origins=[], widget_origins=["*"])
    for path in ("/v1/documents", f"/v1/documents/{SEED_SOURCE}", "/v1/search?q=Seoul"):
        r = client.get(path, headers={"Origin": EVIL})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers, path
    assert "access-control-allow-origin" not in _preflight(client, "/v1/documents", "POST", EVIL).headers


def test_the_widget_routes_work_from_any_site_by_default(harness: Harness) -> None:
    client = harness.client(cors_origins=[], widget_origins=["*"])
    for path in ("/v1/ask", "/v1/ask/stream", "/v1/chat/completions"):
        r = _preflight(client, path, "POST", EVIL)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == EVIL, path
    r = client.post("/v1/ask", json={"question": HEADLINE}, headers={"Origin": EVIL})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == EVIL


def test_explicit_allow_lists(harness: Harness) -> None:
    client = harness.client(cors_origins=["https://admin.example"], widget_origins=["https://blog.example"])
    r = client.get("/v1/documents", headers={"Origin": "https://admin.example"})
    assert r.headers["access-control-allow-origin"] == "https://admin.example"
    assert "access-control-allow-origin" not in client.get("/v1/documents", headers={"Origin": EVIL}).headers
    assert _preflight(client, "/v1/ask", "POST", "https://blog.example").status_code == 200
    assert _preflight(client, "/v1/ask", "POST", "https://admin.example").status_code == 200
    assert "access-control-allow-origin" not in _preflight(client, "/v1/ask", "POST", EVIL).headers


# ---------------------------------------------------------------- 5. errors name the document, never the path


def test_not_found_errors_do_not_reveal_the_data_dir(harness: Harness) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    data_dir = engine.settings.data_dir
    for r in (
        client.get("/v1/documents/missing.txt"),
        client.delete("/v1/documents/missing.txt", headers=AUTH),
    ):
        assert r.status_code == 404
        message = r.json()["error"]["message"]
        assert "missing.txt" in message
        assert str(data_dir) not in r.text and str(data_dir.resolve()) not in r.text and "/tmp" not in r.text


def test_index_locked_errors_do_not_reveal_the_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "secret-place" / "write.lock"
    path.parent.mkdir()
    other = filelock.FileLock(str(path), thread_local=False)
    other.acquire()
    try:
        with pytest.raises(IndexLockedError) as info, WriterLock(path).hold(timeout=0.1):
            pass
    finally:
        other.release()
    mapped = map_exception(info.value)
    assert mapped.status == 503 and mapped.kind == "index_locked"
    assert "secret-place" not in mapped.message and str(tmp_path) not in mapped.message


# ---------------------------------------------------------------- 6. confusable source names


def test_sources_are_nfc_so_nfc_and_nfd_are_one_document(harness: Harness) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    nfc = "café.txt"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    r = client.post("/v1/documents", json={"source": nfc, "text": "First version of the note."}, headers=AUTH)
    assert r.status_code == 201
    r = client.post("/v1/documents", json={"source": nfd, "text": "Second version of the note."}, headers=AUTH)
    assert r.status_code == 201 and r.json()["status"] == "replaced" and r.json()["source"] == nfc
    cafes = [d["source"] for d in client.get("/v1/documents").json()["documents"] if d["source"].startswith("caf")]
    assert cafes == [nfc]
    r = client.get(f"/v1/documents/{nfd}")
    assert r.status_code == 200 and r.json()["source"] == nfc
    files = {"file": (nfd, b"Third version of the note.")}
    r = client.post("/v1/documents", files=files, headers=AUTH)
    assert r.status_code == 201 and r.json()["source"] == nfc
    assert client.delete(f"/v1/documents/{nfd}", headers=AUTH).status_code == 200


@pytest.mark.parametrize("source", [" lead.txt", "trail.txt ", "folder/", "a//b.txt", "tab\t.txt", "\u00a0nbsp.txt"])
def test_confusable_sources_are_a_clear_400(harness: Harness, source: str) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    before = engine.store.stats()
    r = client.post("/v1/documents", json={"source": source, "text": "Some text here."}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_source", r.text
    assert engine.store.stats() == before


def test_the_cli_stores_nfc_sources_too(harness: Harness, tmp_path: Path) -> None:
    engine = harness.engine(seed=False)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / unicodedata.normalize("NFD", "résumé.txt")).write_text("A note.", encoding="utf-8")
    summary = ingest.ingest_paths(engine, [folder], progress=False)
    assert not summary.failed
    assert [d.source for d in engine.store.list_documents()] == ["résumé.txt"]


# ---------------------------------------------------------------- 8. one per-message limit on both routes


@pytest.mark.parametrize("length", [MAX_TURN_CHARS + 1, 30_000])
def test_chat_history_has_the_per_message_limit_of_ask(client: TestClient, length: int) -> None:
    long = "y " * (length // 2) + "y" * (length % 2)
    history = [{"role": "user", "content": long}, {"role": "assistant", "content": "ok"}]
    r = client.post("/v1/ask", json={"question": HEADLINE, "history": history})
    assert r.status_code == 422
    messages = [*history, {"role": "user", "content": HEADLINE}]
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": messages})
    assert r.status_code == 422, r.text
    assert str(MAX_TURN_CHARS) in r.json()["error"]["message"]


def test_chat_history_at_the_limit_is_accepted(client: TestClient) -> None:
    at_limit = ("y " * MAX_TURN_CHARS)[:MAX_TURN_CHARS]
    messages = [
        {"role": "user", "content": at_limit},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": HEADLINE},
    ]
    assert client.post("/v1/chat/completions", json={"model": "m", "messages": messages}).status_code == 200
