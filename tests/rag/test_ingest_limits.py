"""Bounded ingest work (issue 13, defect 1): size limits checked before the expensive step, a time budget per
file, cancellation, and the writer lock held only for the commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.documents import LoadedDocument, load_bytes, load_text
from rag.engine import Engine
from rag.errors import BadInputError
from rag.ingest import add_document, ingest_paths
from rag.settings import Settings
from tests.conftest import FAKE_DIMENSION, make_settings
from tests.fakes import HashEmbedder
from tests.reliability.test_hostile import _page_pdf


class CountingEmbedder(HashEmbedder):
    """The hashing fake, counting the texts it embedded; ``delay_s`` per text mimics model work, and
    ``block`` (when given) holds it before its first text until set."""

    def __init__(self, delay_s: float = 0.0, block: threading.Event | None = None) -> None:
        super().__init__(FAKE_DIMENSION)
        self.delay_s = delay_s
        self.block = block
        self.embedded = 0
        self.started = threading.Event()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.started.set()
        if self.block is not None:
            assert self.block.wait(20), "the test never released the embedder"
        for _ in texts:
            time.sleep(self.delay_s)
            self.embedded += 1
        return super().embed_documents(texts)


def _sentences(n: int) -> str:
    return " ".join(f"Sentence number {i} talks about harbour ledger {i % 7} and ferries." for i in range(n))


@pytest.fixture
def engine_with(tmp_path: Path, make_fake_engine: Callable[..., Engine]) -> Callable[..., Engine]:
    def make(embedder: HashEmbedder | None = None, **overrides: object) -> Engine:
        settings = make_settings(tmp_path / "data", chunk_max_words=20, **overrides)
        return make_fake_engine(settings, embedder=embedder or CountingEmbedder())

    return make


def test_too_many_chunks_is_rejected_before_embedding(engine_with: Callable[..., Engine]) -> None:
    embedder = CountingEmbedder()
    engine = engine_with(embedder, max_document_chunks=5)
    with pytest.raises(BadInputError, match="max_document_chunks=5"):
        add_document(engine, load_text(_sentences(40), source="long.txt"))
    assert embedder.embedded == 0
    assert engine.store.stats().documents == 0


def test_one_huge_sentence_is_rejected_by_the_chunk_limit(engine_with: Callable[..., Engine]) -> None:
    """The probe's case: one 'sentence' of many words (chunked by words) is bounded the same way."""
    embedder = CountingEmbedder()
    engine = engine_with(embedder, max_document_chunks=50)
    with pytest.raises(BadInputError, match="max_document_chunks"):
        add_document(engine, load_text("lorem ipsum dolor sit amet " * 2000, source="s.txt"))
    assert embedder.embedded == 0


def test_too_many_characters_is_rejected_before_chunking(engine_with: Callable[..., Engine]) -> None:
    embedder = CountingEmbedder()
    engine = engine_with(embedder, max_document_chars=1000)
    with pytest.raises(BadInputError, match="max_document_chars=1000"):
        add_document(engine, load_text(_sentences(30), source="long.txt"))
    assert embedder.embedded == 0 and engine.store.stats().documents == 0


def test_the_same_limits_apply_to_the_cli_ingest(engine_with: Callable[..., Engine], tmp_path: Path) -> None:
    engine = engine_with(max_document_chunks=5)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "long.txt").write_text(_sentences(40), encoding="utf-8")
    (folder / "short.txt").write_text("A short note about the harbour ferry.", encoding="utf-8")
    summary = ingest_paths(engine, [folder], progress=False)
    assert [r.source for r in summary.failed] == ["long.txt"]
    assert "max_document_chunks=5" in summary.failed[0].reason
    assert [d.source for d in engine.store.list_documents()] == ["short.txt"]


