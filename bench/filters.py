#!/usr/bin/env python3
"""Cost of collection and metadata filters on retrieval, side by side in one run.

    .venv/bin/python bench/filters.py                    # 20k chunks
    .venv/bin/python bench/filters.py --chunks 5000 --json filters.json

Builds one synthetic index (random-vocabulary documents of ~10 chunks, 384-d hash embeddings: the filters' cost is
on the store side — SQL for the allowed chunk ids, the FAISS id selector, the FTS5 join — so the embedder does not
matter here) and times dense and BM25 search over the same queries: no filter; a collection filter while only one
collection exists (dropped as a no-op); a collection filter with two collections of equal size; a metadata
equality filter; a metadata ``in`` filter. Prints milliseconds per query (median and p95). A script that prints
numbers, not a test with thresholds.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from index import ChunkFilter, IndexStore, NewChunk  # noqa: E402
from tests.fakes import HashEmbedder  # noqa: E402

WORDS_PER_CHUNK = 50
CHUNKS_PER_DOC = 10


def build(data_dir: Path, n_chunks: int, two_collections: bool, rng: random.Random) -> IndexStore:
    """A synthetic index of ``n_chunks`` hash-embedded chunks (in two collections if asked), for timing."""
    embedder = HashEmbedder(384)
    vocabulary = [f"w{n}" for n in range(5000)]
    store = IndexStore.open(data_dir, embedder_id=embedder.model_id, embedder_checksum=embedder.checksum, dimension=384)
    n_docs = max(1, n_chunks // CHUNKS_PER_DOC)
    with store.writer():
        for d in range(n_docs):
            pieces = [" ".join(rng.choices(vocabulary, k=WORDS_PER_CHUNK)) for _ in range(CHUNKS_PER_DOC)]
            text = "\n".join(pieces)
            vectors = embedder.embed_documents(pieces)
            chunks, start = [], 0
            for piece, vec in zip(pieces, vectors, strict=True):
                chunks.append(NewChunk(start, start + len(piece), piece, vec))
                start += len(piece) + 1
            collection = "b" if two_collections and d % 2 else "default"
            store.upsert_document(
                source=f"doc{d}.txt",
                title=f"doc {d}",
                text=text,
                chunks=chunks,
                meta={"team": ("risk", "ops", "legal", "hr")[d % 4]},
                collection=collection,
            )
    return store


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    """Run ``fn`` ``repeat`` times: median and p95 milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3)}


def _time_queries(search: Callable[..., object], queries: list[Any], filters: ChunkFilter | None) -> dict[str, float]:
    it = iter(queries)
    return timed(lambda: search(next(it), 30, filters), len(queries))


def main() -> int:
    """Run the benchmark and print (or write with --json) one row per case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    rng = random.Random(7)
    embedder = HashEmbedder(384)
    queries = [" ".join(rng.choices([f"w{n}" for n in range(5000)], k=8)) for _ in range(args.queries)]
    vectors = embedder.embed_documents(queries)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ragqa-bench-filters-") as tmp:
        for two in (False, True):
            t0 = time.perf_counter()
            store = build(Path(tmp) / ("two" if two else "one"), args.chunks, two, rng)
            print(
                f"built {'two collections' if two else 'one collection'}: {store.stats().chunks} chunks "
                f"in {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
            cases: dict[str, ChunkFilter | None] = (
                {"no filter": None, "collection (only one exists)": ChunkFilter(collection="default")}
                if not two
                else {
                    "collection (half of two)": ChunkFilter(collection="default"),
                    "meta team=risk": ChunkFilter(meta=(("team", ("risk",)),)),
                    "meta team in (risk, ops)": ChunkFilter(meta=(("team", ("risk", "ops")),)),
                    "collection + meta": ChunkFilter(collection="b", meta=(("team", ("ops",)),)),
                }
            )
            for name, filters in cases.items():
                results[f"dense · {name}"] = _time_queries(store.dense_search, list(vectors), filters)
                results[f"bm25 · {name}"] = _time_queries(store.bm25_search, queries, filters)
            store.close()
    width = max(len(k) for k in results)
    for name, r in results.items():
        print(f"{name:{width}}  median {r['median_ms']:8.2f} ms   p95 {r['p95_ms']:8.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"chunks": args.chunks, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
