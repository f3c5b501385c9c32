"""``IndexStore``: the catalog (truth) plus the FAISS vector index (derived), kept in step.

Layout of a data dir: ``catalog.sqlite3`` (SQLite, WAL), ``vectors.faiss`` + ``manifest.json`` (written by
``flush()``), ``write.lock`` (the writer lock). Every committed write increments ``meta.generation``; the
in-memory FAISS index of the writing process is updated right after the commit, and readers in other processes
notice the new generation in ``refresh()`` and reload.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import faiss
import numpy as np

from index.catalog import DEFAULT_COLLECTION, SCHEMA_VERSION, Catalog, DocumentFields, DocumentRow, pages_text
from index.errors import (
    CorruptIndexError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    IndexLockedError,
    InvalidValueError,
    StorageError,
)
from index.lock import WriterLock
from index.manifest import atomic_write, read_manifest, sha256_bytes, write_manifest
from index.records import (
    ChunkFilter,
    ChunkRecord,
    DocumentRecord,
    IndexStats,
    NewChunk,
    ScoredId,
    VerifyReport,
)
from index.vectors import AnnConfig, FaissVectorIndex

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite3"
VECTORS_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = "write.lock"

_DEFAULT_LOCK_TIMEOUT = 10.0
_ALLOWED_CACHE_SIZE = 32
_MAX_QUERY_TOKENS = 64
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def content_hash(text: str) -> str:
    """The sha256 (hex) that identifies a document text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fts_expression(query: str) -> str:
    """A safe FTS5 MATCH expression for free text: each word token quoted, OR-ed together ('' if none)."""
    tokens = list(dict.fromkeys(t.lower() for t in _TOKEN_RE.findall(query)))[:_MAX_QUERY_TOKENS]
    return " OR ".join(f'"{t}"' for t in tokens)


def _check_date(date: str | None) -> None:
    if date is None:
        return
    message = f"date must be an ISO date (yyyy-mm-dd), got {date!r}"
    if not _DATE_RE.fullmatch(date):
        raise InvalidValueError(message)
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise InvalidValueError(message) from None


