"""The ``Store`` contract, run against both implementations: FAISS + SQLite, and Milvus (a real ``milvus-lite
server`` started by the ``milvus_server`` fixture; one test also opens a Milvus Lite file).

What only one backend has (FAISS file recovery, SQLite corruption, the writer file lock) stays in
``test_store.py``; Milvus-only behaviour (uncommitted writes, repair, concurrent writers) is at the end.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from index import (
    ChunkFilter,
    DocumentNotFoundError,
    EmbedderMismatchError,
    IndexStore,
    NewChunk,
    StorageError,
    Store,
    StoreTarget,
    content_hash,
    copy_index,
    open_store,
)
from index.milvus_store import MilvusStore, _LiteUnimplementedFilter, _quiet_lite_server, bm25_terms
from tests.index.helpers import CHECKSUM, DIM, EMBEDDER, add, make_chunks, unit
from tests.milvus import MilvusServer, unique_prefix

TEXT_A = "Photosynthesis converts sunlight into chemical energy inside chloroplasts of green plants."
TEXT_B = "The Treaty of Westphalia ended the Thirty Years War in 1648 and reshaped European diplomacy."
TEXT_C = "Quantum entanglement links particles so that measuring one instantly constrains the other."

Opener = Callable[..., Store]


def _open(target: StoreTarget, **kwargs: object) -> Store:
    params: dict[str, object] = {"embedder_id": EMBEDDER, "embedder_checksum": CHECKSUM, "dimension": DIM}
    params.update(kwargs)
    return open_store(target, **params)  # type: ignore[arg-type]


@pytest.fixture(params=["faiss", "milvus"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    """Where one test's index lives, for each backend."""
    if request.param == "faiss":
        yield StoreTarget("faiss", data_dir=tmp_path / "data")
        return
    server: MilvusServer = request.getfixturevalue("milvus_server")
    prefix = unique_prefix()
    yield StoreTarget("milvus", uri=server.uri, prefix=prefix)
    server.drop(prefix)


@pytest.fixture
def store(target: StoreTarget) -> Iterator[Store]:
    s = _open(target)
    yield s
    s.close()


def ids_of(hits: list) -> list[int]:
    return [h.chunk_id for h in hits]


def test_both_implement_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    assert isinstance(store, IndexStore | MilvusStore)


def test_add_get_list(store: Store, rng: np.random.Generator) -> None:
    result = store.upsert_document(
        source="b.md", title="B", text=TEXT_B, chunks=make_chunks(TEXT_B, rng), date="2024-05-01", meta={"k": "v"}
    )
    assert result == "added"
    add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    doc = store.get_document("b.md")
    assert (doc.title, doc.date, doc.meta) == ("B", "2024-05-01", {"k": "v"})
    assert doc.content_hash == content_hash(TEXT_B)
    assert (doc.n_chars, doc.n_chunks) == (len(TEXT_B), len(make_chunks(TEXT_B, rng)))
    assert store.document_text("b.md") == TEXT_B
    assert [d.source for d in store.list_documents()] == ["a.md", "b.md"]
    stats = store.stats()
    assert (stats.documents, stats.contents) == (2, 2)
    assert stats.chunks == stats.vectors == doc.n_chunks + len(make_chunks(TEXT_A, rng))
    assert (stats.embedder_id, stats.dimension) == (EMBEDDER, DIM)
    for call in (store.get_document, store.document_text, store.delete_document):
        with pytest.raises(DocumentNotFoundError):
            call("missing.md")


def test_chunks_resolve_to_their_document(store: Store, rng: np.random.Generator) -> None:
    chunks = add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    hit = store.dense_search(chunks[1].embedding, 1)[0]
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    records = store.chunks([hit.chunk_id, 999_999])
    assert list(records) == [hit.chunk_id]
    record = records[hit.chunk_id]
    assert (record.source, record.title, record.ord) == ("a.md", "A.MD", 1)
    assert TEXT_A[record.start : record.end] == record.text == chunks[1].text


