"""Concurrent writers and readers on one data dir.

* a reader polling search and per-document chunk counts while another process ingests never sees a document
  with only some of its chunks, FTS rows or vectors;
* a second writer waits for the writer lock, then fails with ``IndexLockedError`` (library) or one ``error:`` line
  and exit 1 (CLI);
* a running server sees documents that another process ingested (``/v1/documents``, ``/v1/search``).
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from index import IndexLockedError, IndexStore
from rag import cli
from rag.retrieval import retrieve
from tests.api.helpers import AUTH, Harness, LiveServer
from tests.conftest import FakeModelLoads
from tests.reliability.crash import DIMENSION, PYTHON, REPO_ROOT, Version, fake_engine, make_corpus

LOCK_HOLDER = """
import sys
from pathlib import Path
from index import IndexStore
store = IndexStore.open(Path(sys.argv[1]), embedder_id="hash-embedder", embedder_checksum="hash-v1", dimension=64)
with store.writer():
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
store.close()
"""

FILE_LOCK_HOLDER = (
    "import filelock, sys; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); print('locked', flush=True); "
    "sys.stdin.read()"
)


def _driver(data_dir: Path, corpus: Path, delay_ms: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "tests.reliability.ingest_driver", str(data_dir), str(corpus), "--delay-ms", str(delay_ms)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class LockHolder:
    """Another process holding the writer lock of ``data_dir`` until :meth:`release`."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", LOCK_HOLDER, str(data_dir)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture
def lock_holder(tmp_path: Path):  # type: ignore[no-untyped-def]
    holders: list[LockHolder] = []

    def make(data_dir: Path) -> LockHolder:
        holder = LockHolder(data_dir)
        holders.append(holder)
        return holder

    yield make
    for holder in holders:
        holder.release()


def test_readers_never_see_a_half_ingested_document(
    tmp_path: Path, crash_corpus: tuple[Path, Path, dict[str, dict[str, Version]]]
) -> None:
    _, new, expected = crash_corpus
    data_dir = tmp_path / "data"
    reader = fake_engine(data_dir)  # creates the index; the ingest runs in another process
    problems: list[str] = []
    counts: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        store = reader.store
        while not stop.is_set():
            before = {d.source: d for d in store.list_documents()}
            counts.append(len(before))
            for source, doc in before.items():
                version = expected[source].get(doc.content_hash)
                if version is None or doc.n_chunks != version.chunks:
                    problems.append(f"{source}: {doc.n_chunks} chunks listed, expected {version}")
                    continue
                hits = store.bm25_search(version.token, 500)
                sources = {r.source for r in store.chunks([h.chunk_id for h in hits]).values()}
                if len(hits) != version.chunks or sources != {source}:
                    problems.append(f"{source}: search finds {len(hits)} chunks of {sources}, not {version.chunks}")
            passages = retrieve(reader, "report council harbour budget", k=10).passages
            dense = store.dense_search(reader.embedder.embed_query("report council harbour"), 30)
            resolved = store.chunks([h.chunk_id for h in dense])
            if len(resolved) != len(dense):
                problems.append(f"{len(dense) - len(resolved)} dense hits have no catalog row")
            after = {d.source for d in store.list_documents()}
            missing = {p.source for p in passages} - after
            if missing or not set(before) <= after:
                problems.append(f"passages of unlisted documents {missing} or documents vanished")

    thread = threading.Thread(target=poll)
    thread.start()
    proc = _driver(data_dir, new, delay_ms=25)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        stop.set()
        thread.join(timeout=30)
    try:
        assert proc.returncode == 0, err
        assert out.count("committed\t") == 40
        assert not problems, problems[:10]
        assert len(counts) >= 10, counts
        assert any(0 < c < 40 for c in counts), "the reader never polled mid-ingest"
        assert reader.store.verify().ok
        assert reader.store.stats().documents == 40
    finally:
        reader.close()


