"""load → chunk → embed → store, one committed document at a time."""

from __future__ import annotations

import logging
import queue
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from index import DEFAULT_COLLECTION, NewChunk, check_collection, content_hash
from rag.budget import IngestBudget, WorkCancelled, budget_scope, current_budget
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


EMBED_BATCH = 32
"""Texts embedded per call; the budget (time, cancel) is checked between batches."""
GROUP_TEXTS = 256
"""``ingest_paths`` embeds the chunks of consecutive documents together, up to about this many texts, sorted by
length, so that a batch holds texts of similar length (little padding) whatever the documents' sizes."""
PREFETCH_DOCUMENTS = 8
"""Documents ``ingest_paths`` loads (parses) ahead in a worker thread while the embedder runs."""


@dataclass(frozen=True)
class PreparedDocument:
    """A document with its chunks embedded, ready to commit (nothing written yet)."""

    doc: LoadedDocument
    chunks: list[NewChunk]
    collection: str = DEFAULT_COLLECTION
    origin: str = ""


@dataclass
class _ToEmbed:
    """A document chunked, waiting for its vectors."""

    doc: LoadedDocument
    spans: list[TextSpan]
    texts: list[str]
    budget: IngestBudget
    collection: str
    origin: str
    vectors: list[np.ndarray | None] = field(default_factory=list)
    error: Exception | None = None


def _plan_document(
    engine: Engine,
    doc: LoadedDocument,
    budget: IngestBudget,
    collection: str,
    origin: str,
) -> PreparedDocument | IngestResult | _ToEmbed:
    """Check the limits; the ``unchanged`` result, or the document with its stored embeddings when the same text
    is already indexed, or its chunks still to embed."""
    budget.check_chars(len(doc.text))
    budget.check()
    digest = content_hash(doc.text)
    store = engine.store
    if store.document_state(doc.source, digest, collection) == "unchanged":
        record = store.get_document(doc.source, collection)
        if record.meta == doc.meta and record.page_starts == doc.page_starts and record.origin == origin:
            return IngestResult(doc.source, "unchanged", record.n_chunks)
    chunks = store.content_embeddings(digest)
    if chunks is not None:
        return PreparedDocument(doc, chunks, collection, origin)
    spans = _chunk(doc, engine)
    if not spans:
        raise BadInputError("no text to index")
    budget.check_chunks(len(spans))
    texts = [_embedding_text(doc.title, s.text) for s in spans]
    return _ToEmbed(doc, spans, texts, budget, collection, origin, [None] * len(texts))


def _embed_together(engine: Engine, items: Sequence[_ToEmbed]) -> None:
    """Embed the texts of ``items`` in batches of similar length (longest first), checking the budget of every
    document of a batch before it; a document whose budget fails gets ``error`` and no more of its texts are
    embedded."""
    order = sorted(
        ((i, j) for i, item in enumerate(items) for j in range(len(item.texts))),
        key=lambda ij: -len(items[ij[0]].texts[ij[1]]),
    )
    pending = [ij for ij in order]
    while pending:
        batch: list[tuple[int, int]] = []
        checked: set[int] = set()
        rest: list[tuple[int, int]] = []
        for ij in pending:
            i = ij[0]
            if len(batch) >= EMBED_BATCH:
                rest.append(ij)
                continue
            item = items[i]
            if item.error is not None:
                continue
            if i not in checked:
                checked.add(i)
                try:
                    item.budget.check()
                except (BadInputError, WorkCancelled) as exc:
                    item.error = exc
                    continue
            batch.append(ij)
        pending = rest
        if not batch:
            continue
        vectors = engine.embedder.embed_documents([items[i].texts[j] for i, j in batch])
        for (i, j), vector in zip(batch, vectors, strict=True):
            items[i].vectors[j] = vector
    for item in items:
        if item.error is None:
            try:
                item.budget.check()
            except (BadInputError, WorkCancelled) as exc:
                item.error = exc


