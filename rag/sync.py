"""Folder sync: make a collection mirror a folder — add new files, replace changed ones, remove the documents whose
files are gone (only those an earlier sync took from this same folder) — once, or on every change (``watch``).

Every document is committed on its own and deletions come after the additions, so an interrupted sync (Ctrl-C)
leaves the index as after the last committed step; the next sync finishes the job. Editor temp files and lock
files are ignored; a file modified less than ``settle_s`` ago may still be being written: a one-off sync
ingests it anyway (its loader fails cleanly on a torn file and the old version stays), a watch defers it until
it has settled.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from index import DEFAULT_COLLECTION, check_collection
from rag.budget import IngestBudget, budget_scope
from rag.documents import SUPPORTED_SUFFIXES, discover, load_path
from rag.engine import Engine
from rag.errors import BadInputError
from rag.ingest import IngestResult, ingest_document

log = logging.getLogger(__name__)

# Editors' and office suites' temp, backup and lock files (hidden files and folders are skipped by ``discover``).
_TEMP_RE = re.compile(r"^(~\$|#).*|.*(~|\.swp|\.swx|\.tmp|\.temp|\.part|\.crdownload|\.bak|#)$", re.IGNORECASE)


def is_temp_file(name: str) -> bool:
    """True for names editors and downloads use while writing: ``~$x.docx``, ``#x.md#``, ``x.md~``, ``x.swp`` …"""
    return name.startswith(".") or bool(_TEMP_RE.match(name))


@dataclass(frozen=True)
class SyncResult:
    source: str
    status: str  # added | replaced | unchanged | removed | deferred | failed
    reason: str = ""
    chunks: int = 0


@dataclass
class SyncSummary:
    folder: str
    collection: str
    results: list[SyncResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many files ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[SyncResult]:
        """The files that failed."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def changed(self) -> list[SyncResult]:
        """The files whose status is not ``unchanged`` (what a sync reports)."""
        return [r for r in self.results if r.status != "unchanged"]

    def line(self) -> str:
        """The one-line summary: a count per status and the seconds taken."""
        parts = [f"{s} {self.count(s)}" for s in ("added", "replaced", "unchanged", "removed", "failed")]
        if self.count("deferred"):
            parts.append(f"deferred {self.count('deferred')}")
        return " · ".join(parts) + f" · {self.seconds:.1f}s"


_REASONS = {"added": "new file", "replaced": "file changed", "unchanged": "", "removed": "file deleted"}


def folder_origin(folder: Path) -> str:
    """What documents of a sync remember as their origin: the folder's absolute, resolved path."""
    return str(folder.resolve())


def sync_folder(
    engine: Engine,
    folder: Path,
    *,
    collection: str = DEFAULT_COLLECTION,
    meta: Mapping[str, str] | None = None,
    settle_s: float = 0.0,
    progress: bool = False,
) -> SyncSummary:
    """Mirror ``folder`` into ``collection`` once. ``settle_s`` > 0 defers files modified more recently than that."""
    started = time.perf_counter()
    check_collection(collection)
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a directory")
    origin = folder_origin(folder)
    summary = SyncSummary(folder=origin, collection=collection)
    found, failures = discover([folder])
    found = [(p, s) for p, s in found if not any(is_temp_file(part) for part in Path(s).parts)]
    summary.results.extend(SyncResult(path, "failed", reason) for path, reason in failures)
    present = {source for _, source in found}
    now = time.time()
    store = engine.store
    with store.writer(), tqdm(total=len(found), unit="doc", desc="sync", disable=not progress) as bar:
        for path, source in found:
            summary.results.append(_sync_file(engine, path, source, collection, origin, meta, settle_s, now))
            bar.update(1)
        # Deletions last: an interrupted sync never loses a document whose file is still there.
        for record in store.list_documents(collection, origin=origin):
            if record.source not in present:
                store.delete_document(record.source, collection)
                summary.results.append(SyncResult(record.source, "removed", _REASONS["removed"]))
    summary.seconds = time.perf_counter() - started
    return summary


def _sync_file(
    engine: Engine,
    path: Path,
    source: str,
    collection: str,
    origin: str,
    meta: Mapping[str, str] | None,
    settle_s: float,
    now: float,
) -> SyncResult:
    try:
        if settle_s > 0 and now - path.stat().st_mtime < settle_s:
            return SyncResult(source, "deferred", "still being written")
        budget = IngestBudget.from_settings(engine.settings)
        with budget_scope(budget):  # the configured limits (max_document_bytes, max_page_chars) apply to loading
            doc = load_path(path, source, meta=meta)
            result: IngestResult = ingest_document(engine, doc, budget, collection=collection, origin=origin)
    except (BadInputError, ValueError, OSError) as exc:
        return SyncResult(source, "failed", str(exc))
    return SyncResult(source, result.status, _REASONS.get(result.status, ""), result.chunks)


def _watch_filter(folder: Path) -> Callable[[object, str], bool]:
    def keep(change: object, path: str) -> bool:
        name = Path(path).name
        if is_temp_file(name):
            return False
        # A folder event (no suffix) or a supported file; unsupported types never change the index.
        return not Path(name).suffix or name.lower().endswith(SUPPORTED_SUFFIXES)

    return keep


def watch_folder(
    engine: Engine,
    folder: Path,
    *,
    collection: str = DEFAULT_COLLECTION,
    meta: Mapping[str, str] | None = None,
    debounce_ms: int = 1600,
    settle_s: float = 1.0,
    stop: threading.Event | None = None,
) -> Iterator[SyncSummary]:
    """Sync once, then again after every burst of changes (debounced), until ``stop`` is set or Ctrl-C.
    Yields each sync's summary. Files still being written are retried once they have settled."""
    from watchfiles import watch

    summary = sync_folder(engine, folder, collection=collection, meta=meta, settle_s=settle_s)
    yield summary
    pending = summary.count("deferred") > 0
    timeout_ms = max(100, int(settle_s * 1000)) if settle_s > 0 else 1000
    for changes in watch(
        folder,
        watch_filter=_watch_filter(folder),
        debounce=debounce_ms,
        stop_event=stop,
        rust_timeout=timeout_ms,
        yield_on_timeout=True,
    ):
        if stop is not None and stop.is_set():
            return
        if not changes and not pending:
            continue
        log.info("sync %s: %d change(s)", folder, len(changes))
        summary = sync_folder(engine, folder, collection=collection, meta=meta, settle_s=settle_s)
        pending = summary.count("deferred") > 0
        yield summary