def test_document_state_and_content_embeddings(store: Store, rng: np.random.Generator) -> None:
    chunks = add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    assert store.document_state("a.md", content_hash(TEXT_A)) == "unchanged"
    assert store.document_state("a.md", content_hash(TEXT_B)) == "changed"
    assert store.document_state("b.md", content_hash(TEXT_B)) == "new"
    stored = store.content_embeddings(content_hash(TEXT_A))
    assert stored is not None and [(c.start, c.end, c.text) for c in stored] == [
        (c.start, c.end, c.text) for c in chunks
    ]
    for got, want in zip(stored, chunks, strict=True):
        np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-6)
    assert store.content_embeddings(content_hash(TEXT_B)) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"text": ""},
        {"source": ""},
        {"date": "2024-13-01"},
        {"chunks": [NewChunk(0, 5, "wrong", np.ones(DIM, dtype=np.float32))]},
        {"chunks": [NewChunk(0, 200, TEXT_A[:200], np.ones(DIM, dtype=np.float32))]},
        {"chunks": [NewChunk(0, 5, TEXT_A[:5], np.ones(DIM + 1, dtype=np.float32))]},
        {"chunks": [NewChunk(0, 5, TEXT_A[:5], np.zeros(DIM, dtype=np.float32))]},
    ],
)
def test_invalid_upsert_writes_nothing(store: Store, rng: np.random.Generator, bad: dict) -> None:
    add(store, "keep.md", TEXT_B, rng)  # type: ignore[arg-type]
    before = store.stats()
    params = {"source": "a.md", "title": "A", "text": TEXT_A, "chunks": make_chunks(TEXT_A, rng)} | bad
    with pytest.raises(ValueError):
        store.upsert_document(**params)
    after = store.stats()
    assert (after.documents, after.chunks) == (before.documents, before.chunks)
    assert [d.source for d in store.list_documents()] == ["keep.md"]
    assert store.verify().ok


def test_idempotent_upsert_and_replace(store: Store, rng: np.random.Generator) -> None:
    chunks_a = add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    again = store.upsert_document(source="a.md", title="A.MD", text=TEXT_A, chunks=make_chunks(TEXT_A, rng))
    assert again == "unchanged"
    replaced = store.upsert_document(source="a.md", title="New", text=TEXT_C, chunks=make_chunks(TEXT_C, rng))
    assert replaced == "replaced"
    assert store.document_text("a.md") == TEXT_C
    assert store.get_document("a.md").title == "New"
    # Nothing of the old version is found any more, by either leg.
    assert store.bm25_search("photosynthesis", 10) == []
    old = store.dense_search(chunks_a[0].embedding, 10)
    assert all(r.text in TEXT_C for r in store.chunks(ids_of(old)).values())
    stats = store.stats()
    assert (stats.documents, stats.chunks) == (1, len(make_chunks(TEXT_C, rng)))
    assert store.verify().ok


