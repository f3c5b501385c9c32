"""Ingest: exact spans, idempotence, replace/delete everywhere, bad inputs, a lost FAISS file, interrupts."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from fpdf import FPDF

from index import ChunkRecord, EmbedderMismatchError, IndexStore, content_hash
from rag import cli
from rag import ingest as ingest_module
from rag.engine import Engine
from rag.ingest import IngestSummary, ingest_paths
from rag.settings import Settings
from tests.conftest import FAKE_DIMENSION, SEED_SOURCE, SEEDS_DIR, FakeModelLoads, make_settings
from tests.fakes import HashEmbedder

MARKDOWN = """---
title: Harbour notes
date: 2024-03-01
---
# Harbour notes

The **lighthouse** keeper counts ships every morning. She writes the tally in a blue ledger.

Storms close the harbour about ten days a year. On those days the ferry to the island does not run.
"""

HTML = """<html><head><title>Orchard report</title></head><body>
<nav>Home | About</nav>
<article><h1>Orchard report</h1>
<p>The apple harvest began in September. Pickers filled four hundred crates in the first week.</p>
<p>Pears ripened late because of a cold spring. The cider press opens in October.</p></article>
<footer>© Orchard Co</footer></body></html>
"""

OLD_TEXT = (
    "Zanzibar spice farms\n"
    "Clove trees on the Zanzibar farms flower twice a year. Cardamom grows in the shade of taller trees.\n"
    "Farmers dry the cloves on mats for five days before they sell them at the market in Stone Town."
)
NEW_TEXT = (
    "Glacier survey\n"
    "The survey team measured the glacier with drones this summer. It retreated forty metres since last year.\n"
    "Meltwater lakes formed at the snout, and the team marked them on a new map."
)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def all_chunks(store: IndexStore) -> dict[int, ChunkRecord]:
    """Every chunk reachable through the dense index (an exhaustive search: the index is flat)."""
    n = store.stats().vectors
    if n == 0:
        return {}
    query = np.ones(store.dimension, dtype=np.float32)
    ids = [hit.chunk_id for hit in store.dense_search(query, n)]
    assert len(ids) == n
    return store.chunks(ids)


def chunks_of(store: IndexStore, source: str) -> list[ChunkRecord]:
    return sorted((c for c in all_chunks(store).values() if c.source == source), key=lambda c: c.ord)


def snapshot(store: IndexStore) -> list[tuple[str, str, int]]:
    return [(d.source, d.content_hash, d.n_chunks) for d in sorted(store.list_documents(), key=lambda d: d.source)]


def ingest(engine: Engine, *paths: Path) -> IngestSummary:
    return ingest_paths(engine, list(paths), progress=False)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEEDS_DIR / SEED_SOURCE, folder / SEED_SOURCE)
    write(folder, "notes/harbour.md", MARKDOWN)
    write(folder, "orchard.html", HTML)
    write(folder, "spice.txt", OLD_TEXT)
    return folder


# ---------------------------------------------------------------- spans, idempotence


def test_chunk_spans_are_exact_after_ingest(fake_engine: Engine, corpus: Path) -> None:
    summary = ingest(fake_engine, corpus)

    assert summary.failed == []
    assert {r.source for r in summary.results} == {SEED_SOURCE, "notes/harbour.md", "orchard.html", "spice.txt"}
    assert all(r.status == "added" for r in summary.results)
    store = fake_engine.store
    total = 0
    for doc in store.list_documents():
        text = store.document_text(doc.source)
        chunks = chunks_of(store, doc.source)
        assert len(chunks) == doc.n_chunks > 0
        for chunk in chunks:
            assert text[chunk.start : chunk.end] == chunk.text
        stored = store.content_embeddings(content_hash(text))
        assert stored is not None
        assert [(c.start, c.end) for c in stored] == [(c.start, c.end) for c in chunks]
        total += len(chunks)
    assert store.stats().chunks == total == summary.chunks
    assert store.verify().ok


def test_loaders_feed_ingest(fake_engine: Engine, corpus: Path) -> None:
    ingest(fake_engine, corpus)
    store = fake_engine.store
    md = store.get_document("notes/harbour.md")
    assert (md.title, md.date) == ("Harbour notes", "2024-03-01")
    html = store.document_text("orchard.html")
    assert "Home | About" not in html and "Orchard Co" not in html
    assert "Pickers filled four hundred crates" in html


def test_reingest_is_idempotent(fake_engine: Engine, corpus: Path) -> None:
    ingest(fake_engine, corpus)
    store = fake_engine.store
    before = store.stats()
    faiss_bytes = store.vectors_path.read_bytes()

    again = ingest(fake_engine, corpus)

    assert [r.status for r in again.results] == ["unchanged"] * 4
    assert again.chunks == 0
    after = store.stats()
    assert after.generation == before.generation
    assert (after.documents, after.chunks, after.vectors) == (before.documents, before.chunks, before.vectors)
    assert store.vectors_path.read_bytes() == faiss_bytes


def test_same_text_under_two_sources_is_stored_once(fake_engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "dup"
    write(folder, "a.txt", OLD_TEXT)
    write(folder, "b.txt", OLD_TEXT)
    ingest(fake_engine, folder)
    stats = fake_engine.store.stats()
    assert (stats.documents, stats.contents) == (2, 1)
    fake_engine.store.delete_document("a.txt")
    assert fake_engine.store.bm25_search("Zanzibar", 5)  # b.txt still holds the chunks
    assert fake_engine.store.verify().ok


# ---------------------------------------------------------------- replace / delete


def assert_old_text_gone(engine: Engine) -> None:
    store = engine.store
    assert store.bm25_search("Zanzibar cloves cardamom", 50) == []
    old_vector = engine.embedder.embed_query("Clove trees on the Zanzibar farms flower twice a year.")
    records = store.chunks([h.chunk_id for h in store.dense_search(old_vector, 50)])
    assert records, "the dense index still answers"
    assert not any("Zanzibar" in r.text or "Clove" in r.text for r in records.values())
    assert not any("Zanzibar" in r.text for r in all_chunks(store).values())


def test_changed_file_replaces_the_old_version_everywhere(fake_engine: Engine, corpus: Path) -> None:
    ingest(fake_engine, corpus)
    store = fake_engine.store
    assert store.bm25_search("Zanzibar", 5)
    others = {d.source: d.n_chunks for d in store.list_documents() if d.source != "spice.txt"}

    write(corpus, "spice.txt", NEW_TEXT)
    summary = ingest(fake_engine, corpus)

    statuses = {r.source: r.status for r in summary.results}
    assert statuses.pop("spice.txt") == "replaced"
    assert set(statuses.values()) == {"unchanged"}
    assert_old_text_gone(fake_engine)
    new_chunks = chunks_of(store, "spice.txt")
    assert new_chunks and all("Zanzibar" not in c.text for c in new_chunks)
    assert store.bm25_search("glacier drones", 5)[0].chunk_id in {c.id for c in new_chunks}
    assert store.get_document("spice.txt").n_chunks == len(new_chunks)
    assert store.document_text("spice.txt") == NEW_TEXT
    stats = store.stats()
    assert stats.documents == 4
    assert stats.chunks == stats.vectors == sum(others.values()) + len(new_chunks)
    assert store.verify().ok


def test_replace_and_delete_keep_faiss_fts_and_catalog_in_step(
    fake_engine: Engine, corpus: Path, settings: Settings
) -> None:
    store = fake_engine.store
    ingest(fake_engine, corpus)
    for text in (NEW_TEXT, OLD_TEXT, NEW_TEXT + "\nA second paragraph about ice cores and snow pits."):
        write(corpus, "spice.txt", text)
        ingest(fake_engine, corpus)
        assert store.verify().ok
    store.delete_document("orchard.html")
    assert store.verify().ok
    assert store.bm25_search("cider press", 5) == []
    fake_engine.close()

    reopened = IndexStore.open(
        settings.data_dir, embedder_id=HashEmbedder.model_id, embedder_checksum="hash-v1", dimension=FAKE_DIMENSION
    )
    try:
        report = reopened.verify()
        assert report.ok, report.problems
        assert {d.source for d in reopened.list_documents()} == {SEED_SOURCE, "notes/harbour.md", "spice.txt"}
        assert reopened.stats().vectors == reopened.stats().chunks
    finally:
        reopened.close()


def test_cli_delete_removes_a_document_everywhere(
    fake_models: FakeModelLoads, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "cli-data")
    assert cli.main(["ingest", str(corpus), "--data-dir", data]) == 0
    capsys.readouterr()

    assert cli.main(["delete", "spice.txt", "--data-dir", data]) == 0

    assert capsys.readouterr().out.strip() == "deleted spice.txt"
    engine = Engine.load(make_settings(Path(data)), create=False)
    try:
        assert "spice.txt" not in {d.source for d in engine.store.list_documents()}
        assert_old_text_gone(engine)
        assert engine.store.verify().ok
    finally:
        engine.close()


def test_cli_delete_of_an_unknown_source_fails_with_one_line(
    fake_models: FakeModelLoads, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "cli-data")
    cli.main(["ingest", str(corpus), "--data-dir", data])
    capsys.readouterr()
    assert cli.main(["delete", "nope.txt", "--data-dir", data]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "nope.txt" in err


# ---------------------------------------------------------------- embedder mismatch, lost FAISS file


class OtherEmbedder(HashEmbedder):
    model_id = "other-embedder"
    checksum = "other-v1"


def test_embedder_mismatch_is_refused(fake_engine: Engine, corpus: Path, settings: Settings) -> None:
    ingest(fake_engine, corpus)
    fake_engine.close()
    other = OtherEmbedder(FAKE_DIMENSION)
    with pytest.raises(EmbedderMismatchError, match="hash-embedder"):
        IndexStore.open(
            settings.data_dir, embedder_id=other.model_id, embedder_checksum=other.checksum, dimension=other.dimension
        )
    with pytest.raises(EmbedderMismatchError):
        IndexStore.open(settings.data_dir, embedder_id=HashEmbedder.model_id, embedder_checksum="hash-v1", dimension=32)


@pytest.mark.parametrize("argv", [["search", "harbour"], ["ingest", "{corpus}"], ["index", "stats"]])
def test_cli_reports_embedder_mismatch_in_one_line(
    argv: list[str],
    fake_models: FakeModelLoads,
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = str(tmp_path / "cli-data")
    assert cli.main(["ingest", str(corpus), "--data-dir", data]) == 0
    capsys.readouterr()
    fake_models.embedder = OtherEmbedder(FAKE_DIMENSION)

    rc = cli.main([a.format(corpus=corpus) for a in argv] + ["--data-dir", data])

    captured = capsys.readouterr()
    assert rc == 1
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert "hash-embedder" in captured.err and "other-embedder" in captured.err
    assert captured.out == ""


def test_deleted_faiss_file_is_rebuilt_on_open(
    fake_engine: Engine, corpus: Path, settings: Settings, make_fake_engine: Callable[..., Engine]
) -> None:
    ingest(fake_engine, corpus)
    expected = {cid: rec.text for cid, rec in all_chunks(fake_engine.store).items()}
    query = fake_engine.embedder.embed_query("lighthouse keeper ships")
    hits = fake_engine.store.dense_search(query, 3)
    vectors_path = fake_engine.store.vectors_path
    fake_engine.close()
    vectors_path.unlink()

    engine = make_fake_engine(settings)

    assert engine.store.stats().vectors == len(expected)
    assert {cid: rec.text for cid, rec in all_chunks(engine.store).items()} == expected
    assert engine.store.dense_search(query, 3) == hits
    assert engine.store.verify().ok
    engine.close()
    assert vectors_path.is_file(), "the rebuilt index is written back"


# ---------------------------------------------------------------- bad inputs


def blank_pdf(path: Path) -> Path:
    pdf = FPDF()
    pdf.add_page()
    pdf.output(str(path))
    return path


def test_bad_inputs_are_reported_per_file_and_good_files_still_ingested(
    fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    write(folder, "a-good.txt", OLD_TEXT)
    write(folder, "b-empty.txt", "")
    write(folder, "c-binary.txt", b"\x00\x01\x02\x03PK\x00\x00" * 64)
    write(folder, "d-latin1.txt", "Caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve fa\xe7ade.".encode("latin-1"))
    blank_pdf(folder / "e-blank.pdf")
    write(folder, "f-good.md", MARKDOWN)
    write(folder, "g-ignored.odt", b"PK\x03\x04 not looked at: folders skip unsupported types")
    unsupported = write(tmp_path, "report.odt", b"PK\x03\x04")
    missing = tmp_path / "no-such-file.txt"
    data = str(tmp_path / "cli-data")

    rc = cli.main(["ingest", str(folder), str(unsupported), str(missing), "--data-dir", data])

    captured = capsys.readouterr()
    assert rc == 1
    failures = [line for line in captured.err.splitlines() if line.startswith("failed: ")]
    reasons = {line.split(": ")[1]: ": ".join(line.split(": ")[2:]) for line in failures}
    assert len(failures) == len(captured.err.splitlines()) == 6, captured.err
    assert reasons["b-empty.txt"] == "empty file"
    assert reasons["c-binary.txt"] == "binary file, not text"
    assert reasons["d-latin1.txt"] == "not valid UTF-8 text"
    assert reasons["e-blank.pdf"].startswith("PDF has no extractable text")
    assert reasons[str(unsupported)].startswith("unsupported file type '.odt'")
    assert reasons[str(missing)] == "no such file or directory"
    assert "g-ignored.odt" not in captured.err
    assert "added 2 · replaced 0 · unchanged 0 · failed 6" in captured.out

    engine = Engine.load(make_settings(Path(data)), create=False)
    try:
        assert {d.source for d in engine.store.list_documents()} == {"a-good.txt", "f-good.md"}
        assert engine.store.verify().ok
    finally:
        engine.close()


def test_ingest_paths_reports_failures_without_the_cli(fake_engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    write(folder, "good.txt", NEW_TEXT)
    write(folder, "whitespace.txt", "   \n\n  \t \n")
    summary = ingest(fake_engine, folder, tmp_path / "missing")
    by_source = {r.source: r for r in summary.results}
    assert by_source["good.txt"].status == "added"
    assert by_source["whitespace.txt"].status == "failed" and by_source["whitespace.txt"].reason
    assert by_source[str(tmp_path / "missing")].status == "failed"
    assert all("\n" not in r.reason for r in summary.results)
    assert "failed 2" in summary.line()


# ---------------------------------------------------------------- interrupted ingest


class InterruptingEmbedder(HashEmbedder):
    """Raises KeyboardInterrupt on the ``fail_on``-th call of ``embed_documents`` (a call = one document)."""

    def __init__(self, fail_on: int) -> None:
        super().__init__(FAKE_DIMENSION)
        self.fail_on = fail_on
        self.calls = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt
        return super().embed_documents(texts)


def many_docs(folder: Path, n: int = 30) -> Path:
    for i in range(n):
        write(
            folder,
            f"doc{i:02d}.txt",
            f"Report number {i}\nStation {i} logged {i * 7} millimetres of rain. "
            f"The wind came from the {'north' if i % 2 else 'south'} on day {i}.\n"
            f"Observers at station {i} also counted {i + 3} herons near the river.",
        )
    return folder


@pytest.mark.parametrize(
    ("group_texts", "fail_on", "committed"),
    [
        (1, 12, 11),  # one document per embedding call: 11 calls done, the 12th is interrupted
        (5, 3, 10),  # five one-chunk documents embedded together per call: two groups committed
    ],
)
def test_interrupted_ingest_leaves_the_index_as_after_the_last_committed_document(
    make_fake_engine: Callable[..., Engine],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    group_texts: int,
    fail_on: int,
    committed: int,
) -> None:
    monkeypatch.setattr(ingest_module, "GROUP_TEXTS", group_texts)
    folder = many_docs(tmp_path / "docs")
    settings = make_settings(tmp_path / "data")
    engine = make_fake_engine(settings, embedder=InterruptingEmbedder(fail_on=fail_on))

    with pytest.raises(KeyboardInterrupt):
        ingest(engine, folder)
    engine.close()

    reference = make_fake_engine(make_settings(tmp_path / "reference"))
    ingest(reference, *sorted(folder.iterdir())[:committed])
    resumed = make_fake_engine(settings)
    assert snapshot(resumed.store) == snapshot(reference.store)
    assert len(snapshot(resumed.store)) == committed
    stats, ref_stats = resumed.store.stats(), reference.store.stats()
    assert (stats.documents, stats.chunks, stats.vectors) == (ref_stats.documents, ref_stats.chunks, ref_stats.vectors)
    assert resumed.store.verify().ok

    summary = ingest(resumed, folder)
    assert summary.count("unchanged") == committed and summary.count("added") == 30 - committed
    assert resumed.store.verify().ok


def test_cli_ingest_interrupted_exits_130_and_keeps_committed_documents(
    fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "GROUP_TEXTS", 1)  # one document per embedding call
    folder = many_docs(tmp_path / "docs", 12)
    data = str(tmp_path / "cli-data")
    fake_models.embedder = InterruptingEmbedder(fail_on=6)

    assert cli.main(["ingest", str(folder), "--data-dir", data]) == 130

    assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted"
    fake_models.embedder = None
    engine = Engine.load(make_settings(Path(data)), create=False)
    try:
        assert [d.source for d in sorted(engine.store.list_documents(), key=lambda d: d.source)] == [
            f"doc{i:02d}.txt" for i in range(5)
        ]
        assert engine.store.verify().ok
    finally:
        engine.close()


# ---------------------------------------------------------------- real models


def test_real_models_seed_chunks_are_exact(seed_engine: Engine) -> None:
    store = seed_engine.store
    text = store.document_text(SEED_SOURCE)
    assert text == (SEEDS_DIR / SEED_SOURCE).read_text(encoding="utf-8").strip()
    chunks = chunks_of(store, SEED_SOURCE)
    assert len(chunks) == store.get_document(SEED_SOURCE).n_chunks > 1
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
    assert store.stats().dimension == seed_engine.embedder.dimension == 384
    assert store.verify().ok
