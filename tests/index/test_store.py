"""IndexStore: catalog, FTS5 and FAISS kept in step; recovery; locking; refresh."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from index import (
    ChunkFilter,
    CorruptIndexError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    IndexLockedError,
    IndexStore,
    NewChunk,
    StorageError,
    content_hash,
)
from tests.index.helpers import CHECKSUM, DIM, EMBEDDER, add, make_chunks, open_store, unit

TEXT_A = "Photosynthesis converts sunlight into chemical energy inside chloroplasts of green plants."
TEXT_B = "The Treaty of Westphalia ended the Thirty Years War in 1648 and reshaped European diplomacy."
TEXT_C = "Quantum entanglement links particles so that measuring one instantly constrains the other."


def ids_of(hits: list) -> list[int]:
    return [h.chunk_id for h in hits]


def gen(store: IndexStore) -> int:
    return store.stats().generation


# ---------------------------------------------------------------------------------------------- basics
def test_add_get_list(store: IndexStore, rng: np.random.Generator) -> None:
    assert (
        store.upsert_document(
            source="b.md",
            title="B",
            text=TEXT_B,
            chunks=make_chunks(TEXT_B, rng),
            date="2024-05-01",
            meta={"k": "v"},
        )
        == "added"
    )
    add(store, "a.md", TEXT_A, rng)
    doc = store.get_document("b.md")
    assert doc.title == "B"
    assert doc.date == "2024-05-01"
    assert doc.meta == {"k": "v"}
    assert doc.content_hash == content_hash(TEXT_B)
    assert doc.n_chars == len(TEXT_B)
    assert doc.n_chunks == len(make_chunks(TEXT_B, rng))
    assert store.document_text("b.md") == TEXT_B
    assert [d.source for d in store.list_documents()] == ["a.md", "b.md"]
    stats = store.stats()
    assert (stats.documents, stats.contents) == (2, 2)
    assert stats.chunks == stats.vectors > 0
    assert stats.embedder_id == EMBEDDER and stats.dimension == DIM
    with pytest.raises(DocumentNotFoundError):
        store.get_document("missing.md")
    with pytest.raises(DocumentNotFoundError):
        store.document_text("missing.md")
    with pytest.raises(DocumentNotFoundError):
        store.delete_document("missing.md")


def test_chunks_resolve_to_document(store: IndexStore, rng: np.random.Generator) -> None:
    chunks = add(store, "a.md", TEXT_A, rng)
    hit = store.dense_search(chunks[1].embedding, 1)[0]
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    record = store.chunks([hit.chunk_id, 999_999])[hit.chunk_id]
    assert record.source == "a.md" and record.title == "A.MD" and record.ord == 1
    assert TEXT_A[record.start : record.end] == record.text == chunks[1].text
    assert 999_999 not in store.chunks([hit.chunk_id, 999_999])


def test_document_state_and_content_embeddings(store: IndexStore, rng: np.random.Generator) -> None:
    digest = content_hash(TEXT_A)
    assert store.document_state("a.md", digest) == "new"
    assert store.content_embeddings(digest) is None
    chunks = add(store, "a.md", TEXT_A, rng)
    assert store.document_state("a.md", digest) == "unchanged"
    assert store.document_state("a.md", content_hash(TEXT_B)) == "changed"
    stored = store.content_embeddings(digest)
    assert stored is not None
    assert [(c.start, c.end, c.text) for c in stored] == [(c.start, c.end, c.text) for c in chunks]
    for got, want in zip(stored, chunks, strict=True):
        np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        {"text": ""},
        {"chunks": [NewChunk(start=0, end=10_000, text="x", embedding=np.ones(DIM, np.float32))]},
        {"chunks": [NewChunk(start=5, end=5, text="", embedding=np.ones(DIM, np.float32))]},
        {"chunks": [NewChunk(start=-1, end=3, text="Pho", embedding=np.ones(DIM, np.float32))]},
        {"chunks": [NewChunk(start=0, end=5, text="Wrong", embedding=np.ones(DIM, np.float32))]},
        {"chunks": [NewChunk(start=0, end=5, text="Photo", embedding=np.ones(DIM + 1, np.float32))]},
        {"chunks": [NewChunk(start=0, end=5, text="Photo", embedding=np.zeros(DIM, np.float32))]},
        {"date": "May 2024"},
        {"date": "2024-13-01"},
    ],
)
def test_invalid_upsert_writes_nothing(store: IndexStore, rng: np.random.Generator, bad: dict) -> None:
    kwargs: dict = {"source": "a.md", "title": "A", "text": TEXT_A, "chunks": make_chunks(TEXT_A, rng)}
    if "text" in bad:
        kwargs["chunks"] = []
    kwargs.update(bad)
    before = gen(store)
    with pytest.raises(ValueError):
        store.upsert_document(**kwargs)
    assert store.list_documents() == []
    assert gen(store) == before
    stats = store.stats()
    assert stats.chunks == stats.vectors == stats.contents == 0


def test_good_chunks_after_a_bad_one_are_not_written(store: IndexStore, rng: np.random.Generator) -> None:
    chunks = make_chunks(TEXT_A, rng)
    chunks.append(NewChunk(start=0, end=3, text="XXX", embedding=unit(rng)))
    with pytest.raises(ValueError, match="chunk"):
        store.upsert_document(source="a.md", title="A", text=TEXT_A, chunks=chunks)
    assert store.stats().chunks == 0
    assert store.bm25_search("photosynthesis", 5) == []


def test_idempotent_upsert(store: IndexStore, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)
    g = gen(store)
    chunk_ids = {h.chunk_id for h in store.bm25_search("photosynthesis chloroplasts", 10)}
    assert store.upsert_document(source="a.md", title="A", text=TEXT_A, chunks=make_chunks(TEXT_A, rng)) == (
        "unchanged"
    )
    assert gen(store) == g
    assert {h.chunk_id for h in store.bm25_search("photosynthesis chloroplasts", 10)} == chunk_ids
    assert store.stats().chunks == len(make_chunks(TEXT_A, rng))


# ---------------------------------------------------------------------------------------------- in step
def test_replace_keeps_catalog_fts_faiss_in_step(store: IndexStore, rng: np.random.Generator) -> None:
    old = add(store, "a.md", TEXT_A, rng)
    old_ids = set(ids_of(store.bm25_search("photosynthesis", 10)))
    assert old_ids
    new = make_chunks(TEXT_C, rng)
    assert store.upsert_document(source="a.md", title="A2", text=TEXT_C, chunks=new) == "replaced"
    assert store.get_document("a.md").title == "A2"
    assert store.bm25_search("photosynthesis", 10) == []
    dense = ids_of(store.dense_search(old[0].embedding, 50))
    assert not old_ids & set(dense)
    assert store.chunks(sorted(old_ids)) == {}
    top = store.dense_search(new[0].embedding, 1)[0]
    assert top.score == pytest.approx(1.0, abs=1e-5)
    assert store.chunks([top.chunk_id])[top.chunk_id].text == new[0].text
    assert store.bm25_search("entanglement", 5)
    stats = store.stats()
    assert stats.contents == 1 and stats.chunks == stats.vectors == len(new)
    assert store.verify().ok


def test_delete_keeps_them_in_step(store: IndexStore, rng: np.random.Generator) -> None:
    a = add(store, "a.md", TEXT_A, rng)
    add(store, "b.md", TEXT_B, rng)
    store.delete_document("a.md")
    assert [d.source for d in store.list_documents()] == ["b.md"]
    assert store.bm25_search("photosynthesis", 10) == []
    assert all(store.chunks([h.chunk_id]) for h in store.dense_search(a[0].embedding, 50))
    assert {r.source for r in store.chunks(ids_of(store.dense_search(a[0].embedding, 50))).values()} == {"b.md"}
    stats = store.stats()
    assert stats.contents == 1 and stats.chunks == stats.vectors
    assert store.verify().ok


def test_duplicate_content_stored_once(store: IndexStore, rng: np.random.Generator) -> None:
    first = add(store, "one.md", TEXT_A, rng)
    assert store.upsert_document(source="two.md", title="Two", text=TEXT_A, chunks=make_chunks(TEXT_A, rng)) == (
        "added"
    )
    stats = store.stats()
    assert (stats.documents, stats.contents) == (2, 1)
    assert stats.chunks == stats.vectors == len(first)
    hits = store.bm25_search("photosynthesis", 10)
    assert len(hits) == 1
    # resolves to the lowest document id matching the filter
    assert store.chunks(ids_of(hits))[hits[0].chunk_id].source == "one.md"
    only_two = ChunkFilter(source_glob="two*")
    assert store.chunks(ids_of(hits), only_two)[hits[0].chunk_id].source == "two.md"
    store.delete_document("one.md")
    hits = store.bm25_search("photosynthesis", 10)
    assert store.chunks(ids_of(hits))[hits[0].chunk_id].source == "two.md"
    dense = store.dense_search(first[0].embedding, 1)
    assert dense[0].score == pytest.approx(1.0, abs=1e-5)
    assert store.stats().chunks == len(first)
    assert store.verify().ok
    store.delete_document("two.md")
    stats = store.stats()
    assert (stats.documents, stats.contents, stats.chunks, stats.vectors) == (0, 0, 0, 0)
    assert store.verify().ok


def test_replace_with_content_shared_elsewhere(store: IndexStore, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)
    add(store, "b.md", TEXT_B, rng)
    assert store.upsert_document(source="a.md", title="A", text=TEXT_B, chunks=[]) == "replaced"
    stats = store.stats()
    assert (stats.documents, stats.contents) == (2, 1)
    assert stats.chunks == stats.vectors
    assert store.bm25_search("photosynthesis", 5) == []
    assert store.verify().ok


# ---------------------------------------------------------------------------------------------- bm25
@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "*",
        "photo*",
        "AND OR NOT",
        "(",
        ")",
        "near/3",
        "NEAR(a b)",
        "a:b",
        "^x",
        "-",
        "😀🚀",
        "",
        "   ",
        "col:photosynthesis",
        "'; DROP TABLE chunks; --",
        "{x y}",
        "a + b",
        "\x00",
        "é" * 500,
    ],
)
def test_bm25_hostile_queries_never_raise(store: IndexStore, rng: np.random.Generator, query: str) -> None:
    add(store, "a.md", TEXT_A, rng)
    hits = store.bm25_search(query, 5)
    assert isinstance(hits, list)


def test_bm25_ranks_and_stems(store: IndexStore, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)
    add(store, "b.md", TEXT_B, rng)
    hits = store.bm25_search("What ENDED the war? (treaty) AND OR", 5)
    assert hits and hits == sorted(hits, key=lambda h: -h.score)
    assert {r.source for r in store.chunks(ids_of(hits)).values()} == {"b.md"}
    assert store.bm25_search("converting", 5)  # porter: converting ~ converts
    assert store.bm25_search("", 5) == []
    assert store.bm25_search("photosynthesis", 0) == []


# ---------------------------------------------------------------------------------------------- filters
def test_filters_on_both_legs(store: IndexStore, rng: np.random.Generator) -> None:
    text = "common words shared by every document here"
    docs = {
        "news/2023.md": "2023-06-01",
        "news/2024.md": "2024-06-01",
        "blog/2024.md": "2024-07-01",
        "undated.md": None,
    }
    vectors: dict[str, np.ndarray] = {}
    for i, (source, date) in enumerate(docs.items()):
        body = f"{text} number{i}"
        chunks = make_chunks(body, rng, size=1000)
        vectors[source] = chunks[0].embedding
        store.upsert_document(source=source, title=source, text=body, chunks=chunks, date=date)

    def sources(hits: list, filters: ChunkFilter | None) -> set[str]:
        return {r.source for r in store.chunks(ids_of(hits), filters).values()}

    cases = [
        (ChunkFilter(source_glob="news/*"), {"news/2023.md", "news/2024.md"}),
        (ChunkFilter(date_from="2024-01-01"), {"news/2024.md", "blog/2024.md"}),
        (ChunkFilter(date_to="2024-06-01"), {"news/2023.md", "news/2024.md"}),
        (ChunkFilter(source_glob="news/*", date_from="2024-01-01", date_to="2024-12-31"), {"news/2024.md"}),
        (ChunkFilter(source_glob="nothing/*"), set()),
        (ChunkFilter(), set(docs)),
    ]
    for filters, want in cases:
        bm = store.bm25_search("common words", 10, filters)
        assert sources(bm, filters) == want, filters
        assert len(bm) == len(want)
        dense = store.dense_search(vectors["undated.md"], 10, filters)
        assert sources(dense, filters) == want, filters
        assert len(dense) == len(want)
    # the filtered dense search still ranks by similarity
    top = store.dense_search(vectors["blog/2024.md"], 1, ChunkFilter(date_from="2024-01-01"))
    assert store.chunks(ids_of(top))[top[0].chunk_id].source == "blog/2024.md"


def test_dense_search_input_checks(store: IndexStore, rng: np.random.Generator) -> None:
    assert store.dense_search(unit(rng), 5) == []  # empty index
    add(store, "a.md", TEXT_A, rng)
    with pytest.raises(ValueError):
        store.dense_search(np.ones(DIM + 2, np.float32), 5)
    assert store.dense_search(np.zeros(DIM, np.float32), 5) == []
    assert len(store.dense_search(unit(rng), 100)) == store.stats().chunks


# ---------------------------------------------------------------------------------------------- recovery
def _populate(data_dir: Path, rng: np.random.Generator) -> list[NewChunk]:
    with open_store(data_dir) as s, s.writer():
        chunks = add(s, "a.md", TEXT_A, rng)
        add(s, "b.md", TEXT_B, rng)
    return chunks


def _assert_searchable(data_dir: Path, chunks: list[NewChunk]) -> None:
    with open_store(data_dir) as s:
        top = s.dense_search(chunks[0].embedding, 1)
        assert top[0].score == pytest.approx(1.0, abs=1e-5)
        assert s.chunks(ids_of(top))[top[0].chunk_id].text == chunks[0].text
        report = s.verify()
        assert report.ok, report.problems


def test_flush_writes_manifest(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    _populate(data, rng)
    manifest = json.loads((data / "manifest.json").read_text())
    with open_store(data) as s:
        stats = s.stats()
    assert manifest["generation"] == stats.generation
    assert manifest["vectors"] == stats.vectors == stats.chunks
    assert manifest["embedder_id"] == EMBEDDER and manifest["embedder_checksum"] == CHECKSUM
    assert manifest["dimension"] == DIM and manifest["metric"] == "inner_product" and manifest["normalized"]
    for key in ("faiss_version", "numpy_version", "sqlite_version", "schema_version", "faiss_sha256"):
        assert manifest[key]
    assert not list(data.glob("*.tmp"))


def test_faiss_file_deleted_is_rebuilt(tmp_path: Path, rng: np.random.Generator, caplog) -> None:
    data = tmp_path / "data"
    chunks = _populate(data, rng)
    (data / "vectors.faiss").unlink()
    with caplog.at_level(logging.WARNING, logger="index"):
        _assert_searchable(data, chunks)
    assert any("rebuilding" in r.message for r in caplog.records)
    assert (data / "vectors.faiss").exists()


def test_faiss_file_corrupted_is_rebuilt(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    chunks = _populate(data, rng)
    (data / "vectors.faiss").write_bytes(b"\x00garbage" * 100)
    _assert_searchable(data, chunks)


def test_faiss_unreadable_with_matching_manifest_is_rebuilt(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    chunks = _populate(data, rng)
    garbage = b"not a faiss index" * 10
    manifest = json.loads((data / "manifest.json").read_text())
    import hashlib

    manifest["faiss_sha256"] = hashlib.sha256(garbage).hexdigest()
    (data / "vectors.faiss").write_bytes(garbage)
    (data / "manifest.json").write_text(json.dumps(manifest))
    _assert_searchable(data, chunks)


def test_manifest_missing_or_garbage_is_rebuilt(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    chunks = _populate(data, rng)
    (data / "manifest.json").write_text("{not json")
    _assert_searchable(data, chunks)
    (data / "manifest.json").unlink()
    _assert_searchable(data, chunks)


def test_stale_faiss_after_crash_is_rebuilt(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    _populate(data, rng)
    flushed_generation = json.loads((data / "manifest.json").read_text())["generation"]
    crashed = open_store(data)
    late = add(crashed, "c.md", TEXT_C, rng)  # committed to the catalog, never flushed ("crash")
    assert json.loads((data / "manifest.json").read_text())["generation"] == flushed_generation
    with open_store(data) as s:
        assert s.stats().generation > flushed_generation
        top = s.dense_search(late[0].embedding, 1)
        assert top[0].score == pytest.approx(1.0, abs=1e-5)
        assert s.chunks(ids_of(top))[top[0].chunk_id].source == "c.md"
        assert s.verify().ok
    assert json.loads((data / "manifest.json").read_text())["generation"] > flushed_generation
    crashed._catalog.close()  # drop the connection without flushing


def test_embedder_mismatch(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    _populate(data, rng)
    with pytest.raises(EmbedderMismatchError) as err:
        open_store(data, embedder_id="other-embedder")
    message = str(err.value)
    assert EMBEDDER in message and "other-embedder" in message
    assert "another data dir" in message
    with pytest.raises(EmbedderMismatchError):
        open_store(data, dimension=DIM * 2)


def test_corrupt_catalog(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "catalog.sqlite3").write_bytes(b"this is definitely not sqlite " * 200)
    with pytest.raises(CorruptIndexError) as err:
        open_store(data)
    assert str(data / "catalog.sqlite3") in str(err.value)


def test_catalog_without_tables_is_corrupt(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "catalog.sqlite3") as conn:
        conn.execute("CREATE TABLE other(x)")
    conn.close()
    with pytest.raises(CorruptIndexError, match=r"catalog\.sqlite3"):
        open_store(data)


def test_open_without_create(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="ragqa ingest"):
        open_store(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing" / "catalog.sqlite3").exists()


def test_rebuild(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    chunks = _populate(data, rng)
    with open_store(data) as s:
        g = s.stats().generation
        s.rebuild()
        assert s.stats().generation > g
        assert s.bm25_search("photosynthesis", 5)
        assert s.verify().ok
    _assert_searchable(data, chunks)


# ---------------------------------------------------------------------------------------------- verify
def test_verify_good_and_tampered(store: IndexStore, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)
    add(store, "b.md", TEXT_B, rng)
    store.flush()
    report = store.verify()
    assert report.ok and report.problems == []
    assert report.checked_chunks == store.stats().chunks
    victim = store.bm25_search("photosynthesis", 1)[0].chunk_id
    store._vectors.remove(np.array([victim], dtype=np.int64))  # tamper with the in-memory FAISS index
    report = store.verify()
    assert not report.ok
    assert any("FAISS" in p for p in report.problems)


def test_verify_reports_tampered_catalog(store: IndexStore, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)
    store._catalog.conn.execute("UPDATE chunks SET text = 'tampered' WHERE id = (SELECT MIN(id) FROM chunks)")
    store._catalog.conn.execute("DELETE FROM chunks_fts WHERE rowid = (SELECT MAX(id) FROM chunks)")
    report = store.verify()
    assert not report.ok
    assert any("text does not match" in p for p in report.problems)
    assert any("FTS" in p or "fts5" in p for p in report.problems)


# ---------------------------------------------------------------------------------------------- locking
LOCK_HOLDER = """
import sys, time, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_writer_times_out(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    with open_store(data) as s:
        proc = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, str(data / "write.lock")], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "locked"
            with pytest.raises(IndexLockedError) as err, s.writer(timeout=0.3):
                pass
            assert "another process is writing" in str(err.value)
            assert str(data / "write.lock") in str(err.value)
        finally:
            proc.kill()
            proc.wait()
        with s.writer(timeout=5):  # free again once the other process is gone
            add(s, "a.md", TEXT_A, rng)
        assert s.get_document("a.md")


