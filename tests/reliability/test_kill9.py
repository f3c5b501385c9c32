"""kill -9 during an ingest never leaves a half-present document, and the index reopens consistent.

The ingest runs in another process (``tests/reliability/ingest_driver.py``: ``rag.ingest.ingest_paths`` with the
hash embedder, reporting each committed document on stdout). 20 trials with random kill moments; the bigger run
is ``bench/reliability/kill9.py`` (50 trials, or ``--cli`` for the real ``ragqa ingest``).
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from rag.ingest import ingest_paths
from tests.reliability.crash import Version, check_index, fake_engine, run_trial

TRIALS = 20


def test_kill9_during_ingest_leaves_a_consistent_index(
    tmp_path: Path, crash_corpus: tuple[Path, Path, dict[str, dict[str, Version]]]
) -> None:
    old, new, expected = crash_corpus
    rng = random.Random(20240609)
    results = []
    for trial in range(TRIALS):
        results.append(
            run_trial(tmp_path / f"trial{trial}", rng, old=old if trial % 2 else None, new=new, expected=expected)
        )
    failed = [f"trial {i}: {r.line()}: {r.problems[:5]}" for i, r in enumerate(results) if not r.ok]
    assert not failed, "\n".join(failed)
    # The trials did hit the interesting moments: mid-ingest with commits reported, and with a stale FAISS file.
    assert sum(1 for r in results if 0 < r.reported < 40) >= 5
    assert any(r.stale_faiss for r in results)


def test_the_checker_catches_a_half_present_document(
    tmp_path: Path, crash_corpus: tuple[Path, Path, dict[str, dict[str, Version]]]
) -> None:
    """Control: remove one chunk (and its FTS row) of one document behind the store's back → problems reported."""
    _, new, expected = crash_corpus
    data_dir = tmp_path / "data"
    engine = fake_engine(data_dir)
    try:
        ingest_paths(engine, [new], progress=False)
    finally:
        engine.close()
    new_hashes = {src: h for src, versions in expected.items() for h in versions if "v2" in versions[h].token}
    assert check_index(data_dir, expected, new_hashes) == []
    conn = sqlite3.connect(data_dir / "catalog.sqlite3")
    with conn:
        (chunk_id,) = conn.execute("SELECT MAX(id) FROM chunks").fetchone()
        conn.execute("DELETE FROM chunks_fts WHERE rowid = ?", (chunk_id,))
        conn.execute("DELETE FROM chunks WHERE id = ?", (chunk_id,))
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    conn.close()
    problems = check_index(data_dir, expected, new_hashes)
    assert any("chunks, expected" in p for p in problems), problems
