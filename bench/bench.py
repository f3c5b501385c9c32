#!/usr/bin/env python3
"""Ingest throughput and search latency of ragqa with the real default models, on the Python documentation.

    .venv/bin/python bench/bench.py                       # ~1k and ~10k chunks
    .venv/bin/python bench/bench.py --sizes 1000 --json bench-1k.json

The corpus is the HTML of Debian's ``python3.11-doc`` package (``/usr/share/doc/python3.11/html``; installed with
apt-get when missing and running as root). For each target size the script takes a prefix of the pages (tutorial,
FAQ, how-tos and library reference first, then the rest, each sorted by path) holding about that many chunks,
ingests it into a fresh temporary data dir through ``rag.ingest.ingest_paths`` and times ~50 questions through
``rag.retrieval.retrieve``: dense + BM25 + rerank, and dense + BM25 alone. Models load once, before any timing.
This is a script that prints numbers, not a test with thresholds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from index import IndexStore  # noqa: E402
from rag.documents import load_path  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.errors import BadInputError  # noqa: E402
from rag.evaluation import percentile  # noqa: E402
from rag.ingest import ingest_paths  # noqa: E402
from rag.retrieval import retrieve  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.text import chunk_text  # noqa: E402

DOCS_PACKAGE = "python3.11-doc"
DOCS_DIR = Path("/usr/share/doc/python3.11/html")
SECTION_ORDER = ("tutorial", "faq", "howto", "library", "reference", "using", "whatsnew", "c-api", "extending")

QUESTIONS = [
    "How do I read a file line by line?",
    "What is the difference between a list and a tuple?",
    "How do I sort a list of dictionaries by a key?",
    "How can I create a virtual environment?",
    "What does the with statement do?",
    "How do I define a class with a custom constructor?",
    "How do list comprehensions work?",
    "What is a generator and how does yield work?",
    "How do I handle exceptions with try and except?",
    "How can I format a string with f-strings?",
    "What is the global interpreter lock?",
    "How do I run a subprocess and capture its output?",
    "How do I parse command line arguments?",
    "How do I read and write JSON?",
    "What are decorators used for?",
    "How do I use regular expressions to find all matches?",
    "How does garbage collection work in Python?",
    "What is the difference between is and ==?",
    "How can I copy an object deeply?",
    "How do I get the current date and time?",
    "How do I run code in multiple threads?",
    "What is asyncio and how do I await a coroutine?",
    "How do I join paths in a portable way?",
    "How can I measure how long a piece of code takes?",
    "How do default argument values work?",
    "Why are mutable default arguments a problem?",
    "How do I create a dictionary with default values?",
    "What does the __init__.py file do in a package?",
    "How do I import a module from a package?",
    "How do I write unit tests?",
    "How can I log messages to a file?",
    "What is a lambda expression?",
    "How do I iterate over two lists at the same time?",
    "How do I remove duplicates from a list?",
    "How do I convert a string to an integer?",
    "What are keyword-only arguments?",
    "How do I use type hints for a function?",
    "How do dataclasses work?",
    "How do I open a file with a specific encoding?",
    "What is the difference between bytes and str?",
    "How do I make an HTTP request with the standard library?",
    "How do I use a context manager to suppress exceptions?",
    "How can I pickle an object to disk?",
    "What does the enumerate function return?",
    "How do I create a temporary file?",
    "How are floating point numbers represented and why is 0.1 + 0.2 not 0.3?",
    "What is the walrus operator?",
    "How do I raise a custom exception?",
    "How do I compare two files or directories?",
    "How does the match statement work?",
]


@dataclasses.dataclass
class Result:
    target_chunks: int
    docs: int
    chunks: int
    ingest_s: float
    chunks_per_s: float
    search_p50_ms: float
    search_p95_ms: float
    search_norerank_p50_ms: float
    search_norerank_p95_ms: float
    rerank_p50_ms: float
    dense_p50_ms: float
    bm25_p50_ms: float
    rss_mb: float
    peak_rss_mb: float
    queries: int
    top_sources: list[str]


def ensure_docs(docs_dir: Path) -> None:
    if docs_dir.is_dir() and any(docs_dir.glob("*.html")):
        return
    if docs_dir != DOCS_DIR:
        sys.exit(f"bench: no HTML files in {docs_dir}")
    if os.geteuid() != 0:
        sys.exit(f"bench: {docs_dir} is missing; install it with `apt-get install -y {DOCS_PACKAGE}` (as root)")
    print(f"installing {DOCS_PACKAGE} with apt-get …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", DOCS_PACKAGE], check=True, env=env)
    if not docs_dir.is_dir():
        sys.exit(f"bench: {DOCS_PACKAGE} installed but {docs_dir} is still missing")


def docs_version() -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", DOCS_PACKAGE], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def ordered_pages(docs_dir: Path) -> list[Path]:
    """HTML pages (no generated indexes, no ``_sources``/``_static``), in the benchmark's order."""
    pages = []
    for path in docs_dir.rglob("*.html"):
        rel = path.relative_to(docs_dir)
        if any(part.startswith(("_", ".")) for part in rel.parts):
            continue
        if rel.name.startswith(("genindex", "py-modindex", "search")):
            continue
        pages.append(rel)

    def key(rel: Path) -> tuple[int, str]:
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        rank = SECTION_ORDER.index(top) if top in SECTION_ORDER else len(SECTION_ORDER)
        return rank, rel.as_posix()

    return sorted(pages, key=key)


