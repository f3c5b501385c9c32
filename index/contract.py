"""``Store``: the contract of an index backend, as the ingest and retrieval code use it.

Two implementations keep it honest: :class:`index.store.IndexStore` (SQLite catalog + FAISS, one data dir; the
default) and :class:`index.milvus_store.MilvusStore` (Milvus Lite or a Milvus server, shared by several API
replicas). ``tests/index/test_store_contract.py`` runs one suite against both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Literal, Protocol, Self, runtime_checkable

import numpy as np

from index.catalog import DEFAULT_COLLECTION
from index.errors import InvalidValueError
from index.records import ChunkFilter, ChunkRecord, DocumentRecord, IndexStats, NewChunk, ScoredId, VerifyReport

UpsertResult = Literal["added", "replaced", "unchanged"]
DocumentState = Literal["new", "unchanged", "changed"]

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


@runtime_checkable
class Store(Protocol):
    """Documents (text + metadata), their chunks with embeddings, dense and BM25 search over committed documents.

    A document is all-or-nothing: search, ``chunks()`` and ``document_text()`` see either its old version or its
    new one, never a mix and never a half-written one.
    """

    embedder_id: str
    dimension: int

    @property
    def location(self) -> str:
        """Where the index lives (a data dir, or a Milvus URI + collection prefix), for messages."""
        ...

    # writing
    def writer(self, timeout: float = ...) -> AbstractContextManager[None]:
        """Hold the one writer lock for a batch of writes (``IndexLockedError`` after ``timeout`` seconds)."""
        ...

    def upsert_document(
        self,
        *,
        source: str,
        title: str,
        text: str,
        chunks: Sequence[NewChunk],
        date: str | None = None,
        meta: Mapping[str, str] | None = None,
        page_starts: Sequence[int] = (),
        collection: str = DEFAULT_COLLECTION,
        origin: str = "",
    ) -> UpsertResult:
        """Add or replace ``source`` of ``collection``; the same text with other metadata, pages or origin
        updates the record (``replaced``); the same text and fields: ``unchanged``."""
        ...

    def delete_document(self, source: str, collection: str = DEFAULT_COLLECTION) -> None:
        """Remove ``source`` of ``collection`` with its chunks; ``DocumentNotFoundError`` if it is not there."""
        ...

    # reading
    def refresh(self) -> bool:
        """Catch up with writes another process committed since the last look; True if anything was reloaded."""
        ...

    def document_state(self, source: str, content_hash: str, collection: str = DEFAULT_COLLECTION) -> DocumentState:
        """``new`` (no such source), ``unchanged`` (stored with this content hash) or ``changed``."""
        ...

    def content_embeddings(self, content_hash: str) -> list[NewChunk] | None:
        """The stored chunks and embeddings of a text with this content hash (any source), to reuse instead of
        embedding again; None if no document has it."""
        ...

    def get_document(self, source: str, collection: str = DEFAULT_COLLECTION) -> DocumentRecord:
        """The record of ``source`` of ``collection``; ``DocumentNotFoundError`` if it is not there."""
        ...

    def document_text(self, source: str, collection: str = DEFAULT_COLLECTION) -> str:
        """The stored (normalised) text of ``source``, the one every chunk and citation is a span of."""
        ...

    def list_documents(
        self, collection: str | None = DEFAULT_COLLECTION, origin: str | None = None
    ) -> list[DocumentRecord]:
        """Documents of ``collection`` (None: every collection), ordered by (collection, source); only those a
        sync took from ``origin`` if given."""
        ...

    def collections(self) -> dict[str, int]:
        """Every collection that holds documents, with its document count."""
        ...

    def page_of(self, source: str, offset: int, collection: str = DEFAULT_COLLECTION) -> int | None:
        """The 1-based page (PDF page, slide) of character ``offset``; None without pages or for no document."""
        ...

    def chunks(self, ids: Sequence[int], filters: ChunkFilter | None = None) -> dict[int, ChunkRecord]:
        """The committed chunks among ``ids`` that ``filters`` allows, by id (ids not found are left out)."""
        ...

    def pinned_reads(self) -> AbstractContextManager[None]:
        """Within the block, in this thread, ``chunks()`` pins the text of each document it returns (the version
        its chunks came from) and ``document_text()`` answers from the pins first; blocks nest."""
        ...

    def dense_search(self, query: np.ndarray, k: int, filters: ChunkFilter | None = None) -> list[ScoredId]:
        """The ``k`` chunks nearest to the query embedding (inner product), best first, among those ``filters``
        allows."""
        ...

    def bm25_search(self, query: str, k: int, filters: ChunkFilter | None = None) -> list[ScoredId]:
        """The ``k`` best BM25 matches of the keywords in ``query``, best first, among those ``filters`` allows."""
        ...

    # maintenance
    def stats(self) -> IndexStats:
        """Counts (documents, chunks, vectors), the embedder and sizes (``ragqa index stats``)."""
        ...

    def verify(self) -> VerifyReport:
        """Check that documents, chunks, search indexes and manifest agree (``ragqa index verify``)."""
        ...

    def repair(self, grace_s: float = ...) -> list[str]:
        """Fix what ``verify()`` can find (leftovers of interrupted writes older than ``grace_s`` seconds,
        derived indexes); returns what was done, one line per action."""
        ...

    def rebuild(self) -> None:
        """Rebuild the derived search indexes from the stored documents and chunks (``ragqa index rebuild``)."""
        ...

    def close(self) -> None:
        """Release files, locks and connections; the store cannot be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def check_date(date: str | None) -> None:
    """``ValueError`` unless ``date`` is None or an ISO date (yyyy-mm-dd)."""
    if date is None:
        return
    try:
        if not _DATE_RE.fullmatch(date):
            raise ValueError
        dt.date.fromisoformat(date)
    except ValueError:
        raise InvalidValueError(f"date must be an ISO date (yyyy-mm-dd), got {date!r}") from None