def test_writer_is_reentrant_and_flushes(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    with open_store(data) as s:
        with s.writer(), s.writer():
            add(s, "a.md", TEXT_A, rng)
        manifest = json.loads((data / "manifest.json").read_text())
        assert manifest["generation"] == s.stats().generation


def test_writer_lock_excludes_other_threads(store: IndexStore, rng: np.random.Generator) -> None:
    errors: list[Exception] = []
    with store.writer():

        def other() -> None:
            try:
                with store.writer(timeout=0.2):
                    pass
            except IndexLockedError as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1


# ---------------------------------------------------------------------------------------------- readers
def test_refresh_sees_other_store(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    with open_store(data) as writer_store, open_store(data) as reader:
        assert reader.refresh() is False
        chunks = add(writer_store, "a.md", TEXT_A, rng)  # not flushed: the reader rebuilds from the catalog
        assert reader.refresh() is True
        assert reader.refresh() is False
        top = reader.dense_search(chunks[0].embedding, 1)
        assert top[0].score == pytest.approx(1.0, abs=1e-5)
        with writer_store.writer():
            more = add(writer_store, "c.md", TEXT_C, rng)
        # flushed: the reader can load the file; searches refresh implicitly
        top = reader.dense_search(more[0].embedding, 1)
        assert reader.chunks(ids_of(top))[top[0].chunk_id].source == "c.md"
        assert reader.bm25_search("entanglement", 5)
        assert reader.verify().ok


def test_concurrent_threads(store: IndexStore, rng: np.random.Generator) -> None:
    texts = [f"document number {i} talks about topic{i} and shared words" for i in range(20)]
    payloads = [make_chunks(t, rng) for t in texts]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i, (t, c) in enumerate(zip(texts, payloads, strict=True)):
                store.upsert_document(source=f"d{i}.md", title=str(i), text=t, chunks=c)
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(50):
                store.bm25_search("shared words", 5)
                store.dense_search(payloads[0][0].embedding, 5)
                store.list_documents()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_documents()) == 20
    assert store.verify().ok


def test_emptied_catalog_next_to_a_manifest_is_corruption_not_a_new_index(tmp_path: Path) -> None:
    data = tmp_path / "idx"
    store = IndexStore.open(data, embedder_id="e", embedder_checksum="c", dimension=8)
    store.upsert_document(
        source="a.txt", title="A", text="alpha beta", chunks=[NewChunk(0, 10, "alpha beta", np.ones(8, np.float32))]
    )
    store.close()
    (data / "catalog.sqlite3").write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        (data / f"catalog.sqlite3{suffix}").unlink(missing_ok=True)
    with pytest.raises(CorruptIndexError, match="catalog"):
        IndexStore.open(data, embedder_id="e", embedder_checksum="c", dimension=8)
