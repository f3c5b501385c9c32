"""ANN benchmark: the store's vector index past its threshold (IVF + 8-bit codes) against exact search, and HNSW.

    .venv/bin/python bench/ann.py [--n 1000000] [--dim 384] [--queries 200] [--hnsw-n 100000] [--json OUT]
    .venv/bin/python bench/ann.py --real DATA_DIR      # the vectors of a real index (its catalog's embeddings)

Synthetic data: ``--n`` unit vectors from a mixture of ``--centers`` Gaussian clusters in ``--dim`` dimensions
(within-cluster cosine about 0.5, like embeddings of texts on many topics), and ``--queries`` fresh points of the
same mixture (not in the index). Uniformly random unit vectors have no neighbourhood structure at all (every point
is nearly equidistant in 384-d), so no ANN method reaches a useful recall on them; ``--uniform`` measures that too.

The IVF index is built exactly the way the store builds it (``FaissVectorIndex.add`` in batches: exact up to
``--threshold``, then trained once on a sample and approximate from there). Printed per configuration: build
seconds, index bytes (serialised, ≈ RAM), RSS growth while building, search p50/p95 (one query at a time, one
thread as in a request), recall@10 against exact search.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index.vectors import AnnConfig, FaissVectorIndex


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def mixture(n: int, dim: int, centers: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = centers[rng.integers(0, len(centers), m)] + sigma * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic(args: argparse.Namespace, uniform: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if uniform:
        x = rng.standard_normal((args.n + args.queries, args.dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x[: args.n], x[args.n :]
    centers = rng.standard_normal((args.centers, args.dim), dtype=np.float32)
    return mixture(args.n, args.dim, centers, rng, 1.0), mixture(args.queries, args.dim, centers, rng, 1.0)


def real_vectors(data_dir: Path, queries: int) -> tuple[np.ndarray, np.ndarray]:
    import sqlite3

    con = sqlite3.connect(f"file:{data_dir / 'catalog.sqlite3'}?mode=ro", uri=True)
    dim = int(con.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()[0])
    rows = con.execute("SELECT embedding FROM chunks ORDER BY id").fetchall()
    x = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), dim).copy()
    rng = np.random.default_rng(0)
    held = rng.choice(len(x), queries, replace=False)
    keep = np.setdiff1d(np.arange(len(x)), held)
    return x[keep], x[held]  # held-out chunks as queries: they have near neighbours, like real questions


def exact_truth(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    times = []
    faiss.omp_set_num_threads(1)
    for row in q[:50]:
        t0 = time.perf_counter()
        flat.search(row.reshape(1, -1), k)
        times.append(time.perf_counter() - t0)
    faiss.omp_set_num_threads(0)
    _, labels = flat.search(q, k)
    return labels, times


def pct(times: list[float], p: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1)] * 1000


def timed_search(search: Any, q: np.ndarray, k: int) -> tuple[list[float], list[list[int]]]:
    faiss.omp_set_num_threads(1)
    times, got = [], []
    for row in q:
        t0 = time.perf_counter()
        got.append(search(row))
        times.append(time.perf_counter() - t0)
    faiss.omp_set_num_threads(0)
    return times, got


def recall(got: list[list[int]], truth: np.ndarray, k: int) -> float:
    return sum(len(set(g[:k]) & set(t[:k].tolist())) for g, t in zip(got, truth, strict=True)) / (k * len(got))


def bench_ivf(x: np.ndarray, q: np.ndarray, truth: np.ndarray, args: argparse.Namespace) -> list[dict[str, Any]]:
    ids = np.arange(len(x), dtype=np.int64)
    before = rss_mb()
    t0 = time.perf_counter()
    index = FaissVectorIndex(x.shape[1], ann=AnnConfig(threshold=min(args.threshold, len(x))))
    for start in range(0, len(x), 20_000):
        index.add(ids[start : start + 20_000], x[start : start + 20_000])
    build_s = time.perf_counter() - t0
    grown = rss_mb() - before
    size = len(index.serialize())
    rows = []
    for nprobe in args.nprobe:
        index.ann = AnnConfig(threshold=args.threshold, nprobe=nprobe)
        times, got = timed_search(lambda row: [i for i, _ in index.search(row, args.k)], q, args.k)
        rows.append(
            {
                "index": index.kind,
                "n": len(x),
                "nprobe": nprobe,
                "build_s": round(build_s, 1),
                "index_mb": round(size / 2**20, 1),
                "rss_growth_mb": round(grown, 1),
                "p50_ms": round(pct(times, 50), 2),
                "p95_ms": round(pct(times, 95), 2),
                f"recall@{args.k}": round(recall(got, truth, args.k), 4),
            }
        )
    # filtered search: 1% of the ids allowed (scored exactly) and 10% (IVF with an id selector, more cells)
    index.ann = AnnConfig(threshold=args.threshold, nprobe=AnnConfig().nprobe)
    for share in (0.01, 0.1):
        rows_allowed = np.sort(np.random.default_rng(1).choice(len(x), max(1, int(len(x) * share)), replace=False))
        allowed = ids[rows_allowed]
        times, got = timed_search(lambda row, a=allowed: [i for i, _ in index.search(row, args.k, a)], q[:50], args.k)
        flat_sub = faiss.IndexFlatIP(x.shape[1])
        flat_sub.add(x[rows_allowed])
        _, sub = flat_sub.search(q[:50], args.k)
        truth_sub = np.where(sub >= 0, allowed[np.clip(sub, 0, None)], -1)
        rows.append({"index": f"{index.kind} filter {share:.0%}", "n": len(x), "nprobe": "auto",
                     "p50_ms": round(pct(times, 50), 2), "p95_ms": round(pct(times, 95), 2),
                     f"recall@{args.k}": round(recall(got, truth_sub, args.k), 4)})  # fmt: skip
    return rows


def bench_hnsw(x: np.ndarray, q: np.ndarray, args: argparse.Namespace) -> list[dict[str, Any]]:
    n = min(args.hnsw_n, len(x))
    base = x[:n]
    truth, _ = exact_truth(base, q, args.k)
    index = faiss.IndexHNSWSQ(x.shape[1], faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    before = rss_mb()
    t0 = time.perf_counter()
    index.train(base[: min(n, 100_000)])
    index.add(base)
    build_s = time.perf_counter() - t0
    grown = rss_mb() - before
    rows = []
    for ef in (32, 64, 128):
        index.hnsw.efSearch = ef
        times, got = timed_search(lambda row: index.search(row.reshape(1, -1), args.k)[1][0].tolist(), q, args.k)
        rows.append(
            {
                "index": "hnsw32,sq8",
                "n": n,
                "efSearch": ef,
                "build_s": round(build_s, 1),
                "build_s_at_n_estimate": round(build_s * len(x) / n * math.log(len(x)) / math.log(n), 0),
                "rss_growth_mb": round(grown, 1),
                "p50_ms": round(pct(times, 50), 2),
                "p95_ms": round(pct(times, 95), 2),
                f"recall@{args.k}": round(recall(got, truth, args.k), 4),
            }
        )
    return rows


def run(label: str, x: np.ndarray, q: np.ndarray, args: argparse.Namespace) -> list[dict[str, Any]]:
    print(f"\n== {label}: {len(x)} × {x.shape[1]}, {len(q)} queries", flush=True)
    t0 = time.perf_counter()
    truth, flat_times = exact_truth(x, q, args.k)
    rows: list[dict[str, Any]] = [
        {"index": "flat (exact)", "n": len(x), "index_mb": round(x.nbytes / 2**20, 1),
         "p50_ms": round(pct(flat_times, 50), 2), "p95_ms": round(pct(flat_times, 95), 2), f"recall@{args.k}": 1.0}
    ]  # fmt: skip
    print(f"exact ground truth in {time.perf_counter() - t0:.1f}s", flush=True)
    rows += bench_ivf(x, q, truth, args)
    if args.hnsw_n:
        rows += bench_hnsw(x, q, args)
    for row in rows:
        print(json.dumps({"data": label, **row}), flush=True)
    return [{"data": label, **r} for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--centers", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threshold", type=int, default=AnnConfig().threshold, help="the store's ann_threshold")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--hnsw-n", type=int, default=100_000, help="HNSW comparison size (0: skip)")
    ap.add_argument("--uniform", action="store_true", help="also uniformly random vectors")
    ap.add_argument("--real", type=Path, help="a data dir: benchmark its stored embeddings instead")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, RSS {rss_mb():.0f} MB")
    results = []
    if args.real:
        x, q = real_vectors(args.real, args.queries)
        args.threshold = min(args.threshold, len(x))
        results += run(f"real {args.real}", x, q, args)
    else:
        x, q = synthetic(args, uniform=False)
        results += run("clustered", x, q, args)
        if args.uniform:
            del x
            x, q = synthetic(args, uniform=True)
            args.hnsw_n = 0
            results += run("uniform", x, q, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