def test_delete(store: Store, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    add(store, "b.md", TEXT_B, rng)  # type: ignore[arg-type]
    store.delete_document("a.md")
    assert [d.source for d in store.list_documents()] == ["b.md"]
    assert store.bm25_search("photosynthesis", 10) == []
    assert store.bm25_search("westphalia", 10)
    with pytest.raises(DocumentNotFoundError):
        store.delete_document("a.md")
    assert store.stats().chunks == len(make_chunks(TEXT_B, rng))
    assert store.verify().ok


def test_bm25_ranks_stems_and_survives_hostile_queries(store: Store, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    add(store, "b.md", TEXT_B, rng)  # type: ignore[arg-type]
    add(store, "c.md", TEXT_C, rng)  # type: ignore[arg-type]
    hits = store.bm25_search("treaties ending wars", 5)  # stems: treaty, end, war
    records = store.chunks(ids_of(hits))
    assert hits and records[hits[0].chunk_id].source == "b.md"
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for query in ["", "   ", "!!!", '"unbalanced', "a AND OR NOT", "x" * 5000, "NEAR(", "ünïcödé ∑", "*"]:
        assert isinstance(store.bm25_search(query, 5), list)
    assert store.bm25_search("photosynthesis", 0) == []


def test_filters_on_both_legs(store: Store, rng: np.random.Generator) -> None:
    chunks_a = add(store, "news/a.md", TEXT_A, rng, date="2024-01-10")  # type: ignore[arg-type]
    add(store, "news/b.md", TEXT_B, rng, date="2024-03-01")  # type: ignore[arg-type]
    add(store, "blog/c.md", TEXT_C, rng)  # type: ignore[arg-type]
    news = ChunkFilter(source_glob="news/*")
    late = ChunkFilter(date_from="2024-02-01")
    early = ChunkFilter(date_to="2024-02-01")
    q = chunks_a[0].embedding

    def sources(hits: list, filters: ChunkFilter | None) -> set[str]:
        return {r.source for r in store.chunks(ids_of(hits), filters).values()}

    assert sources(store.dense_search(q, 50, news), news) == {"news/a.md", "news/b.md"}
    assert sources(store.dense_search(q, 50, late), late) == {"news/b.md"}
    assert sources(store.dense_search(q, 50, early), early) == {"news/a.md"}
    assert store.bm25_search("photosynthesis", 5, late) == []
    assert sources(store.bm25_search("photosynthesis", 5, early), early) == {"news/a.md"}
    assert store.dense_search(q, 5, ChunkFilter(source_glob="nothing/*")) == []
    # chunks() applies the filter too
    all_hits = store.dense_search(q, 50)
    assert sources(all_hits, None) == {"news/a.md", "news/b.md", "blog/c.md"}
    assert sources(all_hits, ChunkFilter(source_glob="blog/*")) == {"blog/c.md"}


def test_dense_search_input_checks(store: Store, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.dense_search(np.ones(DIM + 1, dtype=np.float32), 3)
    assert store.dense_search(np.zeros(DIM, dtype=np.float32), 3) == []
    assert store.dense_search(unit(rng), 0) == []
    assert len(store.dense_search(unit(rng) * 7, 100)) == len(make_chunks(TEXT_A, rng))


def test_a_second_handle_sees_commits(target: StoreTarget, rng: np.random.Generator) -> None:
    """Two handles on one index (two replicas): a write through one is read through the other after refresh()."""
    with _open(target) as one, _open(target) as two:
        add(one, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
        two.refresh()
        assert [d.source for d in two.list_documents()] == ["a.md"]
        assert two.bm25_search("photosynthesis", 5)
        two.delete_document("a.md")
        one.refresh()
        assert one.list_documents() == []
        assert one.bm25_search("photosynthesis", 5) == []


def test_embedder_mismatch_and_open_without_create(target: StoreTarget, rng: np.random.Generator) -> None:
    with pytest.raises(StorageError):
        _open(target, create=False)
    with _open(target) as s:
        add(s, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    with pytest.raises(EmbedderMismatchError):
        _open(target, embedder_id="another-model")
    with pytest.raises(EmbedderMismatchError):
        _open(target, dimension=DIM * 2)
    with _open(target, create=False) as s:
        assert [d.source for d in s.list_documents()] == ["a.md"]


def test_verify_repair_and_rebuild_on_a_good_index(store: Store, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    add(store, "b.md", TEXT_B, rng)  # type: ignore[arg-type]
    report = store.verify()
    assert report.ok and report.checked_chunks == store.stats().chunks
    assert store.repair() == []
    with store.writer():
        store.rebuild()
    assert store.verify().ok
    assert store.bm25_search("westphalia", 5)


# ------------------------------------------------------------------- collections, pages, origin, metadata, pins
def test_collections_keep_documents_apart(store: Store, rng: np.random.Generator) -> None:
    """One source in two collections is two documents; every read and delete is scoped to one collection."""
    chunks_a = add(store, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    add(store, "a.md", TEXT_C, rng, collection="papers")  # type: ignore[arg-type]
    add(store, "b.md", TEXT_B, rng, collection="papers")  # type: ignore[arg-type]
    assert store.collections() == {"default": 1, "papers": 2}
    assert [d.source for d in store.list_documents()] == ["a.md"]
    assert [(d.collection, d.source) for d in store.list_documents("papers")] == [
        ("papers", "a.md"),
        ("papers", "b.md"),
    ]
    assert [(d.collection, d.source) for d in store.list_documents(None)] == [
        ("default", "a.md"),
        ("papers", "a.md"),
        ("papers", "b.md"),
    ]
    assert store.list_documents("empty") == []
    assert store.document_text("a.md") == TEXT_A
    assert store.document_text("a.md", "papers") == TEXT_C
    assert store.get_document("a.md", "papers").collection == "papers"
    assert store.document_state("b.md", content_hash(TEXT_B), "papers") == "unchanged"
    assert store.document_state("b.md", content_hash(TEXT_B)) == "new"
    with pytest.raises(DocumentNotFoundError):
        store.get_document("b.md")
    with pytest.raises(DocumentNotFoundError):
        store.document_text("b.md", "other")
    with pytest.raises(ValueError):
        add(store, "x.md", TEXT_A, rng, collection="bad name!")  # type: ignore[arg-type]

    papers, default = ChunkFilter(collection="papers"), ChunkFilter(collection="default")

    def where(hits: list, filters: ChunkFilter | None = None) -> set[tuple[str, str]]:
        return {(r.collection, r.source) for r in store.chunks(ids_of(hits), filters).values()}

    assert where(store.bm25_search("photosynthesis", 10, papers), papers) == set()
    assert where(store.bm25_search("photosynthesis", 10, default), default) == {("default", "a.md")}
    assert where(store.bm25_search("entanglement westphalia", 10, papers)) == {("papers", "a.md"), ("papers", "b.md")}
    assert where(store.dense_search(chunks_a[0].embedding, 50, papers), papers) == {
        ("papers", "a.md"),
        ("papers", "b.md"),
    }
    assert where(store.dense_search(chunks_a[0].embedding, 50, ChunkFilter(collection="none"))) == set()
    # chunks() applies a collection filter too
    everything = store.dense_search(chunks_a[0].embedding, 50)
    assert where(everything, default) == {("default", "a.md")}

    store.delete_document("a.md", "papers")
    assert store.collections() == {"default": 1, "papers": 1}
    assert store.document_text("a.md") == TEXT_A
    assert store.bm25_search("entanglement", 10) == []
    store.delete_document("b.md", "papers")
    assert store.collections() == {"default": 1}
    assert store.verify().ok


def test_pages_and_origin(store: Store, rng: np.random.Generator) -> None:
    pages = (0, 30, 60)
    chunks = add(store, "p.pdf", TEXT_A, rng, page_starts=pages, origin="/docs")  # type: ignore[arg-type]
    add(store, "q.md", TEXT_B, rng, origin="/other")  # type: ignore[arg-type]
    add(store, "r.md", TEXT_C, rng)  # type: ignore[arg-type]
    doc = store.get_document("p.pdf")
    assert (doc.page_starts, doc.origin) == (pages, "/docs")
    assert [store.page_of("p.pdf", o) for o in (0, 29, 30, 75)] == [1, 1, 2, 3]
    assert store.page_of("q.md", 5) is None and store.page_of("missing.md", 5) is None
    assert [d.source for d in store.list_documents(origin="/docs")] == ["p.pdf"]
    assert [d.source for d in store.list_documents(origin="")] == ["r.md"]
    hit = store.dense_search(chunks[2].embedding, 1)[0]
    record = store.chunks([hit.chunk_id])[hit.chunk_id]
    assert (record.start, record.page) == (60, 3)
    for bad in [(10, 5), (0, len(TEXT_B) + 1)]:
        with pytest.raises(ValueError):
            add(store, "bad.pdf", TEXT_B, rng, page_starts=bad)  # type: ignore[arg-type]
    assert [d.source for d in store.list_documents()] == ["p.pdf", "q.md", "r.md"]


def test_same_text_new_fields_updates_the_record(store: Store, rng: np.random.Generator) -> None:
    add(store, "a.md", TEXT_A, rng, meta={"lang": "en"})  # type: ignore[arg-type]
    same = {"source": "a.md", "title": "A.MD", "text": TEXT_A, "chunks": make_chunks(TEXT_A, rng)}
    assert store.upsert_document(**same, meta={"lang": "en"}) == "unchanged"  # type: ignore[arg-type]
    assert store.upsert_document(**same, meta={"lang": "de"}, origin="/f") == "replaced"  # type: ignore[arg-type]
    doc = store.get_document("a.md")
    assert (doc.meta, doc.origin) == ({"lang": "de"}, "/f")
    assert store.upsert_document(**same, meta={"lang": "de"}, page_starts=(0, 40), origin="/f") == "replaced"  # type: ignore[arg-type]
    assert store.get_document("a.md").page_starts == (0, 40)
    hits = store.bm25_search("photosynthesis", 5, ChunkFilter(meta=(("lang", ("de",)),)))
    assert {r.meta["lang"] for r in store.chunks(ids_of(hits)).values()} == {"de"}
    assert store.bm25_search("photosynthesis", 5, ChunkFilter(meta=(("lang", ("en",)),))) == []
    assert store.stats().chunks == len(make_chunks(TEXT_A, rng))
    assert store.verify().ok


def test_metadata_filters_on_both_legs(store: Store, rng: np.random.Generator) -> None:
    chunks_a = add(store, "a.md", TEXT_A, rng, meta={"team": "bio", "year": "2024"})  # type: ignore[arg-type]
    add(store, "b.md", TEXT_B, rng, meta={"team": "history", "year": "2023"})  # type: ignore[arg-type]
    add(store, "c.md", TEXT_C, rng)  # type: ignore[arg-type]
    bio = ChunkFilter(meta=(("team", ("bio",)),))
    either = ChunkFilter(meta=(("team", ("bio", "history")),))
    both = ChunkFilter(meta=(("team", ("bio", "history")), ("year", ("2023",))))
    nothing = ChunkFilter(meta=(("team", ()),))
    q = chunks_a[0].embedding

    def sources(hits: list, filters: ChunkFilter | None = None) -> set[str]:
        return {r.source for r in store.chunks(ids_of(hits), filters).values()}

    assert sources(store.dense_search(q, 50, bio)) == {"a.md"}
    assert sources(store.dense_search(q, 50, either)) == {"a.md", "b.md"}
    assert sources(store.dense_search(q, 50, both)) == {"b.md"}
    assert store.dense_search(q, 50, nothing) == []
    assert sources(store.bm25_search("photosynthesis westphalia entanglement", 20, either)) == {"a.md", "b.md"}
    assert store.bm25_search("westphalia", 20, bio) == []
    assert sources(store.dense_search(q, 50), both) == {"b.md"}  # chunks() applies it too
    records = store.chunks(ids_of(store.dense_search(q, 50, bio)))
    assert {tuple(sorted(r.meta.items())) for r in records.values()} == {(("team", "bio"), ("year", "2024"))}
    combined = ChunkFilter(collection="default", date_to="2030-01-01", meta=(("team", ("bio",)),))
    assert store.dense_search(q, 50, combined) == []  # no date: a date range excludes it
    with pytest.raises(ValueError):
        store.dense_search(q, 5, ChunkFilter(meta=(('te"am', ("x",)),)))


def test_pinned_reads_answer_from_the_retrieved_version(target: StoreTarget, rng: np.random.Generator) -> None:
    """Inside ``pinned_reads()`` a document retrieved by ``chunks()`` reads as that version even when another
    handle (another replica) replaces or deletes it meanwhile; outside, reads see the new state."""
    with _open(target) as reader, _open(target) as writer:
        add(writer, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
        add(writer, "b.md", TEXT_B, rng, collection="papers")  # type: ignore[arg-type]
        reader.refresh()
        with reader.pinned_reads():
            hits = reader.bm25_search("photosynthesis westphalia", 10)
            records = reader.chunks(ids_of(hits))
            assert {(r.collection, r.source) for r in records.values()} == {("default", "a.md"), ("papers", "b.md")}
            writer.upsert_document(source="a.md", title="A", text=TEXT_C, chunks=make_chunks(TEXT_C, rng))
            writer.delete_document("b.md", "papers")
            reader.refresh()
            assert reader.document_text("a.md") == TEXT_A
            assert reader.document_text("b.md", "papers") == TEXT_B
            with reader.pinned_reads():  # nested: its own pins, the outer ones still answer
                assert reader.document_text("a.md") == TEXT_A
            # ids retrieved before the delete no longer resolve for a new chunks() call
            assert reader.chunks(ids_of(hits), ChunkFilter(collection="papers")) == {}
        assert reader.document_text("a.md") == TEXT_C
        with pytest.raises(DocumentNotFoundError):
            reader.document_text("b.md", "papers")


def test_copy_round_trip_faiss_milvus_faiss(
    tmp_path: Path, milvus_server: MilvusServer, rng: np.random.Generator
) -> None:
    """``index copy``: FAISS → Milvus → FAISS carries texts, metadata and the very same embeddings."""
    prefix = unique_prefix("copy")
    try:
        with (
            _open(StoreTarget("faiss", data_dir=tmp_path / "src")) as src,
            _open(StoreTarget("milvus", uri=milvus_server.uri, prefix=prefix)) as mid,
            _open(StoreTarget("faiss", data_dir=tmp_path / "back")) as back,
        ):
            src.upsert_document(
                source="a.md",
                title="A",
                text=TEXT_A,
                chunks=make_chunks(TEXT_A, rng),
                date="2024-01-02",
                meta={"k": "v"},
            )
            add(src, "b.md", TEXT_B, rng)  # type: ignore[arg-type]
            add(src, "b.md", TEXT_C, rng, collection="papers", page_starts=(0, 40), origin="/in")  # type: ignore[arg-type]
            first = copy_index(src, mid)
            assert (first.documents, first.added, first.chunks) == (3, 3, src.stats().chunks)
            assert copy_index(src, mid).unchanged == 3  # idempotent: run it again after an interruption
            copy_index(mid, back)
            for store in (mid, back):
                assert store.list_documents(None) == [
                    d.__class__(**{**d.__dict__, "id": e.id, "added_at": e.added_at})
                    for d, e in zip(src.list_documents(None), store.list_documents(None), strict=True)
                ]
                assert store.collections() == {"default": 2, "papers": 1}
                assert store.document_text("b.md", "papers") == TEXT_C
                assert store.document_text("a.md") == TEXT_A
                stored = store.content_embeddings(content_hash(TEXT_A)) or []
                want = src.content_embeddings(content_hash(TEXT_A)) or []
                assert len(stored) == len(want) > 0
                for got, exp in zip(stored, want, strict=True):
                    np.testing.assert_allclose(got.embedding, exp.embedding, atol=1e-6)
                q = want[0].embedding
                assert [store.chunks([h.chunk_id])[h.chunk_id].text for h in store.dense_search(q, 3)] == [
                    src.chunks([h.chunk_id])[h.chunk_id].text for h in src.dense_search(q, 3)
                ]
                assert store.verify().ok
    finally:
        milvus_server.drop(prefix)


def test_milvus_lite_file(tmp_path: Path, rng: np.random.Generator) -> None:
    """The embedded form: a Milvus Lite file (one process), as RAGQA_MILVUS_URI=path/to/milvus.db uses it."""
    target = StoreTarget("milvus", uri=str(tmp_path / "lite" / "milvus.db"), prefix="ragqa_")
    with _open(target) as s:
        add(s, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    with _open(target, create=False) as s:
        assert s.document_text("a.md") == TEXT_A
        assert s.bm25_search("chloroplasts", 3)
        assert s.verify().ok


# ---------------------------------------------------------------------------------------------- Milvus only
@pytest.fixture
def milvus(milvus_server: MilvusServer) -> Iterator[MilvusStore]:
    prefix = unique_prefix("m")
    s = _open(StoreTarget("milvus", uri=milvus_server.uri, prefix=prefix))
    assert isinstance(s, MilvusStore)
    yield s
    s.close()
    milvus_server.drop(prefix)


def test_milvus_lite_refusing_an_rpc_is_not_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """pymilvus asks Milvus Lite's in-process server for RPCs it lacks and falls back; grpc's ERROR record with a
    traceback for each is dropped, any other server error is kept."""
    _quiet_lite_server()
    _quiet_lite_server()
    server_log = logging.getLogger("grpc._server")
    assert sum(isinstance(f, _LiteUnimplementedFilter) for f in server_log.filters) == 1
    with caplog.at_level(logging.ERROR, logger="grpc._server"):
        for error in (NotImplementedError("Method not implemented!"), RuntimeError("disk full")):
            try:
                raise error
            except Exception:
                server_log.exception("Exception calling application: %s", error)
    assert [r.getMessage() for r in caplog.records] == ["Exception calling application: disk full"]


def test_bm25_terms_match_sqlite_porter_folding() -> None:
    assert bm25_terms("Treaties ENDED the Wars, café!") == ["treati", "end", "the", "war", "cafe"]


def test_milvus_uncommitted_write_is_invisible_then_repaired(milvus: MilvusStore, rng: np.random.Generator) -> None:
    """A writer killed after its rows but before its commit record: nothing shows; repair() deletes the rows."""
    add(milvus, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    chunks_c = make_chunks(TEXT_C, rng)
    milvus._write_rows("00000000000000000001-dead", "a.md", content_hash(TEXT_C), TEXT_C, chunks_c)
    milvus._write_rows("00000000000000000002-dead", "z.md", content_hash(TEXT_C), TEXT_C, chunks_c)
    assert milvus.bm25_search("entanglement", 10) == []
    assert all(h.score < 0.999 for h in milvus.dense_search(chunks_c[0].embedding, 10))
    assert milvus.document_text("a.md") == TEXT_A
    assert [d.source for d in milvus.list_documents()] == ["a.md"]
    assert milvus.stats().chunks == len(make_chunks(TEXT_A, rng))
    report = milvus.verify()
    assert not report.ok and sum("interrupted write" in p for p in report.problems) == 2
    assert milvus.verify(grace_s=3600 * 24 * 365 * 100).ok  # too young to call interrupted
    actions = milvus.repair(grace_s=0)
    assert len(actions) == 2
    assert milvus.verify().ok
    assert milvus._uncommitted() == {}


def test_milvus_dense_field_has_an_hnsw_index_that_ranks_exactly_here(
    milvus: MilvusStore, milvus_server: MilvusServer
) -> None:
    """New collections index the dense field with HNSW (FLAT's brute force grew with the corpus); on a small index
    its ranking is the exact inner-product ranking, as the FAISS store's."""
    rng = np.random.default_rng(11)
    assert milvus._dense_index == "HNSW"
    assert milvus._index_type(milvus.chunks_collection, "sparse") == "SPARSE_INVERTED_INDEX"
    words = " ".join(f"word{i}" for i in range(200))
    for n in range(4):
        add(milvus, f"d{n}.md", f"{n} {words}", rng)  # type: ignore[arg-type]
    rows = milvus._scan(milvus.chunks_collection, "id >= 0", ["id", "dense"])
    ids, vectors = zip(*[(int(r["id"]), np.asarray(r["dense"], dtype=np.float32)) for r in rows], strict=True)
    assert len(ids) >= 200
    for _ in range(5):
        q = unit(rng)
        exact = [ids[i] for i in np.argsort(-(np.stack(vectors) @ q), kind="stable")[:20]]
        assert ids_of(milvus.dense_search(q, 20)) == exact
    reopened = _open(StoreTarget("milvus", uri=milvus.uri, prefix=milvus.prefix))
    try:
        assert isinstance(reopened, MilvusStore) and reopened._dense_index == "HNSW"
    finally:
        reopened.close()


def test_milvus_k_hits_past_the_rows_of_other_writes(milvus: MilvusStore, rng: np.random.Generator) -> None:
    """Searches ask Milvus for exactly k hits first; when rows of an uncommitted write outrank the committed ones
    they ask again, so both legs still return k committed hits."""
    text = "entanglement " * 24  # every 30-character chunk holds the whole word at least once
    committed = add(milvus, "a.md", text, rng)  # type: ignore[arg-type]
    q = unit(rng)
    loud = " ".join(["entanglement"] * 5)
    stale = [NewChunk(start=i * 60, end=i * 60 + 60, text=loud.ljust(60), embedding=q) for i in range(12)]
    milvus._write_rows("00000000000000000001-dead", "z.md", content_hash("x" * 720), "x" * 720, stale)
    milvus.refresh()
    dense = milvus.dense_search(q, 4)
    assert len(dense) == 4 and all(h.score < 0.999 for h in dense)
    matching = [c for c in committed if "entanglement" in c.text]
    assert len(matching) >= 4
    sparse = milvus.bm25_search("entanglement", 4)
    assert len(sparse) == 4
    for hits in (dense, sparse):  # chunks() resolves committed rows only: every hit is one of a.md's
        assert [r.source for r in milvus.chunks(ids_of(hits)).values()] == ["a.md"] * 4


def test_milvus_next_writer_cleans_up_an_interrupted_write(milvus: MilvusStore, rng: np.random.Generator) -> None:
    add(milvus, "a.md", TEXT_A, rng)  # type: ignore[arg-type]
    milvus._write_rows("00000000000000000001-dead", "a.md", content_hash(TEXT_C), TEXT_C, make_chunks(TEXT_C, rng))
    milvus.upsert_document(source="a.md", title="B", text=TEXT_B, chunks=make_chunks(TEXT_B, rng))
    assert milvus._uncommitted() == {}
    assert milvus.verify().ok


def test_milvus_readers_never_see_a_mixed_document(milvus: MilvusStore, milvus_server: MilvusServer) -> None:
    """One handle replaces a document over and over; another searches meanwhile: always exactly one version."""
    rng = np.random.default_rng(7)
    versions = [" ".join(f"version{v} sentence {i} about harbours." for i in range(12)) for v in range(4)]
    milvus.upsert_document(source="a.md", title="A", text=versions[0], chunks=make_chunks(versions[0], rng))
    reader = _open(StoreTarget("milvus", uri=milvus.uri, prefix=milvus.prefix))
    seen: list[set[str]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            reader.refresh()
            hits = reader.bm25_search("harbours sentence", 200)
            texts = [r.text for r in reader.chunks(ids_of(hits)).values()]
            seen.append({m for t in texts for m in re.findall(r"version(\d)", t)})

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for n in range(1, 8):
            text = versions[n % 4]
            milvus.upsert_document(source="a.md", title="A", text=text, chunks=make_chunks(text, rng))
    finally:
        stop.set()
        thread.join(timeout=60)
        reader.close()
    assert seen and all(len(s) <= 1 for s in seen), [s for s in seen if len(s) > 1][:3]


def test_milvus_concurrent_writers_of_one_source(milvus_server: MilvusServer, milvus: MilvusStore) -> None:
    """Two handles (two replicas) write the same source at once: the document is always one whole version."""
    rng = np.random.default_rng(3)
    texts = [TEXT_A, TEXT_B, TEXT_C]
    handles = [milvus, _open(StoreTarget("milvus", uri=milvus.uri, prefix=milvus.prefix))]
    errors: list[BaseException] = []

    def write(handle: Store, offset: int) -> None:
        try:
            for n in range(6):
                text = texts[(n + offset) % 3]
                handle.upsert_document(source="same.md", title="S", text=text, chunks=make_chunks(text, rng))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(h, i)) for i, h in enumerate(handles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    handles[1].close()
    assert not errors
    milvus.refresh()
    text = milvus.document_text("same.md")
    assert text in texts
    doc = milvus.get_document("same.md")
    assert doc.content_hash == content_hash(text) and doc.n_chunks == len(make_chunks(text, rng))
    time.sleep(0.01)
    milvus.repair(grace_s=0)  # leftovers of a lost race, if any; the committed version is untouched
    report = milvus.verify()
    assert report.ok, report.problems
    assert milvus.document_text("same.md") == text


def test_milvus_replicas_opening_a_new_index_at_once(milvus_server: MilvusServer, rng: np.random.Generator) -> None:
    """Several replicas starting together all create the collections: one wins, the others open what it made."""
    target = StoreTarget("milvus", uri=milvus_server.uri, prefix=unique_prefix("race"))
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(_open(target))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert len(opened) == 3
        add(opened[0], "a.md", TEXT_A, rng)  # type: ignore[arg-type]
        opened[2].refresh()
        assert opened[2].document_text("a.md") == TEXT_A
    finally:
        for s in opened:
            s.close()
        milvus_server.drop(target.prefix)
