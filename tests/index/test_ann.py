"""The approximate (IVF + 8-bit codes) vector index past ``AnnConfig.threshold``: recall against exact search,
filters honoured, removal, and in the store: saved like the exact file, reloaded, rebuilt from the catalog, verified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import ChunkFilter
from index.vectors import AnnConfig, FaissVectorIndex
from tests.index.helpers import add, open_store

D = 32


def clustered(n: int, rng: np.random.Generator, d: int = D, centers: int = 40) -> np.ndarray:
    """Unit vectors around a few centres, like the embeddings of texts on a few topics."""
    c = rng.standard_normal((centers, d)).astype(np.float32)
    x = c[rng.integers(0, centers, n)] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(x @ q), kind="stable")[:k]
    return [int(ids[i]) for i in order]


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = clustered(6000, rng)
    queries = clustered(50, np.random.default_rng(8))
    ids = np.arange(1000, 1000 + len(x), dtype=np.int64)
    return x, ids, queries


def test_stays_exact_below_the_threshold_and_turns_approximate_at_it(data: tuple[np.ndarray, ...]) -> None:
    x, ids, _ = data
    index = FaissVectorIndex(D, ann=AnnConfig(threshold=4000))
    index.add(ids[:3999], x[:3999])
    assert index.kind == "flat"
    index.add(ids[3999:], x[3999:])
    assert index.approximate
    assert index.kind.startswith("ivf")
    assert index.ntotal == len(ids)
    assert sorted(index.ids().tolist()) == ids.tolist()


def test_threshold_zero_is_always_exact(data: tuple[np.ndarray, ...]) -> None:
    x, ids, _ = data
    index = FaissVectorIndex(D, ann=AnnConfig(threshold=0))
    index.add(ids, x)
    assert index.kind == "flat"


def test_recall_at_10_against_exact_search(data: tuple[np.ndarray, ...]) -> None:
    x, ids, queries = data
    index = FaissVectorIndex(D, ann=AnnConfig(threshold=1000, nprobe=16))
    index.add(ids, x)
    assert index.approximate
    hits = 0
    for q in queries:
        got = {i for i, _ in index.search(q, 10)}
        hits += len(got & set(exact_top(x, ids, q, 10)))
    recall = hits / (10 * len(queries))
    assert recall >= 0.9, recall


def test_filters_are_honoured_and_small_allowed_sets_are_searched_exhaustively(
    data: tuple[np.ndarray, ...],
) -> None:
    x, ids, queries = data
    index = FaissVectorIndex(D, ann=AnnConfig(threshold=1000, nprobe=2))
    index.add(ids, x)
    rng = np.random.default_rng(3)
    allowed_rows = np.sort(rng.choice(len(ids), 25, replace=False))
    allowed = ids[allowed_rows]
    for q in queries[:10]:
        got = [i for i, _ in index.search(q, 5, allowed)]
        assert set(got) <= set(allowed.tolist())
        # Every cell is probed: the same as exact search up to the 8-bit rounding of near ties.
        true_score = dict(zip(allowed.tolist(), (x[allowed_rows] @ q).tolist(), strict=True))
        best = sorted(true_score.values(), reverse=True)[:5]
        assert np.allclose(sorted((true_score[i] for i in got), reverse=True), best, atol=0.02)


def test_remove_and_reconstruct(data: tuple[np.ndarray, ...]) -> None:
    x, ids, _ = data
    index = FaissVectorIndex(D, ann=AnnConfig(threshold=1000))
    index.add(ids, x)
    assert np.abs(index.reconstruct(int(ids[5])) - x[5]).max() <= index.tolerance
    top = index.search(x[5], 1)[0][0]
    assert top == ids[5]
    assert index.remove(np.array([ids[5], 999_999])) == 1
    assert index.ntotal == len(ids) - 1
    assert all(i != ids[5] for i, _ in index.search(x[5], 10))


def test_serialises_and_reloads(data: tuple[np.ndarray, ...]) -> None:
    x, ids, queries = data
    index = FaissVectorIndex(D, ann=AnnConfig(threshold=1000))
    index.add(ids, x)
    again = FaissVectorIndex.deserialize(index.serialize(), D)
    assert again.kind == index.kind
    assert again.ntotal == index.ntotal
    for q in queries[:5]:
        assert again.search(q, 10) == index.search(q, 10)
    assert again.remove(np.array([ids[0]])) == 1


def test_store_saves_reloads_and_rebuilds_the_approximate_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ann = AnnConfig(threshold=300, nprobe=4)
    store = open_store(tmp_path / "data", ann=ann)
    text = "word " * 60  # with the suffix: 11 chunks of up to 30 characters per document
    for i in range(40):
        add(store, f"doc{i:02d}.txt", text + f" {i}", rng, date=f"2024-01-{i % 28 + 1:02d}")
    store.flush()
    assert store._vectors.approximate
    query = store._vectors.reconstruct(int(store._vectors.ids()[0]))
    before = store.dense_search(query, 5)
    store.close()

    reopened = open_store(tmp_path / "data", ann=ann)
    try:
        assert reopened._vectors.approximate  # loaded from vectors.faiss, not rebuilt
        assert reopened.dense_search(query, 5) == before
        assert reopened.verify().ok, reopened.verify().problems
        only = ChunkFilter(source_glob="doc07.txt")
        hits = reopened.dense_search(query, 5, only)
        assert hits and {r.source for r in reopened.chunks([h.chunk_id for h in hits]).values()} == {"doc07.txt"}
    finally:
        reopened.close()

    (tmp_path / "data" / "vectors.faiss").unlink()
    rebuilt = open_store(tmp_path / "data", ann=ann)
    try:
        assert rebuilt._vectors.approximate
        assert rebuilt._vectors.ntotal == 440
        assert rebuilt.verify().ok
        assert [h.chunk_id for h in rebuilt.dense_search(query, 1)] == [before[0].chunk_id]
    finally:
        rebuilt.close()