def test_a_second_writer_waits_then_fails_with_index_locked_error(tmp_path: Path, lock_holder) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    holder = lock_holder(data_dir)
    store = IndexStore.open(data_dir, embedder_id="hash-embedder", embedder_checksum="hash-v1", dimension=DIMENSION)
    try:
        started = time.monotonic()
        with pytest.raises(IndexLockedError) as caught, store.writer(timeout=0.5):
            pass
        assert time.monotonic() - started >= 0.45  # it waited for the timeout before failing
        message = str(caught.value)
        assert f"another process is writing to {data_dir}" in message
        assert "write.lock" in message and "wait for it to finish" in message

        threading.Timer(1.0, holder.release).start()  # the first writer finishes in 1 s: the second one waits
        started = time.monotonic()
        with store.writer(timeout=20):
            waited = time.monotonic() - started
        assert 0.8 <= waited < 15
    finally:
        store.close()


def test_the_cli_reports_a_locked_index_in_one_line(
    tmp_path: Path,
    lock_holder,
    fake_models: FakeModelLoads,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    """``ragqa ingest`` (in-process, fake models) while another process writes: waits 10 s, then one line, exit 1."""
    data_dir = tmp_path / "data"
    corpus = make_corpus(tmp_path / "corpus", range(2), 1)
    lock_holder(data_dir)
    started = time.monotonic()
    code = cli.main(["ingest", "--data-dir", str(data_dir), str(corpus)])
    assert time.monotonic() - started >= 9.5
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: another process is writing to {data_dir} (lock {data_dir / 'write.lock'}); wait for it to finish"
    ]


@pytest.mark.slow
def test_the_real_cli_reports_a_locked_index_in_one_line(tmp_path: Path) -> None:
    """The real ``ragqa ingest`` process (ONNX embedder) against a lock held by another ``ragqa ingest``-like writer."""
    data_dir = tmp_path / "data"
    corpus = make_corpus(tmp_path / "corpus", range(2), 1)
    first = subprocess.run(
        [str(Path(PYTHON).with_name("ragqa")), "ingest", "--data-dir", str(data_dir), str(corpus)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    holder = subprocess.Popen(
        [PYTHON, "-c", FILE_LOCK_HOLDER, str(data_dir / "write.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        second = subprocess.run(
            [str(Path(PYTHON).with_name("ragqa")), "ingest", "--data-dir", str(data_dir), str(corpus)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: another process is writing to {data_dir} (lock {data_dir / 'write.lock'}); wait for it to finish"
    )


def test_the_server_sees_documents_ingested_by_another_process(tmp_path: Path, harness: Harness) -> None:
    engine = harness.engine()  # fake engine over its own data dir, holding the seed article
    data_dir = engine.settings.data_dir
    corpus = make_corpus(tmp_path / "corpus", range(3), 7)
    with LiveServer(create_app(engine.settings, engine)) as server, httpx.Client(base_url=server.url) as http:
        before = http.get("/v1/documents").json()["documents"]
        ready_before = http.get("/readyz").json()
        proc = _driver(data_dir, corpus)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        sources = {d["source"] for d in http.get("/v1/documents").json()["documents"]}
        assert sources == {d["source"] for d in before} | {"doc000.txt", "doc001.txt", "doc002.txt"}
        found = http.get("/v1/search", params={"q": "d001v7", "k": 3}).json()["passages"]
        assert found and found[0]["source"] == "doc001.txt"
        detail = http.get("/v1/documents/doc002.txt")
        assert detail.status_code == 200 and "d002v7" in detail.json()["text"]
        ready_after = http.get("/readyz").json()
        assert ready_after["documents"] == ready_before["documents"] + 3
        # and the other way round: the server's writes are seen by another process's store
        deleted = http.delete("/v1/documents/doc000.txt", headers=AUTH)
        assert deleted.status_code == 200, deleted.text
    other = fake_engine(data_dir)
    try:
        assert "doc000.txt" not in {d.source for d in other.store.list_documents()}
        assert other.store.verify().ok
    finally:
        other.close()
