"""load → chunk → embed → store, one committed document at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from index import DEFAULT_COLLECTION, NewChunk, check_collection, content_hash
from rag.documents import LoadedDocument, discover, load_path
from rag.engine import Engine
from rag.errors import BadInputError
from rag.text import TextSpan, chunk_lines, chunk_text

log = logging.getLogger(__name__)

Status = Literal["added", "replaced", "unchanged", "failed"]


@dataclass(frozen=True)
class IngestResult:
    source: str
    status: Status
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestSummary:
    results: list[IngestResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results if r.status in ("added", "replaced"))

    @property
    def failed(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "failed"]

    def line(self) -> str:
        return (
            f"added {self.count('added')} · replaced {self.count('replaced')} · unchanged {self.count('unchanged')}"
            f" · failed {self.count('failed')} · {self.chunks} chunks · {self.seconds:.1f}s"
        )


def ingest_document(
    engine: Engine, doc: LoadedDocument, *, collection: str = DEFAULT_COLLECTION, origin: str = ""
) -> IngestResult:
    """Store one loaded document in ``collection`` (a no-op when unchanged). The caller holds the writer lock for
    batches. ``origin`` is the folder a sync took it from ('' when ingested directly)."""
    digest = content_hash(doc.text)
    store = engine.store
    if store.document_state(doc.source, digest, collection) == "unchanged":
        record = store.get_document(doc.source, collection)
        if record.meta == doc.meta and record.page_starts == doc.page_starts and record.origin == origin:
            return IngestResult(doc.source, "unchanged", record.n_chunks)
    chunks = store.content_embeddings(digest)
    if chunks is None:
        spans = _chunk(doc, engine)
        if not spans:
            raise BadInputError("no text to index")
        vectors = engine.embedder.embed_documents([_embedding_text(doc.title, s.text) for s in spans])
        chunks = [NewChunk(s.start, s.end, s.text, v) for s, v in zip(spans, vectors, strict=True)]
    status = store.upsert_document(
        source=doc.source,
        title=doc.title,
        text=doc.text,
        chunks=chunks,
        date=doc.date,
        meta=doc.meta,
        page_starts=doc.page_starts,
        collection=collection,
        origin=origin,
    )
    return IngestResult(doc.source, status, len(chunks))


def add_document(engine: Engine, doc: LoadedDocument, collection: str = DEFAULT_COLLECTION) -> IngestResult:
    """Store one document on its own, under the writer lock (uploads); a store rejection is ``BadInputError``."""
    try:
        with engine.store.writer():
            return ingest_document(engine, doc, collection=collection)
    except ValueError as exc:  # e.g. a date the store rejects
        raise BadInputError(str(exc)) from None


def remove_document(engine: Engine, source: str, collection: str = DEFAULT_COLLECTION) -> None:
    """Delete a document everywhere (catalog, FTS5, FAISS), under the writer lock."""
    with engine.store.writer():
        engine.store.delete_document(source, collection)


def _chunk(doc: LoadedDocument, engine: Engine) -> list[TextSpan]:
    """Chunks of a document: groups of whole rows for tables (CSV), groups of sentences otherwise."""
    s = engine.settings
    if doc.meta.get("format") == "csv":
        return chunk_lines(doc.text, s.chunk_max_words)
    return chunk_text(doc.text, s.chunk_max_words, s.chunk_overlap_sentences)


def _embedding_text(title: str, chunk: str) -> str:
    """What gets embedded: the chunk, led by its document's title unless it already starts with it."""
    return chunk if chunk.startswith(title) else f"{title}\n{chunk}"


def ingest_paths(
    engine: Engine,
    paths: Sequence[Path],
    *,
    progress: bool = True,
    collection: str = DEFAULT_COLLECTION,
    meta: Mapping[str, str] | None = None,
) -> IngestSummary:
    """Ingest files and folders into ``collection``; ``meta`` is added to every document's metadata."""
    try:
        check_collection(collection)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    started = time.perf_counter()
    summary = IngestSummary()
    found, failures = discover(paths)
    summary.results.extend(IngestResult(path, "failed", reason=reason) for path, reason in failures)
    with (
        engine.store.writer(),
        tqdm(total=len(found), unit="doc", desc="ingest", disable=not progress) as bar,
    ):
        chunks = 0
        for path, source in found:
            try:
                result = ingest_document(engine, load_path(path, source, meta=meta), collection=collection)
            except (BadInputError, ValueError) as exc:
                result = IngestResult(source, "failed", reason=str(exc))
            summary.results.append(result)
            chunks += result.chunks
            rate = chunks / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix_str(f"{chunks} chunks, {rate:.1f} chunks/s, {source[-30:]}", refresh=False)
            bar.update(1)
    summary.seconds = time.perf_counter() - started
    return summary