class IndexStore:
    """Documents, chunks and their embeddings in one data dir; safe to share between threads."""

    def __init__(
        self,
        data_dir: Path,
        catalog: Catalog,
        *,
        embedder_id: str,
        embedder_checksum: str,
        dimension: int,
        ann: AnnConfig | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.ann = ann or AnnConfig()
        self.embedder_id = embedder_id
        self.embedder_checksum = embedder_checksum
        self.dimension = dimension
        self._catalog = catalog
        self._lock = threading.RLock()  # guards the connection, the FAISS object and the fields below
        self._wlock = WriterLock(data_dir / LOCK_FILE)
        self._vectors = FaissVectorIndex(dimension, ann=self.ann)
        self._generation = -1  # catalog generation that self._vectors reflects
        self._dirty = False  # self._vectors differs from the flushed file
        self._closed = False
        self._collection_names: set[str] = set()  # collections in the catalog at generation _collections_at
        self._collections_at = -2
        self._allowed_cache: dict[ChunkFilter, np.ndarray] = {}  # filter → allowed chunk ids at _allowed_at
        self._allowed_at = -2
        self._pinned = threading.local()  # per thread: a stack of {(collection, source): text} pins, see pinned_reads()

    # ------------------------------------------------------------------ paths
    @property
    def catalog_path(self) -> Path:
        """The SQLite catalog: documents, contents, chunks with embeddings, FTS5 (the truth)."""
        return self.data_dir / CATALOG_FILE

    @property
    def vectors_path(self) -> Path:
        """The FAISS file, derived from the catalog and rebuilt when missing or stale."""
        return self.data_dir / VECTORS_FILE

    @property
    def manifest_path(self) -> Path:
        """The manifest (embedder, dimension, versions, counts), checked on open."""
        return self.data_dir / MANIFEST_FILE

    @property
    def location(self) -> str:
        """The data dir, for messages."""
        return str(self.data_dir)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        embedder_id: str,
        embedder_checksum: str,
        dimension: int,
        create: bool = True,
        ann: AnnConfig | None = None,
    ) -> IndexStore:
        """Open the index in ``data_dir`` (created if ``create``), loading or rebuilding the FAISS file."""
        data_dir = Path(data_dir)
        if dimension <= 0:
            raise InvalidValueError(f"dimension must be positive, got {dimension}")
        _check_catalog_file(data_dir, create=create)
        catalog = Catalog.open(
            data_dir / CATALOG_FILE,
            create=create,
            embedder_id=embedder_id,
            embedder_checksum=embedder_checksum,
            dimension=dimension,
        )
        try:
            _check_embedder(catalog, data_dir, embedder_id, embedder_checksum, dimension)
            store = cls(
                data_dir,
                catalog,
                embedder_id=embedder_id,
                embedder_checksum=embedder_checksum,
                dimension=dimension,
                ann=ann,
            )
            with store._lock:
                store._load_vectors(quiet=catalog.created)
        except BaseException:
            catalog.close()
            raise
        if store._dirty:
            store._try_flush(timeout=0.0)
        return store

    def close(self) -> None:
        """Flush pending vectors (if the writer lock is free) and close the catalog. Idempotent."""
        if self._closed:
            return
        if self._dirty:
            self._try_flush(timeout=0.0)
        with self._lock:
            self._closed = True
            self._catalog.close()

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the index at {self.data_dir} is closed")

    # ------------------------------------------------------------------ vectors: load / rebuild / flush
    def _read_vectors_file(self, generation: int) -> FaissVectorIndex | str:
        """The FAISS file if it is valid for ``generation``, else the reason why not."""
        try:
            manifest = read_manifest(self.manifest_path)
        except FileNotFoundError:
            return f"{self.manifest_path} is missing"
        except (OSError, ValueError) as exc:
            return f"{self.manifest_path} is unreadable ({exc})"
        if manifest["embedder_id"] != self.embedder_id or manifest["dimension"] != self.dimension:
            return f"{self.vectors_path} was built with embedder {manifest['embedder_id']!r}"
        if manifest["generation"] != generation:
            return (
                f"{self.vectors_path} reflects generation {manifest['generation']}, "
                f"the catalog is at generation {generation}"
            )
        try:
            data = self.vectors_path.read_bytes()
        except FileNotFoundError:
            return f"{self.vectors_path} is missing"
        except OSError as exc:
            return f"{self.vectors_path} is unreadable ({exc})"
        if sha256_bytes(data) != manifest["faiss_sha256"]:
            return f"{self.vectors_path} does not match the sha256 in its manifest"
        try:
            vectors = FaissVectorIndex.deserialize(data, self.dimension, ann=self.ann)
        except ValueError as exc:
            return f"{self.vectors_path} is unreadable ({exc})"
        if vectors.ntotal != manifest["vectors"]:
            return f"{self.vectors_path} holds {vectors.ntotal} vectors, its manifest says {manifest['vectors']}"
        return vectors

    def _rebuild_vectors(self) -> None:
        """Rebuild the in-memory FAISS index from the embeddings in the catalog (one consistent snapshot)."""
        vectors = FaissVectorIndex(self.dimension, ann=self.ann)
        with self._catalog.read():
            generation = self._catalog.generation()
            for ids, vecs in self._catalog.iter_embeddings():
                vectors.add(ids, vecs)
        self._vectors = vectors
        self._generation = generation
        self._dirty = True

    def _load_vectors(self, *, quiet: bool) -> None:
        """Make the in-memory vectors reflect the catalog: load the file if valid, else rebuild."""
        generation = self._catalog.generation()
        loaded = self._read_vectors_file(generation)
        if isinstance(loaded, FaissVectorIndex):
            self._vectors = loaded
            self._generation = generation
            self._dirty = False
            log.debug("loaded %s (%d vectors, generation %d)", self.vectors_path, loaded.ntotal, generation)
            return
        report = log.debug if quiet else log.warning
        report("rebuilding the vector index of %s from the catalog: %s", self.data_dir, loaded)
        self._rebuild_vectors()

    def refresh(self) -> bool:
        """Reload the vectors if another process changed the catalog since the last look; True if reloaded."""
        with self._lock:
            self._check_open()
            if self._catalog.generation() == self._generation:
                return False
            self._load_vectors(quiet=True)
            return True

    def _try_flush(self, timeout: float) -> None:
        try:
            self._flush(timeout)
        except IndexLockedError:
            log.info("not flushing %s now: another process holds the writer lock", self.vectors_path)
        except OSError as exc:
            log.warning("could not write %s: %s", self.vectors_path, exc)

    def flush(self) -> None:
        """Write ``vectors.faiss`` and ``manifest.json`` atomically if the in-memory index changed."""
        self._flush(_DEFAULT_LOCK_TIMEOUT)

    def _flush(self, timeout: float) -> None:
        with self._wlock.hold(timeout):
            with self._lock:
                self._check_open()
                self.refresh()
                if not self._dirty and self.vectors_path.exists() and self.manifest_path.exists():
                    return
                data = self._vectors.serialize()
                manifest: dict[str, Any] = {
                    "embedder_id": self.embedder_id,
                    "embedder_checksum": self.embedder_checksum,
                    "dimension": self.dimension,
                    "metric": "inner_product",
                    "normalized": True,
                    "generation": self._generation,
                    "vectors": self._vectors.ntotal,
                    "faiss_version": faiss.__version__,
                    "numpy_version": np.__version__,
                    "sqlite_version": sqlite3.sqlite_version,
                    "schema_version": SCHEMA_VERSION,
                    "faiss_sha256": sha256_bytes(data),
                }
            # Still under the writer lock: no other writer can change the catalog meanwhile.
            atomic_write(self.vectors_path, data)
            write_manifest(self.manifest_path, manifest)
            with self._lock:
                if self._generation == manifest["generation"]:
                    self._dirty = False
            log.debug(
                "flushed %s (%d vectors, generation %d)",
                self.vectors_path,
                manifest["vectors"],
                manifest["generation"],
            )

    # ------------------------------------------------------------------ writing
    @contextmanager
    def writer(self, timeout: float = _DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the writer lock for a batch of writes; flushes the vectors on exit."""
        with self._wlock.hold(timeout) as outermost:
            if outermost:
                self.refresh()
            try:
                yield
            finally:
                if outermost:
                    self.flush()

    @contextmanager
    def _write_session(self) -> Iterator[None]:
        """The writer lock for one write (reentrant inside ``writer()``); no flush, ``close()`` does that."""
        with self._wlock.hold(_DEFAULT_LOCK_TIMEOUT) as outermost:
            if outermost:
                self.refresh()
            yield

    def _apply_vectors(self, generation: int, removed: Sequence[int], added: list[tuple[int, np.ndarray]]) -> None:
        """Update the in-memory FAISS index after a commit. Caller holds ``self._lock``."""
        try:
            if self._generation != generation - 1:
                # Someone else's commit slipped in (should not happen under the writer lock): reload fully.
                self._load_vectors(quiet=False)
                return
            self._vectors.remove(np.array(removed, dtype=np.int64))
            if added:
                self._vectors.add(np.array([i for i, _ in added], dtype=np.int64), np.stack([v for _, v in added]))
            self._generation = generation
            self._dirty = True
        except BaseException:
            self._generation = -1  # force a reload on the next refresh()
            raise

    def _validate(self, text: str, chunks: Sequence[NewChunk]) -> list[NewChunk]:
        if not isinstance(text, str) or not text:
            raise InvalidValueError("document text is empty")
        out: list[NewChunk] = []
        for i, chunk in enumerate(chunks):
            if not (0 <= chunk.start < chunk.end <= len(text)):
                raise InvalidValueError(
                    f"chunk {i}: span [{chunk.start}:{chunk.end}] is outside the text (length {len(text)})"
                )
            if text[chunk.start : chunk.end] != chunk.text:
                raise InvalidValueError(
                    f"chunk {i}: text does not equal the document text at [{chunk.start}:{chunk.end}]"
                )
            emb = np.asarray(chunk.embedding, dtype=np.float32)
            if emb.ndim != 1 or emb.shape[0] != self.dimension:
                raise InvalidValueError(
                    f"chunk {i}: embedding has shape {emb.shape}, expected ({self.dimension},) for {self.embedder_id}"
                )
            norm = float(np.linalg.norm(emb))
            if not np.isfinite(norm) or norm == 0.0:
                raise InvalidValueError(f"chunk {i}: embedding is zero or not finite")
            if abs(norm - 1.0) > 1e-4:
                emb = emb / norm
            out.append(NewChunk(start=chunk.start, end=chunk.end, text=chunk.text, embedding=emb))
        return out

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
    ) -> Literal["added", "replaced", "unchanged"]:
        """Add or replace the document at ``source`` of ``collection`` in one transaction; ``InvalidValueError`` if
        invalid. Same text with other metadata, pages or origin updates the row only (and the title and date)."""
        if not source:
            raise InvalidValueError("document source is empty")
        check_collection(collection)
        clean = self._validate(text, chunks)
        _check_date(date)
        pages = pages_text(page_starts)
        if any(not (0 <= p <= len(text)) for p in page_starts) or list(page_starts) != sorted(page_starts):
            raise InvalidValueError("page offsets must be ascending offsets inside the text")
        meta_json = json.dumps({str(k): str(v) for k, v in (meta or {}).items()}, sort_keys=True)
        digest = content_hash(text)
        fields = DocumentFields(meta_json, pages, origin)
        with self._write_session(), self._lock:
            self._check_open()
            # Under the writer lock nobody else writes, so what this read sees is what the write below changes.
            with self._catalog.read():
                existing = self._catalog.document_row(source, collection)
                unchanged = (
                    existing is not None
                    and existing.content_hash == digest
                    and self._catalog.document_fields(existing.doc_id) == fields
                )
            if unchanged:
                log.debug("unchanged %s", source)
                return "unchanged"
            with self._catalog.write() as txn:
                result, removed, added = self._write_document(
                    existing, source, title, text, digest, clean, date, meta_json, pages, collection, origin
                )
            self._apply_vectors(txn.generation, removed, added)
        log.info("%s %s (%d new chunks, %d dropped)", result, source, len(added), len(removed))
        return result

    def _write_document(
        self,
        existing: DocumentRow | None,
        source: str,
        title: str,
        text: str,
        digest: str,
        clean: list[NewChunk],
        date: str | None,
        meta_json: str,
        pages: str = "",
        collection: str = DEFAULT_COLLECTION,
        origin: str = "",
    ) -> tuple[Literal["added", "replaced"], list[int], list[tuple[int, np.ndarray]]]:
        """The statements of one upsert inside its transaction: (result, removed ids, added vectors)."""
        added: list[tuple[int, np.ndarray]] = []
        content_id = self._catalog.content_id(digest)
        if content_id is None:
            content_id, ids = self._catalog.insert_content(digest, text, clean)
            added = [(i, c.embedding) for i, c in zip(ids, clean, strict=True)]
        now = time.time()
        if existing is None:
            self._catalog.insert_document(source, title, content_id, date, meta_json, now, pages, collection, origin)
            return "added", [], added
        self._catalog.update_document(existing.doc_id, title, content_id, date, meta_json, now, pages, origin)
        removed = self._catalog.delete_content_if_orphan(existing.content_id)
        return "replaced", removed, added

    def delete_document(self, source: str, collection: str = DEFAULT_COLLECTION) -> None:
        """Remove a document; its content, chunks and vectors go too unless another document shares them."""
        with self._write_session(), self._lock:
            self._check_open()
            with self._catalog.write() as txn:
                existing = self._catalog.document_row(source, collection)
                if existing is None:
                    raise DocumentNotFoundError(_not_found(source, collection, self.data_dir))
                self._catalog.delete_document_row(existing.doc_id)
                removed = self._catalog.delete_content_if_orphan(existing.content_id)
            self._apply_vectors(txn.generation, removed, [])
        log.info("deleted %s (%d chunks dropped)", source, len(removed))

    def rebuild(self) -> None:
        """Rebuild the FTS5 table and the FAISS index from the catalog, then flush."""
        with self.writer():
            with self._lock:
                self._check_open()
                with self._catalog.write():
                    self._catalog.rebuild_fts()
                self._rebuild_vectors()
            log.info("rebuilt the search indexes of %s", self.data_dir)

    def repair(self, grace_s: float = 0.0) -> list[str]:
        """Fix what ``verify()`` can find: drop content rows no document references, rebuild FTS5 and FAISS.

        An interrupted write never needs this here (it is one SQLite transaction, rolled back on reopen);
        ``grace_s`` is accepted for the ``Store`` contract and ignored.
        """
        actions: list[str] = []
        with self.writer():
            with self._lock:
                self._check_open()
                with self._catalog.write():
                    orphans = self._catalog.delete_orphan_contents()
                if orphans:
                    actions.append(f"dropped {orphans} content rows that no document references")
            if not self.verify().ok:
                self.rebuild()
                actions.append("rebuilt the FTS5 table and the FAISS index from the catalog")
        return actions

    # ------------------------------------------------------------------ reading
    def document_state(
        self, source: str, content_hash: str, collection: str = DEFAULT_COLLECTION
    ) -> Literal["new", "unchanged", "changed"]:
        """``new``, ``unchanged`` (stored with this content hash) or ``changed``."""
        with self._lock:
            self._check_open()
            row = self._catalog.document_row(source, collection)
        if row is None:
            return "new"
        return "unchanged" if row.content_hash == content_hash else "changed"

    def content_embeddings(self, content_hash: str) -> list[NewChunk] | None:
        """The stored chunks and embeddings of this content, to reuse; None if none."""
        with self._lock:
            self._check_open()
            return self._catalog.content_chunks(content_hash, self.dimension)

    def get_document(self, source: str, collection: str = DEFAULT_COLLECTION) -> DocumentRecord:
        """The record of ``source``; ``DocumentNotFoundError`` if it is not there."""
        with self._lock:
            self._check_open()
            record = self._catalog.get_document(source, collection)
        if record is None:
            raise DocumentNotFoundError(_not_found(source, collection, self.data_dir))
        return record

    def document_text(self, source: str, collection: str = DEFAULT_COLLECTION) -> str:
        """The stored text of ``source`` (the pinned version inside ``pinned_reads()``)."""
        pinned = self._pinned_text(source, collection)
        if pinned is not None:
            return pinned
        with self._lock:
            self._check_open()
            text = self._catalog.document_text(source, collection)
        if text is None:
            raise DocumentNotFoundError(_not_found(source, collection, self.data_dir))
        return text

    def list_documents(
        self, collection: str | None = DEFAULT_COLLECTION, origin: str | None = None
    ) -> list[DocumentRecord]:
        """Documents of ``collection`` (None: every collection), only those a sync took from ``origin`` if given."""
        with self._lock:
            self._check_open()
            return self._catalog.list_documents(collection, origin)

    def collections(self) -> dict[str, int]:
        """Every collection that holds documents, with its document count."""
        with self._lock:
            self._check_open()
            return self._catalog.collections()

    def page_of(self, source: str, offset: int, collection: str = DEFAULT_COLLECTION) -> int | None:
        """The 1-based page (PDF page, slide) of character ``offset`` of a document; None for formats without
        pages or an unknown document."""
        with self._lock:
            self._check_open()
            record = self._catalog.get_document(source, collection)
        return None if record is None else record.page_of(offset)

    def _narrow(self, filters: ChunkFilter | None) -> ChunkFilter | None:
        """Drop a collection condition that every document meets (one collection only): same result, no
        per-query id list. Caller holds ``self._lock``."""
        if filters is None or filters.collection is None:
            return filters
        if self._collections_at != self._generation:
            self._collection_names = set(self._catalog.collections())
            self._collections_at = self._generation
        if self._collection_names <= {filters.collection}:
            filters = dataclasses.replace(filters, collection=None)
        return None if filters.empty else filters

    def _allowed_ids(self, filters: ChunkFilter) -> np.ndarray:
        """The chunk ids a filter allows, cached per catalog generation (a collection or a metadata filter is
        asked again and again). Caller holds ``self._lock``."""
        if self._allowed_at != self._generation:
            self._allowed_cache.clear()
            self._allowed_at = self._generation
        ids = self._allowed_cache.get(filters)
        if ids is None:
            ids = self._catalog.allowed_chunk_ids(filters)
            if len(self._allowed_cache) >= _ALLOWED_CACHE_SIZE:
                self._allowed_cache.pop(next(iter(self._allowed_cache)))
            self._allowed_cache[filters] = ids
        return ids

    def chunks(self, ids: Sequence[int], filters: ChunkFilter | None = None) -> dict[int, ChunkRecord]:
        """The chunks among ``ids`` that ``filters`` allows, by id (pinning texts inside ``pinned_reads()``)."""
        pins = self._pins()
        with self._lock:
            self._check_open()
            if pins is None:
                return self._catalog.resolve_chunks(ids, filters)
            with self._catalog.read():  # the chunks and their documents' texts from one snapshot
                records = self._catalog.resolve_chunks(ids, filters)
                for collection, source in {(r.collection, r.source) for r in records.values()} - pins.keys():
                    text = self._catalog.document_text(source, collection)
                    if text is not None:
                        pins[(collection, source)] = text
        return records

    # ------------------------------------------------------------------ pinned reads (answers vs. writers)
    @contextmanager
    def pinned_reads(self) -> Iterator[None]:
        """Within this block, in this thread, ``chunks()`` also pins the text of each document it returns (read
        in the same transaction), and ``document_text()`` answers from those pins first: an answer that reads a
        document it retrieved a moment ago gets the version its passages came from, even if a writer replaced or
        deleted it meanwhile. Outside the block nothing changes; blocks nest."""
        stack: list[dict[tuple[str, str], str]] | None = getattr(self._pinned, "stack", None)
        if stack is None:
            stack = self._pinned.stack = []
        pins: dict[tuple[str, str], str] = {}
        stack.append(pins)
        try:
            yield
        finally:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] is pins:
                    del stack[i]
                    break

    def _pins(self) -> dict[tuple[str, str], str] | None:
        stack: list[dict[tuple[str, str], str]] | None = getattr(self._pinned, "stack", None)
        return stack[-1] if stack else None

    def _pinned_text(self, source: str, collection: str) -> str | None:
        for pins in reversed(getattr(self._pinned, "stack", None) or ()):
            if (collection, source) in pins:
                return pins[(collection, source)]
        return None

    def dense_search(self, query: np.ndarray, k: int, filters: ChunkFilter | None = None) -> list[ScoredId]:
        """The ``k`` chunks nearest to the (normalised) query embedding that ``filters`` allows."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dimension:
            raise InvalidValueError(f"query has dimension {q.shape[0]}, the index has {self.dimension}")
        norm = float(np.linalg.norm(q))
        if not np.isfinite(norm) or norm == 0.0 or k <= 0:
            return []
        q = q / norm
        with self._lock:
            self.refresh()
            filters = self._narrow(filters)
            allowed = None if filters is None or filters.empty else self._allowed_ids(filters)
            if allowed is not None and len(allowed) == 0:
                return []
            hits = self._vectors.search(q, k, allowed)
        return [ScoredId(chunk_id=i, score=s) for i, s in hits]

    def bm25_search(self, query: str, k: int, filters: ChunkFilter | None = None) -> list[ScoredId]:
        """The ``k`` best FTS5 BM25 matches of the keywords in ``query`` that ``filters`` allows."""
        expression = fts_expression(query) if isinstance(query, str) else ""
        if not expression or k <= 0:
            return []
        with self._lock:
            self.refresh()
            filters = self._narrow(filters)
            try:
                hits = self._catalog.bm25(expression, k, filters)
            except sqlite3.OperationalError as exc:
                log.warning("full-text query %r failed: %s", expression, exc)
                return []
        return [ScoredId(chunk_id=i, score=s) for i, s in hits]

    # ------------------------------------------------------------------ stats / verify
    def stats(self) -> IndexStats:
        """Counts, embedder, generation and file sizes of this index."""
        with self._lock:
            self._check_open()
            self.refresh()
            documents, contents, n_chunks = self._catalog.counts()
            vectors = self._vectors.ntotal
            generation = self._generation
        catalog_bytes = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                catalog_bytes += (self.data_dir / (CATALOG_FILE + suffix)).stat().st_size
        faiss_bytes = 0
        with contextlib.suppress(OSError):
            faiss_bytes = self.vectors_path.stat().st_size
        return IndexStats(
            documents=documents,
            contents=contents,
            chunks=n_chunks,
            vectors=vectors,
            dimension=self.dimension,
            embedder_id=self.embedder_id,
            generation=generation,
            catalog_bytes=catalog_bytes,
            faiss_bytes=faiss_bytes,
        )

    def verify(self) -> VerifyReport:
        """Check the catalog, the FTS table, the FAISS index and the manifest against each other."""
        with self._lock:
            self._check_open()
            self.refresh()
            with self._catalog.read():
                problems, checked, chunk_ids, embeddings = self._catalog.verify(self.dimension)
                meta = self._catalog.meta()
            if meta.get("embedder_id") != self.embedder_id or int(meta.get("dimension", -1)) != self.dimension:
                problems.append("catalog meta embedder/dimension differ from the open store")
            faiss_ids = np.sort(self._vectors.ids())
            n_catalog = len(chunk_ids)
            if self._vectors.ntotal != n_catalog:
                problems.append(f"FAISS holds {self._vectors.ntotal} vectors, the catalog {n_catalog} chunks")
            if len(np.unique(faiss_ids)) != len(faiss_ids):
                problems.append("FAISS holds duplicate ids")
            missing = np.setdiff1d(chunk_ids, faiss_ids)
            extra = np.setdiff1d(faiss_ids, chunk_ids)
            if len(missing) or len(extra):
                problems.append(
                    f"FAISS ids differ from chunk ids: {len(missing)} missing (e.g. {missing[:5].tolist()}), "
                    f"{len(extra)} extra (e.g. {extra[:5].tolist()})"
                )
            mismatched = 0
            for chunk_id in np.intersect1d(chunk_ids, faiss_ids):
                stored = embeddings[int(chunk_id)]
                if not np.allclose(self._vectors.reconstruct(int(chunk_id)), stored, atol=self._vectors.tolerance):
                    mismatched += 1
            if mismatched:
                problems.append(f"{mismatched} FAISS vectors differ from the stored embeddings")
            if not self._dirty:
                loaded = self._read_vectors_file(self._generation)
                if not isinstance(loaded, FaissVectorIndex):
                    problems.append(f"manifest/vector file: {loaded}")
        for problem in problems:
            log.warning("verify %s: %s", self.data_dir, problem)
        return VerifyReport(ok=not problems, problems=problems, checked_chunks=checked)


_COLLECTION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_collection(name: str) -> str:
    """A collection name: a letter or digit, then letters, digits, '_', '.' or '-' (at most 64 characters)."""
    if not isinstance(name, str) or not _COLLECTION_RE.fullmatch(name):
        raise InvalidValueError(
            f"bad collection name {name!r}: a letter or digit, then letters, digits, '_', '.' or '-' (at most 64)"
        )
    return name


def _check_catalog_file(data_dir: Path, *, create: bool) -> None:
    """Make ``data_dir`` if ``create`` and there is no catalog; refuse a missing one otherwise, and an emptied one
    next to a manifest."""
    catalog_path = data_dir / CATALOG_FILE
    if not catalog_path.exists():
        if not create:
            raise StorageError(f"no index at {data_dir}; run `ragqa ingest` first")
        data_dir.mkdir(parents=True, exist_ok=True)
    elif catalog_path.stat().st_size == 0 and (data_dir / MANIFEST_FILE).exists():
        # An emptied catalog next to a manifest of a real index is damage, never a fresh start.
        raise CorruptIndexError(
            f"catalog {catalog_path} is empty but {data_dir / MANIFEST_FILE} describes an index; "
            "restore the catalog from a backup or move the data dir away to start over"
        )


def _check_embedder(catalog: Catalog, data_dir: Path, embedder_id: str, embedder_checksum: str, dimension: int) -> None:
    """``EmbedderMismatchError`` if the index was built with another embedder or dimension; a warning if only the
    checksum differs."""
    meta = catalog.meta()
    stored_id, stored_dim = meta["embedder_id"], int(meta["dimension"])
    if stored_id != embedder_id or stored_dim != dimension:
        raise EmbedderMismatchError(
            f"the index at {data_dir} was built with embedder {stored_id!r} (dimension {stored_dim}) "
            f"but embedder {embedder_id!r} (dimension {dimension}) is configured; "
            "use another data dir, or set the embedder it was built with (RAGQA_EMBEDDER)"
        )
    if meta.get("embedder_checksum", "") != embedder_checksum:
        log.warning(
            "index %s was built with embedder %s checksum %s, configured checksum is %s",
            data_dir,
            embedder_id,
            meta.get("embedder_checksum"),
            embedder_checksum,
        )


def _not_found(source: str, collection: str, data_dir: Path) -> str:
    where = "" if collection == DEFAULT_COLLECTION else f" collection {collection!r} of"
    return f"no document {source!r} in{where} {data_dir}"
