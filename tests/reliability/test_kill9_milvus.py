"""kill -9 during an ingest into the Milvus store: never a half-present document; the leftovers are invisible and
``repair()`` (``ragqa index verify --repair``) removes them; resuming the ingest ends with exactly the new corpus.

The ingest runs in another process (``tests/reliability/ingest_driver.py --milvus-uri``) against the
``milvus-lite server`` of the session, as a replica would; the same checker as the FAISS crash test
(``crash.check_store``) judges the index after each kill.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from index import StoreTarget, content_hash, open_store
from index.milvus_store import MilvusStore
from rag.documents import load_path
from rag.engine import Engine
from rag.ingest import ingest_paths
from rag.settings import Settings
from tests.fakes import HashEmbedder
from tests.milvus import MilvusServer, unique_prefix
from tests.reliability.crash import DIMENSION, PYTHON, REPO_ROOT, Version, check_store

TRIALS = 4
HOLD_MS = 60  # the driver waits this long between a document's rows and its commit record
MAX_TRIALS = 10  # more trials only until one kill has landed inside a write (the timing is random)
_COMMIT = re.compile(r"^committed\t(.+?)\t(added|replaced|unchanged)$")


def milvus_engine(target: StoreTarget, data_dir: Path) -> Engine:
    emb = HashEmbedder(DIMENSION)
    store = open_store(target, embedder_id=emb.model_id, embedder_checksum=emb.checksum, dimension=DIMENSION)
    return Engine(settings=Settings(_env_file=None, data_dir=data_dir), store=store, embedder=emb)


def kill_ingest(
    target: StoreTarget, workdir: Path, corpus: Path, new_hash: dict[str, str], rng: random.Random
) -> dict[str, str]:
    """Start the ingest driver, SIGKILL it after a random number of commits + a random delay; the commits seen."""
    cmd = [
        PYTHON, "-m", "tests.reliability.ingest_driver", str(workdir / "unused"), str(corpus),
        "--milvus-uri", target.uri, "--milvus-prefix", target.prefix, "--hold-ms", str(HOLD_MS),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    reported: dict[str, str] = {}
    after = rng.randint(0, len(new_hash) - 1)
    deadline = time.monotonic() + 120
    while len(reported) < after and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        m = _COMMIT.match(line)
        if m:
            reported[m.group(1)] = new_hash[m.group(1)]
    time.sleep(rng.uniform(0.005, 0.08))  # mostly inside the next document's write
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(timeout=10)
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        if line is not None and (m := _COMMIT.match(line)):
            reported[m.group(1)] = new_hash[m.group(1)]
    return reported


def test_kill9_during_a_milvus_ingest(
    tmp_path: Path,
    milvus_server: MilvusServer,
    crash_corpus: tuple[Path, Path, dict[str, dict[str, Version]]],
) -> None:
    old, new, expected = crash_corpus
    new_hash = {p.name: content_hash(load_path(p, p.name).text) for p in new.glob("*.txt")}
    rng = random.Random(20240610)
    failures: list[str] = []
    leftovers_seen = 0
    for trial in range(MAX_TRIALS):
        if trial >= TRIALS and leftovers_seen:
            break
        target = StoreTarget("milvus", uri=milvus_server.uri, prefix=unique_prefix(f"k{trial}"))
        try:
            if trial % 2:
                engine = milvus_engine(target, tmp_path)
                ingest_paths(engine, [old], progress=False)
                engine.close()
            reported = kill_ingest(target, tmp_path / f"t{trial}", new, new_hash, rng)
            engine = milvus_engine(target, tmp_path)
            store = engine.store
            assert isinstance(store, MilvusStore)
            problems = check_store(store, expected, reported)  # leftovers are invisible to every read
            leftovers = store._uncommitted()
            leftovers_seen += bool(leftovers)
            store.repair(grace_s=0)
            if store._uncommitted():
                problems.append(f"repair left {store._uncommitted()}")
            summary = ingest_paths(engine, [new], progress=False)
            if summary.failed or {d.source: d.content_hash for d in store.list_documents()} != new_hash:
                problems.append(f"resume did not end with the new corpus: {summary.line()}")
            problems += [f"after resume: {p}" for p in check_store(store, expected, new_hash)]
            engine.close()
            if problems:
                failures.append(f"trial {trial}: {len(reported)} reported, leftovers {len(leftovers)}: {problems[:5]}")
        finally:
            milvus_server.drop(target.prefix)
    assert not failures, "\n".join(failures)
    # The kills did land between a document's rows and its commit record (or its old rows' removal) at least once.
    assert leftovers_seen >= 1, f"no kill landed inside a write in {MAX_TRIALS} trials"