def _finish(item: _ToEmbed) -> PreparedDocument:
    if item.error is not None:
        raise item.error
    chunks = [
        NewChunk(s.start, s.end, s.text, v) for s, v in zip(item.spans, item.vectors, strict=True) if v is not None
    ]
    return PreparedDocument(item.doc, chunks, item.collection, item.origin)


def prepare_document(
    engine: Engine,
    doc: LoadedDocument,
    budget: IngestBudget,
    *,
    collection: str = DEFAULT_COLLECTION,
    origin: str = "",
) -> PreparedDocument | IngestResult:
    """Check the limits, chunk and embed ``doc`` without the writer lock; an ``unchanged`` result when the stored
    document already has this text, metadata, pages and origin. ``LimitError``/``WorkCancelled`` leave the index
    untouched. ``origin`` is the folder a sync took it from ('' when ingested directly)."""
    planned = _plan_document(engine, doc, budget, collection, origin)
    if not isinstance(planned, _ToEmbed):
        return planned
    _embed_together(engine, [planned])
    return _finish(planned)


def commit_document(engine: Engine, prepared: PreparedDocument | IngestResult) -> IngestResult:
    """Store a prepared document in one transaction (the caller holds the writer lock, or it is taken here)."""
    if isinstance(prepared, IngestResult):
        return prepared
    doc = prepared.doc
    status = engine.store.upsert_document(
        source=doc.source,
        title=doc.title,
        text=doc.text,
        chunks=prepared.chunks,
        date=doc.date,
        meta=doc.meta,
        page_starts=doc.page_starts,
        collection=prepared.collection,
        origin=prepared.origin,
    )
    return IngestResult(doc.source, status, len(prepared.chunks))


def ingest_document(
    engine: Engine,
    doc: LoadedDocument,
    budget: IngestBudget | None = None,
    *,
    collection: str = DEFAULT_COLLECTION,
    origin: str = "",
) -> IngestResult:
    """Store one loaded document in ``collection`` (a no-op when unchanged). The caller holds the writer lock for
    batches. The limits and time budget are ``budget``'s, else the active one (``budget_scope``), else fresh from
    settings."""
    budget = budget or current_budget() or IngestBudget.from_settings(engine.settings)
    prepared = prepare_document(engine, _nfc_source(doc), budget, collection=collection, origin=origin)
    return commit_document(engine, prepared)


def add_document(
    engine: Engine,
    doc: LoadedDocument | Callable[[], LoadedDocument],
    collection: str = DEFAULT_COLLECTION,
    *,
    cancel: threading.Event | None = None,
) -> IngestResult:
    """Store one document on its own (uploads): load it (``doc`` may be a loader) and embed it under its budget
    without the writer lock, then take the lock only for the commit, so other writes go on meanwhile.

    ``cancel`` (set on a client disconnect or Ctrl-C) stops the work between pages and embedding batches with
    ``WorkCancelled``; a limit raises ``LimitError`` (a ``BadInputError``); a store rejection is ``BadInputError``.
    """
    budget = IngestBudget.from_settings(engine.settings, cancel)
    with budget_scope(budget):
        loaded = _nfc_source(doc() if callable(doc) else doc)
        prepared = prepare_document(engine, loaded, budget, collection=collection)
    with engine.store.writer():
        budget.check_cancelled()  # the client may have left while this waited for the lock
        return commit_document(engine, prepared)


def remove_document(engine: Engine, source: str, collection: str = DEFAULT_COLLECTION) -> None:
    """Delete a document everywhere (catalog, FTS5, FAISS), under the writer lock."""
    with engine.store.writer():
        engine.store.delete_document(normalize_source(source), collection)


def normalize_source(source: str) -> str:
    """Sources are stored in Unicode NFC, so the NFC and NFD spellings of ``café.txt`` are one document."""
    return unicodedata.normalize("NFC", source)