def validate_chunks(text: str, chunks: Sequence[NewChunk], dimension: int, embedder_id: str) -> list[NewChunk]:
    """Check spans and embeddings of a document's chunks; returns them with normalised float32 embeddings."""
    if not isinstance(text, str) or not text:
        raise InvalidValueError("document text is empty")
    out: list[NewChunk] = []
    for i, chunk in enumerate(chunks):
        if not (0 <= chunk.start < chunk.end <= len(text)):
            raise InvalidValueError(
                f"chunk {i}: span [{chunk.start}:{chunk.end}] is outside the text (length {len(text)})"
            )
        if text[chunk.start : chunk.end] != chunk.text:
            raise InvalidValueError(f"chunk {i}: text does not equal the document text at [{chunk.start}:{chunk.end}]")
        emb = np.asarray(chunk.embedding, dtype=np.float32)
        if emb.ndim != 1 or emb.shape[0] != dimension:
            raise InvalidValueError(
                f"chunk {i}: embedding has shape {emb.shape}, expected ({dimension},) for {embedder_id}"
            )
        norm = float(np.linalg.norm(emb))
        if not np.isfinite(norm) or norm == 0.0:
            raise InvalidValueError(f"chunk {i}: embedding is zero or not finite")
        if abs(norm - 1.0) > 1e-4:
            emb = emb / norm
        out.append(NewChunk(start=chunk.start, end=chunk.end, text=chunk.text, embedding=emb))
    return out


def iter_documents(store: Store) -> Iterator[tuple[DocumentRecord, str, list[NewChunk]]]:
    """Every document of ``store`` (every collection) with its text and stored chunks (embeddings included)."""
    for doc in store.list_documents(None):
        text = store.document_text(doc.source, doc.collection)
        chunks = store.content_embeddings(doc.content_hash) or []
        yield doc, text, chunks