def pick_pages(docs_dir: Path, pages: list[Path], targets: list[int], settings: Settings) -> dict[int, list[Path]]:
    """For each target, the shortest prefix of ``pages`` holding at least that many chunks."""
    picked: dict[int, list[Path]] = {}
    total = 0
    chosen: list[Path] = []
    remaining = sorted(targets)
    for rel in pages:
        if not remaining:
            break
        try:
            doc = load_path(docs_dir / rel, rel.as_posix())
        except BadInputError:
            continue
        total += len(chunk_text(doc.text, settings.chunk_max_words, settings.chunk_overlap_sentences))
        chosen.append(rel)
        while remaining and total >= remaining[0]:
            picked[remaining.pop(0)] = list(chosen)
    for target in remaining:  # the whole documentation is smaller than the target
        picked[target] = list(chosen)
    return picked


def mirror(docs_dir: Path, pages: list[Path], dest: Path) -> Path:
    """A folder of links to ``pages``, so that ingest sees the same relative sources as in ``docs_dir``."""
    for rel in pages:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(docs_dir / rel)
    return dest


def rss_mb() -> tuple[float, float]:
    current = 0.0
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


def run_size(
    base: Engine, docs_dir: Path, pages: list[Path], target: int, work: Path, k: int, questions: list[str]
) -> Result:
    corpus = mirror(docs_dir, pages, work / f"corpus-{target}")
    settings = base.settings.model_copy(update={"data_dir": work / f"data-{target}"})
    store = IndexStore.open(
        settings.data_dir,
        embedder_id=base.embedder.model_id,
        embedder_checksum=base.embedder.checksum,
        dimension=base.embedder.dimension,
    )
    engine = dataclasses.replace(base, settings=settings, store=store)
    try:
        started = time.perf_counter()
        summary = ingest_paths(engine, [corpus], progress=sys.stderr.isatty())
        ingest_s = time.perf_counter() - started
        for failure in summary.failed:
            print(f"  (skipped {failure.source}: {failure.reason})", file=sys.stderr)
        stats = store.stats()

        retrieve(engine, "warm up the caches", k=k)  # first-call costs are not what we measure
        with_rerank: list[float] = []
        rerank: list[float] = []
        dense: list[float] = []
        bm25: list[float] = []
        top: list[str] = []
        for question in questions:
            t0 = time.perf_counter()
            result = retrieve(engine, question, k=k, rerank=True)
            with_rerank.append(time.perf_counter() - t0)
            rerank.append(result.timings.get("rerank_s", 0.0))
            dense.append(result.timings["dense_s"])
            bm25.append(result.timings["bm25_s"])
            top.append(result.passages[0].source if result.passages else "")
        without: list[float] = []
        for question in questions:
            t0 = time.perf_counter()
            retrieve(engine, question, k=k, rerank=False)
            without.append(time.perf_counter() - t0)
        current, peak = rss_mb()
        return Result(
            target_chunks=target,
            docs=stats.documents,
            chunks=stats.chunks,
            ingest_s=round(ingest_s, 1),
            chunks_per_s=round(summary.chunks / ingest_s, 1) if ingest_s else 0.0,
            search_p50_ms=ms(with_rerank, 0.5),
            search_p95_ms=ms(with_rerank, 0.95),
            search_norerank_p50_ms=ms(without, 0.5),
            search_norerank_p95_ms=ms(without, 0.95),
            rerank_p50_ms=ms(rerank, 0.5),
            dense_p50_ms=ms(dense, 0.5),
            bm25_p50_ms=ms(bm25, 0.5),
            rss_mb=round(current),
            peak_rss_mb=round(peak),
            queries=len(questions),
            top_sources=top,
        )
    finally:
        store.close()