def _nfc_source(doc: LoadedDocument) -> LoadedDocument:
    source = normalize_source(doc.source)
    return doc if source == doc.source else replace(doc, source=source)


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
    """Ingest files and folders into ``collection``; ``meta`` is added to every document's metadata. A file that
    cannot be loaded or is refused is reported as ``failed`` in the summary and the others go on; a bad
    ``collection`` name raises ``BadInputError`` before anything is read.

    A worker thread loads (parses) the next files while the embedder runs; the chunks of consecutive documents
    (up to ``GROUP_TEXTS``) are embedded together in batches sorted by length; then each document is committed
    on its own, in the order of the files, so an interrupted run leaves the index as after its last commit."""
    check_collection(collection)
    started = time.perf_counter()
    summary = IngestSummary()
    found, failures = discover(paths)
    summary.results.extend(IngestResult(path, "failed", reason=reason) for path, reason in failures)
    loaded: queue.Queue[_Loaded | BaseException | None] = queue.Queue(maxsize=PREFETCH_DOCUMENTS)
    stop = threading.Event()

    def put(item: _Loaded | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                loaded.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def load_all() -> None:
        try:
            for path, source in found:
                budget = IngestBudget.from_settings(engine.settings)
                doc: LoadedDocument | Exception
                try:
                    with budget_scope(budget):
                        doc = _nfc_source(load_path(path, source, meta=meta))
                except (BadInputError, ValueError) as exc:
                    doc = exc
                if not put(_Loaded(source, doc, budget, time.monotonic() - budget.started)):
                    return
        except BaseException as exc:  # anything else stops the run, in the caller's thread
            put(exc)
        else:
            put(None)

    loader = threading.Thread(target=load_all, name="ragqa-ingest-loader", daemon=True)
    with (
        engine.store.writer(),
        tqdm(total=len(found), unit="doc", desc="ingest", disable=not progress) as bar,
    ):
        chunks = 0

        def record(result: IngestResult) -> None:
            nonlocal chunks
            summary.results.append(result)
            chunks += result.chunks
            rate = chunks / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix_str(f"{chunks} chunks, {rate:.1f} chunks/s, {result.source[-30:]}", refresh=False)
            bar.update(1)

        loader.start()
        try:
            done = False
            while not done:
                # One group: documents in file order, until enough texts wait for the embedder.
                group: list[tuple[str, PreparedDocument | IngestResult | _ToEmbed | Exception]] = []
                waiting = 0
                while waiting < GROUP_TEXTS:
                    item = loaded.get()
                    if item is None:
                        done = True
                        break
                    if isinstance(item, BaseException):
                        raise item
                    # The time budget counts loading and this document's own work, not the wait in the queue.
                    item.budget.started = time.monotonic() - item.load_seconds
                    planned: PreparedDocument | IngestResult | _ToEmbed | Exception
                    if isinstance(item.doc, Exception):
                        planned = item.doc
                    else:
                        try:
                            planned = _plan_document(engine, item.doc, item.budget, collection, "")
                        except (BadInputError, ValueError) as exc:
                            planned = exc
                    if isinstance(planned, _ToEmbed):
                        waiting += len(planned.texts)
                    group.append((item.source, planned))
                _embed_together(engine, [p for _, p in group if isinstance(p, _ToEmbed)])
                for source, planned in group:
                    try:
                        if isinstance(planned, Exception):
                            raise planned
                        prepared = _finish(planned) if isinstance(planned, _ToEmbed) else planned
                        result = commit_document(engine, prepared)
                    except (BadInputError, ValueError) as exc:
                        result = IngestResult(source, "failed", reason=str(exc))
                    record(result)
        finally:
            stop.set()
            loader.join(timeout=5)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(frozen=True)
class _Loaded:
    """What the loader thread hands over: a loaded document (or why it could not be loaded) and its budget."""

    source: str
    doc: LoadedDocument | Exception
    budget: IngestBudget
    load_seconds: float