def test_max_document_bytes_bounds_ingest_and_sync_of_files(engine_with: Callable[..., Engine], tmp_path: Path) -> None:
    """One size limit for document files, from settings: a file of exactly ``max_document_bytes`` is read, one
    byte more is refused before it is parsed, by ``ragqa ingest`` and ``ragqa sync`` alike."""
    from rag.sync import sync_folder

    text = "A short note about the harbour ferry. " * 30
    limit = len(text.encode())
    engine = engine_with(max_document_bytes=limit)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "exact.txt").write_text(text, encoding="utf-8")
    (folder / "over.txt").write_text(text + "!", encoding="utf-8")
    summary = ingest_paths(engine, [folder], progress=False)
    assert [r.source for r in summary.failed] == ["over.txt"]
    assert summary.failed[0].reason == f"file too large ({limit + 1} bytes > {limit} bytes)"
    assert [d.source for d in engine.store.list_documents()] == ["exact.txt"]
    synced = sync_folder(engine, folder, collection="synced", progress=False)
    assert [(r.source, r.status) for r in synced.changed if r.status == "failed"] == [("over.txt", "failed")]
    assert "file too large" in next(r.reason for r in synced.changed if r.source == "over.txt")


def test_document_bytes_default_is_above_the_upload_limit() -> None:
    """Two limits with two meanings: any document file (20 MiB) and, smaller, one HTTP upload (10 MB)."""
    defaults = Settings.model_fields
    assert defaults["max_document_bytes"].default == 20 * 1024 * 1024
    assert defaults["max_upload_bytes"].default == 10_000_000


def _tj_pdf(operators: int) -> bytes:
    return _page_pdf(b"3 0 R", 1, b"BT /F1 12 Tf 72 720 Td " + b"(word) Tj\n" * operators + b" ET")


def test_a_pdf_page_is_cut_while_it_is_extracted(engine_with: Callable[..., Engine]) -> None:
    """A one-page PDF of many text operators is rejected by the per-page limit during extraction."""
    engine = engine_with(max_page_chars=1000)
    data = _tj_pdf(3000)  # 12,000 characters on one page
    settings = engine.settings
    with pytest.raises(BadInputError, match="max_page_chars=1000"):
        add_document(engine, load_bytes_bounded(data, settings))
    assert engine.store.stats().documents == 0


def load_bytes_bounded(data: bytes, settings: Settings) -> LoadedDocument:
    """``load_bytes`` under the budget of ``settings`` (what uploads and the CLI do)."""
    from rag.budget import IngestBudget, budget_scope

    with budget_scope(IngestBudget.from_settings(settings)):
        return load_bytes(data, source="ops.pdf")


def test_a_pdf_within_the_page_limit_still_loads(engine_with: Callable[..., Engine]) -> None:
    engine = engine_with(max_page_chars=20_000)
    doc = load_bytes_bounded(_tj_pdf(3000), engine.settings)
    assert len(doc.text) >= 12_000


def test_the_time_budget_stops_embedding_and_writes_nothing(engine_with: Callable[..., Engine]) -> None:
    embedder = CountingEmbedder(delay_s=0.02)
    engine = engine_with(embedder, ingest_time_budget_s=1.0)
    doc = load_text(_sentences(400), source="slow.txt")  # ~200 chunks: ~4 s of embedding
    started = time.monotonic()
    with pytest.raises(BadInputError, match="ingest_time_budget_s=1"):
        add_document(engine, doc)
    assert time.monotonic() - started < 3.0
    assert 0 < embedder.embedded < 150
    assert engine.store.stats().documents == 0 and engine.store.verify().ok


def test_a_cancelled_ingest_stops_embedding_and_writes_nothing(engine_with: Callable[..., Engine]) -> None:
    from rag.errors import WorkCancelled

    embedder = CountingEmbedder(delay_s=0.02)
    engine = engine_with(embedder)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(WorkCancelled):
        add_document(engine, load_text(_sentences(400), source="slow.txt"), cancel=cancel)
    assert 0 < embedder.embedded < 150
    assert engine.store.stats().documents == 0


def test_the_writer_lock_is_free_while_a_document_is_embedded(engine_with: Callable[..., Engine]) -> None:
    """Another upload commits while the first one is still embedding (it used to wait, then fail locked)."""
    release = threading.Event()
    slow = CountingEmbedder(block=release)
    engine = engine_with(slow)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            add_document(engine, load_text(_sentences(20), source="big.txt"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert slow.started.wait(10)
        # The embedder is blocked inside the first upload: the store's writer lock must be free now.
        with engine.store.writer(timeout=0.5):
            pass
    finally:
        release.set()
        worker.join(20)
    assert not errors
    assert [d.source for d in engine.store.list_documents()] == ["big.txt"]
