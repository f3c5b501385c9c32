#!/usr/bin/env python3
"""The FAISS store and the Milvus store side by side: writes, search latency per mode, RSS, dev-set hit@k.

    .venv/bin/python bench/stores.py --size 20000 --json bench-stores.json
    .venv/bin/python bench/stores.py --size 2000 --milvus-uri http://127.0.0.1:19530   # a Milvus server
    .venv/bin/python bench/stores.py --data-dir /tmp/pydocs                  # an existing FAISS index, as it is
    .venv/bin/python bench/stores.py --data-dir /tmp/pydocs --milvus-uri /tmp/pydocs.db --milvus-prefix ragqa_
        # ... and its existing Milvus copy (made by ``ragqa index copy --to /tmp/pydocs.db``), not copied again

What it does, with the real default models (loaded once, before any timing):

1. Python docs (Debian ``python3.11-doc``, the pages ``bench/bench.py`` picks) with about ``--size`` chunks are
   ingested into a FAISS data dir through ``rag.ingest.ingest_paths`` (embedding included: ingest chunks/s).
2. That index is copied with ``index.copy_index`` (stored embeddings, no re-embedding) into a Milvus store (a Milvus
   Lite file by default) and, for a like-for-like write figure, into a second FAISS data dir: store-write chunks/s.
3. For each store, ~50 questions one at a time, warm, through ``rag.retrieval.retrieve`` in four modes: dense only,
   BM25 only, hybrid (RRF), hybrid + rerank: p50/p95 ms per query (query embedding included), and the store's own
   search time (``timings``). RSS of this process and of its children (Milvus Lite runs as a child process).
4. The dev set (``eval/dev``) is indexed the same way into both stores and scored as ``bench/retrieval_modes.py``
   does (hit@1/3/5 per mode): same chunks, same embeddings; only the BM25 implementations differ.

With ``--data-dir`` step 1 is skipped: that existing FAISS index is benchmarked as it is (only read; its copies
go to the work dir). With ``--milvus-prefix`` (and ``--milvus-uri``) the Milvus collections under that prefix are
used as they are instead of copying into Milvus (no Milvus write figure then); the bench checks that they hold as
many chunks as the FAISS index.

A script that prints numbers, not a test with thresholds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import DOCS_DIR, QUESTIONS, docs_version, ensure_docs, mirror, ordered_pages, pick_pages  # noqa: E402
from index import Store, StoreTarget, copy_index, open_store  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.evaluation import load_questions, passage_hits, percentile  # noqa: E402
from rag.ingest import ingest_paths  # noqa: E402
from rag.retrieval import retrieve  # noqa: E402
from rag.settings import Settings  # noqa: E402

MODES: dict[str, tuple[dict[str, Any], bool]] = {
    "dense": ({"bm25_weight": 0.0}, False),
    "bm25": ({"dense_weight": 0.0}, False),
    "hybrid": ({}, False),
    "hybrid+rerank": ({}, True),
}


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


def rss_mb() -> tuple[float, float]:
    me = psutil.Process()
    children = 0
    for child in me.children(recursive=True):
        try:
            children += child.memory_info().rss
        except psutil.Error:
            continue
    return round(me.memory_info().rss / 2**20), round(children / 2**20)


def open_target(base: Engine, target: StoreTarget) -> Store:
    e = base.embedder
    return open_store(target, embedder_id=e.model_id, embedder_checksum=e.checksum, dimension=e.dimension)


def timed_copy(source: Store, destination: Store) -> tuple[float, int]:
    started = time.perf_counter()
    summary = copy_index(source, destination)
    return time.perf_counter() - started, summary.chunks


def search_modes(engine: Engine, questions: list[str], k: int) -> dict[str, dict[str, float]]:
    base = engine.settings
    out: dict[str, dict[str, float]] = {}
    retrieve(engine, "warm up the caches", k=k)
    for mode, (update, rerank) in MODES.items():
        engine.settings = base.model_copy(update=update)
        total: list[float] = []
        store_s: list[float] = []
        for question in questions:
            t0 = time.perf_counter()
            result = retrieve(engine, question, k=k, rerank=rerank)
            total.append(time.perf_counter() - t0)
            store_s.append(result.timings["dense_s"] + result.timings["bm25_s"])
        out[mode] = {
            "p50_ms": ms(total, 0.5),
            "p95_ms": ms(total, 0.95),
            "retrieval_p50_ms": ms(store_s, 0.5),
            "retrieval_p95_ms": ms(store_s, 0.95),
        }
    engine.settings = base
    return out


def dev_hits(engine: Engine, questions_path: Path, k: int = 5) -> dict[str, list[float]]:
    questions = [q for q in load_questions(questions_path) if q.answerable]
    texts = {d.source: engine.store.document_text(d.source) for d in engine.store.list_documents()}
    base = engine.settings
    out: dict[str, list[float]] = {}
    for mode, (update, rerank) in MODES.items():
        engine.settings = base.model_copy(update=update)
        first: list[int | None] = []
        for q in questions:
            passages = retrieve(engine, q.question, k, rerank=rerank).passages
            ranks = [
                i
                for i, p in enumerate(passages, start=1)
                if p.source == q.source and passage_hits(texts[p.source], p.start, p.end, q.evidence)
            ]
            first.append(ranks[0] if ranks else None)
        out[mode] = [round(sum(1 for r in first if r is not None and r <= n) / len(questions), 3) for n in (1, 3, 5)]
    engine.settings = base
    return out


def milvus_target(args: argparse.Namespace, work: Path, name: str) -> StoreTarget:
    uri = args.milvus_uri or str(work / f"{name}.db")
    return StoreTarget("milvus", uri=uri, prefix=f"bench_{name}_{os.getpid()}_")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20000, help="target chunk count of the Python docs corpus")
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR)
    parser.add_argument("--queries", type=int, default=len(QUESTIONS))
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument(
        "--milvus-uri", default="", help="a Milvus server (default: a Milvus Lite file in the work dir)"
    )
    parser.add_argument("--dev", type=Path, default=REPO_ROOT / "eval" / "dev")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="build the indexes in this folder and keep them")
    parser.add_argument(
        "--data-dir", type=Path, help="an existing FAISS data dir to benchmark as it is (no ingest; only read)"
    )
    parser.add_argument(
        "--milvus-prefix",
        default="",
        help="with --milvus-uri: use that URI's existing collections under this prefix (no copy into Milvus)",
    )
    parser.add_argument("--skip-dev", action="store_true", help="skip the dev-set hit@k (step 4)")
    args = parser.parse_args(argv)
    if args.milvus_prefix and not args.milvus_uri:
        parser.error("--milvus-prefix needs --milvus-uri")
    if args.data_dir is not None and not (args.data_dir / "catalog.sqlite3").is_file():
        parser.error(f"--data-dir {args.data_dir}: no catalog.sqlite3 there")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    questions = QUESTIONS[: args.queries]
    if args.data_dir is None:
        ensure_docs(args.docs_dir)
    settings = Settings()
    print(f"ragqa bench/stores · {platform.python_version()} · {os.cpu_count()} CPUs · python3.11-doc {docs_version()}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="ragqa-bench-stores-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"size_target": args.size, "cpus": os.cpu_count(), "queries": len(questions)}
    if args.data_dir is not None:
        report["data_dir"] = str(args.data_dir)
    try:
        faiss_dir = args.data_dir if args.data_dir is not None else work / "faiss"
        base = Engine.load(settings.model_copy(update={"data_dir": faiss_dir}), reranker=True)
        print("model load: " + ", ".join(f"{k} {v:.1f}s" for k, v in base.load_seconds.items()), flush=True)

        # -- 1. ingest the docs into FAISS (embedding included), unless an existing index is benchmarked
        if args.data_dir is None:
            pages = ordered_pages(args.docs_dir)
            picked = pick_pages(args.docs_dir, pages, [args.size], settings)[args.size]
            corpus = mirror(args.docs_dir, picked, work / "corpus")
            t0 = time.perf_counter()
            summary = ingest_paths(base, [corpus], progress=sys.stderr.isatty())
            ingest_s = time.perf_counter() - t0
            report["faiss_ingest"] = {
                "seconds": round(ingest_s, 1),
                "chunks_per_s": round(summary.chunks / ingest_s, 1),
            }
            print(f"FAISS ingest: {summary.chunks} chunks in {ingest_s:.0f}s", flush=True)
        faiss_stats = base.store.stats()
        report["docs"], report["chunks"] = faiss_stats.documents, faiss_stats.chunks
        print(f"FAISS index: {faiss_stats.documents} docs, {faiss_stats.chunks} chunks", flush=True)

        # -- 2. store writes without embedding: copy into a second FAISS dir and into Milvus
        faiss2 = open_target(base, StoreTarget("faiss", data_dir=work / "faiss-copy"))
        seconds, n = timed_copy(base.store, faiss2)
        faiss2.close()
        report["faiss_write"] = {"seconds": round(seconds, 1), "chunks_per_s": round(n / seconds, 1)}
        if args.milvus_prefix:
            milvus = open_target(base, StoreTarget("milvus", uri=args.milvus_uri, prefix=args.milvus_prefix))
            report["milvus_write"] = {"seconds": None, "chunks_per_s": None, "existing": args.milvus_prefix}
        else:
            milvus = open_target(base, milvus_target(args, work, "docs"))
            seconds, n = timed_copy(base.store, milvus)
            report["milvus_write"] = {"seconds": round(seconds, 1), "chunks_per_s": round(n / seconds, 1)}
        report["milvus_dense_index"] = getattr(milvus, "dense_index_type", "")
        print(f"store writes (copy, no embedding): faiss {report['faiss_write']}, milvus {report['milvus_write']}")
        assert milvus.stats().chunks == faiss_stats.chunks, "the Milvus index does not hold the FAISS index's chunks"

        # -- 3. search latency per mode, and RSS
        for name, store in (("faiss", base.store), ("milvus", milvus)):
            engine = dataclasses.replace(base, store=store)
            report[f"{name}_search"] = search_modes(engine, questions, args.k)
            own, children = rss_mb()
            report[f"{name}_rss_mb"] = {"process": own, "children": children}
            print(f"{name} search: {json.dumps(report[f'{name}_search'])} rss {report[f'{name}_rss_mb']}", flush=True)
        milvus.close()
        base.store.close()

        # -- 4. dev-set retrieval quality on both stores
        if args.skip_dev:
            return report_out(args, report, questions)
        dev_faiss = open_target(base, StoreTarget("faiss", data_dir=work / "dev-faiss"))
        engine = dataclasses.replace(base, store=dev_faiss)
        ingest_paths(engine, [args.dev / "corpus"], progress=False)
        dev_milvus = open_target(base, milvus_target(args, work, "dev"))
        copy_index(dev_faiss, dev_milvus)
        report["dev_hits_at_1_3_5"] = {
            "faiss": dev_hits(engine, args.dev / "questions.jsonl"),
            "milvus": dev_hits(dataclasses.replace(base, store=dev_milvus), args.dev / "questions.jsonl"),
        }
        dev_faiss.close()
        dev_milvus.close()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return report_out(args, report, questions)


def report_out(args: argparse.Namespace, report: dict[str, Any], questions: list[str]) -> int:
    print(
        f"\n{report['docs']} docs, {report['chunks']} chunks (target {args.size}); {len(questions)} queries, k {args.k}"
    )
    if "faiss_ingest" in report:
        print(f"ingest with embedding (FAISS): {report['faiss_ingest']['chunks_per_s']} chunks/s")
    else:
        print(f"existing FAISS index: {report['data_dir']} (not ingested here)")
    print(f"Milvus dense index: {report['milvus_dense_index'] or '?'}")
    print(
        f"store write, stored embeddings: faiss {report['faiss_write']['chunks_per_s']} chunks/s, "
        f"milvus {report['milvus_write']['chunks_per_s']} chunks/s"
    )
    print(f"{'mode':14} {'faiss p50':>10} {'faiss p95':>10} {'milvus p50':>11} {'milvus p95':>11} {'ratio p50':>9}")
    for mode in MODES:
        f, m = report["faiss_search"][mode], report["milvus_search"][mode]
        ratio = m["p50_ms"] / f["p50_ms"] if f["p50_ms"] else 0.0
        print(f"{mode:14} {f['p50_ms']:10} {f['p95_ms']:10} {m['p50_ms']:11} {m['p95_ms']:11} {ratio:9.2f}")
    print(
        "store-only (dense + BM25 calls) p50 ms: "
        + ", ".join(
            f"{mode} faiss {report['faiss_search'][mode]['retrieval_p50_ms']} / milvus "
            f"{report['milvus_search'][mode]['retrieval_p50_ms']}"
            for mode in MODES
        )
    )
    print(f"RSS MB: faiss {report['faiss_rss_mb']}, milvus {report['milvus_rss_mb']} (after each store's searches)")
    if "dev_hits_at_1_3_5" in report:
        print("dev hit@1/3/5:")
        for mode in MODES:
            f, m = report["dev_hits_at_1_3_5"]["faiss"][mode], report["dev_hits_at_1_3_5"]["milvus"][mode]
            print(f"  {mode:14} faiss {f}  milvus {m}  Δhit@5 {m[2] - f[2]:+.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