COLUMNS = [
    ("target", "target_chunks"),
    ("docs", "docs"),
    ("chunks", "chunks"),
    ("ingest s", "ingest_s"),
    ("chunks/s", "chunks_per_s"),
    ("search p50 ms", "search_p50_ms"),
    ("search p95 ms", "search_p95_ms"),
    ("no-rerank p50", "search_norerank_p50_ms"),
    ("no-rerank p95", "search_norerank_p95_ms"),
    ("rerank p50", "rerank_p50_ms"),
    ("dense p50", "dense_p50_ms"),
    ("bm25 p50", "bm25_p50_ms"),
    ("RSS MB", "rss_mb"),
    ("peak RSS MB", "peak_rss_mb"),
]


def table(results: list[Result]) -> str:
    rows = [[title for title, _ in COLUMNS]]
    rows += [[str(getattr(r, field)) for _, field in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="target chunk counts, comma-separated")
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR)
    parser.add_argument("--queries", type=int, default=len(QUESTIONS), help="how many of the built-in questions")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--keep", type=Path, help="build the indexes in this folder and keep them")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    targets = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    questions = QUESTIONS[: args.queries]

    ensure_docs(args.docs_dir)
    settings = Settings()
    print(f"ragqa bench · {platform.python_version()} · {os.cpu_count()} CPUs · {DOCS_PACKAGE} {docs_version()}")
    print(f"embedder {settings.embedder} · reranker {settings.reranker} (candidates {settings.rerank_candidates})")
    print(f"chunk_max_words {settings.chunk_max_words} · k {args.k} · {len(questions)} questions", flush=True)

    t0 = time.perf_counter()
    pages = ordered_pages(args.docs_dir)
    picked = pick_pages(args.docs_dir, pages, targets, settings)
    print(f"chose pages for {targets} chunks from {len(pages)} pages in {time.perf_counter() - t0:.1f}s", flush=True)

    work = args.keep or Path(tempfile.mkdtemp(prefix="ragqa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    try:
        base = Engine.load(settings.model_copy(update={"data_dir": work / "models-probe"}), reranker=True)
        base.store.close()
        print("model load: " + ", ".join(f"{k} {v:.1f}s" for k, v in base.load_seconds.items()), flush=True)
        for target in targets:
            print(f"\n== ~{target} chunks: {len(picked[target])} pages", flush=True)
            result = run_size(base, args.docs_dir, picked[target], target, work, args.k, questions)
            results.append(result)
            print(table([result]), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print("\n" + table(results))
    print("search = embed query + FAISS + FTS5 BM25 + fuse + rerank; ms per query, one at a time, warm")
    if args.json:
        payload: dict[str, Any] = {
            "python_docs": docs_version(),
            "cpus": os.cpu_count(),
            "embedder": settings.embedder,
            "reranker": settings.reranker,
            "rerank_candidates": settings.rerank_candidates,
            "k": args.k,
            "results": [dataclasses.asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
