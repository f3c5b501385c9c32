"""Folder sync: adds, replaces and removes (only what came from that folder), ignores temp files, keeps the old
version of a torn file, stays consistent when interrupted, and ``--watch`` follows changes (debounced)."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag import cli
from rag.documents import load_text
from rag.engine import Engine
from rag.ingest import ingest_document
from rag.sync import SyncSummary, is_temp_file, sync_folder, watch_folder
from tests.conftest import FakeModelLoads
from tests.fakes import HashEmbedder
from tests.rag.test_loaders import make_docx


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def statuses(summary: SyncSummary) -> dict[str, str]:
    return {r.source: r.status for r in summary.results if r.status != "unchanged"}


def sources(engine: Engine, collection: str = "default") -> set[str]:
    return {d.source for d in engine.store.list_documents(collection)}


def test_temp_file_names() -> None:
    for name in ("~$report.docx", "#notes.md#", "notes.md~", "a.swp", "x.tmp", "big.pdf.part", ".hidden.txt"):
        assert is_temp_file(name), name
    for name in ("report.docx", "notes.md", "a-b.txt", "tmp.txt"):
        assert not is_temp_file(name), name


def test_sync_adds_replaces_removes_only_its_own(tmp_path: Path, fake_engine: Engine) -> None:
    folder = tmp_path / "notes"
    write(folder, "a.txt", "Alpha\nThe harbour opens at dawn.")
    write(folder, "sub/b.md", "# Beta\n\nThe ferry leaves at noon.")
    write(folder, "~$lock.docx", "junk")
    write(folder, "draft.md~", "backup")
    other = tmp_path / "other"
    write(other, "c.txt", "Gamma\nFrom another folder.")
    with fake_engine.store.writer():
        ingest_document(fake_engine, load_text("Direct\nIngested by hand.", source="direct.txt"))
    assert statuses(sync_folder(fake_engine, other)) == {"c.txt": "added"}

    first = sync_folder(fake_engine, folder)
    assert statuses(first) == {"a.txt": "added", "sub/b.md": "added"}
    assert {r.reason for r in first.results} == {"new file"}
    assert sources(fake_engine) == {"a.txt", "sub/b.md", "c.txt", "direct.txt"}
    assert statuses(sync_folder(fake_engine, folder)) == {}

    write(folder, "a.txt", "Alpha\nThe harbour opens at six.")
    (folder / "sub" / "b.md").unlink()
    write(folder, "new.txt", "New\nA new note.")
    again = sync_folder(fake_engine, folder)
    assert statuses(again) == {"a.txt": "replaced", "sub/b.md": "removed", "new.txt": "added"}
    assert {r.source: r.reason for r in again.changed}["sub/b.md"] == "file deleted"
    assert sources(fake_engine) == {"a.txt", "new.txt", "c.txt", "direct.txt"}
    assert "six" in fake_engine.store.document_text("a.txt")

    # Emptying the folder removes its documents and nothing else.
    for path in folder.rglob("*.txt"):
        path.unlink()
    assert statuses(sync_folder(fake_engine, folder)) == {"a.txt": "removed", "new.txt": "removed"}
    assert sources(fake_engine) == {"c.txt", "direct.txt"}
    assert fake_engine.store.verify().ok


def test_a_torn_file_keeps_its_old_version(tmp_path: Path, fake_engine: Engine) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "r.docx").write_bytes(make_docx([("Report about harbours.", None)]))
    assert statuses(sync_folder(fake_engine, folder)) == {"r.docx": "added"}
    (folder / "r.docx").write_bytes(make_docx([("Report about harbours.", None)])[:300])  # a partial write
    summary = sync_folder(fake_engine, folder)
    assert statuses(summary) == {"r.docx": "failed"} and summary.failed[0].reason.startswith("cannot read")
    assert "harbours" in fake_engine.store.document_text("r.docx")


class InterruptingEmbedder(HashEmbedder):
    """Raises KeyboardInterrupt (as Ctrl-C would) on the n-th document embedded."""

    def __init__(self, dimension: int, interrupt_at: int) -> None:
        super().__init__(dimension)
        self.calls = 0
        self.interrupt_at = interrupt_at

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return super().embed_documents(texts)


def test_ctrl_c_leaves_a_consistent_index(tmp_path: Path, make_fake_engine: object) -> None:
    folder = tmp_path / "many"
    for n in range(6):
        write(folder, f"doc{n}.txt", f"Document {n}\nText number {n} about ships.")
    embedder = InterruptingEmbedder(64, interrupt_at=4)
    engine = make_fake_engine(embedder=embedder)  # type: ignore[operator]
    with pytest.raises(KeyboardInterrupt):
        sync_folder(engine, folder)
    assert sources(engine) == {"doc0.txt", "doc1.txt", "doc2.txt"}
    assert engine.store.verify().ok
    embedder.interrupt_at = -1
    assert statuses(sync_folder(engine, folder)) == {f"doc{n}.txt": "added" for n in (3, 4, 5)}
    assert engine.store.verify().ok


def test_watch_follows_changes(tmp_path: Path, fake_engine: Engine) -> None:
    folder = tmp_path / "watched"
    write(folder, "a.txt", "Alpha\nFirst note.")
    stop = threading.Event()
    summaries: queue.Queue[SyncSummary] = queue.Queue()
    deferred: list[str] = []

    def run() -> None:
        for summary in watch_folder(fake_engine, folder, debounce_ms=100, settle_s=1.5, stop=stop):
            summaries.put(summary)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def next_change(timeout: float = 20.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = statuses(summaries.get(timeout=0.5))
            except queue.Empty:
                continue
            deferred.extend(k for k, v in got.items() if v == "deferred")
            got = {k: v for k, v in got.items() if v != "deferred"}
            if got:
                return got
        raise AssertionError("no sync happened in time")

    try:
        assert next_change() == {"a.txt": "added"}
        write(folder, "b.txt", "Beta\nSecond note.")
        write(folder, ".b.txt.swp", "editor swap file")
        assert next_change() == {"b.txt": "added"}
        (folder / "a.txt").unlink()
        assert next_change() == {"a.txt": "removed"}
        # A file still being written (modified just now) is deferred, then ingested once it has settled.
        path = write(folder, "c.txt", "Gamma\nThird note.")
        os.utime(path)
        assert next_change() == {"c.txt": "added"}
        assert "c.txt" in deferred
        assert sources(fake_engine) == {"b.txt", "c.txt"}
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert fake_engine.store.verify().ok


def test_cli_sync(fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "notes"
    write(folder, "a.txt", "Alpha\nThe harbour opens at dawn.")
    write(folder, "bad.pdf", "not a pdf")
    data = str(tmp_path / "data")
    assert cli.main(["sync", str(folder), "--data-dir", data]) == 1
    out, err = capsys.readouterr()
    assert "added: a.txt (new file)" in out and "failed: bad.pdf: cannot read PDF" in err
    assert "added 1 · replaced 0 · unchanged 0 · removed 0 · failed 1" in out
    (folder / "bad.pdf").unlink()
    (folder / "a.txt").unlink()
    assert cli.main(["sync", str(folder), "--data-dir", data]) == 0
    assert "removed: a.txt (file deleted)" in capsys.readouterr().out
    assert cli.main(["sync", str(tmp_path / "missing"), "--data-dir", data]) == 1
    assert capsys.readouterr().err.startswith("error: ")
